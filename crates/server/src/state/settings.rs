//! The fixed settings of a serving process, from its command line; they do not
//! change while it runs.

use std::time::Duration;

use crate::mail::outbound::SmtpUrl;

/// Fixed settings of a serving process.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// The public API base URL used when the database holds none.
    pub default_public_api_url: String,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Whether the local-emulator routes are enabled.
    pub local_emulator: bool,
    /// The mail sink's listeners and where outbound mail goes.
    pub mail: MailSettings,
    /// The OpenID provider that answers for every OAuth provider.
    pub oauth: OAuthSettings,
    /// Address of the dashboard's listener (`None`: no dashboard).
    pub dashboard_listen: Option<std::net::SocketAddr>,
}

/// Where OAuth sign-in goes. The emulator has no internet: every provider,
/// shared or with the app's own client id, is answered by the mock OpenID
/// provider ([`crate::mock_oauth`]), served by this process or another.
#[derive(Debug, Clone, Default)]
pub struct OAuthSettings {
    /// Address of this process's mock provider listener (`None`: none here).
    pub mock_listen: Option<std::net::SocketAddr>,
    /// The provider's base URL as browsers reach it (its issuer); `None`:
    /// `http://localhost:<port of mock_listen>`. A rotation's
    /// `public_urls.oauth` replaces it while the server runs.
    pub public_url: Option<String>,
    /// The provider's base URL as this server reaches it for the token and
    /// userinfo calls; `None`: the own listener over loopback, else the
    /// public URL.
    pub provider_url: Option<String>,
}

impl OAuthSettings {
    /// The public URL of the provider browsers are sent to (the issuer): the
    /// one the last rotation named, else `public_url`.
    pub fn issuer(&self, rt: &super::Runtime) -> Option<String> {
        rt.public_oauth_url
            .clone()
            .or_else(|| self.public_url.clone())
    }

    /// Where browsers reach the provider: the issuer, else `provider_url` (a
    /// provider this process does not serve).
    pub fn browser_url(&self, rt: &super::Runtime) -> Option<String> {
        self.issuer(rt).or_else(|| self.provider_url.clone())
    }
}

/// Mail settings of a serving process.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// Address of the sink's SMTP listener (`None`: no SMTP listener).
    pub smtp_listen: Option<std::net::SocketAddr>,
    /// Address of the sink's HTTP listener (`None`: no web page or JSON API).
    pub http_listen: Option<std::net::SocketAddr>,
    /// Where outbound mail goes; `None` sends to the own SMTP listener (and, without one, nowhere).
    pub smtp_url: Option<SmtpUrl>,
    /// The sender address of every mail.
    pub from_address: String,
    /// The public base URL of the sink's web page, for log lines and links.
    pub public_url: Option<String>,
}

/// The sender address used when none is configured.
pub const DEFAULT_FROM_ADDRESS: &str = "noreply@stack-emulator.localhost";

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_listen: None,
            http_listen: None,
            smtp_url: None,
            from_address: DEFAULT_FROM_ADDRESS.to_owned(),
            public_url: None,
        }
    }
}
