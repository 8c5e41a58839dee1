//! Install-wide settings kept in PostgreSQL: the token-signing secret and the
//! public URLs. Writers announce changes on [`SETTINGS_CHANNEL`] so that every
//! running server reloads them without a restart.

use std::collections::HashMap;

use sqlx::PgExecutor;

/// The LISTEN/NOTIFY channel that announces a settings change.
pub const SETTINGS_CHANNEL: &str = "stack_server_settings";

/// The base64url secret from which every JWT signing key is derived.
pub const TOKEN_SIGNING_SECRET: &str = "token_signing_secret";
/// The public base URL of the API (used in token issuers and links).
pub const PUBLIC_API_URL: &str = "public_api_url";
/// The public base URL of the mock OAuth provider (where browsers sign in).
pub const PUBLIC_OAUTH_URL: &str = "public_oauth_url";
/// The secret that authorises internal maintenance calls (cron jobs).
pub const CRON_SECRET: &str = "cron_secret";

/// Reads all settings.
///
/// # Errors
/// Database errors.
pub async fn load(db: impl PgExecutor<'_>) -> Result<HashMap<String, String>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT name, value FROM server_settings")
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Changes one setting that exists, returning whether it did. A plain
/// UPDATE: the rotation after a resume runs it with every code path cold
/// under TCG, where an upsert runs more of PostgreSQL's code than this.
///
/// # Errors
/// Database errors.
pub async fn update(
    db: &mut sqlx::PgConnection,
    name: &str,
    value: &str,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE server_settings SET value = $2, updated_at = now() WHERE name = $1")
            .bind(name)
            .bind(value)
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets one setting, returning whether it existed before.
///
/// # Errors
/// Database errors.
pub async fn put(
    db: &mut sqlx::PgConnection,
    name: &str,
    value: &str,
) -> Result<bool, sqlx::Error> {
    let existed: bool = sqlx::query_scalar(
        "WITH old AS (SELECT 1 FROM server_settings WHERE name = $1)
         INSERT INTO server_settings (name, value) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
         RETURNING EXISTS (SELECT 1 FROM old)",
    )
    .bind(name)
    .bind(value)
    .fetch_one(db)
    .await?;
    Ok(existed)
}

/// The NOTIFY payload that makes every listening server reload its settings.
pub const RELOAD: &str = "reload";

/// Announces a change to every listening server (delivered at commit) with
/// `payload`: [`RELOAD`], or a server's own payload when that server has
/// applied the change itself (see `AppState::own_reload`).
///
/// # Errors
/// Database errors.
pub async fn notify_changed(db: &mut sqlx::PgConnection, payload: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(SETTINGS_CHANNEL)
        .bind(payload)
        .execute(db)
        .await?;
    Ok(())
}

/// Takes the transaction-scoped lock that serialises seeding (two servers
/// starting at once on an empty database).
///
/// # Errors
/// Database errors.
pub async fn lock_for_seed(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(7357001)")
        .execute(db)
        .await?;
    Ok(())
}

/// Changes the password of the role the server connects as.
///
/// # Errors
/// Database errors.
pub async fn set_own_password(
    db: &mut sqlx::PgConnection,
    password: &str,
) -> Result<(), sqlx::Error> {
    // ALTER ROLE takes no bind parameters; format() quotes the literal safely.
    let statement: String =
        sqlx::query_scalar("SELECT format('ALTER ROLE %I PASSWORD %L', current_user, $1::text)")
            .bind(password)
            .fetch_one(&mut *db)
            .await?;
    sqlx::query(&statement)
        .persistent(false)
        .execute(&mut *db)
        .await?;
    Ok(())
}
