//! Team memberships and member profiles: adding and removing members, and
//! the per-team name and image of a member, which fall back to the user's own
//! when unset. The fallback is applied when a profile is read, so a later
//! change of the user's name shows through unless the profile overrides it.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Caller, image, join_as};
use crate::db::projects::Project;
use crate::db::teams::{self, MemberRecord, MemberUpdate};
use crate::db::users;
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::permissions::{self, Defaults};
use crate::validate::Patch;

/// Plain 400 when a client lists profiles without naming a team.
pub const CLIENT_LIST_WITHOUT_TEAM: &str = "team_id is required for access type client";
/// Plain 403 when a client changes another member's profile.
pub const UPDATE_OTHERS_PROFILE: &str = "Cannot update another user's profile";

/// `POST /team-memberships/{team_id}/{user_id}` (trusted callers): adds a
/// member with the `teamMember` defaults; the team is not selected for them.
/// Of two concurrent adds of the same member, one fails with
/// `TEAM_MEMBERSHIP_ALREADY_EXISTS`.
///
/// # Errors
/// `USER_NOT_FOUND`, `TEAM_NOT_FOUND`, `TEAM_MEMBERSHIP_ALREADY_EXISTS`, a
/// `teamMember` default that names no team permission; database failures.
pub async fn add_member(
    pool: &PgPool,
    project: &Project,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<(), ApiError> {
    let mut tx = pool.begin().await?;
    if !users::exists(&mut *tx, &project.id, user_id).await? {
        return Err(ke::user_not_found().into());
    }
    if !teams::exists(&mut tx, &project.id, team_id).await? {
        return Err(ke::team_not_found(&team_id.to_string()).into());
    }
    match join_as(&mut tx, project, team_id, user_id, Defaults::TeamMember).await {
        Ok(()) => {}
        // A concurrent request deleted the team or the user after our checks.
        Err(ApiError::Internal(e)) => {
            return Err(match missing_reference(e.as_ref()) {
                Some(Missing::User) => ke::user_not_found().into(),
                Some(Missing::Team) => ke::team_not_found(&team_id.to_string()).into(),
                None => ApiError::Internal(e),
            });
        }
        Err(e) => return Err(e),
    }
    tx.commit().await?;
    Ok(())
}

/// What a foreign-key violation on `team_members` says is missing.
enum Missing {
    User,
    Team,
}

fn missing_reference(e: &(dyn std::error::Error + 'static)) -> Option<Missing> {
    match e.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23503") => {
            // PostgreSQL's default constraint names: `team_members_<columns>_fkey`.
            if db.constraint().is_some_and(|c| c.contains("user_id")) {
                Some(Missing::User)
            } else {
                Some(Missing::Team)
            }
        }
        _ => None,
    }
}

/// `DELETE /team-memberships/{team_id}/{user_id}`: anyone may leave; a client
/// removing someone else needs `$remove_members`. The member's permissions in
/// the team and their selection of it go with the membership.
///
/// # Errors
/// `CANNOT_GET_OWN_USER_WITHOUT_USER`, `USER_NOT_FOUND`,
/// `TEAM_MEMBERSHIP_NOT_FOUND`, `TEAM_PERMISSION_REQUIRED`; database failures.
pub async fn remove_member(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<(), ApiError> {
    let mut tx = pool.begin().await?;
    require_for_others(
        &mut tx,
        project,
        caller,
        team_id,
        user_id,
        "$remove_members",
    )
    .await?;
    permissions::require_membership(&mut tx, project, team_id, user_id).await?;
    if !teams::delete_member(&mut *tx, &project.id, team_id, user_id).await? {
        return Err(membership_not_found(team_id, user_id));
    }
    tx.commit().await?;
    Ok(())
}

/// A client acting on another member than itself needs `permission` in the
/// team; trusted callers, and a client acting on itself, need nothing.
///
/// # Errors
/// `CANNOT_GET_OWN_USER_WITHOUT_USER`, and those of
/// [`permissions::require_team_permission`].
async fn require_for_others(
    conn: &mut PgConnection,
    project: &Project,
    caller: Caller,
    team_id: Uuid,
    user_id: Uuid,
    permission: &str,
) -> Result<(), ApiError> {
    if !caller.client {
        return Ok(());
    }
    let me = caller.own_user()?;
    if user_id == me {
        return Ok(());
    }
    permissions::require_team_permission(conn, project, team_id, me, permission).await
}

fn membership_not_found(team_id: Uuid, user_id: Uuid) -> ApiError {
    ke::team_membership_not_found(&team_id.to_string(), &user_id.to_string()).into()
}

/// A member profile: the membership's own name and image, else the user's.
#[derive(Debug, Clone)]
pub struct MemberProfile {
    /// The team.
    pub team_id: Uuid,
    /// The name shown in the team.
    pub display_name: Option<String>,
    /// The image shown in the team.
    pub profile_image_url: Option<String>,
    /// The member.
    pub user: users::UserRecord,
}

impl From<MemberRecord> for MemberProfile {
    fn from(m: MemberRecord) -> Self {
        Self {
            team_id: m.member_team_id,
            display_name: m
                .member_display_name
                .or_else(|| m.user.display_name.clone()),
            profile_image_url: m
                .member_profile_image_url
                .or_else(|| m.user.profile_image_url.clone()),
            user: m.user,
        }
    }
}

/// `GET /team-member-profiles`: the profiles of a team, of a user, or of the
/// whole project (trusted callers), in the order members joined. A client
/// must name a team it belongs to, and needs `$read_members` unless it lists
/// only itself.
///
/// # Errors
/// `CANNOT_GET_OWN_USER_WITHOUT_USER`, a plain 400 for a client without
/// `team_id`, `USER_NOT_FOUND`, `TEAM_MEMBERSHIP_NOT_FOUND`,
/// `TEAM_PERMISSION_REQUIRED`, `TEAM_NOT_FOUND`; database failures.
pub async fn list_profiles(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    team_id: Option<Uuid>,
    user_id: Option<Uuid>,
) -> Result<Vec<MemberProfile>, ApiError> {
    let mut conn = pool.acquire().await?;
    if caller.client {
        let me = caller.own_user()?;
        let team_id = team_id.ok_or_else(|| ApiError::bad_request(CLIENT_LIST_WITHOUT_TEAM))?;
        permissions::require_membership(&mut conn, project, team_id, me).await?;
        if user_id != Some(me) {
            permissions::require_team_permission(&mut conn, project, team_id, me, "$read_members")
                .await?;
        }
    } else {
        if let Some(team_id) = team_id
            && !teams::exists(&mut conn, &project.id, team_id).await?
        {
            return Err(ke::team_not_found(&team_id.to_string()).into());
        }
        if let Some(user_id) = user_id
            && !users::exists(&mut *conn, &project.id, user_id).await?
        {
            return Err(ke::user_not_found().into());
        }
    }
    let rows = teams::members(&mut *conn, &project.id, team_id, user_id).await?;
    Ok(rows.into_iter().map(MemberProfile::from).collect())
}

/// `GET /team-member-profiles/{team_id}/{user_id}`: a client reading someone
/// else's profile needs `$read_members`.
///
/// # Errors
/// `CANNOT_GET_OWN_USER_WITHOUT_USER`, `USER_NOT_FOUND`,
/// `TEAM_MEMBERSHIP_NOT_FOUND` (also for a missing team),
/// `TEAM_PERMISSION_REQUIRED`; database failures.
pub async fn read_profile(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<MemberProfile, ApiError> {
    let mut conn = pool.acquire().await?;
    require_for_others(
        &mut conn,
        project,
        caller,
        team_id,
        user_id,
        "$read_members",
    )
    .await?;
    permissions::require_membership(&mut conn, project, team_id, user_id).await?;
    teams::member(&mut *conn, &project.id, team_id, user_id)
        .await?
        .map(MemberProfile::from)
        .ok_or_else(|| membership_not_found(team_id, user_id))
}

/// Changes to a member profile (`Absent`/`None` keeps a field).
#[derive(Debug)]
pub struct ProfilePatch {
    /// Name in the team.
    pub display_name: Option<String>,
    /// Image in the team (`Null` falls back to the user's again).
    pub profile_image_url: Patch<String>,
}

/// `PATCH /team-member-profiles/{team_id}/{user_id}`: a client may change
/// only its own profile. Images follow [`image::stored_url`] for every caller.
///
/// # Errors
/// `CANNOT_GET_OWN_USER_WITHOUT_USER`, a plain 403 for another user's
/// profile, `USER_NOT_FOUND`, `TEAM_MEMBERSHIP_NOT_FOUND`, image errors;
/// database failures.
pub async fn update_profile(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    team_id: Uuid,
    user_id: Uuid,
    patch: ProfilePatch,
) -> Result<MemberProfile, ApiError> {
    let mut tx = pool.begin().await?;
    if caller.client && user_id != caller.own_user()? {
        return Err(ApiError::forbidden(UPDATE_OTHERS_PROFILE));
    }
    permissions::require_membership(&mut tx, project, team_id, user_id).await?;
    let image = image::patch_change(&patch.profile_image_url)?;
    let update = MemberUpdate {
        display_name: patch.display_name.as_deref(),
        profile_image_url: image.as_ref().map(Option::as_deref),
    };
    if !teams::update_member(&mut *tx, &project.id, team_id, user_id, &update).await? {
        return Err(membership_not_found(team_id, user_id));
    }
    let profile = teams::member(&mut *tx, &project.id, team_id, user_id)
        .await?
        .map(MemberProfile::from)
        .ok_or_else(|| membership_not_found(team_id, user_id))?;
    tx.commit().await?;
    Ok(profile)
}
