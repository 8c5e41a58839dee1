//! A user's accounts at OAuth providers as apps manage them, and the
//! provider access tokens apps get for them: the rules behind Stack Auth's
//! `/oauth-providers` and `/connected-accounts` routes.
//!
//! - Accounts are listed, read, changed and removed by the app's server, and
//!   by a client for its own user only; only the server adds them. Before an
//!   account is added or changed, Stack Auth's three checks run in its order:
//!   one account per user and provider signs in, a user has a provider
//!   account once, and an account id that signs someone in is not used to
//!   sign in again (see `check_change`).
//! - An access token for a connected account is a stored, unexpired access
//!   token that has the scopes asked for and that the provider still accepts
//!   (asked through its userinfo call); otherwise a stored refresh token with
//!   those scopes gets a new one from the provider, which is stored. Tokens
//!   the provider refuses are marked invalid and never tried again.
//!
//! Where the emulator differs: access tokens of providers on shared keys are
//! handed out, as in Stack Auth's development setup
//! (`STACK_ALLOW_SHARED_OAUTH_ACCESS_TOKENS=true`); and a provider that cannot
//! be reached fails the request with `OAUTH_ACCESS_TOKEN_NOT_AVAILABLE` and
//! keeps the tokens, where Stack Auth would mark them invalid (its provider
//! is on the internet; the emulator's is a local mock that may just be down).

use sqlx::PgPool;
use uuid::Uuid;

use super::sign_in::store_token_set;
use super::{PROVIDER_TYPES, ProviderConfig, ProviderError};
use crate::db::oauth::{
    self as db, AccountFilter, AccountTokenRecord, NewOAuthAccount, OAuthAccountRecord, TokenKind,
};
use crate::db::projects::Project;
use crate::db::users;
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::random;
use crate::secret::Secret;
use crate::state::AppState;

/// Plain 400 when a user would have two accounts at one provider that sign in.
pub const SAME_PROVIDER_SIGN_IN: &str =
    "The same provider type with sign-in enabled already exists for this user.";
/// Plain 400 when a user would have one provider account twice.
pub const SAME_PROVIDER_ACCOUNT_ID: &str =
    "The same provider type with the same account ID already exists for this user.";
/// Plain 403 when a client lists another user's connected accounts.
pub const CLIENT_LIST_OTHERS_CONNECTED: &str =
    "Client can only list connected accounts for their own user.";
/// Plain 403 when a client asks for another user's access token (no final
/// period in Stack Auth).
pub const CLIENT_OTHERS_ACCESS_TOKEN: &str = "Client can only access its own connected accounts";

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Client access, with its signed-in user if any: that user's accounts only.
    Client(Option<Uuid>),
    /// Server or admin access: any user's accounts.
    Trusted,
}

/// What a call does to accounts, as a client's 403 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read one account.
    Read,
    /// List accounts.
    List,
    /// Change an account.
    Update,
    /// Remove an account.
    Delete,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::List => "list",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

impl Caller {
    /// The signed-in user of a client call, compared with the user whose
    /// accounts it wants (`None`: every user's).
    ///
    /// # Errors
    /// `CANNOT_GET_OWN_USER_WITHOUT_USER` for a client without a user; a
    /// plain 403 with `refusal` for a client asking for someone else.
    fn check_own(self, target: Option<Uuid>, refusal: &str) -> Result<(), ApiError> {
        let Self::Client(user) = self else {
            return Ok(());
        };
        let me = user.ok_or_else(ke::cannot_get_own_user_without_user)?;
        if target == Some(me) {
            Ok(())
        } else {
            Err(ApiError::forbidden(refusal))
        }
    }

    fn check_own_accounts(self, target: Option<Uuid>, action: Action) -> Result<(), ApiError> {
        self.check_own(
            target,
            &format!(
                "Client can only {} OAuth providers for their own user.",
                action.verb()
            ),
        )
    }
}

/// An account as the API shows it: with its provider type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The row id (`id` in the API).
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// The provider's key in the config.
    pub provider_config_id: String,
    /// The provider type (`type` in the API).
    pub provider_type: String,
    /// The user's id at the provider (`account_id`, server view only).
    pub account_id: String,
    /// The provider's email for the user; `None` is left out of the object.
    pub email: Option<String>,
    /// Whether the account signs the user in.
    pub allow_sign_in: bool,
    /// Whether the app may use its access tokens.
    pub allow_connected_accounts: bool,
}

impl Account {
    /// A stored account, shown as reads show it (an empty email is left out).
    fn stored(record: OAuthAccountRecord, provider_type: String) -> Self {
        Self {
            id: record.id,
            user_id: record.user_id,
            provider_config_id: record.provider_config_id,
            provider_type,
            account_id: record.provider_account_id,
            email: record.email.filter(|e| !e.is_empty()),
            allow_sign_in: record.allow_sign_in,
            allow_connected_accounts: record.allow_connected_accounts,
        }
    }
}

/// The type of the provider an account is at: the configured provider's,
/// else the key itself when it names a provider type (so accounts stay
/// visible after their provider is removed from the config).
fn provider_type(project: &Project, provider_config_id: &str) -> Option<String> {
    super::provider(project, provider_config_id)
        .map(|p| p.kind)
        .or_else(|| {
            PROVIDER_TYPES
                .contains(&provider_config_id)
                .then(|| provider_config_id.to_owned())
        })
}

fn not_configured(provider_config_id: &str) -> ApiError {
    ApiError::not_found(format!(
        "OAuth provider {provider_config_id} not found or not configured"
    ))
}

fn typed(project: &Project, record: OAuthAccountRecord) -> Result<Account, ApiError> {
    let kind = provider_type(project, &record.provider_config_id)
        .ok_or_else(|| not_configured(&record.provider_config_id))?;
    Ok(Account::stored(record, kind))
}

async fn ensure_user(pool: &PgPool, project: &Project, user_id: Uuid) -> Result<(), ApiError> {
    if users::exists(pool, &project.id, user_id).await? {
        Ok(())
    } else {
        Err(ke::user_not_found().into())
    }
}

/// The account `id` of `user_id`.
async fn owned_account(
    pool: &PgPool,
    project: &Project,
    user_id: Uuid,
    id: Uuid,
) -> Result<OAuthAccountRecord, ApiError> {
    db::find_account(pool, &project.id, id)
        .await?
        .filter(|a| a.user_id == user_id)
        .ok_or_else(|| {
            ApiError::not_found(format!("OAuth provider {id} for user {user_id} not found"))
        })
}

/// The accounts of `user_id` (every user's when `None`, for the server),
/// oldest first; accounts at a key that is no provider type and no longer
/// configured are left out.
///
/// # Errors
/// The client refusals of [`Caller`], `USER_NOT_FOUND`, database failures.
pub async fn list_accounts(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    user_id: Option<Uuid>,
) -> Result<Vec<Account>, ApiError> {
    caller.check_own_accounts(user_id, Action::List)?;
    if let Some(user_id) = user_id {
        ensure_user(pool, project, user_id).await?;
    }
    let records = db::list_project_accounts(pool, &project.id, user_id, false).await?;
    Ok(records
        .into_iter()
        .filter_map(|r| typed(project, r).ok())
        .collect())
}

/// The account `id` of `user_id`.
///
/// # Errors
/// The client refusals of [`Caller`], `USER_NOT_FOUND`, a plain 404 for an
/// account the user does not have or whose provider is gone; database
/// failures.
pub async fn read_account(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    user_id: Uuid,
    id: Uuid,
) -> Result<Account, ApiError> {
    caller.check_own_accounts(Some(user_id), Action::Read)?;
    ensure_user(pool, project, user_id).await?;
    let record = owned_account(pool, project, user_id, id).await?;
    typed(project, record)
}

/// An account the server adds.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The owner.
    pub user_id: Uuid,
    /// The provider's key in the config.
    pub provider_config_id: String,
    /// The user's id at the provider.
    pub account_id: String,
    /// The provider's email for the user.
    pub email: Option<String>,
    /// Whether it signs the user in.
    pub allow_sign_in: bool,
    /// Whether the app may use its access tokens.
    pub allow_connected_accounts: bool,
}

/// Adds an account (the server's call; no tokens come with it).
///
/// # Errors
/// A plain 404 for a provider the config does not have, `USER_NOT_FOUND`,
/// the refusals of `check_change`; database and RNG failures.
pub async fn create_account(
    pool: &PgPool,
    project: &Project,
    new: NewAccount,
) -> Result<Account, ApiError> {
    let provider = super::provider(project, &new.provider_config_id)
        .ok_or_else(|| not_configured(&new.provider_config_id))?;
    ensure_user(pool, project, new.user_id).await?;
    check_change(
        pool,
        project,
        &Change {
            account: None,
            provider_config_id: &new.provider_config_id,
            user_id: new.user_id,
            account_id: Some(&new.account_id),
            allow_sign_in: Some(new.allow_sign_in),
        },
    )
    .await?;
    let id = random::uuid()?;
    let row = NewOAuthAccount {
        id,
        user_id: new.user_id,
        provider_config_id: &new.provider_config_id,
        provider_account_id: &new.account_id,
        email: new.email.as_deref(),
        allow_sign_in: new.allow_sign_in,
        allow_connected_accounts: new.allow_connected_accounts,
    };
    db::insert_account(pool, &project.id, &row)
        .await
        .map_err(write_error)?;
    Ok(Account {
        id,
        user_id: new.user_id,
        provider_config_id: new.provider_config_id,
        provider_type: provider.kind,
        account_id: new.account_id,
        email: new.email,
        allow_sign_in: new.allow_sign_in,
        allow_connected_accounts: new.allow_connected_accounts,
    })
}

/// A change to an account; `None` keeps a value. Clients may only send the
/// two flags.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    /// Whether it signs the user in.
    pub allow_sign_in: Option<bool>,
    /// Whether the app may use its access tokens.
    pub allow_connected_accounts: Option<bool>,
    /// The provider's email for the user.
    pub email: Option<String>,
    /// The user's id at the provider.
    pub account_id: Option<String>,
}

/// Changes the account `id` of `user_id`.
///
/// # Errors
/// Those of [`read_account`] and the refusals of `check_change`.
pub async fn update_account(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    user_id: Uuid,
    id: Uuid,
    patch: AccountPatch,
) -> Result<Account, ApiError> {
    caller.check_own_accounts(Some(user_id), Action::Update)?;
    ensure_user(pool, project, user_id).await?;
    let existing = owned_account(pool, project, user_id, id).await?;
    check_change(
        pool,
        project,
        &Change {
            account: Some(id),
            provider_config_id: &existing.provider_config_id,
            user_id,
            account_id: patch.account_id.as_deref(),
            allow_sign_in: patch.allow_sign_in,
        },
    )
    .await?;
    let kind = provider_type(project, &existing.provider_config_id)
        .ok_or_else(|| not_configured(&existing.provider_config_id))?;
    db::update_account(
        pool,
        &project.id,
        id,
        patch.email.as_deref().map(Some),
        patch.account_id.as_deref(),
        patch.allow_sign_in,
        patch.allow_connected_accounts,
    )
    .await
    .map_err(write_error)?;
    Ok(Account {
        id,
        user_id,
        provider_config_id: existing.provider_config_id,
        provider_type: kind,
        account_id: patch.account_id.unwrap_or(existing.provider_account_id),
        email: patch.email.or(existing.email),
        allow_sign_in: patch.allow_sign_in.unwrap_or(existing.allow_sign_in),
        allow_connected_accounts: patch
            .allow_connected_accounts
            .unwrap_or(existing.allow_connected_accounts),
    })
}

/// Removes the account `id` of `user_id`, with its tokens.
///
/// # Errors
/// The client refusals of [`Caller`], `USER_NOT_FOUND`, a plain 404 for an
/// account the user does not have; database failures.
pub async fn delete_account(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    user_id: Uuid,
    id: Uuid,
) -> Result<(), ApiError> {
    caller.check_own_accounts(Some(user_id), Action::Delete)?;
    ensure_user(pool, project, user_id).await?;
    owned_account(pool, project, user_id, id).await?;
    db::delete_account(pool, &project.id, id).await?;
    Ok(())
}

/// What `check_change` vets: an account being added (`account: None`) or
/// changed.
struct Change<'a> {
    account: Option<Uuid>,
    provider_config_id: &'a str,
    user_id: Uuid,
    account_id: Option<&'a str>,
    allow_sign_in: Option<bool>,
}

/// Stack Auth's checks before an account is added or changed, in its order.
/// Only a change that turns sign-in on (or an added account that signs in)
/// is checked for sign-in conflicts.
///
/// The third check follows Stack Auth to the letter: it looks at accounts
/// at every provider, and for a change that does not send `account_id` its
/// query has no account-id condition at all, so then any other account of
/// the project that signs in refuses it.
///
/// # Errors
/// Plain 400s [`SAME_PROVIDER_SIGN_IN`] and [`SAME_PROVIDER_ACCOUNT_ID`],
/// `OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN`; database failures.
async fn check_change(pool: &PgPool, project: &Project, c: &Change<'_>) -> Result<(), ApiError> {
    let turns_sign_in_on = c.allow_sign_in == Some(true);
    let same_provider = AccountFilter {
        provider_config_id: Some(c.provider_config_id),
        user_id: Some(c.user_id),
        except: c.account,
        ..AccountFilter::default()
    };
    if turns_sign_in_on
        && db::any_account(
            pool,
            &project.id,
            &AccountFilter {
                sign_in_only: true,
                ..same_provider
            },
        )
        .await?
    {
        return Err(ApiError::bad_request(SAME_PROVIDER_SIGN_IN));
    }
    // Stack Auth skips this check for an empty account id (it tests truthiness).
    if let Some(account_id) = c.account_id.filter(|a| !a.is_empty())
        && db::any_account(
            pool,
            &project.id,
            &AccountFilter {
                provider_account_id: Some(account_id),
                ..same_provider
            },
        )
        .await?
    {
        return Err(ApiError::bad_request(SAME_PROVIDER_ACCOUNT_ID));
    }
    if turns_sign_in_on
        && db::any_account(
            pool,
            &project.id,
            &AccountFilter {
                provider_account_id: c.account_id,
                sign_in_only: true,
                except: c.account,
                ..AccountFilter::default()
            },
        )
        .await?
    {
        return Err(ke::oauth_provider_account_id_already_used_for_sign_in().into());
    }
    Ok(())
}

/// The error for a write that a concurrent one made invalid after
/// `check_change` passed (the database's unique indexes decide).
fn write_error(e: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(d) = &e {
        match d.code().as_deref() {
            Some("23505") if d.constraint() == Some("oauth_accounts_per_user") => {
                return ApiError::bad_request(SAME_PROVIDER_ACCOUNT_ID);
            }
            Some("23505") => {
                return ke::oauth_provider_account_id_already_used_for_sign_in().into();
            }
            // The user was deleted meanwhile.
            Some("23503") => return ke::user_not_found().into(),
            _ => {}
        }
    }
    e.into()
}

/// The accounts of `user_id` whose tokens the app may use, oldest first.
///
/// # Errors
/// `CANNOT_GET_OWN_USER_WITHOUT_USER`, a plain 403
/// ([`CLIENT_LIST_OTHERS_CONNECTED`]) for a client asking for someone
/// else, `USER_NOT_FOUND`; database failures.
pub async fn list_connected(
    pool: &PgPool,
    project: &Project,
    caller: Caller,
    user_id: Uuid,
) -> Result<Vec<OAuthAccountRecord>, ApiError> {
    caller.check_own(Some(user_id), CLIENT_LIST_OTHERS_CONNECTED)?;
    ensure_user(pool, project, user_id).await?;
    Ok(db::list_project_accounts(pool, &project.id, Some(user_id), true).await?)
}

/// Which of a user's accounts at a provider an access token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFor<'a> {
    /// Any of them, whether or not it allows connected accounts (Stack
    /// Auth's older per-provider route).
    AnyAccount,
    /// The one with this id at the provider; it must allow connected accounts.
    Account(&'a str),
}

/// An access token of `user_id`'s account at `provider_id` with every scope
/// of `scope` (space-separated; none asked: any token).
///
/// # Errors
/// A plain 403 ([`CLIENT_OTHERS_ACCESS_TOKEN`]) for a client asking for
/// someone else, `OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED`,
/// `USER_NOT_FOUND`, `OAUTH_CONNECTION_NOT_CONNECTED_TO_USER`,
/// `OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE` when no stored token
/// has the scopes or the provider refuses them all,
/// `OAUTH_ACCESS_TOKEN_NOT_AVAILABLE` when the provider cannot be reached,
/// the 503 of [`super::client_for`] when the server has no provider;
/// database and RNG failures.
pub async fn access_token(
    state: &AppState,
    project: &Project,
    caller: Caller,
    user_id: Uuid,
    provider_id: &str,
    target: TokenFor<'_>,
    scope: Option<&str>,
) -> Result<Secret<String>, ApiError> {
    if let Caller::Client(user) = caller
        && user != Some(user_id)
    {
        return Err(ApiError::forbidden(CLIENT_OTHERS_ACCESS_TOKEN));
    }
    let provider = super::provider(project, provider_id)
        .ok_or_else(ke::oauth_provider_not_found_or_not_enabled)?;
    let pool = &state.pool;
    ensure_user(pool, project, user_id).await?;
    let accounts: Vec<Uuid> = match target {
        TokenFor::AnyAccount => db::list_accounts(pool, &project.id, user_id, Some(provider_id))
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect(),
        TokenFor::Account(account_id) => {
            db::find_user_account(pool, &project.id, user_id, provider_id, account_id)
                .await?
                .filter(|a| a.allow_connected_accounts)
                .map(|a| a.id)
                .into_iter()
                .collect()
        }
    };
    if accounts.is_empty() {
        return Err(ke::oauth_connection_not_connected_to_user().into());
    }
    retrieve_or_refresh(state, project, &provider, &accounts, scope).await
}

/// Stack Auth's `retrieveOrRefreshAccessToken` over `accounts`.
async fn retrieve_or_refresh(
    state: &AppState,
    project: &Project,
    provider: &ProviderConfig,
    accounts: &[Uuid],
    scope: Option<&str>,
) -> Result<Secret<String>, ApiError> {
    let pool = &state.pool;
    let wanted: Vec<&str> = scope.unwrap_or_default().split_whitespace().collect();
    let has_scopes =
        |t: &AccountTokenRecord| wanted.iter().all(|s| t.scopes.iter().any(|g| g == s));
    let stored = |kind| db::valid_tokens_of_accounts(pool, &project.id, accounts, kind);
    let access: Vec<AccountTokenRecord> = stored(TokenKind::Access)
        .await?
        .into_iter()
        .filter(has_scopes)
        .collect();
    let refresh: Vec<AccountTokenRecord> = stored(TokenKind::Refresh)
        .await?
        .into_iter()
        .filter(has_scopes)
        .collect();
    if access.is_empty() && refresh.is_empty() {
        return Err(ke::oauth_connection_does_not_have_required_scope().into());
    }
    let client = super::client_for(state, provider).await?;

    for token in access {
        match client.user_info(&token.token).await {
            Ok(_) => return Ok(Secret::new(token.token)),
            Err(ProviderError::Refused { .. }) => {
                db::invalidate_token(pool, &project.id, token.id).await?;
            }
            Err(e @ ProviderError::Unavailable { .. }) => {
                return Err(provider_unreachable(provider, &e));
            }
        }
    }
    for token in refresh {
        match client.refresh(&token.token).await {
            Ok(set) => {
                // A provider that rotates refresh tokens sends a new one; the
                // old one is then spent.
                if set.refresh_token.is_some() {
                    db::invalidate_token(pool, &project.id, token.id).await?;
                }
                store_token_set(
                    pool,
                    &project.id,
                    token.oauth_account_id,
                    &set,
                    &token.scopes,
                )
                .await?;
                return Ok(Secret::new(set.access_token));
            }
            Err(ProviderError::Refused { .. }) => {
                db::invalidate_token(pool, &project.id, token.id).await?;
            }
            Err(e @ ProviderError::Unavailable { .. }) => {
                return Err(provider_unreachable(provider, &e));
            }
        }
    }
    Err(ke::oauth_connection_does_not_have_required_scope().into())
}

fn provider_unreachable(provider: &ProviderConfig, e: &ProviderError) -> ApiError {
    ke::oauth_access_token_not_available(
        &provider.id,
        &format!(
            "The OAuth provider could not be reached ({e}); the stored tokens were kept. Check that the mock OAuth provider is running, then try again."
        ),
    )
    .into()
}
