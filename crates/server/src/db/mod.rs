//! PostgreSQL access: one module per table group, plain SQL, no ORM. Every
//! statement of the crate lives here, as a static string with binds (shared
//! column lists are macros, so that statements built on them stay static).
//!
//! Functions take any executor (pool, connection or transaction) so that the
//! domain code decides what runs in one transaction. Nothing here knows Stack
//! Auth's rules or errors.

pub mod api_keys;
pub mod contact_channels;
pub mod keys;
pub mod local_emulator;
pub mod mail;
pub mod permissions;
pub mod projects;
pub mod sessions;
pub mod settings;
pub mod teams;
pub mod user_list;
pub mod users;
pub mod verification_codes;

/// Whether a database error means "cannot reach PostgreSQL" rather than a bad query.
pub fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Class 08: connection exception; 57P01..57P03: shutdown / cannot connect now.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// Runs a trivial query: whether PostgreSQL answers.
///
/// # Errors
/// The database cannot be reached.
pub async fn ping(db: impl sqlx::PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(db)
        .await?;
    Ok(())
}

/// The embedded migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
