//! `POST /auth/oauth/cross-domain/authorize`: a signed-in app hands its
//! session to another of the project's domains. The server issues a one-time
//! authorization code bound to the caller's session and a PKCE challenge;
//! the other domain exchanges it at `/auth/oauth/token` and continues the
//! same session (same refresh token).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde_json::json;

use crate::auth::{self, ANY};
use crate::db::oauth::AuthorizationCodeRecord;
use crate::db::sessions;
use crate::error::ApiError;
use crate::http::{Req, header, json};
use crate::known_errors as ke;
use crate::oauth::flow::{self, CODE_LIFETIME};
use crate::state::AppState;
use crate::validate::Fields;

use super::oauth::trusted;

/// The longest `state` the app may pass.
const MAX_STATE_LEN: usize = 512;

/// Whether `challenge` is a PKCE S256 challenge: 43–128 unreserved characters.
fn is_pkce_value(challenge: &str) -> bool {
    (43..=128).contains(&challenge.len())
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

/// Issues the handoff code and answers `{redirect_url}`.
///
/// # Errors
/// `USER_AUTHENTICATION_REQUIRED`; 400 without the session's refresh token,
/// 401 when it is not the caller's; `REDIRECT_URL_NOT_WHITELISTED`; schema errors.
pub async fn authorize(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    let redirect_uri = f.req_url("redirect_uri");
    let app_state = f.req_string("state", Some(MAX_STATE_LEN));
    if app_state.is_empty() && !f.has_errors() {
        f.error("state", "must be at least 1 characters");
    }
    let code_challenge = f.req_string("code_challenge", None);
    if !code_challenge.is_empty() && !is_pkce_value(&code_challenge) {
        f.error(
            "code_challenge",
            "must match the following: \"/^[A-Za-z0-9._~-]{43,128}$/\"",
        );
    }
    f.opt_one_of("code_challenge_method", &["S256"]);
    let after_callback_redirect_url = f.opt_url("after_callback_redirect_url");
    f.finish(&req.line)?;
    let redirect_uri = redirect_uri.ok_or_else(|| ApiError::internal("checked above"))?;

    let project = &auth.project;
    let user = auth
        .user
        .as_ref()
        .ok_or_else(ke::user_authentication_required)?;
    let session_id = auth.refresh_token_id.ok_or_else(|| {
        ApiError::bad_request(
            "Cross-domain auth handoff requires a refresh-token-bound session. Please sign in again.",
        )
    })?;
    let presented = header(&req.headers, "x-stack-refresh-token").ok_or_else(|| {
        ApiError::bad_request(
            "Cross-domain auth handoff requires passing the current refresh token.",
        )
    })?;
    let session = sessions::find_by_token(&state.pool, &project.id, &presented).await?;
    if !session.is_some_and(|s| s.id == session_id && s.user_id == user.id) {
        return Err(ApiError::unauthorized(
            "Cross-domain auth handoff refresh token does not match the authenticated session.",
        ));
    }
    let key = header(&req.headers, "x-stack-publishable-client-key");
    auth::authenticate_publishable_key(&state, &project.id, key.as_deref()).await?;
    if !trusted(project, redirect_uri.as_str()) {
        return Err(ke::redirect_url_not_whitelisted().into());
    }
    if let Some(after) = &after_callback_redirect_url
        && !trusted(project, after.as_str())
    {
        return Err(ke::redirect_url_not_whitelisted().into());
    }
    let record = AuthorizationCodeRecord {
        project_id: project.id.clone(),
        user_id: user.id,
        redirect_uri: redirect_uri.to_string(),
        code_challenge,
        code_challenge_method: "S256".into(),
        new_user: false,
        after_callback_redirect_url: after_callback_redirect_url.map(|u| u.to_string()),
        granted_session_id: Some(session_id),
        expires_at: Utc::now() + CODE_LIFETIME,
    };
    let code = flow::store_code(&state.pool, &record).await?;
    let mut location = redirect_uri;
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &app_state);
    Ok(json(
        StatusCode::OK,
        &json!({ "redirect_url": location.to_string() }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pkce_challenge_is_43_to_128_unreserved_characters() {
        assert!(is_pkce_value(&"a".repeat(43)));
        assert!(is_pkce_value("xf6HY7PIgoaCf_eMniSt-45brYE2J_05C9BnfIbueik"));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
    }
}
