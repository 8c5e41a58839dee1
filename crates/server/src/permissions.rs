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

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::permissions as grants;
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

/// One permission definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The id, e.g. `team_admin` or `$update_team`.
    pub id: String,
    /// What it is for, if said.
    pub description: Option<String>,
    /// The scope as the config gives it (`None` when unset).
    pub scope: Option<String>,
    /// The permissions it contains directly, sorted.
    pub contained: Vec<String>,
}

/// Every definition of the rendered config, config ones first (in the
/// config's order), by id.
pub fn all_definitions(config: &Map<String, Value>) -> BTreeMap<String, Definition> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(defs)) = config.get("rbac").and_then(|r| r.get("permissions")) {
        for (id, d) in defs {
            let mut contained: Vec<String> = d
                .get("containedPermissionIds")
                .and_then(Value::as_object)
                .map(|c| {
                    c.iter()
                        .filter(|(_, on)| on.as_bool() == Some(true))
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default();
            contained.sort();
            out.insert(
                id.clone(),
                Definition {
                    id: id.clone(),
                    description: d
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    scope: d.get("scope").and_then(Value::as_str).map(str::to_owned),
                    contained,
                },
            );
        }
    }
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

/// The definitions of one scope (team ones include the system permissions).
pub fn definitions(config: &Map<String, Value>, scope: Scope) -> Vec<Definition> {
    all_definitions(config)
        .into_values()
        .filter(|d| d.scope.as_deref() == Some(scope.as_str()))
        .collect()
}

/// Checks that `permission_id` can be granted in `scope`.
///
/// # Errors
/// `PERMISSION_NOT_FOUND`, `WRONG_PERMISSION_SCOPE`.
pub fn require_definition(
    config: &Map<String, Value>,
    scope: Scope,
    permission_id: &str,
) -> Result<(), ApiError> {
    match all_definitions(config).get(permission_id) {
        None => Err(ke::permission_not_found(permission_id).into()),
        Some(d) if d.scope.as_deref() != Some(scope.as_str()) => {
            Err(
                ke::wrong_permission_scope(permission_id, scope.as_str(), d.scope.as_deref())
                    .into(),
            )
        }
        Some(_) => Ok(()),
    }
}

/// `direct` and every permission they contain, transitively (a cycle in the
/// definitions is harmless).
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

/// The permissions `user_id` holds in `team_id`, directly and contained.
///
/// # Errors
/// Database errors.
pub async fn team_permissions(
    db: &mut PgConnection,
    project: &Project,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<BTreeSet<String>, ApiError> {
    let direct = grants::team_grants(&mut *db, &project.id, team_id, user_id).await?;
    Ok(closure(&project.rendered, &direct))
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
    if !grants::is_member(&mut *db, &project.id, team_id, user_id).await? {
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

/// Which default grants apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defaults {
    /// The creator of a team (`rbac.defaultPermissions.teamCreator`).
    TeamCreator,
    /// A member added later (`rbac.defaultPermissions.teamMember`).
    TeamMember,
}

/// The default permission ids of `which` in the config.
pub fn default_ids(config: &Map<String, Value>, key: &str) -> Vec<String> {
    config
        .get("rbac")
        .and_then(|r| r.get("defaultPermissions"))
        .and_then(|d| d.get(key))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, on)| on.as_bool() == Some(true))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Grants a new team member the default permissions of `which` (the
/// membership row must exist).
///
/// # Errors
/// `PERMISSION_NOT_FOUND` / `WRONG_PERMISSION_SCOPE` for a default that
/// names no team permission; database errors.
pub async fn grant_team_defaults(
    db: &mut PgConnection,
    project: &Project,
    team_id: Uuid,
    user_id: Uuid,
    which: Defaults,
) -> Result<(), ApiError> {
    let key = match which {
        Defaults::TeamCreator => "teamCreator",
        Defaults::TeamMember => "teamMember",
    };
    for id in default_ids(&project.rendered, key) {
        require_definition(&project.rendered, Scope::Team, &id)?;
        grants::grant_team(&mut *db, &project.id, team_id, user_id, &id).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config() -> Map<String, Value> {
        let v = json!({"rbac": {"permissions": {
            "a": {"scope": "team", "containedPermissionIds": {"b": true}},
            "b": {"scope": "team", "containedPermissionIds": {"c": true, "$read_members": true}},
            "c": {"scope": "team", "containedPermissionIds": {"a": true}},
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
            ["$read_members", "a", "b", "c"]
        );
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
    }
}
