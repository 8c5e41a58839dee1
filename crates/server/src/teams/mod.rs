//! Teams as Stack Auth has them: creating, reading, listing, changing and
//! deleting teams, with who may do each; the selected team of a user;
//! personal teams made at sign-up ([`personal_team_name`] and its
//! neighbours); memberships and member profiles ([`members`]); profile
//! images ([`image`]).
//!
//! Every operation takes a [`Caller`]: client callers are held to Stack
//! Auth's client rules (signed in, a member, holding the team permission the
//! operation needs), trusted (server and admin) callers are not. The checks
//! run in Stack Auth's order, inside the transaction that makes the change.
//! Webhooks and the internal project's free-plan subscription, which Stack
//! Auth attaches to team creation, are left out.

pub mod image;
pub mod members;
mod personal;

pub use personal::{
    PERSONAL_TEAM_DEFAULT_NAME, create_personal_team, personal_team_name,
    rename_personal_teams_on_upgrade,
};

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db::projects::Project;
use crate::db::teams::{self, NewTeam, TeamRecord, TeamUpdate};
use crate::db::users;
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::permissions::{self, Defaults};
use crate::random;
use crate::validate::Patch;

/// Plain 400 when a create names the creator twice.
pub const CREATOR_TWICE: &str = "Cannot use both creator_user_id and add_current_user. add_current_user is deprecated, please only use creator_user_id in the body.";
/// Plain 403 when the project does not let clients create teams.
pub const CLIENT_CREATION_DISABLED: &str = "Client team creation is disabled for this project";
/// Plain 403 when a client creates a team for someone else.
pub const CREATOR_NOT_SELF: &str = "You cannot create a team as a user that is not yourself. Make sure you set the creator_user_id to 'me'.";
/// Plain 401 for `add_current_user=true` without a signed-in user.
pub const ADD_CURRENT_USER_WITHOUT_USER: &str =
    "You must be logged in to create a team with the current user as a member.";
/// Plain 403 when a client lists another user's teams (or all teams).
pub const CLIENT_LIST_OTHERS: &str = "Client can only list teams for their own user. user_id must be either \"me\" or the ID of the current user";

/// Who calls a team operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Client access (a browser): Stack Auth's client rules apply.
    pub client: bool,
    /// The signed-in user, if any.
    pub user: Option<Uuid>,
}

impl Caller {
    /// The signed-in user of a client call, or `USER_AUTHENTICATION_REQUIRED`.
    fn required_user(&self) -> Result<Uuid, ApiError> {
        self.user
            .ok_or_else(|| ke::user_authentication_required().into())
    }

    /// The signed-in user of a client call, or `CANNOT_GET_OWN_USER_WITHOUT_USER`.
    fn own_user(&self) -> Result<Uuid, ApiError> {
        self.user
            .ok_or_else(|| ke::cannot_get_own_user_without_user().into())
    }
}

/// Makes `team_id` the user's selected team, or clears the selection
/// (`None`); a user can select only a team they belong to. No other team is
/// ever selected on the user's behalf.
///
/// # Errors
/// `USER_NOT_FOUND`, `TEAM_MEMBERSHIP_NOT_FOUND`; database failures.
pub async fn select_team(
    tx: &mut PgConnection,
    project: &Project,
    user_id: Uuid,
    team_id: Option<Uuid>,
) -> Result<(), ApiError> {
    match team_id {
        None => teams::clear_selection(&mut *tx, &project.id, user_id).await?,
        Some(team_id) => {
            permissions::require_membership(tx, project, team_id, user_id).await?;
            if !teams::select(tx, &project.id, user_id, team_id).await? {
                // Left the team after the check, in a concurrent request.
                return Err(ke::team_membership_not_found(
                    &team_id.to_string(),
                    &user_id.to_string(),
                )
                .into());
            }
        }
    }
    Ok(())
}

/// A team to create, as the request gave it (`me` already resolved).
#[derive(Debug, Default)]
pub struct CreateTeam {
    /// Name.
    pub display_name: String,
    /// Image: an `http(s)` URL or a base64 image data URL.
    pub profile_image_url: Option<String>,
    /// Client metadata.
    pub client_metadata: Option<Value>,
    /// Client read-only metadata (trusted callers only).
    pub client_read_only_metadata: Option<Value>,
    /// Server metadata (trusted callers only).
    pub server_metadata: Option<Value>,
    /// `creator_user_id` of the body.
    pub creator_user_id: Option<Uuid>,
    /// The deprecated `add_current_user` query parameter, if sent.
    pub add_current_user: Option<bool>,
}

/// `POST /teams`: creates a team, with its creator as the first member. The
/// team is not selected for the creator.
///
/// # Errors
/// Plain 400/401/403s for the creator rules, client creation being off and
/// client images; `USER_AUTHENTICATION_REQUIRED`, `USER_NOT_FOUND`; image
/// errors of [`image::stored_url`]; database failures.
pub async fn create_team(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    new: CreateTeam,
) -> Result<TeamRecord, ApiError> {
    let creator = resolve_creator(project, caller, &new)?;
    // Stack Auth's upload treats an empty string as "no image".
    let profile_image_url = new
        .profile_image_url
        .as_deref()
        .filter(|url| !url.is_empty())
        .map(image::stored_url)
        .transpose()?;
    let mut tx = pool.begin().await?;
    let team = insert_team(
        &mut tx,
        project,
        &NewTeam {
            display_name: &new.display_name,
            profile_image_url: profile_image_url.as_deref(),
            client_metadata: new.client_metadata.as_ref(),
            client_read_only_metadata: new.client_read_only_metadata.as_ref(),
            server_metadata: new.server_metadata.as_ref(),
        },
    )
    .await?;
    if let Some(creator) = creator {
        if !users::exists(&mut *tx, &project.id, creator).await? {
            return Err(ke::user_not_found().into());
        }
        join_as(&mut tx, project, team.id, creator, Defaults::TeamCreator).await?;
    }
    tx.commit().await?;
    Ok(team)
}

/// Who becomes the creator of a new team, after Stack Auth's checks.
fn resolve_creator(
    project: &Project,
    caller: Caller,
    new: &CreateTeam,
) -> Result<Option<Uuid>, ApiError> {
    if new.creator_user_id.is_some() && new.add_current_user.is_some() {
        return Err(ApiError::bad_request(CREATOR_TWICE));
    }
    let mut creator = new.creator_user_id;
    if caller.client {
        let me = caller.required_user()?;
        if !project.config.client_team_creation_enabled {
            return Err(ApiError::forbidden(CLIENT_CREATION_DISABLED));
        }
        if let Some(url) = &new.profile_image_url {
            image::check_client_image(url)?;
        }
        match creator {
            None => creator = Some(me),
            Some(id) if id != me => return Err(ApiError::forbidden(CREATOR_NOT_SELF)),
            Some(_) => {}
        }
    }
    if new.add_current_user == Some(true) {
        creator = Some(
            caller
                .user
                .ok_or_else(|| ApiError::unauthorized(ADD_CURRENT_USER_WITHOUT_USER))?,
        );
    }
    Ok(creator)
}

async fn insert_team(
    tx: &mut PgConnection,
    project: &Project,
    new: &NewTeam<'_>,
) -> Result<TeamRecord, ApiError> {
    let id = random::uuid()?;
    Ok(teams::create(&mut *tx, &project.id, id, new).await?)
}

/// Adds a member who is known to exist to a team known to exist, with the
/// default permissions of `defaults`.
async fn join_as(
    tx: &mut PgConnection,
    project: &Project,
    team_id: Uuid,
    user_id: Uuid,
    defaults: Defaults,
) -> Result<(), ApiError> {
    if !teams::insert_member(&mut *tx, &project.id, team_id, user_id).await? {
        return Err(ke::team_membership_already_exists().into());
    }
    permissions::grant_team_defaults(tx, project, team_id, user_id, defaults).await
}

/// `GET /teams/{team_id}`: clients must be members.
///
/// # Errors
/// `USER_AUTHENTICATION_REQUIRED`, `USER_NOT_FOUND`,
/// `TEAM_MEMBERSHIP_NOT_FOUND`, `TEAM_NOT_FOUND`; database failures.
pub async fn read_team(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    team_id: Uuid,
) -> Result<TeamRecord, ApiError> {
    let mut conn = pool.acquire().await?;
    if caller.client {
        let me = caller.required_user()?;
        permissions::require_membership(&mut conn, project, team_id, me).await?;
    }
    teams::find(&mut *conn, &project.id, team_id)
        .await?
        .ok_or_else(|| ke::team_not_found(&team_id.to_string()).into())
}

/// `GET /teams`: every team of the project, or those of `user_id`; clients
/// may list only their own.
///
/// # Errors
/// `CANNOT_GET_OWN_USER_WITHOUT_USER`, a plain 403 for a client listing
/// others; database failures.
pub async fn list_teams(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    user_id: Option<Uuid>,
) -> Result<Vec<TeamRecord>, ApiError> {
    if caller.client {
        let me = caller.own_user()?;
        if user_id != Some(me) {
            return Err(ApiError::forbidden(CLIENT_LIST_OTHERS));
        }
    }
    Ok(teams::list(pool, &project.id, user_id).await?)
}

/// Changes to a team (`Absent` keeps a field).
#[derive(Debug)]
pub struct TeamPatch {
    /// Name.
    pub display_name: Option<String>,
    /// Image (`Null` removes it).
    pub profile_image_url: Patch<String>,
    /// Client metadata.
    pub client_metadata: Patch<Value>,
    /// Client read-only metadata (trusted callers only).
    pub client_read_only_metadata: Patch<Value>,
    /// Server metadata (trusted callers only).
    pub server_metadata: Patch<Value>,
}

/// `PATCH /teams/{team_id}`: clients need `$update_team`.
///
/// # Errors
/// A plain 400 for a client image that is no base64 image;
/// `USER_AUTHENTICATION_REQUIRED`, `USER_NOT_FOUND`,
/// `TEAM_MEMBERSHIP_NOT_FOUND`, `TEAM_PERMISSION_REQUIRED`, `TEAM_NOT_FOUND`;
/// image errors; database failures.
pub async fn update_team(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    team_id: Uuid,
    patch: TeamPatch,
) -> Result<TeamRecord, ApiError> {
    let mut tx = pool.begin().await?;
    if caller.client {
        if let Patch::Set(url) = &patch.profile_image_url {
            image::check_client_image(url)?;
        }
        let me = caller.required_user()?;
        permissions::require_team_permission(&mut tx, project, team_id, me, "$update_team").await?;
    }
    if !teams::exists(&mut tx, &project.id, team_id).await? {
        return Err(ke::team_not_found(&team_id.to_string()).into());
    }
    let image = image::patch_change(&patch.profile_image_url)?;
    let update = TeamUpdate {
        display_name: patch.display_name.as_deref(),
        profile_image_url: image.as_ref().map(Option::as_deref),
        client_metadata: change(&patch.client_metadata),
        client_read_only_metadata: change(&patch.client_read_only_metadata),
        server_metadata: change(&patch.server_metadata),
    };
    let team = teams::update(&mut *tx, &project.id, team_id, &update)
        .await?
        .ok_or_else(|| ke::team_not_found(&team_id.to_string()))?;
    tx.commit().await?;
    Ok(team)
}

fn change(patch: &Patch<Value>) -> Option<Option<&Value>> {
    match patch {
        Patch::Absent => None,
        Patch::Null => Some(None),
        Patch::Set(v) => Some(Some(v)),
    }
}

/// `DELETE /teams/{team_id}`: clients need `$delete_team`. Memberships, their
/// permissions and any member's selection of the team go with it; invitation
/// codes stay (listing them skips missing teams).
///
/// # Errors
/// `USER_AUTHENTICATION_REQUIRED`, `USER_NOT_FOUND`,
/// `TEAM_MEMBERSHIP_NOT_FOUND`, `TEAM_PERMISSION_REQUIRED`, `TEAM_NOT_FOUND`;
/// database failures.
pub async fn delete_team(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    team_id: Uuid,
) -> Result<(), ApiError> {
    let mut tx = pool.begin().await?;
    if caller.client {
        let me = caller.required_user()?;
        permissions::require_team_permission(&mut tx, project, team_id, me, "$delete_team").await?;
    }
    if !teams::delete(&mut *tx, &project.id, team_id).await? {
        return Err(ke::team_not_found(&team_id.to_string()).into());
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(client_creation: bool) -> Project {
        let mut p = Project {
            id: "p".into(),
            display_name: "P".into(),
            description: String::new(),
            is_production_mode: false,
            owner_team_id: None,
            overrides: Default::default(),
            branch_source: Value::Null,
            rendered: Default::default(),
            config: Default::default(),
            created_at: chrono::Utc::now(),
        };
        p.config.client_team_creation_enabled = client_creation;
        p
    }

    fn status_of(r: Result<Option<Uuid>, ApiError>) -> Option<u16> {
        match r {
            Err(ApiError::Status { status, .. }) => Some(status),
            Err(ApiError::Known(k)) => Some(k.status),
            _ => None,
        }
    }

    #[test]
    fn creators_follow_stack_auths_order_of_checks() {
        let me = Uuid::from_u128(1);
        let other = Uuid::from_u128(2);
        let client = Caller {
            client: true,
            user: Some(me),
        };
        let server = Caller {
            client: false,
            user: None,
        };
        let new = |creator: Option<Uuid>, add: Option<bool>| CreateTeam {
            creator_user_id: creator,
            add_current_user: add,
            ..CreateTeam::default()
        };
        // Both ways of naming the creator: refused before anything else.
        assert_eq!(
            status_of(resolve_creator(
                &project(false),
                client,
                &new(Some(me), Some(false))
            )),
            Some(400)
        );
        assert_eq!(
            status_of(resolve_creator(&project(false), client, &new(None, None))),
            Some(403)
        );
        assert_eq!(
            resolve_creator(&project(true), client, &new(None, None)).ok(),
            Some(Some(me))
        );
        assert_eq!(
            status_of(resolve_creator(
                &project(true),
                client,
                &new(Some(other), None)
            )),
            Some(403)
        );
        assert_eq!(
            resolve_creator(&project(false), server, &new(None, None)).ok(),
            Some(None)
        );
        assert_eq!(
            status_of(resolve_creator(
                &project(false),
                server,
                &new(None, Some(true))
            )),
            Some(401)
        );
        let signed_out = Caller {
            client: true,
            user: None,
        };
        assert_eq!(
            status_of(resolve_creator(
                &project(true),
                signed_out,
                &new(None, None)
            )),
            Some(401)
        );
    }
}
