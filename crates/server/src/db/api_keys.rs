//! User and team API keys (`user_team_api_keys`).
//!
//! A row never holds the key itself: only the SHA-256 of the full key, by
//! which a presented key is looked up, and its last four characters, which
//! lists show. What a key may do, and who may see it, is the domain's
//! business ([`crate::api_keys`]).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::api_keys::Owner;

/// A stored key, without any secret part.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKeyRecord {
    /// The key's id (also inside the key).
    pub id: Uuid,
    /// The owning user, for a user key.
    pub user_id: Option<Uuid>,
    /// The owning team, for a team key.
    pub team_id: Option<Uuid>,
    /// What the key is for.
    pub description: String,
    /// A public (`pk_`) key.
    pub is_public: bool,
    /// The last four characters of the key.
    pub last_four: String,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub manually_revoked_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// The columns of [`ApiKeyRecord`], as a macro so that statements built on it
/// stay static strings.
macro_rules! key_columns {
    () => {
        "id, user_id, team_id, description, is_public, last_four, expires_at, manually_revoked_at, created_at"
    };
}

/// A key to store.
#[derive(Debug)]
pub struct NewApiKey<'a> {
    /// The key's id.
    pub id: Uuid,
    /// SHA-256 of the full key.
    pub key_sha256: &'a [u8; 32],
    /// The key's last four characters.
    pub last_four: &'a str,
    /// The owning user (exactly one of this and `team_id`).
    pub user_id: Option<Uuid>,
    /// The owning team.
    pub team_id: Option<Uuid>,
    /// What the key is for.
    pub description: &'a str,
    /// A public key.
    pub is_public: bool,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// The foreign key a key row of an unknown user breaks.
pub const USER_FOREIGN_KEY: &str = "user_team_api_keys_user_fkey";
/// The foreign key a key row of an unknown team breaks.
pub const TEAM_FOREIGN_KEY: &str = "user_team_api_keys_team_fkey";

/// Stores a key.
///
/// # Errors
/// Database errors; a missing owner breaks [`USER_FOREIGN_KEY`] or
/// [`TEAM_FOREIGN_KEY`].
pub async fn insert(
    db: impl PgExecutor<'_>,
    project_id: &str,
    key: &NewApiKey<'_>,
) -> Result<ApiKeyRecord, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO user_team_api_keys (project_id, id, key_sha256, last_four, user_id, team_id,
             description, is_public, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         RETURNING ",
        key_columns!()
    ))
    .bind(project_id)
    .bind(key.id)
    .bind(key.key_sha256.as_slice())
    .bind(key.last_four)
    .bind(key.user_id)
    .bind(key.team_id)
    .bind(key.description)
    .bind(key.is_public)
    .bind(key.expires_at)
    .bind(key.created_at)
    .fetch_one(db)
    .await
}

/// The keys of a user or a team, newest first (revoked and expired ones
/// included).
///
/// # Errors
/// Database errors.
pub async fn list_for(
    db: impl PgExecutor<'_>,
    project_id: &str,
    owner: Owner,
) -> Result<Vec<ApiKeyRecord>, sqlx::Error> {
    let (statement, owner_id) = match owner {
        Owner::User(id) => (
            concat!(
                "SELECT ",
                key_columns!(),
                " FROM user_team_api_keys WHERE project_id = $1 AND user_id = $2
         ORDER BY created_at DESC, id DESC"
            ),
            id,
        ),
        Owner::Team(id) => (
            concat!(
                "SELECT ",
                key_columns!(),
                " FROM user_team_api_keys WHERE project_id = $1 AND team_id = $2
         ORDER BY created_at DESC, id DESC"
            ),
            id,
        ),
    };
    sqlx::query_as(statement)
        .bind(project_id)
        .bind(owner_id)
        .fetch_all(db)
        .await
}

/// A key by id.
///
/// # Errors
/// Database errors.
pub async fn find(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<Option<ApiKeyRecord>, sqlx::Error> {
    let statement = concat!(
        "SELECT ",
        key_columns!(),
        " FROM user_team_api_keys WHERE project_id = $1 AND id = $2"
    );
    super::find_with_ids(db, statement, project_id, &[id]).await
}

/// A key of the project by the SHA-256 of the full key.
///
/// # Errors
/// Database errors.
pub async fn find_by_sha256(
    db: impl PgExecutor<'_>,
    project_id: &str,
    key_sha256: &[u8; 32],
) -> Result<Option<ApiKeyRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        key_columns!(),
        " FROM user_team_api_keys WHERE key_sha256 = $2 AND project_id = $1"
    ))
    .bind(project_id)
    .bind(key_sha256.as_slice())
    .fetch_optional(db)
    .await
}

/// Changes a key: a new description when `description` is given, and revoked
/// at `now` when `revoke` is set and it is not revoked yet (a key revoked
/// already keeps its first time, also when two revocations race: the second
/// waits for the first's row lock and then sees its time). `None` when there
/// is no such key.
///
/// # Errors
/// Database errors.
pub async fn update(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
    description: Option<&str>,
    revoke: bool,
    now: DateTime<Utc>,
) -> Result<Option<ApiKeyRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE user_team_api_keys SET
             description = COALESCE($3, description),
             manually_revoked_at = CASE WHEN $4 THEN COALESCE(manually_revoked_at, $5)
                                        ELSE manually_revoked_at END
         WHERE project_id = $1 AND id = $2
         RETURNING ",
        key_columns!()
    ))
    .bind(project_id)
    .bind(id)
    .bind(description)
    .bind(revoke)
    .bind(now)
    .fetch_optional(db)
    .await
}
