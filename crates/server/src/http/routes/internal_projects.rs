//! `/internal/projects`: projects owned by the teams of an internal-project user,
//! and `/internal/projects/current` for the project's admin.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::auth::{ADMIN, ANY, Auth};
use crate::config::schema::OAUTH_PROVIDERS;
use crate::config::{Overrides, format, legacy};
use crate::db::projects::{self, INTERNAL_PROJECT_ID, NewProject};
use crate::db::users;
use crate::error::ApiError;
use crate::http::routes::projects::admin_json;
use crate::http::{Req, json, list_response, success};
use crate::known_errors as ke;
use crate::project_config;
use crate::random;
use crate::state::AppState;
use crate::validate::{Fields, Patch};

fn require_internal_user(auth: &Auth) -> Result<Uuid, ApiError> {
    if auth.project.id != INTERNAL_PROJECT_ID {
        return Err(ke::expected_internal_project().into());
    }
    auth.user
        .as_ref()
        .map(|u| u.id)
        .ok_or_else(|| ke::user_authentication_required().into())
}

/// `GET /internal/projects`: the projects the signed-in internal user manages.
///
/// # Errors
/// `EXPECTED_INTERNAL_PROJECT`, `USER_AUTHENTICATION_REQUIRED`.
pub async fn list(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    Fields::query(&req.query).finish(&req.line)?;
    let user_id = require_internal_user(auth)?;
    let teams = users::team_ids(&state.pool, INTERNAL_PROJECT_ID, user_id).await?;
    let items: Vec<_> = projects::list_owned_by(&state.pool, &teams)
        .await?
        .iter()
        .map(admin_json)
        .collect();
    Ok(list_response(items))
}

/// `POST /internal/projects`: create a project owned by one of the user's teams.
///
/// # Errors
/// As [`list`], plus `TEAM_MEMBERSHIP_NOT_FOUND` for a team the user is not in.
pub async fn create(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    let display_name = f.req_nonempty_string("display_name", None);
    let owner_team_id = f.opt_uuid("owner_team_id");
    if !f.map_has("owner_team_id") {
        f.error("owner_team_id", "must be defined");
    }
    let description = f.opt_string("description", None);
    let is_production_mode = f.opt_bool("is_production_mode");
    let mut config = Map::new();
    config.insert("allow_localhost".into(), json!(true));
    config.extend(read_config(&mut f).unwrap_or_default());
    f.finish(&req.line)?;
    let user_id = require_internal_user(auth)?;
    let owner = owner_team_id.unwrap_or_default();
    let teams = users::team_ids(&state.pool, INTERNAL_PROJECT_ID, user_id).await?;
    if !teams.contains(&owner) {
        return Err(ke::team_membership_not_found(&owner.to_string(), &user_id.to_string()).into());
    }
    check_theme(&config, &Overrides::default().render())?;
    let environment =
        format::override_with(&legacy::new_project_defaults(), &legacy_override(&config)?);
    let project = projects::insert(
        &state.pool,
        &NewProject {
            id: random::uuid()?.to_string(),
            display_name,
            description: description.unwrap_or_default(),
            is_production_mode: is_production_mode.unwrap_or(false),
            owner_team_id: Some(owner),
            overrides: Overrides {
                environment,
                ..Overrides::default()
            },
        },
    )
    .await?;
    Ok(json(StatusCode::CREATED, &admin_json(&project)))
}

/// `GET /internal/projects/current` (admin).
///
/// # Errors
/// Access errors.
pub async fn read_current(req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    Fields::query(&req.query).finish(&req.line)?;
    Ok(json(StatusCode::OK, &admin_json(&auth.project)))
}

/// `PATCH /internal/projects/current` (admin).
///
/// # Errors
/// Access and schema errors.
pub async fn update_current(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    let mut f = Fields::body(req.body);
    let display_name = f.opt_string("display_name", None);
    let description = f.nullable_string("description", None);
    let is_production_mode = f.opt_bool("is_production_mode");
    let owner_team_id = f.opt_uuid("owner_team_id");
    let config = read_config(&mut f).unwrap_or_default();
    f.finish(&req.line)?;
    let id = auth.project.id.clone();
    let patch = legacy_override(&config)?;
    if !patch.is_empty()
        && project_config::environment_locked(&state.pool, state.settings.local_emulator, &id)
            .await?
    {
        return Err(ApiError::bad_request(
            project_config::EMULATOR_ENVIRONMENT_BLOCKED,
        ));
    }
    // The row as stored, locked until the change is written: a config
    // change made meanwhile (through this server or another) is kept.
    let mut tx = state.pool.begin().await?;
    let p = projects::find_for_update(&mut *tx, &id)
        .await?
        .ok_or_else(|| ke::project_not_found(&id))?;
    check_theme(&config, &p.rendered)?;
    let mut overrides = p.overrides.clone();
    overrides.environment = format::override_with(&overrides.environment, &patch);
    let updated = projects::update(
        &mut *tx,
        &NewProject {
            id: p.id.clone(),
            display_name: display_name.unwrap_or_else(|| p.display_name.clone()),
            description: match description {
                Patch::Set(d) => d,
                Patch::Null => String::new(),
                Patch::Absent => p.description.clone(),
            },
            is_production_mode: is_production_mode.unwrap_or(p.is_production_mode),
            owner_team_id: owner_team_id.or(p.owner_team_id),
            overrides,
        },
    )
    .await?
    .ok_or_else(|| ke::project_not_found(&p.id))?;
    tx.commit().await?;
    state.clear_auth_cache();
    Ok(json(StatusCode::OK, &admin_json(&updated)))
}

/// `DELETE /internal/projects/current` (admin). The internal project cannot be deleted.
///
/// # Errors
/// Access errors.
pub async fn delete_current(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    Fields::body(req.body).finish(&req.line)?;
    if auth.project.id == INTERNAL_PROJECT_ID {
        return Err(ApiError::bad_request(
            "The internal project cannot be deleted.",
        ));
    }
    projects::delete(&state.pool, &auth.project.id).await?;
    state.clear_auth_cache();
    Ok(success())
}

/// Reads and checks the legacy `config` object of a project body, as the
/// JSON fields a client sent (absent when the body has none).
fn read_config(f: &mut Fields) -> Option<Map<String, Value>> {
    let mut c = f.object("config")?;
    let mut out = Map::new();
    for key in [
        "sign_up_enabled",
        "credential_enabled",
        "magic_link_enabled",
        "passkey_enabled",
        "client_team_creation_enabled",
        "client_user_deletion_enabled",
        "allow_user_api_keys",
        "allow_team_api_keys",
        "allow_localhost",
        "create_team_on_sign_up",
        "require_email_verification",
    ] {
        if let Some(v) = c.opt_bool(key) {
            out.insert(key.into(), json!(v));
        }
    }
    if let Some(strategy) = c.opt_one_of(
        "oauth_account_merge_strategy",
        &["link_method", "raise_error", "allow_duplicates"],
    ) {
        out.insert("oauth_account_merge_strategy".into(), json!(strategy));
    }
    if let Some(items) = c.object_items("oauth_providers") {
        let mut list = Vec::new();
        for mut p in items {
            let id = p.opt_one_of("id", &OAUTH_PROVIDERS);
            if !p.map_has("id") {
                p.error("id", "must be defined");
            }
            let kind = p.opt_one_of("type", &["shared", "standard"]);
            if !p.map_has("type") {
                p.error("type", "must be defined");
            }
            let mut entry = Map::new();
            entry.insert("id".into(), json!(id));
            entry.insert("type".into(), json!(kind));
            for key in ["client_id", "client_secret"] {
                let value = if kind.as_deref() == Some("standard") {
                    Some(p.req_nonempty_string(key, None))
                } else {
                    p.opt_string(key, None)
                };
                if let Some(v) = value {
                    entry.insert(key.into(), json!(v));
                }
            }
            for key in ["facebook_config_id", "microsoft_tenant_id"] {
                if let Some(v) = p.opt_string(key, None) {
                    entry.insert(key.into(), json!(v));
                }
            }
            if let Patch::Set(v) = p.json("apple_bundle_ids") {
                if v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                    entry.insert("apple_bundle_ids".into(), v);
                } else {
                    p.error("apple_bundle_ids", "must be an array of strings");
                }
            }
            p.finish_into(&mut c);
            list.push(Value::Object(entry));
        }
        out.insert("oauth_providers".into(), Value::Array(list));
    }
    if let Some(items) = c.object_items("domains") {
        let mut list = Vec::new();
        for mut d in items {
            let domain = d.req_string("domain", None);
            if d.map_has("domain")
                && !domain.starts_with("http://")
                && !domain.starts_with("https://")
            {
                d.error_line("URL must start with http:// or https://");
            } else if d.map_has("domain") && url::Url::parse(&domain).is_err() {
                d.error("domain", "is not a valid URL");
            }
            let handler = d.req_string("handler_path", None);
            if d.map_has("handler_path") && !handler.starts_with('/') {
                d.error_line("Handler path must start with /");
            }
            d.finish_into(&mut c);
            list.push(json!({ "domain": domain, "handler_path": handler }));
        }
        out.insert("domains".into(), Value::Array(list));
    }
    if let Some(mut mail) = c.object("email_config") {
        let kind = mail.opt_one_of("type", &["shared", "standard"]);
        if !mail.map_has("type") {
            mail.error("type", "must be defined");
        }
        let mut entry = Map::new();
        entry.insert("type".into(), json!(kind));
        if kind.as_deref() == Some("standard") {
            let host = mail.req_nonempty_string("host", None);
            let port = mail.opt_i64("port");
            if !mail.map_has("port") {
                mail.error("port", "must be defined");
            } else if port.is_some_and(|p| !(0..=65535).contains(&p)) {
                mail.error("port", "must be between 0 and 65535");
            }
            let username = mail.req_nonempty_string("username", None);
            let password = mail.req_nonempty_string("password", Some(70));
            let sender_name = mail.req_nonempty_string("sender_name", None);
            let sender_email = mail.req_nonempty_string("sender_email", None);
            if !sender_email.is_empty() && !crate::validate::is_plausible_email(&sender_email) {
                mail.error("sender_email", "must be a valid email");
            }
            entry.insert("host".into(), json!(host));
            entry.insert("port".into(), json!(port));
            entry.insert("username".into(), json!(username));
            entry.insert("password".into(), json!(password));
            entry.insert("sender_name".into(), json!(sender_name));
            entry.insert("sender_email".into(), json!(sender_email));
        }
        mail.finish_into(&mut c);
        out.insert("email_config".into(), Value::Object(entry));
    }
    if let Some(theme) = c.opt_string("email_theme", None) {
        out.insert("email_theme".into(), json!(theme));
    }
    for key in [
        "team_creator_default_permissions",
        "team_member_default_permissions",
        "user_default_permissions",
    ] {
        if let Some(items) = c.object_items(key) {
            let mut list = Vec::new();
            for mut p in items {
                let id = p.req_string("id", None);
                p.finish_into(&mut c);
                list.push(json!({ "id": id }));
            }
            out.insert(key.into(), Value::Array(list));
        }
    }
    c.finish_into(f);
    Some(out)
}

/// The environment keys a legacy `config` object stands for.
fn legacy_override(config: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    Ok(legacy::to_override(config, || {
        random::uuid().map(|u| u.to_string())
    })?)
}

/// Refuses a theme the project does not have.
fn check_theme(config: &Map<String, Value>, rendered: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(theme) = config.get("email_theme").and_then(Value::as_str) {
        let known = rendered
            .get("emails")
            .and_then(|e| e.get("themes"))
            .and_then(Value::as_object)
            .is_some_and(|t| t.contains_key(theme));
        if !known {
            return Err(ApiError::bad_request("Invalid email theme"));
        }
    }
    Ok(())
}
