//! `/team-permissions`: list the team permissions members hold (client,
//! server, admin), grant and revoke them (server, admin). Also the query
//! checks that `/project-permissions` shares.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{ANY, AccessType, Auth, SERVER_OR_ADMIN};
use crate::error::ApiError;
use crate::http::routes::permission_definitions::{body_fields, check_permission_id};
use crate::http::routes::user_id_or_me;
use crate::http::{Req, json, success};
use crate::permissions::grants::{self, ListFilter, TeamGrant};
use crate::state::AppState;
use crate::validate::{Fields, RequestLine};

/// The API object of a held team permission.
pub fn grant_json(g: &TeamGrant) -> Value {
    json!({ "id": g.id, "user_id": g.user_id, "team_id": g.team_id })
}

/// A list query as read: `user_id` may still be `me`.
pub struct ListQuery {
    /// `team_id` (team lists only).
    pub team_id: Option<Uuid>,
    /// `user_id`, a UUID or `me`.
    pub user_id: Option<String>,
    /// `permission_id`.
    pub permission_id: Option<String>,
    /// `recursive=true`.
    pub recursive: bool,
}

/// Reads the query every operation of a permission route accepts
/// (`team_id` only when `with_team`); problems are recorded in `f`.
pub fn read_query(f: &mut Fields, with_team: bool) -> ListQuery {
    let team_id = if with_team {
        f.opt_uuid("team_id")
    } else {
        None
    };
    let user_id = f.opt_string("user_id", None);
    if let Some(raw) = &user_id
        && raw != "me"
        && Uuid::parse_str(raw).is_err()
    {
        f.error("user_id", "must be a valid UUID");
    }
    let permission_id = f.opt_string("permission_id", None);
    if let Some(id) = &permission_id {
        check_permission_id(f, id);
    }
    let recursive = f.opt_one_of("recursive", &["true", "false"]).as_deref() == Some("true");
    ListQuery {
        team_id,
        user_id,
        permission_id,
        recursive,
    }
}

/// The filter of a list, with Stack Auth's rule for clients: they may list
/// only their own user's permissions, and must say so.
///
/// # Errors
/// `CANNOT_GET_OWN_USER_WITHOUT_USER`; 403 for a client that names no user
/// or another one.
pub fn list_filter(auth: &Auth, line: &RequestLine, q: ListQuery) -> Result<ListFilter, ApiError> {
    let user_id = q
        .user_id
        .map(|raw| user_id_or_me(&raw, "query", auth, line))
        .transpose()?;
    if auth.access == AccessType::Client && user_id != Some(auth.me()?.id) {
        return Err(ApiError::forbidden(
            r#"Client can only list permissions for their own user. user_id must be either "me" or the ID of the current user"#,
        ));
    }
    Ok(ListFilter {
        user_id,
        permission_id: q.permission_id,
        recursive: q.recursive,
    })
}

/// The request checks of a grant or revoke: the query, the body (a grant
/// takes `{}`), and the path's team (when given), user and permission id.
/// Returns the path's user, `me` resolved.
///
/// # Errors
/// `SCHEMA_ERROR`, `CANNOT_GET_OWN_USER_WITHOUT_USER`.
pub fn read_change(
    req: &Req,
    auth: &Auth,
    team_id: Option<&str>,
    user_id: &str,
    permission_id: &str,
    is_grant: bool,
) -> Result<(Option<Uuid>, Uuid), ApiError> {
    let (mut f, _) = if is_grant {
        body_fields(req.body.clone())
    } else {
        (Fields::body(None), true)
    };
    let team = team_id.and_then(|raw| {
        let parsed = Uuid::parse_str(raw).ok();
        if parsed.is_none() {
            f.error_line("params.team_id must be a valid UUID");
        }
        parsed
    });
    if user_id != "me" && Uuid::parse_str(user_id).is_err() {
        f.error_line("params.user_id must be a valid UUID");
    }
    check_permission_id(&mut f, permission_id);
    let mut q = Fields::query(&req.query);
    read_query(&mut q, team_id.is_some());
    q.finish_into(&mut f);
    f.finish(&req.line)?;
    let user = user_id_or_me(user_id, "params", auth, &req.line)?;
    Ok((team, user))
}

/// `GET /team-permissions?team_id&user_id&permission_id&recursive`.
///
/// # Errors
/// Access and schema errors, `CANNOT_GET_OWN_USER_WITHOUT_USER`, 403 for a
/// client listing other users.
pub async fn list(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::query(&req.query);
    let q = read_query(&mut f, true);
    f.finish(&req.line)?;
    let team_id = q.team_id;
    let filter = list_filter(auth, &req.line, q)?;
    let items: Vec<Value> = grants::list_team(&state.pool, &auth.project, team_id, &filter)
        .await?
        .iter()
        .map(grant_json)
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": false }),
    ))
}

/// `POST /team-permissions/{team_id}/{user_id}/{permission_id}`: 201 with the
/// grant, also when it existed.
///
/// # Errors
/// Access and schema errors, `USER_NOT_FOUND`, `TEAM_MEMBERSHIP_NOT_FOUND`,
/// `PERMISSION_NOT_FOUND`, `WRONG_PERMISSION_SCOPE`.
pub async fn grant(
    State(state): State<AppState>,
    Path((team_id, user_id, permission_id)): Path<(String, String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let (team, user) = read_change(&req, auth, Some(&team_id), &user_id, &permission_id, true)?;
    let team = team.ok_or_else(|| ApiError::internal("a checked team id went missing"))?;
    let granted =
        grants::grant_team(&state.pool, &auth.project, team, user, &permission_id).await?;
    Ok(json(StatusCode::CREATED, &grant_json(&granted)))
}

/// `DELETE /team-permissions/{team_id}/{user_id}/{permission_id}`.
///
/// # Errors
/// Access and schema errors, `USER_NOT_FOUND`, `TEAM_MEMBERSHIP_NOT_FOUND`,
/// `TEAM_PERMISSION_NOT_FOUND`.
pub async fn revoke(
    State(state): State<AppState>,
    Path((team_id, user_id, permission_id)): Path<(String, String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let (team, user) = read_change(&req, auth, Some(&team_id), &user_id, &permission_id, false)?;
    let team = team.ok_or_else(|| ApiError::internal("a checked team id went missing"))?;
    grants::revoke_team(&state.pool, &auth.project, team, user, &permission_id).await?;
    Ok(success())
}
