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
    /// How the code was delivered (`{"email": …}`).
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
    /// `ONE_TIME_PASSWORD`, `PASSWORD_RESET`, `CONTACT_CHANNEL_VERIFICATION`.
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
