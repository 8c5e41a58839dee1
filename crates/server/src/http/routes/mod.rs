//! One module per API resource. Handlers validate input with
//! [`crate::validate::Fields`], call the domain code, and render JSON.

pub mod analytics;
pub mod anonymous;
pub mod api_keys;
pub mod config;
pub mod connected_accounts;
pub mod contact_channel_verification;
pub mod contact_channels;
pub mod health;
pub mod internal_api_keys;
pub mod internal_projects;
pub mod jwks;
pub mod local_emulator;
pub mod mfa;
pub mod oauth;
pub mod oauth_apple_native;
pub mod oauth_cross_domain;
pub mod oauth_providers;
pub mod oauth_token;
pub mod otp;
pub mod password;
pub mod password_reset;
pub mod permission_definitions;
pub mod permission_grants;
pub mod projects;
pub mod root;
pub mod sessions;
pub mod team_invitations;
pub mod team_member_profiles;
pub mod team_memberships;
pub mod teams;
pub mod users;

use uuid::Uuid;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::validate::{Fields, RequestLine};

/// Resolves a `user_id` path or query value: `me` or a UUID.
///
/// # Errors
/// `CANNOT_GET_OWN_USER_WITHOUT_USER` for `me` without a user, `SCHEMA_ERROR` for a bad UUID.
pub fn user_id_or_me(
    raw: &str,
    scope: &str,
    auth: &Auth,
    line: &RequestLine,
) -> Result<Uuid, ApiError> {
    if raw == "me" {
        return Ok(auth.me()?.id);
    }
    Uuid::parse_str(raw).map_err(|_| {
        ke::schema_error(line, &[format!("{scope}.user_id must be a valid UUID")]).into()
    })
}

/// Parses a path parameter that must be a UUID, recording
/// `params.<name> must be a valid UUID` in `problems` when it is not (the
/// nil UUID stands in, and is never used because the request then fails).
pub fn uuid_param(problems: &mut Fields, name: &str, raw: &str) -> Uuid {
    Uuid::parse_str(raw).unwrap_or_else(|_| {
        problems.error_line(&format!("params.{name} must be a valid UUID"));
        Uuid::nil()
    })
}

/// Queues a mail from `project` to `to`; never waits for the mail server.
pub fn send_mail(
    state: &crate::state::AppState,
    project: &crate::db::projects::Project,
    to: &str,
    content: crate::mail::templates::Rendered,
) {
    state.mailer.send(crate::mail::outbound::Outgoing {
        from_name: project.display_name.clone(),
        to: to.to_owned(),
        content,
    });
}

/// Every `…/check-code` route: whether `{ code }` of `kind` would work, without
/// using it; `200 {"is_code_valid": true}` when it would.
///
/// # Errors
/// `SCHEMA_ERROR`, and the verification-code errors (§2.0).
pub async fn check_code(
    state: &crate::state::AppState,
    req: &crate::http::Req,
    kind: crate::verification::CodeKind,
) -> Result<axum::response::Response, ApiError> {
    accept_code(state, req, kind, false).await?;
    Ok(crate::http::json(
        axum::http::StatusCode::OK,
        &serde_json::json!({ "is_code_valid": true }),
    ))
}

/// The start of every route that takes only `{ code }`: who asks, and the
/// code of `kind` checked (and used up when `consume`).
///
/// # Errors
/// `ACCESS_TYPE_REQUIRED`, `SCHEMA_ERROR`, and the verification-code errors (§2.0).
pub async fn accept_code<'r>(
    state: &crate::state::AppState,
    req: &'r crate::http::Req,
    kind: crate::verification::CodeKind,
    consume: bool,
) -> Result<(&'r crate::auth::Auth, crate::verification::AcceptedCode), ApiError> {
    let auth = req.auth.require(crate::auth::ANY)?;
    let code = read_code(req.body.clone(), &req.line)?;
    let accepted =
        crate::verification::check(&state.pool, &auth.project.id, kind, &code, consume).await?;
    Ok((auth, accepted))
}

/// Reads the body of a verification-code route that takes only `{ code }`.
///
/// # Errors
/// `SCHEMA_ERROR` for a missing, misshapen or extra field.
pub fn read_code(body: Option<serde_json::Value>, line: &RequestLine) -> Result<String, ApiError> {
    let mut f = crate::validate::Fields::body(body);
    let code = f.req_exact_string("code", crate::verification::CODE_LENGTH);
    f.finish(line)?;
    Ok(code)
}
