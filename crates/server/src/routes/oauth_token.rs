//! `POST /auth/oauth/token`: the refresh grant the SDK uses to renew access tokens.
//!
//! The request carries no project headers: the project is the `client_id`
//! (optionally `<project>#<branch>`) and the client secret is its publishable
//! key, or the public-client sentinel when the project does not require keys.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use crate::auth::PUBLIC_CLIENT_SENTINEL;
use crate::db::keys::{self, KeyKind};
use crate::db::projects::{self, Project};
use crate::db::{sessions, users};
use crate::error::ApiError;
use crate::http::{Req, json};
use crate::known_errors as ke;
use crate::state::AppState;
use crate::tokens;
use crate::validate::Fields;

/// The `expires_in` Stack Auth's OAuth library reports (its default lifetime, minus the elapsed second).
const OAUTH_EXPIRES_IN_SECS: u64 = 3599;

/// Checks the OAuth client (project id and publishable key), using the server's
/// cache of keys that authenticated before.
async fn authenticate_client(
    state: &AppState,
    project_id: &str,
    branch_ok: bool,
    client_secret: Option<&str>,
) -> Result<Arc<Project>, ApiError> {
    let key = match client_secret {
        None | Some(PUBLIC_CLIENT_SENTINEL) => None,
        Some(secret) => Some(secret),
    };
    let kind = key.map(|_| KeyKind::PublishableClient);
    if !branch_ok {
        return Err(ke::invalid_oauth_client_id_or_secret().into());
    }
    state
        .authenticate_key(project_id, kind, key.unwrap_or_default(), || async {
            let project = projects::find(&state.pool, project_id)
                .await?
                .map(Arc::new)
                .ok_or_else(ke::invalid_oauth_client_id_or_secret)?;
            let valid_until = match key {
                None => {
                    if project.config.require_publishable_client_key {
                        return Err(ke::publishable_client_key_required(&project.id).into());
                    }
                    chrono::DateTime::<chrono::Utc>::MAX_UTC
                }
                Some(secret) => {
                    keys::valid_until(&state.pool, &project.id, KeyKind::PublishableClient, secret)
                        .await?
                        .ok_or_else(ke::invalid_oauth_client_id_or_secret)?
                }
            };
            Ok((project, valid_until))
        })
        .await
}

/// Handles the token endpoint.
///
/// # Errors
/// Client and grant errors as in spec §2.6.
pub async fn post(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let mut f = Fields::body(req.body).allow_unknown();
    let grant_type = f.req_string("grant_type", None);
    if !grant_type.is_empty() && grant_type != "authorization_code" && grant_type != "refresh_token"
    {
        f.error(
            "grant_type",
            "must be one of the following values: authorization_code, refresh_token",
        );
    }
    let client_id = f.opt_string("client_id", None);
    let client_secret = f.opt_string("client_secret", None);
    let refresh_token = f.opt_string("refresh_token", None);
    f.finish(&req.line)?;

    let project_id = client_id
        .as_deref()
        .map(|c| c.split('#').next().unwrap_or_default())
        .ok_or_else(ke::invalid_oauth_client_id_or_secret)?;
    let branch_ok = client_id
        .as_deref()
        .and_then(|c| c.split_once('#'))
        .is_none_or(|(_, branch)| branch == "main");
    let project =
        authenticate_client(&state, project_id, branch_ok, client_secret.as_deref()).await?;

    if grant_type == "authorization_code" {
        // The authorization-code flow comes with OAuth sign-in; no codes are issued yet.
        return Err(ke::invalid_authorization_code().into());
    }
    let Some(refresh_token) = refresh_token else {
        return Ok(json(
            StatusCode::BAD_REQUEST,
            &json!({ "error": "invalid_request", "error_description": "Missing parameter: `refresh_token`" }),
        ));
    };
    let session = sessions::find_by_token(&state.pool, &project.id, &refresh_token)
        .await?
        .ok_or_else(ke::refresh_token_not_found_or_expired)?;
    let user = users::find(&state.pool, &project.id, session.user_id)
        .await?
        .ok_or_else(ke::refresh_token_not_found_or_expired)?;
    let access_token = tokens::mint(
        &state,
        &project,
        &user,
        session.id,
        Some(session.last_active_at),
    )
    .await?;
    let mut response = json(
        StatusCode::OK,
        &json!({
            "access_token": access_token.expose(),
            "token_type": "Bearer",
            "expires_in": OAUTH_EXPIRES_IN_SECS,
            "scope": "legacy",
            "afterCallbackRedirectUrl": null,
            "after_callback_redirect_url": null,
        }),
    );
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}
