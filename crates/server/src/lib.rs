//! stack-server: a Stack Auth–compatible REST API on PostgreSQL.
//!
//! The crate has four layers, and each depends only on the ones below it:
//!
//! - **HTTP** ([`http`]): the router, the per-request extractor that parses the
//!   body and the auth headers, one file per resource under [`http::routes`],
//!   and [`http::error`], the one place that maps domain errors to Stack
//!   Auth's known-error responses. It only translates; [`serve`], [`host`] and
//!   [`mail::web`] are the other modules that speak HTTP (the listeners).
//! - **Domain** ([`auth`], [`accounts`], [`tokens`], [`verification`],
//!   [`password`], [`validate`], [`known_errors`], [`error`], …): Stack Auth's
//!   rules. It returns [`error::ApiError`], whose statuses are plain numbers,
//!   and knows nothing of HTTP.
//! - **Storage** ([`db`]): every SQL statement, one module per table group,
//!   static statements with binds.
//! - **Operations** ([`seed`], [`rotate`], [`inbox`]): installing, rotating
//!   secrets, and taking requests from the emulator's inbox, on top of the
//!   domain and storage layers. [`state`] holds what a running server shares:
//!   fixed settings, runtime settings and the auth cache.
//!
//! The server keeps no state outside PostgreSQL: signing keys and public URLs
//! are settings in the database, reloaded on NOTIFY, so any number of servers can
//! share one database and a secret rotation reaches all of them without a
//! restart. The local emulator runs it inside its VM; tests and developers run it
//! on the host. Next to the API it runs a mail sink (an SMTP listener and a web
//! page with a JSON API) that captures every mail the auth flows send, a mock
//! OpenID provider for OAuth sign-in ([`mock_oauth`]), and the dashboard
//! ([`dashboard`]), each on a listener of its own.

pub mod accounts;
pub mod api_keys;
pub mod auth;
pub mod config;
pub mod contact_channels;
pub mod dashboard;
pub mod db;
pub mod error;
pub mod host;
pub mod http;
pub mod inbox;
pub mod jwt;
pub mod known_errors;
pub mod local_emulator;
pub mod mail;
pub mod mock_oauth;
pub mod oauth;
pub mod password;
pub mod permissions;
pub mod project_config;
pub mod random;
pub mod redirect;
pub mod rotate;
pub mod secret;
pub mod seed;
pub mod serve;
pub mod state;
pub mod team_invitations;
pub mod teams;
pub mod tokens;
pub mod user_view;
pub mod validate;
pub mod verification;

use std::net::SocketAddr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::TcpListener;

use crate::host::AllowedHosts;
use crate::mail::outbound::{Delivery, Mailer, SmtpUrl};
use crate::serve::ConnectionLimits;
use crate::state::{AppState, ServeSettings};

/// How long a request waits for a pooled connection before it fails with 503.
/// Short, so that a dead database gives a quick, clear answer instead of a hang.
pub const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds a lazily connecting pool: the server starts, and recovers, whether or
/// not PostgreSQL is up yet.
pub fn connect_lazy(options: PgConnectOptions, max_connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
        .connect_lazy_with(options)
}

/// A bound, ready-to-run server: the API listener and, when configured, the
/// mail sink's SMTP and HTTP listeners, the mock OAuth provider's listener and
/// the dashboard's.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    smtp: Option<TcpListener>,
    mail_http: Option<TcpListener>,
    mock_oauth: Option<(TcpListener, mock_oauth::MockOAuth)>,
    dashboard: Option<(TcpListener, dashboard::Dashboard)>,
    delivery: Option<Delivery>,
    state: AppState,
    inbox: Option<inbox::Inbox>,
    api_limits: ConnectionLimits,
    mail_limits: ConnectionLimits,
    api_hosts: AllowedHosts,
    mail_hosts: AllowedHosts,
    oauth_hosts: AllowedHosts,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} for the {what}")]
    Listen {
        /// Which listener.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The configured sender address is not a mail address.
    #[error("the mail sender address {0:?} is not a valid address")]
    FromAddress(String),
    /// The mock OAuth provider's URLs are not usable.
    #[error("cannot set up the mock OAuth provider")]
    MockOAuth(#[source] mock_oauth::SetupError),
    /// The dashboard's CSRF key could not be drawn.
    #[error("cannot set up the dashboard")]
    Dashboard(#[source] random::RngError),
}

async fn bind_listener(what: &'static str, addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError::Listen { what, addr, source })
}

impl Application {
    /// Binds the API listener and the mail sink's listeners.
    ///
    /// # Errors
    /// An address cannot be bound (in use, no permission), or the sender address is invalid.
    pub async fn bind(
        addr: SocketAddr,
        pool: PgPool,
        mut settings: ServeSettings,
    ) -> Result<Self, BindError> {
        let listener = bind_listener("API", addr).await?;
        let mock_oauth = match settings.oauth.mock_listen {
            Some(a) => {
                let l = bind_listener("mock OAuth provider", a).await?;
                let bound = l.local_addr().map_err(|source| BindError::Listen {
                    what: "mock OAuth provider",
                    addr: a,
                    source,
                })?;
                let oauth = &mut settings.oauth;
                oauth
                    .provider_url
                    .get_or_insert_with(|| format!("http://{}", loopback_if_unspecified(bound)));
                let public = oauth
                    .public_url
                    .get_or_insert_with(|| format!("http://localhost:{}", bound.port()))
                    .clone();
                let mock = mock_oauth::MockOAuth::new(mock_oauth::MockOAuthSettings {
                    issuer: public,
                    api_base_urls: vec![settings.default_public_api_url.clone()],
                })
                .map_err(BindError::MockOAuth)?;
                Some((l, mock))
            }
            None => None,
        };
        let smtp = match settings.mail.smtp_listen {
            Some(a) => Some(bind_listener("mail sink's SMTP listener", a).await?),
            None => None,
        };
        let mail_http = match settings.mail.http_listen {
            Some(a) => Some(bind_listener("mail sink's web listener", a).await?),
            None => None,
        };
        let dashboard_listener = match settings.dashboard_listen {
            Some(a) => Some(bind_listener("dashboard", a).await?),
            None => None,
        };
        let from: lettre::Address = settings
            .mail
            .from_address
            .parse()
            .map_err(|_| BindError::FromAddress(settings.mail.from_address.clone()))?;
        let own_smtp = smtp
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| SmtpUrl::of(loopback_if_unspecified(a)));
        let (mailer, delivery) = match settings.mail.smtp_url.clone().or(own_smtp) {
            Some(target) => {
                let (mailer, delivery) = Mailer::new(target, from);
                (mailer, Some(delivery))
            }
            None => (Mailer::disabled(), None),
        };
        let api_hosts = AllowedHosts::new([&settings.default_public_api_url]);
        let mail_hosts = AllowedHosts::new(settings.mail.public_url.as_slice());
        let oauth_hosts = AllowedHosts::new(settings.oauth.public_url.as_slice());
        let state = AppState::new(pool, settings, mailer)
            .with_mock_oauth(mock_oauth.as_ref().map(|(_, m)| m.clone()));
        let dashboard = match dashboard_listener {
            Some(l) => Some((
                l,
                dashboard::Dashboard::new(state.clone()).map_err(BindError::Dashboard)?,
            )),
            None => None,
        };
        Ok(Self {
            listener,
            smtp,
            mail_http,
            mock_oauth,
            dashboard,
            oauth_hosts,
            delivery,
            state,
            inbox: None,
            api_limits: ConnectionLimits::API,
            mail_limits: ConnectionLimits::MAIL_WEB,
            api_hosts,
            mail_hosts,
        })
    }

    /// Also takes clock and rotation requests in an inbox in `dir` (see [`inbox`]).
    ///
    /// # Errors
    /// The inbox cannot be made.
    pub fn with_inbox(mut self, dir: &std::path::Path) -> std::io::Result<Self> {
        self.inbox = Some(inbox::Inbox::open(dir)?);
        Ok(self)
    }

    /// Sets the connection limits of the API listener and of the mail sink's
    /// web listener (defaults: [`ConnectionLimits::API`] and
    /// [`ConnectionLimits::MAIL_WEB`]).
    pub fn with_connection_limits(mut self, api: ConnectionLimits, mail: ConnectionLimits) -> Self {
        self.api_limits = api;
        self.mail_limits = mail;
        self
    }

    /// Also answers requests whose `Host` is one of `names` (host names or
    /// URLs, `*` for any) on the API and mail web listeners; loopback names,
    /// the public API URL's host and the public mail URL's host are always
    /// answered.
    pub fn with_allowed_hosts(mut self, names: &[String]) -> Self {
        let add = |hosts: &AllowedHosts| AllowedHosts::new(hosts.names().iter().chain(names));
        self.api_hosts = add(&self.api_hosts);
        self.mail_hosts = add(&self.mail_hosts);
        self.oauth_hosts = add(&self.oauth_hosts);
        self
    }

    /// The address actually bound (useful with port 0).
    ///
    /// # Errors
    /// The socket has no local address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the mail sink's SMTP listener, if it has one.
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.smtp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address of the mail sink's web listener, if it has one.
    pub fn mail_addr(&self) -> Option<SocketAddr> {
        self.mail_http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address of the mock OAuth provider's listener, if it has one.
    pub fn mock_oauth_addr(&self) -> Option<SocketAddr> {
        self.mock_oauth
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
    }

    /// The address of the dashboard's listener, if it has one.
    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        self.dashboard
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
    }

    /// The shared state (for tests that need the pool or settings).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, following settings changes meanwhile.
    ///
    /// # Errors
    /// The listener fails.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(self.state.clone().follow_settings());
        if let Some(delivery) = self.delivery {
            tasks.spawn(delivery.run());
        }
        if let Some(smtp) = self.smtp {
            tasks.spawn(mail::smtp::serve(
                smtp,
                self.state.pool.clone(),
                mail::smtp::SmtpLimits::default(),
            ));
        }
        if let Some(listener) = self.mail_http {
            let sink = mail::web::router_for(self.state.pool.clone(), self.mail_hosts);
            let limits = self.mail_limits;
            tasks.spawn(async move {
                if let Err(e) = serve::serve(listener, sink, limits, std::future::pending()).await {
                    tracing::error!(error = %e, "the mail sink's web listener failed");
                }
            });
        }
        if let Some((listener, mock)) = self.mock_oauth {
            let router = self.oauth_hosts.guard_router(mock.router());
            tasks.spawn(async move {
                let limits = ConnectionLimits::MAIL_WEB;
                if let Err(e) = serve::serve(listener, router, limits, std::future::pending()).await
                {
                    tracing::error!(error = %e, "the mock OAuth provider's listener failed");
                }
            });
        }
        if let Some((listener, dashboard)) = self.dashboard {
            // Loopback names only, whatever --allowed-host says: the dashboard
            // administers every project without a sign-in.
            let router = dashboard::router(dashboard, AllowedHosts::default());
            tasks.spawn(async move {
                let limits = ConnectionLimits::MAIL_WEB;
                if let Err(e) = serve::serve(listener, router, limits, std::future::pending()).await
                {
                    tracing::error!(error = %e, "the dashboard's listener failed");
                }
            });
        }
        if let Some(inbox) = self.inbox {
            let port = self.listener.local_addr()?.port();
            let api_base = format!("http://127.0.0.1:{port}");
            tasks.spawn(inbox.serve(self.state.clone(), api_base));
        }
        let app = http::app(self.state, self.api_hosts);
        let result = serve::serve(self.listener, app, self.api_limits, shutdown).await;
        tasks.abort_all();
        result
    }
}

/// A listener bound to 0.0.0.0 is reached through loopback.
fn loopback_if_unspecified(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}
