//! Shared server state: the database pool, the settings that can change at run
//! time (signing keys, public URL) and the fixed settings from the command line.
//!
//! Runtime settings live in PostgreSQL. They are loaded on first use and again
//! whenever a writer sends a NOTIFY on [`settings::SETTINGS_CHANNEL`], so a
//! rotation takes effect on every running server without a restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::db::keys::KeyKind;
use crate::db::projects::Project;
use crate::db::settings;
use crate::error::ApiError;
use crate::jwt::Keyring;
use crate::mail::outbound::{Mailer, SmtpUrl};
use crate::secret::Secret;

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

/// Settings that can change while the server runs.
#[derive(Debug)]
pub struct Runtime {
    /// The signing keys.
    pub keyring: Keyring,
    /// The public API base URL (no trailing slash).
    pub public_api_url: String,
}

/// Most cached authentications kept before the cache starts over.
const AUTH_CACHE_CAPACITY: usize = 10_000;

/// A project and key pair that authenticated successfully: (project id, key kind, key).
type AuthCacheKey = (String, Option<KeyKind>, String);

/// The project a key authenticated for, and until when the key is valid.
type AuthCacheEntry = (Arc<Project>, DateTime<Utc>);

/// Successful project-and-key lookups, so that an authenticated request costs
/// no database round trip for them. Only used while the settings listener is
/// connected: every change to projects or key sets is announced by a trigger and
/// empties the cache, and a lost listener could miss such an announcement.
#[derive(Debug, Default)]
struct AuthCache {
    live: AtomicBool,
    /// Bumped by every clear; a lookup that started before a clear must not be cached.
    generation: AtomicU64,
    entries: Mutex<HashMap<AuthCacheKey, AuthCacheEntry>>,
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database pool.
    pub pool: PgPool,
    /// Fixed settings.
    pub settings: Arc<ServeSettings>,
    /// Where handlers send mail.
    pub mailer: Mailer,
    runtime: Arc<RwLock<Option<Arc<Runtime>>>>,
    auth_cache: Arc<AuthCache>,
    /// The payload of the settings NOTIFY this server sends after a change it
    /// has already applied to itself: its own listener skips it.
    own_reload: Arc<str>,
}

/// Why runtime settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadRuntimeError {
    /// The database failed.
    #[error("could not read the server settings")]
    Database(#[from] sqlx::Error),
    /// The install has no token-signing secret yet.
    #[error("the database has no token-signing secret; run `stack-server seed` first")]
    NotSeeded,
    /// The stored secret is not base64url.
    #[error("the stored token-signing secret is not valid base64url")]
    BadSecret,
}

impl From<LoadRuntimeError> for ApiError {
    fn from(e: LoadRuntimeError) -> Self {
        match e {
            LoadRuntimeError::Database(db) => db.into(),
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl AppState {
    /// State over `pool`; runtime settings load on first use.
    pub fn new(pool: PgPool, settings: ServeSettings, mailer: Mailer) -> Self {
        Self {
            pool,
            settings: Arc::new(settings),
            mailer,
            runtime: Arc::new(RwLock::new(None)),
            auth_cache: Arc::new(AuthCache::default()),
            own_reload: own_reload_payload().into(),
        }
    }

    /// The NOTIFY payload for a settings change this server has applied and
    /// reloaded itself; every other server reloads on it as on any change.
    pub fn own_reload(&self) -> &str {
        &self.own_reload
    }

    /// The project for a key: from the cache of keys that authenticated before,
    /// or from `lookup`, which loads the project, checks the key and says until
    /// when that answer holds. A successful lookup is cached unless the cache was
    /// cleared while it ran (the change that cleared it may have revoked the key).
    ///
    /// # Errors
    /// Whatever `lookup` reports.
    pub async fn authenticate_key<F, Fut>(
        &self,
        project_id: &str,
        kind: Option<KeyKind>,
        key: &str,
        lookup: F,
    ) -> Result<Arc<Project>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Arc<Project>, DateTime<Utc>), ApiError>>,
    {
        if let Some(project) = self.cached_auth(project_id, kind, key) {
            return Ok(project);
        }
        let generation = self.auth_generation();
        let (project, valid_until) = lookup().await?;
        self.remember_auth(generation, &project, kind, key, valid_until);
        Ok(project)
    }

    /// The project for a key that authenticated before and is still valid.
    fn cached_auth(
        &self,
        project_id: &str,
        kind: Option<KeyKind>,
        key: &str,
    ) -> Option<Arc<Project>> {
        if !self.auth_cache.live.load(Ordering::Acquire) {
            return None;
        }
        let entries = self
            .auth_cache
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (project, expires_at) = entries.get(&(project_id.to_owned(), kind, key.to_owned()))?;
        (*expires_at > Utc::now()).then(|| Arc::clone(project))
    }

    /// The cache generation; read it before a lookup and pass it to [`Self::remember_auth`].
    fn auth_generation(&self) -> u64 {
        self.auth_cache.generation.load(Ordering::Acquire)
    }

    /// Remembers a successful authentication until `expires_at` or the next change,
    /// unless the cache was cleared since `generation` was read.
    fn remember_auth(
        &self,
        generation: u64,
        project: &Arc<Project>,
        kind: Option<KeyKind>,
        key: &str,
        expires_at: DateTime<Utc>,
    ) {
        if !self.auth_cache.live.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self
            .auth_cache
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if self.auth_cache.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= AUTH_CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(
            (project.id.clone(), kind, key.to_owned()),
            (Arc::clone(project), expires_at),
        );
    }

    /// Forgets every cached authentication (after this server changed a project or key set;
    /// other servers learn of it through the trigger's NOTIFY).
    pub fn clear_auth_cache(&self) {
        let mut entries = self
            .auth_cache
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.auth_cache.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    fn set_cache_live(&self, live: bool) {
        self.auth_cache.live.store(live, Ordering::Release);
        self.clear_auth_cache();
    }

    /// The current runtime settings, loading them if needed.
    ///
    /// # Errors
    /// The database is down or not seeded.
    pub async fn runtime(&self) -> Result<Arc<Runtime>, LoadRuntimeError> {
        if let Some(rt) = self.cached_runtime() {
            return Ok(rt);
        }
        self.reload().await
    }

    fn cached_runtime(&self) -> Option<Arc<Runtime>> {
        self.runtime
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the runtime settings from the database and makes them current.
    ///
    /// # Errors
    /// The database is down or not seeded.
    pub async fn reload(&self) -> Result<Arc<Runtime>, LoadRuntimeError> {
        let values = settings::load(&self.pool).await?;
        let secret = values
            .get(settings::TOKEN_SIGNING_SECRET)
            .ok_or(LoadRuntimeError::NotSeeded)?;
        let secret = B64
            .decode(secret)
            .map_err(|_| LoadRuntimeError::BadSecret)?;
        let public_api_url = values
            .get(settings::PUBLIC_API_URL)
            .unwrap_or(&self.settings.default_public_api_url);
        Ok(self.use_settings(Secret::new(secret), public_api_url))
    }

    /// Makes the given settings current, as a reload that found them would:
    /// for a change this server has just committed itself.
    pub fn use_settings(
        &self,
        signing_secret: Secret<Vec<u8>>,
        public_api_url: &str,
    ) -> Arc<Runtime> {
        let rt = Arc::new(Runtime {
            keyring: Keyring::new(signing_secret),
            public_api_url: public_api_url.trim_end_matches('/').to_owned(),
        });
        *self.runtime.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&rt));
        rt
    }

    /// Drops the cached settings so that the next request reloads them.
    fn forget_runtime(&self) {
        *self.runtime.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Follows settings changes until the process ends: LISTEN on the settings
    /// channel, reload on every notification, and after a lost connection
    /// (when notifications may have been missed) reload as well.
    pub async fn follow_settings(self) {
        loop {
            match PgListener::connect_with(&self.pool).await {
                Ok(mut listener) => {
                    if let Err(e) = listener.listen(settings::SETTINGS_CHANNEL).await {
                        tracing::warn!(error = %e, "could not listen for settings changes");
                    } else {
                        self.forget_runtime();
                        self.set_cache_live(true);
                        loop {
                            match listener.try_recv().await {
                                Ok(Some(n)) if n.payload() == "cache" => self.clear_auth_cache(),
                                // This server applied the change and reloaded already.
                                Ok(Some(n)) if n.payload() == &*self.own_reload => {}
                                Ok(Some(_)) => {
                                    self.clear_auth_cache();
                                    if let Err(e) = self.reload().await {
                                        tracing::warn!(error = %e, "settings reload failed");
                                        self.forget_runtime();
                                    } else {
                                        tracing::info!("settings reloaded");
                                    }
                                }
                                // The connection was lost: anything announced meanwhile is
                                // unknown, so stop caching and start over with a new listener.
                                Ok(None) => {
                                    self.forget_runtime();
                                    break;
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "settings listener failed");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "settings listener cannot connect yet"),
            }
            self.set_cache_live(false);
            // Back off before reconnecting; the pool's own connect timeout bounds each try.
            tokio::time::sleep(LISTENER_RETRY).await;
        }
    }
}

/// A payload that names one server: random, so that servers on other machines
/// sharing the database never take another's change for their own.
fn own_reload_payload() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = crate::random::uuid().map_or_else(
        |_| {
            format!(
                "{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            )
        },
        |u| u.to_string(),
    );
    format!("{} {id}", settings::RELOAD)
}

/// How long to wait before reconnecting the settings listener after a failure.
const LISTENER_RETRY: Duration = Duration::from_secs(1);
