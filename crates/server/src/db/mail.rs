//! The mail sink's messages in PostgreSQL: store, list, read, delete, prune.
//!
//! A message with several recipients is stored once per recipient, so each
//! mailbox reads and deletes its own copy. Nothing here speaks SMTP or HTTP.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// Most messages kept in all mailboxes together; older ones are deleted as new ones arrive.
/// Large enough for a long test run, small enough that a flood cannot fill the disk
/// (at the 1 MiB size limit, the worst case is a few tens of GB; typical mails are a few KB).
pub const MAX_STORED_MESSAGES: i64 = 50_000;

/// How often (in stored messages) the oldest rows beyond [`MAX_STORED_MESSAGES`] are deleted.
const PRUNE_EVERY: i64 = 100;

/// Most messages one listing returns.
pub const MAX_PAGE: i64 = 200;

/// A message as it arrived, parsed into the parts the sink shows.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The envelope sender (`MAIL FROM`), possibly empty.
    pub sender: String,
    /// The envelope recipients (`RCPT TO`).
    pub recipients: Vec<String>,
    /// The `Subject` header, decoded.
    pub subject: String,
    /// The first text/plain part.
    pub text_body: Option<String>,
    /// The first text/html part.
    pub html_body: Option<String>,
    /// The message as received.
    pub raw: Vec<u8>,
}

/// A stored message without its bodies (a line of a listing).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Summary {
    /// Message id.
    pub id: i64,
    /// The mailbox (a recipient address).
    pub mailbox: String,
    /// Envelope sender.
    pub sender: String,
    /// Envelope recipients.
    pub recipients: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Size of the raw message.
    pub size_bytes: i32,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// A stored message with its bodies.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Message {
    /// The listing fields.
    #[sqlx(flatten)]
    pub summary: Summary,
    /// Text body.
    pub text_body: Option<String>,
    /// HTML body.
    pub html_body: Option<String>,
}

/// A mailbox and how many messages it holds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailboxInfo {
    /// The mailbox name.
    pub mailbox: String,
    /// Messages stored.
    pub count: i64,
    /// When the newest arrived.
    pub latest: DateTime<Utc>,
}

/// The mailbox name for an address: trimmed and lower-cased.
pub fn mailbox_name(address: &str) -> String {
    address.trim().to_lowercase()
}

/// Stores one copy of `message` per recipient and returns the new ids, pruning
/// the oldest messages now and then.
///
/// # Errors
/// Database errors.
pub async fn insert(pool: &sqlx::PgPool, message: &NewMessage) -> Result<Vec<i64>, sqlx::Error> {
    let mailboxes: Vec<String> = message.recipients.iter().map(|r| mailbox_name(r)).collect();
    let size = i32::try_from(message.raw.len()).unwrap_or(i32::MAX);
    let ids: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO mail_messages (mailbox, sender, recipients, subject, text_body, html_body, raw, size_bytes)
         SELECT m, $2, $3, $4, $5, $6, $7, $8 FROM unnest($1::text[]) AS m
         RETURNING id",
    )
    .bind(&mailboxes)
    .bind(&message.sender)
    .bind(&message.recipients)
    .bind(&message.subject)
    .bind(&message.text_body)
    .bind(&message.html_body)
    .bind(&message.raw)
    .bind(size)
    .fetch_all(pool)
    .await?;
    if ids.iter().any(|id| id % PRUNE_EVERY == 0) {
        prune(pool, MAX_STORED_MESSAGES).await?;
    }
    Ok(ids)
}

/// Deletes all but the newest `keep` messages.
///
/// # Errors
/// Database errors.
pub async fn prune(db: impl PgExecutor<'_>, keep: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM mail_messages WHERE id <= (SELECT id FROM mail_messages ORDER BY id DESC OFFSET $1 LIMIT 1)",
    )
    .bind(keep)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The newest messages of a mailbox older than `before` (an id), newest first.
///
/// # Errors
/// Database errors.
pub async fn list(
    db: impl PgExecutor<'_>,
    mailbox: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Summary>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, mailbox, sender, recipients, subject, size_bytes, received_at
         FROM mail_messages WHERE mailbox = $1 AND ($2::bigint IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(mailbox_name(mailbox))
    .bind(before)
    .bind(limit.clamp(1, MAX_PAGE))
    .fetch_all(db)
    .await
}

/// The newest messages older than `before` (an id), newest first, with
/// their bodies; with `project_id`, only those to an email address of one of
/// that project's users (the sink does not record which project sent a mail).
///
/// # Errors
/// Database errors.
pub async fn list_with_bodies(
    db: impl PgExecutor<'_>,
    project_id: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    // Walks the primary key backwards and checks each message against the
    // channel index on (project_id, lower(value)), so a page stays fast with
    // many messages and many users.
    sqlx::query_as(
        "SELECT id, mailbox, sender, recipients, subject, size_bytes, received_at, text_body, html_body
         FROM mail_messages m
         WHERE ($1::text IS NULL OR EXISTS (
                   SELECT 1 FROM contact_channels c
                   WHERE c.project_id = $1 AND c.type = 'email' AND lower(c.value) = m.mailbox))
           AND ($2::bigint IS NULL OR m.id < $2)
         ORDER BY m.id DESC LIMIT $3",
    )
    .bind(project_id)
    .bind(before)
    .bind(limit.clamp(1, MAX_PAGE))
    .fetch_all(db)
    .await
}

/// One message of a mailbox.
///
/// # Errors
/// Database errors.
pub async fn get(
    db: impl PgExecutor<'_>,
    mailbox: &str,
    id: i64,
) -> Result<Option<Message>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, mailbox, sender, recipients, subject, size_bytes, received_at, text_body, html_body
         FROM mail_messages WHERE mailbox = $1 AND id = $2",
    )
    .bind(mailbox_name(mailbox))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The raw source of one message of a mailbox.
///
/// # Errors
/// Database errors.
pub async fn source(
    db: impl PgExecutor<'_>,
    mailbox: &str,
    id: i64,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("SELECT raw FROM mail_messages WHERE mailbox = $1 AND id = $2")
        .bind(mailbox_name(mailbox))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Deletes one message; whether it existed.
///
/// # Errors
/// Database errors.
pub async fn delete(db: impl PgExecutor<'_>, mailbox: &str, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM mail_messages WHERE mailbox = $1 AND id = $2")
        .bind(mailbox_name(mailbox))
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes every message of a mailbox; how many there were.
///
/// # Errors
/// Database errors.
pub async fn purge_mailbox(db: impl PgExecutor<'_>, mailbox: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM mail_messages WHERE mailbox = $1")
        .bind(mailbox_name(mailbox))
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Deletes every stored message; how many there were.
///
/// # Errors
/// Database errors.
pub async fn purge_all(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM mail_messages").execute(db).await?;
    Ok(done.rows_affected())
}

/// Every mailbox with its message count, most recently used first.
///
/// # Errors
/// Database errors.
pub async fn mailboxes(db: impl PgExecutor<'_>) -> Result<Vec<MailboxInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT mailbox, count(*) AS count, max(received_at) AS latest
         FROM mail_messages GROUP BY mailbox ORDER BY max(id) DESC LIMIT 1000",
    )
    .fetch_all(db)
    .await
}
