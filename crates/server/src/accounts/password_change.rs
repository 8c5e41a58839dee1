//! Password changes by the user: replacing a password (which ends the other
//! sessions) and adding one to an account that has none.

use sqlx::PgPool;
use uuid::Uuid;

use crate::db::projects::Project;
use crate::db::sessions;
use crate::db::users::{self, UserRecord};
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::password;
use crate::secret::Secret;

/// A password change by the user: the old password as confirmation, and the
/// refresh token of the session that stays signed in.
#[derive(Debug)]
pub struct PasswordChange<'a> {
    /// The current password.
    pub old_password: Secret<String>,
    /// The new password.
    pub new_password: Secret<String>,
    /// The refresh token of the caller's session, which survives the change.
    pub keep_session: Option<&'a str>,
}

/// Changes a user's password and ends every other session of theirs.
///
/// # Errors
/// `PASSWORD_AUTHENTICATION_NOT_ENABLED`, `USER_DOES_NOT_HAVE_PASSWORD`,
/// `PASSWORD_CONFIRMATION_MISMATCH`, the password rules; database failures.
pub async fn update_password(
    pool: &PgPool,
    project: &Project,
    user_id: Uuid,
    change: PasswordChange<'_>,
) -> Result<(), ApiError> {
    if !project.config.credential_enabled {
        return Err(ke::password_authentication_not_enabled().into());
    }
    let Some(hash) = users::password_hash(pool, &project.id, user_id).await? else {
        return Err(ke::user_does_not_have_password().into());
    };
    if !password::verify(change.old_password, Some(Secret::new(hash))).await? {
        return Err(ke::password_confirmation_mismatch().into());
    }
    password::check_rules(change.new_password.expose())?;
    let new_hash = password::hash(change.new_password).await?;
    let keep = match change.keep_session {
        Some(token) => sessions::find_by_token(pool, &project.id, token)
            .await?
            .filter(|s| s.user_id == user_id)
            .map(|s| s.id),
        None => None,
    };
    let mut tx = pool.begin().await?;
    users::set_password_hash(&mut *tx, &project.id, user_id, Some(new_hash.expose())).await?;
    sessions::delete_all_for_user(&mut *tx, &project.id, user_id, keep).await?;
    tx.commit().await?;
    Ok(())
}

/// Gives a password to a user who has none.
///
/// # Errors
/// `PASSWORD_AUTHENTICATION_NOT_ENABLED`, a 400 when the user has a password,
/// the password rules; database failures.
pub async fn set_password(
    pool: &PgPool,
    project: &Project,
    user: &UserRecord,
    new_password: Secret<String>,
) -> Result<(), ApiError> {
    if !project.config.credential_enabled {
        return Err(ke::password_authentication_not_enabled().into());
    }
    if user.has_password {
        return Err(ApiError::bad_request("User already has a password set."));
    }
    password::check_rules(new_password.expose())?;
    let hash = password::hash(new_password).await?;
    users::set_password_hash(pool, &project.id, user.id, Some(hash.expose())).await?;
    Ok(())
}
