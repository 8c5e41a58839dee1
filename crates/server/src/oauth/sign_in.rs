//! Who a provider's user becomes at the callback, as Stack Auth decides it:
//!
//! - linking (a signed-in user connects an account): the account joins that
//!   user, unless it already signs in another user;
//! - an account that already signs someone in signs them in;
//! - otherwise the provider's email decides, by the project's
//!   `auth.oauth.accountMergeStrategy`: `link_method` joins the account to
//!   the user who signs in with that (verified) email, `raise_error` refuses,
//!   `allow_duplicates` makes a new user whose email does not sign in;
//! - otherwise a new user (or the signed-in anonymous user, upgraded), when
//!   sign-up is open.
//!
//! The provider's tokens are kept on the account for connected accounts.

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use super::ProviderConfig;
use super::client::{TokenSet, UserInfo};
use super::flow::{FlowType, OuterInfo};
use crate::accounts::{self, NewUser, UserPatch, normalize_email};
use crate::db::contact_channels as channels;
use crate::db::oauth::{self as db, NewOAuthAccount, NewProviderToken, TokenKind};
use crate::db::projects::Project;
use crate::db::users;
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::random;
use crate::validate::Patch;

/// Who signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The user.
    pub user_id: Uuid,
    /// Whether the sign-in made the user.
    pub new_user: bool,
}

/// Everything the callback learned from the provider.
#[derive(Debug)]
pub struct ProviderSignIn<'a> {
    /// The provider entry of the config.
    pub provider: &'a ProviderConfig,
    /// The user at the provider.
    pub user: &'a UserInfo,
    /// The provider's tokens.
    pub tokens: &'a TokenSet,
    /// The scopes the tokens were asked with.
    pub scopes: Vec<String>,
}

/// Decides who signs in (or who the account is linked to) and records the
/// account and its tokens.
///
/// # Errors
/// `OAUTH_CONNECTION_ALREADY_CONNECTED_TO_ANOTHER_USER`,
/// `CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE`,
/// `SIGN_UP_NOT_ENABLED`; database and RNG failures.
pub async fn complete(
    pool: &PgPool,
    project: &Project,
    info: &OuterInfo,
    signed_in: &ProviderSignIn<'_>,
) -> Result<Outcome, ApiError> {
    let provider_id = signed_in.provider.id.as_str();
    let account_id = signed_in.user.account_id.as_str();
    let existing = db::find_sign_in_account(pool, &project.id, provider_id, account_id).await?;

    if info.flow_type == FlowType::Link {
        let user_id = info
            .project_user_id
            .ok_or_else(|| ApiError::internal("a link flow without its user"))?;
        let account = match existing {
            Some(a) if a.user_id != user_id => {
                return Err(ke::oauth_connection_already_connected_to_another_user().into());
            }
            Some(a) => a.id,
            None => {
                match db::find_user_account(pool, &project.id, user_id, provider_id, account_id)
                    .await?
                {
                    Some(a) => a.id,
                    None => add_account(pool, project, user_id, signed_in).await?,
                }
            }
        };
        store_tokens(pool, project, account, signed_in).await?;
        return Ok(Outcome {
            user_id,
            new_user: false,
        });
    }

    if let Some(a) = existing {
        store_tokens(pool, project, a.id, signed_in).await?;
        return Ok(Outcome {
            user_id: a.user_id,
            new_user: false,
        });
    }

    let email = signed_in.user.email.as_deref().map(normalize_email);
    let mut email_signs_in = true;
    if let Some(email) = &email
        && let Some((channel, _)) = channels::find_auth_email(pool, &project.id, email).await?
    {
        match project.config.oauth_account_merge_strategy.as_str() {
            "raise_error" => return Err(ke::email_used_by_someone_else(email, false).into()),
            "allow_duplicates" => email_signs_in = false,
            _ => {
                if !channel.is_verified {
                    return Err(ke::email_used_by_someone_else(email, true).into());
                }
                if !signed_in.user.email_verified {
                    return Err(ke::email_used_by_someone_else(email, false).into());
                }
                let account = add_account(pool, project, channel.user_id, signed_in).await?;
                store_tokens(pool, project, account, signed_in).await?;
                return Ok(Outcome {
                    user_id: channel.user_id,
                    new_user: false,
                });
            }
        }
    }

    if !project.config.sign_up_enabled {
        return Err(ke::sign_up_not_enabled().into());
    }
    let anonymous = match info.project_user_id {
        Some(id) => users::find(pool, &project.id, id)
            .await?
            .filter(|u| u.is_anonymous),
        None => None,
    };
    let user_id = match anonymous {
        Some(user) => {
            let patch = UserPatch {
                display_name: signed_in
                    .user
                    .display_name
                    .clone()
                    .map_or(Patch::Absent, Patch::Set),
                profile_image_url: signed_in
                    .user
                    .profile_image_url
                    .clone()
                    .map_or(Patch::Absent, Patch::Set),
                primary_email: email.clone().map_or(Patch::Absent, Patch::Set),
                primary_email_verified: email.as_ref().map(|_| signed_in.user.email_verified),
                primary_email_auth_enabled: email.as_ref().map(|_| email_signs_in),
                is_anonymous: Some(false),
                ..UserPatch::default()
            };
            accounts::update_user(pool, project, user.id, patch).await?;
            user.id
        }
        None => {
            let new = NewUser {
                display_name: signed_in.user.display_name.clone(),
                profile_image_url: signed_in.user.profile_image_url.clone(),
                primary_email_verified: email.is_some() && signed_in.user.email_verified,
                primary_email_auth_enabled: email.is_some() && email_signs_in,
                primary_email: email,
                ..NewUser::default()
            };
            accounts::create_user(pool, project, new).await?
        }
    };
    let account = add_account(pool, project, user_id, signed_in).await?;
    store_tokens(pool, project, account, signed_in).await?;
    Ok(Outcome {
        user_id,
        new_user: true,
    })
}

/// Adds a signing-in account for `user_id`.
async fn add_account(
    pool: &PgPool,
    project: &Project,
    user_id: Uuid,
    signed_in: &ProviderSignIn<'_>,
) -> Result<Uuid, ApiError> {
    let id = random::uuid()?;
    let account = NewOAuthAccount {
        id,
        user_id,
        provider_config_id: &signed_in.provider.id,
        provider_account_id: &signed_in.user.account_id,
        email: signed_in.user.email.as_deref(),
        allow_sign_in: true,
        allow_connected_accounts: true,
    };
    match db::insert_account(pool, &project.id, &account).await {
        Ok(()) => Ok(id),
        // Two callbacks for one provider account raced: the other one won.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
            Err(ke::oauth_provider_account_id_already_used_for_sign_in().into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Keeps the provider's tokens on the account.
async fn store_tokens(
    pool: &PgPool,
    project: &Project,
    account: Uuid,
    signed_in: &ProviderSignIn<'_>,
) -> Result<(), ApiError> {
    store_token_set(
        pool,
        &project.id,
        account,
        signed_in.tokens,
        &signed_in.scopes,
    )
    .await
}

/// Keeps a token set on an account: its refresh token (if any) and its
/// access token with its expiry.
///
/// # Errors
/// Database and RNG failures.
pub async fn store_token_set(
    pool: &PgPool,
    project_id: &str,
    account: Uuid,
    tokens: &TokenSet,
    scopes: &[String],
) -> Result<(), ApiError> {
    if let Some(refresh) = &tokens.refresh_token {
        let row = NewProviderToken {
            id: random::uuid()?,
            account_id: account,
            kind: TokenKind::Refresh,
            token: refresh,
            scopes,
            expires_at: None,
        };
        db::insert_token(pool, project_id, &row).await?;
    }
    let expires_at = tokens
        .expires_in
        .map(|s| Utc::now() + chrono::Duration::seconds(s.clamp(0, 10 * 365 * 24 * 3600)));
    let row = NewProviderToken {
        id: random::uuid()?,
        account_id: account,
        kind: TokenKind::Access,
        token: &tokens.access_token,
        scopes,
        expires_at,
    };
    db::insert_token(pool, project_id, &row).await?;
    Ok(())
}
