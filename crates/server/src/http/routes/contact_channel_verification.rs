//! Email verification: `/contact-channels/…/send-verification-code` mails a
//! link, `/contact-channels/verify` takes its code and marks the address verified.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;
use url::Url;
use uuid::Uuid;

use crate::auth::{ANY, AccessType};
use crate::db::contact_channels as channels;
use crate::db::projects::Project;
use crate::db::users;
use crate::error::ApiError;
use crate::http::routes::{accept_code, check_code, send_mail, user_id_or_me};
use crate::http::{Req, success};
use crate::known_errors as ke;
use crate::mail::templates;
use crate::redirect;
use crate::state::AppState;
use crate::validate::Fields;
use crate::verification::{self, CodeKind};

/// Creates a verification code for `email` of `user_id` and mails its link.
///
/// # Errors
/// `REDIRECT_URL_NOT_WHITELISTED`; database and RNG failures.
pub async fn send_verification_mail(
    state: &AppState,
    project: &Project,
    user_id: Uuid,
    email: &str,
    callback: &Url,
) -> Result<(), ApiError> {
    if !redirect::is_trusted(&project.config, callback) {
        return Err(ke::redirect_url_not_whitelisted().into());
    }
    let issued = verification::create(
        &state.pool,
        &project.id,
        CodeKind::ContactChannelVerification,
        email,
        json!({ "user_id": user_id }),
        callback,
    )
    .await?;
    let mail = templates::email_verification(&project.display_name, issued.link.as_str());
    send_mail(state, project, email, mail);
    Ok(())
}

/// `POST /contact-channels/{user_id}/{contact_channel_id}/send-verification-code`.
///
/// # Errors
/// See spec §2.14.
pub async fn send_code(
    State(state): State<AppState>,
    Path((user_id, channel_id)): Path<(String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body.clone());
    let callback = f.req_url("callback_url");
    f.finish(&req.line)?;
    let Some(callback) = callback else {
        return Err(ApiError::internal(
            "callback_url passed validation but is missing",
        ));
    };
    let project = &auth.project;
    let user_id = if auth.access == AccessType::Client {
        let me = auth.me()?.id;
        if user_id != "me" && Uuid::parse_str(&user_id).ok() != Some(me) {
            return Err(ApiError::bad_request(
                "Can only send verification code for your own user",
            ));
        }
        me
    } else {
        let id = user_id_or_me(&user_id, "params", auth, &req.line)?;
        if !users::exists(&state.pool, &project.id, id).await? {
            return Err(ke::user_id_does_not_exist(&id.to_string()).into());
        }
        id
    };
    let channel = match Uuid::parse_str(&channel_id) {
        Ok(channel_id) => channels::find(&state.pool, &project.id, user_id, channel_id).await?,
        Err(_) => None,
    }
    .ok_or_else(|| ApiError::not_found("Contact channel not found"))?;
    if channel.is_verified {
        return Err(ke::email_already_verified().into());
    }
    send_verification_mail(&state, project, user_id, &channel.value, &callback).await?;
    Ok(success())
}

/// `POST /contact-channels/send-verification-code` (older SDKs): verify the
/// signed-in user's primary email.
///
/// # Errors
/// See spec §2.14.
pub async fn send_code_for_primary(
    State(state): State<AppState>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body.clone());
    let email = f.req_loose_email("email");
    let callback = f.req_url("callback_url");
    if auth.user.is_none() {
        f.error_line("auth.user must be defined");
    }
    f.finish(&req.line)?;
    let (Some(callback), Ok(user)) = (callback, auth.me()) else {
        return Err(ApiError::internal("validated fields are missing"));
    };
    if user.primary_email.as_deref() != Some(email.as_str()) {
        return Err(ke::email_is_not_primary_email(&email, user.primary_email.as_deref()).into());
    }
    if user.primary_email_verified == Some(true) {
        return Err(ke::email_already_verified().into());
    }
    send_verification_mail(&state, &auth.project, user.id, &email, &callback).await?;
    Ok(success())
}

/// `POST /contact-channels/verify`.
///
/// # Errors
/// The verification-code errors (§2.0); a deleted channel is a plain 400.
pub async fn verify(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let (auth, accepted) =
        accept_code(&state, &req, CodeKind::ContactChannelVerification, true).await?;
    let project = &auth.project;
    let user_id = accepted.user_id()?;
    if !channels::mark_verified(&state.pool, &project.id, user_id, &accepted.email).await? {
        return Err(ApiError::bad_request(
            "Contact channel not found. Was your contact channel deleted?",
        ));
    }
    Ok(success())
}

/// `POST /contact-channels/verify/check-code`.
///
/// # Errors
/// The verification-code errors (§2.0).
pub async fn verify_check_code(
    State(state): State<AppState>,
    req: Req,
) -> Result<Response, ApiError> {
    check_code(&state, &req, CodeKind::ContactChannelVerification).await
}
