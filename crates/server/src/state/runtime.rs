//! The settings that can change while the server runs (signing keys, public
//! URL): read from PostgreSQL on first use and again on every change.

use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sqlx::PgPool;

use crate::db::settings;
use crate::error::ApiError;
use crate::jwt::Keyring;
use crate::secret::Secret;

/// Settings that can change while the server runs.
#[derive(Debug)]
pub struct Runtime {
    /// The signing keys.
    pub keyring: Keyring,
    /// The public API base URL (no trailing slash).
    pub public_api_url: String,
    /// The OAuth provider's public base URL from the last rotation, if it
    /// named one (no trailing slash).
    pub public_oauth_url: Option<String>,
}

impl Runtime {
    /// Runtime settings from their values.
    pub fn new(signing_secret: Secret<Vec<u8>>, public_api_url: &str) -> Self {
        Self {
            keyring: Keyring::new(signing_secret),
            public_api_url: public_api_url.trim_end_matches('/').to_owned(),
            public_oauth_url: None,
        }
    }

    /// The same settings with the OAuth provider's public URL.
    #[must_use]
    pub fn with_public_oauth_url(mut self, url: Option<&str>) -> Self {
        self.public_oauth_url = url.map(|u| u.trim_end_matches('/').to_owned());
        self
    }

    /// Reads the runtime settings from the database; `default_public_api_url`
    /// stands in when the database holds no public URL.
    ///
    /// # Errors
    /// The database is down or not seeded, or the stored secret is malformed.
    pub async fn load(
        pool: &PgPool,
        default_public_api_url: &str,
    ) -> Result<Self, LoadRuntimeError> {
        let values = settings::load(pool).await?;
        let secret = values
            .get(settings::TOKEN_SIGNING_SECRET)
            .ok_or(LoadRuntimeError::NotSeeded)?;
        let secret = B64
            .decode(secret)
            .map_err(|_| LoadRuntimeError::BadSecret)?;
        let public_api_url = values
            .get(settings::PUBLIC_API_URL)
            .map_or(default_public_api_url, String::as_str);
        let public_oauth_url = values.get(settings::PUBLIC_OAUTH_URL).map(String::as_str);
        Ok(Self::new(Secret::new(secret), public_api_url).with_public_oauth_url(public_oauth_url))
    }
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

/// The current runtime settings, if loaded and not known to be stale.
#[derive(Debug, Default)]
pub(crate) struct RuntimeCell(RwLock<Option<Arc<Runtime>>>);

impl RuntimeCell {
    /// The current settings.
    pub(crate) fn get(&self) -> Option<Arc<Runtime>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes `rt` current.
    pub(crate) fn set(&self, rt: Arc<Runtime>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(rt);
    }

    /// Drops the settings so that the next use reloads them.
    pub(crate) fn forget(&self) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
