//! API key sets: the publishable, secret-server and super-secret-admin keys of a project.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::random::{self, RngError};
use crate::secret::Secret;

/// Which key of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `pck_…`, sent by browsers.
    PublishableClient,
    /// `ssk_…`, for trusted backends.
    SecretServer,
    /// `sak_…`, for project owners.
    SuperSecretAdmin,
}

impl KeyKind {
    /// The prefix of generated keys of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::PublishableClient => stack_proto::keys::PUBLISHABLE_CLIENT_KEY_PREFIX,
            Self::SecretServer => stack_proto::keys::SECRET_SERVER_KEY_PREFIX,
            Self::SuperSecretAdmin => stack_proto::keys::SUPER_SECRET_ADMIN_KEY_PREFIX,
        }
    }

    /// A fresh random key of this kind.
    ///
    /// # Errors
    /// Fails only when the OS RNG cannot be read.
    pub fn generate(self) -> Result<Secret<String>, RngError> {
        Ok(Secret::new(format!(
            "{}{}",
            self.prefix(),
            random::token()?
        )))
    }
}

/// When `key` stops being a live key of `kind` for `project_id`; `None` if it is not one.
///
/// # Errors
/// Database errors.
pub async fn valid_until(
    db: impl PgExecutor<'_>,
    project_id: &str,
    kind: KeyKind,
    key: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    macro_rules! valid_until {
        ($column:literal) => {
            concat!(
                "SELECT expires_at FROM api_key_sets WHERE project_id = $1 AND ",
                $column,
                " = $2
             AND manually_revoked_at IS NULL AND expires_at > now()"
            )
        };
    }
    let sql = match kind {
        KeyKind::PublishableClient => valid_until!("publishable_client_key"),
        KeyKind::SecretServer => valid_until!("secret_server_key"),
        KeyKind::SuperSecretAdmin => valid_until!("super_secret_admin_key"),
    };
    sqlx::query_scalar(sql)
        .bind(project_id)
        .bind(key)
        .fetch_optional(db)
        .await
}

/// Whether `key` is a live key of `kind` for `project_id`.
///
/// # Errors
/// Database errors.
pub async fn is_valid(
    db: impl PgExecutor<'_>,
    project_id: &str,
    kind: KeyKind,
    key: &str,
) -> Result<bool, sqlx::Error> {
    Ok(valid_until(db, project_id, kind, key).await?.is_some())
}

/// A key set as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeySet {
    /// Its id.
    pub id: Uuid,
    /// Free-form description.
    pub description: String,
    /// The publishable client key, if the set has one.
    pub publishable_client_key: Option<String>,
    /// The secret server key, if the set has one.
    pub secret_server_key: Option<String>,
    /// The super secret admin key, if the set has one.
    pub super_secret_admin_key: Option<String>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub manually_revoked_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// The columns of a row, as a macro so that statements built on it stay
/// static strings.
macro_rules! key_set_columns {
    () => {
        "id, description, publishable_client_key, secret_server_key, super_secret_admin_key, expires_at, manually_revoked_at, created_at"
    };
}

/// The keys of a new set; `None` leaves that key out.
#[derive(Debug)]
pub struct NewKeySet {
    /// Description.
    pub description: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// The publishable client key.
    pub publishable_client_key: Option<Secret<String>>,
    /// The secret server key.
    pub secret_server_key: Option<Secret<String>>,
    /// The super secret admin key.
    pub super_secret_admin_key: Option<Secret<String>>,
}

/// Inserts a key set.
///
/// # Errors
/// Database errors; fails only when the OS RNG cannot be read otherwise.
pub async fn insert(
    db: impl PgExecutor<'_>,
    project_id: &str,
    set: &NewKeySet,
) -> Result<KeySet, InsertKeySetError> {
    let id = random::uuid()?;
    let reveal = |k: &Option<Secret<String>>| k.as_ref().map(|s| s.expose().clone());
    let row = sqlx::query_as(concat!(
        "INSERT INTO api_key_sets (id, project_id, description, publishable_client_key,
             secret_server_key, super_secret_admin_key, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        key_set_columns!()
    ))
    .bind(id)
    .bind(project_id)
    .bind(&set.description)
    .bind(reveal(&set.publishable_client_key))
    .bind(reveal(&set.secret_server_key))
    .bind(reveal(&set.super_secret_admin_key))
    .bind(set.expires_at)
    .fetch_one(db)
    .await?;
    Ok(row)
}

/// Lists a project's key sets, newest first.
///
/// # Errors
/// Database errors.
pub async fn list(db: impl PgExecutor<'_>, project_id: &str) -> Result<Vec<KeySet>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        key_set_columns!(),
        " FROM api_key_sets WHERE project_id = $1 ORDER BY created_at DESC, id"
    ))
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// Loads one key set of a project.
///
/// # Errors
/// Database errors.
pub async fn find(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<Option<KeySet>, sqlx::Error> {
    let statement = concat!(
        "SELECT ",
        key_set_columns!(),
        " FROM api_key_sets WHERE project_id = $1 AND id = $2"
    );
    super::find_with_ids(db, statement, project_id, &[id]).await
}

/// Marks a key set revoked.
///
/// # Errors
/// Database errors.
pub async fn revoke(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<Option<KeySet>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE api_key_sets SET manually_revoked_at = COALESCE(manually_revoked_at, now())
         WHERE project_id = $1 AND id = $2 RETURNING ",
        key_set_columns!()
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A key set could not be created.
#[derive(Debug, thiserror::Error)]
pub enum InsertKeySetError {
    /// The OS RNG failed.
    #[error(transparent)]
    Rng(#[from] RngError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The id of the project's key set with this description.
///
/// # Errors
/// Database errors.
pub async fn find_id_by_description(
    db: impl PgExecutor<'_>,
    project_id: &str,
    description: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM api_key_sets WHERE project_id = $1 AND description = $2")
        .bind(project_id)
        .bind(description)
        .fetch_optional(db)
        .await
}

/// Locks the project's key set with this description until the transaction
/// ends; its id and secret server key.
///
/// # Errors
/// Database errors.
pub async fn lock_by_description(
    db: impl PgExecutor<'_>,
    project_id: &str,
    description: &str,
) -> Result<Option<(Uuid, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, secret_server_key FROM api_key_sets WHERE project_id = $1 AND description = $2 FOR UPDATE",
    )
    .bind(project_id)
    .bind(description)
    .fetch_optional(db)
    .await
}

/// The three keys of a key set.
#[derive(Debug)]
pub struct KeyValues<'a> {
    /// `pck_…`.
    pub publishable_client_key: &'a str,
    /// `ssk_…`.
    pub secret_server_key: &'a str,
    /// `sak_…`.
    pub super_secret_admin_key: &'a str,
}

/// Replaces the keys of a key set and lifts any revocation; whether the row exists.
///
/// # Errors
/// Database errors.
pub async fn replace(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
    keys: &KeyValues<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_key_sets SET publishable_client_key = $3, secret_server_key = $4,
             super_secret_admin_key = $5, manually_revoked_at = NULL
         WHERE project_id = $1 AND id = $2",
    )
    .bind(project_id)
    .bind(id)
    .bind(keys.publishable_client_key)
    .bind(keys.secret_server_key)
    .bind(keys.super_secret_admin_key)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
