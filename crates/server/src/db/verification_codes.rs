//! Verification codes: rows keyed by a hash of the code, never the code itself.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

/// A stored code.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRecord {
    /// Row id.
    pub id: Uuid,
    /// How the code was delivered (`{"email": …}`; `{}` when it was not mailed).
    pub method: Json<Value>,
    /// What the code is for (e.g. `{"user_id": …}`).
    pub data: Json<Value>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// When it was used, if it was.
    pub used_at: Option<DateTime<Utc>>,
    /// Attempts counted before this one.
    pub attempt_count: i32,
}

/// The fields of a new code.
#[derive(Debug)]
pub struct NewCodeRow<'a> {
    /// Owning project.
    pub project_id: &'a str,
    /// Row id.
    pub id: Uuid,
    /// `ONE_TIME_PASSWORD`, `PASSWORD_RESET`, `CONTACT_CHANNEL_VERIFICATION`,
    /// `TEAM_INVITATION`, `MFA_ATTEMPT`.
    pub kind: &'a str,
    /// SHA-256 of the whole code.
    pub code_hash: &'a str,
    /// SHA-256 of the code without its first six characters.
    pub nonce_hash: &'a str,
    /// Delivery method.
    pub method: &'a Value,
    /// Purpose data.
    pub data: &'a Value,
    /// The callback URL the link points at.
    pub redirect_url: Option<&'a str>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Stores a new code.
///
/// # Errors
/// Database errors.
pub async fn insert(db: impl PgExecutor<'_>, row: &NewCodeRow<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO verification_codes (project_id, id, type, code_hash, nonce_hash, method, data, redirect_url, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(row.project_id)
    .bind(row.id)
    .bind(row.kind)
    .bind(row.code_hash)
    .bind(row.nonce_hash)
    .bind(Json(row.method))
    .bind(Json(row.data))
    .bind(row.redirect_url)
    .bind(row.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The code of type `kind` with this hash, locked for the rest of the transaction.
///
/// # Errors
/// Database errors.
pub async fn find_for_update(
    db: impl PgExecutor<'_>,
    project_id: &str,
    kind: &str,
    code_hash: &str,
) -> Result<Option<CodeRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, method, data, expires_at, used_at, attempt_count FROM verification_codes
         WHERE project_id = $1 AND type = $2 AND code_hash = $3 FOR UPDATE",
    )
    .bind(project_id)
    .bind(kind)
    .bind(code_hash)
    .fetch_optional(db)
    .await
}

/// Counts one attempt against every code of the project that shares this nonce.
///
/// # Errors
/// Database errors.
pub async fn count_attempt(
    db: impl PgExecutor<'_>,
    project_id: &str,
    nonce_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE verification_codes SET attempt_count = attempt_count + 1
         WHERE project_id = $1 AND nonce_hash = $2",
    )
    .bind(project_id)
    .bind(nonce_hash)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a code used.
///
/// # Errors
/// Database errors.
pub async fn mark_used(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE verification_codes SET used_at = now() WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// A pending team invitation: an unused, unexpired `TEAM_INVITATION` code of
/// a team that still exists, with the team's current name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRecord {
    /// The code's row id (the invitation's id).
    pub id: Uuid,
    /// The team it invites to.
    pub team_id: Uuid,
    /// The team's name now.
    pub team_display_name: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// The address it was sent to.
    pub recipient_email: String,
}

/// The start of every pending-invitation read: the columns of
/// [`InvitationRecord`], codes joined to their (existing) teams, `$1` the
/// project. A macro so that the statements built on it stay static strings.
macro_rules! pending_invitations {
    () => {
        "SELECT c.id, t.id AS team_id, t.display_name AS team_display_name, c.expires_at,
                COALESCE(c.method->>'email', '') AS recipient_email
         FROM verification_codes c
         JOIN teams t ON t.project_id = c.project_id AND t.id::text = c.data->>'team_id'
         WHERE c.project_id = $1 AND c.type = 'TEAM_INVITATION'
           AND c.used_at IS NULL AND c.expires_at > now()"
    };
}

/// The pending invitations to `team_id`, oldest first.
///
/// # Errors
/// Database errors.
pub async fn team_invitations(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Uuid,
) -> Result<Vec<InvitationRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        pending_invitations!(),
        " AND t.id = $2 ORDER BY c.created_at, c.id"
    ))
    .bind(project_id)
    .bind(team_id)
    .fetch_all(db)
    .await
}

/// The pending invitations sent to any verified email address of `user_id`
/// (exact match), oldest first.
///
/// # Errors
/// Database errors.
pub async fn invitations_for_user(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
) -> Result<Vec<InvitationRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        pending_invitations!(),
        " AND c.method->>'email' IN (
             SELECT value FROM contact_channels
             WHERE project_id = $1 AND user_id = $2 AND type = 'email' AND is_verified)
         ORDER BY c.created_at, c.id"
    ))
    .bind(project_id)
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Deletes the invitation `id` to `team_id` (used or not); whether there was one.
///
/// # Errors
/// Database errors.
pub async fn delete_team_invitation(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM verification_codes
         WHERE project_id = $1 AND id = $2 AND type = 'TEAM_INVITATION' AND data->>'team_id' = $3",
    )
    .bind(project_id)
    .bind(id)
    .bind(team_id.to_string())
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks the pending invitation `id` used, in one statement, if it was sent
/// to a verified email address of `user_id`; returns the team it invites to
/// (`None` when there is no such invitation, or another request took it first).
///
/// # Errors
/// Database errors.
pub async fn take_invitation_for_user(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
    user_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE verification_codes c SET used_at = now()
         WHERE c.project_id = $1 AND c.id = $2 AND c.type = 'TEAM_INVITATION'
           AND c.used_at IS NULL AND c.expires_at > now()
           AND EXISTS (
               SELECT 1 FROM contact_channels ch
               WHERE ch.project_id = $1 AND ch.user_id = $3 AND ch.type = 'email'
                 AND ch.is_verified AND ch.value = c.method->>'email')
         RETURNING COALESCE(c.data->>'team_id', '')",
    )
    .bind(project_id)
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}
