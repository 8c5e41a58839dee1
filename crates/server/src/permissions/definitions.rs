//! Creating, changing and deleting permission definitions: config writes of
//! the whole `rbac.permissions` map, plus the grant rows a rename or a
//! delete affects, in one transaction.
//!
//! Stack Auth writes the environment override, replacing `rbac.permissions`
//! with the rendered map and the change. A project that an app's config file
//! defines in local emulator mode refuses environment changes; there the
//! branch override (what the file holds; `rbac` is a branch key) is written
//! instead, so that the change reaches the file through the emulator's sync.
//! Team and project definitions share one namespace of ids; their scope is a
//! field of each entry.

use serde_json::{Map, Value, json};
use sqlx::{PgConnection, PgPool};

use super::{Definition, Scope, config_entries, description_for, is_system, string_compare};
use crate::config::{Level, format, schema};
use crate::db::permissions as rows;
use crate::db::projects::{self, Project};
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::project_config;

/// The config key every write replaces.
const PERMISSIONS_KEY: &str = "rbac.permissions";

/// A definition to create (its fields as the request gave them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDefinition {
    /// The id (lowercase letters, digits, `:` and `_`).
    pub id: String,
    /// What it is for.
    pub description: Option<String>,
    /// The permissions it contains.
    pub contained: Option<Vec<String>>,
}

/// A definition's replacement. As in Stack Auth, a field left out is
/// cleared, not kept: only the id falls back to the old one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefinitionUpdate {
    /// The new id, if it changes.
    pub id: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// The permissions it contains.
    pub contained: Option<Vec<String>>,
}

/// Where a write goes: the project and whether the server runs as the local
/// emulator.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The pool.
    pub pool: &'a PgPool,
    /// The project whose definitions change.
    pub project_id: &'a str,
    /// Whether the server runs as the local emulator.
    pub emulator_mode: bool,
}

/// Creates a definition of `scope`.
///
/// # Errors
/// `PERMISSION_ID_ALREADY_EXISTS` (in either scope), then
/// `CONTAINED_PERMISSION_NOT_FOUND` for the first contained id that `scope`
/// does not define; database errors.
pub async fn create(
    target: Target<'_>,
    scope: Scope,
    new: NewDefinition,
) -> Result<Definition, ApiError> {
    let mut write = Write::begin(target).await?;
    let mut entries = config_entries(&write.project.rendered);
    if entries.contains_key(&new.id) {
        return Err(ke::permission_id_already_exists(&new.id).into());
    }
    check_contained(&entries, scope, new.contained.as_deref())?;
    let contained = new.contained.unwrap_or_default();
    let description = description_for(&new.id, new.description.as_deref());
    entries.insert(
        new.id.clone(),
        entry(description.as_deref(), scope, &contained),
    );
    write.store(entries).await?;
    write.commit().await?;
    Ok(answer(new.id, description, scope, contained))
}

/// Replaces the definition `old_id`, in `scope` (its old scope is not
/// checked: Stack Auth moves a definition of the other scope to this one).
/// A rename also renames it where other definitions contain it and moves
/// its grants, team and project ones.
///
/// # Errors
/// `PERMISSION_NOT_FOUND`, `PERMISSION_ID_ALREADY_EXISTS` for a rename onto
/// a defined id, then `CONTAINED_PERMISSION_NOT_FOUND`; database errors.
pub async fn update(
    target: Target<'_>,
    scope: Scope,
    old_id: &str,
    change: DefinitionUpdate,
) -> Result<Definition, ApiError> {
    let mut write = Write::begin(target).await?;
    let entries = config_entries(&write.project.rendered);
    if !entries.contains_key(old_id) {
        return Err(ke::permission_not_found(old_id).into());
    }
    let new_id = change.id.unwrap_or_else(|| old_id.to_owned());
    if new_id != old_id && entries.contains_key(&new_id) {
        return Err(ke::permission_id_already_exists(&new_id).into());
    }
    check_contained(&entries, scope, change.contained.as_deref())?;
    let contained = change.contained.unwrap_or_default();
    let description = description_for(&new_id, change.description.as_deref());
    let mut updated: Map<String, Value> = entries
        .into_iter()
        .filter(|(id, _)| id != old_id)
        .map(|(id, mut e)| {
            let renamed: Map<String, Value> = contained_ids(&e)
                .into_iter()
                .map(|c| {
                    let c = if c == old_id { new_id.clone() } else { c };
                    (c, Value::Bool(true))
                })
                .collect();
            if let Some(o) = e.as_object_mut() {
                o.insert("containedPermissionIds".into(), Value::Object(renamed));
            }
            (id, e)
        })
        .collect();
    updated.insert(
        new_id.clone(),
        entry(description.as_deref(), scope, &contained),
    );
    write.store(updated).await?;
    if new_id != old_id {
        rows::rename_grants(write.conn(), target.project_id, old_id, &new_id).await?;
    }
    write.commit().await?;
    Ok(answer(new_id, description, scope, contained))
}

/// Deletes the definition `id` of `scope`: it goes from every definition
/// that contains it, and its grants of that scope are revoked. Default
/// permission lists keep naming it (Stack Auth's legacy view hides ids that
/// are not defined).
///
/// # Errors
/// `PERMISSION_NOT_FOUND` when `scope` does not define it (system
/// permissions included); database errors.
pub async fn delete(target: Target<'_>, scope: Scope, id: &str) -> Result<(), ApiError> {
    let mut write = Write::begin(target).await?;
    let entries = config_entries(&write.project.rendered);
    let in_scope = entries
        .get(id)
        .and_then(|e| e.get("scope"))
        .and_then(Value::as_str)
        == Some(scope.as_str());
    if !in_scope {
        return Err(ke::permission_not_found(id).into());
    }
    let remaining: Map<String, Value> = entries
        .into_iter()
        .filter(|(other, _)| other != id)
        .map(|(other, mut e)| {
            if let Some(c) = e
                .get_mut("containedPermissionIds")
                .and_then(Value::as_object_mut)
            {
                c.remove(id);
            }
            (other, e)
        })
        .collect();
    write.store(remaining).await?;
    rows::delete_grants_of(write.conn(), scope, target.project_id, id).await?;
    write.commit().await?;
    Ok(())
}

/// One definition write: the project's row locked, and the level to write.
struct Write {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    project: Project,
    level: Level,
}

impl Write {
    /// Locks the project's row and reads its config as stored, so that two
    /// definition changes never decide on the same old map.
    async fn begin(target: Target<'_>) -> Result<Self, ApiError> {
        let level = if project_config::environment_locked(
            target.pool,
            target.emulator_mode,
            target.project_id,
        )
        .await?
        {
            Level::Branch
        } else {
            Level::Environment
        };
        let mut tx = target.pool.begin().await?;
        let project = projects::find_for_update(&mut *tx, target.project_id)
            .await?
            .ok_or_else(|| ke::current_project_not_found(target.project_id))?;
        Ok(Self { tx, project, level })
    }

    fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Replaces `rbac.permissions` in the level's override with `permissions`
    /// (both spellings of the old key go, dotted and nested).
    async fn store(&mut self, permissions: Map<String, Value>) -> Result<(), ApiError> {
        let key = Value::Object(Map::from_iter([(
            PERMISSIONS_KEY.to_owned(),
            Value::Object(permissions),
        )]));
        // The ids were checked by the route and the scopes are ours, so a
        // problem here is a bug, not bad input.
        if let Some(problem) = schema::override_error(self.level, &key) {
            return Err(ApiError::internal(format!(
                "a permission definition write does not fit the config schema: {problem}"
            )));
        }
        let Value::Object(key) = key else {
            return Err(ApiError::internal("unreachable: not an object"));
        };
        let old = self.project.overrides.get(self.level);
        let new = format::override_with(
            &format::remove_keys(old, &[PERMISSIONS_KEY.to_owned()]),
            &key,
        );
        projects::set_override(&mut *self.tx, &self.project.id, self.level, &new, None).await?;
        Ok(())
    }

    async fn commit(self) -> Result<(), ApiError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// The ids an entry contains (every key but a removed one).
fn contained_ids(entry: &Value) -> Vec<String> {
    super::id_keys(entry.get("containedPermissionIds"))
}

/// Checks that `scope` defines every contained id (team definitions may also
/// contain the system permissions).
fn check_contained(
    entries: &Map<String, Value>,
    scope: Scope,
    contained: Option<&[String]>,
) -> Result<(), ApiError> {
    let defined = |id: &str| {
        let in_config = entries
            .get(id)
            .and_then(|e| e.get("scope"))
            .and_then(Value::as_str)
            == Some(scope.as_str());
        in_config || (scope == Scope::Team && is_system(id))
    };
    match contained.unwrap_or_default().iter().find(|id| !defined(id)) {
        Some(missing) => Err(ke::contained_permission_not_found(missing).into()),
        None => Ok(()),
    }
}

/// A config entry.
fn entry(description: Option<&str>, scope: Scope, contained: &[String]) -> Value {
    let ids: Map<String, Value> = contained
        .iter()
        .map(|id| (id.clone(), Value::Bool(true)))
        .collect();
    let mut e = json!({ "scope": scope.as_str(), "containedPermissionIds": ids });
    if let (Some(d), Some(o)) = (description, e.as_object_mut()) {
        o.insert("description".into(), Value::from(d));
    }
    e
}

/// What a create or update answers: the request's contained ids sorted, as
/// given (Stack Auth does not de-duplicate them).
fn answer(
    id: String,
    description: Option<String>,
    scope: Scope,
    mut contained: Vec<String>,
) -> Definition {
    contained.sort_by(|a, b| string_compare(a, b));
    Definition {
        id,
        description,
        scope: Some(scope.as_str().to_owned()),
        contained,
    }
}
