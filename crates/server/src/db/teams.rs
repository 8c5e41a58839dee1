//! Teams, their memberships (with the member profile and the selected-team
//! flag) and the queries the team routes and user objects need. What the rows
//! mean (who may change them, which errors a missing row gives) is decided in
//! [`crate::teams`].

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::permissions::Holder;
use super::projects::PermissionRef;
use super::users::{Change, UserRecord, user_select};

/// A team row, as every team object shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TeamRecord {
    /// Team id.
    pub id: Uuid,
    /// Name.
    pub display_name: String,
    /// Image URL.
    pub profile_image_url: Option<String>,
    /// Client metadata.
    pub client_metadata: Option<Value>,
    /// Client read-only metadata.
    pub client_read_only_metadata: Option<Value>,
    /// Server metadata.
    pub server_metadata: Option<Value>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// The columns of a [`TeamRecord`]; a macro so that statements stay static strings.
macro_rules! team_columns {
    () => {
        "id, display_name, profile_image_url, client_metadata, client_read_only_metadata, server_metadata, created_at"
    };
}

/// The fields of a new team.
#[derive(Debug, Default)]
pub struct NewTeam<'a> {
    /// Name.
    pub display_name: &'a str,
    /// Image URL, already checked.
    pub profile_image_url: Option<&'a str>,
    /// Client metadata.
    pub client_metadata: Option<&'a Value>,
    /// Client read-only metadata.
    pub client_read_only_metadata: Option<&'a Value>,
    /// Server metadata.
    pub server_metadata: Option<&'a Value>,
}

/// Creates a team with only an id and a name (the seed's teams).
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

/// Creates a team and returns it.
///
/// # Errors
/// Database errors.
pub async fn create(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
    new: &NewTeam<'_>,
) -> Result<TeamRecord, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO teams (project_id, id, display_name, profile_image_url, client_metadata,
             client_read_only_metadata, server_metadata)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        team_columns!()
    ))
    .bind(project_id)
    .bind(id)
    .bind(new.display_name)
    .bind(new.profile_image_url)
    .bind(new.client_metadata.map(Json))
    .bind(new.client_read_only_metadata.map(Json))
    .bind(new.server_metadata.map(Json))
    .fetch_one(db)
    .await
}

/// Loads one team.
///
/// # Errors
/// Database errors.
pub async fn find(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<Option<TeamRecord>, sqlx::Error> {
    let statement = concat!(
        "SELECT ",
        team_columns!(),
        " FROM teams WHERE project_id = $1 AND id = $2"
    );
    super::find_with_ids(db, statement, project_id, &[id]).await
}

/// The teams of a project, or only those `member` belongs to, oldest first.
///
/// # Errors
/// Database errors.
pub async fn list(
    db: impl PgExecutor<'_>,
    project_id: &str,
    member: Option<Uuid>,
) -> Result<Vec<TeamRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        team_columns!(),
        " FROM teams t WHERE t.project_id = $1
           AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM team_members m
                WHERE m.project_id = t.project_id AND m.team_id = t.id AND m.user_id = $2))
         ORDER BY t.created_at, t.id"
    ))
    .bind(project_id)
    .bind(member)
    .fetch_all(db)
    .await
}

/// Changes to a team's columns (`None` keeps a column).
#[derive(Debug, Default)]
pub struct TeamUpdate<'a> {
    /// Name (never cleared).
    pub display_name: Option<&'a str>,
    /// Image URL.
    pub profile_image_url: Change<&'a str>,
    /// Client metadata.
    pub client_metadata: Change<&'a Value>,
    /// Client read-only metadata.
    pub client_read_only_metadata: Change<&'a Value>,
    /// Server metadata.
    pub server_metadata: Change<&'a Value>,
}

/// Applies a [`TeamUpdate`] and returns the team; `None` when there is no such team.
///
/// # Errors
/// Database errors.
pub async fn update(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
    u: &TeamUpdate<'_>,
) -> Result<Option<TeamRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE teams SET
             display_name = COALESCE($3, display_name),
             profile_image_url = CASE WHEN $4 THEN $5 ELSE profile_image_url END,
             client_metadata = CASE WHEN $6 THEN $7 ELSE client_metadata END,
             client_read_only_metadata = CASE WHEN $8 THEN $9 ELSE client_read_only_metadata END,
             server_metadata = CASE WHEN $10 THEN $11 ELSE server_metadata END
         WHERE project_id = $1 AND id = $2 RETURNING ",
        team_columns!()
    ))
    .bind(project_id)
    .bind(id)
    .bind(u.display_name)
    .bind(u.profile_image_url.is_some())
    .bind(u.profile_image_url.flatten())
    .bind(u.client_metadata.is_some())
    .bind(u.client_metadata.flatten().map(Json))
    .bind(u.client_read_only_metadata.is_some())
    .bind(u.client_read_only_metadata.flatten().map(Json))
    .bind(u.server_metadata.is_some())
    .bind(u.server_metadata.flatten().map(Json))
    .fetch_optional(db)
    .await
}

/// Deletes a team; its memberships, their permissions and any selection of
/// it go with it (foreign keys cascade). Returns whether it existed.
///
/// # Errors
/// Database errors.
pub async fn delete(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let statement = "DELETE FROM teams WHERE project_id = $1 AND id = $2";
    Ok(super::execute_with_ids(db, statement, project_id, &[id]).await? == 1)
}

/// Renames the teams of `user_id` that are named exactly `from`.
///
/// # Errors
/// Database errors.
pub async fn rename_member_teams_named(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
    from: &str,
    to: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE teams t SET display_name = $4
         WHERE t.project_id = $1 AND t.display_name = $3
           AND EXISTS (SELECT 1 FROM team_members m
                       WHERE m.project_id = t.project_id AND m.team_id = t.id AND m.user_id = $2)",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(from)
    .bind(to)
    .execute(db)
    .await?;
    Ok(())
}

/// Adds a member with the given direct permissions; `select` makes it the user's
/// selected team (replacing any other selection). Fails with a unique
/// violation when the user is a member already.
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
        clear_selection(&mut *db, project_id, user_id).await?;
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
    let holder = Holder::Member { team_id, user_id };
    for permission in permissions {
        super::permissions::grant(&mut *db, project_id, holder, &permission.id).await?;
    }
    Ok(())
}

/// Adds a member (not selected, no permissions); returns false, changing
/// nothing, when the user is a member already, also when a concurrent
/// transaction added them first.
///
/// # Errors
/// Database errors (a missing team or user is a foreign-key violation).
pub async fn insert_member(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let statement = "INSERT INTO team_members (project_id, team_id, user_id) VALUES ($1, $2, $3)
         ON CONFLICT (project_id, team_id, user_id) DO NOTHING";
    Ok(super::execute_with_ids(db, statement, project_id, &[team_id, user_id]).await? == 1)
}

/// Removes a member (their permissions in the team go with the row); returns
/// whether they were one.
///
/// # Errors
/// Database errors.
pub async fn delete_member(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let statement =
        "DELETE FROM team_members WHERE project_id = $1 AND team_id = $2 AND user_id = $3";
    Ok(super::execute_with_ids(db, statement, project_id, &[team_id, user_id]).await? == 1)
}

/// Clears the user's selected team, if any.
///
/// # Errors
/// Database errors.
pub async fn clear_selection(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE team_members SET is_selected = NULL
         WHERE project_id = $1 AND user_id = $2 AND is_selected",
    )
    .bind(project_id)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Makes `team_id` the user's selected team, replacing any other selection;
/// returns false when the user is not a member of it (the selection is then
/// cleared, so the caller rolls back).
///
/// # Errors
/// Database errors.
pub async fn select(
    db: &mut PgConnection,
    project_id: &str,
    user_id: Uuid,
    team_id: Uuid,
) -> Result<bool, sqlx::Error> {
    clear_selection(&mut *db, project_id, user_id).await?;
    let statement = "UPDATE team_members SET is_selected = TRUE
         WHERE project_id = $1 AND user_id = $2 AND team_id = $3";
    Ok(super::execute_with_ids(&mut *db, statement, project_id, &[user_id, team_id]).await? == 1)
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
    let statement = "SELECT EXISTS (SELECT 1 FROM teams WHERE project_id = $1 AND id = $2)";
    super::exists_with_ids(db, statement, project_id, &[id]).await
}

/// A membership with its member profile and the member's user object.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRecord {
    /// The team.
    pub member_team_id: Uuid,
    /// The name set on the membership (not the user's).
    pub member_display_name: Option<String>,
    /// The image set on the membership (not the user's).
    pub member_profile_image_url: Option<String>,
    /// The member.
    #[sqlx(flatten)]
    pub user: UserRecord,
}

/// The memberships of a project, filtered by team and by user, in the order
/// they were made.
macro_rules! member_select {
    () => {
        concat!(
            "SELECT m.team_id AS member_team_id, m.display_name AS member_display_name,
                    m.profile_image_url AS member_profile_image_url, x.*
             FROM team_members m
             CROSS JOIN LATERAL (",
            user_select!(),
            " WHERE u.project_id = m.project_id AND u.id = m.user_id) x
             WHERE m.project_id = $1 AND ($2::uuid IS NULL OR m.team_id = $2)
               AND ($3::uuid IS NULL OR m.user_id = $3)"
        )
    };
}

/// The memberships of a project, only of `team_id` and only of `user_id`
/// when given, oldest first.
///
/// # Errors
/// Database errors.
pub async fn members(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Option<Uuid>,
    user_id: Option<Uuid>,
) -> Result<Vec<MemberRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        member_select!(),
        " ORDER BY m.created_at, m.user_id"
    ))
    .bind(project_id)
    .bind(team_id)
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// One membership.
///
/// # Errors
/// Database errors.
pub async fn member(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<Option<MemberRecord>, sqlx::Error> {
    super::find_with_ids(db, member_select!(), project_id, &[team_id, user_id]).await
}

/// Changes to a member profile (`None` keeps a column).
#[derive(Debug, Default)]
pub struct MemberUpdate<'a> {
    /// Name on the membership (never cleared).
    pub display_name: Option<&'a str>,
    /// Image on the membership.
    pub profile_image_url: Change<&'a str>,
}

/// Applies a [`MemberUpdate`]; returns whether the membership exists.
///
/// # Errors
/// Database errors.
pub async fn update_member(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Uuid,
    user_id: Uuid,
    u: &MemberUpdate<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE team_members SET
             display_name = COALESCE($4, display_name),
             profile_image_url = CASE WHEN $5 THEN $6 ELSE profile_image_url END
         WHERE project_id = $1 AND team_id = $2 AND user_id = $3",
    )
    .bind(project_id)
    .bind(team_id)
    .bind(user_id)
    .bind(u.display_name)
    .bind(u.profile_image_url.is_some())
    .bind(u.profile_image_url.flatten())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
