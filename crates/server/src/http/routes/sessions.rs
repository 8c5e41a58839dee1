//! `/auth/sessions*`: create (server), list, revoke, sign out, refresh.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use uuid::Uuid;

use crate::auth::{ANY, AccessType, SERVER_OR_ADMIN};
use crate::db::{sessions, users};
use crate::error::ApiError;
use crate::http::header;
use crate::http::routes::user_id_or_me;
use crate::http::{Req, json, list_response, success};
use crate::known_errors as ke;
use crate::state::AppState;
use crate::tokens::{self, DEFAULT_SESSION_LIFETIME};
use crate::validate::Fields;

/// Longest session a server may create: 367 days, in milliseconds.
const MAX_SESSION_MILLIS: i64 = 31_708_800_000;

/// `POST /auth/sessions` (server): sign a user in without credentials.
///
/// # Errors
/// `USER_ID_DOES_NOT_EXIST`, schema errors.
pub async fn create(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let mut f = Fields::body(req.body);
    let raw_user = f.req_string("user_id", None);
    let expires_in = f.opt_i64("expires_in_millis");
    if let Some(ms) = expires_in {
        if ms > MAX_SESSION_MILLIS {
            f.error(
                "expires_in_millis",
                &format!("must be less than or equal to {MAX_SESSION_MILLIS}"),
            );
        } else if ms <= 0 {
            f.error("expires_in_millis", "must be greater than or equal to 1");
        }
    }
    let is_impersonation = f.opt_bool("is_impersonation").unwrap_or(false);
    f.finish(&req.line)?;
    let user_id = user_id_or_me(&raw_user, "body", auth, &req.line)?;
    let user = users::find(&state.pool, &auth.project.id, user_id)
        .await?
        .ok_or_else(|| ke::user_id_does_not_exist(&user_id.to_string()))?;
    let lifetime = expires_in
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_SESSION_LIFETIME);
    let pair = tokens::sign_in(&state, &auth.project, &user, lifetime, is_impersonation).await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "refresh_token": pair.refresh_token.expose(),
            "access_token": pair.access_token.expose(),
        }),
    ))
}

/// `GET /auth/sessions?user_id=`.
///
/// # Errors
/// Clients may only list their own sessions.
pub async fn list(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut q = Fields::query(&req.query);
    let raw_user = q.req_string("user_id", None);
    q.finish(&req.line)?;
    let user_id = user_id_or_me(&raw_user, "query", auth, &req.line)?;
    if auth.access == AccessType::Client && auth.user.as_ref().map(|u| u.id) != Some(user_id) {
        return Err(ApiError::forbidden(
            "Client can only list sessions for their own user.",
        ));
    }
    let items: Vec<_> = sessions::list_for_user(&state.pool, &auth.project.id, user_id)
        .await?
        .into_iter()
        .filter(|s| auth.access == AccessType::Admin || !s.is_impersonation)
        .map(|s| {
            json!({
                "id": s.id,
                "user_id": s.user_id,
                "created_at": s.created_at.timestamp_millis(),
                "last_used_at": s.last_active_at.timestamp_millis(),
                "is_impersonation": s.is_impersonation,
                "is_current_session": Some(s.id) == auth.refresh_token_id,
            })
        })
        .collect();
    Ok(list_response(items))
}

/// `DELETE /auth/sessions/{id}?user_id=`.
///
/// # Errors
/// `CANNOT_DELETE_CURRENT_SESSION`; 404 for sessions the caller cannot see.
pub async fn delete(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut q = Fields::query(&req.query);
    let raw_user = q.opt_string("user_id", None);
    q.finish(&req.line)?;
    let not_found = || ApiError::not_found("Session not found.");
    let id = Uuid::parse_str(&raw_id).map_err(|_| not_found())?;
    let owner_filter = match &raw_user {
        Some(raw) => Some(user_id_or_me(raw, "query", auth, &req.line)?),
        None => None,
    };
    if Some(id) == auth.refresh_token_id {
        return Err(ke::cannot_delete_current_session().into());
    }
    let session = sessions::find(&state.pool, &auth.project.id, id)
        .await?
        .ok_or_else(not_found)?;
    let client_mismatch = auth.access == AccessType::Client
        && auth.user.as_ref().map(|u| u.id) != Some(session.user_id);
    if client_mismatch || owner_filter.is_some_and(|u| u != session.user_id) {
        return Err(not_found());
    }
    sessions::delete(&state.pool, &auth.project.id, id).await?;
    Ok(success())
}

/// `DELETE /auth/sessions/current`: sign out.
///
/// # Errors
/// `REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED` when the session is already gone.
pub async fn sign_out(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    Fields::body(req.body).finish(&req.line)?;
    let Some(session_id) = auth.refresh_token_id else {
        return Err(ke::access_token_expired(&ke::ExpiredToken::default()).into());
    };
    if !sessions::delete(&state.pool, &auth.project.id, session_id).await? {
        return Err(ke::refresh_token_not_found_or_expired().into());
    }
    Ok(success())
}

/// `POST /auth/sessions/current/refresh`: a new access token for the session
/// whose refresh token is in `x-stack-refresh-token`.
///
/// # Errors
/// `REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED`; schema error without the header.
pub async fn refresh(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    let token = header(&req.headers, "x-stack-refresh-token");
    if token.is_none() {
        f.error_line("headers.x-stack-refresh-token must be defined");
    }
    f.finish(&req.line)?;
    let token = token.as_deref().unwrap_or_default();
    let session = sessions::find_by_token(&state.pool, &auth.project.id, token)
        .await?
        .ok_or_else(ke::refresh_token_not_found_or_expired)?;
    let user = users::find(&state.pool, &auth.project.id, session.user_id)
        .await?
        .ok_or_else(ke::refresh_token_not_found_or_expired)?;
    let access_token = tokens::mint(
        &state,
        &auth.project,
        &user,
        session.id,
        Some(session.last_active_at),
    )
    .await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "access_token": access_token.expose() }),
    ))
}
