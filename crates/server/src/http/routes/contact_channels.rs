//! `/contact-channels`: a user's email addresses (list, create, read, update, delete).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::normalize_email;
use crate::auth::{ANY, AccessType, Auth};
use crate::contact_channels::{self, ContactChannelPatch, NewContactChannel};
use crate::db::contact_channels::{self as channels, ChannelRecord};
use crate::error::ApiError;
use crate::http::routes::user_id_or_me;
use crate::http::{Req, json, list_response, success};
use crate::known_errors as ke;
use crate::validate::{Fields, RequestLine};

/// The API object of a channel.
pub fn channel_json(c: &ChannelRecord) -> Value {
    json!({
        "id": c.id,
        "user_id": c.user_id,
        "type": c.kind,
        "value": c.value,
        "is_primary": c.is_primary.unwrap_or(false),
        "is_verified": c.is_verified,
        "used_for_auth": c.used_for_auth.unwrap_or(false),
    })
}

/// A client may only touch its own user's channels (`action` names the operation).
fn check_own(auth: &Auth, user_id: Option<Uuid>, action: &str) -> Result<(), ApiError> {
    if auth.access != AccessType::Client {
        return Ok(());
    }
    let me = auth.me()?.id;
    if user_id == Some(me) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "Client can only {action} contact channels for their own user."
        )))
    }
}

/// Parses the `{user_id}/{contact_channel_id}` path.
fn channel_path(
    auth: &Auth,
    line: &RequestLine,
    user_id: &str,
    channel_id: &str,
) -> Result<(Uuid, Uuid), ApiError> {
    let user_id = user_id_or_me(user_id, "params", auth, line)?;
    let channel_id = Uuid::parse_str(channel_id).map_err(|_| {
        ApiError::from(ke::schema_error(
            line,
            &["params.contact_channel_id must be a valid UUID".to_owned()],
        ))
    })?;
    Ok((user_id, channel_id))
}

/// `GET /contact-channels?user_id=&contact_channel_id=`.
///
/// # Errors
/// See spec §2.14.
pub async fn list(
    State(state): State<crate::state::AppState>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::query(&req.query);
    let user_raw = f.opt_string("user_id", None);
    let channel_id = f.opt_uuid("contact_channel_id");
    f.finish(&req.line)?;
    let user_id = match user_raw {
        Some(raw) => Some(user_id_or_me(&raw, "query", auth, &req.line)?),
        None => None,
    };
    check_own(auth, user_id, "list")?;
    let items = channels::list(&state.pool, &auth.project.id, user_id, channel_id).await?;
    let items: Vec<Value> = items.iter().map(channel_json).collect();
    Ok(list_response(items))
}

/// `GET /contact-channels/{user_id}/{contact_channel_id}`.
///
/// # Errors
/// See spec §2.14.
pub async fn read(
    State(state): State<crate::state::AppState>,
    Path((user_id, channel_id)): Path<(String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let (user_id, channel_id) = channel_path(auth, &req.line, &user_id, &channel_id)?;
    check_own(auth, Some(user_id), "read")?;
    let channel = channels::find(&state.pool, &auth.project.id, user_id, channel_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Contact channel not found."))?;
    Ok(json(StatusCode::OK, &channel_json(&channel)))
}

/// `POST /contact-channels`.
///
/// # Errors
/// See spec §2.14.
pub async fn create(
    State(state): State<crate::state::AppState>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    let user_raw = f.req_string("user_id", None);
    let value = f.req_email("value");
    let kind = f.opt_one_of("type", &["email"]);
    if !f.map_has("type") {
        f.error("type", "must be defined");
    }
    let used_for_auth = f.req_bool("used_for_auth");
    let is_primary = f.opt_bool("is_primary").unwrap_or(false);
    let is_verified = if auth.access == AccessType::Client {
        false
    } else {
        f.opt_bool("is_verified").unwrap_or(false)
    };
    f.finish(&req.line)?;
    let user_id = user_id_or_me(&user_raw, "body", auth, &req.line)?;
    check_own(auth, Some(user_id), "create")?;
    let new = NewContactChannel {
        user_id,
        value: normalize_email(&value),
        kind: kind.unwrap_or_else(|| "email".to_owned()),
        is_verified,
        is_primary,
        used_for_auth,
    };
    let created = contact_channels::create(&state.pool, &auth.project.id, &new).await?;
    Ok(json(StatusCode::CREATED, &channel_json(&created)))
}

/// `PATCH /contact-channels/{user_id}/{contact_channel_id}`.
///
/// # Errors
/// See spec §2.14.
pub async fn update(
    State(state): State<crate::state::AppState>,
    Path((user_id, channel_id)): Path<(String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body.clone());
    let value = match f.nullable_email("value") {
        crate::validate::Patch::Set(v) => Some(normalize_email(&v)),
        _ => None,
    };
    let kind = f.opt_one_of("type", &["email"]);
    let used_for_auth = f.opt_bool("used_for_auth");
    let is_primary = f.opt_bool("is_primary");
    let is_verified = if auth.access == AccessType::Client {
        None
    } else {
        f.opt_bool("is_verified")
    };
    f.finish(&req.line)?;
    let (user_id, channel_id) = channel_path(auth, &req.line, &user_id, &channel_id)?;
    check_own(auth, Some(user_id), "update")?;
    let patch = ContactChannelPatch {
        value,
        kind,
        used_for_auth,
        is_primary,
        is_verified,
    };
    let updated =
        contact_channels::update(&state.pool, &auth.project.id, user_id, channel_id, patch).await?;
    Ok(json(StatusCode::OK, &channel_json(&updated)))
}

/// `DELETE /contact-channels/{user_id}/{contact_channel_id}`.
///
/// # Errors
/// See spec §2.14.
pub async fn delete(
    State(state): State<crate::state::AppState>,
    Path((user_id, channel_id)): Path<(String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let (user_id, channel_id) = channel_path(auth, &req.line, &user_id, &channel_id)?;
    check_own(auth, Some(user_id), "delete")?;
    if !channels::delete(&state.pool, &auth.project.id, user_id, channel_id).await? {
        return Err(ApiError::bad_request("Contact channel not found"));
    }
    Ok(success())
}
