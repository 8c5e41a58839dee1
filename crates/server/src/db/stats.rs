//! Counts for a project's overview: sign-ups per day and active sessions.
//! Both read a range of an index (`users_signed_up`,
//! `refresh_tokens_last_active`), not the project's every row.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;

/// How many non-anonymous users of `project_id` signed up on each UTC day
/// since `since`; days without a sign-up are left out.
///
/// # Errors
/// Database errors.
pub async fn sign_ups_per_day(
    db: impl PgExecutor<'_>,
    project_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<(NaiveDate, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT (signed_up_at AT TIME ZONE 'UTC')::date AS day, count(*) FROM users
         WHERE project_id = $1 AND signed_up_at >= $2 AND NOT is_anonymous
         GROUP BY day ORDER BY day",
    )
    .bind(project_id)
    .bind(since)
    .fetch_all(db)
    .await
}

/// How many sessions (refresh tokens) of `project_id` have not expired and
/// were used since `active_since`.
///
/// # Errors
/// Database errors.
pub async fn active_sessions(
    db: impl PgExecutor<'_>,
    project_id: &str,
    active_since: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens
         WHERE project_id = $1 AND last_active_at >= $2
           AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(project_id)
    .bind(active_since)
    .fetch_one(db)
    .await
}
