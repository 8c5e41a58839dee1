//! Analytics events uploaded by the SDK (`analytics_events`, migration 0011).

use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

/// Who sent a batch, and which batch it is.
#[derive(Debug, Clone, Copy)]
pub struct BatchOrigin {
    /// The signed-in user.
    pub user_id: Uuid,
    /// The session (refresh token) of the access token.
    pub refresh_token_id: Uuid,
    /// The SDK's session-replay segment.
    pub session_replay_segment_id: Uuid,
    /// The batch's own id.
    pub batch_id: Uuid,
}

/// Stores `events`, a JSON array of checked `{event_type, event_at_ms,
/// data}` objects, in one statement; returns how many were stored.
///
/// # Errors
/// Database errors.
pub async fn insert_events(
    db: impl PgExecutor<'_>,
    project_id: &str,
    origin: BatchOrigin,
    events: &Value,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO analytics_events (project_id, event_type, event_at, data, user_id,
                                       refresh_token_id, session_replay_segment_id, batch_id)
         SELECT $1, e->>'event_type', to_timestamp((e->>'event_at_ms')::numeric / 1000), e->'data',
                $2, $3, $4, $5
         FROM jsonb_array_elements($6) AS e",
    )
    .bind(project_id)
    .bind(origin.user_id)
    .bind(origin.refresh_token_id)
    .bind(origin.session_replay_segment_id)
    .bind(origin.batch_id)
    .bind(events)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
