//! `/auth/otp/*`: sign-in codes and magic links sent by mail.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::accounts;
use crate::auth::ANY;
use crate::error::ApiError;
use crate::http::routes::password::bot_challenge_fields;
use crate::http::routes::{accept_code, check_code, send_mail};
use crate::http::{Req, json};
use crate::known_errors as ke;
use crate::mail::templates;
use crate::redirect;
use crate::state::AppState;
use crate::tokens;
use crate::validate::Fields;
use crate::verification::{self, CodeKind};

/// `POST /auth/otp/send-sign-in-code`: mails a one-time code and a magic link.
///
/// # Errors
/// See spec §2.5.
pub async fn send_sign_in_code(
    State(state): State<AppState>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    let email = f.req_email("email");
    let callback = f.req_url("callback_url");
    bot_challenge_fields(&mut f);
    f.finish(&req.line)?;
    let Some(callback) = callback else {
        return Err(ApiError::internal(
            "callback_url passed validation but is missing",
        ));
    };
    let project = &auth.project;
    if !project.config.magic_link_enabled {
        return Err(ApiError::forbidden(
            "OTP sign-in is not enabled for this project",
        ));
    }
    accounts::otp_user_for_email(&state.pool, project, &email).await?;
    if !redirect::is_trusted(&project.config, &callback) {
        return Err(ke::redirect_url_not_whitelisted().into());
    }
    let issued = verification::create(
        &state.pool,
        &project.id,
        CodeKind::OneTimePassword,
        &email,
        json!({}),
        &callback,
    )
    .await?;
    let mail = templates::sign_in_code(&project.display_name, &issued.otp(), issued.link.as_str());
    send_mail(&state, project, &email, mail);
    Ok(json(StatusCode::OK, &json!({ "nonce": issued.nonce() })))
}

/// `POST /auth/otp/sign-in`: signs in (or signs up) with a code from the mail.
/// The code is used up even when the user must pass a second factor next.
///
/// # Errors
/// The verification-code errors (§2.0), then those of §2.5;
/// `MULTI_FACTOR_AUTHENTICATION_REQUIRED` for a user with a TOTP secret.
pub async fn sign_in(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let (auth, accepted) = accept_code(&state, &req, CodeKind::OneTimePassword, true).await?;
    let project = &auth.project;
    let (user_id, is_new_user) =
        match accounts::otp_user_for_email(&state.pool, project, &accepted.email).await? {
            Some(id) => (id, false),
            None => {
                let current = auth.user.as_ref();
                let id = accounts::create_otp_user(&state.pool, project, current, &accepted.email)
                    .await?;
                (id, true)
            }
        };
    let pair = tokens::sign_in_first_factor(&state, project, user_id, is_new_user).await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "refresh_token": pair.refresh_token.expose(),
            "access_token": pair.access_token.expose(),
            "is_new_user": is_new_user,
            "user_id": user_id,
        }),
    ))
}

/// `POST /auth/otp/sign-in/check-code`: whether a sign-in code would work, without using it.
///
/// # Errors
/// The verification-code errors (§2.0).
pub async fn sign_in_check_code(
    State(state): State<AppState>,
    req: Req,
) -> Result<Response, ApiError> {
    check_code(&state, &req, CodeKind::OneTimePassword).await
}
