//! Team and project permissions as Stack Auth has them.
//!
//! A permission *definition* lives in the project's config
//! (`rbac.permissions.<id> = { scope, description, containedPermissionIds }`);
//! team definitions also include the six system permissions (`$update_team`,
//! …), which contain nothing and exist in every project. A user holds the
//! permissions granted to them directly (rows in the database) and,
//! transitively, every permission those contain. Default grants
//! (`rbac.defaultPermissions.{teamCreator,teamMember,signUp}`) are written as
//! rows when a team is created, a member added or a user signs up.
//!
//! This module holds the rules that read definitions; [`definitions`] changes
//! them (config writes), [`grants`] lists, grants and revokes the rows, and
//! `defaults` writes the default grants.

mod defaults;
pub mod definitions;
pub mod grants;

pub use defaults::{Defaults, default_ids, grant_sign_up_defaults, grant_team_defaults};

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::permissions as rows;
use crate::db::projects::Project;
use crate::db::users;
use crate::error::ApiError;
use crate::known_errors as ke;

/// The system team permissions, with their descriptions.
pub const SYSTEM_TEAM_PERMISSIONS: [(&str, &str); 6] = [
    ("$update_team", "Update the team information"),
    ("$delete_team", "Delete the team"),
    (
        "$read_members",
        "Read and list the other members of the team",
    ),
    ("$remove_members", "Remove other members from the team"),
    ("$invite_members", "Invite other users to the team"),
    (
        "$manage_api_keys",
        "Create and manage API keys for the team",
    ),
];

/// Whether `id` is one of the six system team permissions.
pub fn is_system(id: &str) -> bool {
    SYSTEM_TEAM_PERMISSIONS.iter().any(|(s, _)| *s == id)
}

fn system_description(id: &str) -> Option<&'static str> {
    SYSTEM_TEAM_PERMISSIONS
        .iter()
        .find(|(s, _)| *s == id)
        .map(|(_, d)| *d)
}

/// Where a permission applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Within one team.
    Team,
    /// Across the project.
    Project,
}

impl Scope {
    /// The name in the config and in errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Team => "team",
            Self::Project => "project",
        }
    }
}

/// Stack Auth's `stringCompare`, the order of every permission list: the
/// strings compared uppercased, by UTF-16 code unit, and on a tie the
/// originals in reverse. Since `_` sorts after the uppercased letters, `ab`
/// comes before `a_b`, unlike in byte order.
pub fn string_compare(a: &str, b: &str) -> Ordering {
    let (ua, ub) = (a.to_uppercase(), b.to_uppercase());
    ua.encode_utf16()
        .cmp(ub.encode_utf16())
        .then_with(|| b.encode_utf16().cmp(a.encode_utf16()))
}

/// Why `id` is not a permission id a request may name, as Stack Auth's
/// schema words it (empty when it is fine). `allow_system`: a `$` system id
/// is acceptable (paths, filters, contained ids) rather than refused (the id
/// of a new definition).
pub fn id_problems(id: &str, allow_system: bool) -> Vec<&'static str> {
    let custom = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b':')
    };
    if !allow_system {
        return if custom(id) {
            Vec::new()
        } else {
            vec![r#"Only lowercase letters, numbers, ":", "_" are allowed"#]
        };
    }
    let mut problems = Vec::new();
    if !custom(id.strip_prefix('$').unwrap_or(id)) {
        problems.push(
            r#"Only lowercase letters, numbers, ":", "_" and optional "$" at the beginning are allowed"#,
        );
    }
    if id.starts_with('$') && !is_system(id) {
        problems.push("Invalid system permission");
    }
    problems
}

/// One permission definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The id, e.g. `team_admin` or `$update_team`.
    pub id: String,
    /// What it is for, if said (an empty description counts as none).
    pub description: Option<String>,
    /// The scope as the config gives it (`None` when unset).
    pub scope: Option<String>,
    /// The permissions it contains directly, in [`string_compare`] order.
    pub contained: Vec<String>,
}

/// The keys of a config map of ids (`containedPermissionIds`,
/// `defaultPermissions.*`). Stack Auth takes every key whatever its value, so
/// only a `null` (an override's "removed") is left out.
fn id_keys(set: Option<&Value>) -> Vec<String> {
    set.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The `rbac.permissions` map of a rendered config.
pub fn config_entries(config: &Map<String, Value>) -> Map<String, Value> {
    config
        .get("rbac")
        .and_then(|r| r.get("permissions"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn definition_of(id: &str, entry: &Value) -> Definition {
    let mut contained = id_keys(entry.get("containedPermissionIds"));
    contained.sort_by(|a, b| string_compare(a, b));
    Definition {
        id: id.to_owned(),
        description: description_for(id, entry.get("description").and_then(Value::as_str)),
        scope: entry
            .get("scope")
            .and_then(Value::as_str)
            .map(str::to_owned),
        contained,
    }
}

/// Stack Auth's `getDescription`: the given description unless empty, else a
/// system permission's own.
pub fn description_for(id: &str, given: Option<&str>) -> Option<String> {
    given
        .filter(|d| !d.is_empty())
        .or_else(|| system_description(id))
        .map(str::to_owned)
}

/// Every definition of the rendered config plus the system permissions, by id.
pub fn all_definitions(config: &Map<String, Value>) -> BTreeMap<String, Definition> {
    let mut out: BTreeMap<String, Definition> = config_entries(config)
        .iter()
        .map(|(id, entry)| (id.clone(), definition_of(id, entry)))
        .collect();
    for (id, description) in SYSTEM_TEAM_PERMISSIONS {
        out.insert(
            id.to_owned(),
            Definition {
                id: id.to_owned(),
                description: Some(description.to_owned()),
                scope: Some("team".to_owned()),
                contained: Vec::new(),
            },
        );
    }
    out
}

/// The definitions of one scope (team ones include the system permissions),
/// in [`string_compare`] order of their ids, as Stack Auth lists them.
pub fn definitions(config: &Map<String, Value>, scope: Scope) -> Vec<Definition> {
    let mut list: Vec<Definition> = all_definitions(config)
        .into_values()
        .filter(|d| d.scope.as_deref() == Some(scope.as_str()))
        .collect();
    list.sort_by(|a, b| string_compare(&a.id, &b.id));
    list
}

/// Checks that `permission_id` can be granted in `scope`: a config
/// definition of that scope, or for teams a system permission.
///
/// # Errors
/// `PERMISSION_NOT_FOUND` (also for a system id at project scope),
/// `WRONG_PERMISSION_SCOPE`.
pub fn require_definition(
    config: &Map<String, Value>,
    scope: Scope,
    permission_id: &str,
) -> Result<(), ApiError> {
    match config_entries(config).get(permission_id) {
        None if scope == Scope::Team && is_system(permission_id) => Ok(()),
        None => Err(ke::permission_not_found(permission_id).into()),
        Some(entry) => {
            let actual = entry.get("scope").and_then(Value::as_str);
            if actual == Some(scope.as_str()) {
                Ok(())
            } else {
                Err(ke::wrong_permission_scope(permission_id, scope.as_str(), actual).into())
            }
        }
    }
}

/// `direct` and every permission they contain, transitively (a cycle in the
/// definitions is harmless), whatever their scope.
pub fn closure(config: &Map<String, Value>, direct: &[String]) -> BTreeSet<String> {
    let defs = all_definitions(config);
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = direct.to_vec();
    while let Some(id) = stack.pop() {
        if seen.insert(id.clone())
            && let Some(d) = defs.get(&id)
        {
            stack.extend(d.contained.iter().cloned());
        }
    }
    seen
}

/// What `direct` grants amount to in `scope`, as Stack Auth lists them: ids
/// with no definition of that scope are left out (a deleted definition, or
/// one whose scope changed), and with `recursive` the contained permissions
/// are added, transitively (a cycle is harmless).
pub fn held<'a>(
    defs: &'a BTreeMap<String, Definition>,
    direct: impl IntoIterator<Item = &'a str>,
    recursive: bool,
) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&str> = direct.into_iter().collect();
    while let Some(id) = stack.pop() {
        let Some(d) = defs.get(id) else { continue };
        if seen.insert(d.id.as_str()) && recursive {
            stack.extend(d.contained.iter().map(String::as_str));
        }
    }
    seen
}

/// The definitions of `scope` by id, for [`held`].
pub fn scope_definitions(
    config: &Map<String, Value>,
    scope: Scope,
) -> BTreeMap<String, Definition> {
    definitions(config, scope)
        .into_iter()
        .map(|d| (d.id.clone(), d))
        .collect()
}

/// The team permissions `user_id` holds in `team_id`, directly and contained.
///
/// # Errors
/// Database errors.
pub async fn team_permissions(
    db: &mut PgConnection,
    project: &Project,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<BTreeSet<String>, ApiError> {
    let direct = rows::team_grants(&mut *db, &project.id, team_id, user_id).await?;
    let defs = scope_definitions(&project.rendered, Scope::Team);
    Ok(held(&defs, direct.iter().map(String::as_str), true)
        .into_iter()
        .map(str::to_owned)
        .collect())
}

/// Checks that the user exists and is a member of the team, as Stack Auth's
/// membership check does (the user first).
///
/// # Errors
/// `USER_NOT_FOUND`, `TEAM_MEMBERSHIP_NOT_FOUND`.
pub async fn require_membership(
    db: &mut PgConnection,
    project: &Project,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<(), ApiError> {
    if !users::exists(&mut *db, &project.id, user_id).await? {
        return Err(ke::user_not_found().into());
    }
    if !rows::is_member(&mut *db, &project.id, team_id, user_id).await? {
        return Err(
            ke::team_membership_not_found(&team_id.to_string(), &user_id.to_string()).into(),
        );
    }
    Ok(())
}

/// Checks that the user is a member of the team and holds `permission_id`
/// there (directly or contained), as the team routes require of clients.
///
/// # Errors
/// `USER_NOT_FOUND`, `TEAM_MEMBERSHIP_NOT_FOUND`, `TEAM_PERMISSION_REQUIRED`.
pub async fn require_team_permission(
    db: &mut PgConnection,
    project: &Project,
    team_id: Uuid,
    user_id: Uuid,
    permission_id: &str,
) -> Result<(), ApiError> {
    require_membership(&mut *db, project, team_id, user_id).await?;
    if team_permissions(&mut *db, project, team_id, user_id)
        .await?
        .contains(permission_id)
    {
        Ok(())
    } else {
        Err(
            ke::team_permission_required(&team_id.to_string(), &user_id.to_string(), permission_id)
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config() -> Map<String, Value> {
        let v = json!({"rbac": {"permissions": {
            "a": {"scope": "team", "containedPermissionIds": {"b": true}},
            "b": {"scope": "team", "containedPermissionIds": {"c": true, "$read_members": true}},
            "c": {"scope": "team", "containedPermissionIds": {"a": true, "p": true}},
            "p": {"scope": "project", "containedPermissionIds": {}},
        }}});
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn contained_permissions_are_held_transitively_and_cycles_end() {
        let held = closure(&config(), &["a".to_owned()]);
        assert_eq!(
            held.into_iter().collect::<Vec<_>>(),
            ["$read_members", "a", "b", "c", "p"]
        );
    }

    #[test]
    fn held_skips_other_scopes_and_expands_only_when_recursive() {
        let defs = scope_definitions(&config(), Scope::Team);
        let all: Vec<&str> = held(&defs, ["a", "gone"], true).into_iter().collect();
        assert_eq!(all, ["$read_members", "a", "b", "c"]);
        let direct: Vec<&str> = held(&defs, ["a", "p", "gone"], false).into_iter().collect();
        assert_eq!(direct, ["a"]);
    }

    #[test]
    fn system_permissions_are_team_definitions_and_scopes_are_checked() {
        let team = definitions(&config(), Scope::Team);
        assert_eq!(team.len(), 3 + SYSTEM_TEAM_PERMISSIONS.len());
        assert!(require_definition(&config(), Scope::Team, "$delete_team").is_ok());
        assert_eq!(
            require_definition(&config(), Scope::Team, "p").map_err(|e| e.code()),
            Err(Some("WRONG_PERMISSION_SCOPE"))
        );
        assert_eq!(
            require_definition(&config(), Scope::Project, "nope").map_err(|e| e.code()),
            Err(Some("PERMISSION_NOT_FOUND"))
        );
        assert_eq!(
            require_definition(&config(), Scope::Project, "$update_team").map_err(|e| e.code()),
            Err(Some("PERMISSION_NOT_FOUND"))
        );
    }

    #[test]
    fn string_compare_is_case_blind_and_puts_underscores_after_letters() {
        let mut ids = vec!["a_b", "ab", "$update_team", "B", "b", "team_admin", "a:b"];
        ids.sort_by(|a, b| string_compare(a, b));
        assert_eq!(
            ids,
            ["$update_team", "a:b", "ab", "a_b", "b", "B", "team_admin"]
        );
    }

    #[test]
    fn ids_are_checked_with_stack_auths_words() {
        assert!(id_problems("team_admin:x1", false).is_empty());
        assert!(id_problems("$read_members", true).is_empty());
        assert_eq!(
            id_problems("$read_members", false),
            [r#"Only lowercase letters, numbers, ":", "_" are allowed"#]
        );
        assert_eq!(id_problems("$nope", true), ["Invalid system permission"]);
        assert_eq!(id_problems("Bad", true).len(), 1);
        assert_eq!(id_problems("", false).len(), 1);
    }

    #[test]
    fn empty_descriptions_count_as_none() {
        assert_eq!(description_for("x", Some("")), None);
        assert_eq!(
            description_for("$delete_team", None).as_deref(),
            Some("Delete the team")
        );
    }
}
