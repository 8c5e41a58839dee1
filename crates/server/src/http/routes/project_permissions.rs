//! `/project-permissions`: list the project permissions users hold (client,
//! server, admin), grant and revoke them (server, admin).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::auth::{ANY, SERVER_OR_ADMIN};
use crate::error::ApiError;
use crate::http::routes::team_permissions::{list_filter, read_change, read_query};
use crate::http::{Req, json, success};
use crate::permissions::grants::{self, ProjectGrant};
use crate::state::AppState;
use crate::validate::Fields;

/// The API object of a held project permission.
pub fn grant_json(g: &ProjectGrant) -> Value {
    json!({ "id": g.id, "user_id": g.user_id })
}

/// `GET /project-permissions?user_id&permission_id&recursive`.
///
/// # Errors
/// Access and schema errors, `CANNOT_GET_OWN_USER_WITHOUT_USER`, 403 for a
/// client listing other users.
pub async fn list(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::query(&req.query);
    let q = read_query(&mut f, false);
    f.finish(&req.line)?;
    let filter = list_filter(auth, &req.line, q)?;
    let items: Vec<Value> = grants::list_project(&state.pool, &auth.project, &filter)
        .await?
        .iter()
        .map(grant_json)
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": false }),
    ))
}

/// `POST /project-permissions/{user_id}/{permission_id}`: 201 with the
/// grant, also when it existed.
///
/// # Errors
/// Access and schema errors, `USER_NOT_FOUND`, `PERMISSION_NOT_FOUND`,
/// `WRONG_PERMISSION_SCOPE`.
pub async fn grant(
    State(state): State<AppState>,
    Path((user_id, permission_id)): Path<(String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let (_, user) = read_change(&req, auth, None, &user_id, &permission_id, true)?;
    let granted = grants::grant_project(&state.pool, &auth.project, user, &permission_id).await?;
    Ok(json(StatusCode::CREATED, &grant_json(&granted)))
}

/// `DELETE /project-permissions/{user_id}/{permission_id}`.
///
/// # Errors
/// Access and schema errors, `USER_NOT_FOUND`, `PERMISSION_NOT_FOUND`.
pub async fn revoke(
    State(state): State<AppState>,
    Path((user_id, permission_id)): Path<(String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let (_, user) = read_change(&req, auth, None, &user_id, &permission_id, false)?;
    grants::revoke_project(&state.pool, &auth.project, user, &permission_id).await?;
    Ok(success())
}
