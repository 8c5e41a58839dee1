//! The exact text of a user or team API key, as Stack Auth's
//! `createProjectApiKey` makes it and its SDK and test suite parse and
//! checksum it:
//!
//! ```text
//! sk_ <45 random base-32> <key id, 32 hex> user|team <flag> 574ck4u7h <CRC-32, 8 hex>
//! ```
//!
//! The prefix is `pk` for a public key and `sk` otherwise. The flag is one
//! lower-case base-32 digit: bit 0 set for a self-hosted server (always here;
//! only `api.stack-auth.com` clears it), bit 1 set for a public key. The CRC-32
//! (zlib's) covers everything before it and is written as 8 lower-case hex
//! digits. A key is 102 characters long. The random part comes from the OS
//! RNG ([`crate::random`]).
//!
//! Also the two derived values that are stored instead of the key: its
//! SHA-256 and its last four characters. Who may hold which key is
//! [`super`]'s business.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::random;
use crate::secret::Secret;

/// The marker every key carries, so that secret scanners can find them.
pub const MARKER: &str = "574ck4u7h";
/// Length of a key's random part.
pub const SECRET_CHARS: usize = 45;
/// Length of a whole key with a two-letter prefix.
pub const KEY_LENGTH: usize = 3 + SECRET_CHARS + 32 + 4 + 1 + MARKER.len() + 8;

/// Length of everything after the prefix's `_`.
const TAIL_CHARS: usize = KEY_LENGTH - 3;

/// Whose keys: a user's or a team's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// `/user-api-keys`.
    User,
    /// `/team-api-keys`.
    Team,
}

impl KeyType {
    /// `user` or `team`, as in keys, bodies and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Team => "team",
        }
    }
}

/// A full key. Its `Debug` output is redacted; [`ApiKeySecret::expose`] is
/// the only way to the text, which is sent once, when the key is created.
#[derive(Debug, Clone)]
pub struct ApiKeySecret(Secret<String>);

impl ApiKeySecret {
    /// A new key with id `id`, its random part drawn from the OS RNG.
    ///
    /// # Errors
    /// The kernel RNG cannot be read.
    pub fn generate(
        id: Uuid,
        key_type: KeyType,
        is_public: bool,
    ) -> Result<Self, random::RngError> {
        let secret = random::base32_string(SECRET_CHARS)?;
        Ok(Self(Secret::new(assemble(
            &secret, id, key_type, is_public,
        ))))
    }

    /// The key as the client gets it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The last four characters (of the checksum), as lists show them.
    pub fn last_four(&self) -> String {
        last_four(self.expose())
    }

    /// The SHA-256 under which the key is stored.
    pub fn sha256(&self) -> [u8; 32] {
        sha256(self.expose())
    }
}

/// The key made of these parts (the random part as given).
fn assemble(secret: &str, id: Uuid, key_type: KeyType, is_public: bool) -> String {
    let prefix = if is_public { "pk" } else { "sk" };
    // Bit 0: self-hosted (this server is never api.stack-auth.com); bit 1: public.
    let flag = if is_public { '3' } else { '1' };
    let checksummable = format!(
        "{prefix}_{secret}{}{}{flag}{MARKER}",
        id.simple(),
        key_type.as_str()
    );
    let crc = checksum(&checksummable);
    checksummable + &crc
}

/// The CRC-32 (zlib's) of `text`, as 8 lower-case hex digits.
pub fn checksum(text: &str) -> String {
    format!("{:08x}", crc32fast::hash(text.as_bytes()))
}

/// The SHA-256 of a presented key.
pub fn sha256(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The last four characters of `key`.
fn last_four(key: &str) -> String {
    let start = key
        .char_indices()
        .rev()
        .nth(3)
        .map_or(0, |(index, _)| index);
    key[start..].to_owned()
}

/// What a well-formed key says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedApiKey {
    /// `sk`, `pk` (or whatever else a key was made with).
    pub prefix: String,
    /// The key's id.
    pub id: Uuid,
    /// A user or a team key.
    pub key_type: KeyType,
    /// Public (flag bit 1).
    pub is_public: bool,
    /// Made by Stack Auth's cloud (flag bit 0 clear).
    pub is_cloud_version: bool,
}

/// Why a string is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseApiKeyError {
    /// Not `<prefix>_<99 characters>` ending in the marker and a checksum.
    #[error(
        "not an API key: the format is <prefix>_<45 characters><32 hex><user|team><flag>{MARKER}<8 hex>"
    )]
    Format,
    /// The type is neither `user` nor `team`.
    #[error("not an API key: the type must be user or team")]
    Type,
    /// The id part is not hexadecimal.
    #[error("not an API key: the id part is not 32 hex digits")]
    Id,
    /// The checksum does not match the rest of the key.
    #[error("not an API key: checksum mismatch")]
    Checksum,
}

/// Parses and checksums a key as Stack Auth's `parseProjectApiKey` does.
/// The server never needs this (a presented key is only looked up); it
/// documents the format and lets tests check keys.
///
/// # Errors
/// See [`ParseApiKeyError`].
pub fn parse(key: &str) -> Result<ParsedApiKey, ParseApiKeyError> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if !key.chars().all(word) || key.len() < TAIL_CHARS + 2 {
        return Err(ParseApiKeyError::Format);
    }
    // Every character is ASCII now, so byte offsets are character offsets.
    let (head, tail) = key.split_at(key.len() - TAIL_CHARS);
    let prefix = head
        .strip_suffix('_')
        .filter(|p| !p.is_empty())
        .ok_or(ParseApiKeyError::Format)?;
    let (_secret, rest) = tail.split_at(SECRET_CHARS);
    let (id_part, rest) = rest.split_at(32);
    let (type_part, rest) = rest.split_at(4);
    let (flag_part, rest) = rest.split_at(1);
    let (marker, crc) = rest.split_at(MARKER.len());
    if marker != MARKER {
        return Err(ParseApiKeyError::Format);
    }
    let key_type = match type_part {
        "user" => KeyType::User,
        "team" => KeyType::Team,
        _ => return Err(ParseApiKeyError::Type),
    };
    if !id_part.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ParseApiKeyError::Id);
    }
    let id = Uuid::parse_str(id_part).map_err(|_| ParseApiKeyError::Id)?;
    if checksum(&key[..key.len() - crc.len()]) != crc {
        return Err(ParseApiKeyError::Checksum);
    }
    // JavaScript's parseInt(flag, 32); a non-digit reads as NaN, which is
    // neither public nor the cloud's.
    let flag = flag_part.chars().next().and_then(|c| c.to_digit(32));
    Ok(ParsedApiKey {
        prefix: prefix.to_owned(),
        id,
        key_type,
        is_public: flag.is_some_and(|f| f & 2 != 0),
        is_cloud_version: flag.is_some_and(|f| f % 2 == 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_SECRET: &str = "0123456789abcdefghjkmnpqrstvwxyz0123456789abc";
    const VECTOR_ID: &str = "3241a285-8329-4d69-8f3d-316e08cf140c";

    fn vector_id() -> Uuid {
        Uuid::parse_str(VECTOR_ID).unwrap_or_default()
    }

    #[test]
    fn the_checksum_matches_stack_auths_test_vector() {
        let checksummable =
            format!("sk_{VECTOR_SECRET}3241a28583294d698f3d316e08cf140cuser1{MARKER}");
        assert_eq!(checksum(&checksummable), "347553a0");
        let key = assemble(VECTOR_SECRET, vector_id(), KeyType::User, false);
        assert_eq!(key, format!("{checksummable}347553a0"));
        assert_eq!(key.len(), KEY_LENGTH);
        assert_eq!(last_four(&key), "53a0");
    }

    #[test]
    fn checksums_are_zero_padded_lower_case_hex() {
        // crc32("a") = 0xe8b7be43; about one string in 16 has a leading zero.
        assert_eq!(checksum("a"), "e8b7be43");
        let small = (0..100_000)
            .map(|n| n.to_string())
            .find(|s| crc32fast::hash(s.as_bytes()) < 0x1000_0000)
            .unwrap_or_default();
        let crc = checksum(&small);
        assert_eq!(crc.len(), 8);
        assert!(crc.starts_with('0'), "{crc}");
    }

    #[test]
    fn generated_keys_parse_back_with_their_parts() {
        let id = random::uuid().unwrap_or_default();
        for (key_type, is_public, prefix, flag) in [
            (KeyType::User, false, "sk", '1'),
            (KeyType::User, true, "pk", '3'),
            (KeyType::Team, false, "sk", '1'),
            (KeyType::Team, true, "pk", '3'),
        ] {
            let Ok(secret) = ApiKeySecret::generate(id, key_type, is_public) else {
                panic!("the RNG failed");
            };
            let key = secret.expose();
            assert_eq!(key.len(), KEY_LENGTH, "{key}");
            assert!(key.starts_with(&format!("{prefix}_")), "{key}");
            let random_part = &key[3..3 + SECRET_CHARS];
            assert!(
                random_part
                    .bytes()
                    .all(|c| stack_proto::keys::ALPHABET.contains(&c))
            );
            let tail = format!("{}{}{flag}{MARKER}", id.simple(), key_type.as_str());
            assert_eq!(&key[3 + SECRET_CHARS..KEY_LENGTH - 8], tail);
            assert_eq!(
                parse(key),
                Ok(ParsedApiKey {
                    prefix: prefix.to_owned(),
                    id,
                    key_type,
                    is_public,
                    is_cloud_version: false,
                })
            );
            assert_eq!(secret.last_four(), &key[KEY_LENGTH - 4..]);
            assert_eq!(secret.sha256(), sha256(key));
        }
    }

    #[test]
    fn two_keys_differ() {
        let id = vector_id();
        let a = ApiKeySecret::generate(id, KeyType::User, false).map(|s| s.expose().to_owned());
        let b = ApiKeySecret::generate(id, KeyType::User, false).map(|s| s.expose().to_owned());
        assert!(a.is_ok());
        assert_ne!(a.ok(), b.ok());
    }

    #[test]
    fn a_changed_character_fails_the_checksum_and_bad_shapes_fail_to_parse() {
        let key = assemble(VECTOR_SECRET, vector_id(), KeyType::Team, false);
        assert!(parse(&key).is_ok());
        let flipped = key.replacen("sk_0", "sk_1", 1);
        assert_eq!(parse(&flipped), Err(ParseApiKeyError::Checksum));
        let bad_crc = format!("{}ffffffff", &key[..key.len() - 8]);
        assert_eq!(parse(&bad_crc), Err(ParseApiKeyError::Checksum));
        let other_type = key.replace("team1", "tean1");
        assert_eq!(parse(&other_type), Err(ParseApiKeyError::Type));
        // `k_…` is a well-formed key with another prefix, which the checksum covers.
        assert_eq!(parse(&key[1..]), Err(ParseApiKeyError::Checksum));
        assert_eq!(parse(&key[3..]), Err(ParseApiKeyError::Format));
        assert_eq!(parse(&format!("{key}0")), Err(ParseApiKeyError::Format));
        assert_eq!(
            parse("sk_this_is_a_fake_api_key_123456789"),
            Err(ParseApiKeyError::Format)
        );
        assert_eq!(
            parse(&key.replace(MARKER, "574ck4u7x")),
            Err(ParseApiKeyError::Format)
        );
        assert_eq!(
            parse(&key.replacen('0', "é", 1)),
            Err(ParseApiKeyError::Format)
        );
    }

    #[test]
    fn a_longer_prefix_with_underscores_parses() {
        let checksummable =
            format!("my_app_{VECTOR_SECRET}3241a28583294d698f3d316e08cf140cuser0{MARKER}");
        let key = format!("{checksummable}{}", checksum(&checksummable));
        let parsed = parse(&key);
        assert_eq!(parsed.as_ref().map(|p| p.prefix.as_str()), Ok("my_app"));
        assert_eq!(parsed.map(|p| p.is_cloud_version), Ok(true));
    }

    #[test]
    fn the_full_key_never_shows_in_debug_output() {
        let secret = ApiKeySecret::generate(vector_id(), KeyType::User, false);
        let Ok(secret) = secret else {
            panic!("the RNG failed");
        };
        let shown = format!("{secret:?}");
        assert!(!shown.contains(secret.expose()));
        assert!(!shown.contains(&secret.expose()[3..20]));
    }
}
