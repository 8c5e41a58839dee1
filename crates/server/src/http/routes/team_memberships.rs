//! `/team-memberships/{team_id}/{user_id}`: adding a member (server and
//! admin) and removing one (clients too). There is no read: members are
//! listed with `GET /users?team_id=` or `GET /team-member-profiles`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::teams::{UserRef, caller, finish_body, finish_member_request, problems, take_body};
use crate::auth::{ANY, SERVER_OR_ADMIN};
use crate::error::ApiError;
use crate::http::{Req, json, success};
use crate::state::AppState;
use crate::teams::members;
use crate::validate::Fields;

/// A membership route's query: it takes no parameters.
fn read_query(req: &Req, problems: &mut Fields) -> Option<UserRef> {
    Fields::query(&req.query).finish_into(problems);
    None
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
    let (team_id, user_id) = finish_member_request(&req, auth, &raw, problems, read_query)?;
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
    let (team_id, user_id) = finish_member_request(&req, auth, &raw, problems(), read_query)?;
    members::remove_member(&state.pool, &auth.project, caller(auth), team_id, user_id).await?;
    Ok(success())
}
