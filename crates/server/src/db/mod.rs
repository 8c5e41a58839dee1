//! PostgreSQL access: one module per table group, plain SQL, no ORM. Every
//! statement of the crate lives here, as a static string with binds (shared
//! column lists are macros, so that statements built on them stay static).
//!
//! Functions take any executor (pool, connection or transaction) so that the
//! domain code decides what runs in one transaction. Nothing here knows Stack
//! Auth's rules or errors.

pub mod analytics;
pub mod api_keys;
pub mod contact_channels;
pub mod keys;
pub mod local_emulator;
pub mod mail;
pub mod oauth;
pub mod permissions;
pub mod projects;
pub mod sessions;
pub mod settings;
pub mod stats;
pub mod team_list;
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

/// `statement` with the project bound as `$1` and `ids` as `$2`, `$3`, …:
/// the shape of most statements on one row (or one membership).
fn with_ids<'q>(
    statement: &'q str,
    project_id: &'q str,
    ids: &[uuid::Uuid],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    ids.iter()
        .fold(sqlx::query(statement).bind(project_id), |q, id| q.bind(*id))
}

/// Runs `statement` on the rows that the project (`$1`) and `ids` (`$2`, …)
/// pick; returns how many it changed.
///
/// # Errors
/// Database errors.
pub(crate) async fn execute_with_ids(
    db: impl sqlx::PgExecutor<'_>,
    statement: &'static str,
    project_id: &str,
    ids: &[uuid::Uuid],
) -> Result<u64, sqlx::Error> {
    let done = with_ids(statement, project_id, ids).execute(db).await?;
    Ok(done.rows_affected())
}

/// The answer of `statement`, a `SELECT EXISTS (…)` on the project (`$1`)
/// and `ids` (`$2`, …).
///
/// # Errors
/// Database errors.
pub(crate) async fn exists_with_ids(
    db: impl sqlx::PgExecutor<'_>,
    statement: &'static str,
    project_id: &str,
    ids: &[uuid::Uuid],
) -> Result<bool, sqlx::Error> {
    ids.iter()
        .fold(sqlx::query_scalar(statement).bind(project_id), |q, id| {
            q.bind(*id)
        })
        .fetch_one(db)
        .await
}

/// The row, if any, that `statement` reads for the project (`$1`) and `ids`
/// (`$2`, …).
///
/// # Errors
/// Database errors.
pub(crate) async fn find_with_ids<T>(
    db: impl sqlx::PgExecutor<'_>,
    statement: &'static str,
    project_id: &str,
    ids: &[uuid::Uuid],
) -> Result<Option<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    ids.iter()
        .fold(sqlx::query_as(statement).bind(project_id), |q, id| {
            q.bind(*id)
        })
        .fetch_optional(db)
        .await
}
