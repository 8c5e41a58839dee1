//! The HTTP surface of the API: the router and the middleware that adds CORS,
//! request ids, `cache-control` and the error-status override.
//!
//! Handlers live in [`routes`], one file per resource; they take a parsed
//! [`Req`] (see [`request`]), call the domain modules (or a plain read in
//! [`crate::db`]) and render JSON. Domain errors become responses in one
//! place, [`error`]. This layer only translates: no SQL and no transaction
//! lives here.

pub mod error;
pub mod request;
pub mod routes;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};

use serde_json::Value;

use crate::error::ApiError;
use crate::host::AllowedHosts;
use crate::random;
use crate::state::AppState;

use error::InternalErrorDetail;
pub use error::{json, list_response, success};
pub use request::{BODY_READ_TIMEOUT, MAX_BODY_BYTES, Req, header};
use routes::api_keys::{self, TeamKeys, UserKeys};
use routes::permission_definitions::{self as definitions, ProjectDefinitions, TeamDefinitions};
use routes::permission_grants::{self as grants, ProjectPermissions, TeamPermissions};

const ALLOWED_HEADERS: &str = "content-type, authorization, x-stack-project-id, x-stack-branch-id, x-stack-override-error-status, x-stack-random-nonce, x-stack-client-version, x-stack-disable-artificial-development-delay, x-stack-access-type, x-stack-publishable-client-key, x-stack-secret-server-key, x-stack-super-secret-admin-key, x-stack-admin-access-token, x-stack-refresh-token, x-stack-access-token, x-stack-allow-anonymous-user, baggage, sentry-trace, x-vercel-protection-bypass, ngrok-skip-browser-warning, x-hexclave-project-id, x-hexclave-branch-id, x-hexclave-override-error-status, x-hexclave-random-nonce, x-hexclave-client-version, x-hexclave-access-type, x-hexclave-publishable-client-key, x-hexclave-secret-server-key, x-hexclave-super-secret-admin-key, x-hexclave-admin-access-token, x-hexclave-refresh-token, x-hexclave-access-token, x-hexclave-allow-anonymous-user";

/// The API as served: [`router`] behind the `Host` check of `hosts`.
pub fn app(state: AppState, hosts: AllowedHosts) -> Router {
    hosts.guard_router(router(state))
}

/// Builds the whole application.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/", get(routes::root::get))
        .route("/projects/current", get(routes::projects::current))
        .route(
            "/projects/{project_id}/.well-known/jwks.json",
            get(routes::jwks::get),
        )
        .route("/auth/password/sign-up", post(routes::password::sign_up))
        .route("/auth/password/sign-in", post(routes::password::sign_in))
        .route("/auth/password/update", post(routes::password::update))
        .route("/auth/password/set", post(routes::password::set))
        .route(
            "/auth/password/send-reset-code",
            post(routes::password_reset::send_reset_code),
        )
        .route("/auth/password/reset", post(routes::password_reset::reset))
        .route(
            "/auth/password/reset/check-code",
            post(routes::password_reset::reset_check_code),
        )
        .route(
            "/auth/otp/send-sign-in-code",
            post(routes::otp::send_sign_in_code),
        )
        .route("/auth/otp/sign-in", post(routes::otp::sign_in))
        .route("/auth/mfa/sign-in", post(routes::mfa::sign_in))
        .route(
            "/analytics/events/batch",
            post(routes::analytics::upload_batch),
        )
        .route(
            "/auth/otp/sign-in/check-code",
            post(routes::otp::sign_in_check_code),
        )
        .route(
            "/contact-channels",
            get(routes::contact_channels::list).post(routes::contact_channels::create),
        )
        .route(
            "/contact-channels/send-verification-code",
            post(routes::contact_channel_verification::send_code_for_primary),
        )
        .route(
            "/contact-channels/verify",
            post(routes::contact_channel_verification::verify),
        )
        .route(
            "/contact-channels/verify/check-code",
            post(routes::contact_channel_verification::verify_check_code),
        )
        .route(
            "/contact-channels/{user_id}/{contact_channel_id}",
            get(routes::contact_channels::read)
                .patch(routes::contact_channels::update)
                .delete(routes::contact_channels::delete),
        )
        .route(
            "/contact-channels/{user_id}/{contact_channel_id}/send-verification-code",
            post(routes::contact_channel_verification::send_code),
        )
        .route("/auth/anonymous/sign-up", post(routes::anonymous::sign_up))
        .route("/auth/oauth/token", post(routes::oauth_token::post))
        .route(
            "/auth/oauth/authorize/{provider_id}",
            get(routes::oauth::authorize),
        )
        .route(
            "/auth/oauth/callback/apple/native",
            post(routes::oauth_apple_native::sign_in),
        )
        .route(
            "/auth/oauth/cross-domain/authorize",
            post(routes::oauth_cross_domain::authorize),
        )
        .route(
            "/auth/oauth/callback/{provider_id}",
            get(routes::oauth::callback).post(routes::oauth::callback),
        )
        .route(
            "/auth/oauth/connected-accounts/{provider_id}/access-token",
            post(routes::connected_accounts::legacy_access_token),
        )
        .route(
            "/oauth-providers",
            get(routes::oauth_providers::list).post(routes::oauth_providers::create),
        )
        .route(
            "/oauth-providers/{user_id}/{provider_id}",
            get(routes::oauth_providers::read)
                .patch(routes::oauth_providers::update)
                .delete(routes::oauth_providers::delete),
        )
        .route(
            "/connected-accounts/{user_id}",
            get(routes::connected_accounts::list),
        )
        .route(
            "/connected-accounts/{user_id}/{provider_id}/access-token",
            post(routes::connected_accounts::provider_access_token),
        )
        .route(
            "/connected-accounts/{user_id}/{provider_id}/{provider_account_id}/access-token",
            post(routes::connected_accounts::account_access_token),
        )
        .route(
            "/auth/sessions",
            get(routes::sessions::list).post(routes::sessions::create),
        )
        .route("/auth/sessions/current", delete(routes::sessions::sign_out))
        .route(
            "/auth/sessions/current/refresh",
            post(routes::sessions::refresh),
        )
        .route("/auth/sessions/{id}", delete(routes::sessions::delete))
        .route(
            "/users",
            get(routes::users::list).post(routes::users::create),
        )
        .route(
            "/users/{user_id}",
            get(routes::users::read)
                .patch(routes::users::update)
                .delete(routes::users::delete),
        )
        .route(
            "/internal/local-emulator/project",
            post(routes::local_emulator::post),
        )
        .route(
            "/internal/projects",
            get(routes::internal_projects::list).post(routes::internal_projects::create),
        )
        .route(
            "/internal/projects/current",
            get(routes::internal_projects::read_current)
                .patch(routes::internal_projects::update_current)
                .delete(routes::internal_projects::delete_current),
        )
        .route("/team-invitations", get(routes::team_invitations::list))
        .route(
            "/team-invitations/send-code",
            post(routes::team_invitations::send_code),
        )
        .route(
            "/team-invitations/accept",
            post(routes::team_invitations::accept),
        )
        .route(
            "/team-invitations/accept/details",
            post(routes::team_invitations::accept_details),
        )
        .route(
            "/team-invitations/accept/check-code",
            post(routes::team_invitations::accept_check_code),
        )
        .route(
            "/team-invitations/{id}",
            delete(routes::team_invitations::delete),
        )
        .route(
            "/team-invitations/{id}/accept",
            post(routes::team_invitations::accept_by_id),
        )
        .route(
            "/user-api-keys",
            get(api_keys::list::<UserKeys>).post(api_keys::create::<UserKeys>),
        )
        .route("/user-api-keys/check", post(api_keys::check::<UserKeys>))
        .route(
            "/user-api-keys/{api_key_id}",
            get(api_keys::read::<UserKeys>).patch(api_keys::update::<UserKeys>),
        )
        .route(
            "/team-api-keys",
            get(api_keys::list::<TeamKeys>).post(api_keys::create::<TeamKeys>),
        )
        .route("/team-api-keys/check", post(api_keys::check::<TeamKeys>))
        .route(
            "/team-api-keys/{api_key_id}",
            get(api_keys::read::<TeamKeys>).patch(api_keys::update::<TeamKeys>),
        )
        .route(
            "/team-permission-definitions",
            get(definitions::list::<TeamDefinitions>).post(definitions::create::<TeamDefinitions>),
        )
        .route(
            "/team-permission-definitions/{permission_id}",
            patch(definitions::update::<TeamDefinitions>)
                .delete(definitions::delete::<TeamDefinitions>),
        )
        .route(
            "/project-permission-definitions",
            get(definitions::list::<ProjectDefinitions>)
                .post(definitions::create::<ProjectDefinitions>),
        )
        .route(
            "/project-permission-definitions/{permission_id}",
            patch(definitions::update::<ProjectDefinitions>)
                .delete(definitions::delete::<ProjectDefinitions>),
        )
        .route("/team-permissions", get(grants::list::<TeamPermissions>))
        .route(
            "/team-permissions/{team_id}/{user_id}/{permission_id}",
            post(grants::grant::<TeamPermissions>).delete(grants::revoke::<TeamPermissions>),
        )
        .route(
            "/project-permissions",
            get(grants::list::<ProjectPermissions>),
        )
        .route(
            "/project-permissions/{user_id}/{permission_id}",
            post(grants::grant::<ProjectPermissions>).delete(grants::revoke::<ProjectPermissions>),
        )
        .route(
            "/teams",
            get(routes::teams::list).post(routes::teams::create),
        )
        .route(
            "/teams/{team_id}",
            get(routes::teams::read)
                .patch(routes::teams::update)
                .delete(routes::teams::delete),
        )
        .route(
            "/team-memberships/{team_id}/{user_id}",
            post(routes::team_memberships::create).delete(routes::team_memberships::delete),
        )
        .route(
            "/team-member-profiles",
            get(routes::team_member_profiles::list),
        )
        .route(
            "/team-member-profiles/{team_id}/{user_id}",
            get(routes::team_member_profiles::read).patch(routes::team_member_profiles::update),
        )
        .route("/internal/config", get(routes::config::rendered))
        .route(
            "/internal/config/source",
            get(routes::config::read_source_route).delete(routes::config::unlink_source),
        )
        .route(
            "/internal/config/override/{level}",
            get(routes::config::read_override)
                .patch(routes::config::merge_override)
                .put(routes::config::replace_override),
        )
        .route(
            "/internal/config/override/{level}/reset-keys",
            post(routes::config::reset_keys),
        )
        .route(
            "/internal/api-keys",
            get(routes::internal_api_keys::list).post(routes::internal_api_keys::create),
        )
        .route(
            "/internal/api-keys/{id}",
            get(routes::internal_api_keys::read).patch(routes::internal_api_keys::update),
        )
        .fallback(not_found);
    Router::new()
        .route("/health", get(routes::health::get))
        .nest("/api/v1", api.clone())
        .nest("/api/latest", api)
        .fallback(not_found)
        .layer(middleware::from_fn(api_middleware))
        .with_state(state)
}

async fn not_found(req: Req) -> Response {
    let host = req
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let query: String = if req.query.is_empty() {
        String::new()
    } else {
        let encoded: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&req.query)
            .finish();
        format!("?{encoded}")
    };
    let text = format!(
        "404 — this page does not exist in Stack Auth's API.\n\nPlease see the API documentation at https://docs.stack-auth.com, or visit the Stack Auth dashboard at https://app.stack-auth.com.\n\nURL: http://{host}{}{query}",
        req.line.path
    );
    ApiError::not_found(text).into_response()
}

/// Re-indents a JSON success body for a browser (Stack Auth pretty-prints when
/// `Accept` has `text/html`); other bodies pass through.
async fn pretty_json(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let text = serde_json::from_slice::<Value>(&bytes)
        .and_then(|v| serde_json::to_vec_pretty(&v))
        .unwrap_or_else(|_| bytes.to_vec());
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}

fn preflight() -> Response {
    let mut response = StatusCode::OK.into_response();
    add_cors(response.headers_mut());
    response
}

fn add_cors(headers: &mut HeaderMap) {
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    headers.insert("access-control-max-age", HeaderValue::from_static("86400"));
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static(
            "content-type, x-stack-actual-status, x-stack-known-error, x-hexclave-actual-status, x-hexclave-known-error",
        ),
    );
    headers.insert(header::VARY, HeaderValue::from_static(ALLOWED_HEADERS));
}

async fn api_middleware(req: Request, next: Next) -> Response {
    if req.method() == Method::OPTIONS {
        return preflight();
    }
    let allowed = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    if !allowed.contains(req.method()) {
        let mut response =
            error::text_response(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        add_cors(response.headers_mut());
        return response;
    }
    let override_status = req.headers().contains_key("x-stack-override-error-status")
        || req
            .headers()
            .contains_key("x-hexclave-override-error-status");
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let request_id = random::base32_string(20).unwrap_or_default();
    let started = std::time::Instant::now();

    let mut response = next.run(req).await;

    let status = response.status();
    if let Some(detail) = response.extensions().get::<InternalErrorDetail>() {
        tracing::error!(%request_id, %method, %path, status = status.as_u16(), detail = %detail.0, "request failed");
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            let text = format!(
                "Something went wrong. Please make sure the data you entered is correct.\n\nRequest ID: {request_id}"
            );
            response = error::text_response(status, text);
        }
    } else {
        // One line per request, as Stack Auth's dev server prints, so that
        // `stack-emulator logs -f` shows why an app's request failed. Only the
        // path: query strings and bodies may hold codes and tokens.
        let known_error = response
            .headers()
            .get("x-stack-known-error")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info!(
            "{method} {path} {} {:.1} ms {known_error}",
            status.as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response = error::text_response(status, "Method not allowed");
    }
    if wants_html && response.status().is_success() {
        response = pretty_json(response).await;
    }
    let status = response.status();
    let headers = response.headers_mut();
    if override_status && status.is_client_error() {
        headers.insert("x-stack-actual-status", HeaderValue::from(status.as_u16()));
        headers.insert(
            "x-hexclave-actual-status",
            HeaderValue::from(status.as_u16()),
        );
        *response.status_mut() = StatusCode::OK;
    }
    let headers = response.headers_mut();
    add_cors(headers);
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-stack-request-id", id);
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store, max-age=0"));
    response
}
