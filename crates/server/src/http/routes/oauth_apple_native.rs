//! `POST /auth/oauth/callback/apple/native`: Sign in with Apple from an iOS
//! or macOS app, with the identity token Apple gave the app.
//!
//! Stack Auth verifies the token against Apple's published keys. The
//! emulator has no internet and so no Apple keys: it checks the request and
//! the project's Apple provider as Stack Auth does, and then answers
//! `INVALID_APPLE_CREDENTIALS` for every token, which is what an app sees for
//! a token that cannot be verified. Native Apple sign-in needs the hosted
//! service; web sign-in with Apple goes through the mock OAuth provider.

use axum::extract::State;
use axum::response::Response;
use serde_json::Value;

use crate::auth::ANY;
use crate::error::ApiError;
use crate::http::Req;
use crate::known_errors as ke;
use crate::oauth;
use crate::state::AppState;
use crate::validate::Fields;

/// The config key and type of the Apple provider.
const APPLE: &str = "apple";

/// Checks the request and the project's Apple provider, then refuses the token.
///
/// # Errors
/// Schema errors, `OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED`,
/// `APPLE_BUNDLE_ID_NOT_CONFIGURED`, `INVALID_APPLE_CREDENTIALS`.
pub async fn sign_in(State(_state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    f.req_string("id_token", None);
    f.finish(&req.line)?;
    let provider = oauth::provider(&auth.project, APPLE)
        .filter(|p| p.allow_sign_in)
        .ok_or_else(ke::oauth_provider_not_found_or_not_enabled)?;
    let has_bundle_id = auth
        .project
        .rendered
        .get("auth")
        .and_then(|a| a.get("oauth"))
        .and_then(|o| o.get("providers"))
        .and_then(|p| p.get(&provider.id))
        .and_then(|p| p.get("appleBundles"))
        .and_then(Value::as_object)
        .is_some_and(|bundles| {
            bundles.values().any(|b| {
                b.get("bundleId")
                    .and_then(Value::as_str)
                    .is_some_and(|id| !id.is_empty())
            })
        });
    if !has_bundle_id {
        return Err(ke::apple_bundle_id_not_configured().into());
    }
    Err(ke::invalid_apple_credentials().into())
}
