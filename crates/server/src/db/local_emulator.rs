//! The projects the local emulator made, one per absolute path of an app's
//! config file.

use sqlx::PgExecutor;

/// Takes a transaction-scoped advisory lock on `path`, so that two calls for
/// the same path run one after the other.
///
/// # Errors
/// Database errors.
pub async fn lock_path(db: impl PgExecutor<'_>, path: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(path)
        .execute(db)
        .await?;
    Ok(())
}

/// The project made for `path`, if any.
///
/// # Errors
/// Database errors.
pub async fn project_for_path(
    db: impl PgExecutor<'_>,
    path: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT project_id FROM local_emulator_projects WHERE absolute_file_path = $1",
    )
    .bind(path)
    .fetch_optional(db)
    .await
}

/// Records that `project_id` belongs to `path`.
///
/// # Errors
/// Database errors.
pub async fn insert(
    db: impl PgExecutor<'_>,
    path: &str,
    project_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO local_emulator_projects (absolute_file_path, project_id) VALUES ($1, $2)",
    )
    .bind(path)
    .bind(project_id)
    .execute(db)
    .await?;
    Ok(())
}

/// The config file of a project the local emulator made, if it is one.
///
/// # Errors
/// Database errors.
pub async fn path_of_project(
    db: impl PgExecutor<'_>,
    project_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT absolute_file_path FROM local_emulator_projects WHERE project_id = $1",
    )
    .bind(project_id)
    .fetch_optional(db)
    .await
}
