//! Direct grants of team and project permissions: listing them as Stack Auth
//! does (expanded, ordered, then filtered), granting (idempotent) and
//! revoking (direct grants only).

use std::collections::BTreeMap;

use sqlx::PgPool;
use uuid::Uuid;

use super::{
    Scope, held, require_definition, require_membership, scope_definitions, string_compare,
};
use crate::db::permissions as rows;
use crate::db::projects::Project;
use crate::db::users;
use crate::error::ApiError;
use crate::known_errors as ke;

/// A team permission a member holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamGrant {
    /// The permission.
    pub id: String,
    /// The member.
    pub user_id: Uuid,
    /// The team.
    pub team_id: Uuid,
}

/// A project permission a user holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectGrant {
    /// The permission.
    pub id: String,
    /// The user.
    pub user_id: Uuid,
}

/// What a permission list asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this user's permissions.
    pub user_id: Option<Uuid>,
    /// Only this permission (applied after the expansion, so a recursive list
    /// finds those who hold it through another).
    pub permission_id: Option<String>,
    /// Also the contained permissions, transitively.
    pub recursive: bool,
}

impl ListFilter {
    /// The permission id the database may filter on: only a direct list can
    /// be narrowed before expanding.
    fn direct_only(&self) -> Option<&str> {
        if self.recursive {
            None
        } else {
            self.permission_id.as_deref()
        }
    }

    fn keeps(&self, id: &str) -> bool {
        self.permission_id.as_deref().is_none_or(|p| p == id)
    }
}

/// The team permissions of the project's members, narrowed to `team_id`
/// when given: per member and team the definitions their grants amount to
/// (see [`super::held`]), ordered by team, user and id with
/// [`string_compare`], then filtered on the permission id.
///
/// # Errors
/// Database errors.
pub async fn list_team(
    pool: &PgPool,
    project: &Project,
    team_id: Option<Uuid>,
    filter: &ListFilter,
) -> Result<Vec<TeamGrant>, ApiError> {
    let found = rows::list_team_grants(
        pool,
        &project.id,
        team_id,
        filter.user_id,
        filter.direct_only(),
    )
    .await?;
    let defs = scope_definitions(&project.rendered, Scope::Team);
    let mut groups: BTreeMap<(Uuid, Uuid), Vec<&str>> = BTreeMap::new();
    for row in &found {
        groups
            .entry((row.user_id, row.team_id))
            .or_default()
            .push(&row.permission_id);
    }
    let mut out: Vec<TeamGrant> = groups
        .into_iter()
        .flat_map(|((user_id, team_id), ids)| {
            held(&defs, ids, filter.recursive)
                .into_iter()
                .map(move |id| TeamGrant {
                    id: id.to_owned(),
                    user_id,
                    team_id,
                })
        })
        .collect();
    out.sort_by(|a, b| {
        string_compare(&a.team_id.to_string(), &b.team_id.to_string())
            .then_with(|| string_compare(&a.user_id.to_string(), &b.user_id.to_string()))
            .then_with(|| string_compare(&a.id, &b.id))
    });
    out.retain(|g| filter.keeps(&g.id));
    Ok(out)
}

/// The project permissions of the project's users, as [`list_team`] lists
/// team ones (ordered by user, then id).
///
/// # Errors
/// Database errors.
pub async fn list_project(
    pool: &PgPool,
    project: &Project,
    filter: &ListFilter,
) -> Result<Vec<ProjectGrant>, ApiError> {
    let found =
        rows::list_project_grants(pool, &project.id, filter.user_id, filter.direct_only()).await?;
    let defs = scope_definitions(&project.rendered, Scope::Project);
    let mut groups: BTreeMap<Uuid, Vec<&str>> = BTreeMap::new();
    for row in &found {
        groups
            .entry(row.user_id)
            .or_default()
            .push(&row.permission_id);
    }
    let mut out: Vec<ProjectGrant> = groups
        .into_iter()
        .flat_map(|(user_id, ids)| {
            held(&defs, ids, filter.recursive)
                .into_iter()
                .map(move |id| ProjectGrant {
                    id: id.to_owned(),
                    user_id,
                })
        })
        .collect();
    out.sort_by(|a, b| {
        string_compare(&a.user_id.to_string(), &b.user_id.to_string())
            .then_with(|| string_compare(&a.id, &b.id))
    });
    out.retain(|g| filter.keeps(&g.id));
    Ok(out)
}

/// Grants a team member `permission_id`; granting it again changes nothing
/// and succeeds, also when two grants race.
///
/// # Errors
/// `USER_NOT_FOUND`, `TEAM_MEMBERSHIP_NOT_FOUND` (also for a team that does
/// not exist, or a membership removed meanwhile), then `PERMISSION_NOT_FOUND`
/// or `WRONG_PERMISSION_SCOPE`; database errors.
pub async fn grant_team(
    pool: &PgPool,
    project: &Project,
    team_id: Uuid,
    user_id: Uuid,
    permission_id: &str,
) -> Result<TeamGrant, ApiError> {
    let mut conn = pool.acquire().await?;
    require_membership(&mut conn, project, team_id, user_id).await?;
    require_definition(&project.rendered, Scope::Team, permission_id)?;
    rows::grant_team(&mut *conn, &project.id, team_id, user_id, permission_id)
        .await
        .map_err(|e| {
            if rows::is_missing_owner(&e) {
                ke::team_membership_not_found(&team_id.to_string(), &user_id.to_string()).into()
            } else {
                ApiError::from(e)
            }
        })?;
    Ok(TeamGrant {
        id: permission_id.to_owned(),
        user_id,
        team_id,
    })
}

/// Revokes a team permission granted directly (one held only through
/// another cannot be revoked).
///
/// # Errors
/// `USER_NOT_FOUND`, `TEAM_MEMBERSHIP_NOT_FOUND`, then
/// `TEAM_PERMISSION_NOT_FOUND` when there is no such direct grant of a team
/// definition; database errors.
pub async fn revoke_team(
    pool: &PgPool,
    project: &Project,
    team_id: Uuid,
    user_id: Uuid,
    permission_id: &str,
) -> Result<(), ApiError> {
    let mut conn = pool.acquire().await?;
    require_membership(&mut conn, project, team_id, user_id).await?;
    let defined = scope_definitions(&project.rendered, Scope::Team).contains_key(permission_id);
    if defined
        && rows::revoke_team(&mut *conn, &project.id, team_id, user_id, permission_id).await?
    {
        return Ok(());
    }
    Err(
        ke::team_permission_not_found(&team_id.to_string(), &user_id.to_string(), permission_id)
            .into(),
    )
}

/// Grants a user the project permission `permission_id`; granting it again
/// changes nothing and succeeds.
///
/// # Errors
/// `USER_NOT_FOUND` (also for a user deleted meanwhile), then
/// `PERMISSION_NOT_FOUND` (system ids included) or `WRONG_PERMISSION_SCOPE`;
/// database errors.
pub async fn grant_project(
    pool: &PgPool,
    project: &Project,
    user_id: Uuid,
    permission_id: &str,
) -> Result<ProjectGrant, ApiError> {
    if !users::exists(pool, &project.id, user_id).await? {
        return Err(ke::user_not_found().into());
    }
    require_definition(&project.rendered, Scope::Project, permission_id)?;
    rows::grant_project(pool, &project.id, user_id, permission_id)
        .await
        .map_err(|e| {
            if rows::is_missing_owner(&e) {
                ke::user_not_found().into()
            } else {
                ApiError::from(e)
            }
        })?;
    Ok(ProjectGrant {
        id: permission_id.to_owned(),
        user_id,
    })
}

/// Revokes a project permission granted directly.
///
/// # Errors
/// `USER_NOT_FOUND`, then `PERMISSION_NOT_FOUND` when there is no such
/// direct grant of a project definition (Stack Auth has no
/// project-specific code for this); database errors.
pub async fn revoke_project(
    pool: &PgPool,
    project: &Project,
    user_id: Uuid,
    permission_id: &str,
) -> Result<(), ApiError> {
    if !users::exists(pool, &project.id, user_id).await? {
        return Err(ke::user_not_found().into());
    }
    let defined = scope_definitions(&project.rendered, Scope::Project).contains_key(permission_id);
    if defined && rows::revoke_project(pool, &project.id, user_id, permission_id).await? {
        return Ok(());
    }
    Err(ke::permission_not_found(permission_id).into())
}
