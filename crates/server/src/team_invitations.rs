//! Team invitations as Stack Auth has them.
//!
//! An invitation is a verification code of kind `TEAM_INVITATION` (see
//! [`crate::verification`]) whose data names the team and whose method is the
//! recipient's address; its row id is the invitation's id. It is mailed as a
//! link (the caller's callback URL with `code=<code>`). Whoever holds the code
//! and is signed in as an unrestricted user may accept it
//! (`/team-invitations/accept`); accepting by id instead requires a verified
//! email address equal to the recipient's. Either way the code is used up
//! before the membership is added, so two accepts of one code never both
//! succeed, and a user who is a member already gets a success that changes
//! nothing. New members are added as `POST /team-memberships` adds them
//! ([`crate::teams::members::add_member`]: the project's `teamMember` default
//! permissions, the team not selected).
//!
//! Left out: the internal project's `dashboard_admins` seat limit, which
//! Stack Auth checks on accept through its payments module (this server has
//! no payments), so an invitation to an internal-project team is never
//! refused for lack of seats.

use serde_json::json;
use sqlx::PgPool;
use url::Url;
use uuid::Uuid;

use crate::auth::{AccessType, Auth};
use crate::db::projects::Project;
use crate::db::teams;
use crate::db::users::UserRecord;
use crate::db::verification_codes as codes;
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::mail::templates::{Rendered, escape_html};
use crate::permissions::require_team_permission;
use crate::redirect;
use crate::teams::members;
use crate::user_view;
use crate::verification::{self, AcceptedCode, CodeKind};

pub use crate::db::verification_codes::InvitationRecord as Invitation;

/// What a client needs in a team to send invitations.
pub const INVITE_PERMISSION: &str = "$invite_members";
/// What a client needs in a team to list its invitations (each in turn).
pub const LIST_PERMISSIONS: [&str; 2] = ["$read_members", INVITE_PERMISSION];
/// What a client needs in a team to revoke its invitations.
pub const REVOKE_PERMISSION: &str = "$remove_members";

/// The known error of adding a member twice, which accepting treats as done.
const MEMBERSHIP_ALREADY_EXISTS: &str = "TEAM_MEMBERSHIP_ALREADY_EXISTS";

/// An invitation just created, for its mail and the response.
#[derive(Debug)]
pub struct SentInvitation {
    /// The invitation's id.
    pub id: Uuid,
    /// The team's name, for the mail.
    pub team_display_name: String,
    /// The link to mail: the callback URL with the code.
    pub link: Url,
}

/// Creates an invitation to `team_id` for `email` (the caller mails it, see [`mail`]).
///
/// A client must be signed in and hold `$invite_members` in the team; a
/// server needs no user. Each call makes a new invitation, even for an
/// address that has one or for a member.
///
/// # Errors
/// Clients: `USER_AUTHENTICATION_REQUIRED`, `USER_NOT_FOUND`,
/// `TEAM_MEMBERSHIP_NOT_FOUND`, `TEAM_PERMISSION_REQUIRED`. Then
/// `REDIRECT_URL_NOT_WHITELISTED`, `TEAM_NOT_FOUND`; database and RNG failures.
pub async fn send(
    pool: &PgPool,
    auth: &Auth,
    team_id: Uuid,
    email: &str,
    callback: &Url,
) -> Result<SentInvitation, ApiError> {
    let project = &auth.project;
    if auth.access == AccessType::Client {
        let user = auth
            .user
            .as_ref()
            .ok_or_else(|| ApiError::from(ke::user_authentication_required()))?;
        let mut conn = pool.acquire().await?;
        require_team_permission(&mut conn, project, team_id, user.id, INVITE_PERMISSION).await?;
    }
    if !redirect::is_trusted(&project.config, callback) {
        return Err(ke::redirect_url_not_whitelisted().into());
    }
    // Stack Auth makes the code first and then fails to read the team (a 500);
    // checking first refuses cleanly and leaves no orphan code.
    let team_display_name = team_name(pool, &project.id, team_id).await?;
    let issued = verification::create(
        pool,
        &project.id,
        CodeKind::TeamInvitation,
        email,
        json!({ "team_id": team_id }),
        callback,
    )
    .await?;
    Ok(SentInvitation {
        id: issued.id,
        team_display_name,
        link: issued.link,
    })
}

/// The invitation mail. The subject is Stack Auth's (apps and tests look for
/// it); the text body carries the link on a line of its own.
pub fn mail(team_display_name: &str, link: &str) -> Rendered {
    let subject = format!("You have been invited to join {team_display_name}");
    let team = escape_html(team_display_name);
    let href = escape_html(link);
    Rendered {
        text: format!(
            "{subject}\n\nOpen this link to accept the invitation and join {team_display_name}:\n{link}\n\nIf you did not expect this invitation, you can ignore this mail.\n"
        ),
        html: format!(
            "<!DOCTYPE html><html><body style=\"font-family:sans-serif\"><h1>Join {team}</h1><p>You have been invited to join {team}. Use the link below to accept.</p><p><a href=\"{href}\">Accept the invitation</a></p><p>If you did not expect this invitation, you can ignore this mail.</p></body></html>"
        ),
        subject,
    }
}

/// The pending invitations to a team.
///
/// # Errors
/// Clients: `CANNOT_GET_OWN_USER_WITHOUT_USER`, `USER_NOT_FOUND`,
/// `TEAM_MEMBERSHIP_NOT_FOUND`, `TEAM_PERMISSION_REQUIRED` (`$read_members`,
/// then `$invite_members`). Servers: `TEAM_NOT_FOUND`. Database failures.
pub async fn list_for_team(
    pool: &PgPool,
    auth: &Auth,
    team_id: Uuid,
) -> Result<Vec<Invitation>, ApiError> {
    let project = &auth.project;
    let mut conn = pool.acquire().await?;
    match auth.access {
        AccessType::Client => {
            let me = auth.me()?.id;
            for permission in LIST_PERMISSIONS {
                require_team_permission(&mut conn, project, team_id, me, permission).await?;
            }
        }
        AccessType::Server | AccessType::Admin => {
            require_team(&mut conn, &project.id, team_id).await?;
        }
    }
    Ok(codes::team_invitations(&mut *conn, &project.id, team_id).await?)
}

/// The pending invitations sent to any verified email address of `user_id`
/// (none when it has none; a server may ask about any id).
///
/// # Errors
/// Clients asking about anyone but themselves: `CANNOT_GET_OWN_USER_WITHOUT_USER`
/// (Stack Auth's answer). Database failures.
pub async fn list_for_user(
    pool: &PgPool,
    auth: &Auth,
    user_id: Uuid,
) -> Result<Vec<Invitation>, ApiError> {
    if auth.access == AccessType::Client && auth.me()?.id != user_id {
        return Err(ke::cannot_get_own_user_without_user().into());
    }
    Ok(codes::invitations_for_user(pool, &auth.project.id, user_id).await?)
}

/// Revokes (deletes) invitation `id` to `team_id`. Only an invitation to that
/// team is deleted; an id that names none is no error, as the invitation is
/// gone either way.
///
/// # Errors
/// Clients: `CANNOT_GET_OWN_USER_WITHOUT_USER`, `USER_NOT_FOUND`,
/// `TEAM_MEMBERSHIP_NOT_FOUND`, `TEAM_PERMISSION_REQUIRED` (`$remove_members`).
/// Servers: `TEAM_NOT_FOUND`. Database failures.
pub async fn revoke(pool: &PgPool, auth: &Auth, team_id: Uuid, id: Uuid) -> Result<(), ApiError> {
    let project = &auth.project;
    let mut conn = pool.acquire().await?;
    match auth.access {
        AccessType::Client => {
            let me = auth.me()?.id;
            require_team_permission(&mut conn, project, team_id, me, REVOKE_PERMISSION).await?;
        }
        AccessType::Server | AccessType::Admin => {
            require_team(&mut conn, &project.id, team_id).await?;
        }
    }
    codes::delete_team_invitation(&mut *conn, &project.id, team_id, id).await?;
    Ok(())
}

/// Adds the signed-in `user` to the team of an accepted (already used-up)
/// invitation code.
///
/// # Errors
/// `USER_AUTHENTICATION_REQUIRED`, `TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED`,
/// `TEAM_NOT_FOUND` (the team was deleted since); database failures.
pub async fn accept(
    pool: &PgPool,
    project: &Project,
    user: Option<&UserRecord>,
    accepted: &AcceptedCode,
) -> Result<(), ApiError> {
    let user = unrestricted_user(project, user)?;
    join(pool, project, invited_team(accepted)?, user.id).await
}

/// The team of an invitation code, for a signed-in user about to accept it.
///
/// # Errors
/// `USER_AUTHENTICATION_REQUIRED`, `TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED`,
/// `TEAM_NOT_FOUND`; database failures.
pub async fn details(
    pool: &PgPool,
    project: &Project,
    user: Option<&UserRecord>,
    accepted: &AcceptedCode,
) -> Result<(Uuid, String), ApiError> {
    unrestricted_user(project, user)?;
    let team_id = invited_team(accepted)?;
    Ok((team_id, team_name(pool, &project.id, team_id).await?))
}

/// Accepts invitation `id` for `user_id`, who must have a verified email
/// address equal to its recipient's. The invitation is used up in the same
/// statement that checks it, so of two concurrent accepts one finds nothing.
///
/// # Errors
/// Clients: `CANNOT_GET_OWN_USER_WITHOUT_USER` (no user, or another user's
/// id), `TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED`. Then
/// `VERIFICATION_CODE_NOT_FOUND` for an invitation that is unknown, used,
/// expired or not sent to the user; `TEAM_NOT_FOUND`; database failures.
pub async fn accept_by_id(
    pool: &PgPool,
    auth: &Auth,
    id: Uuid,
    user_id: Uuid,
) -> Result<(), ApiError> {
    let project = &auth.project;
    if auth.access == AccessType::Client {
        let me = auth.me()?;
        if me.id != user_id {
            return Err(ke::cannot_get_own_user_without_user().into());
        }
        unrestricted_user(project, Some(me))?;
    }
    let team = codes::take_invitation_for_user(pool, &project.id, id, user_id)
        .await?
        .ok_or_else(|| ApiError::from(ke::verification_code_not_found()))?;
    let team_id = Uuid::parse_str(&team)
        .map_err(|_| ApiError::internal("a team invitation without a team id"))?;
    join(pool, project, team_id, user_id).await
}

/// The signed-in user, if they may accept invitations.
fn unrestricted_user<'u>(
    project: &Project,
    user: Option<&'u UserRecord>,
) -> Result<&'u UserRecord, ApiError> {
    let user = user.ok_or_else(|| ApiError::from(ke::user_authentication_required()))?;
    match user_view::restriction(user, &project.config) {
        Some(reason) => Err(ke::team_invitation_restricted_user_not_allowed(reason).into()),
        None => Ok(user),
    }
}

/// The team an invitation code's data names.
fn invited_team(accepted: &AcceptedCode) -> Result<Uuid, ApiError> {
    accepted.data["team_id"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| ApiError::internal("a team invitation without a team id"))
}

/// The current name of a team.
async fn team_name(pool: &PgPool, project_id: &str, team_id: Uuid) -> Result<String, ApiError> {
    match teams::find(pool, project_id, team_id).await? {
        Some(team) => Ok(team.display_name),
        None => Err(ke::team_not_found(&team_id.to_string()).into()),
    }
}

async fn require_team(
    db: &mut sqlx::PgConnection,
    project_id: &str,
    team_id: Uuid,
) -> Result<(), ApiError> {
    if teams::exists(db, project_id, team_id).await? {
        Ok(())
    } else {
        Err(ke::team_not_found(&team_id.to_string()).into())
    }
}

/// Makes `user_id` a member of `team_id` as `POST /team-memberships` does
/// (with the `teamMember` defaults), unless they are one already: then
/// nothing changes, also when a concurrent request added them first.
async fn join(
    pool: &PgPool,
    project: &Project,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<(), ApiError> {
    match members::add_member(pool, project, team_id, user_id).await {
        Err(e) if e.code() == Some(MEMBERSHIP_ALREADY_EXISTS) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mail_has_stack_auths_subject_and_the_link_in_its_text() {
        let link = "http://localhost:12345/some-callback-url?code=abc123";
        let m = mail("New <Team>", link);
        assert_eq!(m.subject, "You have been invited to join New <Team>");
        assert!(m.text.contains(link), "{}", m.text);
        assert!(m.html.contains("New &lt;Team&gt;"), "{}", m.html);
        assert!(!m.html.contains("<Team>"), "{}", m.html);
    }

    #[test]
    fn an_invitation_code_names_its_team() {
        let team = Uuid::from_u128(7);
        let accepted = AcceptedCode {
            email: "a@example.com".to_owned(),
            data: json!({ "team_id": team.to_string() }),
        };
        assert_eq!(invited_team(&accepted).ok(), Some(team));
        let broken = AcceptedCode {
            email: "a@example.com".to_owned(),
            data: json!({}),
        };
        assert!(invited_team(&broken).is_err());
    }
}
