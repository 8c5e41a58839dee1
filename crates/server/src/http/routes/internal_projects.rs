//! `/internal/projects`: projects owned by the teams of an internal-project user,
//! and `/internal/projects/current` for the project's admin.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use uuid::Uuid;

use crate::auth::{ADMIN, ANY, Auth};
use crate::db::projects::{
    self, DomainConfig, INTERNAL_PROJECT_ID, NewProject, OAuthProviderConfig, PermissionRef,
    ProjectConfig,
};
use crate::db::users;
use crate::error::ApiError;
use crate::http::routes::projects::admin_json;
use crate::http::{Req, json, success};
use crate::known_errors as ke;
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
    Ok(json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": false }),
    ))
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
    let mut config = ProjectConfig::default();
    read_config(&mut f, &mut config);
    f.finish(&req.line)?;
    let user_id = require_internal_user(auth)?;
    let owner = owner_team_id.unwrap_or_default();
    let teams = users::team_ids(&state.pool, INTERNAL_PROJECT_ID, user_id).await?;
    if !teams.contains(&owner) {
        return Err(ke::team_membership_not_found(&owner.to_string(), &user_id.to_string()).into());
    }
    let project = projects::insert(
        &state.pool,
        &NewProject {
            id: random::uuid()?.to_string(),
            display_name,
            description: description.unwrap_or_default(),
            is_production_mode: is_production_mode.unwrap_or(false),
            owner_team_id: Some(owner),
            config,
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
    let p = &auth.project;
    let mut f = Fields::body(req.body);
    let display_name = f.opt_string("display_name", None);
    let description = f.nullable_string("description", None);
    let is_production_mode = f.opt_bool("is_production_mode");
    let owner_team_id = f.opt_uuid("owner_team_id");
    let mut config = p.config.clone();
    read_config(&mut f, &mut config);
    f.finish(&req.line)?;
    let updated = projects::update(
        &state.pool,
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
            config,
        },
    )
    .await?
    .ok_or_else(|| ke::project_not_found(&p.id))?;
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

/// Reads the legacy `config` object of a project body into `config`.
fn read_config(f: &mut Fields, config: &mut ProjectConfig) {
    let Some(mut c) = f.object("config") else {
        return;
    };
    let flag = |c: &mut Fields, key: &str, target: &mut bool| {
        if let Some(v) = c.opt_bool(key) {
            *target = v;
        }
    };
    flag(&mut c, "sign_up_enabled", &mut config.sign_up_enabled);
    flag(&mut c, "credential_enabled", &mut config.credential_enabled);
    flag(&mut c, "magic_link_enabled", &mut config.magic_link_enabled);
    flag(&mut c, "passkey_enabled", &mut config.passkey_enabled);
    flag(
        &mut c,
        "client_team_creation_enabled",
        &mut config.client_team_creation_enabled,
    );
    flag(
        &mut c,
        "client_user_deletion_enabled",
        &mut config.client_user_deletion_enabled,
    );
    flag(
        &mut c,
        "allow_user_api_keys",
        &mut config.allow_user_api_keys,
    );
    flag(
        &mut c,
        "allow_team_api_keys",
        &mut config.allow_team_api_keys,
    );
    flag(&mut c, "allow_localhost", &mut config.allow_localhost);
    flag(
        &mut c,
        "create_team_on_sign_up",
        &mut config.create_team_on_sign_up,
    );
    flag(
        &mut c,
        "require_email_verification",
        &mut config.require_email_verification,
    );
    if let Some(strategy) = c.opt_one_of(
        "oauth_account_merge_strategy",
        &["link_method", "raise_error", "allow_duplicates"],
    ) {
        config.oauth_account_merge_strategy = strategy;
    }
    if let Patch::Set(v) = c.json("oauth_providers") {
        match serde_json::from_value::<Vec<OAuthProviderConfig>>(v) {
            Ok(list) => config.oauth_providers = list,
            Err(_) => c.error(
                "oauth_providers",
                "must be a list of { id, type, client_id?, client_secret? }",
            ),
        }
    }
    if let Patch::Set(v) = c.json("domains") {
        match serde_json::from_value::<Vec<DomainConfig>>(v) {
            Ok(list) => config.domains = list,
            Err(_) => c.error("domains", "must be a list of { domain, handler_path }"),
        }
    }
    for (key, target) in [
        (
            "team_creator_default_permissions",
            &mut config.team_creator_default_permissions,
        ),
        (
            "team_member_default_permissions",
            &mut config.team_member_default_permissions,
        ),
        (
            "user_default_permissions",
            &mut config.user_default_permissions,
        ),
    ] {
        if let Patch::Set(v) = c.json(key) {
            match serde_json::from_value::<Vec<PermissionRef>>(v) {
                Ok(list) => *target = list,
                Err(_) => c.error(key, "must be a list of { id }"),
            }
        }
    }
    // Email settings are accepted; mail goes to the emulator's own sink.
    let _ = c.json("email_config");
    let _ = c.json("email_theme");
    c.finish_into(f);
}
