//! Direct grants of team and project permissions: listing them as Stack Auth
//! does (expanded, ordered, then filtered), granting (idempotent) and
//! revoking (direct grants only). A team grant is held by a team member, a
//! project grant by a user ([`Holder`]); the rules are the same but for who
//! must exist and which error says so.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{held, require_definition, require_membership, scope_definitions, string_compare};
use crate::db::permissions as rows;
use crate::db::projects::Project;
use crate::db::users;
use crate::error::ApiError;
use crate::known_errors as ke;

pub use crate::db::permissions::{GrantsOf, Holder};

/// A permission a team member or a user holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The permission.
    pub id: String,
    /// Who holds it.
    pub holder: Holder,
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

/// The team permissions of the project's members (narrowed to a team when
/// `of` names one) or the project permissions of its users: per holder the
/// definitions their grants amount to (see [`super::held`]), ordered by
/// team, user and id with [`string_compare`], then filtered on the
/// permission id.
///
/// # Errors
/// Database errors.
pub async fn list(
    pool: &PgPool,
    project: &Project,
    of: GrantsOf,
    filter: &ListFilter,
) -> Result<Vec<Grant>, ApiError> {
    let found =
        rows::list_grants(pool, &project.id, of, filter.user_id, filter.direct_only()).await?;
    let defs = scope_definitions(&project.rendered, of.scope());
    let mut groups: BTreeMap<Holder, Vec<&str>> = BTreeMap::new();
    for row in &found {
        groups
            .entry(row.holder())
            .or_default()
            .push(&row.permission_id);
    }
    let mut out: Vec<Grant> = groups
        .into_iter()
        .flat_map(|(holder, ids)| {
            held(&defs, ids, filter.recursive)
                .into_iter()
                .map(move |id| Grant {
                    id: id.to_owned(),
                    holder,
                })
        })
        .collect();
    out.sort_by(|a, b| holder_order(a.holder, b.holder).then_with(|| string_compare(&a.id, &b.id)));
    out.retain(|g| filter.keeps(&g.id));
    Ok(out)
}

/// Stack Auth's order of holders: by team (team grants), then by user.
fn holder_order(a: Holder, b: Holder) -> Ordering {
    let by_team = match (a, b) {
        (Holder::Member { team_id: ta, .. }, Holder::Member { team_id: tb, .. }) => {
            string_compare(&ta.to_string(), &tb.to_string())
        }
        _ => Ordering::Equal,
    };
    by_team.then_with(|| string_compare(&a.user_id().to_string(), &b.user_id().to_string()))
}

/// Checks that the holder exists: the user, and for a team grant their
/// membership.
///
/// # Errors
/// `USER_NOT_FOUND`, `TEAM_MEMBERSHIP_NOT_FOUND`.
async fn require_holder(
    conn: &mut PgConnection,
    project: &Project,
    holder: Holder,
) -> Result<(), ApiError> {
    match holder {
        Holder::Member { team_id, user_id } => {
            require_membership(conn, project, team_id, user_id).await
        }
        Holder::User(user_id) => {
            if users::exists(conn, &project.id, user_id).await? {
                Ok(())
            } else {
                Err(ke::user_not_found().into())
            }
        }
    }
}

/// The error for a holder that went missing after [`require_holder`].
fn holder_gone(holder: Holder) -> ApiError {
    match holder {
        Holder::Member { team_id, user_id } => {
            ke::team_membership_not_found(&team_id.to_string(), &user_id.to_string()).into()
        }
        Holder::User(_) => ke::user_not_found().into(),
    }
}

/// Grants a team member or a user `permission_id` of the holder's scope;
/// granting it again changes nothing and succeeds, also when two grants
/// race.
///
/// # Errors
/// `USER_NOT_FOUND`, `TEAM_MEMBERSHIP_NOT_FOUND` (also for a team that does
/// not exist), either also for a holder removed meanwhile; then
/// `PERMISSION_NOT_FOUND` (a project grant: system ids included) or
/// `WRONG_PERMISSION_SCOPE`; database errors.
pub async fn grant(
    pool: &PgPool,
    project: &Project,
    holder: Holder,
    permission_id: &str,
) -> Result<Grant, ApiError> {
    let mut conn = pool.acquire().await?;
    require_holder(&mut conn, project, holder).await?;
    require_definition(&project.rendered, holder.scope(), permission_id)?;
    rows::grant(&mut *conn, &project.id, holder, permission_id)
        .await
        .map_err(|e| {
            if rows::is_missing_owner(&e) {
                holder_gone(holder)
            } else {
                ApiError::from(e)
            }
        })?;
    Ok(Grant {
        id: permission_id.to_owned(),
        holder,
    })
}

/// Revokes a permission granted directly (one held only through another
/// cannot be revoked).
///
/// # Errors
/// `USER_NOT_FOUND`, `TEAM_MEMBERSHIP_NOT_FOUND`; then, when there is no
/// such direct grant of a definition of the holder's scope,
/// `TEAM_PERMISSION_NOT_FOUND` for a team grant and `PERMISSION_NOT_FOUND`
/// for a project one (Stack Auth has no project-specific code for this);
/// database errors.
pub async fn revoke(
    pool: &PgPool,
    project: &Project,
    holder: Holder,
    permission_id: &str,
) -> Result<(), ApiError> {
    let mut conn = pool.acquire().await?;
    require_holder(&mut conn, project, holder).await?;
    let defined = scope_definitions(&project.rendered, holder.scope()).contains_key(permission_id);
    if defined && rows::revoke(&mut *conn, &project.id, holder, permission_id).await? {
        return Ok(());
    }
    Err(match holder {
        Holder::Member { team_id, user_id } => {
            ke::team_permission_not_found(&team_id.to_string(), &user_id.to_string(), permission_id)
                .into()
        }
        Holder::User(_) => ke::permission_not_found(permission_id).into(),
    })
}
