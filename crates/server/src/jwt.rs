//! ES256 access tokens and the JWKS that publishes their keys.
//!
//! Keys are derived per audience from one install-wide secret (the
//! `token_signing_secret` server setting), so every server that shares the
//! database signs and verifies with the same keys and a rotation of that one
//! secret replaces all of them. Each audience has two keys, both published in
//! the JWKS (the SDK and Stack Auth's tests expect two per audience class); the
//! first one signs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::secret::Secret;

/// Length of a key id, as in Stack Auth.
const KID_LEN: usize = 12;

/// Why an access token was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    /// The token is well formed and correctly signed, but past its `exp`.
    #[error("the access token expired")]
    Expired(Box<AccessTokenClaims>),
    /// Anything else: bad format, unknown key, bad signature, wrong claims.
    #[error("the access token could not be parsed")]
    Unparsable,
}

/// Why the token was restricted, as carried in `restricted_reason`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestrictedReason {
    /// `anonymous`, `email_not_verified` or `restricted_by_administrator`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The exact claim set of a Stack Auth access token (no more, no less).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccessTokenClaims {
    /// The user id.
    pub sub: String,
    /// `<api>/api/v1/projects/<project>` (or the restricted/anonymous variant).
    pub iss: String,
    /// `<project>`, `<project>:restricted` or `<project>:anon`.
    pub aud: String,
    /// Issued at, in seconds.
    pub iat: i64,
    /// Expiry, in seconds.
    pub exp: i64,
    /// The project id.
    pub project_id: String,
    /// Always `main`.
    pub branch_id: String,
    /// The session (refresh token row) this token belongs to.
    pub refresh_token_id: String,
    /// Always `authenticated`.
    pub role: String,
    /// The user's display name.
    pub name: Option<String>,
    /// The user's primary email.
    pub email: Option<String>,
    /// Whether the primary email is verified.
    pub email_verified: bool,
    /// The user's selected team.
    pub selected_team_id: Option<String>,
    /// Sign-up time, in seconds.
    pub signed_up_at: i64,
    /// Whether the user is anonymous.
    pub is_anonymous: bool,
    /// Whether the user is restricted.
    pub is_restricted: bool,
    /// Why the user is restricted.
    pub restricted_reason: Option<RestrictedReason>,
    /// Whether the user must pass TOTP.
    pub requires_totp_mfa: bool,
}

/// The audience class of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Normal users.
    Normal,
    /// Restricted (but not anonymous) users.
    Restricted,
    /// Anonymous users.
    Anonymous,
}

impl Audience {
    /// The `aud` claim for this class in `project_id`.
    pub fn claim(self, project_id: &str) -> String {
        match self {
            Self::Normal => project_id.to_owned(),
            Self::Restricted => format!("{project_id}:restricted"),
            Self::Anonymous => format!("{project_id}:anon"),
        }
    }

    /// The `iss` claim for this class in `project_id`, below `api_url`.
    pub fn issuer(self, api_url: &str, project_id: &str) -> String {
        let base = api_url.trim_end_matches('/');
        match self {
            Self::Normal => format!("{base}/api/v1/projects/{project_id}"),
            Self::Restricted => format!("{base}/api/v1/projects-restricted-users/{project_id}"),
            Self::Anonymous => format!("{base}/api/v1/projects-anonymous-users/{project_id}"),
        }
    }

    /// Splits an `aud` claim into project id and class.
    pub fn parse_claim(aud: &str) -> Option<(&str, Self)> {
        match aud.split_once(':') {
            None => Some((aud, Self::Normal)),
            Some((project, "restricted")) => Some((project, Self::Restricted)),
            Some((project, "anon")) => Some((project, Self::Anonymous)),
            Some(_) => None,
        }
    }
}

struct KeyPair {
    kid: String,
    signing: SigningKey,
    verifying: VerifyingKey,
}

/// The two keys of one audience.
struct AudienceKeys {
    pairs: [KeyPair; 2],
}

/// Most verified tokens remembered before the memory starts over.
const VERIFIED_CAPACITY: usize = 20_000;

/// Most audiences whose keys are kept derived before the memory starts over.
/// Only audiences of tokens this keyring signed, or of projects asked for in
/// the JWKS, get here, so the bound is never reached in normal use.
const AUDIENCE_CAPACITY: usize = 10_000;

/// All signing keys of an install, derived lazily from its secret.
///
/// It also remembers tokens it has verified: a client sends the same access
/// token with many requests, and an ECDSA verification costs far more than the
/// lookup. A token string includes its signature, so the same string always
/// verifies the same way under these keys; a new keyring (rotation) starts empty.
pub struct Keyring {
    secret: Secret<Vec<u8>>,
    cache: Mutex<HashMap<String, Arc<AudienceKeys>>>,
    verified: Mutex<HashMap<String, AccessTokenClaims>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").finish_non_exhaustive()
    }
}

impl Keyring {
    /// A keyring for the given install secret.
    pub fn new(secret: Secret<Vec<u8>>) -> Self {
        Self {
            secret,
            cache: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
        }
    }

    fn keys(&self, aud: &str) -> Arc<AudienceKeys> {
        // A poisoned lock only means another thread panicked while inserting;
        // the map itself is still a valid cache.
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(keys) = cache.get(aud) {
            return Arc::clone(keys);
        }
        let keys = Arc::new(AudienceKeys {
            pairs: [self.derive(aud, 0), self.derive(aud, 1)],
        });
        if cache.len() >= AUDIENCE_CAPACITY {
            cache.clear();
        }
        cache.insert(aud.to_owned(), Arc::clone(&keys));
        keys
    }

    /// The derived keys of `aud` if a token with key id `kid` can be one of
    /// ours. The key ids are checked first, with one hash each: a forged
    /// token's audience is never derived or remembered, since only the secret's
    /// holder can name a matching key id.
    fn keys_for_kid(&self, aud: &str, kid: &str) -> Option<Arc<AudienceKeys>> {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(aud)
            .cloned();
        if let Some(keys) = cached {
            return Some(keys);
        }
        (0..2)
            .any(|variant| self.kid(aud, variant) == kid)
            .then(|| self.keys(aud))
    }

    fn digest(&self, label: &[u8], aud: &str, variant: u8, counter: u32) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(label);
        h.update([0]);
        h.update(self.secret.expose());
        h.update([0]);
        h.update(aud.as_bytes());
        h.update([0, variant]);
        h.update(counter.to_be_bytes());
        h.finalize().into()
    }

    fn kid(&self, aud: &str, variant: u8) -> String {
        let digest = self.digest(b"stack-server/jwt-kid/v1", aud, variant, 0);
        let mut kid = B64.encode(digest);
        kid.truncate(KID_LEN);
        kid
    }

    fn derive(&self, aud: &str, variant: u8) -> KeyPair {
        let mut counter = 0u32;
        let signing = loop {
            // A SHA-256 output is a valid P-256 scalar except with probability ~2^-32.
            let bytes = self.digest(b"stack-server/jwt-key/v1", aud, variant, counter);
            if let Ok(key) = SigningKey::from_bytes(&bytes.into()) {
                break key;
            }
            counter += 1;
        };
        let kid = self.kid(aud, variant);
        let verifying = *signing.verifying_key();
        KeyPair {
            kid,
            signing,
            verifying,
        }
    }

    /// Signs `claims` with the first key of their audience.
    ///
    /// # Errors
    /// Fails only if the claims cannot be serialized.
    pub fn sign(&self, claims: &AccessTokenClaims) -> Result<String, serde_json::Error> {
        let keys = self.keys(&claims.aud);
        let pair = &keys.pairs[0];
        let header = serde_json::json!({ "alg": "ES256", "kid": pair.kid });
        let signing_input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&header)?),
            B64.encode(serde_json::to_vec(claims)?)
        );
        let signature: Signature = pair.signing.sign(signing_input.as_bytes());
        // Low-S form, the only one `verify` accepts.
        let signature = signature.normalize_s().unwrap_or(signature);
        Ok(format!(
            "{signing_input}.{}",
            B64.encode(signature.to_bytes())
        ))
    }

    /// Verifies a token's signature and shape, then its expiry against `now_secs`.
    ///
    /// The caller checks the issuer and the project.
    ///
    /// # Errors
    /// [`TokenError::Expired`] for a valid but expired token, else [`TokenError::Unparsable`].
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<AccessTokenClaims, TokenError> {
        let remembered = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned();
        let claims = match remembered {
            Some(claims) => claims,
            None => {
                let claims = self.verify_signature(token)?;
                let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
                if verified.len() >= VERIFIED_CAPACITY {
                    verified.clear();
                }
                verified.insert(token.to_owned(), claims.clone());
                claims
            }
        };
        if claims.exp <= now_secs {
            return Err(TokenError::Expired(Box::new(claims)));
        }
        Ok(claims)
    }

    /// Checks format, key and signature (not the expiry).
    fn verify_signature(&self, token: &str) -> Result<AccessTokenClaims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Unparsable);
        };
        #[derive(Deserialize)]
        struct Header {
            alg: String,
            kid: String,
        }
        let header: Header = decode_json(header)?;
        if header.alg != "ES256" {
            return Err(TokenError::Unparsable);
        }
        let payload_bytes = B64.decode(payload).map_err(|_| TokenError::Unparsable)?;
        let claims: AccessTokenClaims =
            serde_json::from_slice(&payload_bytes).map_err(|_| TokenError::Unparsable)?;
        let keys = self
            .keys_for_kid(&claims.aud, &header.kid)
            .ok_or(TokenError::Unparsable)?;
        let pair = keys
            .pairs
            .iter()
            .find(|p| p.kid == header.kid)
            .ok_or(TokenError::Unparsable)?;
        let signature = B64.decode(signature).map_err(|_| TokenError::Unparsable)?;
        let signature = Signature::from_slice(&signature).map_err(|_| TokenError::Unparsable)?;
        // Every ECDSA signature has a twin with s replaced by n - s; only the
        // low-S one is accepted, so a token has exactly one valid form.
        if signature.normalize_s().is_some() {
            return Err(TokenError::Unparsable);
        }
        let signing_input = &token[..header_and_payload_len(token)];
        pair.verifying
            .verify(signing_input.as_bytes(), &signature)
            .map_err(|_| TokenError::Unparsable)?;
        Ok(claims)
    }

    /// The JWKS entries of the given audiences, two per audience.
    pub fn jwks(&self, audiences: &[String]) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = audiences
            .iter()
            .flat_map(|aud| {
                let keys = self.keys(aud);
                keys.pairs
                    .iter()
                    .map(|pair| {
                        let point = pair.verifying.to_encoded_point(false);
                        serde_json::json!({
                            "kty": "EC",
                            "alg": "ES256",
                            "crv": "P-256",
                            "kid": pair.kid,
                            "x": point.x().map(|x| B64.encode(x)).unwrap_or_default(),
                            "y": point.y().map(|y| B64.encode(y)).unwrap_or_default(),
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// The key ids published for `aud`, in JWKS order.
    pub fn kids(&self, aud: &str) -> Vec<String> {
        self.keys(aud).pairs.iter().map(|p| p.kid.clone()).collect()
    }
}

fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = B64.decode(part).map_err(|_| TokenError::Unparsable)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Unparsable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(aud: &str, exp: i64) -> AccessTokenClaims {
        AccessTokenClaims {
            sub: "5a0c858b-d9e9-49d4-9943-8ce385d86428".into(),
            iss: Audience::Normal.issuer("http://localhost:8102", "internal"),
            aud: aud.into(),
            iat: 100,
            exp,
            project_id: "internal".into(),
            branch_id: "main".into(),
            refresh_token_id: "r".into(),
            role: "authenticated".into(),
            name: None,
            email: Some("a@example.com".into()),
            email_verified: false,
            selected_team_id: None,
            signed_up_at: 100,
            is_anonymous: false,
            is_restricted: false,
            restricted_reason: None,
            requires_totp_mfa: false,
        }
    }

    fn ring(secret: &[u8]) -> Keyring {
        Keyring::new(Secret::new(secret.to_vec()))
    }

    #[test]
    fn a_signed_token_verifies_and_round_trips() {
        let ring = ring(b"one");
        let token = ring.sign(&claims("internal", 200)).unwrap_or_default();
        assert_eq!(ring.verify(&token, 150), Ok(claims("internal", 200)));
    }

    #[test]
    fn an_expired_token_is_reported_as_expired() {
        let ring = ring(b"one");
        let token = ring.sign(&claims("internal", 200)).unwrap_or_default();
        assert!(matches!(
            ring.verify(&token, 200),
            Err(TokenError::Expired(_))
        ));
    }

    #[test]
    fn another_secret_or_a_flipped_byte_is_refused() {
        let token = ring(b"one")
            .sign(&claims("internal", 200))
            .unwrap_or_default();
        assert_eq!(
            ring(b"two").verify(&token, 150),
            Err(TokenError::Unparsable)
        );
        let mut bytes = token.into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap_or_default();
        assert_eq!(
            ring(b"one").verify(&tampered, 150),
            Err(TokenError::Unparsable)
        );
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let one = ring(b"one");
        let token = one.sign(&claims("internal", 200)).unwrap_or_default();
        assert!(one.verify(&token, 150).is_ok());
        assert!(matches!(
            one.verify(&token, 250),
            Err(TokenError::Expired(_))
        ));
        assert_eq!(
            ring(b"two").verify(&token, 150),
            Err(TokenError::Unparsable)
        );
    }

    #[test]
    fn forged_audiences_are_neither_derived_nor_remembered() {
        let ring = ring(b"one");
        let token = ring.sign(&claims("internal", 200)).unwrap_or_default();
        let cached = || ring.cache.lock().map(|c| c.len()).unwrap_or(usize::MAX);
        assert_eq!(cached(), 1);
        for i in 0..50 {
            let mut forged = claims(&format!("forged-{i}"), 200);
            forged.project_id = format!("forged-{i}");
            let payload = B64.encode(serde_json::to_vec(&forged).unwrap_or_default());
            let mut parts: Vec<&str> = token.split('.').collect();
            parts[1] = &payload;
            assert_eq!(
                ring.verify(&parts.join("."), 150),
                Err(TokenError::Unparsable)
            );
        }
        assert_eq!(cached(), 1, "a forged audience was derived and kept");
    }

    #[test]
    fn only_the_low_s_form_of_a_signature_is_accepted() {
        let ring = ring(b"one");
        for exp in 200..216 {
            let token = ring.sign(&claims("internal", exp)).unwrap_or_default();
            let (input, sig) = token.rsplit_once('.').unwrap_or_default();
            let sig = Signature::from_slice(&B64.decode(sig).unwrap_or_default())
                .unwrap_or_else(|e| panic!("signature: {e}"));
            assert!(sig.normalize_s().is_none(), "signed in high-S form");
            // The twin with s' = n - s: mathematically valid, and the curve
            // library accepts it on its own.
            let (r, s) = sig.split_scalars();
            let twin = Signature::from_scalars(r, -*s).unwrap_or_else(|e| panic!("twin: {e}"));
            let keys = ring.keys("internal");
            assert!(
                keys.pairs[0]
                    .verifying
                    .verify(input.as_bytes(), &twin)
                    .is_ok()
            );
            let high = format!("{input}.{}", B64.encode(twin.to_bytes()));
            assert_eq!(ring.verify(&high, 150), Err(TokenError::Unparsable));
        }
    }

    #[test]
    fn jwks_lists_two_distinct_keys_per_audience() {
        let ring = ring(b"one");
        let jwks = ring.jwks(&["p".into(), "p:restricted".into(), "p:anon".into()]);
        let kids: std::collections::HashSet<&str> = jwks["keys"]
            .as_array()
            .map(|keys| keys.iter().filter_map(|k| k["kid"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(kids.len(), 6);
    }
}
