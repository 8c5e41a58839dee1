//! `GET /auth/oauth/authorize/{provider_id}` and
//! `GET|POST /auth/oauth/callback/{provider_id}`: the browser's trip through
//! the OAuth provider (see [`crate::oauth`]).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use chrono::Utc;
use serde_json::{Value, json};

use crate::auth;
use crate::db::oauth as db;
use crate::db::projects::Project;
use crate::error::{ApiError, KnownError};
use crate::http::{Req, json};
use crate::known_errors as ke;
use crate::oauth::flow::{self, FlowType, INNER_COOKIE_PREFIX, OUTER_FLOW_LIFETIME, OuterInfo};
use crate::oauth::sign_in::{self, ProviderSignIn};
use crate::oauth::{self, ProviderError};
use crate::redirect;
use crate::state::AppState;
use crate::tokens;
use crate::validate::Fields;

/// The only OAuth scope Stack Auth's authorization server grants.
const STACK_SCOPE: &str = "legacy";

/// The app's URL scheme that native (mobile) SDKs use; trusted without a domain.
const NATIVE_APP_SCHEME: &str = "stack-auth-mobile-oauth-url";

/// `GET /auth/oauth/authorize/{provider_id}`: checks the app's request, keeps
/// it, and sends the browser to the provider (or, with
/// `stack_response_mode=json`, answers the provider URL).
///
/// # Errors
/// Schema errors, `INVALID_OAUTH_CLIENT_ID_OR_SECRET`,
/// `OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED`, `REDIRECT_URL_NOT_WHITELISTED`,
/// `OAUTH_EXTRA_SCOPE_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS`, token errors.
pub async fn authorize(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let mut f = Fields::query(&req.query).allow_unknown();
    let flow_type = f.opt_one_of("type", &["authenticate", "link"]);
    let token = f.opt_string("token", None).unwrap_or_default();
    let provider_scope = f.opt_string("provider_scope", None);
    let error_redirect_url = f.opt_url("error_redirect_url");
    let error_redirect_uri = f.opt_url("error_redirect_uri");
    let after_callback_redirect_url = f.opt_url("after_callback_redirect_url");
    let response_mode = f
        .opt_one_of("stack_response_mode", &["json", "redirect"])
        .unwrap_or_else(|| "redirect".into());
    let client_id = f.req_string("client_id", None);
    let client_secret = f.req_string("client_secret", None);
    let redirect_uri = f.req_url("redirect_uri");
    let scope = f.req_string("scope", None);
    let app_state = f.req_string("state", None);
    if f.map_has("grant_type") {
        f.opt_one_of("grant_type", &["authorization_code"]);
    } else {
        f.req_string("grant_type", None);
    }
    let code_challenge = f.req_string("code_challenge", None);
    let code_challenge_method = f.req_string("code_challenge_method", None);
    let response_type = f.req_string("response_type", None);
    f.finish(&req.line)?;
    let redirect_uri = redirect_uri.ok_or_else(|| ApiError::internal("checked above"))?;

    let project = oauth_client_project(&state, &client_id, &client_secret).await?;
    let provider = oauth::provider(&project, &provider_id)
        .ok_or_else(ke::oauth_provider_not_found_or_not_enabled)?;
    let flow_type = match flow_type.as_deref() {
        Some("link") => FlowType::Link,
        _ => FlowType::Authenticate,
    };
    if flow_type == FlowType::Link && token.is_empty() {
        return Err(ApiError::bad_request(
            "?token= query parameter is required for link type",
        ));
    }
    if let Some(url) = &after_callback_redirect_url
        && !trusted(&project, url.as_str())
    {
        return Err(ke::redirect_url_not_whitelisted().into());
    }
    if provider_scope.is_some() && provider.is_shared {
        return Err(ke::oauth_extra_scope_not_available_with_shared_keys().into());
    }
    let project_user_id = if token.is_empty() {
        None
    } else {
        let rt = state.runtime().await?;
        let claims = tokens::decode(&rt, &token)?;
        if claims.project_id != project.id {
            return Err(ApiError::forbidden(
                "The access token is not valid for this project",
            ));
        }
        Some(
            uuid::Uuid::parse_str(&claims.sub)
                .map_err(|_| ApiError::from(ke::unparsable_access_token()))?,
        )
    };

    let client = oauth::client_for(&state, &provider).await?;
    let inner_state = flow::random_value()?;
    let inner_code_verifier = flow::random_value()?;
    let location = client.authorization_url(
        &flow::s256(&inner_code_verifier),
        &inner_state,
        provider_scope.as_deref(),
    );
    let mut app_redirect = redirect_uri;
    app_redirect.set_fragment(None);
    let info = OuterInfo {
        project_id: project.id.clone(),
        publishable_client_key: client_secret,
        redirect_uri: app_redirect.to_string(),
        scope,
        state: app_state,
        code_challenge,
        code_challenge_method,
        response_type,
        inner_code_verifier,
        flow_type,
        project_user_id,
        provider_scope,
        error_redirect_url: error_redirect_uri
            .or(error_redirect_url)
            .map(|u| u.to_string()),
        after_callback_redirect_url: after_callback_redirect_url.map(|u| u.to_string()),
        response_mode: response_mode.clone(),
        provider_redirect_uri: Some(client.redirect_uri.clone()),
    };
    let info_json = serde_json::to_value(&info).map_err(|e| ApiError::Internal(Box::new(e)))?;
    db::insert_outer_flow(
        &state.pool,
        &inner_state,
        &project.id,
        &info_json,
        Utc::now() + OUTER_FLOW_LIFETIME,
    )
    .await?;

    if response_mode == "json" {
        return Ok(json(StatusCode::OK, &json!({ "location": location })));
    }
    let max_age = OUTER_FLOW_LIFETIME.num_seconds();
    let expires = (Utc::now() + OUTER_FLOW_LIFETIME)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let cookie = format!(
        "{INNER_COOKIE_PREFIX}{inner_state}=true; Path=/; Expires={expires}; Max-Age={max_age}; HttpOnly"
    );
    let mut response = redirect_response(StatusCode::TEMPORARY_REDIRECT, &location)?;
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(Box::new(e)))?,
    );
    Ok(response)
}

/// `GET|POST /auth/oauth/callback/{provider_id}`: the provider sends the
/// browser back; the server learns who signed in, decides which user that
/// is, and sends the browser to the app with an authorization code.
///
/// # Errors
/// A bad state or missing cookie (400); known errors go to the app's
/// redirect URL when it is trusted, else they are the answer.
pub async fn callback(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    // The provider answers in the query (GET) or in a form (POST).
    let mut params: HashMap<String, String> = req
        .body
        .as_ref()
        .and_then(Value::as_object)
        .map(|b| {
            b.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    params.extend(req.query.iter().cloned());
    let inner_state = params.get("state").cloned().unwrap_or_default();
    let stored = db::find_outer_flow(&state.pool, &inner_state)
        .await?
        .ok_or_else(|| {
            ApiError::bad_request("Invalid OAuth state. Please try signing in again.")
        })?;
    let info: OuterInfo = serde_json::from_value(stored.info.0)
        .map_err(|e| ApiError::internal(format!("stored OAuth flow is malformed: {e}")))?;
    let mut clear_cookie = None;
    if info.response_mode != "json" {
        let name = format!("{INNER_COOKIE_PREFIX}{inner_state}");
        let present = cookie(&req.headers, &name).as_deref() == Some("true");
        // The cookie is used up by this request, whatever its outcome.
        clear_cookie = Some(format!(
            "{name}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        ));
        if !present {
            let refused = ApiError::bad_request(
                "Inner OAuth cookie not found. This is likely because you refreshed the page during the OAuth sign in process. Please try signing in again",
            );
            return Ok(with_cookie(refused.into_response(), clear_cookie));
        }
    }
    let response = match crate::db::projects::find(&state.pool, &stored.project_id).await? {
        None => {
            ApiError::bad_request("The project of this sign-in no longer exists.").into_response()
        }
        Some(project) => {
            let outcome = finish(
                &state,
                &project,
                &provider_id,
                &info,
                stored.expires_at,
                &params,
            )
            .await;
            match outcome {
                Ok(location) => redirect_response(StatusCode::SEE_OTHER, &location)?,
                Err(ApiError::Known(known)) => match error_redirect(&project, &info, &known) {
                    Some(location) => redirect_response(StatusCode::TEMPORARY_REDIRECT, &location)?,
                    None => ApiError::Known(known).into_response(),
                },
                Err(other) => other.into_response(),
            }
        }
    };
    Ok(with_cookie(response, clear_cookie))
}

/// Adds the `Set-Cookie` that deletes the inner cookie, when there is one.
fn with_cookie(mut response: Response, cookie: Option<String>) -> Response {
    if let Some(c) = cookie
        && let Ok(v) = HeaderValue::from_str(&c)
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The callback after its state and cookie checks: the provider's code, the
/// sign-in decision and the app's code. Returns where the browser goes.
async fn finish(
    state: &AppState,
    project: &Project,
    provider_id: &str,
    info: &OuterInfo,
    expires_at: chrono::DateTime<Utc>,
    params: &HashMap<String, String>,
) -> Result<String, ApiError> {
    let param = |name: &str| params.get(name).cloned();
    if expires_at < Utc::now() {
        return Err(ke::outer_oauth_timeout().into());
    }
    let provider = oauth::provider(project, provider_id)
        .ok_or_else(ke::oauth_provider_not_found_or_not_enabled)?;
    auth::authenticate_publishable_key(
        state,
        &project.id,
        Some(info.publishable_client_key.as_str()),
    )
    .await?;
    if let Some(error) = param("error") {
        return Err(match error.as_str() {
            "access_denied" | "consent_required" => ke::oauth_provider_access_denied().into(),
            "temporarily_unavailable" | "server_error" => {
                ke::oauth_provider_temporarily_unavailable().into()
            }
            _ => ApiError::bad_request(format!(
                "The OAuth provider answered with an error: {}",
                param("error_description").unwrap_or(error)
            )),
        });
    }
    let code = param("code").ok_or_else(|| {
        ApiError::bad_request("The OAuth provider's callback has no authorization code.")
    })?;
    let mut client = oauth::client_for(state, &provider).await?;
    // The token request must repeat the callback URL the provider was sent,
    // also when the public URL changed since (a rotation).
    if let Some(sent) = &info.provider_redirect_uri {
        client.redirect_uri.clone_from(sent);
    }
    let tokens = client
        .exchange_code(&code, &info.inner_code_verifier)
        .await
        .map_err(provider_failure)?;
    let user = client
        .user_info(&tokens.access_token)
        .await
        .map_err(provider_failure)?;
    let scopes: Vec<String> = oauth::client::BASE_SCOPE
        .split_whitespace()
        .chain(
            info.provider_scope
                .as_deref()
                .unwrap_or("")
                .split_whitespace(),
        )
        .map(str::to_owned)
        .collect();
    // Stack Auth's authorization server checks the app's redirect URI before
    // anyone signs in, and its scope and response type after.
    if !trusted(project, &info.redirect_uri) {
        return Err(ke::redirect_url_not_whitelisted().into());
    }
    let signed_in = ProviderSignIn {
        provider: &provider,
        user: &user,
        tokens: &tokens,
        scopes,
    };
    let outcome = sign_in::complete(&state.pool, project, info, &signed_in).await?;

    // The OAuth library's own scope check (the model's `validateScope`) fails
    // first, so Stack Auth answers its plain 400 rather than `INVALID_SCOPE`.
    let scopes: Vec<&str> = info.scope.split_whitespace().collect();
    if scopes.is_empty() || scopes.iter().any(|s| *s != STACK_SCOPE) {
        return Err(ApiError::bad_request(
            "Invalid scope requested. Please check the scopes you are requesting.",
        ));
    }
    if info.response_type != "code" {
        return Err(ApiError::bad_request(
            "Unsupported response type: `response_type` is not supported",
        ));
    }
    let code = flow::issue_code(&state.pool, info, outcome.user_id, outcome.new_user).await?;
    let mut location = url::Url::parse(&info.redirect_uri)
        .map_err(|_| ApiError::from(ke::redirect_url_not_whitelisted()))?;
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &info.state);
    Ok(location.to_string())
}

/// A provider call that failed: a refusal of the user's code is the user's
/// problem (400), an unreachable provider a temporary one (503).
fn provider_failure(e: ProviderError) -> ApiError {
    match e {
        ProviderError::Unavailable { .. } => {
            tracing::warn!(error = %e, "OAuth provider call failed");
            ke::oauth_provider_temporarily_unavailable().into()
        }
        ProviderError::Refused { error, .. } => match error.as_str() {
            "invalid_grant" => ApiError::bad_request(
                "Inner OAuth callback failed due to invalid grant. Please try again.",
            ),
            "access_denied" | "consent_required" => ke::oauth_provider_access_denied().into(),
            "invalid_client" => ApiError::bad_request(
                "Invalid client credentials for this OAuth provider. Please ensure the configuration in the Stack Auth dashboard is correct.",
            ),
            "temporarily_unavailable" | "server_error" => {
                ke::oauth_provider_temporarily_unavailable().into()
            }
            other => ApiError::bad_request(format!(
                "Inner OAuth callback failed due to error: {other}. Please try signing in again."
            )),
        },
    }
}

/// Where a known error of the callback goes: the app's redirect URI if
/// trusted, else its error redirect URL if trusted, else nowhere (the error
/// is the answer).
fn error_redirect(project: &Project, info: &OuterInfo, error: &KnownError) -> Option<String> {
    let target = [Some(&info.redirect_uri), info.error_redirect_url.as_ref()]
        .into_iter()
        .flatten()
        .find(|u| trusted(project, u))?;
    let mut url = url::Url::parse(target).ok()?;
    let details = error.details.clone().unwrap_or_else(|| json!({}));
    url.query_pairs_mut()
        .append_pair("error", "server_error")
        .append_pair("error_description", &error.message)
        .append_pair("errorCode", error.code)
        .append_pair("message", &error.message)
        .append_pair("details", &details.to_string());
    Some(url.to_string())
}

/// Whether the project trusts `url` as a place to send the browser: its
/// trusted domains, localhost when allowed, and native-app URLs.
pub(super) fn trusted(project: &Project, url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == NATIVE_APP_SCHEME => true,
        Ok(u) => redirect::is_trusted(&project.config, &u),
        Err(_) => false,
    }
}

/// The project of an OAuth `client_id`, with its client secret checked.
async fn oauth_client_project(
    state: &AppState,
    client_id: &str,
    client_secret: &str,
) -> Result<std::sync::Arc<Project>, ApiError> {
    let (project_id, branch) = oauth::project_and_branch(client_id);
    let exists = branch == "main"
        && crate::db::projects::find(&state.pool, project_id)
            .await?
            .is_some();
    if !exists {
        return Err(ke::invalid_oauth_client(client_id).into());
    }
    auth::authenticate_publishable_key(state, project_id, Some(client_secret)).await
}

/// The value of cookie `name` in the request, if it has one.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn redirect_response(status: StatusCode, location: &str) -> Result<Response, ApiError> {
    let mut response = json(status, &json!({}));
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(location).map_err(|e| ApiError::Internal(Box::new(e)))?,
    );
    Ok(response)
}
