//! Random identifiers, keys and tokens, drawn from the OS RNG at the moment of use.
//!
//! Nothing here keeps a user-space RNG state: a VM snapshot that is resumed twice
//! must never hand out the same token or id twice, so every value is read fresh
//! from the kernel (whose RNG a resumed guest reseeds from the VM generation ID).

use uuid::Uuid;

/// The kernel's random number generator could not be read.
#[derive(Debug, thiserror::Error)]
#[error("could not read the operating system's random number generator")]
pub struct RngError(#[source] getrandom::Error);

/// Fills `N` bytes from the OS RNG.
///
/// # Errors
/// Fails only when the kernel RNG cannot be read.
pub fn bytes<const N: usize>() -> Result<[u8; N], RngError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(RngError)?;
    Ok(buf)
}

/// A random version-4 UUID.
///
/// # Errors
/// Fails only when the kernel RNG cannot be read.
pub fn uuid() -> Result<Uuid, RngError> {
    Ok(uuid::Builder::from_random_bytes(bytes::<16>()?).into_uuid())
}

/// A random string of `len` lower-case Crockford base-32 characters (5 bits each).
///
/// Stack Auth's keys, refresh tokens and verification codes are 45 such
/// characters (225 bits).
///
/// # Errors
/// Fails only when the kernel RNG cannot be read.
pub fn base32_string(len: usize) -> Result<String, RngError> {
    let mut raw = vec![0u8; len];
    getrandom::fill(&mut raw).map_err(RngError)?;
    Ok(stack_proto::keys::encode(&raw))
}

/// A Stack Auth–style secure token: 45 base-32 characters.
///
/// # Errors
/// Fails only when the kernel RNG cannot be read.
pub fn token() -> Result<String, RngError> {
    base32_string(stack_proto::keys::RANDOM_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    use stack_proto::keys::ALPHABET as CROCKFORD;

    #[test]
    fn tokens_have_the_stack_auth_shape_and_differ() {
        let a = token().unwrap_or_default();
        let b = token().unwrap_or_default();
        assert_eq!(a.len(), 45);
        assert!(a.bytes().all(|c| CROCKFORD.contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn uuids_are_version_4() {
        let id = uuid().unwrap_or_default();
        assert_eq!(id.get_version_num(), 4);
    }
}
