//! `GET /projects/current` and the project JSON shapes.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::auth::ANY;
use crate::config::legacy;
use crate::db::projects::Project;
use crate::error::ApiError;
use crate::http::{Req, json};
use crate::validate::Fields;

/// The client view of a project.
pub fn client_json(p: &Project) -> Value {
    json!({
        "id": p.id,
        "display_name": p.display_name,
        "config": legacy::client_json(&p.rendered),
    })
}

/// The admin view of a project.
pub fn admin_json(p: &Project) -> Value {
    json!({
        "id": p.id,
        "display_name": p.display_name,
        "description": p.description,
        "created_at_millis": p.created_at.timestamp_millis(),
        "is_production_mode": p.is_production_mode,
        "owner_team_id": p.owner_team_id,
        "onboarding_status": "completed",
        "logo_url": null,
        "logo_full_url": null,
        "logo_dark_mode_url": null,
        "logo_full_dark_mode_url": null,
        "config": legacy::admin_json(&p.rendered),
    })
}

/// Handles `GET /projects/current`.
///
/// # Errors
/// Authentication and query errors.
pub async fn current(req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    Fields::query(&req.query).finish(&req.line)?;
    Ok(json(StatusCode::OK, &client_json(&auth.project)))
}
