//! `/connected-accounts/{user_id}` and the routes that hand an app a
//! provider access token for a user's connected account:
//! `/connected-accounts/{user_id}/{provider_id}[/{provider_account_id}]/access-token`
//! and the deprecated `/auth/oauth/connected-accounts/{provider_id}/access-token`
//! (the signed-in user's). The rules are in [`crate::oauth::connected`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use super::oauth_providers::caller;
use super::teams::{finish_body, opt_non_null_string, problems, take_body, user_param};
use crate::auth::{ANY, Auth};
use crate::error::ApiError;
use crate::http::{Req, json, list_response};
use crate::oauth::connected::{self, TokenFor};
use crate::state::AppState;
use crate::validate::Fields;

/// `GET /connected-accounts/{user_id}`: the accounts of a user (a client's
/// own only) whose tokens the app may use, oldest first.
///
/// # Errors
/// Schema errors and those of [`connected::list_connected`].
pub async fn list(
    State(state): State<AppState>,
    Path(raw_user): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut problems = problems();
    let user = user_param(&mut problems, &raw_user);
    Fields::query(&req.query).finish_into(&mut problems);
    problems.finish(&req.line)?;
    let user_id = user.resolve(auth)?;
    let accounts =
        connected::list_connected(&state.pool, &auth.project, caller(auth), user_id).await?;
    let items: Vec<Value> = accounts
        .iter()
        .map(|a| {
            json!({
                "user_id": a.user_id,
                "provider": a.provider_config_id,
                "provider_account_id": a.provider_account_id,
            })
        })
        .collect();
    Ok(list_response(items))
}

/// Reads the body of every access-token route: `{ "scope"?: string }`.
fn scope_body(req: &mut Req, problems: &mut Fields) -> Option<String> {
    let (mut f, sent) = take_body(req);
    let scope = opt_non_null_string(&mut f, "scope");
    finish_body(f, sent, problems);
    scope
}

/// The access-token routes of `/connected-accounts/{user_id}/…`: checks the
/// body, the access type and the user, then answers as [`respond`].
async fn user_token(
    state: &AppState,
    raw_user: &str,
    provider_id: &str,
    target: TokenFor<'_>,
    mut req: Req,
) -> Result<Response, ApiError> {
    let mut problems = problems();
    let scope = scope_body(&mut req, &mut problems);
    let auth = req.auth.require(ANY)?;
    let user = user_param(&mut problems, raw_user);
    Fields::query(&req.query).finish_into(&mut problems);
    problems.finish(&req.line)?;
    let user_id = user.resolve(auth)?;
    respond(state, auth, user_id, provider_id, target, scope.as_deref()).await
}

/// Gets the token and answers `201 {"access_token": …}`.
async fn respond(
    state: &AppState,
    auth: &Auth,
    user_id: Uuid,
    provider_id: &str,
    target: TokenFor<'_>,
    scope: Option<&str>,
) -> Result<Response, ApiError> {
    let token = connected::access_token(
        state,
        &auth.project,
        caller(auth),
        user_id,
        provider_id,
        target,
        scope,
    )
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &json!({ "access_token": token.expose() }),
    ))
}

/// `POST /connected-accounts/{user_id}/{provider_id}/access-token`: a token
/// from any of the user's accounts at the provider (the route older SDKs use).
///
/// # Errors
/// Schema errors and those of [`connected::access_token`].
pub async fn provider_access_token(
    State(state): State<AppState>,
    Path((raw_user, provider_id)): Path<(String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    user_token(&state, &raw_user, &provider_id, TokenFor::AnyAccount, req).await
}

/// `POST /connected-accounts/{user_id}/{provider_id}/{provider_account_id}/access-token`:
/// a token from that one account.
///
/// # Errors
/// Schema errors and those of [`connected::access_token`].
pub async fn account_access_token(
    State(state): State<AppState>,
    Path((raw_user, provider_id, provider_account_id)): Path<(String, String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    let target = TokenFor::Account(&provider_account_id);
    user_token(&state, &raw_user, &provider_id, target, req).await
}

/// `POST /auth/oauth/connected-accounts/{provider_id}/access-token`
/// (deprecated): the per-provider route for the signed-in user. Stack Auth
/// checks this route's body, then forwards the request to
/// `/connected-accounts/me/{provider_id}/access-token`.
///
/// # Errors
/// Schema errors and those of [`provider_access_token`].
pub async fn legacy_access_token(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
    mut req: Req,
) -> Result<Response, ApiError> {
    let mut problems = problems();
    let scope = scope_body(&mut req, &mut problems);
    problems.finish(&req.line)?;
    let auth = req.auth.require(ANY)?;
    let user_id = auth.me()?.id;
    respond(
        &state,
        auth,
        user_id,
        &provider_id,
        TokenFor::AnyAccount,
        scope.as_deref(),
    )
    .await
}
