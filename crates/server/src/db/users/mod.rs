//! Users, with the primary email and selected team that every user object
//! shows. Changes to an existing user's columns are in `updates`.

mod updates;

pub use updates::{
    AccessUpdate, Change, ProfileUpdate, enable_otp, update_access, update_profile,
    upgrade_anonymous,
};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

use crate::secret::Secret;

/// A team as embedded in a user (`selected_team`).
pub use super::teams::TeamRecord;

/// A user with everything its API object shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRecord {
    /// Owning project.
    pub project_id: String,
    /// User id.
    pub id: Uuid,
    /// Display name.
    pub display_name: Option<String>,
    /// Image URL.
    pub profile_image_url: Option<String>,
    /// Client metadata.
    pub client_metadata: Option<Json<Value>>,
    /// Client read-only metadata.
    pub client_read_only_metadata: Option<Json<Value>>,
    /// Server metadata.
    pub server_metadata: Option<Json<Value>>,
    /// Whether a password is set (the hash itself is never loaded here).
    pub has_password: bool,
    /// OTP / magic link sign-in enabled.
    pub otp_auth_enabled: bool,
    /// Passkey sign-in enabled.
    pub passkey_auth_enabled: bool,
    /// Whether a TOTP secret is set.
    pub requires_totp_mfa: bool,
    /// Anonymous user.
    pub is_anonymous: bool,
    /// Restricted by an administrator.
    pub restricted_by_admin: bool,
    /// Public reason for the restriction.
    pub restricted_by_admin_reason: Option<String>,
    /// Private details of the restriction.
    pub restricted_by_admin_private_details: Option<String>,
    /// Sign-up country.
    pub country_code: Option<String>,
    /// Bot risk score.
    pub risk_score_bot: i32,
    /// Free-trial-abuse risk score.
    pub risk_score_free_trial_abuse: i32,
    /// Sign-up time.
    pub signed_up_at: DateTime<Utc>,
    /// Last time a token was minted.
    pub last_active_at: DateTime<Utc>,
    /// Primary email.
    pub primary_email: Option<String>,
    /// Primary email verified.
    pub primary_email_verified: Option<bool>,
    /// Primary email usable for sign-in.
    pub primary_email_auth_enabled: Option<bool>,
    /// Selected team id.
    pub team_id: Option<Uuid>,
    /// Selected team name.
    pub team_display_name: Option<String>,
    /// Selected team image.
    pub team_profile_image_url: Option<String>,
    /// Selected team client metadata.
    pub team_client_metadata: Option<Json<Value>>,
    /// Selected team client read-only metadata.
    pub team_client_read_only_metadata: Option<Json<Value>>,
    /// Selected team server metadata.
    pub team_server_metadata: Option<Json<Value>>,
    /// Selected team creation time.
    pub team_created_at: Option<DateTime<Utc>>,
    /// The user's OAuth accounts as the user object lists them
    /// (`[{id, account_id, email}]`, oldest first).
    pub oauth_providers: Json<Value>,
}

impl UserRecord {
    /// The selected team, if any.
    pub fn selected_team(&self) -> Option<TeamRecord> {
        Some(TeamRecord {
            id: self.team_id?,
            display_name: self.team_display_name.clone()?,
            profile_image_url: self.team_profile_image_url.clone(),
            client_metadata: self.team_client_metadata.clone().map(|j| j.0),
            client_read_only_metadata: self.team_client_read_only_metadata.clone().map(|j| j.0),
            server_metadata: self.team_server_metadata.clone().map(|j| j.0),
            created_at: self.team_created_at?,
        })
    }
}

/// The SELECT list and joins that build a [`UserRecord`]; `u` is the users
/// table. A macro, so that statements built on it stay static strings.
macro_rules! user_select {
    () => {
        "
SELECT u.project_id, u.id, u.display_name, u.profile_image_url,
       u.client_metadata, u.client_read_only_metadata, u.server_metadata,
       (u.password_hash IS NOT NULL) AS has_password,
       u.otp_auth_enabled, u.passkey_auth_enabled,
       (u.totp_secret IS NOT NULL) AS requires_totp_mfa,
       u.is_anonymous, u.restricted_by_admin, u.restricted_by_admin_reason,
       u.restricted_by_admin_private_details, u.country_code,
       u.risk_score_bot, u.risk_score_free_trial_abuse, u.signed_up_at, u.last_active_at,
       pc.value AS primary_email, pc.is_verified AS primary_email_verified,
       COALESCE(pc.used_for_auth, FALSE) AS primary_email_auth_enabled,
       t.id AS team_id, t.display_name AS team_display_name,
       t.profile_image_url AS team_profile_image_url,
       t.client_metadata AS team_client_metadata,
       t.client_read_only_metadata AS team_client_read_only_metadata,
       t.server_metadata AS team_server_metadata, t.created_at AS team_created_at,
       COALESCE((SELECT jsonb_agg(jsonb_build_object('id', oa.provider_config_id,
                                                     'account_id', oa.provider_account_id,
                                                     'email', oa.email) ORDER BY oa.created_at, oa.id)
                 FROM oauth_accounts oa
                 WHERE oa.project_id = u.project_id AND oa.user_id = u.id), '[]'::jsonb) AS oauth_providers
FROM users u
LEFT JOIN contact_channels pc
       ON pc.project_id = u.project_id AND pc.user_id = u.id AND pc.type = 'email' AND pc.is_primary
LEFT JOIN team_members tm
       ON tm.project_id = u.project_id AND tm.user_id = u.id AND tm.is_selected
LEFT JOIN teams t ON t.project_id = tm.project_id AND t.id = tm.team_id"
    };
}

pub(crate) use user_select;

/// Loads one user.
///
/// # Errors
/// Database errors.
pub async fn find(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<Option<UserRecord>, sqlx::Error> {
    let statement = concat!(user_select!(), " WHERE u.project_id = $1 AND u.id = $2");
    super::find_with_ids(db, statement, project_id, &[id]).await
}

/// Whether the user exists.
///
/// # Errors
/// Database errors.
pub async fn exists(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let statement = "SELECT EXISTS (SELECT 1 FROM users WHERE project_id = $1 AND id = $2)";
    super::exists_with_ids(db, statement, project_id, &[id]).await
}

/// The user who owns the auth-enabled email channel `email` (matched exactly,
/// then case-insensitively), with their password hash.
///
/// # Errors
/// Database errors.
pub async fn find_by_auth_email(
    db: impl PgExecutor<'_>,
    project_id: &str,
    email: &str,
) -> Result<Option<(Uuid, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.password_hash FROM contact_channels c
         JOIN users u ON u.project_id = c.project_id AND u.id = c.user_id
         WHERE c.project_id = $1 AND c.type = 'email' AND c.used_for_auth
           AND (c.value = $2 OR lower(c.value) = lower($2))
         ORDER BY (c.value = $2) DESC LIMIT 1",
    )
    .bind(project_id)
    .bind(email)
    .fetch_optional(db)
    .await
}

/// Whether another user than `except` has `email` enabled for sign-in.
///
/// # Errors
/// Database errors.
pub async fn auth_email_taken(
    db: impl PgExecutor<'_>,
    project_id: &str,
    email: &str,
    except: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM contact_channels
                        WHERE project_id = $1 AND type = 'email' AND used_for_auth
                          AND value = $2 AND ($3::uuid IS NULL OR user_id <> $3))",
    )
    .bind(project_id)
    .bind(email)
    .bind(except)
    .fetch_one(db)
    .await
}

/// The password hash of a user, if one is set.
///
/// # Errors
/// Database errors.
pub async fn password_hash(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE project_id = $1 AND id = $2")
            .bind(project_id)
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(hash.flatten())
}

/// The TOTP secret of a user, if one is set (`None` also when there is no such user).
///
/// # Errors
/// Database errors.
pub async fn totp_secret(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<Option<Secret<Vec<u8>>>, sqlx::Error> {
    let secret: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT totp_secret FROM users WHERE project_id = $1 AND id = $2")
            .bind(project_id)
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(secret.flatten().map(Secret::new))
}

/// Sets or clears the password hash.
///
/// # Errors
/// Database errors.
pub async fn set_password_hash(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
    hash: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $3 WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .bind(hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes a user and everything that belongs to them.
///
/// # Errors
/// Database errors.
pub async fn delete(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let statement = "DELETE FROM users WHERE project_id = $1 AND id = $2";
    Ok(super::execute_with_ids(db, statement, project_id, &[id]).await? == 1)
}

/// The team ids a user belongs to.
///
/// # Errors
/// Database errors.
pub async fn team_ids(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT team_id FROM team_members WHERE project_id = $1 AND user_id = $2")
        .bind(project_id)
        .bind(user_id)
        .fetch_all(db)
        .await
}

/// The fields of a new user.
#[derive(Debug, Default)]
pub struct NewUser {
    /// Display name (empty means none).
    pub display_name: Option<String>,
    /// Image URL.
    pub profile_image_url: Option<String>,
    /// Primary email, already normalised (stored as a contact channel).
    pub primary_email: Option<String>,
    /// Whether the primary email is verified.
    pub primary_email_verified: bool,
    /// Whether the primary email can be used to sign in.
    pub primary_email_auth_enabled: bool,
    /// bcrypt hash of the password.
    pub password_hash: Option<Secret<String>>,
    /// OTP sign-in.
    pub otp_auth_enabled: bool,
    /// Passkey sign-in.
    pub passkey_auth_enabled: bool,
    /// TOTP secret.
    pub totp_secret: Option<Vec<u8>>,
    /// Anonymous user.
    pub is_anonymous: bool,
    /// Client metadata.
    pub client_metadata: Option<Value>,
    /// Client read-only metadata.
    pub client_read_only_metadata: Option<Value>,
    /// Server metadata.
    pub server_metadata: Option<Value>,
    /// Restricted by an administrator.
    pub restricted_by_admin: bool,
    /// Public restriction reason.
    pub restricted_by_admin_reason: Option<String>,
    /// Private restriction details.
    pub restricted_by_admin_private_details: Option<String>,
    /// Sign-up country (upper-case ISO 3166 alpha-2).
    pub country_code: Option<String>,
    /// Bot risk score 0–100.
    pub risk_score_bot: i32,
    /// Free-trial-abuse risk score 0–100.
    pub risk_score_free_trial_abuse: i32,
}

/// Inserts the users row of `new` (not its channel, team or permissions).
///
/// # Errors
/// Database errors, including unique violations.
pub async fn insert(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
    new: &NewUser,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO users (project_id, id, display_name, profile_image_url, client_metadata,
             client_read_only_metadata, server_metadata, password_hash, otp_auth_enabled,
             passkey_auth_enabled, totp_secret, is_anonymous, restricted_by_admin,
             restricted_by_admin_reason, restricted_by_admin_private_details, country_code,
             risk_score_bot, risk_score_free_trial_abuse)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(project_id)
    .bind(id)
    .bind(new.display_name.as_deref().filter(|n| !n.is_empty()))
    .bind(&new.profile_image_url)
    .bind(new.client_metadata.as_ref().map(Json))
    .bind(new.client_read_only_metadata.as_ref().map(Json))
    .bind(new.server_metadata.as_ref().map(Json))
    .bind(new.password_hash.as_ref().map(|h| h.expose().as_str()))
    .bind(new.otp_auth_enabled)
    .bind(new.passkey_auth_enabled)
    .bind(&new.totp_secret)
    .bind(new.is_anonymous)
    .bind(new.restricted_by_admin)
    .bind(&new.restricted_by_admin_reason)
    .bind(&new.restricted_by_admin_private_details)
    .bind(&new.country_code)
    .bind(new.risk_score_bot)
    .bind(new.risk_score_free_trial_abuse)
    .execute(db)
    .await?;
    Ok(())
}

/// The restriction state of a user, read while holding its row lock.
#[derive(Debug, sqlx::FromRow)]
pub struct LockedUser {
    /// Restricted by an administrator.
    pub restricted_by_admin: bool,
    /// Public restriction reason.
    pub restricted_by_admin_reason: Option<String>,
    /// Private restriction details.
    pub restricted_by_admin_private_details: Option<String>,
    /// Anonymous user.
    pub is_anonymous: bool,
}

/// Locks a user's row until the transaction ends; `None` when there is no such user.
///
/// # Errors
/// Database errors.
pub async fn lock(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
) -> Result<Option<LockedUser>, sqlx::Error> {
    sqlx::query_as(
        "SELECT restricted_by_admin, restricted_by_admin_reason, restricted_by_admin_private_details, is_anonymous
         FROM users WHERE project_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(project_id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}
