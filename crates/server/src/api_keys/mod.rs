//! User and team API keys as Stack Auth has them: keys an app issues to its
//! users or teams, and later verifies with `POST /{user,team}-api-keys/check`.
//! They do not authenticate requests to this API. The key text itself is
//! [`key_format`]'s.
//!
//! **Storage.** Stack Auth keeps the full key in plaintext. This server keeps
//! only its SHA-256 (a presented key is looked up by that digest, so lookups
//! neither need the key nor leak it through timing) and its last four
//! characters, which lists show. The full key is shown once, in the answer to
//! the request that created it, and appears in no list and no log.
//!
//! **Rules** (Stack Auth's `(api-keys)/handlers.tsx`): each kind is switched on
//! by `apiKeys.enabled.user` / `.team`; a client manages only its own user's
//! keys, and a team's keys only with `$manage_api_keys` there (otherwise it is
//! told the key does not exist, so a team's existence does not leak); server
//! and admin access manage any key. A key is revoked once: revoking it again
//! keeps the first time. Public keys can be revoked like any other (Stack
//! Auth refuses that only to its credential-scanning route, which this server
//! lacks).

pub mod key_format;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::{AccessType, Auth};
use crate::db::api_keys::{self as rows, ApiKeyRecord, NewApiKey};
use crate::db::projects::Project;
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::random;

pub use key_format::{
    ApiKeySecret, KEY_LENGTH, KeyType, MARKER, ParseApiKeyError, ParsedApiKey, SECRET_CHARS,
    checksum, parse, sha256,
};

/// The permission a client needs in a team to manage its keys.
pub const MANAGE_API_KEYS: &str = "$manage_api_keys";
/// The 403 a client gets for another user's keys.
pub const NOT_OWN_KEYS: &str = "Client can only manage their own api keys";

/// The owner of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A user.
    User(Uuid),
    /// A team.
    Team(Uuid),
}

impl Owner {
    /// The kind of key this owner has.
    pub fn key_type(self) -> KeyType {
        match self {
            Self::User(_) => KeyType::User,
            Self::Team(_) => KeyType::Team,
        }
    }
}

/// The owner a request names. A team id is taken as sent: Stack Auth checks
/// only that the create body's `team_id` is a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedOwner {
    /// A user (`me` already resolved).
    User(Uuid),
    /// A team id as sent.
    Team(String),
}

/// A stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key's id.
    pub id: Uuid,
    /// Whose key it is.
    pub owner: Owner,
    /// What it is for.
    pub description: String,
    /// A public key.
    pub is_public: bool,
    /// Its last four characters.
    pub last_four: String,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub manually_revoked_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<ApiKeyRecord> for ApiKey {
    type Error = ApiError;

    fn try_from(r: ApiKeyRecord) -> Result<Self, ApiError> {
        let owner = match (r.user_id, r.team_id) {
            (Some(user), None) => Owner::User(user),
            (None, Some(team)) => Owner::Team(team),
            _ => {
                return Err(ApiError::internal(format!(
                    "API key {} has not exactly one owner",
                    r.id
                )));
            }
        };
        Ok(Self {
            id: r.id,
            owner,
            description: r.description,
            is_public: r.is_public,
            last_four: r.last_four,
            expires_at: r.expires_at,
            manually_revoked_at: r.manually_revoked_at,
            created_at: r.created_at,
        })
    }
}

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Whose key.
    pub owner: RequestedOwner,
    /// What it is for.
    pub description: String,
    /// When it stops working; `None` or `0` for never (a past time is accepted).
    pub expires_at_millis: Option<i64>,
    /// A public key.
    pub is_public: bool,
}

/// Changes to a key.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    /// A new description.
    pub description: Option<String>,
    /// Revoke the key (there is no way back).
    pub revoke: bool,
}

/// The plain 400 of a project without `key_type` keys.
fn disabled_message(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::User => "User API keys are not enabled for this project.",
        KeyType::Team => "Team API keys are not enabled for this project.",
    }
}

/// Fails unless the project has `key_type` keys switched on.
///
/// # Errors
/// A plain 400.
pub fn require_enabled(project: &Project, key_type: KeyType) -> Result<(), ApiError> {
    let enabled = match key_type {
        KeyType::User => project.config.allow_user_api_keys,
        KeyType::Team => project.config.allow_team_api_keys,
    };
    if enabled {
        Ok(())
    } else {
        Err(ApiError::bad_request(disabled_message(key_type)))
    }
}

/// Checks that the caller may manage `owner`'s keys (Stack Auth's
/// `ensureUserCanManageApiKeys`). Server and admin access may manage any.
///
/// # Errors
/// `USER_AUTHENTICATION_REQUIRED` for a client without a user, a plain 403 for
/// another user's keys, `API_KEY_NOT_FOUND` for a team where the user lacks
/// `$manage_api_keys` (or is no member); database errors.
async fn authorize(pool: &PgPool, auth: &Auth, owner: &RequestedOwner) -> Result<(), ApiError> {
    if auth.access != AccessType::Client {
        return Ok(());
    }
    let me = auth
        .user
        .as_ref()
        .ok_or_else(ke::user_authentication_required)?
        .id;
    match owner {
        RequestedOwner::User(user) if *user == me => Ok(()),
        RequestedOwner::User(_) => Err(ApiError::forbidden(NOT_OWN_KEYS)),
        RequestedOwner::Team(raw) => {
            let team = Uuid::parse_str(raw).map_err(|_| ke::api_key_not_found())?;
            let mut conn = pool.acquire().await?;
            let held = crate::permissions::require_team_permission(
                &mut conn,
                &auth.project,
                team,
                me,
                MANAGE_API_KEYS,
            )
            .await;
            match held {
                Err(e) if hides_team(&e) => Err(ke::api_key_not_found().into()),
                other => other,
            }
        }
    }
}

/// The refusals of the permission check that must read as "no such key".
fn hides_team(e: &ApiError) -> bool {
    matches!(
        e.code(),
        Some("USER_NOT_FOUND" | "TEAM_MEMBERSHIP_NOT_FOUND" | "TEAM_PERMISSION_REQUIRED")
    )
}

fn requested(owner: Owner) -> RequestedOwner {
    match owner {
        Owner::User(id) => RequestedOwner::User(id),
        Owner::Team(id) => RequestedOwner::Team(id.to_string()),
    }
}

/// Creates a key of `key_type`; returns it with the full key, which is not
/// kept.
///
/// # Errors
/// The feature gate, the access rules of [`authorize`]; for server access,
/// `USER_NOT_FOUND` / `TEAM_NOT_FOUND` for an owner that does not exist
/// (Stack Auth answers 500 there); a plain 400 for an expiry outside the
/// calendar; database and RNG failures.
pub async fn create(
    pool: &PgPool,
    auth: &Auth,
    key_type: KeyType,
    new: NewKey,
) -> Result<(ApiKey, ApiKeySecret), ApiError> {
    require_enabled(&auth.project, key_type)?;
    authorize(pool, auth, &new.owner).await?;
    let owner = match &new.owner {
        RequestedOwner::User(id) => Owner::User(*id),
        RequestedOwner::Team(raw) => {
            Owner::Team(Uuid::parse_str(raw).map_err(|_| ke::team_not_found(raw))?)
        }
    };
    let expires_at = match new.expires_at_millis {
        None | Some(0) => None,
        Some(ms) => Some(
            DateTime::<Utc>::from_timestamp_millis(ms)
                .ok_or_else(|| ApiError::bad_request("expires_at_millis is not a valid time."))?,
        ),
    };
    let id = random::uuid()?;
    let secret = ApiKeySecret::generate(id, owner.key_type(), new.is_public)?;
    let (user_id, team_id) = match owner {
        Owner::User(u) => (Some(u), None),
        Owner::Team(t) => (None, Some(t)),
    };
    let row = NewApiKey {
        id,
        key_sha256: &secret.sha256(),
        last_four: &secret.last_four(),
        user_id,
        team_id,
        description: &new.description,
        is_public: new.is_public,
        expires_at,
        created_at: Utc::now(),
    };
    let stored = rows::insert(pool, &auth.project.id, &row)
        .await
        .map_err(|e| missing_owner(e, &new.owner))?;
    Ok((ApiKey::try_from(stored)?, secret))
}

/// A refused insert whose owner does not exist (a server naming an unknown
/// user or team, or one deleted meanwhile) becomes that owner's not-found
/// error; anything else stays as it is.
fn missing_owner(e: sqlx::Error, owner: &RequestedOwner) -> ApiError {
    let constraint = match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => {
            db.constraint().unwrap_or_default().to_owned()
        }
        _ => return e.into(),
    };
    match owner {
        RequestedOwner::User(_) if constraint == rows::USER_FOREIGN_KEY => {
            ke::user_not_found().into()
        }
        RequestedOwner::Team(raw) if constraint == rows::TEAM_FOREIGN_KEY => {
            ke::team_not_found(raw).into()
        }
        _ => e.into(),
    }
}

/// The keys of `owner`, newest first. `owner` is `None` when the request
/// named none.
///
/// # Errors
/// The feature gate; `SCHEMA_ERROR` (`user_id is required for user API keys`)
/// without an owner; the access rules of [`authorize`]; database errors.
pub async fn list(
    pool: &PgPool,
    auth: &Auth,
    key_type: KeyType,
    owner: Option<Owner>,
) -> Result<Vec<ApiKey>, ApiError> {
    require_enabled(&auth.project, key_type)?;
    let Some(owner) = owner else {
        let t = key_type.as_str();
        return Err(ke::bare_schema_error(&format!("{t}_id is required for {t} API keys")).into());
    };
    authorize(pool, auth, &requested(owner)).await?;
    let stored = rows::list_for(pool, &auth.project.id, owner).await?;
    stored.into_iter().map(ApiKey::try_from).collect()
}

/// The key `id` of `key_type` that the caller may manage.
///
/// A key of the other type reads as missing (Stack Auth fails with a 500).
///
/// # Errors
/// The feature gate, `API_KEY_NOT_FOUND`, the access rules of [`authorize`]
/// for the key's owner; database errors.
pub async fn read(
    pool: &PgPool,
    auth: &Auth,
    key_type: KeyType,
    id: Uuid,
) -> Result<ApiKey, ApiError> {
    require_enabled(&auth.project, key_type)?;
    let key = rows::find(pool, &auth.project.id, id)
        .await?
        .map(ApiKey::try_from)
        .transpose()?
        .filter(|k| k.owner.key_type() == key_type)
        .ok_or_else(ke::api_key_not_found)?;
    authorize(pool, auth, &requested(key.owner)).await?;
    Ok(key)
}

/// Changes the key `id` of `key_type`: its description, and revokes it. A
/// revoked key keeps its first revocation time.
///
/// # Errors
/// As [`read`].
pub async fn update(
    pool: &PgPool,
    auth: &Auth,
    key_type: KeyType,
    id: Uuid,
    patch: KeyPatch,
) -> Result<ApiKey, ApiError> {
    read(pool, auth, key_type, id).await?;
    let updated = rows::update(
        pool,
        &auth.project.id,
        id,
        patch.description.as_deref(),
        patch.revoke,
        Utc::now(),
    )
    .await?
    .ok_or_else(ke::api_key_not_found)?;
    ApiKey::try_from(updated)
}

/// Checks a presented key (Stack Auth's `/check`), in Stack Auth's order:
/// found, right type, not revoked, not expired. Any string is looked up; a
/// malformed one is simply not found.
///
/// # Errors
/// The feature gate, `API_KEY_NOT_FOUND`, `WRONG_API_KEY_TYPE`,
/// `API_KEY_REVOKED`, `API_KEY_EXPIRED`; database errors.
pub async fn check(
    pool: &PgPool,
    project: &Project,
    key_type: KeyType,
    presented: &str,
) -> Result<ApiKey, ApiError> {
    require_enabled(project, key_type)?;
    let key = rows::find_by_sha256(pool, &project.id, &sha256(presented))
        .await?
        .map(ApiKey::try_from)
        .transpose()?
        .ok_or_else(ke::api_key_not_found)?;
    let actual = key.owner.key_type();
    if actual != key_type {
        return Err(ke::wrong_api_key_type(key_type.as_str(), actual.as_str()).into());
    }
    if key.manually_revoked_at.is_some() {
        return Err(ke::api_key_revoked().into());
    }
    if key.expires_at.is_some_and(|at| at < Utc::now()) {
        return Err(ke::api_key_expired().into());
    }
    Ok(key)
}
