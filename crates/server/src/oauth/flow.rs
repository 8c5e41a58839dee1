//! The two pieces of state of an OAuth sign-in: what the app's authorize
//! request asked for (kept from `/authorize` until the provider's callback,
//! ten minutes at most), and the authorization code the app then exchanges.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::db::oauth::{self as db, AuthorizationCodeRecord};
use crate::error::ApiError;
use crate::random;

/// How long a sign-in may take between `/authorize` and the callback.
pub const OUTER_FLOW_LIFETIME: Duration = Duration::minutes(10);

/// How long an authorization code may wait to be exchanged.
pub const CODE_LIFETIME: Duration = Duration::minutes(5);

/// The cookie that ties the callback to the browser that started the sign-in.
pub const INNER_COOKIE_PREFIX: &str = "stack-oauth-inner-";

/// What kind of sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowType {
    /// Sign in or sign up.
    Authenticate,
    /// Connect the provider account to the signed-in user.
    Link,
}

/// What the app's authorize request asked for, kept until the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OuterInfo {
    /// The project.
    pub project_id: String,
    /// The client secret the app presented (its publishable key, or the
    /// public-client sentinel).
    pub publishable_client_key: String,
    /// The app's redirect URI (without fragment).
    pub redirect_uri: String,
    /// The app's OAuth scope.
    pub scope: String,
    /// The app's state, returned with the code.
    pub state: String,
    /// The app's PKCE challenge.
    pub code_challenge: String,
    /// Its method.
    pub code_challenge_method: String,
    /// The app's response type.
    pub response_type: String,
    /// The PKCE verifier of the server's own request to the provider.
    pub inner_code_verifier: String,
    /// Sign-in or link.
    pub flow_type: FlowType,
    /// The signed-in user who started it (link, or an anonymous upgrade).
    pub project_user_id: Option<Uuid>,
    /// Extra provider scopes asked for.
    pub provider_scope: Option<String>,
    /// Where errors go, if the app said.
    pub error_redirect_url: Option<String>,
    /// Where the app goes after its callback page.
    pub after_callback_redirect_url: Option<String>,
    /// `json` or `redirect`.
    pub response_mode: String,
    /// The callback URL the provider was sent (flows stored before this
    /// field existed have none: the current one is used).
    #[serde(default)]
    pub provider_redirect_uri: Option<String>,
}

/// A fresh random value for OAuth (state, verifier, code): 32 bytes from the
/// OS RNG, base64url.
///
/// # Errors
/// The OS RNG failed.
pub fn random_value() -> Result<String, ApiError> {
    Ok(B64.encode(random::bytes::<32>()?))
}

/// The S256 PKCE challenge of `verifier`.
pub fn s256(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` answers `challenge` by `method` (`S256`, or `plain`
/// and empty for the plain comparison), as RFC 7636 says.
pub fn pkce_matches(method: &str, challenge: &str, verifier: &str) -> bool {
    if challenge.is_empty() {
        return true;
    }
    let expected = if method.eq_ignore_ascii_case("S256") {
        s256(verifier)
    } else {
        verifier.to_owned()
    };
    constant_time_eq(expected.as_bytes(), challenge.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The stored form of a code: its SHA-256.
pub fn code_hash(code: &str) -> [u8; 32] {
    Sha256::digest(code.as_bytes()).into()
}

/// Issues an authorization code for `user_id` after a callback.
///
/// # Errors
/// RNG or database failures.
pub async fn issue_code(
    pool: &sqlx::PgPool,
    info: &OuterInfo,
    user_id: Uuid,
    new_user: bool,
) -> Result<String, ApiError> {
    let record = AuthorizationCodeRecord {
        project_id: info.project_id.clone(),
        user_id,
        redirect_uri: info.redirect_uri.clone(),
        code_challenge: info.code_challenge.clone(),
        code_challenge_method: info.code_challenge_method.clone(),
        new_user,
        after_callback_redirect_url: info.after_callback_redirect_url.clone(),
        granted_session_id: None,
        expires_at: Utc::now() + CODE_LIFETIME,
    };
    store_code(pool, &record).await
}

/// Stores `record` under a fresh code and returns the code.
///
/// # Errors
/// RNG or database failures.
pub async fn store_code(
    pool: &sqlx::PgPool,
    record: &AuthorizationCodeRecord,
) -> Result<String, ApiError> {
    let code = random_value()?;
    db::insert_code(pool, &code_hash(&code), record).await?;
    Ok(code)
}

/// Why a code exchange failed.
#[derive(Debug, PartialEq, Eq)]
pub enum CodeRefusal {
    /// Unknown, expired, used, for another project, or the verifier is wrong.
    InvalidCode,
    /// The request has no redirect URI, or one that is not a URI.
    RedirectUriMissing,
    /// The redirect URI differs from the one the code was issued for.
    RedirectUriMismatch,
}

/// Exchanges a code: checks it against the request and uses it up (a code
/// works once, also under two racing requests). In the order of Stack Auth's
/// OAuth library (`@node-oauth/oauth2-server` 5.1): the code and its PKCE
/// verifier are checked (a failure leaves the code as it was), the code is
/// used up, and only then is the redirect URI compared, so a wrong one
/// spends the code.
///
/// # Errors
/// [`CodeRefusal`] inside `Ok(Err(..))`; database failures outside.
pub async fn redeem_code(
    pool: &sqlx::PgPool,
    project_id: &str,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<AuthorizationCodeRecord, CodeRefusal>, ApiError> {
    let hash = code_hash(code);
    let Some(found) = db::find_code(pool, &hash).await? else {
        return Ok(Err(CodeRefusal::InvalidCode));
    };
    if found.project_id != project_id || found.expires_at < now {
        return Ok(Err(CodeRefusal::InvalidCode));
    }
    if !found.code_challenge.is_empty() {
        let Some(verifier) = code_verifier else {
            return Ok(Err(CodeRefusal::InvalidCode));
        };
        if !pkce_matches(
            &found.code_challenge_method,
            &found.code_challenge,
            verifier,
        ) {
            return Ok(Err(CodeRefusal::InvalidCode));
        }
    }
    let Some(taken) = db::take_code(pool, &hash).await? else {
        return Ok(Err(CodeRefusal::InvalidCode));
    };
    match redirect_uri.filter(|r| url::Url::parse(r).is_ok()) {
        None => Ok(Err(CodeRefusal::RedirectUriMissing)),
        Some(r) if r != taken.redirect_uri => Ok(Err(CodeRefusal::RedirectUriMismatch)),
        Some(_) => Ok(Ok(taken)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_follows_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256(verifier), challenge);
        assert!(pkce_matches("S256", challenge, verifier));
        assert!(!pkce_matches("S256", challenge, "another-verifier"));
        assert!(pkce_matches("plain", "abc", "abc"));
        assert!(!pkce_matches("plain", "abc", "abd"));
        assert!(pkce_matches("", "", "anything"));
    }

    #[test]
    fn outer_info_round_trips_through_json() {
        let info = OuterInfo {
            project_id: "internal".into(),
            publishable_client_key: "pck".into(),
            redirect_uri: "http://localhost:3000/cb".into(),
            scope: "legacy".into(),
            state: "s".into(),
            code_challenge: "c".into(),
            code_challenge_method: "plain".into(),
            response_type: "code".into(),
            inner_code_verifier: "v".into(),
            flow_type: FlowType::Link,
            project_user_id: None,
            provider_scope: None,
            error_redirect_url: None,
            after_callback_redirect_url: Some("http://localhost:3000/after".into()),
            response_mode: "redirect".into(),
            provider_redirect_uri: None,
        };
        let back: OuterInfo =
            serde_json::from_value(serde_json::to_value(&info).unwrap_or_default())
                .unwrap_or_else(|_| unreachable!());
        assert_eq!(back.flow_type, FlowType::Link);
        assert_eq!(
            back.after_callback_redirect_url,
            info.after_callback_redirect_url
        );
    }
}
