//! `/user-api-keys` and `/team-api-keys` (spec §2.16): create, list, read,
//! update (revoke) and check the keys an app issues to its users and teams.
//! The rules are in [`crate::api_keys`]; this file validates input and
//! renders keys.
//!
//! A key object omits `expires_at_millis` and `manually_revoked_at_millis`
//! when they are unset (Stack Auth never sends `null` there). Its `value` is
//! the full key only in the answer to a create, and `{ "last_four": … }`
//! everywhere else.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api_keys::{self, ApiKey, KeyPatch, KeyType, NewKey, Owner, RequestedOwner};
use crate::auth::{ANY, Auth, SERVER_OR_ADMIN};
use crate::error::ApiError;
use crate::http::routes::{user_id_or_me, uuid_param};
use crate::http::{Req, json, list_response};
use crate::state::AppState;
use crate::validate::{Fields, Patch, RequestLine};

/// The API object of a key; `value` is the full key or `{ last_four }`.
fn key_json(key: &ApiKey, value: Value) -> Value {
    let mut v = json!({
        "id": key.id,
        "description": key.description,
        "is_public": key.is_public,
        "created_at_millis": key.created_at.timestamp_millis(),
    });
    if let Some(at) = key.expires_at {
        v["expires_at_millis"] = json!(at.timestamp_millis());
    }
    if let Some(at) = key.manually_revoked_at {
        v["manually_revoked_at_millis"] = json!(at.timestamp_millis());
    }
    v["value"] = value;
    match key.owner {
        Owner::User(id) => {
            v["type"] = json!("user");
            v["user_id"] = json!(id);
        }
        Owner::Team(id) => {
            v["type"] = json!("team");
            v["team_id"] = json!(id);
        }
    }
    v
}

/// A stored key as lists, reads and checks show it.
fn shown(key: &ApiKey) -> Value {
    key_json(key, json!({ "last_four": key.last_four }))
}

fn owner_field(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::User => "user_id",
        KeyType::Team => "team_id",
    }
}

/// The kind of key a route tree serves, as a type: one generic handler
/// serves `/user-api-keys` and `/team-api-keys`, the router naming the kind
/// (`create::<UserKeys>`).
pub trait Kind {
    /// The kind of key.
    const KEY_TYPE: KeyType;
}

/// `/user-api-keys`.
pub struct UserKeys;

impl Kind for UserKeys {
    const KEY_TYPE: KeyType = KeyType::User;
}

/// `/team-api-keys`.
pub struct TeamKeys;

impl Kind for TeamKeys {
    const KEY_TYPE: KeyType = KeyType::Team;
}

/// `POST /{user,team}-api-keys`: a new key, `200` with the full key as
/// `value`, the only time it is shown.
///
/// # Errors
/// Access and schema errors, and those of [`api_keys::create`].
pub async fn create<K: Kind>(
    State(state): State<AppState>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    let owner_raw = f.req_string(owner_field(K::KEY_TYPE), None);
    let description = f.req_string("description", None);
    let expires_at_millis = f.opt_i64("expires_at_millis");
    if !f.map_has("expires_at_millis") {
        f.error("expires_at_millis", "must be defined");
    }
    let is_public = f.opt_bool("is_public").unwrap_or(false);
    f.finish(&req.line)?;
    let owner = match K::KEY_TYPE {
        KeyType::User => RequestedOwner::User(user_id_or_me(&owner_raw, "body", auth, &req.line)?),
        KeyType::Team => RequestedOwner::Team(owner_raw),
    };
    let new = NewKey {
        owner,
        description,
        expires_at_millis,
        is_public,
    };
    let (key, secret) = api_keys::create(&state.pool, auth, K::KEY_TYPE, new).await?;
    let body = key_json(&key, json!(secret.expose()));
    Ok(json(StatusCode::OK, &body))
}

/// `GET /user-api-keys?user_id=`, `GET /team-api-keys?team_id=`: the keys of
/// one user or team, newest first.
///
/// # Errors
/// Access and schema errors, and those of [`api_keys::list`].
pub async fn list<K: Kind>(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::query(&req.query);
    let owner = owner_query(&mut f, K::KEY_TYPE);
    f.finish(&req.line)?;
    let owner = resolve_owner(owner, auth, &req.line)?;
    let keys = api_keys::list(&state.pool, auth, K::KEY_TYPE, owner).await?;
    let items: Vec<Value> = keys.iter().map(shown).collect();
    Ok(list_response(items))
}

/// The owner a query names, before `me` is resolved.
enum QueryOwner {
    /// `user_id` as sent.
    User(String),
    /// A valid `team_id`.
    Team(Uuid),
}

/// Reads the query's `user_id` (optional, `me` or a UUID) or `team_id` (a
/// UUID that every team route requires, as Stack Auth's query schema does).
fn owner_query(f: &mut Fields, key_type: KeyType) -> Option<QueryOwner> {
    match key_type {
        KeyType::User => f.opt_string("user_id", None).map(QueryOwner::User),
        KeyType::Team => {
            if !f.map_has("team_id") {
                f.error("team_id", "must be defined");
            }
            f.opt_uuid("team_id").map(QueryOwner::Team)
        }
    }
}

fn resolve_owner(
    owner: Option<QueryOwner>,
    auth: &Auth,
    line: &RequestLine,
) -> Result<Option<Owner>, ApiError> {
    Ok(match owner {
        None => None,
        Some(QueryOwner::User(raw)) => Some(Owner::User(user_id_or_me(&raw, "query", auth, line)?)),
        Some(QueryOwner::Team(id)) => Some(Owner::Team(id)),
    })
}

/// Reads `{api_key_id}` (a UUID) and the query of a read or update, whose
/// owner is validated and then ignored: the key's stored owner counts.
fn key_path(f: &mut Fields, raw_id: &str, key_type: KeyType) -> (Uuid, Option<QueryOwner>) {
    let id = uuid_param(f, "api_key_id", raw_id);
    (id, owner_query(f, key_type))
}

/// `GET /user-api-keys/{api_key_id}`, `GET /team-api-keys/{api_key_id}?team_id=`:
/// one key.
///
/// # Errors
/// Access and schema errors, and those of [`api_keys::read`].
pub async fn read<K: Kind>(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::query(&req.query);
    let (id, owner) = key_path(&mut f, &raw_id, K::KEY_TYPE);
    f.finish(&req.line)?;
    resolve_owner(owner, auth, &req.line)?;
    let key = api_keys::read(&state.pool, auth, K::KEY_TYPE, id).await?;
    Ok(json(StatusCode::OK, &shown(&key)))
}

/// `PATCH /user-api-keys/{api_key_id}`, `PATCH /team-api-keys/{api_key_id}?team_id=`:
/// changes a key's description or revokes it (`{ "revoked": true }`; there
/// is no way back, and revoking again keeps the first time).
///
/// # Errors
/// Access and schema errors, and those of [`api_keys::update`].
pub async fn update<K: Kind>(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut q = Fields::query(&req.query);
    let (id, owner) = key_path(&mut q, &raw_id, K::KEY_TYPE);
    let mut f = Fields::body(req.body);
    let description = match f.nullable_string("description", None) {
        Patch::Set(d) => Some(d),
        Patch::Null => {
            f.error("description", "cannot be null");
            None
        }
        Patch::Absent => None,
    };
    let revoke = f.opt_bool("revoked");
    if revoke == Some(false) {
        f.error("revoked", "must be one of the following values: true");
    }
    f.finish_into(&mut q);
    q.finish(&req.line)?;
    resolve_owner(owner, auth, &req.line)?;
    let patch = KeyPatch {
        description,
        revoke: revoke == Some(true),
    };
    let key = api_keys::update(&state.pool, auth, K::KEY_TYPE, id, patch).await?;
    Ok(json(StatusCode::OK, &shown(&key)))
}

/// `POST /{user,team}-api-keys/check`: whether `{ api_key }` is a valid key
/// of this kind (server and admin only): `200` with the key.
///
/// # Errors
/// Access and schema errors, and those of [`api_keys::check`].
pub async fn check<K: Kind>(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let mut f = Fields::body(req.body);
    let presented = f.req_string("api_key", None);
    f.finish(&req.line)?;
    let key = api_keys::check(&state.pool, &auth.project, K::KEY_TYPE, &presented).await?;
    Ok(json(StatusCode::OK, &shown(&key)))
}
