//! OAuth sign-in as Stack Auth does it: the app sends the browser to
//! `/auth/oauth/authorize/{provider}`, the server sends it on to the
//! provider, the provider sends it back to `/auth/oauth/callback/{provider}`,
//! and the server answers the app's redirect URI with an authorization code
//! that the app exchanges at `/auth/oauth/token`.
//!
//! The emulator runs offline, so the provider is always the mock OpenID
//! provider ([`crate::mock_oauth`]): shared providers are answered by it as
//! in Stack Auth's development setup, and so are providers configured with an
//! app's own client id and secret (the credentials are kept, not used).
//!
//! - [`client`]: the authorization URL and the back-channel calls;
//! - [`sign_in`]: who the provider's user becomes (existing account, merge by
//!   email, new user, link to the signed-in user);
//! - [`flow`]: the sign-in in progress and the authorization codes.

pub mod client;
pub mod connected;
pub mod flow;
pub mod sign_in;

use serde_json::Value;

use crate::db::projects::Project;
use crate::error::ApiError;
use crate::state::AppState;

pub use client::{ProviderClient, ProviderError, TokenSet, UserInfo};

/// The provider types Stack Auth knows (`auth.oauth.providers.<id>.type`).
pub const PROVIDER_TYPES: [&str; 12] = [
    "google",
    "github",
    "microsoft",
    "spotify",
    "facebook",
    "discord",
    "gitlab",
    "bitbucket",
    "linkedin",
    "apple",
    "x",
    "twitch",
];

/// One entry of a project's `auth.oauth.providers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// Its key in the config (the id in URLs and on OAuth accounts).
    pub id: String,
    /// The provider type, e.g. `github`.
    pub kind: String,
    /// Whether it uses Stack Auth's shared development keys.
    pub is_shared: bool,
    /// Whether users may sign in with it.
    pub allow_sign_in: bool,
    /// Whether apps may use its tokens (connected accounts).
    pub allow_connected_accounts: bool,
}

/// The provider `id` of the project's config, if there is one with a type.
pub fn provider(project: &Project, id: &str) -> Option<ProviderConfig> {
    let p = project
        .rendered
        .get("auth")?
        .get("oauth")?
        .get("providers")?
        .get(id)?;
    let flag = |k: &str, default: bool| p.get(k).and_then(Value::as_bool).unwrap_or(default);
    Some(ProviderConfig {
        id: id.to_owned(),
        kind: p.get("type").and_then(Value::as_str)?.to_owned(),
        is_shared: flag("isShared", true),
        allow_sign_in: flag("allowSignIn", false),
        allow_connected_accounts: flag("allowConnectedAccounts", false),
    })
}

/// The client of `provider` for this server: the mock's client for its type,
/// reached at the URLs the server is configured (or rotated) with.
///
/// # Errors
/// No provider is configured (the server runs without a mock and without
/// `--oauth-provider-url`); runtime settings cannot be loaded.
pub async fn client_for(
    state: &AppState,
    provider: &ProviderConfig,
) -> Result<ProviderClient, ApiError> {
    let rt = state.runtime().await?;
    let oauth = &state.settings.oauth;
    let public = oauth.browser_url(&rt).ok_or_else(|| {
            ApiError::status(
                503,
                "OAuth sign-in is not available: this server runs without the mock OAuth provider. Start stack-server with --mock-oauth-listen, or point --oauth-provider-url at one.",
            )
        })?;
    let public = public.trim_end_matches('/').to_owned();
    let back_channel = oauth
        .provider_url
        .clone()
        .map_or_else(|| public.clone(), |u| u.trim_end_matches('/').to_owned());
    Ok(ProviderClient {
        public_base: public,
        back_channel_base: back_channel,
        client_id: provider.kind.clone(),
        redirect_uri: format!(
            "{}/api/v1/auth/oauth/callback/{}",
            rt.public_api_url, provider.id
        ),
    })
}

/// Splits an OAuth `client_id` (`<project>` or `<project>#<branch>`).
pub fn project_and_branch(client_id: &str) -> (&str, &str) {
    client_id.split_once('#').unwrap_or((client_id, "main"))
}
