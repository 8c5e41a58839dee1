//! `GET /projects/{project_id}/.well-known/jwks.json`: the keys that verify access tokens.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::db::projects;
use crate::error::ApiError;
use crate::http::{Req, json};
use crate::jwt::Audience;
use crate::state::AppState;
use crate::validate::Fields;

/// Handles the JWKS route.
///
/// # Errors
/// Unknown project (plain 404), bad query.
pub async fn get(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let mut q = Fields::query(&req.query);
    let restricted = q.opt_bool("include_restricted").unwrap_or(false);
    let anonymous = q.opt_bool("include_anonymous").unwrap_or(false);
    q.finish(&req.line)?;
    if projects::find(&state.pool, &project_id).await?.is_none() {
        return Err(ApiError::not_found("Project not found"));
    }
    let mut audiences = vec![Audience::Normal.claim(&project_id)];
    if restricted || anonymous {
        audiences.push(Audience::Restricted.claim(&project_id));
    }
    if anonymous {
        audiences.push(Audience::Anonymous.claim(&project_id));
    }
    let rt = state.runtime().await?;
    let mut response = json(StatusCode::OK, &rt.keyring.jwks(&audiences));
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(response)
}
