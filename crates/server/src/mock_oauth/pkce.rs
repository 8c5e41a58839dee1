//! PKCE (RFC 7636): the challenge an authorization request carries and the
//! check of the verifier at the token endpoint.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest as _, Sha256};

/// How the challenge was derived from the verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    /// `BASE64URL(SHA256(verifier))`.
    S256,
    /// The verifier itself.
    Plain,
}

/// The code challenge of an authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Challenge {
    method: Method,
    value: String,
}

impl Challenge {
    /// The challenge of a request's `code_challenge` and
    /// `code_challenge_method` (default `plain`, RFC 7636 §4.3); `None` when
    /// the request has no challenge.
    ///
    /// # Errors
    /// A description for the `invalid_request` error: a method without a
    /// challenge, an unknown method, or a challenge of the wrong shape.
    pub(super) fn parse(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<Self>, &'static str> {
        let Some(value) = challenge else {
            return match method {
                None => Ok(None),
                Some(_) => Err("code_challenge_method was given without a code_challenge"),
            };
        };
        let method = match method {
            None | Some("plain") => Method::Plain,
            Some("S256") => Method::S256,
            Some(_) => return Err("code_challenge_method must be S256 or plain"),
        };
        if !is_pkce_string(value) {
            return Err("code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~");
        }
        Ok(Some(Self {
            method,
            value: value.to_owned(),
        }))
    }

    /// Whether `verifier` answers this challenge.
    pub(super) fn verify(&self, verifier: &str) -> bool {
        if !is_pkce_string(verifier) {
            return false;
        }
        match self.method {
            Method::Plain => verifier == self.value,
            Method::S256 => B64.encode(Sha256::digest(verifier.as_bytes())) == self.value,
        }
    }
}

/// 43 to 128 unreserved characters (RFC 7636 §4.1), the shape of both a
/// verifier and a challenge.
fn is_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 7636, appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const S256: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_matches_the_rfc_example_only() {
        let c = Challenge::parse(Some(S256), Some("S256")).unwrap().unwrap();
        assert!(c.verify(VERIFIER));
        assert!(!c.verify(S256));
        let mut wrong = VERIFIER.to_owned();
        wrong.replace_range(0..1, "e");
        assert!(!c.verify(&wrong));
    }

    #[test]
    fn plain_is_the_default_and_compares_the_verifier() {
        let c = Challenge::parse(Some(VERIFIER), None).unwrap().unwrap();
        assert!(c.verify(VERIFIER));
        assert!(!c.verify(S256));
        let c = Challenge::parse(Some(VERIFIER), Some("plain"))
            .unwrap()
            .unwrap();
        assert!(c.verify(VERIFIER));
    }

    #[test]
    fn malformed_challenges_and_verifiers_are_refused() {
        assert_eq!(Challenge::parse(None, None), Ok(None));
        assert!(Challenge::parse(Some(S256), Some("S512")).is_err());
        assert!(Challenge::parse(None, Some("S256")).is_err());
        assert!(Challenge::parse(None, Some("plain")).is_err());
        assert!(Challenge::parse(Some("short"), Some("plain")).is_err());
        assert!(Challenge::parse(Some(&"a".repeat(129)), Some("plain")).is_err());
        assert!(Challenge::parse(Some(&format!("{}+", &VERIFIER[1..])), None).is_err());
        // A verifier that is too short never matches, even as plain.
        let c = Challenge::parse(Some(&"a".repeat(43)), None)
            .unwrap()
            .unwrap();
        assert!(!c.verify(&"a".repeat(42)));
        assert!(c.verify(&"a".repeat(43)));
    }
}
