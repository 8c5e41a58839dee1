//! Password rules and bcrypt hashing (cost 10, `$2b$`, as Stack Auth).
//!
//! Hashing runs on the blocking pool: one bcrypt at cost 10 takes tens of
//! milliseconds of CPU, which must not stall the async workers.

use std::sync::OnceLock;

use crate::error::{ApiError, KnownError};
use crate::known_errors as ke;
use crate::secret::Secret;

/// Shortest accepted password, in characters.
pub const MIN_LENGTH: usize = 8;
/// Longest accepted password, in characters.
pub const MAX_LENGTH: usize = 70;
/// bcrypt only reads 72 bytes; longer input must be refused, not truncated.
const BCRYPT_MAX_BYTES: usize = 72;
/// Stack Auth's bcrypt cost.
const COST: u32 = 10;

/// Checks the length rules.
///
/// # Errors
/// `PASSWORD_TOO_SHORT` or `PASSWORD_TOO_LONG`.
pub fn check_rules(password: &str) -> Result<(), KnownError> {
    let chars = password.encode_utf16().count();
    if chars < MIN_LENGTH {
        Err(ke::password_too_short(MIN_LENGTH))
    } else if chars > MAX_LENGTH || password.len() >= BCRYPT_MAX_BYTES {
        Err(ke::password_too_long(MAX_LENGTH))
    } else {
        Ok(())
    }
}

/// Hashes a password that passed [`check_rules`].
///
/// # Errors
/// `PASSWORD_TOO_LONG` if bcrypt refuses the input; internal errors otherwise.
pub async fn hash(password: Secret<String>) -> Result<Secret<String>, ApiError> {
    let hashed =
        tokio::task::spawn_blocking(move || bcrypt::non_truncating_hash(password.expose(), COST))
            .await
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
    match hashed {
        Ok(h) => Ok(Secret::new(h)),
        Err(bcrypt::BcryptError::Truncation(_)) => Err(ke::password_too_long(MAX_LENGTH).into()),
        Err(e) => Err(ApiError::Internal(Box::new(e))),
    }
}

/// Whether `password` matches `hash`. With no hash, a dummy hash is checked
/// anyway so that the answer takes as long whether or not the account exists.
///
/// # Errors
/// Internal errors only (a malformed stored hash counts as a mismatch).
pub async fn verify(
    password: Secret<String>,
    hash: Option<Secret<String>>,
) -> Result<bool, ApiError> {
    let matched = tokio::task::spawn_blocking(move || {
        let (target, real) = match &hash {
            Some(h) => (h.expose().as_str(), true),
            None => (dummy_hash(), false),
        };
        // Always hash: skipping the dummy check would answer an unknown
        // address ~70 ms sooner than a known one.
        let matched = bcrypt::verify(password.expose(), target).unwrap_or(false);
        real && matched
    })
    .await
    .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(matched)
}

/// The largest bcrypt cost an imported hash may have, as in Stack Auth: each
/// step doubles the work of every sign-in (cost 17 is about 10 s here).
pub const MAX_IMPORTED_COST: u32 = 16;

/// Whether `hash` is a bcrypt hash Stack Auth accepts (`$2a$`, `$2b$` or
/// `$2y$`, cost at most [`MAX_IMPORTED_COST`]).
pub fn is_supported_hash(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
        && hash.len() == 60
        && hash
            .parse::<bcrypt::HashParts>()
            .is_ok_and(|parts| parts.get_cost() <= MAX_IMPORTED_COST)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| bcrypt::hash("stack-server timing equaliser", COST).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_hashes_of_more_than_16_rounds_are_refused() {
        let salt_and_hash = "VIhIOofSMqGdGlL4wzE//e.77dAQGqNtF/1dT7bqCrVtQuInWy2qi";
        assert!(is_supported_hash(&format!("$2a$10${salt_and_hash}")));
        assert!(is_supported_hash(&format!("$2b$16${salt_and_hash}")));
        assert!(!is_supported_hash(&format!("$2a$17${salt_and_hash}")));
        assert!(!is_supported_hash(&format!("$2x$10${salt_and_hash}")));
    }

    #[test]
    fn length_rules_follow_stack_auth() {
        assert_eq!(
            check_rules("short").map_err(|e| e.code),
            Err("PASSWORD_TOO_SHORT")
        );
        assert_eq!(
            check_rules("").map_err(|e| e.code),
            Err("PASSWORD_TOO_SHORT")
        );
        assert!(check_rules("long enough").is_ok());
        assert_eq!(
            check_rules(&"x".repeat(71)).map_err(|e| e.code),
            Err("PASSWORD_TOO_LONG")
        );
        // 36 two-byte characters: within 70 characters but 72 bytes, which bcrypt cannot take.
        assert_eq!(
            check_rules(&"é".repeat(36)).map_err(|e| e.code),
            Err("PASSWORD_TOO_LONG")
        );
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_password() {
        let hash = super::hash(Secret::new("correct horse".into()))
            .await
            .unwrap();
        assert!(hash.expose().starts_with("$2b$10$"));
        assert!(is_supported_hash(hash.expose()));
        assert!(
            verify(Secret::new("correct horse".into()), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify(Secret::new("wrong horse".into()), Some(hash))
                .await
                .unwrap()
        );
        assert!(
            !verify(Secret::new("correct horse".into()), None)
                .await
                .unwrap()
        );
    }
}
