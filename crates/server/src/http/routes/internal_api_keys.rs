//! `/internal/api-keys`: a project's key sets (admin only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::ADMIN;
use crate::db::keys::{self, KeyKind, KeySet, NewKeySet};
use crate::error::ApiError;
use crate::http::{Req, json, list_response};
use crate::state::AppState;
use crate::validate::Fields;

fn last_four(key: &Option<String>) -> Value {
    match key {
        Some(k) => {
            json!({ "last_four": k.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect::<String>() })
        }
        None => Value::Null,
    }
}

fn summary_json(set: &KeySet) -> Value {
    let mut v = json!({
        "id": set.id,
        "description": set.description,
        "created_at_millis": set.created_at.timestamp_millis(),
        "expires_at_millis": set.expires_at.timestamp_millis(),
    });
    if let Some(at) = set.manually_revoked_at {
        v["manually_revoked_at_millis"] = json!(at.timestamp_millis());
    }
    for (name, key) in [
        ("publishable_client_key", &set.publishable_client_key),
        ("secret_server_key", &set.secret_server_key),
        ("super_secret_admin_key", &set.super_secret_admin_key),
    ] {
        if key.is_some() {
            v[name] = last_four(key);
        }
    }
    v
}

/// `POST /internal/api-keys`: a new key set; the only response that shows the full keys.
///
/// # Errors
/// Access and schema errors.
pub async fn create(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    let mut f = Fields::body(req.body);
    let description = f.req_string("description", None);
    let expires = f.opt_i64("expires_at_millis");
    if !f.map_has("expires_at_millis") {
        f.error("expires_at_millis", "must be defined");
    }
    let has_pck = f.opt_bool("has_publishable_client_key").unwrap_or(false);
    let has_ssk = f.opt_bool("has_secret_server_key").unwrap_or(false);
    let has_sak = f.opt_bool("has_super_secret_admin_key").unwrap_or(false);
    f.finish(&req.line)?;
    let expires_at = expires
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .ok_or_else(|| ApiError::bad_request("expires_at_millis is not a valid time."))?;
    let gen_key = |wanted: bool, kind: KeyKind| wanted.then(|| kind.generate()).transpose();
    let new = NewKeySet {
        description,
        expires_at,
        publishable_client_key: gen_key(has_pck, KeyKind::PublishableClient)?,
        secret_server_key: gen_key(has_ssk, KeyKind::SecretServer)?,
        super_secret_admin_key: gen_key(has_sak, KeyKind::SuperSecretAdmin)?,
    };
    let set = keys::insert(&state.pool, &auth.project.id, &new).await?;
    let mut v = json!({
        "id": set.id,
        "description": set.description,
        "created_at_millis": set.created_at.timestamp_millis(),
        "expires_at_millis": set.expires_at.timestamp_millis(),
    });
    for (name, key) in [
        ("publishable_client_key", &set.publishable_client_key),
        ("secret_server_key", &set.secret_server_key),
        ("super_secret_admin_key", &set.super_secret_admin_key),
    ] {
        if let Some(k) = key {
            v[name] = json!(k);
        }
    }
    Ok(json(StatusCode::OK, &v))
}

/// `GET /internal/api-keys`.
///
/// # Errors
/// Access errors.
pub async fn list(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    Fields::query(&req.query).finish(&req.line)?;
    let items: Vec<Value> = keys::list(&state.pool, &auth.project.id)
        .await?
        .iter()
        .map(summary_json)
        .collect();
    Ok(list_response(items))
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("API key not found."))
}

/// `GET /internal/api-keys/{id}`.
///
/// # Errors
/// Access errors; 404.
pub async fn read(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    Fields::query(&req.query).finish(&req.line)?;
    let set = keys::find(&state.pool, &auth.project.id, parse_id(&raw_id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("API key not found."))?;
    Ok(json(StatusCode::OK, &summary_json(&set)))
}

/// `PATCH /internal/api-keys/{id}`: revoke a key set.
///
/// # Errors
/// Access errors; 404.
pub async fn update(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    let mut f = Fields::body(req.body);
    let revoked = f.opt_bool("revoked");
    if revoked == Some(false) {
        f.error("revoked", "must be one of the following values: true");
    }
    f.finish(&req.line)?;
    let id = parse_id(&raw_id)?;
    let set = if revoked == Some(true) {
        keys::revoke(&state.pool, &auth.project.id, id).await?
    } else {
        keys::find(&state.pool, &auth.project.id, id).await?
    }
    .ok_or_else(|| ApiError::not_found("API key not found."))?;
    state.clear_auth_cache();
    Ok(json(StatusCode::OK, &summary_json(&set)))
}
