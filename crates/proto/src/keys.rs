//! The shape of project keys: a prefix and 45 characters of lower-case
//! Crockford base-32, as Stack Auth makes them.

/// Lower-case Crockford base-32 (no `i`, `l`, `o`, `u`).
pub const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Random characters after a key's prefix.
pub const RANDOM_CHARS: usize = 45;
/// Prefix of a publishable client key.
pub const PUBLISHABLE_CLIENT_KEY_PREFIX: &str = "pck_";
/// Prefix of a secret server key.
pub const SECRET_SERVER_KEY_PREFIX: &str = "ssk_";
/// Prefix of a super secret admin key.
pub const SUPER_SECRET_ADMIN_KEY_PREFIX: &str = "sak_";

/// Maps random bytes to key characters (5 bits of each byte; 256 is a
/// multiple of 32, so every character is equally likely).
pub fn encode(random: &[u8]) -> String {
    random
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect()
}

/// Whether `key` is `prefix` followed by [`RANDOM_CHARS`] alphabet characters.
pub fn is_well_formed(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == RANDOM_CHARS && rest.bytes().all(|c| ALPHABET.contains(&c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_bytes_are_alphabet_characters() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = encode(&bytes);
        assert_eq!(text.len(), 256);
        assert!(text.bytes().all(|c| ALPHABET.contains(&c)));
        let key = format!("{SECRET_SERVER_KEY_PREFIX}{}", &text[..RANDOM_CHARS]);
        assert!(is_well_formed(&key, SECRET_SERVER_KEY_PREFIX));
        assert!(!is_well_formed(&key, PUBLISHABLE_CLIENT_KEY_PREFIX));
        assert!(!is_well_formed(
            &format!("{key}x"),
            SECRET_SERVER_KEY_PREFIX
        ));
        assert!(!is_well_formed("ssk_ILOU", SECRET_SERVER_KEY_PREFIX));
    }
}
