//! `/contact-channels`: a user's email addresses (list, create, read, update, delete).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::normalize_email;
use crate::auth::{ANY, AccessType, Auth};
use crate::db::contact_channels::{self as channels, ChannelRecord, ChannelUpdate, NewChannel};
use crate::db::users;
use crate::error::ApiError;
use crate::http::{Req, json, success};
use crate::known_errors as ke;
use crate::random;
use crate::routes::user_id_or_me;
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
        Err(ApiError::status(
            StatusCode::FORBIDDEN,
            format!("Client can only {action} contact channels for their own user."),
        ))
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
    Ok(json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": false }),
    ))
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
        .ok_or_else(|| ApiError::status(StatusCode::NOT_FOUND, "Contact channel not found."))?;
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
    let kind = kind.unwrap_or_else(|| "email".to_owned());
    let user_id = user_id_or_me(&user_raw, "body", auth, &req.line)?;
    check_own(auth, Some(user_id), "create")?;
    let project = &auth.project;
    let value = normalize_email(&value);
    let mut tx = state.pool.begin().await?;
    if !users::exists(&mut *tx, &project.id, user_id).await? {
        return Err(ke::user_id_does_not_exist(&user_id.to_string()).into());
    }
    if channels::find_by_value(&mut *tx, &project.id, user_id, &value)
        .await?
        .is_some()
    {
        return Err(ApiError::bad_request("Contact channel already exists"));
    }
    if used_for_auth && channels::auth_value_taken(&mut *tx, &project.id, &value, None).await? {
        return Err(
            ke::contact_channel_already_used_for_auth_by_someone_else(&kind, Some(&value)).into(),
        );
    }
    let id = random::uuid()?;
    let new = NewChannel {
        id,
        user_id,
        value: &value,
        is_verified,
        used_for_auth,
    };
    channels::insert(&mut *tx, &project.id, &new)
        .await
        .map_err(|e| taken(e, &kind, Some(&value)))?;
    if is_primary {
        channels::demote_primary(&mut *tx, &project.id, user_id).await?;
        sqlx::query(
            "UPDATE contact_channels SET is_primary = TRUE WHERE project_id = $1 AND id = $2",
        )
        .bind(&project.id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    let created = channels::find(&mut *tx, &project.id, user_id, id)
        .await?
        .ok_or_else(|| ApiError::internal("a contact channel vanished while it was created"))?;
    tx.commit().await?;
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
    let project = &auth.project;
    let mut tx = state.pool.begin().await?;
    let Some(current) = channels::find(&mut *tx, &project.id, user_id, channel_id).await? else {
        return Err(ApiError::bad_request("Contact channel not found"));
    };
    let new_value = value.clone().unwrap_or_else(|| current.value.clone());
    // Sign-in with the result is checked whether it is being switched on or keeps
    // applying to a new value (the table's uniqueness rule would refuse it anyway).
    let auth_after = used_for_auth.unwrap_or(current.used_for_auth.unwrap_or(false));
    if auth_after
        && (used_for_auth == Some(true) || new_value != current.value)
        && channels::auth_value_taken(&mut *tx, &project.id, &new_value, Some(current.id)).await?
    {
        let kind = kind.unwrap_or_else(|| current.kind.clone());
        return Err(ke::contact_channel_already_used_for_auth_by_someone_else(&kind, None).into());
    }
    if value.is_some()
        && new_value != current.value
        && channels::find_by_value(&mut *tx, &project.id, user_id, &new_value)
            .await?
            .is_some()
    {
        return Err(ApiError::bad_request("Contact channel already exists"));
    }
    if is_primary == Some(true) {
        channels::demote_primary(&mut *tx, &project.id, user_id).await?;
    }
    let update = ChannelUpdate {
        value: &new_value,
        // A new address is unverified unless the caller says otherwise.
        is_verified: is_verified.unwrap_or(if value.is_some() {
            false
        } else {
            current.is_verified
        }),
        is_primary: is_primary.unwrap_or(current.is_primary.unwrap_or(false)),
        used_for_auth: auth_after,
    };
    let kind = kind.unwrap_or_else(|| current.kind.clone());
    channels::update(&mut *tx, &project.id, channel_id, &update)
        .await
        .map_err(|e| taken(e, &kind, None))?;
    let updated = channels::find(&mut *tx, &project.id, user_id, channel_id)
        .await?
        .ok_or_else(|| ApiError::internal("a contact channel vanished while it was updated"))?;
    tx.commit().await?;
    Ok(json(StatusCode::OK, &channel_json(&updated)))
}

/// The answer to a write that another request beat to the same address: the
/// checks before it passed, but the table's uniqueness rules refused it. The
/// same errors as those checks give; any other failure stays as it is.
fn taken(e: sqlx::Error, kind: &str, value: Option<&str>) -> ApiError {
    let constraint = match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            db.constraint().unwrap_or_default().to_owned()
        }
        _ => return e.into(),
    };
    if constraint.ends_with("used_for_auth_key") {
        ke::contact_channel_already_used_for_auth_by_someone_else(kind, value).into()
    } else if constraint.ends_with("user_id_type_value_key") {
        ApiError::bad_request("Contact channel already exists")
    } else {
        e.into()
    }
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
