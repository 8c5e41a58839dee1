//! `POST /auth/mfa/sign-in`: the second sign-in factor. The attempt code of a
//! sign-in that answered `MULTI_FACTOR_AUTHENTICATION_REQUIRED`, with the
//! user's current TOTP, becomes a session. Stack Auth has no check-code route
//! for attempt codes, and neither does this.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::accounts;
use crate::auth::ANY;
use crate::error::ApiError;
use crate::http::{Req, json};
use crate::state::AppState;
use crate::tokens;
use crate::validate::Fields;
use crate::verification::CODE_LENGTH;

/// The one second factor Stack Auth offers (`type` in the body).
const TOTP: &str = "totp";

/// `POST /auth/mfa/sign-in`.
///
/// # Errors
/// `SCHEMA_ERROR`; the verification-code errors of the attempt code (§2.0);
/// `INVALID_TOTP_CODE`.
pub async fn sign_in(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    // Whether `type` reads as a string, so that a value of the wrong type
    // gets only its type error, not also the one-of error.
    let type_is_text = req
        .body
        .as_ref()
        .and_then(|b| b.get("type"))
        .is_some_and(|v| match v {
            Value::String(s) => !s.contains('\0'),
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        });
    let mut f = Fields::body(req.body);
    let attempt_code = f.req_exact_string("code", CODE_LENGTH);
    let factor = f.req_string("type", None);
    if type_is_text && factor != TOTP {
        f.error(
            "type",
            &format!("must be one of the following values: {TOTP}"),
        );
    }
    let totp = f.req_string("totp", None);
    f.finish(&req.line)?;
    let project = &auth.project;
    let passed =
        accounts::pass_second_factor(&state.pool, &project.id, &attempt_code, &totp).await?;
    let pair = tokens::sign_in_user_id(&state, project, passed.user_id).await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "refresh_token": pair.refresh_token.expose(),
            "access_token": pair.access_token.expose(),
            "is_new_user": passed.is_new_user,
            "user_id": passed.user_id,
        }),
    ))
}
