//! Directly granted permissions: per team member (`team_member_permissions`)
//! and per user (`user_permissions`). What a grant implies is the domain's
//! business ([`crate::permissions`]).

use sqlx::{PgConnection, PgExecutor};
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

/// Grants `permission_id` to a user across the project (nothing happens
/// when it is granted already).
///
/// # Errors
/// Database errors (a missing user among them).
pub async fn grant_project(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
    permission_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_permissions (project_id, user_id, permission_id)
         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(permission_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether a grant failed because the membership or user it belongs to is
/// gone (a foreign-key violation), e.g. removed while the grant was made.
pub fn is_missing_owner(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23503"))
}

/// One directly granted team permission.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TeamGrantRow {
    /// The member.
    pub user_id: Uuid,
    /// The team.
    pub team_id: Uuid,
    /// The permission granted.
    pub permission_id: String,
}

/// One directly granted project permission.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProjectGrantRow {
    /// The user.
    pub user_id: Uuid,
    /// The permission granted.
    pub permission_id: String,
}

/// The direct team grants of a project, narrowed to a team, a user and a
/// permission id when given.
///
/// # Errors
/// Database errors.
pub async fn list_team_grants(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Option<Uuid>,
    user_id: Option<Uuid>,
    permission_id: Option<&str>,
) -> Result<Vec<TeamGrantRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, team_id, permission_id FROM team_member_permissions
         WHERE project_id = $1
           AND ($2::uuid IS NULL OR team_id = $2)
           AND ($3::uuid IS NULL OR user_id = $3)
           AND ($4::text IS NULL OR permission_id = $4)",
    )
    .bind(project_id)
    .bind(team_id)
    .bind(user_id)
    .bind(permission_id)
    .fetch_all(db)
    .await
}

/// The direct project grants of a project, narrowed to a user and a
/// permission id when given.
///
/// # Errors
/// Database errors.
pub async fn list_project_grants(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Option<Uuid>,
    permission_id: Option<&str>,
) -> Result<Vec<ProjectGrantRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, permission_id FROM user_permissions
         WHERE project_id = $1
           AND ($2::uuid IS NULL OR user_id = $2)
           AND ($3::text IS NULL OR permission_id = $3)",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(permission_id)
    .fetch_all(db)
    .await
}

/// Revokes a direct team grant; false when there was none.
///
/// # Errors
/// Database errors.
pub async fn revoke_team(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Uuid,
    user_id: Uuid,
    permission_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM team_member_permissions
         WHERE project_id = $1 AND team_id = $2 AND user_id = $3 AND permission_id = $4",
    )
    .bind(project_id)
    .bind(team_id)
    .bind(user_id)
    .bind(permission_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Revokes a direct project grant; false when there was none.
///
/// # Errors
/// Database errors.
pub async fn revoke_project(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
    permission_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM user_permissions WHERE project_id = $1 AND user_id = $2 AND permission_id = $3",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(permission_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Moves every grant of `old_id`, team and project ones, to `new_id` (a
/// definition was renamed). A holder who already has `new_id` keeps that
/// one grant.
///
/// # Errors
/// Database errors.
pub async fn rename_grants(
    db: &mut PgConnection,
    project_id: &str,
    old_id: &str,
    new_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM team_member_permissions o
         WHERE o.project_id = $1 AND o.permission_id = $2
           AND EXISTS (SELECT 1 FROM team_member_permissions n
                       WHERE n.project_id = o.project_id AND n.team_id = o.team_id
                         AND n.user_id = o.user_id AND n.permission_id = $3)",
    )
    .bind(project_id)
    .bind(old_id)
    .bind(new_id)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "UPDATE team_member_permissions SET permission_id = $3
         WHERE project_id = $1 AND permission_id = $2",
    )
    .bind(project_id)
    .bind(old_id)
    .bind(new_id)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "DELETE FROM user_permissions o
         WHERE o.project_id = $1 AND o.permission_id = $2
           AND EXISTS (SELECT 1 FROM user_permissions n
                       WHERE n.project_id = o.project_id AND n.user_id = o.user_id
                         AND n.permission_id = $3)",
    )
    .bind(project_id)
    .bind(old_id)
    .bind(new_id)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "UPDATE user_permissions SET permission_id = $3
         WHERE project_id = $1 AND permission_id = $2",
    )
    .bind(project_id)
    .bind(old_id)
    .bind(new_id)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Deletes every team grant of `permission_id` in the project.
///
/// # Errors
/// Database errors.
pub async fn delete_team_grants_of(
    db: impl PgExecutor<'_>,
    project_id: &str,
    permission_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM team_member_permissions WHERE project_id = $1 AND permission_id = $2")
        .bind(project_id)
        .bind(permission_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes every project grant of `permission_id` in the project.
///
/// # Errors
/// Database errors.
pub async fn delete_project_grants_of(
    db: impl PgExecutor<'_>,
    project_id: &str,
    permission_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM user_permissions WHERE project_id = $1 AND permission_id = $2")
        .bind(project_id)
        .bind(permission_id)
        .execute(db)
        .await?;
    Ok(())
}
