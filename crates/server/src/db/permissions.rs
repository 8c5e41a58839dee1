//! Directly granted permissions: per team member (`team_member_permissions`)
//! and per user (`user_permissions`). What a grant implies is the domain's
//! business ([`crate::permissions`]).

use sqlx::PgExecutor;
use uuid::Uuid;

/// The permission ids granted directly to `user_id` in `team_id`, sorted.
///
/// # Errors
/// Database errors.
pub async fn team_grants(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT permission_id FROM team_member_permissions
         WHERE project_id = $1 AND team_id = $2 AND user_id = $3 ORDER BY permission_id",
    )
    .bind(project_id)
    .bind(team_id)
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Grants `permission_id` to a team member (nothing happens when it is
/// granted already).
///
/// # Errors
/// Database errors (a missing membership among them).
pub async fn grant_team(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Uuid,
    user_id: Uuid,
    permission_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO team_member_permissions (project_id, team_id, user_id, permission_id)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(project_id)
    .bind(team_id)
    .bind(user_id)
    .bind(permission_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether `user_id` is a member of `team_id`.
///
/// # Errors
/// Database errors.
pub async fn is_member(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM team_members WHERE project_id = $1 AND team_id = $2 AND user_id = $3)",
    )
    .bind(project_id)
    .bind(team_id)
    .bind(user_id)
    .fetch_one(db)
    .await
}
