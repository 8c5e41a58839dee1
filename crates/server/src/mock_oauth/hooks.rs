//! The Node mock's test hooks, with its paths, bodies and answers: revoking
//! tokens behind the client's back, arming an error for the next refresh, and
//! the Turnstile `siteverify` stub.
//!
//! The hooks take JSON or form bodies. They need no client authentication
//! (the Node mock's need none either); the access token they name is the
//! capability.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::MockOAuth;
use super::error::OAuthError;
use super::params::{Accept, Params};
use super::store::Store;

/// An error the next refresh of a grant answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SimulatedError {
    /// `invalid_grant`.
    InvalidGrant,
    /// `access_denied`.
    AccessDenied,
    /// `consent_required`.
    ConsentRequired,
    /// `invalid_token`.
    InvalidToken,
    /// `unauthorized_client`.
    UnauthorizedClient,
}

impl SimulatedError {
    const ALL: [Self; 5] = [
        Self::InvalidGrant,
        Self::AccessDenied,
        Self::ConsentRequired,
        Self::InvalidToken,
        Self::UnauthorizedClient,
    ];

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == name)
    }

    fn code(self) -> &'static str {
        match self {
            Self::InvalidGrant => "invalid_grant",
            Self::AccessDenied => "access_denied",
            Self::ConsentRequired => "consent_required",
            Self::InvalidToken => "invalid_token",
            Self::UnauthorizedClient => "unauthorized_client",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::InvalidGrant => "The refresh token is invalid or expired",
            Self::AccessDenied => "The resource owner denied the request",
            Self::ConsentRequired => "User consent is required",
            Self::InvalidToken => "The token is invalid",
            Self::UnauthorizedClient => "The client is not authorized",
        }
    }

    /// The 400 answer of the refresh.
    pub(super) fn into_error(self) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, self.code(), self.description())
    }
}

/// The hook's body, or its error answer.
async fn hook_params(headers: &HeaderMap, body: Body) -> Result<Params, Response> {
    Params::from_body(headers, body, Accept::FormOrJson)
        .await
        .map_err(|e| OAuthError::from(e).into_response())
}

/// The body of a hook that names an access token, and that token; or the
/// answer for a bad body or a missing token.
async fn token_hook(headers: &HeaderMap, body: Body) -> Result<(Params, String), Response> {
    let params = hook_params(headers, body).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("Missing token parameter").into_response())?
        .to_owned();
    Ok((params, token))
}

/// The grant of a live access token, or the answer for an unknown one.
fn grant_of(store: &Store, token: &str, now: Instant) -> Result<String, OAuthError> {
    store
        .access_token(token, now)
        .map(|(a, _)| a.grant.clone())
        .ok_or_else(|| {
            OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_token",
                "Access token not found",
            )
        })
}

fn success(message: String) -> Response {
    Json(json!({ "success": true, "message": message })).into_response()
}

/// `POST /revoke-access-token {token}`: that access token stops working.
pub(super) async fn revoke_access_token(
    State(mock): State<MockOAuth>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (_, token) = match token_hook(&headers, body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    mock.store().access_tokens.remove(&token, Instant::now());
    success("Access token has been revoked".into())
}

/// `POST /revoke-refresh-token {token: ACCESS_TOKEN}`: revokes the access
/// token's grant, so its refresh tokens (and access tokens) stop working.
pub(super) async fn revoke_refresh_token(
    State(mock): State<MockOAuth>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (_, token) = match token_hook(&headers, body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let mut store = mock.store();
    let now = Instant::now();
    let grant = match grant_of(&store, &token, now) {
        Ok(grant) => grant,
        Err(e) => return e.into_response(),
    };
    store.grants.remove(&grant, now);
    store.access_tokens.remove(&token, now);
    success("Grant and associated refresh tokens have been revoked".into())
}

/// `POST /simulate-refresh-error {token: ACCESS_TOKEN, error_type}`: the next
/// refresh of the token's grant answers with that error.
pub(super) async fn simulate_refresh_error(
    State(mock): State<MockOAuth>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (params, token) = match token_hook(&headers, body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let mut store = mock.store();
    let now = Instant::now();
    let grant = match grant_of(&store, &token, now) {
        Ok(grant) => grant,
        Err(e) => return e.into_response(),
    };
    let error_type = params.get("error_type").unwrap_or_default();
    let Some(simulated) = SimulatedError::parse(error_type) else {
        let valid: Vec<&str> = SimulatedError::ALL.iter().map(|e| e.code()).collect();
        return OAuthError::invalid_request(format!(
            "Invalid error_type. Valid types: {}",
            valid.join(", ")
        ))
        .into_response();
    };
    if let Some(grant) = store.grants.get_mut(&grant, now) {
        grant.simulated_error = Some(simulated);
    }
    success(format!(
        "Next refresh attempt for this token will return {error_type} error"
    ))
}

/// `POST /turnstile/siteverify`: Cloudflare's verification API, answered for
/// the e2e suite's `mock-turnstile-*` tokens; any other token passes.
pub(super) async fn turnstile(headers: HeaderMap, body: Body) -> Response {
    let params = match hook_params(&headers, body).await {
        Ok(params) => params,
        Err(response) => return response,
    };
    let token = params.get("response").map(str::trim).unwrap_or_default();
    let (status, answer) = siteverify(token);
    (status, Json(answer)).into_response()
}

fn siteverify(token: &str) -> (StatusCode, serde_json::Value) {
    if token.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            json!({ "success": false, "error-codes": ["missing-input-response"] }),
        );
    }
    match token {
        "mock-turnstile-error" => {
            return (StatusCode::SERVICE_UNAVAILABLE, json!({ "success": false }));
        }
        "mock-turnstile-invalid" => return (StatusCode::OK, json!({ "success": false })),
        _ => {}
    }
    let action = ["mock-turnstile-ok:", "mock-turnstile-visible-ok:"]
        .into_iter()
        .find_map(|prefix| token.strip_prefix(prefix));
    match action {
        Some(action) => (StatusCode::OK, json!({ "success": true, "action": action })),
        // Real tokens of Cloudflare's development site keys.
        None => (StatusCode::OK, json!({ "success": true })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turnstile_answers_follow_the_node_mock() {
        assert_eq!(siteverify("").0, StatusCode::BAD_REQUEST);
        assert_eq!(
            siteverify("mock-turnstile-error"),
            (StatusCode::SERVICE_UNAVAILABLE, json!({"success": false}))
        );
        assert_eq!(
            siteverify("mock-turnstile-invalid"),
            (StatusCode::OK, json!({"success": false}))
        );
        assert_eq!(
            siteverify("mock-turnstile-visible-ok:sign_up_with_credential").1,
            json!({"success": true, "action": "sign_up_with_credential"})
        );
        assert_eq!(siteverify("0.abc").1, json!({"success": true}));
    }

    #[test]
    fn simulated_errors_round_trip_their_names() {
        for e in SimulatedError::ALL {
            assert_eq!(SimulatedError::parse(e.code()), Some(e));
        }
        assert_eq!(SimulatedError::parse("server_error"), None);
    }
}
