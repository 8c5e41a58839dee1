//! `/internal/config`: the rendered config, each level's override (read,
//! merge, replace, reset keys) and the branch override's source.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::auth::{ADMIN, AccessType, SERVER_OR_ADMIN};
use crate::config::Level;
use crate::db::projects::{self, Project};
use crate::error::ApiError;
use crate::http::{Req, json, success};
use crate::known_errors as ke;
use crate::project_config::{self, Change, EMULATOR_ENVIRONMENT_BLOCKED};
use crate::state::AppState;
use crate::validate::Fields;

/// The levels a route takes, as its schema error lists them.
const ALL_LEVELS: &str = "project, branch, environment";
const RESETTABLE_LEVELS: &str = "branch, environment";

fn level_of(f: &mut Fields, raw: &str, resettable: bool) -> Option<Level> {
    let level = Level::parse(raw).filter(|l| !resettable || *l != Level::Project);
    if level.is_none() {
        let allowed = if resettable {
            RESETTABLE_LEVELS
        } else {
            ALL_LEVELS
        };
        f.error_line(&format!(
            "params.level must be one of the following values: {allowed}"
        ));
    }
    level
}

/// Server keys may only touch the branch override.
fn check_server_level(access: AccessType, level: Level) -> Result<(), ApiError> {
    if access == AccessType::Server && level != Level::Branch {
        return Err(ApiError::forbidden(
            "Server access can only manage branch config overrides.",
        ));
    }
    Ok(())
}

/// The project as stored now (not a cached copy).
async fn fresh(state: &AppState, id: &str) -> Result<Project, ApiError> {
    projects::find(&state.pool, id)
        .await?
        .ok_or_else(|| ke::current_project_not_found(id).into())
}

fn config_string(map: &Map<String, Value>) -> Value {
    json!({ "config_string": Value::Object(map.clone()).to_string() })
}

/// `GET /internal/config`: the rendered config (admin).
///
/// # Errors
/// Access errors.
pub async fn rendered(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    Fields::query(&req.query).finish(&req.line)?;
    let project = fresh(&state, &auth.project.id).await?;
    Ok(json(StatusCode::OK, &config_string(&project.rendered)))
}

/// `GET /internal/config/override/{level}`: a level's stored override.
///
/// # Errors
/// Access errors, an unknown level, a server key on another level.
pub async fn read_override(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let mut f = Fields::query(&req.query);
    let level = level_of(&mut f, &raw, false);
    f.finish(&req.line)?;
    let Some(level) = level else {
        return Err(ApiError::bad_request("unknown level"));
    };
    check_server_level(auth.access, level)?;
    let project = fresh(&state, &auth.project.id).await?;
    Ok(json(
        StatusCode::OK,
        &config_string(project.overrides.get(level)),
    ))
}

/// What a write route was asked.
struct Write {
    level: Level,
    project_id: String,
}

async fn prepare_write(
    state: &AppState,
    access: AccessType,
    project_id: &str,
    level: Level,
) -> Result<Write, ApiError> {
    check_server_level(access, level)?;
    if level == Level::Environment
        && project_config::environment_locked(
            &state.pool,
            state.settings.local_emulator,
            project_id,
        )
        .await?
    {
        return Err(ApiError::bad_request(EMULATOR_ENVIRONMENT_BLOCKED));
    }
    Ok(Write {
        level,
        project_id: project_id.to_owned(),
    })
}

async fn commit(state: &AppState, write: &Write, change: Change) -> Result<Response, ApiError> {
    project_config::apply(&state.pool, &write.project_id, write.level, change).await?;
    state.clear_auth_cache();
    Ok(success())
}

/// `PATCH /internal/config/override/{level}`: merges keys into a level's
/// override.
///
/// # Errors
/// Access and schema errors, `Invalid config JSON`, an override the level's
/// schema refuses.
pub async fn merge_override(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let mut f = Fields::body(req.body);
    let level = level_of(&mut f, &raw, false);
    let text = f.req_string("config_override_string", None);
    f.finish(&req.line)?;
    let Some(level) = level else {
        return Err(ApiError::bad_request("unknown level"));
    };
    let write = prepare_write(&state, auth.access, &auth.project.id, level).await?;
    let patch = project_config::parse_override(level, &text)?;
    commit(&state, &write, Change::Merge(patch)).await
}

/// `PUT /internal/config/override/{level}`: replaces a level's override; the
/// branch level also needs the override's `source`.
///
/// # Errors
/// As [`merge_override`], plus a branch override without a source.
pub async fn replace_override(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let mut f = Fields::body(req.body);
    let level = level_of(&mut f, &raw, false);
    let text = f.req_string("config_string", None);
    let source = read_source(&mut f);
    f.finish(&req.line)?;
    let Some(level) = level else {
        return Err(ApiError::bad_request("unknown level"));
    };
    let write = prepare_write(&state, auth.access, &auth.project.id, level).await?;
    let config = project_config::parse_override(level, &text)?;
    if level == Level::Branch && source.is_none() {
        return Err(ApiError::bad_request(
            "source is required for branch level config",
        ));
    }
    commit(&state, &write, Change::Replace(config, source)).await
}

/// `POST /internal/config/override/{level}/reset-keys` (admin): removes keys
/// and everything below them.
///
/// # Errors
/// Access and schema errors.
pub async fn reset_keys(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    let mut f = Fields::body(req.body);
    let level = level_of(&mut f, &raw, true);
    let keys = match f.json("keys") {
        crate::validate::Patch::Set(Value::Array(items)) => {
            let strings: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect();
            if strings.is_none() {
                f.error("keys", "must be an array of strings");
            }
            strings.unwrap_or_default()
        }
        crate::validate::Patch::Set(_) => {
            f.error("keys", "must be an array of strings");
            Vec::new()
        }
        _ => {
            f.error("keys", "must be defined");
            Vec::new()
        }
    };
    f.finish(&req.line)?;
    let Some(level) = level else {
        return Err(ApiError::bad_request("unknown level"));
    };
    let write = prepare_write(&state, auth.access, &auth.project.id, level).await?;
    commit(&state, &write, Change::Reset(keys)).await
}

/// `GET /internal/config/source` (admin): where the branch override came from.
///
/// # Errors
/// Access errors.
pub async fn read_source_route(
    State(state): State<AppState>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    Fields::query(&req.query).finish(&req.line)?;
    let project = fresh(&state, &auth.project.id).await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "source": project.branch_source }),
    ))
}

/// `DELETE /internal/config/source` (admin): marks the branch override as
/// no longer tied to where it was pushed from.
///
/// # Errors
/// Access errors.
pub async fn unlink_source(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    Fields::body(req.body).finish(&req.line)?;
    project_config::set_source(
        &state.pool,
        &auth.project.id,
        &json!({ "type": "unlinked" }),
    )
    .await?;
    state.clear_auth_cache();
    Ok(success())
}

/// The `source` of a branch push: pushed from GitHub (with its repository,
/// branch, commit and file), from somewhere unknown, or unlinked.
fn read_source(f: &mut Fields) -> Option<Value> {
    let source = match f.json("source") {
        crate::validate::Patch::Set(v) => v,
        _ => return None,
    };
    const GITHUB_FIELDS: [&str; 5] = ["owner", "repo", "branch", "commit_hash", "config_file_path"];
    let valid = match &source {
        Value::Object(map) => match map.get("type").and_then(Value::as_str) {
            Some("pushed-from-github") => {
                map.len() == GITHUB_FIELDS.len() + 1
                    && GITHUB_FIELDS
                        .iter()
                        .all(|k| map.get(*k).is_some_and(Value::is_string))
            }
            Some("pushed-from-unknown" | "unlinked") => map.len() == 1,
            _ => false,
        },
        _ => false,
    };
    if valid {
        Some(source)
    } else {
        f.error_line(
            "body.source is not matched by any of the provided schemas: it must be { type: \"pushed-from-github\", owner, repo, branch, commit_hash, config_file_path }, { type: \"pushed-from-unknown\" } or { type: \"unlinked\" }",
        );
        None
    }
}
