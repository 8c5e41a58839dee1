//! Default grants: the permissions `rbac.defaultPermissions.<key>` names,
//! written as direct grants when a team is created, a member added or a user
//! signs up.

use serde_json::{Map, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{id_keys, require_definition};
use crate::db::permissions::{self as rows, Holder};
use crate::db::projects::Project;
use crate::error::ApiError;

/// Which default grants apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defaults {
    /// The creator of a team (`rbac.defaultPermissions.teamCreator`).
    TeamCreator,
    /// A member added later (`rbac.defaultPermissions.teamMember`).
    TeamMember,
}

/// The default permission ids under `rbac.defaultPermissions.<key>` (every
/// key, as Stack Auth's `Object.keys`).
pub fn default_ids(config: &Map<String, Value>, key: &str) -> Vec<String> {
    id_keys(
        config
            .get("rbac")
            .and_then(|r| r.get("defaultPermissions"))
            .and_then(|d| d.get(key)),
    )
}

/// Grants a new team member the default permissions of `which` (the
/// membership row must exist).
///
/// # Errors
/// See [`grant_defaults`].
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
    let holder = Holder::Member { team_id, user_id };
    grant_defaults(db, project, holder, key).await
}

/// Grants a new user the project's sign-up defaults
/// (`rbac.defaultPermissions.signUp`), as Stack Auth does on every user
/// creation (the users row must exist).
///
/// # Errors
/// See [`grant_defaults`].
pub async fn grant_sign_up_defaults(
    db: &mut PgConnection,
    project: &Project,
    user_id: Uuid,
) -> Result<(), ApiError> {
    grant_defaults(db, project, Holder::User(user_id), "signUp").await
}

/// Grants `holder` the default permissions under
/// `rbac.defaultPermissions.<key>`.
///
/// # Errors
/// `PERMISSION_NOT_FOUND` / `WRONG_PERMISSION_SCOPE` for a default that
/// names no permission of the holder's scope; database errors.
async fn grant_defaults(
    db: &mut PgConnection,
    project: &Project,
    holder: Holder,
    key: &str,
) -> Result<(), ApiError> {
    for id in default_ids(&project.rendered, key) {
        require_definition(&project.rendered, holder.scope(), &id)?;
        rows::grant(&mut *db, &project.id, holder, &id).await?;
    }
    Ok(())
}
