//! Teams and memberships, as far as users and projects need them.

use sqlx::PgConnection;
use uuid::Uuid;

use super::projects::PermissionRef;

/// Creates a team.
///
/// # Errors
/// Database errors.
pub async fn insert(
    db: &mut PgConnection,
    project_id: &str,
    id: Uuid,
    display_name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO teams (project_id, id, display_name) VALUES ($1, $2, $3)")
        .bind(project_id)
        .bind(id)
        .bind(display_name)
        .execute(db)
        .await?;
    Ok(())
}

/// Adds a member with the given direct permissions; `select` makes it the user's
/// selected team (replacing any other selection).
///
/// # Errors
/// Database errors.
pub async fn add_member(
    db: &mut PgConnection,
    project_id: &str,
    team_id: Uuid,
    user_id: Uuid,
    permissions: &[PermissionRef],
    select: bool,
) -> Result<(), sqlx::Error> {
    if select {
        sqlx::query(
            "UPDATE team_members SET is_selected = NULL WHERE project_id = $1 AND user_id = $2",
        )
        .bind(project_id)
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    }
    sqlx::query(
        "INSERT INTO team_members (project_id, team_id, user_id, is_selected) VALUES ($1, $2, $3, $4)",
    )
    .bind(project_id)
    .bind(team_id)
    .bind(user_id)
    .bind(select.then_some(true))
    .execute(&mut *db)
    .await?;
    for permission in permissions {
        sqlx::query(
            "INSERT INTO team_member_permissions (project_id, team_id, user_id, permission_id)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(project_id)
        .bind(team_id)
        .bind(user_id)
        .bind(&permission.id)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Makes `team_id` the user's selected team, or clears the selection; returns
/// false when the user is not a member of that team.
///
/// # Errors
/// Database errors.
pub async fn select(
    db: &mut PgConnection,
    project_id: &str,
    user_id: Uuid,
    team_id: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    if let Some(team_id) = team_id {
        let member: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM team_members WHERE project_id = $1 AND user_id = $2 AND team_id = $3)",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(team_id)
        .fetch_one(&mut *db)
        .await?;
        if !member {
            return Ok(false);
        }
    }
    sqlx::query(
        "UPDATE team_members SET is_selected = NULL WHERE project_id = $1 AND user_id = $2",
    )
    .bind(project_id)
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    if let Some(team_id) = team_id {
        sqlx::query(
            "UPDATE team_members SET is_selected = TRUE WHERE project_id = $1 AND user_id = $2 AND team_id = $3",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(team_id)
        .execute(&mut *db)
        .await?;
    }
    Ok(true)
}

/// Whether the team exists.
///
/// # Errors
/// Database errors.
pub async fn exists(
    db: &mut PgConnection,
    project_id: &str,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM teams WHERE project_id = $1 AND id = $2)")
        .bind(project_id)
        .bind(id)
        .fetch_one(db)
        .await
}
