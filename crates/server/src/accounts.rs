//! Creating and changing users, with every side effect Stack Auth attaches:
//! the primary email channel, the password, the personal team, and the
//! uniqueness of sign-in emails. No HTTP here; routes call these functions.

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db::projects::Project;
use crate::db::{sessions, teams, users};
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::random;
use crate::secret::Secret;
use crate::validate::Patch;

/// The fields of a new user.
#[derive(Debug, Default)]
pub struct NewUser {
    /// Display name (empty means none).
    pub display_name: Option<String>,
    /// Image URL.
    pub profile_image_url: Option<String>,
    /// Primary email, already normalised.
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
    let mut tx = pool.begin().await?;
    let id = random::uuid()?;
    let email_for_error = new.primary_email.clone();
    match insert_user(&mut tx, project, id, new).await {
        Ok(()) => {}
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
    }
    tx.commit().await?;
    Ok(id)
}

async fn insert_user(
    tx: &mut PgConnection,
    project: &Project,
    id: Uuid,
    new: NewUser,
) -> Result<(), ApiError> {
    if let (Some(email), true) = (&new.primary_email, new.primary_email_auth_enabled)
        && users::auth_email_taken(&mut *tx, &project.id, email, None).await?
    {
        return Err(ke::user_email_already_exists(email, false).into());
    }
    sqlx::query(
        "INSERT INTO users (project_id, id, display_name, profile_image_url, client_metadata,
             client_read_only_metadata, server_metadata, password_hash, otp_auth_enabled,
             passkey_auth_enabled, totp_secret, is_anonymous, restricted_by_admin,
             restricted_by_admin_reason, restricted_by_admin_private_details, country_code,
             risk_score_bot, risk_score_free_trial_abuse)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&project.id)
    .bind(id)
    .bind(new.display_name.as_deref().filter(|n| !n.is_empty()))
    .bind(&new.profile_image_url)
    .bind(new.client_metadata.map(sqlx::types::Json))
    .bind(new.client_read_only_metadata.map(sqlx::types::Json))
    .bind(new.server_metadata.map(sqlx::types::Json))
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
    .execute(&mut *tx)
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
        sqlx::query(
            "INSERT INTO user_permissions (project_id, user_id, permission_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(&project.id)
        .bind(id)
        .bind(&permission.id)
        .execute(&mut *tx)
        .await?;
    }
    if project.config.create_team_on_sign_up {
        let name = personal_team_name(
            new.display_name.as_deref().filter(|n| !n.is_empty()),
            new.primary_email.as_deref(),
        );
        let team_id = random::uuid()?;
        teams::insert(&mut *tx, &project.id, team_id, &name).await?;
        teams::add_member(
            &mut *tx,
            &project.id,
            team_id,
            id,
            &project.config.team_creator_default_permissions,
            true,
        )
        .await?;
    }
    Ok(())
}

/// The name of a personal team: `<display name>'s Team`, else `<email>'s Team`, else `Personal Team`.
pub fn personal_team_name(display_name: Option<&str>, email: Option<&str>) -> String {
    match display_name.or(email) {
        Some(owner) => format!("{owner}'s Team"),
        None => "Personal Team".to_owned(),
    }
}

async fn insert_channel(
    tx: &mut PgConnection,
    project_id: &str,
    user_id: Uuid,
    email: &str,
    verified: bool,
    primary: bool,
    used_for_auth: bool,
) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO contact_channels (project_id, id, user_id, type, value, is_verified, is_primary, used_for_auth)
         VALUES ($1, $2, $3, 'email', $4, $5, $6, $7)",
    )
    .bind(project_id)
    .bind(random::uuid()?)
    .bind(user_id)
    .bind(email)
    .bind(verified)
    .bind(primary.then_some(true))
    .bind(used_for_auth.then_some(true))
    .execute(&mut *tx)
    .await
    .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(())
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

fn set_column<T>(sets: &mut Vec<String>, column: &str, patch: &Patch<T>) {
    if patch.is_present() {
        sets.push(column.to_owned());
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
    let locked: Option<(bool, Option<String>, Option<String>, bool)> = sqlx::query_as(
        "SELECT restricted_by_admin, restricted_by_admin_reason, restricted_by_admin_private_details, is_anonymous
         FROM users WHERE project_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(&project.id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((was_restricted, old_reason, old_details, was_anonymous)) = locked else {
        return Err(ke::user_not_found().into());
    };

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

    // Plain column updates, built from the fields that were sent.
    let mut sets = Vec::new();
    set_column(&mut sets, "display_name", &patch.display_name);
    set_column(&mut sets, "profile_image_url", &patch.profile_image_url);
    set_column(&mut sets, "client_metadata", &patch.client_metadata);
    set_column(
        &mut sets,
        "client_read_only_metadata",
        &patch.client_read_only_metadata,
    );
    set_column(&mut sets, "server_metadata", &patch.server_metadata);
    set_column(&mut sets, "totp_secret", &patch.totp_secret);
    set_column(&mut sets, "country_code", &patch.country_code);
    if !sets.is_empty() {
        let assignments: Vec<String> = sets
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", i + 3))
            .collect();
        let sql = format!(
            "UPDATE users SET {} WHERE project_id = $1 AND id = $2",
            assignments.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(&project.id).bind(user_id);
        let text = |p: &Patch<String>| match p {
            Patch::Set(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let json = |p: &Patch<Value>| match p {
            Patch::Set(v) => Some(sqlx::types::Json(v.clone())),
            _ => None,
        };
        for column in &sets {
            q = match column.as_str() {
                "display_name" => q.bind(text(&patch.display_name)),
                "profile_image_url" => q.bind(text(&patch.profile_image_url)),
                "client_metadata" => q.bind(json(&patch.client_metadata)),
                "client_read_only_metadata" => q.bind(json(&patch.client_read_only_metadata)),
                "server_metadata" => q.bind(json(&patch.server_metadata)),
                "totp_secret" => q.bind(match &patch.totp_secret {
                    Patch::Set(b) => Some(b.clone()),
                    _ => None,
                }),
                _ => q.bind(text(&patch.country_code)),
            };
        }
        q.execute(&mut *tx).await?;
    }

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
    .bind(&project.id)
    .bind(user_id)
    .bind(patch.otp_auth_enabled)
    .bind(patch.passkey_auth_enabled)
    .bind(restricted)
    .bind(match &patch.restricted_by_admin_reason {
        Patch::Set(s) => Some(s.clone()),
        _ => None,
    })
    .bind(matches!(patch.restricted_by_admin_reason, Patch::Null))
    .bind(match &patch.restricted_by_admin_private_details {
        Patch::Set(s) => Some(s.clone()),
        _ => None,
    })
    .bind(matches!(patch.restricted_by_admin_private_details, Patch::Null))
    .bind(patch.risk_scores.map(|r| r.0))
    .bind(patch.risk_scores.map(|r| r.1))
    .execute(&mut *tx)
    .await?;

    if was_anonymous && patch.is_anonymous == Some(false) {
        upgrade_anonymous(&mut tx, project, user_id).await?;
    }

    apply_primary_email(&mut tx, project, user_id, &patch).await?;

    match &patch.selected_team_id {
        Patch::Absent => {}
        Patch::Null => {
            teams::select(&mut tx, &project.id, user_id, None).await?;
        }
        Patch::Set(team_id) => {
            if !teams::select(&mut tx, &project.id, user_id, Some(*team_id)).await? {
                return Err(ke::team_membership_not_found(
                    &team_id.to_string(),
                    &user_id.to_string(),
                )
                .into());
            }
        }
    }

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

/// Turns an anonymous user into a normal one: a fresh sign-up time and a
/// renamed personal team.
async fn upgrade_anonymous(
    tx: &mut PgConnection,
    project: &Project,
    user_id: Uuid,
) -> Result<(), ApiError> {
    sqlx::query("UPDATE users SET is_anonymous = FALSE, signed_up_at = now() WHERE project_id = $1 AND id = $2")
        .bind(&project.id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn apply_primary_email(
    tx: &mut PgConnection,
    project: &Project,
    user_id: Uuid,
    patch: &UserPatch,
) -> Result<(), ApiError> {
    let current: Option<(Uuid, String, bool)> = sqlx::query_as(
        "SELECT id, value, COALESCE(used_for_auth, FALSE) FROM contact_channels
         WHERE project_id = $1 AND user_id = $2 AND type = 'email' AND is_primary",
    )
    .bind(&project.id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let mut primary = current.clone();
    match &patch.primary_email {
        Patch::Absent => {}
        Patch::Null => {
            demote_primary(tx, project, user_id).await?;
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
            demote_primary(tx, project, user_id).await?;
            let existing: Option<Uuid> = sqlx::query_scalar(
                "SELECT id FROM contact_channels WHERE project_id = $1 AND user_id = $2 AND type = 'email' AND value = $3",
            )
            .bind(&project.id)
            .bind(user_id)
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?;
            let id = match existing {
                Some(id) => {
                    sqlx::query("UPDATE contact_channels SET is_primary = TRUE WHERE project_id = $1 AND id = $2")
                        .bind(&project.id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    id
                }
                None => {
                    insert_channel(tx, &project.id, user_id, email, false, true, false).await?;
                    sqlx::query_scalar(
                        "SELECT id FROM contact_channels WHERE project_id = $1 AND user_id = $2 AND is_primary",
                    )
                    .bind(&project.id)
                    .bind(user_id)
                    .fetch_one(&mut *tx)
                    .await?
                }
            };
            set_channel_auth(tx, project, id, auth_wanted).await?;
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
                set_channel_auth(tx, project, *id, enabled).await?;
            }
        }
    }
    if let Some(verified) = patch.primary_email_verified
        && let Some((id, _, _)) = &primary
    {
        sqlx::query(
            "UPDATE contact_channels SET is_verified = $3 WHERE project_id = $1 AND id = $2",
        )
        .bind(&project.id)
        .bind(id)
        .bind(verified)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn demote_primary(
    tx: &mut PgConnection,
    project: &Project,
    user_id: Uuid,
) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE contact_channels SET is_primary = NULL WHERE project_id = $1 AND user_id = $2 AND is_primary",
    )
    .bind(&project.id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn set_channel_auth(
    tx: &mut PgConnection,
    project: &Project,
    channel_id: Uuid,
    enabled: bool,
) -> Result<(), ApiError> {
    sqlx::query("UPDATE contact_channels SET used_for_auth = $3 WHERE project_id = $1 AND id = $2")
        .bind(&project.id)
        .bind(channel_id)
        .bind(enabled.then_some(true))
        .execute(&mut *tx)
        .await?;
    Ok(())
}
