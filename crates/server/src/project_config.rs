//! Changing a project's config overrides: merge (`PATCH`), replace (`PUT`),
//! reset keys, and the branch override's source. Each change reads the stored
//! override under a row lock and writes the result in the same transaction,
//! so two concurrent changes both land; the `projects` trigger then tells
//! every server to drop its cached copy.

use serde_json::{Map, Value};
use sqlx::PgPool;

use crate::config::{Level, format, migrate::migrate, schema};
use crate::db::local_emulator as paths;
use crate::db::projects;
use crate::error::ApiError;
use crate::known_errors as ke;

/// Stack Auth's answer to an environment-level change of a project that an
/// app's config file defines.
pub const EMULATOR_ENVIRONMENT_BLOCKED: &str = "Environment configuration overrides cannot be changed in the local emulator. Update this in your production deployment instead.";

/// A change to one level's override.
#[derive(Debug, Clone)]
pub enum Change {
    /// Merge these keys into the stored override.
    Merge(Map<String, Value>),
    /// Replace the stored override (and, for the branch, its source).
    Replace(Map<String, Value>, Option<Value>),
    /// Remove these keys and everything below them.
    Reset(Vec<String>),
}

/// An override given as JSON text, checked for `level`: parsed, migrated to
/// today's keys, and fitted to the level's schema.
///
/// # Errors
/// Stack Auth's 400 texts: `Invalid config JSON`, or the first problem the
/// schema finds.
pub fn parse_override(level: Level, text: &str) -> Result<Map<String, Value>, ApiError> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| ApiError::bad_request("Invalid config JSON"))?;
    if crate::validate::contains_nul(&value) {
        return Err(ApiError::bad_request(
            "Config keys and strings cannot contain NUL characters.",
        ));
    }
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request(
            "Config override must be a non-null object.",
        ));
    };
    let migrated = migrate(level, &map);
    if let Some(problem) = schema::override_error(level, &Value::Object(migrated.clone())) {
        return Err(ApiError::bad_request(problem));
    }
    Ok(migrated)
}

/// Whether environment-level changes of `project_id` are refused: in local
/// emulator mode, for a project that an app's config file defines.
///
/// # Errors
/// Database errors.
pub async fn environment_locked(
    pool: &PgPool,
    emulator_mode: bool,
    project_id: &str,
) -> Result<bool, ApiError> {
    Ok(emulator_mode && paths::path_of_project(pool, project_id).await?.is_some())
}

/// Applies `change` to `level`'s override of `project_id`.
///
/// # Errors
/// The project is gone; database errors.
pub async fn apply(
    pool: &PgPool,
    project_id: &str,
    level: Level,
    change: Change,
) -> Result<Map<String, Value>, ApiError> {
    let mut tx = pool.begin().await?;
    let project = projects::find_for_update(&mut *tx, project_id)
        .await?
        .ok_or_else(|| ke::current_project_not_found(project_id))?;
    let old = project.overrides.get(level);
    let (new, source) = match change {
        Change::Merge(patch) => (format::override_with(old, &patch), None),
        Change::Replace(config, source) => (config, source),
        Change::Reset(keys) => (format::remove_keys(old, &keys), None),
    };
    let source = source.filter(|_| level == Level::Branch);
    projects::set_override(&mut *tx, project_id, level, &new, source.as_ref()).await?;
    tx.commit().await?;
    Ok(new)
}

/// Sets where the branch override came from.
///
/// # Errors
/// Database errors.
pub async fn set_source(pool: &PgPool, project_id: &str, source: &Value) -> Result<(), ApiError> {
    projects::set_branch_source(pool, project_id, source).await?;
    Ok(())
}
