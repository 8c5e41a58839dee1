//! Creating and changing users, with every side effect Stack Auth attaches:
//! the primary email channel, the password, the personal team, and the
//! uniqueness of sign-in emails; also who may sign in by mail code, password
//! changes, and the second sign-in factor (TOTP). The rules live here; the
//! statements live in [`crate::db`], and the HTTP layer calls these functions.

mod mfa;
mod otp;
mod password_change;
pub mod totp;

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db::contact_channels::{self as channels, NewChannel};
use crate::db::permissions::{self, Holder};
use crate::db::projects::Project;
use crate::db::users::{AccessUpdate, Change, ProfileUpdate, UserRecord};
use crate::db::{sessions, users};
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::random;
use crate::secret::Secret;
use crate::teams;
use crate::validate::Patch;

pub use crate::db::users::NewUser;
pub use mfa::{
    ATTEMPT_CODE_LIFETIME, SecondFactorPassed, pass_second_factor, require_second_factor,
};
pub use otp::{create_otp_user, otp_user_for_email};
pub use password_change::{PasswordChange, set_password, update_password};

/// Normalises an email as Stack Auth stores it: trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Whether a database error is a unique violation (SQLSTATE 23505).
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// Creates a user and everything that comes with it, in one transaction.
///
/// # Errors
/// `USER_EMAIL_ALREADY_EXISTS` when another user signs in with that email;
/// database and RNG failures.
pub async fn create_user(pool: &PgPool, project: &Project, new: NewUser) -> Result<Uuid, ApiError> {
    create(pool, project, new, false).await.map(|(id, _)| id)
}

/// Creates a user like [`create_user`] and returns them as Stack Auth's
/// create route shows them: read before the personal team is made (Stack
/// Auth makes it after building its response), so never with a selected team.
///
/// # Errors
/// As [`create_user`].
pub async fn create_user_as_created(
    pool: &PgPool,
    project: &Project,
    new: NewUser,
) -> Result<UserRecord, ApiError> {
    match create(pool, project, new, true).await? {
        (_, Some(user)) => Ok(user),
        (id, None) => Err(ApiError::internal(format!(
            "user {id} was created but could not be read back"
        ))),
    }
}

async fn create(
    pool: &PgPool,
    project: &Project,
    new: NewUser,
    read_back: bool,
) -> Result<(Uuid, Option<UserRecord>), ApiError> {
    let mut tx = pool.begin().await?;
    let id = random::uuid()?;
    let email_for_error = new.primary_email.clone();
    let created = match insert_user(&mut tx, project, id, new, read_back).await {
        Ok(created) => created,
        Err(ApiError::Internal(e)) => {
            let unique = e
                .downcast_ref::<sqlx::Error>()
                .is_some_and(is_unique_violation);
            return Err(match (unique, email_for_error) {
                (true, Some(email)) => ke::user_email_already_exists(&email, false).into(),
                _ => ApiError::Internal(e),
            });
        }
        Err(other) => return Err(other),
    };
    tx.commit().await?;
    Ok((id, created))
}

/// Inserts the user, their primary email, their default permissions and,
/// when the project asks for one, their personal team (Stack Auth makes it
/// for every new user, anonymous ones included). With `read_back`, returns
/// the user as read before the personal team exists.
async fn insert_user(
    tx: &mut PgConnection,
    project: &Project,
    id: Uuid,
    new: NewUser,
    read_back: bool,
) -> Result<Option<UserRecord>, ApiError> {
    if let (Some(email), true) = (&new.primary_email, new.primary_email_auth_enabled)
        && users::auth_email_taken(&mut *tx, &project.id, email, None).await?
    {
        return Err(ke::user_email_already_exists(email, false).into());
    }
    users::insert(&mut *tx, &project.id, id, &new)
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    if let Some(email) = &new.primary_email {
        insert_channel(
            tx,
            &project.id,
            id,
            email,
            new.primary_email_verified,
            true,
            new.primary_email_auth_enabled,
        )
        .await?;
    }
    for permission in &project.config.user_default_permissions {
        permissions::grant(&mut *tx, &project.id, Holder::User(id), &permission.id).await?;
    }
    let created = if read_back {
        users::find(&mut *tx, &project.id, id).await?
    } else {
        None
    };
    if project.config.create_team_on_sign_up {
        let name =
            teams::personal_team_name(new.display_name.as_deref(), new.primary_email.as_deref());
        teams::create_personal_team(tx, project, id, &name).await?;
    }
    Ok(created)
}

async fn insert_channel(
    tx: &mut PgConnection,
    project_id: &str,
    user_id: Uuid,
    email: &str,
    verified: bool,
    primary: bool,
    used_for_auth: bool,
) -> Result<Uuid, ApiError> {
    let channel = NewChannel {
        id: random::uuid()?,
        user_id,
        value: email,
        is_verified: verified,
        is_primary: primary,
        used_for_auth,
    };
    channels::insert(&mut *tx, project_id, &channel)
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(channel.id)
}

/// Changes to a user; `Absent` fields stay as they are.
#[derive(Debug)]
pub struct UserPatch {
    /// Display name.
    pub display_name: Patch<String>,
    /// Image URL.
    pub profile_image_url: Patch<String>,
    /// Client metadata.
    pub client_metadata: Patch<Value>,
    /// Client read-only metadata.
    pub client_read_only_metadata: Patch<Value>,
    /// Server metadata.
    pub server_metadata: Patch<Value>,
    /// Primary email (normalised).
    pub primary_email: Patch<String>,
    /// Primary email verified.
    pub primary_email_verified: Option<bool>,
    /// Primary email usable for sign-in.
    pub primary_email_auth_enabled: Option<bool>,
    /// New password hash (`Null` removes the password).
    pub password_hash: Patch<Secret<String>>,
    /// OTP sign-in.
    pub otp_auth_enabled: Option<bool>,
    /// Passkey sign-in.
    pub passkey_auth_enabled: Option<bool>,
    /// TOTP secret.
    pub totp_secret: Patch<Vec<u8>>,
    /// Selected team.
    pub selected_team_id: Patch<Uuid>,
    /// `Some(false)` upgrades an anonymous user.
    pub is_anonymous: Option<bool>,
    /// Restricted by an administrator.
    pub restricted_by_admin: Option<bool>,
    /// Public restriction reason.
    pub restricted_by_admin_reason: Patch<String>,
    /// Private restriction details.
    pub restricted_by_admin_private_details: Patch<String>,
    /// Country code.
    pub country_code: Patch<String>,
    /// Risk scores (bot, free-trial abuse).
    pub risk_scores: Option<(i32, i32)>,
}

impl Default for UserPatch {
    fn default() -> Self {
        Self {
            display_name: Patch::Absent,
            profile_image_url: Patch::Absent,
            client_metadata: Patch::Absent,
            client_read_only_metadata: Patch::Absent,
            server_metadata: Patch::Absent,
            primary_email: Patch::Absent,
            primary_email_verified: None,
            primary_email_auth_enabled: None,
            password_hash: Patch::Absent,
            otp_auth_enabled: None,
            passkey_auth_enabled: None,
            totp_secret: Patch::Absent,
            selected_team_id: Patch::Absent,
            is_anonymous: None,
            restricted_by_admin: None,
            restricted_by_admin_reason: Patch::Absent,
            restricted_by_admin_private_details: Patch::Absent,
            country_code: Patch::Absent,
            risk_scores: None,
        }
    }
}

/// A text patch as a column change; an empty string clears the column.
fn text_change(patch: &Patch<String>) -> Change<&str> {
    match patch {
        Patch::Absent => None,
        Patch::Set(s) if !s.is_empty() => Some(Some(s.as_str())),
        Patch::Set(_) | Patch::Null => Some(None),
    }
}

/// The value a patch sets, if it sets one.
fn given(patch: &Patch<String>) -> Option<&str> {
    match patch {
        Patch::Set(s) => Some(s),
        Patch::Absent | Patch::Null => None,
    }
}

/// A patch as a column change, the value seen through `view`.
fn change<'a, T, U: ?Sized>(patch: &'a Patch<T>, view: impl Fn(&'a T) -> &'a U) -> Change<&'a U> {
    match patch {
        Patch::Absent => None,
        Patch::Set(v) => Some(Some(view(v))),
        Patch::Null => Some(None),
    }
}

/// Applies a patch in one transaction. A password change ends every session.
///
/// # Errors
/// `USER_NOT_FOUND`, `TEAM_MEMBERSHIP_NOT_FOUND`, `USER_EMAIL_ALREADY_EXISTS`,
/// plain 400s for inconsistent restriction fields; database failures.
pub async fn update_user(
    pool: &PgPool,
    project: &Project,
    user_id: Uuid,
    patch: UserPatch,
) -> Result<(), ApiError> {
    let mut tx = pool.begin().await?;
    let Some(locked) = users::lock(&mut *tx, &project.id, user_id).await? else {
        return Err(ke::user_not_found().into());
    };
    let was_restricted = locked.restricted_by_admin;
    let old_reason = locked.restricted_by_admin_reason;
    let old_details = locked.restricted_by_admin_private_details;
    let was_anonymous = locked.is_anonymous;
    // Stack Auth changes the selection before anything else.
    match &patch.selected_team_id {
        Patch::Absent => {}
        Patch::Null => teams::select_team(&mut tx, project, user_id, None).await?,
        Patch::Set(team_id) => {
            teams::select_team(&mut tx, project, user_id, Some(*team_id)).await?
        }
    }

    let restricted = patch.restricted_by_admin.unwrap_or(was_restricted);
    let reason_set = match &patch.restricted_by_admin_reason {
        Patch::Set(_) => true,
        Patch::Null => false,
        Patch::Absent => old_reason.is_some() && patch.restricted_by_admin != Some(false),
    };
    let details_set = match &patch.restricted_by_admin_private_details {
        Patch::Set(_) => true,
        Patch::Null => false,
        Patch::Absent => old_details.is_some() && patch.restricted_by_admin != Some(false),
    };
    if !restricted && (reason_set || details_set) {
        return Err(ApiError::bad_request(
            "restricted_by_admin_reason and restricted_by_admin_private_details can only be set when restricted_by_admin is true.",
        ));
    }

    let profile = ProfileUpdate {
        display_name: text_change(&patch.display_name),
        profile_image_url: text_change(&patch.profile_image_url),
        client_metadata: change(&patch.client_metadata, |v| v),
        client_read_only_metadata: change(&patch.client_read_only_metadata, |v| v),
        server_metadata: change(&patch.server_metadata, |v| v),
        totp_secret: change(&patch.totp_secret, Vec::as_slice),
        country_code: text_change(&patch.country_code),
    };
    if !profile.is_empty() {
        users::update_profile(&mut *tx, &project.id, user_id, &profile).await?;
    }
    let access = AccessUpdate {
        otp_auth_enabled: patch.otp_auth_enabled,
        passkey_auth_enabled: patch.passkey_auth_enabled,
        restricted_by_admin: restricted,
        restricted_by_admin_reason: change(&patch.restricted_by_admin_reason, String::as_str),
        restricted_by_admin_private_details: change(
            &patch.restricted_by_admin_private_details,
            String::as_str,
        ),
        risk_scores: patch.risk_scores,
    };
    users::update_access(&mut *tx, &project.id, user_id, &access).await?;

    if was_anonymous && patch.is_anonymous == Some(false) {
        users::upgrade_anonymous(&mut *tx, &project.id, user_id).await?;
        teams::rename_personal_teams_on_upgrade(
            &mut tx,
            project,
            user_id,
            given(&patch.display_name),
            given(&patch.primary_email),
        )
        .await?;
    }

    apply_primary_email(&mut tx, project, user_id, &patch).await?;

    match &patch.password_hash {
        Patch::Absent => {}
        Patch::Null => users::set_password_hash(&mut *tx, &project.id, user_id, None).await?,
        Patch::Set(hash) => {
            users::set_password_hash(&mut *tx, &project.id, user_id, Some(hash.expose())).await?;
            sessions::delete_all_for_user(&mut *tx, &project.id, user_id, None).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn apply_primary_email(
    tx: &mut PgConnection,
    project: &Project,
    user_id: Uuid,
    patch: &UserPatch,
) -> Result<(), ApiError> {
    let current = channels::primary_email(&mut *tx, &project.id, user_id).await?;
    let mut primary = current.clone();
    match &patch.primary_email {
        Patch::Absent => {}
        Patch::Null => {
            channels::demote_primary(&mut *tx, &project.id, user_id).await?;
            primary = None;
        }
        Patch::Set(email) if current.as_ref().is_some_and(|c| &c.1 == email) => {}
        Patch::Set(email) => {
            let auth_wanted = patch
                .primary_email_auth_enabled
                .unwrap_or_else(|| current.as_ref().is_some_and(|c| c.2));
            if auth_wanted
                && users::auth_email_taken(&mut *tx, &project.id, email, Some(user_id)).await?
            {
                return Err(ke::user_email_already_exists(email, false).into());
            }
            channels::demote_primary(&mut *tx, &project.id, user_id).await?;
            let id = match channels::find_email_id(&mut *tx, &project.id, user_id, email).await? {
                Some(id) => {
                    channels::make_primary(&mut *tx, &project.id, id).await?;
                    id
                }
                None => insert_channel(tx, &project.id, user_id, email, false, true, false).await?,
            };
            channels::set_used_for_auth(&mut *tx, &project.id, id, auth_wanted).await?;
            primary = Some((id, email.clone(), auth_wanted));
        }
    }
    if let Some(enabled) = patch.primary_email_auth_enabled {
        match &primary {
            None if enabled => {
                return Err(ApiError::bad_request(
                    "primary_email_auth_enabled cannot be true without primary_email",
                ));
            }
            None => {}
            Some((id, email, _)) => {
                if enabled
                    && users::auth_email_taken(&mut *tx, &project.id, email, Some(user_id)).await?
                {
                    return Err(ke::user_email_already_exists(email, false).into());
                }
                channels::set_used_for_auth(&mut *tx, &project.id, *id, enabled).await?;
            }
        }
    }
    match (patch.primary_email_verified, &primary) {
        (Some(true), None) => {
            return Err(ApiError::bad_request(
                "primary_email_verified cannot be true without primary_email",
            ));
        }
        (Some(verified), Some((id, _, _))) => {
            channels::set_verified(&mut *tx, &project.id, *id, verified).await?;
        }
        _ => {}
    }
    Ok(())
}
