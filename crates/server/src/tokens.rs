//! Sessions and access tokens: create a session, mint a token for it, and
//! decode a token presented by a client.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::accounts;
use crate::db::projects::Project;
use crate::db::users::UserRecord;
use crate::db::{sessions, users};
use crate::error::{ApiError, KnownError};
use crate::jwt::{AccessTokenClaims, Audience, RestrictedReason, TokenError};
use crate::known_errors::{self, ExpiredToken};
use crate::random;
use crate::secret::Secret;
use crate::state::{AppState, Runtime};
use crate::user_view::restriction;

/// Default session lifetime (365 days), as in Stack Auth.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// A fresh session and its first access token.
#[derive(Debug)]
pub struct TokenPair {
    /// The session id.
    pub session_id: Uuid,
    /// The refresh token.
    pub refresh_token: Secret<String>,
    /// The access token.
    pub access_token: Secret<String>,
}

/// Creates a session for `user` and mints its first access token.
///
/// # Errors
/// Database or RNG failures.
pub async fn sign_in(
    state: &AppState,
    project: &Project,
    user: &UserRecord,
    lifetime: Duration,
    is_impersonation: bool,
) -> Result<TokenPair, ApiError> {
    let session_id = random::uuid()?;
    let refresh_token = Secret::new(random::token()?);
    let expires_at = Utc::now()
        + chrono::Duration::from_std(lifetime).unwrap_or_else(|_| chrono::Duration::days(365));
    sessions::insert(
        &state.pool,
        &project.id,
        session_id,
        user.id,
        &refresh_token,
        Some(expires_at),
        is_impersonation,
    )
    .await?;
    let access_token = mint(state, project, user, session_id, None).await?;
    Ok(TokenPair {
        session_id,
        refresh_token,
        access_token,
    })
}

/// Loads a user by id and signs them in (after a fresh insert, or a passed
/// second factor).
///
/// # Errors
/// Database or RNG failures; the user vanished.
pub async fn sign_in_user_id(
    state: &AppState,
    project: &Project,
    user_id: Uuid,
) -> Result<TokenPair, ApiError> {
    let user = signing_in(state, project, user_id).await?;
    sign_in(state, project, &user, DEFAULT_SESSION_LIFETIME, false).await
}

/// Signs a user in who passed a first factor (a password, a mail code), unless
/// they have a TOTP secret: then the second factor comes first
/// ([`accounts::require_second_factor`]). `is_new_user` is what the sign-in
/// answer will say once the second factor is passed.
///
/// # Errors
/// `MULTI_FACTOR_AUTHENTICATION_REQUIRED`; database or RNG failures; the user vanished.
pub async fn sign_in_first_factor(
    state: &AppState,
    project: &Project,
    user_id: Uuid,
    is_new_user: bool,
) -> Result<TokenPair, ApiError> {
    let user = signing_in(state, project, user_id).await?;
    accounts::require_second_factor(&state.pool, &project.id, &user, is_new_user).await?;
    sign_in(state, project, &user, DEFAULT_SESSION_LIFETIME, false).await
}

/// The user a sign-in is for, who was there a moment ago.
async fn signing_in(
    state: &AppState,
    project: &Project,
    user_id: Uuid,
) -> Result<UserRecord, ApiError> {
    users::find(&state.pool, &project.id, user_id)
        .await?
        .ok_or_else(|| ApiError::internal("user vanished while signing in"))
}

/// How precisely `last_active_at` is kept: a refresh within this time of the
/// session's last recorded activity writes nothing, which spares PostgreSQL a
/// write per refresh under load.
pub const ACTIVITY_RESOLUTION: chrono::Duration = chrono::Duration::seconds(60);

/// Mints an access token for an existing session and records the activity
/// (unless `last_active` shows it was recorded within [`ACTIVITY_RESOLUTION`]).
///
/// # Errors
/// Database failures, or no signing keys.
pub async fn mint(
    state: &AppState,
    project: &Project,
    user: &UserRecord,
    session_id: Uuid,
    last_active: Option<DateTime<Utc>>,
) -> Result<Secret<String>, ApiError> {
    let rt = state.runtime().await?;
    let now = Utc::now().timestamp();
    let ttl = i64::try_from(state.settings.access_token_ttl.as_secs()).unwrap_or(600);
    let reason = restriction(user, &project.config);
    let audience = match reason {
        Some("anonymous") => Audience::Anonymous,
        Some(_) => Audience::Restricted,
        None => Audience::Normal,
    };
    let claims = AccessTokenClaims {
        sub: user.id.to_string(),
        iss: audience.issuer(&rt.public_api_url, &project.id),
        aud: audience.claim(&project.id),
        iat: now,
        exp: now + ttl,
        project_id: project.id.clone(),
        branch_id: "main".into(),
        refresh_token_id: session_id.to_string(),
        role: "authenticated".into(),
        name: user.display_name.clone(),
        email: user.primary_email.clone(),
        email_verified: user.primary_email_verified.unwrap_or(false),
        selected_team_id: user.team_id.map(|t| t.to_string()),
        signed_up_at: user.signed_up_at.timestamp(),
        is_anonymous: user.is_anonymous,
        is_restricted: reason.is_some(),
        restricted_reason: reason.map(|r| RestrictedReason { kind: r.into() }),
        requires_totp_mfa: user.requires_totp_mfa,
    };
    let token = rt.keyring.sign(&claims)?;
    if last_active.is_none_or(|t| Utc::now() - t >= ACTIVITY_RESOLUTION) {
        sessions::touch(&state.pool, &project.id, session_id, user.id).await?;
    }
    Ok(Secret::new(token))
}

/// Decodes and checks an access token; maps failures to Stack Auth's errors.
///
/// # Errors
/// `UNPARSABLE_ACCESS_TOKEN` or `ACCESS_TOKEN_EXPIRED`.
pub fn decode(rt: &Runtime, token: &str) -> Result<AccessTokenClaims, KnownError> {
    let claims = match rt.keyring.verify(token, Utc::now().timestamp()) {
        Ok(claims) => claims,
        Err(TokenError::Expired(claims)) => {
            let expired_at = DateTime::from_timestamp(claims.exp, 0);
            let project_id = claims.aud.split(':').next().unwrap_or_default();
            return Err(known_errors::access_token_expired(&ExpiredToken {
                expired_at,
                project_id: Some(project_id),
                user_id: Some(&claims.sub),
                refresh_token_id: Some(&claims.refresh_token_id),
            }));
        }
        Err(TokenError::Unparsable) => return Err(known_errors::unparsable_access_token()),
    };
    let Some((project_id, audience)) = Audience::parse_claim(&claims.aud) else {
        return Err(known_errors::unparsable_access_token());
    };
    let consistent = claims.branch_id == "main"
        && claims.project_id == project_id
        && claims.iss == audience.issuer(&rt.public_api_url, project_id)
        && (audience == Audience::Anonymous) == claims.is_anonymous
        && (audience == Audience::Normal) != claims.is_restricted;
    if consistent {
        Ok(claims)
    } else {
        Err(known_errors::unparsable_access_token())
    }
}
