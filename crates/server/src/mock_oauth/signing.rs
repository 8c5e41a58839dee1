//! The mock's ES256 signing key: made fresh from the OS RNG at start-up,
//! published as a JWK, and used to sign ID tokens.
//!
//! The key lives only in memory, so ID tokens of an earlier run of the mock do
//! not verify against a later one's JWKS; that is fine for tokens whose
//! clients check them right away.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::random::{self, RngError};
use crate::secret::Secret;

/// Why no signing key could be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The OS RNG cannot be read.
    #[error("could not draw random bytes for the key")]
    Rng(#[source] RngError),
    /// The OS RNG gave no valid P-256 scalar in several draws.
    #[error("the OS random number generator gave no valid P-256 key in {KEY_ATTEMPTS} draws")]
    NoValidScalar,
}

/// Attempts at drawing a valid P-256 scalar; each fails with probability
/// about 2^-32, so more than one means the RNG is broken.
const KEY_ATTEMPTS: usize = 4;

/// The signing key and its public form.
pub(super) struct Key {
    signing: Secret<SigningKey>,
    kid: String,
    x: String,
    y: String,
}

impl Key {
    /// A fresh key.
    ///
    /// # Errors
    /// The OS RNG cannot be read, or gave no valid scalar in
    /// [`KEY_ATTEMPTS`] draws.
    pub(super) fn generate() -> Result<Self, KeyError> {
        let mut drawn = None;
        for _ in 0..KEY_ATTEMPTS {
            let bytes = Secret::new(random::bytes::<32>().map_err(KeyError::Rng)?);
            if let Ok(signing) = SigningKey::from_bytes(&(*bytes.expose()).into()) {
                drawn = Some(signing);
                break;
            }
        }
        let signing = drawn.ok_or(KeyError::NoValidScalar)?;
        let point = signing.verifying_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            // An uncompressed point of a valid key always has both coordinates.
            return Err(KeyError::NoValidScalar);
        };
        let (x, y) = (B64.encode(x), B64.encode(y));
        Ok(Self {
            kid: thumbprint(&x, &y),
            signing: Secret::new(signing),
            x,
            y,
        })
    }

    /// The key id (its RFC 7638 thumbprint).
    #[cfg(test)]
    pub(super) fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub(super) fn jwk(&self) -> Value {
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": self.x,
            "y": self.y,
            "kid": self.kid,
            "alg": "ES256",
            "use": "sig",
        })
    }

    /// A compact JWS of `claims`, signed with ES256.
    ///
    /// # Errors
    /// The claims cannot be serialized.
    pub(super) fn sign<T: Serialize>(&self, claims: &T) -> Result<String, serde_json::Error> {
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": self.kid });
        let input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&header)?),
            B64.encode(serde_json::to_vec(claims)?)
        );
        let signature: Signature = self.signing.expose().sign(input.as_bytes());
        // Low-S form: some verifiers accept no other.
        let signature = signature.normalize_s().unwrap_or(signature);
        Ok(format!("{input}.{}", B64.encode(signature.to_bytes())))
    }
}

/// The JWK thumbprint of an EC P-256 key (RFC 7638 §3.2: the required members
/// in lexicographic order, no spaces).
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    B64.encode(Sha256::digest(canonical.as_bytes()))
}

/// The claims of an ID token (OpenID Connect Core §2).
#[derive(Debug, Serialize)]
pub(super) struct IdTokenClaims<'a> {
    /// The issuer.
    pub iss: &'a str,
    /// The account: the e-mail address typed on the sign-in page.
    pub sub: &'a str,
    /// The client id.
    pub aud: &'a str,
    /// Expiry, in seconds.
    pub exp: i64,
    /// Issued at, in seconds.
    pub iat: i64,
    /// The authorization request's nonce.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    /// The e-mail address (the same as `sub`).
    pub email: &'a str,
    /// Always true: the mock vouches for every address.
    pub email_verified: bool,
    /// The display name, when one was entered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// The avatar URL, when one was entered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier as _;

    /// The verifying key a client would build from the JWK.
    fn key_from_jwk(jwk: &Value) -> VerifyingKey {
        let coordinate = |name: &str| B64.decode(jwk[name].as_str().unwrap()).unwrap();
        let mut sec1 = vec![4u8];
        sec1.extend(coordinate("x"));
        sec1.extend(coordinate("y"));
        VerifyingKey::from_sec1_bytes(&sec1).unwrap()
    }

    fn claims() -> IdTokenClaims<'static> {
        IdTokenClaims {
            iss: "http://localhost:8114",
            sub: "ada@example.com",
            aud: "spotify",
            exp: 2_000,
            iat: 1_000,
            nonce: Some("n-0S6_WzA2Mj"),
            email: "ada@example.com",
            email_verified: true,
            name: None,
            picture: None,
        }
    }

    #[test]
    fn an_id_token_verifies_with_the_published_key() {
        let key = Key::generate().unwrap();
        let jwk = key.jwk();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["kid"], key.kid());
        let token = key.sign(&claims()).unwrap();
        let (input, signature) = token.rsplit_once('.').unwrap();
        let signature = Signature::from_slice(&B64.decode(signature).unwrap()).unwrap();
        assert!(
            key_from_jwk(&jwk)
                .verify(input.as_bytes(), &signature)
                .is_ok()
        );
        // Another key, or a changed payload, does not verify.
        let other = Key::generate().unwrap();
        assert!(
            key_from_jwk(&other.jwk())
                .verify(input.as_bytes(), &signature)
                .is_err()
        );
        let (header, _) = input.split_once('.').unwrap();
        let forged = format!("{header}.{}", B64.encode(br#"{"sub":"eve@example.com"}"#));
        assert!(
            key_from_jwk(&jwk)
                .verify(forged.as_bytes(), &signature)
                .is_err()
        );
    }

    #[test]
    fn the_token_carries_the_header_and_claims() {
        let key = Key::generate().unwrap();
        let token = key.sign(&claims()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"alg": "ES256", "typ": "JWT", "kid": key.kid()})
        );
        let payload: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(payload["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(payload["email_verified"], true);
        assert!(payload.get("name").is_none());
    }

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint_of_the_jwk() {
        let key = Key::generate().unwrap();
        let jwk = key.jwk();
        // RFC 7638 §3: the required members only, sorted, compact.
        let required: std::collections::BTreeMap<&str, &Value> = ["crv", "kty", "x", "y"]
            .into_iter()
            .map(|name| (name, &jwk[name]))
            .collect();
        let canonical = serde_json::to_string(&required).unwrap();
        assert!(canonical.starts_with(r#"{"crv":"P-256","kty":"EC","x":""#));
        assert_eq!(key.kid(), B64.encode(Sha256::digest(canonical.as_bytes())));
        assert_ne!(key.kid(), Key::generate().unwrap().kid());
    }
}
