//! `POST /internal/local-emulator/project`: one project per app config file.
//!
//! The emulator's CLI calls this with the internal project's secret server key
//! (or admin key) and the absolute path of the app's config file; see
//! [`crate::local_emulator`] for how the project is found or made.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use stack_proto::local_emulator::ProjectAnswer;

use crate::auth::SERVER_OR_ADMIN;
use crate::config::Level;
use crate::db::projects::{self, INTERNAL_PROJECT_ID};
use crate::error::ApiError;
use crate::http::{Req, json};
use crate::local_emulator::{self, is_absolute};
use crate::project_config;
use crate::state::AppState;
use crate::validate::Fields;

/// Longest accepted path, in bytes (PATH_MAX on Linux).
const MAX_PATH_BYTES: usize = 4096;

/// Handles the route.
///
/// # Errors
/// Not in emulator mode, not the internal project, a relative path.
pub async fn post(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let mut f = Fields::body(req.body);
    let path = f.req_nonempty_string("absolute_file_path", Some(MAX_PATH_BYTES));
    let branch_text = f.opt_string("branch_config_override_string", None);
    if auth.project.id != INTERNAL_PROJECT_ID {
        f.error_line("auth.project.id must be one of the following values: internal");
    }
    f.finish(&req.line)?;
    if !state.settings.local_emulator {
        return Err(ApiError::bad_request(
            "This endpoint is only available in local emulator mode (set NEXT_PUBLIC_STACK_IS_LOCAL_EMULATOR=true).",
        ));
    }
    if !is_absolute(&path) {
        return Err(ApiError::bad_request(
            "absolute_file_path must be an absolute path.",
        ));
    }

    let branch = branch_text
        .map(|text| project_config::parse_override(Level::Branch, &text))
        .transpose()?;
    let (project_id, set, stored) = local_emulator::project_for(&state.pool, &path, branch).await?;
    state.clear_auth_cache();
    let sign_in_methods = match projects::find(&state.pool, &project_id).await? {
        Some(project) => local_emulator::sign_in_methods(&project.config),
        None => Vec::new(),
    };
    let answer = ProjectAnswer {
        project_id,
        publishable_client_key: set.publishable_client_key.unwrap_or_default(),
        secret_server_key: set.secret_server_key.unwrap_or_default(),
        super_secret_admin_key: set.super_secret_admin_key.unwrap_or_default(),
        branch_config_override_string: serde_json::Value::Object(stored).to_string(),
        sign_in_methods,
    };
    let body = serde_json::to_value(&answer).map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(json(StatusCode::OK, &body))
}
