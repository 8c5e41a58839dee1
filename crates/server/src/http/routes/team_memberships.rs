//! `/team-memberships/{team_id}/{user_id}`: adding a member (server and
//! admin) and removing one (clients too). There is no read: members are
//! listed with `GET /users?team_id=` or `GET /team-member-profiles`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use uuid::Uuid;

use super::teams::{UserRef, caller, finish_body, problems, take_body, user_param, uuid_param};
use crate::auth::{ANY, Auth, SERVER_OR_ADMIN};
use crate::error::ApiError;
use crate::http::{Req, json, success};
use crate::state::AppState;
use crate::teams::members;
use crate::validate::Fields;

/// The path of a membership route: `(team_id, user_id)`.
fn membership_path(raw: &(String, String), problems: &mut Fields) -> (Uuid, UserRef) {
    let team_id = uuid_param(problems, "team_id", &raw.0);
    (team_id, user_param(problems, &raw.1))
}

fn resolve(path: (Uuid, UserRef), auth: &Auth) -> Result<(Uuid, Uuid), ApiError> {
    Ok((path.0, path.1.resolve(auth)?))
}

/// `POST /team-memberships/{team_id}/{user_id}` with body `{}`.
///
/// # Errors
/// `INSUFFICIENT_ACCESS_TYPE` for clients, schema errors, and those of
/// [`members::add_member`].
pub async fn create(
    State(state): State<AppState>,
    Path(raw): Path<(String, String)>,
    mut req: Req,
) -> Result<Response, ApiError> {
    let (body, sent) = take_body(&mut req);
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let mut problems = problems();
    finish_body(body, sent, &mut problems);
    let path = membership_path(&raw, &mut problems);
    Fields::query(&req.query).finish_into(&mut problems);
    problems.finish(&req.line)?;
    let (team_id, user_id) = resolve(path, auth)?;
    members::add_member(&state.pool, &auth.project, team_id, user_id).await?;
    Ok(json(
        StatusCode::CREATED,
        &json!({ "team_id": team_id, "user_id": user_id }),
    ))
}

/// `DELETE /team-memberships/{team_id}/{user_id}`.
///
/// # Errors
/// Schema errors and those of [`members::remove_member`].
pub async fn delete(
    State(state): State<AppState>,
    Path(raw): Path<(String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut problems = problems();
    let path = membership_path(&raw, &mut problems);
    Fields::query(&req.query).finish_into(&mut problems);
    problems.finish(&req.line)?;
    let (team_id, user_id) = resolve(path, auth)?;
    members::remove_member(&state.pool, &auth.project, caller(auth), team_id, user_id).await?;
    Ok(success())
}
