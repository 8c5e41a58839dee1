//! Shared server state, one concern per submodule: the fixed settings from the
//! command line ([`settings`]), the settings that can change at run time
//! ([`runtime`]), the cache of successful key authentications
//! ([`auth_cache`]), and the follower that keeps the last two in step with the
//! database ([`follower`]).
//!
//! Runtime settings live in PostgreSQL. They are loaded on first use and again
//! whenever a writer sends a NOTIFY on [`crate::db::settings::SETTINGS_CHANNEL`],
//! so a rotation takes effect on every running server without a restart.

pub mod auth_cache;
pub mod follower;
pub mod runtime;
pub mod settings;

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::db::keys::KeyKind;
use crate::db::projects::Project;
use crate::error::ApiError;
use crate::mail::outbound::Mailer;
use crate::secret::Secret;
use auth_cache::AuthCache;
use runtime::RuntimeCell;
use stack_proto::session::SessionFacts;

pub use runtime::{LoadRuntimeError, Runtime};
pub use settings::{DEFAULT_FROM_ADDRESS, MailSettings, OAuthSettings, ServeSettings};

/// Everything a handler needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database pool.
    pub pool: PgPool,
    /// Fixed settings.
    pub settings: Arc<ServeSettings>,
    /// Where handlers send mail.
    pub mailer: Mailer,
    runtime: Arc<RuntimeCell>,
    auth_cache: Arc<AuthCache>,
    /// The payload of the settings NOTIFY this server sends after a change it
    /// has already applied to itself: its own listener skips it.
    own_reload: Arc<str>,
    /// This process's mock OAuth provider, which follows the public URLs.
    mock_oauth: Option<crate::mock_oauth::MockOAuth>,
    /// What the host last said about the VM this server runs in (in memory:
    /// the host says it again at every start).
    session: Arc<RwLock<Option<SessionFacts>>>,
    /// When this process started.
    started_at: DateTime<Utc>,
}

impl AppState {
    /// State over `pool`; runtime settings load on first use.
    pub fn new(pool: PgPool, settings: ServeSettings, mailer: Mailer) -> Self {
        Self {
            pool,
            settings: Arc::new(settings),
            mailer,
            runtime: Arc::new(RuntimeCell::default()),
            auth_cache: Arc::new(AuthCache::default()),
            own_reload: follower::own_reload_payload().into(),
            mock_oauth: None,
            session: Arc::default(),
            started_at: Utc::now(),
        }
    }

    /// What this process's mock OAuth provider holds, if it runs one.
    pub fn mock_oauth_summary(&self) -> Option<crate::mock_oauth::MockSummary> {
        self.mock_oauth
            .as_ref()
            .map(crate::mock_oauth::MockOAuth::summary)
    }

    /// What the host last said about the VM this server runs in; `None` for
    /// a server the emulator did not start.
    pub fn session_facts(&self) -> Option<SessionFacts> {
        self.session
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records what the host says about the VM.
    pub fn set_session_facts(&self, facts: SessionFacts) {
        *self.session.write().unwrap_or_else(|e| e.into_inner()) = Some(facts);
    }

    /// When this process started.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// The same state with this process's mock OAuth provider, which then
    /// follows the public URLs of every settings change.
    #[must_use]
    pub fn with_mock_oauth(mut self, mock: Option<crate::mock_oauth::MockOAuth>) -> Self {
        self.mock_oauth = mock;
        self
    }

    /// Makes `rt` current, and points the mock OAuth provider at its URLs.
    fn set_runtime(&self, rt: &Arc<Runtime>) {
        self.runtime.set(Arc::clone(rt));
        if let Some(mock) = &self.mock_oauth {
            let issuer = self.settings.oauth.issuer(rt);
            let mut api_bases = vec![rt.public_api_url.clone()];
            if self.settings.default_public_api_url != rt.public_api_url {
                api_bases.push(self.settings.default_public_api_url.clone());
            }
            if let Err(e) = mock.set_public_urls(issuer, api_bases) {
                tracing::warn!(error = %e, "the mock OAuth provider keeps its previous URLs");
            }
        }
    }

    /// The NOTIFY payload for a settings change this server has applied and
    /// reloaded itself; every other server reloads on it as on any change.
    pub fn own_reload(&self) -> &str {
        &self.own_reload
    }

    /// The project for a key, through the cache of keys that authenticated
    /// before (see [`AuthCache::authenticate`]).
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
        self.auth_cache
            .authenticate(project_id, kind, key, lookup)
            .await
    }

    /// Forgets every cached authentication (after this server changed a project or key set;
    /// other servers learn of it through the trigger's NOTIFY).
    pub fn clear_auth_cache(&self) {
        self.auth_cache.clear();
    }

    /// The current runtime settings, loading them if needed.
    ///
    /// # Errors
    /// The database is down or not seeded.
    pub async fn runtime(&self) -> Result<Arc<Runtime>, LoadRuntimeError> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        self.reload().await
    }

    /// Reads the runtime settings from the database and makes them current.
    ///
    /// # Errors
    /// The database is down or not seeded.
    pub async fn reload(&self) -> Result<Arc<Runtime>, LoadRuntimeError> {
        let rt = Runtime::load(&self.pool, &self.settings.default_public_api_url).await?;
        let rt = Arc::new(rt);
        self.set_runtime(&rt);
        Ok(rt)
    }

    /// Makes the given settings current, as a reload that found them would:
    /// for a change this server has just committed itself.
    pub fn use_settings(
        &self,
        signing_secret: Secret<Vec<u8>>,
        public_api_url: &str,
        public_oauth_url: Option<&str>,
    ) -> Arc<Runtime> {
        let rt = Arc::new(
            Runtime::new(signing_secret, public_api_url).with_public_oauth_url(public_oauth_url),
        );
        self.set_runtime(&rt);
        rt
    }
}
