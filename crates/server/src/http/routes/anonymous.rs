//! `POST /auth/anonymous/sign-up`: a restricted user with no credentials.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::accounts::{self, NewUser};
use crate::auth::ANY;
use crate::error::ApiError;
use crate::http::{Req, json};
use crate::state::AppState;
use crate::tokens;
use crate::validate::Fields;

/// Handles anonymous sign-up.
///
/// # Errors
/// Authentication errors, unknown body fields.
pub async fn sign_up(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    Fields::body(req.body).finish(&req.line)?;
    let new = NewUser {
        is_anonymous: true,
        ..NewUser::default()
    };
    let user_id = accounts::create_user(&state.pool, &auth.project, new).await?;
    let pair = tokens::sign_in_user_id(&state, &auth.project, user_id).await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "access_token": pair.access_token.expose(),
            "refresh_token": pair.refresh_token.expose(),
            "user_id": user_id,
        }),
    ))
}
