//! Contact channels (email addresses) of users.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A contact channel.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChannelRecord {
    /// Channel id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// `email`.
    #[sqlx(rename = "type")]
    pub kind: String,
    /// The address.
    pub value: String,
    /// Verified.
    pub is_verified: bool,
    /// Primary (TRUE or NULL in the table).
    pub is_primary: Option<bool>,
    /// Usable for sign-in (TRUE or NULL in the table).
    pub used_for_auth: Option<bool>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// The columns of a row, as a macro so that statements built on it stay
/// static strings.
macro_rules! channel_columns {
    () => {
        "id, user_id, type, value, is_verified, is_primary, used_for_auth, created_at"
    };
}

/// The channels of a user (or of every user), oldest first, optionally only one.
///
/// # Errors
/// Database errors.
pub async fn list(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Option<Uuid>,
    channel_id: Option<Uuid>,
) -> Result<Vec<ChannelRecord>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", channel_columns!(), " FROM contact_channels
         WHERE project_id = $1 AND ($2::uuid IS NULL OR user_id = $2) AND ($3::uuid IS NULL OR id = $3)
         ORDER BY created_at, id"))
    .bind(project_id)
    .bind(user_id)
    .bind(channel_id)
    .fetch_all(db)
    .await
}

/// One channel of a user, locked when inside a transaction that asks for it.
///
/// # Errors
/// Database errors.
pub async fn find(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
    channel_id: Uuid,
) -> Result<Option<ChannelRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        channel_columns!(),
        " FROM contact_channels WHERE project_id = $1 AND user_id = $2 AND id = $3 FOR UPDATE"
    ))
    .bind(project_id)
    .bind(user_id)
    .bind(channel_id)
    .fetch_optional(db)
    .await
}

/// The channel of a user with this address.
///
/// # Errors
/// Database errors.
pub async fn find_by_value(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
    value: &str,
) -> Result<Option<ChannelRecord>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", channel_columns!(), " FROM contact_channels WHERE project_id = $1 AND user_id = $2 AND type = 'email' AND value = $3"))
    .bind(project_id)
    .bind(user_id)
    .bind(value)
    .fetch_optional(db)
    .await
}

/// The auth-enabled email channel with this address (exact match first, then
/// case-insensitive), with whether its user has OTP sign-in.
///
/// # Errors
/// Database errors.
pub async fn find_auth_email(
    db: impl PgExecutor<'_>,
    project_id: &str,
    email: &str,
) -> Result<Option<(ChannelRecord, bool)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        channel: ChannelRecord,
        otp_auth_enabled: bool,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT c.id, c.user_id, c.type, c.value, c.is_verified, c.is_primary, c.used_for_auth, c.created_at,
                u.otp_auth_enabled
         FROM contact_channels c JOIN users u ON u.project_id = c.project_id AND u.id = c.user_id
         WHERE c.project_id = $1 AND c.type = 'email' AND c.used_for_auth
           AND (c.value = $2 OR lower(c.value) = lower($2))
         ORDER BY (c.value = $2) DESC LIMIT 1",
    )
    .bind(project_id)
    .bind(email.trim())
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.channel, r.otp_auth_enabled)))
}

/// The users with an email channel of this address (case-insensitive), at
/// most `limit` of them, oldest channel first.
///
/// # Errors
/// Database errors.
pub async fn users_with_email(
    db: impl PgExecutor<'_>,
    project_id: &str,
    email: &str,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM contact_channels
         WHERE project_id = $1 AND type = 'email' AND lower(value) = lower($2)
         GROUP BY user_id ORDER BY min(created_at) LIMIT $3",
    )
    .bind(project_id)
    .bind(email.trim())
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The fields of a new channel.
#[derive(Debug)]
pub struct NewChannel<'a> {
    /// Channel id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// The (normalised) address.
    pub value: &'a str,
    /// Verified.
    pub is_verified: bool,
    /// The user's primary channel (the caller demotes any other first).
    pub is_primary: bool,
    /// Usable for sign-in.
    pub used_for_auth: bool,
}

/// Inserts an email channel.
///
/// # Errors
/// Database errors, including unique violations.
pub async fn insert(
    db: impl PgExecutor<'_>,
    project_id: &str,
    c: &NewChannel<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO contact_channels (project_id, id, user_id, type, value, is_verified, is_primary, used_for_auth)
         VALUES ($1, $2, $3, 'email', $4, $5, $6, $7)",
    )
    .bind(project_id)
    .bind(c.id)
    .bind(c.user_id)
    .bind(c.value)
    .bind(c.is_verified)
    .bind(c.is_primary.then_some(true))
    .bind(c.used_for_auth.then_some(true))
    .execute(db)
    .await?;
    Ok(())
}

/// Makes no channel of the user primary.
///
/// # Errors
/// Database errors.
pub async fn demote_primary(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE contact_channels SET is_primary = NULL WHERE project_id = $1 AND user_id = $2 AND is_primary",
    )
    .bind(project_id)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(())
}

/// The new state of a channel.
#[derive(Debug)]
pub struct ChannelUpdate<'a> {
    /// Address.
    pub value: &'a str,
    /// Verified.
    pub is_verified: bool,
    /// Primary.
    pub is_primary: bool,
    /// Usable for sign-in.
    pub used_for_auth: bool,
}

/// Writes a channel's state.
///
/// # Errors
/// Database errors, including unique violations.
pub async fn update(
    db: impl PgExecutor<'_>,
    project_id: &str,
    channel_id: Uuid,
    u: &ChannelUpdate<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE contact_channels SET value = $3, is_verified = $4, is_primary = $5, used_for_auth = $6
         WHERE project_id = $1 AND id = $2",
    )
    .bind(project_id)
    .bind(channel_id)
    .bind(u.value)
    .bind(u.is_verified)
    .bind(u.is_primary.then_some(true))
    .bind(u.used_for_auth.then_some(true))
    .execute(db)
    .await?;
    Ok(())
}

/// Marks the user's channel with this address verified; whether it exists.
///
/// # Errors
/// Database errors.
pub async fn mark_verified(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
    value: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE contact_channels SET is_verified = TRUE
         WHERE project_id = $1 AND user_id = $2 AND type = 'email' AND value = $3",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(value)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes a channel; whether it existed.
///
/// # Errors
/// Database errors.
pub async fn delete(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
    channel_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM contact_channels WHERE project_id = $1 AND user_id = $2 AND id = $3",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(channel_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether another channel than `except` has `value` enabled for sign-in.
///
/// # Errors
/// Database errors.
pub async fn auth_value_taken(
    db: impl PgExecutor<'_>,
    project_id: &str,
    value: &str,
    except: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM contact_channels
                        WHERE project_id = $1 AND type = 'email' AND used_for_auth AND value = $2
                          AND ($3::uuid IS NULL OR id <> $3))",
    )
    .bind(project_id)
    .bind(value)
    .bind(except)
    .fetch_one(db)
    .await
}

/// The user's primary email channel: (id, address, usable for sign-in).
///
/// # Errors
/// Database errors.
pub async fn primary_email(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
) -> Result<Option<(Uuid, String, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, value, COALESCE(used_for_auth, FALSE) FROM contact_channels
         WHERE project_id = $1 AND user_id = $2 AND type = 'email' AND is_primary",
    )
    .bind(project_id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// The id of the user's email channel with this address.
///
/// # Errors
/// Database errors.
pub async fn find_email_id(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
    email: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM contact_channels WHERE project_id = $1 AND user_id = $2 AND type = 'email' AND value = $3",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(email)
    .fetch_optional(db)
    .await
}

/// Makes a channel primary (the caller demotes the old one first).
///
/// # Errors
/// Database errors.
pub async fn make_primary(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE contact_channels SET is_primary = TRUE WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Sets whether a channel can be used to sign in.
///
/// # Errors
/// Database errors.
pub async fn set_used_for_auth(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
    enabled: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE contact_channels SET used_for_auth = $3 WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .bind(enabled.then_some(true))
        .execute(db)
        .await?;
    Ok(())
}

/// Sets whether a channel is verified.
///
/// # Errors
/// Database errors.
pub async fn set_verified(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
    verified: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE contact_channels SET is_verified = $3 WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .bind(verified)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether any channel of the project has this address.
///
/// # Errors
/// Database errors.
pub async fn value_exists(
    db: impl PgExecutor<'_>,
    project_id: &str,
    value: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM contact_channels WHERE project_id = $1 AND value = $2)",
    )
    .bind(project_id)
    .bind(value)
    .fetch_one(db)
    .await
}
