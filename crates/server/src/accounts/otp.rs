//! Who signs in with a one-time code sent by mail, and the user such a
//! sign-in creates.

use sqlx::PgPool;
use uuid::Uuid;

use super::{NewUser, UserPatch, create_user, normalize_email, update_user};
use crate::db::contact_channels as channels;
use crate::db::projects::Project;
use crate::db::users::{self, UserRecord};
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::validate::Patch;

/// A new user who signs in by mail: the current anonymous user, upgraded, or a fresh one.
///
/// # Errors
/// `USER_EMAIL_ALREADY_EXISTS`; database and RNG failures.
pub async fn create_otp_user(
    pool: &PgPool,
    project: &Project,
    current_user: Option<&UserRecord>,
    email: &str,
) -> Result<Uuid, ApiError> {
    let email = normalize_email(email);
    match current_user.filter(|u| u.is_anonymous) {
        Some(anonymous) => {
            let patch = UserPatch {
                primary_email: Patch::Set(email),
                primary_email_verified: Some(true),
                primary_email_auth_enabled: Some(true),
                otp_auth_enabled: Some(true),
                is_anonymous: Some(false),
                ..UserPatch::default()
            };
            update_user(pool, project, anonymous.id, patch).await?;
            Ok(anonymous.id)
        }
        None => {
            let new = NewUser {
                primary_email: Some(email),
                primary_email_verified: true,
                primary_email_auth_enabled: true,
                otp_auth_enabled: true,
                ..NewUser::default()
            };
            create_user(pool, project, new).await
        }
    }
}

/// The user who may sign in with a one-time code sent to `email`, as Stack Auth
/// decides it: the owner of the auth-enabled channel with that address, if it
/// is verified (OTP sign-in is switched on for them silently); `None` when no
/// one owns it and sign-up is open.
///
/// # Errors
/// `USER_EMAIL_ALREADY_EXISTS` (would work if verified) for an unverified
/// owner, `SIGN_UP_NOT_ENABLED` when no one owns it and sign-up is closed;
/// database failures.
pub async fn otp_user_for_email(
    pool: &PgPool,
    project: &Project,
    email: &str,
) -> Result<Option<Uuid>, ApiError> {
    match channels::find_auth_email(pool, &project.id, email).await? {
        Some((channel, _)) if !channel.is_verified => {
            Err(ke::user_email_already_exists(&channel.value, true).into())
        }
        Some((channel, otp_enabled)) => {
            if !otp_enabled {
                users::enable_otp(pool, &project.id, channel.user_id).await?;
            }
            Ok(Some(channel.user_id))
        }
        None if !project.config.sign_up_enabled => Err(ke::sign_up_not_enabled().into()),
        None => Ok(None),
    }
}
