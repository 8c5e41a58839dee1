//! The server's side of the OpenID provider: the authorization URL a browser
//! is sent to, and the back-channel calls (code exchange, userinfo, refresh).
//!
//! Provider tokens pass through here; they are never logged, and errors name
//! the call and the status, never a token.

use std::time::Duration;

use serde::Deserialize;

/// Upper bound for one back-channel call. The provider is the local mock, so
/// a slower answer means it is down.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The scope every sign-in asks the provider for.
pub const BASE_SCOPE: &str = "openid offline_access";

/// The client secret of every mock client.
pub const MOCK_CLIENT_SECRET: &str = crate::mock_oauth::MOCK_CLIENT_SECRET;

/// What the provider returned for a code or a refresh token.
#[derive(Debug, Deserialize)]
pub struct TokenSet {
    /// The access token.
    pub access_token: String,
    /// The refresh token, when the provider gives one.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Lifetime of the access token in seconds.
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// Granted scopes (space-separated), when the provider says.
    #[serde(default)]
    pub scope: Option<String>,
}

/// Who signed in at the provider.
#[derive(Debug, Clone)]
pub struct UserInfo {
    /// The user's id at the provider.
    pub account_id: String,
    /// Their email, if the provider gave one.
    pub email: Option<String>,
    /// Whether the provider vouches for the email.
    pub email_verified: bool,
    /// Their name.
    pub display_name: Option<String>,
    /// Their picture.
    pub profile_image_url: Option<String>,
}

#[derive(Deserialize)]
struct RawUserInfo {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    picture: Option<String>,
}

/// Why a back-channel call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached or answered nonsense.
    #[error("the OAuth provider at {base} did not answer the {call} call properly: {detail}")]
    Unavailable {
        /// The provider's base URL.
        base: String,
        /// Which call.
        call: &'static str,
        /// What went wrong (no token in it).
        detail: String,
    },
    /// The provider refused (an OAuth error such as `invalid_grant`).
    #[error("the OAuth provider refused the {call} call: {error}")]
    Refused {
        /// Which call.
        call: &'static str,
        /// The OAuth `error` code.
        error: String,
        /// Its `error_description`.
        description: String,
    },
}

/// One provider client: the mock's client for a provider type.
#[derive(Debug, Clone)]
pub struct ProviderClient {
    /// The provider's base URL as browsers reach it.
    pub public_base: String,
    /// The provider's base URL as this server reaches it.
    pub back_channel_base: String,
    /// The client id (the provider type, e.g. `github`).
    pub client_id: String,
    /// Where the provider sends the browser back.
    pub redirect_uri: String,
}

impl ProviderClient {
    /// The URL that starts a sign-in at the provider, in the parameter order
    /// Stack Auth's OpenID client uses.
    pub fn authorization_url(
        &self,
        code_challenge: &str,
        state: &str,
        extra_scope: Option<&str>,
    ) -> String {
        let scope = match extra_scope.map(str::trim).filter(|s| !s.is_empty()) {
            Some(extra) => format!("{BASE_SCOPE} {extra}"),
            None => BASE_SCOPE.to_owned(),
        };
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("scope", &scope)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("code_challenge_method", "S256")
            .append_pair("code_challenge", code_challenge)
            .append_pair("state", state)
            .append_pair("access_type", "offline")
            .append_pair("prompt", "consent")
            .finish();
        format!("{}/auth?{query}", self.public_base)
    }

    /// Exchanges the provider's authorization code.
    ///
    /// # Errors
    /// [`ProviderError`].
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
    ) -> Result<TokenSet, ProviderError> {
        self.token_call(
            "token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
                ("code_verifier", code_verifier),
            ],
        )
        .await
    }

    /// Gets a new access token with a refresh token.
    ///
    /// # Errors
    /// [`ProviderError`].
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, ProviderError> {
        self.token_call(
            "refresh",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    async fn token_call(
        &self,
        call: &'static str,
        params: &[(&str, &str)],
    ) -> Result<TokenSet, ProviderError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().copied())
            .append_pair("client_id", &self.client_id)
            .append_pair("client_secret", MOCK_CLIENT_SECRET)
            .finish();
        let response = self
            .http()?
            .post(format!("{}/token", self.back_channel_base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| self.unavailable(call, &e))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| self.unavailable(call, &e))?;
        if !status.is_success() {
            return Err(refused(call, &body, status.as_u16()));
        }
        serde_json::from_value(body).map_err(|e| self.unavailable(call, &e))
    }

    /// Reads who the access token belongs to, as Stack Auth's mock provider
    /// maps it: the account id and the email are the subject, the email is
    /// verified.
    ///
    /// # Errors
    /// [`ProviderError`]; `Refused` with `invalid_token` for a token the
    /// provider no longer accepts.
    pub async fn user_info(&self, access_token: &str) -> Result<UserInfo, ProviderError> {
        let call = "userinfo";
        let response = self
            .http()?
            .get(format!("{}/me", self.back_channel_base))
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| self.unavailable(call, &e))?;
        let status = response.status();
        if status.as_u16() == 401 {
            return Err(ProviderError::Refused {
                call,
                error: "invalid_token".into(),
                description: "The access token is not valid.".into(),
            });
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| self.unavailable(call, &e))?;
        if !status.is_success() {
            return Err(refused(call, &body, status.as_u16()));
        }
        let raw: RawUserInfo =
            serde_json::from_value(body).map_err(|e| self.unavailable(call, &e))?;
        Ok(UserInfo {
            email: Some(raw.sub.clone()),
            account_id: raw.sub,
            email_verified: true,
            display_name: raw.name.filter(|n| !n.trim().is_empty()),
            profile_image_url: raw.picture.filter(|p| !p.trim().is_empty()),
        })
    }

    fn http(&self) -> Result<reqwest::Client, ProviderError> {
        reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| self.unavailable("client", &e))
    }

    fn unavailable(&self, call: &'static str, e: &dyn std::fmt::Display) -> ProviderError {
        ProviderError::Unavailable {
            base: self.back_channel_base.clone(),
            call,
            detail: e.to_string(),
        }
    }
}

fn refused(call: &'static str, body: &serde_json::Value, status: u16) -> ProviderError {
    let text = |k: &str| {
        body.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    ProviderError::Refused {
        call,
        error: text("error").unwrap_or_else(|| format!("http_{status}")),
        description: text("error_description").unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorization_url_has_stack_auths_parameters_in_order() {
        let client = ProviderClient {
            public_base: "http://localhost:8114".into(),
            back_channel_base: "http://127.0.0.1:8114".into(),
            client_id: "spotify".into(),
            redirect_uri: "http://localhost:8102/api/v1/auth/oauth/callback/spotify".into(),
        };
        let url = client.authorization_url("CH", "ST", None);
        assert_eq!(
            url,
            "http://localhost:8114/auth?client_id=spotify&scope=openid+offline_access&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A8102%2Fapi%2Fv1%2Fauth%2Foauth%2Fcallback%2Fspotify&code_challenge_method=S256&code_challenge=CH&state=ST&access_type=offline&prompt=consent"
        );
        let extra = client.authorization_url("CH", "ST", Some("repo user"));
        assert!(extra.contains("scope=openid+offline_access+repo+user&"));
    }
}
