//! The dashboard's listing of a project's teams: one page at a time, newest
//! first, with a search on the name or id and each team's member count.
//! Pages are keyset pages on `(created_at, id)` (index `teams_created` of
//! migration 0008), so a page costs the same at any depth.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A team as the list shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TeamSummary {
    /// Team id.
    pub id: Uuid,
    /// Name.
    pub display_name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Members.
    pub member_count: i64,
}

/// What one page asks for.
#[derive(Debug, Clone, Copy)]
pub struct TeamPage<'a> {
    /// The first team of the page (the row after the previous page's last).
    pub cursor: Option<Uuid>,
    /// An `ILIKE` pattern body (escaped with [`super::user_list::escape_like`])
    /// matched anywhere in the name, or an exact team id.
    pub search: Option<&'a str>,
    /// Rows to return.
    pub limit: i64,
}

/// One page of a project's teams, newest first.
///
/// # Errors
/// Database errors.
pub async fn page(
    db: impl PgExecutor<'_>,
    project_id: &str,
    q: &TeamPage<'_>,
) -> Result<Vec<TeamSummary>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id, t.display_name, t.created_at,
                (SELECT count(*) FROM team_members m
                 WHERE m.project_id = t.project_id AND m.team_id = t.id) AS member_count
         FROM teams t
         WHERE t.project_id = $1
           AND ($2::uuid IS NULL OR (t.created_at, t.id) <=
                (SELECT c.created_at, c.id FROM teams c WHERE c.project_id = $1 AND c.id = $2))
           AND ($3::text IS NULL OR t.display_name ILIKE '%' || $3 || '%' OR t.id::text = $3)
         ORDER BY t.created_at DESC, t.id DESC
         LIMIT $4",
    )
    .bind(project_id)
    .bind(q.cursor)
    .bind(q.search)
    .bind(q.limit)
    .fetch_all(db)
    .await
}

/// How many teams the project has.
///
/// # Errors
/// Database errors.
pub async fn count(db: impl PgExecutor<'_>, project_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM teams WHERE project_id = $1")
        .bind(project_id)
        .fetch_one(db)
        .await
}
