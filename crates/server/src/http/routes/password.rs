//! `/auth/password/*`: sign-up, sign-in, update and set.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::accounts::{self, NewUser, PasswordChange, UserPatch, normalize_email};
use crate::auth::ANY;
use crate::db::users;
use crate::error::ApiError;
use crate::http::header;
use crate::http::routes::contact_channel_verification::send_verification_mail;
use crate::http::{Req, json, success};
use crate::known_errors as ke;
use crate::password::{self, MAX_LENGTH};
use crate::redirect;
use crate::secret::Secret;
use crate::state::AppState;
use crate::tokens::{self, TokenPair};
use crate::validate::{Fields, Patch};

fn tokens_json(pair: &TokenPair, user_id: uuid::Uuid) -> Response {
    json(
        StatusCode::OK,
        &json!({
            "access_token": pair.access_token.expose(),
            "refresh_token": pair.refresh_token.expose(),
            "user_id": user_id,
        }),
    )
}

/// Reads the bot-challenge fields that SDKs send; they are accepted and ignored.
pub(crate) fn bot_challenge_fields(f: &mut Fields) {
    let _ = f.opt_string("bot_challenge_token", None);
    let _ = f.opt_one_of("bot_challenge_phase", &["invisible", "visible"]);
    let _ = f.opt_one_of("bot_challenge_unavailable", &["true"]);
}

/// `POST /auth/password/sign-up`.
///
/// # Errors
/// See spec §2.4.
pub async fn sign_up(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    let email = f.req_email("email");
    let password = f.req_string("password", Some(MAX_LENGTH));
    let callback = f.opt_url("verification_callback_url");
    bot_challenge_fields(&mut f);
    f.finish(&req.line)?;

    let project = &auth.project;
    if !project.config.credential_enabled {
        return Err(ke::password_authentication_not_enabled().into());
    }
    if let Some(url) = &callback
        && !redirect::is_trusted(&project.config, url)
    {
        return Err(ke::redirect_url_not_whitelisted().into());
    }
    if !project.config.sign_up_enabled {
        return Err(ke::sign_up_not_enabled().into());
    }
    password::check_rules(&password)?;
    let email = normalize_email(&email);
    let email_for_mail = email.clone();
    if users::auth_email_taken(&state.pool, &project.id, &email, None).await? {
        return Err(ke::user_email_already_exists(&email, false).into());
    }
    let hash = password::hash(Secret::new(password)).await?;

    // An anonymous user who signs up keeps their id and data.
    let user_id = match auth.user.as_ref().filter(|u| u.is_anonymous) {
        Some(anonymous) => {
            let patch = UserPatch {
                primary_email: Patch::Set(email),
                primary_email_auth_enabled: Some(true),
                password_hash: Patch::Set(hash),
                is_anonymous: Some(false),
                ..UserPatch::default()
            };
            accounts::update_user(&state.pool, project, anonymous.id, patch).await?;
            anonymous.id
        }
        None => {
            let new = NewUser {
                primary_email: Some(email),
                primary_email_auth_enabled: true,
                password_hash: Some(hash),
                ..NewUser::default()
            };
            accounts::create_user(&state.pool, project, new).await?
        }
    };
    if let Some(callback) = &callback {
        // Stack Auth sends this mail on the side: its failure does not fail the sign-up.
        if let Err(e) =
            send_verification_mail(&state, project, user_id, &email_for_mail, callback).await
        {
            tracing::warn!(error = %e, "could not send the verification mail after a sign-up");
        }
    }
    // A new user has no TOTP secret, but an upgraded anonymous one may.
    let pair = tokens::sign_in_first_factor(&state, project, user_id, true).await?;
    Ok(tokens_json(&pair, user_id))
}

/// `POST /auth/password/sign-in`.
///
/// # Errors
/// See spec §2.4; `MULTI_FACTOR_AUTHENTICATION_REQUIRED` for a user with a
/// TOTP secret (after the password matched).
pub async fn sign_in(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    let email = f.req_loose_email("email");
    let password = f.req_string("password", Some(MAX_LENGTH));
    f.finish(&req.line)?;
    let project = &auth.project;
    if !project.config.credential_enabled {
        return Err(ke::password_authentication_not_enabled().into());
    }
    let found = users::find_by_auth_email(&state.pool, &project.id, email.trim()).await?;
    let hash = found.as_ref().and_then(|(_, h)| h.clone()).map(Secret::new);
    let matched = password::verify(Secret::new(password), hash).await?;
    let user_id = match (found, matched) {
        (Some((id, _)), true) => id,
        _ => return Err(ke::email_password_mismatch().into()),
    };
    let pair = tokens::sign_in_first_factor(&state, project, user_id, false).await?;
    Ok(tokens_json(&pair, user_id))
}

/// `POST /auth/password/update`: change a password, keeping only the caller's session.
///
/// # Errors
/// See spec §2.4.
pub async fn update(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    let old_password = f.req_string("old_password", Some(MAX_LENGTH));
    let new_password = f.req_string("new_password", Some(MAX_LENGTH));
    if auth.user.is_none() {
        f.error_line("auth.user must be defined");
    }
    f.finish(&req.line)?;
    let user = auth.me()?;
    let keep = header(&req.headers, "x-stack-refresh-token");
    let change = PasswordChange {
        old_password: Secret::new(old_password),
        new_password: Secret::new(new_password),
        keep_session: keep.as_deref(),
    };
    accounts::update_password(&state.pool, &auth.project, user.id, change).await?;
    Ok(success())
}

/// `POST /auth/password/set`: add a password to an account that has none.
///
/// # Errors
/// See spec §2.4.
pub async fn set(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    let password = f.req_string("password", Some(MAX_LENGTH));
    if auth.user.is_none() {
        f.error_line("auth.user must be defined");
    }
    f.finish(&req.line)?;
    let user = auth.me()?;
    accounts::set_password(&state.pool, &auth.project, user, Secret::new(password)).await?;
    Ok(success())
}
