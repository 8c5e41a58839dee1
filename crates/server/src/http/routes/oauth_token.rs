//! `POST /auth/oauth/token`: the refresh grant the SDK uses to renew access
//! tokens, and the authorization-code grant that ends an OAuth sign-in.
//!
//! The request carries no project headers: the project is the `client_id`
//! (optionally `<project>#<branch>`) and the client secret is its publishable
//! key, or the public-client sentinel when the project does not require keys.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use crate::accounts;
use crate::auth;
use crate::db::projects::Project;
use crate::db::{sessions, users};
use crate::error::ApiError;
use crate::http::{Req, json};
use crate::known_errors as ke;
use crate::oauth::flow::{self, CodeRefusal};
use crate::state::AppState;
use crate::tokens;
use crate::validate::Fields;

/// The `expires_in` Stack Auth's OAuth library reports (its default lifetime, minus the elapsed second).
const OAUTH_EXPIRES_IN_SECS: u64 = 3599;

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
    let code = f.opt_string("code", None);
    let redirect_uri = f.opt_string("redirect_uri", None);
    let code_verifier = f.opt_string("code_verifier", None);
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
        auth::authenticate_oauth_client(&state, project_id, branch_ok, client_secret.as_deref())
            .await?;

    if grant_type == "authorization_code" {
        let grant = CodeGrant {
            code,
            redirect_uri,
            code_verifier,
        };
        return authorization_code(&state, &project, grant).await;
    }
    let Some(refresh_token) = refresh_token else {
        return Ok(oauth_error(
            "invalid_request",
            "Missing parameter: `refresh_token`",
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
    Ok(token_response(&json!({
        "access_token": access_token.expose(),
        "token_type": "Bearer",
        "expires_in": OAUTH_EXPIRES_IN_SECS,
        "scope": "legacy",
        "afterCallbackRedirectUrl": null,
        "after_callback_redirect_url": null,
    })))
}

/// The parameters of the authorization-code grant.
struct CodeGrant {
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
}

/// The authorization-code grant: the code from the OAuth callback becomes a
/// new session, in the answer shape of Stack Auth's OAuth library, or
/// `MULTI_FACTOR_AUTHENTICATION_REQUIRED` for a user with a TOTP secret.
async fn authorization_code(
    state: &AppState,
    project: &Project,
    grant: CodeGrant,
) -> Result<Response, ApiError> {
    let Some(code) = grant.code else {
        return Ok(oauth_error("invalid_request", "Missing parameter: `code`"));
    };
    let redeemed = flow::redeem_code(
        &state.pool,
        &project.id,
        &code,
        grant.redirect_uri.as_deref(),
        grant.code_verifier.as_deref(),
        chrono::Utc::now(),
    )
    .await?;
    let record = match redeemed {
        Ok(record) => record,
        Err(CodeRefusal::InvalidCode) => return Err(ke::invalid_authorization_code().into()),
        Err(CodeRefusal::RedirectUriMissing) => {
            return Ok(oauth_error(
                "invalid_request",
                "Invalid request: `redirect_uri` is not a valid URI",
            ));
        }
        Err(CodeRefusal::RedirectUriMismatch) => {
            return Err(ApiError::bad_request(
                "Invalid redirect URI. Your redirect URI must be the same as the one used to get the authorization code.",
            ));
        }
    };
    let user = users::find(&state.pool, &project.id, record.user_id)
        .await?
        .ok_or_else(ke::invalid_authorization_code)?;
    // As in Stack Auth, whose OAuth library spends the code before it saves
    // the tokens, where the second factor is asked for: the code is gone by
    // now, a handoff asks too, and the answer never calls the user new.
    accounts::require_second_factor(&state.pool, &project.id, &user, false).await?;
    // A cross-domain handoff continues the session it was issued from, while
    // that session lives; a sign-in starts a new one.
    let handed_over = match record.granted_session_id {
        Some(id) => sessions::refresh_token_of(&state.pool, &project.id, id, user.id)
            .await?
            .map(|token| (id, token)),
        None => None,
    };
    let (access_token, refresh_token) = match handed_over {
        Some((session_id, refresh_token)) => {
            let access = tokens::mint(state, project, &user, session_id, None).await?;
            (access, refresh_token)
        }
        None => {
            let pair = tokens::sign_in(
                state,
                project,
                &user,
                tokens::DEFAULT_SESSION_LIFETIME,
                false,
            )
            .await?;
            (pair.access_token, pair.refresh_token)
        }
    };
    let after = record.after_callback_redirect_url;
    Ok(token_response(&json!({
        "access_token": access_token.expose(),
        "token_type": "Bearer",
        "expires_in": OAUTH_EXPIRES_IN_SECS,
        "refresh_token": refresh_token.expose(),
        "scope": "legacy",
        "newUser": record.new_user,
        "is_new_user": record.new_user,
        "afterCallbackRedirectUrl": after,
        "after_callback_redirect_url": after,
    })))
}

/// An OAuth error answer (400) of the token endpoint.
fn oauth_error(error: &str, description: &str) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        &json!({ "error": error, "error_description": description }),
    )
}

/// A token answer, never cached.
fn token_response(body: &serde_json::Value) -> Response {
    let mut response = json(StatusCode::OK, body);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
