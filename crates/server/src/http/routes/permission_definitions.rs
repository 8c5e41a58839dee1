//! `/team-permission-definitions` and `/project-permission-definitions`
//! (admin): list, create, update and delete the permission definitions of
//! one scope. Also the request checks every permission route shares: the
//! permission id rules and a body that must be present.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::auth::{ADMIN, Auth};
use crate::error::ApiError;
use crate::http::{Req, json, list_response, success};
use crate::permissions::definitions::{self, DefinitionUpdate, NewDefinition, Target};
use crate::permissions::{self, Definition, Scope};
use crate::state::AppState;
use crate::validate::{Fields, Patch};

/// The API object of a definition; `description` is left out when there is
/// none (Stack Auth never sends `null` here).
pub fn definition_json(d: &Definition) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(d.id));
    if let Some(description) = &d.description {
        o.insert("description".into(), json!(description));
    }
    o.insert("contained_permission_ids".into(), json!(d.contained));
    Value::Object(o)
}

/// Records the problems of a permission id in a path, query or contained
/// list (system ids allowed), in Stack Auth's words, which name no field.
pub fn check_permission_id(f: &mut Fields, id: &str) {
    for problem in permissions::id_problems(id, true) {
        f.error_line(problem);
    }
}

/// Stack Auth's create and update bodies are required objects: no body at
/// all is `body must be defined` (and nothing inside is checked).
pub fn body_fields(body: Option<Value>) -> (Fields, bool) {
    match body {
        None => {
            let mut f = Fields::body(None);
            f.error_line("body must be defined");
            (f, false)
        }
        some => (Fields::body(some), true),
    }
}

/// `body.<key>`: an optional array of permission ids.
fn read_ids(f: &mut Fields, key: &str) -> Option<Vec<String>> {
    let type_error = |path: &str, expected: &str, got: &Value| {
        let shown = match got {
            Value::String(s) => format!("\"{s}\""),
            other => other.to_string(),
        };
        format!("{path} must be a `{expected}` type, but the final value was: `{shown}`.")
    };
    match f.json(key) {
        Patch::Absent => None,
        Patch::Set(Value::Array(items)) => {
            let mut ids = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(id) => {
                        check_permission_id(f, id);
                        ids.push(id.clone());
                    }
                    other => {
                        f.error_line(&type_error(&format!("body.{key}[{i}]"), "string", other))
                    }
                }
            }
            Some(ids)
        }
        Patch::Null => {
            f.error_line(&type_error(&format!("body.{key}"), "array", &Value::Null));
            None
        }
        Patch::Set(other) => {
            f.error_line(&type_error(&format!("body.{key}"), "array", &other));
            None
        }
    }
}

/// `body.description`: an optional string (`null` is not one).
fn read_description(f: &mut Fields) -> Option<String> {
    match f.nullable_string("description", None) {
        Patch::Set(d) => Some(d),
        Patch::Absent => None,
        Patch::Null => {
            f.error_line(
                "body.description must be a `string` type, but the final value was: `null`.",
            );
            None
        }
    }
}

/// `body.id`: a custom permission id (never a `$` system one).
fn read_custom_id(f: &mut Fields, required: bool) -> Option<String> {
    let id = if required {
        Some(f.req_string("id", None))
    } else {
        f.opt_string("id", None)
    };
    if let Some(id) = &id
        && f.map_has("id")
    {
        for problem in permissions::id_problems(id, false) {
            f.error_line(problem);
        }
    }
    id
}

fn target<'a>(state: &'a AppState, auth: &'a Auth) -> Target<'a> {
    Target {
        pool: &state.pool,
        project_id: &auth.project.id,
        emulator_mode: state.settings.local_emulator,
    }
}

/// The scope of definitions a route tree serves, as a type: one generic
/// handler serves `/team-permission-definitions` and
/// `/project-permission-definitions`, the router naming the scope
/// (`list::<TeamDefinitions>`).
pub trait Kind {
    /// The scope of the definitions.
    const SCOPE: Scope;
}

/// `/team-permission-definitions`.
pub struct TeamDefinitions;

impl Kind for TeamDefinitions {
    const SCOPE: Scope = Scope::Team;
}

/// `/project-permission-definitions`.
pub struct ProjectDefinitions;

impl Kind for ProjectDefinitions {
    const SCOPE: Scope = Scope::Project;
}

/// `GET /{team,project}-permission-definitions`: the project's definitions
/// of the scope, by id; the team list adds the six system permissions.
///
/// # Errors
/// Access errors.
pub async fn list<K: Kind>(req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    Fields::query(&req.query).finish(&req.line)?;
    let items: Vec<Value> = permissions::definitions(&auth.project.rendered, K::SCOPE)
        .iter()
        .map(definition_json)
        .collect();
    Ok(list_response(items))
}

/// `POST /{team,project}-permission-definitions`.
///
/// # Errors
/// Access and schema errors, `PERMISSION_ID_ALREADY_EXISTS`,
/// `CONTAINED_PERMISSION_NOT_FOUND`.
pub async fn create<K: Kind>(
    State(state): State<AppState>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    let (mut f, has_body) = body_fields(req.body);
    let new = has_body.then(|| NewDefinition {
        id: read_custom_id(&mut f, true).unwrap_or_default(),
        description: read_description(&mut f),
        contained: read_ids(&mut f, "contained_permission_ids"),
    });
    Fields::query(&req.query).finish_into(&mut f);
    f.finish(&req.line)?;
    let new = new.ok_or_else(|| ApiError::internal("a checked body went missing"))?;
    let created = definitions::create(target(&state, auth), K::SCOPE, new).await?;
    state.clear_auth_cache();
    Ok(json(StatusCode::CREATED, &definition_json(&created)))
}

/// `PATCH /{team,project}-permission-definitions/{permission_id}`.
///
/// # Errors
/// Access and schema errors, `PERMISSION_NOT_FOUND`,
/// `PERMISSION_ID_ALREADY_EXISTS`, `CONTAINED_PERMISSION_NOT_FOUND`.
pub async fn update<K: Kind>(
    State(state): State<AppState>,
    Path(permission_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    let (mut f, has_body) = body_fields(req.body);
    let change = has_body.then(|| DefinitionUpdate {
        id: read_custom_id(&mut f, false),
        description: read_description(&mut f),
        contained: read_ids(&mut f, "contained_permission_ids"),
    });
    check_permission_id(&mut f, &permission_id);
    Fields::query(&req.query).finish_into(&mut f);
    f.finish(&req.line)?;
    let change = change.ok_or_else(|| ApiError::internal("a checked body went missing"))?;
    let updated =
        definitions::update(target(&state, auth), K::SCOPE, &permission_id, change).await?;
    state.clear_auth_cache();
    Ok(json(StatusCode::OK, &definition_json(&updated)))
}

/// `DELETE /{team,project}-permission-definitions/{permission_id}`.
///
/// # Errors
/// Access and schema errors, `PERMISSION_NOT_FOUND`.
pub async fn delete<K: Kind>(
    State(state): State<AppState>,
    Path(permission_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ADMIN)?;
    let mut f = Fields::query(&req.query);
    check_permission_id(&mut f, &permission_id);
    f.finish(&req.line)?;
    definitions::delete(target(&state, auth), K::SCOPE, &permission_id).await?;
    state.clear_auth_cache();
    Ok(success())
}
