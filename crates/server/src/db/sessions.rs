//! Sessions: one refresh-token row each.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::secret::Secret;

/// A session row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    /// Session id (the `refresh_token_id` claim).
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last time a token was minted from it.
    pub last_active_at: DateTime<Utc>,
    /// Whether an administrator made it to act as the user.
    pub is_impersonation: bool,
}

/// Inserts a session.
///
/// # Errors
/// Database errors.
pub async fn insert(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
    user_id: Uuid,
    token: &Secret<String>,
    expires_at: Option<DateTime<Utc>>,
    is_impersonation: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (project_id, id, user_id, refresh_token, expires_at, is_impersonation)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(project_id)
    .bind(id)
    .bind(user_id)
    .bind(token.expose())
    .bind(expires_at)
    .bind(is_impersonation)
    .execute(db)
    .await?;
    Ok(())
}

/// The live session with this refresh token (not expired, user still there).
///
/// # Errors
/// Database errors.
pub async fn find_by_token(
    db: impl PgExecutor<'_>,
    project_id: &str,
    token: &str,
) -> Result<Option<SessionRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, created_at, last_active_at, is_impersonation FROM refresh_tokens
         WHERE project_id = $1 AND refresh_token = $2 AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(project_id)
    .bind(token)
    .fetch_optional(db)
    .await
}

/// Whether a live session with this id exists.
///
/// # Errors
/// Database errors.
pub async fn find(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<Option<SessionRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, created_at, last_active_at, is_impersonation FROM refresh_tokens
         WHERE project_id = $1 AND id = $2 AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(project_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The refresh token of a live session of `user_id` (for a cross-domain
/// handoff, which passes the session on).
///
/// # Errors
/// Database errors.
pub async fn refresh_token_of(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
    user_id: Uuid,
) -> Result<Option<Secret<String>>, sqlx::Error> {
    let token: Option<String> = sqlx::query_scalar(
        "SELECT refresh_token FROM refresh_tokens
         WHERE project_id = $1 AND id = $2 AND user_id = $3
           AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(project_id)
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    Ok(token.map(Secret::new))
}

/// A user's live sessions, newest first.
///
/// # Errors
/// Database errors.
pub async fn list_for_user(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
) -> Result<Vec<SessionRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, created_at, last_active_at, is_impersonation FROM refresh_tokens
         WHERE project_id = $1 AND user_id = $2 AND (expires_at IS NULL OR expires_at > now())
         ORDER BY created_at DESC, id",
    )
    .bind(project_id)
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Deletes one session; returns whether it existed.
///
/// # Errors
/// Database errors.
pub async fn delete(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let statement = "DELETE FROM refresh_tokens WHERE project_id = $1 AND id = $2";
    Ok(super::execute_with_ids(db, statement, project_id, &[id]).await? == 1)
}

/// Deletes all of a user's sessions except `keep`.
///
/// # Errors
/// Database errors.
pub async fn delete_all_for_user(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM refresh_tokens WHERE project_id = $1 AND user_id = $2
           AND ($3::uuid IS NULL OR id <> $3)",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(keep)
    .execute(db)
    .await?;
    Ok(())
}

/// Records activity on a session and its user (when an access token is minted).
///
/// # Errors
/// Database errors.
pub async fn touch(
    db: impl PgExecutor<'_>,
    project_id: &str,
    session_id: Uuid,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH s AS (UPDATE refresh_tokens SET last_active_at = now() WHERE project_id = $1 AND id = $2)
         UPDATE users SET last_active_at = now() WHERE project_id = $1 AND id = $3",
    )
    .bind(project_id)
    .bind(session_id)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(())
}
