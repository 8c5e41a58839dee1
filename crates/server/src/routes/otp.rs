//! `/auth/otp/*`: sign-in codes and magic links sent by mail.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::accounts::{self, NewUser, UserPatch, normalize_email};
use crate::auth::ANY;
use crate::db::contact_channels;
use crate::db::projects::Project;
use crate::error::ApiError;
use crate::http::{Req, json};
use crate::known_errors as ke;
use crate::mail::templates;
use crate::redirect;
use crate::routes::password::bot_challenge_fields;
use crate::routes::{accept_code, check_code, send_mail};
use crate::state::AppState;
use crate::tokens;
use crate::validate::{Fields, Patch};
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
        return Err(ApiError::status(
            StatusCode::FORBIDDEN,
            "OTP sign-in is not enabled for this project",
        ));
    }
    otp_user_for_email(&state.pool, project, &email).await?;
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
///
/// # Errors
/// The verification-code errors (§2.0), then those of §2.5.
pub async fn sign_in(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let (auth, accepted) = accept_code(&state, &req, CodeKind::OneTimePassword, true).await?;
    let project = &auth.project;
    let (user_id, is_new_user) =
        match otp_user_for_email(&state.pool, project, &accepted.email).await? {
            Some(id) => (id, false),
            None => (create_otp_user(&state, auth, &accepted.email).await?, true),
        };
    let pair = tokens::sign_in_user_id(&state, project, user_id).await?;
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

/// A new user who signs in by mail: the current anonymous user, upgraded, or a fresh one.
async fn create_otp_user(
    state: &AppState,
    auth: &crate::auth::Auth,
    email: &str,
) -> Result<uuid::Uuid, ApiError> {
    let email = normalize_email(email);
    match auth.user.as_ref().filter(|u| u.is_anonymous) {
        Some(anonymous) => {
            let patch = UserPatch {
                primary_email: Patch::Set(email),
                primary_email_verified: Some(true),
                primary_email_auth_enabled: Some(true),
                otp_auth_enabled: Some(true),
                is_anonymous: Some(false),
                ..UserPatch::default()
            };
            accounts::update_user(&state.pool, &auth.project, anonymous.id, patch).await?;
            Ok(anonymous.id)
        }
        None => {
            let new = NewUser {
                primary_email: Some(email),
                primary_email_verified: true,
                primary_email_auth_enabled: true,
                otp_auth_enabled: true,
                ..NewUser::default()
            };
            accounts::create_user(&state.pool, &auth.project, new).await
        }
    }
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

/// The user who may sign in with a one-time code sent to `email`, as Stack Auth
/// decides it: the owner of the auth-enabled channel with that address, if it
/// is verified (OTP sign-in is switched on for them silently); `None` when no
/// one owns it and sign-up is open.
///
/// # Errors
/// `USER_EMAIL_ALREADY_EXISTS` (would work if verified) for an unverified
/// owner, `SIGN_UP_NOT_ENABLED` when no one owns it and sign-up is closed;
/// database failures.
async fn otp_user_for_email(
    pool: &PgPool,
    project: &Project,
    email: &str,
) -> Result<Option<Uuid>, ApiError> {
    match contact_channels::find_auth_email(pool, &project.id, email).await? {
        Some((channel, _)) if !channel.is_verified => {
            Err(ke::user_email_already_exists(&channel.value, true).into())
        }
        Some((channel, otp_enabled)) => {
            if !otp_enabled {
                sqlx::query(
                    "UPDATE users SET otp_auth_enabled = TRUE WHERE project_id = $1 AND id = $2",
                )
                .bind(&project.id)
                .bind(channel.user_id)
                .execute(pool)
                .await?;
            }
            Ok(Some(channel.user_id))
        }
        None if !project.config.sign_up_enabled => Err(ke::sign_up_not_enabled().into()),
        None => Ok(None),
    }
}
