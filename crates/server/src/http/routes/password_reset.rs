//! `/auth/password/send-reset-code` and `/auth/password/reset`: password reset by mail.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::accounts::{self, UserPatch};
use crate::auth::ANY;
use crate::db::contact_channels;
use crate::error::ApiError;
use crate::http::routes::{check_code, send_mail};
use crate::http::{Req, json, success};
use crate::known_errors as ke;
use crate::mail::templates;
use crate::password::{self, MAX_LENGTH};
use crate::random;
use crate::redirect;
use crate::secret::Secret;
use crate::state::AppState;
use crate::validate::{Fields, Patch};
use crate::verification::{self, CODE_LENGTH, CodeKind};

/// The answer whether or not a user has that address, so that it reveals nothing.
const MAYBE_SENT: &str = "maybe, only if user with e-mail exists";

/// When a send-reset-code call answers: at least 2 s plus up to 1 s after it
/// began (Stack Auth's delay for an unknown address), whether or not a user has
/// the address, so that neither the answer nor its timing tells them apart.
const ANSWER_DELAY: Duration = Duration::from_secs(2);
/// Upper bound of the random part added to [`ANSWER_DELAY`], in milliseconds.
const ANSWER_JITTER_MS: u64 = 1000;

/// `POST /auth/password/send-reset-code`.
///
/// # Errors
/// See spec §2.4.
pub async fn send_reset_code(
    State(state): State<AppState>,
    req: Req,
) -> Result<Response, ApiError> {
    let began = tokio::time::Instant::now();
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    let email = f.req_loose_email("email");
    let callback = f.req_url("callback_url");
    f.finish(&req.line)?;
    let Some(callback) = callback else {
        return Err(ApiError::internal(
            "callback_url passed validation but is missing",
        ));
    };
    let project = &auth.project;
    if !project.config.credential_enabled {
        return Err(ke::password_authentication_not_enabled().into());
    }
    // Checked before the address is looked up: an untrusted callback is
    // refused alike for every address.
    if !redirect::is_trusted(&project.config, &callback) {
        return Err(ke::redirect_url_not_whitelisted().into());
    }
    let jitter = u64::from(u16::from_le_bytes(random::bytes::<2>()?)) % ANSWER_JITTER_MS;
    let answer_at = began + ANSWER_DELAY + Duration::from_millis(jitter);
    if let Some((channel, _)) =
        contact_channels::find_auth_email(&state.pool, &project.id, &email).await?
    {
        let issued = verification::create(
            &state.pool,
            &project.id,
            CodeKind::PasswordReset,
            &email,
            json!({ "user_id": channel.user_id }),
            &callback,
        )
        .await?;
        let mail = templates::password_reset(&project.display_name, issued.link.as_str());
        send_mail(&state, project, &email, mail);
    }
    tokio::time::sleep_until(answer_at).await;
    Ok(json(StatusCode::OK, &json!({ "success": MAYBE_SENT })))
}

/// `POST /auth/password/reset`: sets a new password with a code from the mail
/// and ends every session of the user.
///
/// # Errors
/// The verification-code errors (§2.0), `PASSWORD_AUTHENTICATION_NOT_ENABLED`,
/// the password rules.
pub async fn reset(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    let code = f.req_exact_string("code", CODE_LENGTH);
    let new_password = f.req_string("password", Some(MAX_LENGTH));
    f.finish(&req.line)?;
    let project = &auth.project;
    // As in Stack Auth, the code is used before the action runs: a password
    // the rules reject uses it up too.
    let accepted = verification::check(
        &state.pool,
        &project.id,
        CodeKind::PasswordReset,
        &code,
        true,
    )
    .await?;
    if !project.config.credential_enabled {
        return Err(ke::password_authentication_not_enabled().into());
    }
    password::check_rules(&new_password)?;
    let user_id = accepted.user_id()?;
    let hash = password::hash(Secret::new(new_password)).await?;
    let patch = UserPatch {
        password_hash: Patch::Set(hash),
        ..UserPatch::default()
    };
    accounts::update_user(&state.pool, project, user_id, patch).await?;
    Ok(success())
}

/// `POST /auth/password/reset/check-code`.
///
/// # Errors
/// The verification-code errors (§2.0).
pub async fn reset_check_code(
    State(state): State<AppState>,
    req: Req,
) -> Result<Response, ApiError> {
    check_code(&state, &req, CodeKind::PasswordReset).await
}
