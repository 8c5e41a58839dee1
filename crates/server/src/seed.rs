//! `stack-server seed`: the internal project ("Stack Dashboard"), its key set,
//! the emulator owner team and admin user, and the install's token-signing
//! secret. Idempotent: running it again changes only what was asked.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::accounts::{self, NewUser};
use crate::config::{Overrides, format, legacy};
use crate::db::keys::{self, KeyKind, KeyValues, NewKeySet};
use crate::db::projects::{
    self, EMULATOR_OWNER_TEAM_ID, INTERNAL_PROJECT_ID, NewProject, PermissionRef,
};
use crate::db::{contact_channels, settings, teams};
use crate::error::ApiError;
use crate::random;
use crate::secret::Secret;

/// The description that marks the internal project's own key set; rotation finds it by this.
pub const INTERNAL_KEY_SET_DESCRIPTION: &str = "Internal project keys";
/// The emulator's admin user.
pub const ADMIN_EMAIL: &str = "admin@stack-emulator.local";

/// The three keys of the internal project.
#[derive(Debug, Clone)]
pub struct InternalKeys {
    /// `pck_…`.
    pub publishable_client_key: Secret<String>,
    /// `ssk_…`.
    pub secret_server_key: Secret<String>,
    /// `sak_…`.
    pub super_secret_admin_key: Secret<String>,
}

impl InternalKeys {
    /// Fresh random keys.
    ///
    /// # Errors
    /// The OS RNG failed.
    pub fn generate() -> Result<Self, random::RngError> {
        Ok(Self {
            publishable_client_key: KeyKind::PublishableClient.generate()?,
            secret_server_key: KeyKind::SecretServer.generate()?,
            super_secret_admin_key: KeyKind::SuperSecretAdmin.generate()?,
        })
    }
}

/// What to seed.
#[derive(Debug, Default)]
pub struct SeedOptions {
    /// Keys to set; `None` keeps existing keys or generates random ones on first seed.
    pub internal_keys: Option<InternalKeys>,
    /// Public API URL to record.
    pub public_api_url: Option<String>,
}

/// The internal project's config overrides: a new project's defaults, plus
/// OTP sign-in, personal teams, client team creation, localhost and the
/// shared OAuth providers the dashboard offers.
pub fn internal_overrides() -> Overrides {
    let mut environment = legacy::new_project_defaults();
    let providers: serde_json::Map<String, serde_json::Value> = [
        "github",
        "google",
        "microsoft",
        "spotify",
    ]
    .into_iter()
    .map(|id| {
        (
            id.to_owned(),
            serde_json::json!({
                "type": id, "isShared": true, "allowSignIn": true, "allowConnectedAccounts": true,
            }),
        )
    })
    .collect();
    let extra: serde_json::Map<String, serde_json::Value> = [
        ("auth.otp.allowSignIn", serde_json::json!(true)),
        ("domains.allowLocalhost", serde_json::json!(true)),
        ("teams.createPersonalTeamOnSignUp", serde_json::json!(true)),
        ("teams.allowClientTeamCreation", serde_json::json!(true)),
        ("auth.oauth.providers", serde_json::Value::Object(providers)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    environment = format::override_with(&environment, &extra);
    Overrides {
        environment,
        ..Overrides::default()
    }
}

/// Seeds the database (migrations must have run).
///
/// # Errors
/// Database and RNG failures.
pub async fn seed(pool: &PgPool, options: SeedOptions) -> Result<(), ApiError> {
    let mut tx = pool.begin().await?;
    // Serialise concurrent seeds (two servers starting at once).
    settings::lock_for_seed(&mut *tx).await?;
    let project = match projects::find(&mut *tx, INTERNAL_PROJECT_ID).await? {
        Some(p) => p,
        None => {
            projects::insert(
                &mut *tx,
                &NewProject {
                    id: INTERNAL_PROJECT_ID.into(),
                    display_name: "Stack Dashboard".into(),
                    description: "The project that owns every other project.".into(),
                    is_production_mode: false,
                    owner_team_id: Some(EMULATOR_OWNER_TEAM_ID),
                    overrides: internal_overrides(),
                },
            )
            .await?
        }
    };
    if !teams::exists(&mut tx, INTERNAL_PROJECT_ID, EMULATOR_OWNER_TEAM_ID).await? {
        teams::insert(
            &mut tx,
            INTERNAL_PROJECT_ID,
            EMULATOR_OWNER_TEAM_ID,
            "Emulator",
        )
        .await?;
    }

    let key_set =
        keys::find_id_by_description(&mut *tx, INTERNAL_PROJECT_ID, INTERNAL_KEY_SET_DESCRIPTION)
            .await?;
    match (key_set, options.internal_keys) {
        (Some(id), Some(k)) => {
            set_internal_keys(&mut tx, id, &k).await?;
        }
        (Some(_), None) => {}
        (None, keys_given) => {
            let k = match keys_given {
                Some(k) => k,
                None => InternalKeys::generate()?,
            };
            keys::insert(
                &mut *tx,
                INTERNAL_PROJECT_ID,
                &NewKeySet {
                    description: INTERNAL_KEY_SET_DESCRIPTION.into(),
                    expires_at: DateTime::<Utc>::MAX_UTC,
                    publishable_client_key: Some(k.publishable_client_key),
                    secret_server_key: Some(k.secret_server_key),
                    super_secret_admin_key: Some(k.super_secret_admin_key),
                },
            )
            .await?;
        }
    }

    let existing = settings::load(&mut *tx).await?;
    if !existing.contains_key(settings::TOKEN_SIGNING_SECRET) {
        let secret = B64.encode(random::bytes::<32>()?);
        settings::put(&mut tx, settings::TOKEN_SIGNING_SECRET, &secret).await?;
    }
    if !existing.contains_key(settings::CRON_SECRET) {
        settings::put(&mut tx, settings::CRON_SECRET, &random::token()?).await?;
    }
    if let Some(url) = &options.public_api_url {
        settings::put(&mut tx, settings::PUBLIC_API_URL, url.trim_end_matches('/')).await?;
    }
    settings::notify_changed(&mut tx, settings::RELOAD).await?;
    tx.commit().await?;

    let admin_exists =
        contact_channels::value_exists(pool, INTERNAL_PROJECT_ID, ADMIN_EMAIL).await?;
    if !admin_exists {
        let admin = accounts::create_user(
            pool,
            &project,
            NewUser {
                display_name: Some("Emulator Admin".into()),
                primary_email: Some(ADMIN_EMAIL.into()),
                primary_email_verified: true,
                ..NewUser::default()
            },
        )
        .await?;
        let mut conn = pool.acquire().await?;
        teams::add_member(
            &mut conn,
            INTERNAL_PROJECT_ID,
            EMULATOR_OWNER_TEAM_ID,
            admin,
            &[PermissionRef {
                id: "team_admin".into(),
            }],
            false,
        )
        .await?;
    }
    Ok(())
}

/// Replaces the keys of the internal key set `id`; fails unless exactly that row changed.
///
/// # Errors
/// Database errors; internal error when the row is missing.
pub async fn set_internal_keys(
    tx: &mut sqlx::PgConnection,
    id: uuid::Uuid,
    k: &InternalKeys,
) -> Result<(), ApiError> {
    let values = KeyValues {
        publishable_client_key: k.publishable_client_key.expose(),
        secret_server_key: k.secret_server_key.expose(),
        super_secret_admin_key: k.super_secret_admin_key.expose(),
    };
    if keys::replace(&mut *tx, INTERNAL_PROJECT_ID, id, &values).await? {
        Ok(())
    } else {
        Err(ApiError::internal(
            "the internal key set changed while it was being updated",
        ))
    }
}
