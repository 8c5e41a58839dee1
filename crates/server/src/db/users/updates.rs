//! Changes to an existing user: profile columns, sign-in methods,
//! restriction and risk scores, and the one-column switches.

use serde_json::Value;
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

/// A change to one nullable column: `None` keeps it, `Some(None)` clears it,
/// `Some(Some(v))` sets it.
pub type Change<T> = Option<Option<T>>;

/// Changes to a user's profile columns.
#[derive(Debug, Default)]
pub struct ProfileUpdate<'a> {
    /// Display name.
    pub display_name: Change<&'a str>,
    /// Image URL.
    pub profile_image_url: Change<&'a str>,
    /// Client metadata.
    pub client_metadata: Change<&'a Value>,
    /// Client read-only metadata.
    pub client_read_only_metadata: Change<&'a Value>,
    /// Server metadata.
    pub server_metadata: Change<&'a Value>,
    /// TOTP secret.
    pub totp_secret: Change<&'a [u8]>,
    /// Sign-up country.
    pub country_code: Change<&'a str>,
}

impl ProfileUpdate<'_> {
    /// Whether any column changes.
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none()
            && self.profile_image_url.is_none()
            && self.client_metadata.is_none()
            && self.client_read_only_metadata.is_none()
            && self.server_metadata.is_none()
            && self.totp_secret.is_none()
            && self.country_code.is_none()
    }
}

/// Applies a [`ProfileUpdate`]: one static statement in which every column
/// takes a "change it" flag and its new value.
///
/// # Errors
/// Database errors.
pub async fn update_profile(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
    u: &ProfileUpdate<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET
             display_name = CASE WHEN $3 THEN $4 ELSE display_name END,
             profile_image_url = CASE WHEN $5 THEN $6 ELSE profile_image_url END,
             client_metadata = CASE WHEN $7 THEN $8 ELSE client_metadata END,
             client_read_only_metadata = CASE WHEN $9 THEN $10 ELSE client_read_only_metadata END,
             server_metadata = CASE WHEN $11 THEN $12 ELSE server_metadata END,
             totp_secret = CASE WHEN $13 THEN $14 ELSE totp_secret END,
             country_code = CASE WHEN $15 THEN $16 ELSE country_code END
         WHERE project_id = $1 AND id = $2",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(u.display_name.is_some())
    .bind(u.display_name.flatten())
    .bind(u.profile_image_url.is_some())
    .bind(u.profile_image_url.flatten())
    .bind(u.client_metadata.is_some())
    .bind(u.client_metadata.flatten().map(Json))
    .bind(u.client_read_only_metadata.is_some())
    .bind(u.client_read_only_metadata.flatten().map(Json))
    .bind(u.server_metadata.is_some())
    .bind(u.server_metadata.flatten().map(Json))
    .bind(u.totp_secret.is_some())
    .bind(u.totp_secret.flatten())
    .bind(u.country_code.is_some())
    .bind(u.country_code.flatten())
    .execute(db)
    .await?;
    Ok(())
}

/// Changes to a user's sign-in methods, restriction and risk scores.
#[derive(Debug)]
pub struct AccessUpdate<'a> {
    /// OTP sign-in (`None` keeps it).
    pub otp_auth_enabled: Option<bool>,
    /// Passkey sign-in (`None` keeps it).
    pub passkey_auth_enabled: Option<bool>,
    /// Restricted by an administrator; when false, reason and details are cleared.
    pub restricted_by_admin: bool,
    /// Public restriction reason.
    pub restricted_by_admin_reason: Change<&'a str>,
    /// Private restriction details.
    pub restricted_by_admin_private_details: Change<&'a str>,
    /// Risk scores (bot, free-trial abuse); `None` keeps them.
    pub risk_scores: Option<(i32, i32)>,
}

/// Applies an [`AccessUpdate`].
///
/// # Errors
/// Database errors.
pub async fn update_access(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
    u: &AccessUpdate<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET
             otp_auth_enabled = COALESCE($3, otp_auth_enabled),
             passkey_auth_enabled = COALESCE($4, passkey_auth_enabled),
             restricted_by_admin = $5,
             restricted_by_admin_reason = CASE WHEN $5 THEN COALESCE($6, CASE WHEN $7 THEN NULL ELSE restricted_by_admin_reason END) ELSE NULL END,
             restricted_by_admin_private_details = CASE WHEN $5 THEN COALESCE($8, CASE WHEN $9 THEN NULL ELSE restricted_by_admin_private_details END) ELSE NULL END,
             risk_score_bot = COALESCE($10, risk_score_bot),
             risk_score_free_trial_abuse = COALESCE($11, risk_score_free_trial_abuse)
         WHERE project_id = $1 AND id = $2",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(u.otp_auth_enabled)
    .bind(u.passkey_auth_enabled)
    .bind(u.restricted_by_admin)
    .bind(u.restricted_by_admin_reason.flatten())
    .bind(u.restricted_by_admin_reason == Some(None))
    .bind(u.restricted_by_admin_private_details.flatten())
    .bind(u.restricted_by_admin_private_details == Some(None))
    .bind(u.risk_scores.map(|r| r.0))
    .bind(u.risk_scores.map(|r| r.1))
    .execute(db)
    .await?;
    Ok(())
}

/// Turns an anonymous user into a normal one with a fresh sign-up time.
///
/// # Errors
/// Database errors.
pub async fn upgrade_anonymous(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET is_anonymous = FALSE, signed_up_at = now() WHERE project_id = $1 AND id = $2",
    )
    .bind(project_id)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Turns on OTP sign-in for a user.
///
/// # Errors
/// Database errors.
pub async fn enable_otp(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET otp_auth_enabled = TRUE WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}
