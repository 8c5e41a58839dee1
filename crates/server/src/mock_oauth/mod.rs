//! The mock OpenID Connect provider that answers for every OAuth provider
//! while the emulator is offline.
//!
//! It stands in for Stack Auth's Node mock (`apps/mock-oauth-server`, built on
//! `oidc-provider`): the same clients, the same interaction sequence that Stack
//! Auth's e2e suite drives, and the same test hooks, with all state in memory.
//! Each provider id of [`PROVIDER_IDS`] is a client whose secret is
//! [`MOCK_CLIENT_SECRET`]; the sign-in page accepts any e-mail address without
//! a password, and that address becomes the account's `sub`.
//!
//! | route | answer |
//! |---|---|
//! | `GET /.well-known/openid-configuration` | discovery document |
//! | `GET /jwks` | the ES256 public key |
//! | `GET\|POST /auth` | starts an interaction: 303 to `/interaction/{uid}` |
//! | `GET /auth/{uid}` | resumes it: 303 to the interaction, or to the callback with a code |
//! | `GET /interaction/{uid}` | the sign-in page, or automatic consent once an account is chosen |
//! | `POST /interaction/{uid}` | `prompt=login&login=…` or `prompt=consent` (what the e2e suite sends) |
//! | `POST /interaction/{uid}/login` | the sign-in page's form |
//! | `GET /interaction/{uid}/abort` | back to the app with `error=access_denied` |
//! | `POST /token` | `authorization_code` and `refresh_token` grants |
//! | `POST /token/revocation` | RFC 7009 revocation |
//! | `GET\|POST /me` | userinfo |
//! | `POST /revoke-access-token`, `/revoke-refresh-token`, `/simulate-refresh-error` | test hooks of the Node mock |
//! | `POST /turnstile/siteverify` | the Node mock's Turnstile stub |
//!
//! What differs from a real provider, on purpose:
//!
//! - Userinfo returns `email` and `email_verified` only for tokens with the
//!   `email` scope, as `oidc-provider` does: Stack Auth asks for
//!   `openid offline_access`, and its e2e suite expects the `/me` body of such
//!   a token to be exactly `{"sub": …}`. The display name and avatar URL, which
//!   only a person on the sign-in page can enter, are returned whenever given.
//! - Every response carries `x-powered-by: Express`, because the e2e suite's
//!   snapshots of `/me` and of the revocation hooks list that header.
//! - The interaction cookie is set (as `oidc-provider` does, and the e2e suite
//!   carries it along) but not required: the uid in the path is a 128-bit
//!   secret, and a mock that signs anyone in with any e-mail address has
//!   nothing that a cookie check would protect.
//! - A refresh token is not rotated: a refresh answers with the same refresh
//!   token, which stays valid until its grant is revoked or it expires.
//!
//! The router answers every `Host`; the caller puts it behind
//! [`crate::host::AllowedHosts`] if it needs the DNS-rebinding guard. Tokens
//! and codes are never logged.

mod authorize;
mod clients;
mod discovery;
mod error;
mod hooks;
mod page;
mod params;
mod pkce;
mod scope;
mod signing;
mod store;
mod token;

use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use signing::KeyError;

/// The client secret of every mock client (the Node mock's).
pub const MOCK_CLIENT_SECRET: &str = "MOCK-SERVER-SECRET";

/// The client ids the mock knows: one per OAuth provider type Stack Auth
/// supports (the Node mock's nine, and linkedin, apple and twitch, which the
/// emulator also answers offline).
pub const PROVIDER_IDS: [&str; 12] = [
    "github",
    "facebook",
    "google",
    "microsoft",
    "spotify",
    "discord",
    "gitlab",
    "bitbucket",
    "x",
    "linkedin",
    "apple",
    "twitch",
];

/// Where the mock is reached and whose callbacks it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockOAuthSettings {
    /// The URL browsers and the API server use to reach the mock, without a
    /// trailing slash, e.g. "http://localhost:8114". It is the issuer.
    pub issuer: String,
    /// Base URLs of the Stack Auth API whose callbacks are allowed: a
    /// redirect_uri is accepted when it equals
    /// `{base}/api/v1/auth/oauth/callback/{client_id}` for one of these
    /// (`localhost` and `127.0.0.1` count as the same host).
    pub api_base_urls: Vec<String>,
}

/// Why the mock could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The issuer is not usable as the mock's base URL.
    #[error(
        "the mock OAuth issuer {url:?} is not an http(s) URL without path, query or fragment\n\
         hint: pass the address browsers use to reach the mock, e.g. \"http://localhost:8114\""
    )]
    Issuer {
        /// The issuer as given.
        url: String,
    },
    /// An API base URL does not parse.
    #[error(
        "the Stack Auth API base URL {url:?} is not an http(s) URL without query or fragment\n\
         hint: pass the API's public URL, e.g. \"http://localhost:8102\""
    )]
    ApiBaseUrl {
        /// The URL as given.
        url: String,
    },
    /// No API base URL: no callback could ever be accepted.
    #[error(
        "no Stack Auth API base URL was given, so the mock would refuse every redirect_uri\n\
         hint: pass the API's public URL, e.g. \"http://localhost:8102\""
    )]
    NoApiBaseUrl,
    /// The signing key could not be made.
    #[error("could not make the mock's ID token signing key")]
    SigningKey(#[source] KeyError),
}

/// What the mock holds, as [`MockOAuth::summary`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockSummary {
    /// The mock's public URL.
    pub issuer: String,
    /// Provider id and account login of each live grant, sorted.
    pub accounts: Vec<(String, String)>,
    /// Sign-ins started and not finished.
    pub sign_ins_in_progress: usize,
}

/// The mock provider: cheap to clone, all clones share one state.
#[derive(Clone)]
pub struct MockOAuth {
    inner: Arc<Inner>,
}

struct Inner {
    /// The issuer and the accepted callbacks: they follow the public URLs,
    /// which a rotation may change while the mock runs.
    urls: RwLock<Urls>,
    key: signing::Key,
    store: Mutex<store::Store>,
}

impl std::fmt::Debug for MockOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockOAuth")
            .field("issuer", &self.issuer())
            .finish_non_exhaustive()
    }
}

impl MockOAuth {
    /// A mock with empty state and a fresh P-256 signing key from the OS RNG.
    ///
    /// # Errors
    /// The issuer or an API base URL is not an http(s) URL, no API base URL
    /// is given, or the OS RNG cannot be read.
    pub fn new(settings: MockOAuthSettings) -> Result<Self, SetupError> {
        let urls = Urls::parse(&settings)?;
        let key = signing::Key::generate().map_err(SetupError::SigningKey)?;
        Ok(Self {
            inner: Arc::new(Inner {
                urls: RwLock::new(urls),
                key,
                store: Mutex::new(store::Store::default()),
            }),
        })
    }

    /// The mock's routes (see the module docs), to be served at the root of
    /// the issuer URL.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(discovery::configuration),
            )
            .route("/jwks", get(discovery::jwks))
            .route("/auth", get(authorize::start).post(authorize::start_post))
            .route("/auth/{uid}", get(authorize::resume))
            .route(
                "/interaction/{uid}",
                get(authorize::show).post(authorize::submit),
            )
            .route("/interaction/{uid}/login", post(authorize::login))
            .route("/interaction/{uid}/abort", get(authorize::abort))
            .route("/token", post(token::token))
            .route("/token/revocation", post(token::revocation))
            .route("/me", get(token::userinfo).post(token::userinfo))
            .route("/revoke-access-token", post(hooks::revoke_access_token))
            .route("/revoke-refresh-token", post(hooks::revoke_refresh_token))
            .route(
                "/simulate-refresh-error",
                post(hooks::simulate_refresh_error),
            )
            .route("/turnstile/siteverify", post(hooks::turnstile))
            .fallback(not_found)
            .layer(map_response(common_headers))
            .with_state(self.clone())
    }

    /// Points the mock at new public URLs: `issuer` (`None` keeps the
    /// current one) and the API base URLs whose callbacks it accepts. Flows
    /// in progress keep working; new ones use the new URLs.
    ///
    /// # Errors
    /// A URL is not usable; the mock then keeps its previous URLs.
    pub fn set_public_urls(
        &self,
        issuer: Option<String>,
        api_base_urls: Vec<String>,
    ) -> Result<(), SetupError> {
        let settings = MockOAuthSettings {
            issuer: issuer.unwrap_or_else(|| self.issuer().to_string()),
            api_base_urls,
        };
        let urls = Urls::parse(&settings)?;
        *self.inner.urls.write().unwrap_or_else(|e| e.into_inner()) = urls;
        Ok(())
    }

    /// What the mock holds now, for the dashboard: the accounts signed in
    /// to each provider (live grants) and the sign-ins in progress. Codes
    /// and tokens are not part of it.
    pub fn summary(&self) -> MockSummary {
        let now = std::time::Instant::now();
        let store = self.store();
        let mut accounts: Vec<(String, String)> = store
            .grants
            .live(now)
            .map(|g| (g.client.as_str().to_owned(), g.account.login.clone()))
            .collect();
        accounts.sort();
        accounts.dedup();
        MockSummary {
            issuer: self.issuer().to_string(),
            accounts,
            sign_ins_in_progress: store.interactions.live(now).count(),
        }
    }

    fn issuer(&self) -> Arc<str> {
        Arc::clone(&self.urls().issuer)
    }

    fn callbacks(&self) -> Arc<clients::Callbacks> {
        Arc::clone(&self.urls().callbacks)
    }

    fn urls(&self) -> std::sync::RwLockReadGuard<'_, Urls> {
        self.inner.urls.read().unwrap_or_else(|e| e.into_inner())
    }

    fn key(&self) -> &signing::Key {
        &self.inner.key
    }

    /// The state, locked. Never held across an `.await`.
    fn store(&self) -> MutexGuard<'_, store::Store> {
        // A poisoned lock means a handler panicked while holding it; every
        // map in the store is still valid, so the mock keeps going.
        self.inner.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The URLs the mock answers with and accepts.
struct Urls {
    issuer: Arc<str>,
    callbacks: Arc<clients::Callbacks>,
}

impl Urls {
    fn parse(settings: &MockOAuthSettings) -> Result<Self, SetupError> {
        Ok(Self {
            issuer: clients::parse_issuer(&settings.issuer)?.into(),
            callbacks: Arc::new(clients::Callbacks::parse(&settings.api_base_urls)?),
        })
    }
}

/// Headers of every response.
async fn common_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Stack Auth's e2e snapshots of the Node mock's answers include it.
    headers.insert(
        HeaderName::from_static("x-powered-by"),
        HeaderValue::from_static("Express"),
    );
    response
}

async fn not_found() -> Response {
    error::OAuthError::new(
        axum::http::StatusCode::NOT_FOUND,
        "invalid_request",
        "unrecognized route or not allowed method",
    )
    .into_response()
}
