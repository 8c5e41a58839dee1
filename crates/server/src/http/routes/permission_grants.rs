//! `/team-permissions` and `/project-permissions`: list the permissions
//! team members or users hold (client, server, admin), grant and revoke them
//! (server, admin). The two differ only in the holder of a grant: a member
//! of the path's team, or a user; one generic handler serves both, the
//! router naming the kind (`list::<TeamPermissions>`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{ANY, AccessType, Auth, SERVER_OR_ADMIN};
use crate::error::ApiError;
use crate::http::routes::permission_definitions::{body_fields, check_permission_id};
use crate::http::routes::{user_id_or_me, uuid_param};
use crate::http::{Req, json, list_response, success};
use crate::permissions::grants::{self, Grant, GrantsOf, Holder, ListFilter};
use crate::state::AppState;
use crate::validate::{Fields, RequestLine};

/// The API object of a held permission; a team permission names its team.
fn grant_json(g: &Grant) -> Value {
    match g.holder {
        Holder::Member { team_id, user_id } => {
            json!({ "id": g.id, "user_id": user_id, "team_id": team_id })
        }
        Holder::User(user_id) => json!({ "id": g.id, "user_id": user_id }),
    }
}

/// A list query as read: `user_id` may still be `me`.
struct ListQuery {
    /// `team_id` (team lists only).
    team_id: Option<Uuid>,
    /// `user_id`, a UUID or `me`.
    user_id: Option<String>,
    /// `permission_id`.
    permission_id: Option<String>,
    /// `recursive=true`.
    recursive: bool,
}

/// Reads the query every operation of a permission route accepts
/// (`team_id` only when `with_team`); problems are recorded in `f`.
fn read_query(f: &mut Fields, with_team: bool) -> ListQuery {
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
fn list_filter(auth: &Auth, line: &RequestLine, q: ListQuery) -> Result<ListFilter, ApiError> {
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

/// The kind of permission a route tree serves, as a type.
pub trait Kind {
    /// The path of a grant or revocation: `(team_id, user_id, permission_id)`
    /// or `(user_id, permission_id)`.
    type Path: DeserializeOwned + Send;
    /// Team permissions: lists take `team_id`, holders are team members.
    const TEAMS: bool;
    /// The path's parts.
    fn target(path: &Self::Path) -> Target<'_>;
}

/// `/team-permissions`.
pub struct TeamPermissions;

impl Kind for TeamPermissions {
    type Path = (String, String, String);
    const TEAMS: bool = true;

    fn target((team_id, user_id, permission_id): &Self::Path) -> Target<'_> {
        Target {
            team_id: Some(team_id),
            user_id,
            permission_id,
        }
    }
}

/// `/project-permissions`.
pub struct ProjectPermissions;

impl Kind for ProjectPermissions {
    type Path = (String, String);
    const TEAMS: bool = false;

    fn target((user_id, permission_id): &Self::Path) -> Target<'_> {
        Target {
            team_id: None,
            user_id,
            permission_id,
        }
    }
}

/// `GET /team-permissions?team_id&user_id&permission_id&recursive`,
/// `GET /project-permissions?user_id&permission_id&recursive`.
///
/// # Errors
/// Access and schema errors, `CANNOT_GET_OWN_USER_WITHOUT_USER`, 403 for a
/// client listing other users.
pub async fn list<K: Kind>(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::query(&req.query);
    let q = read_query(&mut f, K::TEAMS);
    f.finish(&req.line)?;
    let of = if K::TEAMS {
        GrantsOf::Teams(q.team_id)
    } else {
        GrantsOf::Project
    };
    let filter = list_filter(auth, &req.line, q)?;
    let items: Vec<Value> = grants::list(&state.pool, &auth.project, of, &filter)
        .await?
        .iter()
        .map(grant_json)
        .collect();
    Ok(list_response(items))
}

/// The path of a grant or revocation.
pub struct Target<'a> {
    /// `{team_id}`, for a team permission.
    team_id: Option<&'a str>,
    /// `{user_id}`: a UUID or `me`.
    user_id: &'a str,
    /// `{permission_id}`.
    permission_id: &'a str,
}

/// The request checks of a grant or revoke (server and admin only): the
/// query, the body (a grant takes `{}`), and the path's team (when given),
/// user and permission id. Returns who asks and who holds the grant, `me`
/// resolved.
///
/// # Errors
/// Access errors, `SCHEMA_ERROR`, `CANNOT_GET_OWN_USER_WITHOUT_USER`.
fn read_holder<'r>(
    req: &'r Req,
    target: &Target<'_>,
    is_grant: bool,
) -> Result<(&'r Auth, Holder), ApiError> {
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let (mut f, _) = if is_grant {
        body_fields(req.body.clone())
    } else {
        (Fields::body(None), true)
    };
    let team = target.team_id.map(|raw| uuid_param(&mut f, "team_id", raw));
    if target.user_id != "me" && Uuid::parse_str(target.user_id).is_err() {
        f.error_line("params.user_id must be a valid UUID");
    }
    check_permission_id(&mut f, target.permission_id);
    let mut q = Fields::query(&req.query);
    read_query(&mut q, team.is_some());
    q.finish_into(&mut f);
    f.finish(&req.line)?;
    let user_id = user_id_or_me(target.user_id, "params", auth, &req.line)?;
    let holder = match team {
        Some(team_id) => Holder::Member { team_id, user_id },
        None => Holder::User(user_id),
    };
    Ok((auth, holder))
}

/// `POST /team-permissions/{team_id}/{user_id}/{permission_id}`,
/// `POST /project-permissions/{user_id}/{permission_id}`: 201 with the
/// grant, also when it existed.
///
/// # Errors
/// Access and schema errors, and those of [`grants::grant`].
pub async fn grant<K: Kind>(
    State(state): State<AppState>,
    Path(path): Path<K::Path>,
    req: Req,
) -> Result<Response, ApiError> {
    let target = K::target(&path);
    let (auth, holder) = read_holder(&req, &target, true)?;
    let granted = grants::grant(&state.pool, &auth.project, holder, target.permission_id).await?;
    Ok(json(StatusCode::CREATED, &grant_json(&granted)))
}

/// `DELETE /team-permissions/{team_id}/{user_id}/{permission_id}`,
/// `DELETE /project-permissions/{user_id}/{permission_id}`.
///
/// # Errors
/// Access and schema errors, and those of [`grants::revoke`].
pub async fn revoke<K: Kind>(
    State(state): State<AppState>,
    Path(path): Path<K::Path>,
    req: Req,
) -> Result<Response, ApiError> {
    let target = K::target(&path);
    let (auth, holder) = read_holder(&req, &target, false)?;
    grants::revoke(&state.pool, &auth.project, holder, target.permission_id).await?;
    Ok(success())
}
