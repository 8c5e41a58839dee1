//! OAuth accounts, the provider tokens kept for them, sign-ins in progress and
//! authorization codes (`oauth_accounts`, `oauth_provider_tokens`,
//! `oauth_outer_flows`, `oauth_authorization_codes`). The rules of who signs
//! in as whom live in [`crate::oauth`].

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

/// A user's account at an OAuth provider.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OAuthAccountRecord {
    /// The row id.
    pub id: Uuid,
    /// The user it belongs to.
    pub user_id: Uuid,
    /// The key of the provider in the project's `auth.oauth.providers`.
    pub provider_config_id: String,
    /// The user's id at the provider.
    pub provider_account_id: String,
    /// The email the provider gave.
    pub email: Option<String>,
    /// Whether the account signs the user in.
    pub allow_sign_in: bool,
    /// Whether the app may use the account's access tokens.
    pub allow_connected_accounts: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

macro_rules! account_columns {
    () => {
        "id, user_id, provider_config_id, provider_account_id, email, allow_sign_in, allow_connected_accounts, created_at"
    };
}

/// An account to store.
#[derive(Debug)]
pub struct NewOAuthAccount<'a> {
    /// The row id.
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// The provider's config key.
    pub provider_config_id: &'a str,
    /// The user's id at the provider.
    pub provider_account_id: &'a str,
    /// The provider's email for the user.
    pub email: Option<&'a str>,
    /// Signs the user in.
    pub allow_sign_in: bool,
    /// Usable as a connected account.
    pub allow_connected_accounts: bool,
}

/// Stores an account.
///
/// # Errors
/// Database failures, among them a unique violation when another account
/// already signs in with this provider account.
pub async fn insert_account(
    db: impl PgExecutor<'_>,
    project_id: &str,
    a: &NewOAuthAccount<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_accounts (project_id, id, user_id, provider_config_id, provider_account_id,
                                     email, allow_sign_in, allow_connected_accounts)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(project_id)
    .bind(a.id)
    .bind(a.user_id)
    .bind(a.provider_config_id)
    .bind(a.provider_account_id)
    .bind(a.email)
    .bind(a.allow_sign_in)
    .bind(a.allow_connected_accounts)
    .execute(db)
    .await?;
    Ok(())
}

/// The account that signs in with `provider_account_id` at the provider, if any.
///
/// # Errors
/// Database failures.
pub async fn find_sign_in_account(
    db: impl PgExecutor<'_>,
    project_id: &str,
    provider_config_id: &str,
    provider_account_id: &str,
) -> Result<Option<OAuthAccountRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        account_columns!(),
        " FROM oauth_accounts
         WHERE project_id = $1 AND provider_config_id = $2 AND provider_account_id = $3 AND allow_sign_in"
    ))
    .bind(project_id)
    .bind(provider_config_id)
    .bind(provider_account_id)
    .fetch_optional(db)
    .await
}

/// One account of a user at one provider, by provider account id.
///
/// # Errors
/// Database failures.
pub async fn find_user_account(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
    provider_config_id: &str,
    provider_account_id: &str,
) -> Result<Option<OAuthAccountRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        account_columns!(),
        " FROM oauth_accounts
         WHERE project_id = $1 AND user_id = $2 AND provider_config_id = $3 AND provider_account_id = $4"
    ))
    .bind(project_id)
    .bind(user_id)
    .bind(provider_config_id)
    .bind(provider_account_id)
    .fetch_optional(db)
    .await
}

/// A user's accounts, oldest first; only those at `provider_config_id` when given.
///
/// # Errors
/// Database failures.
pub async fn list_accounts(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Uuid,
    provider_config_id: Option<&str>,
) -> Result<Vec<OAuthAccountRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        account_columns!(),
        " FROM oauth_accounts
         WHERE project_id = $1 AND user_id = $2 AND ($3::text IS NULL OR provider_config_id = $3)
         ORDER BY created_at, id"
    ))
    .bind(project_id)
    .bind(user_id)
    .bind(provider_config_id)
    .fetch_all(db)
    .await
}

/// One account by id.
///
/// # Errors
/// Database failures.
pub async fn find_account(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<Option<OAuthAccountRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        account_columns!(),
        " FROM oauth_accounts WHERE project_id = $1 AND id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Changes an account's flags and details; `None` keeps a column.
///
/// # Errors
/// Database failures, among them the unique violation of a second sign-in account.
pub async fn update_account(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
    email: Option<Option<&str>>,
    provider_account_id: Option<&str>,
    allow_sign_in: Option<bool>,
    allow_connected_accounts: Option<bool>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE oauth_accounts SET
             email = CASE WHEN $3 THEN $4 ELSE email END,
             provider_account_id = COALESCE($5, provider_account_id),
             allow_sign_in = COALESCE($6, allow_sign_in),
             allow_connected_accounts = COALESCE($7, allow_connected_accounts)
         WHERE project_id = $1 AND id = $2",
    )
    .bind(project_id)
    .bind(id)
    .bind(email.is_some())
    .bind(email.flatten())
    .bind(provider_account_id)
    .bind(allow_sign_in)
    .bind(allow_connected_accounts)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes an account (and its tokens); false when there was none.
///
/// # Errors
/// Database failures.
pub async fn delete_account(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM oauth_accounts WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Which of a provider's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token.
    Access,
    /// A refresh token.
    Refresh,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// A stored provider token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderTokenRecord {
    /// The row id.
    pub id: Uuid,
    /// The token as the provider issued it.
    pub token: String,
    /// The scopes it was granted with.
    pub scopes: Vec<String>,
    /// When it expires, if known.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A provider token to store.
#[derive(Debug)]
pub struct NewProviderToken<'a> {
    /// The row id.
    pub id: Uuid,
    /// The account it belongs to.
    pub account_id: Uuid,
    /// Access or refresh.
    pub kind: TokenKind,
    /// The token as the provider issued it.
    pub token: &'a str,
    /// The scopes it was granted with.
    pub scopes: &'a [String],
    /// When it expires, if known.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Stores a provider token for an account.
///
/// # Errors
/// Database failures.
pub async fn insert_token(
    db: impl PgExecutor<'_>,
    project_id: &str,
    t: &NewProviderToken<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_provider_tokens (project_id, id, oauth_account_id, kind, token, scopes, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(project_id)
    .bind(t.id)
    .bind(t.account_id)
    .bind(t.kind.as_str())
    .bind(t.token)
    .bind(t.scopes)
    .bind(t.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The valid tokens of `kind` of an account, newest first (unexpired ones
/// only for access tokens).
///
/// # Errors
/// Database failures.
pub async fn valid_tokens(
    db: impl PgExecutor<'_>,
    project_id: &str,
    account_id: Uuid,
    kind: TokenKind,
) -> Result<Vec<ProviderTokenRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, token, scopes, expires_at FROM oauth_provider_tokens
         WHERE project_id = $1 AND oauth_account_id = $2 AND kind = $3 AND is_valid
           AND (expires_at IS NULL OR expires_at > now() + interval '5 minutes')
         ORDER BY created_at DESC, id",
    )
    .bind(project_id)
    .bind(account_id)
    .bind(kind.as_str())
    .fetch_all(db)
    .await
}

/// Marks a token as no longer usable (the provider refused it).
///
/// # Errors
/// Database failures.
pub async fn invalidate_token(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE oauth_provider_tokens SET is_valid = FALSE WHERE project_id = $1 AND id = $2",
    )
    .bind(project_id)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Stores a sign-in in progress, and drops those that expired.
///
/// # Errors
/// Database failures.
pub async fn insert_outer_flow(
    db: impl PgExecutor<'_>,
    inner_state: &str,
    project_id: &str,
    info: &Value,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH gone AS (DELETE FROM oauth_outer_flows WHERE expires_at < now() - interval '1 hour')
         INSERT INTO oauth_outer_flows (inner_state, project_id, info, expires_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(inner_state)
    .bind(project_id)
    .bind(Json(info))
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// A sign-in in progress.
#[derive(Debug, sqlx::FromRow)]
pub struct OuterFlowRecord {
    /// The project.
    pub project_id: String,
    /// What the authorize request asked for.
    pub info: Json<Value>,
    /// When it stops being usable.
    pub expires_at: DateTime<Utc>,
}

/// The sign-in in progress for `inner_state`.
///
/// # Errors
/// Database failures.
pub async fn find_outer_flow(
    db: impl PgExecutor<'_>,
    inner_state: &str,
) -> Result<Option<OuterFlowRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT project_id, info, expires_at FROM oauth_outer_flows WHERE inner_state = $1",
    )
    .bind(inner_state)
    .fetch_optional(db)
    .await
}

/// An authorization code as stored (by its hash).
#[derive(Debug, sqlx::FromRow)]
pub struct AuthorizationCodeRecord {
    /// The project.
    pub project_id: String,
    /// Who signed in.
    pub user_id: Uuid,
    /// The redirect URI the code was issued for.
    pub redirect_uri: String,
    /// The PKCE challenge.
    pub code_challenge: String,
    /// `S256` or `plain` (or empty).
    pub code_challenge_method: String,
    /// Whether the sign-in created the user.
    pub new_user: bool,
    /// Where the app asked to go after the callback.
    pub after_callback_redirect_url: Option<String>,
    /// The session a cross-domain handoff passes on (none for a sign-in).
    pub granted_session_id: Option<Uuid>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Stores an authorization code.
///
/// # Errors
/// Database failures.
pub async fn insert_code(
    db: impl PgExecutor<'_>,
    code_sha256: &[u8; 32],
    c: &AuthorizationCodeRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_authorization_codes (code_sha256, project_id, user_id, redirect_uri,
             code_challenge, code_challenge_method, new_user, after_callback_redirect_url,
             granted_session_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&code_sha256[..])
    .bind(&c.project_id)
    .bind(c.user_id)
    .bind(&c.redirect_uri)
    .bind(&c.code_challenge)
    .bind(&c.code_challenge_method)
    .bind(c.new_user)
    .bind(&c.after_callback_redirect_url)
    .bind(c.granted_session_id)
    .bind(c.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Takes an authorization code: returns it and deletes it, so that a code
/// works once even when two requests race.
///
/// # Errors
/// Database failures.
pub async fn take_code(
    db: impl PgExecutor<'_>,
    code_sha256: &[u8; 32],
) -> Result<Option<AuthorizationCodeRecord>, sqlx::Error> {
    sqlx::query_as(
        "DELETE FROM oauth_authorization_codes WHERE code_sha256 = $1
         RETURNING project_id, user_id, redirect_uri, code_challenge, code_challenge_method,
                   new_user, after_callback_redirect_url, granted_session_id, expires_at",
    )
    .bind(&code_sha256[..])
    .fetch_optional(db)
    .await
}

/// Reads an authorization code without using it up.
///
/// # Errors
/// Database failures.
pub async fn find_code(
    db: impl PgExecutor<'_>,
    code_sha256: &[u8; 32],
) -> Result<Option<AuthorizationCodeRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT project_id, user_id, redirect_uri, code_challenge, code_challenge_method,
                new_user, after_callback_redirect_url, granted_session_id, expires_at
         FROM oauth_authorization_codes WHERE code_sha256 = $1",
    )
    .bind(&code_sha256[..])
    .fetch_optional(db)
    .await
}

/// A project's accounts, oldest first: only `user_id`'s when given, only
/// those usable as connected accounts when `connected_only`.
///
/// # Errors
/// Database failures.
pub async fn list_project_accounts(
    db: impl PgExecutor<'_>,
    project_id: &str,
    user_id: Option<Uuid>,
    connected_only: bool,
) -> Result<Vec<OAuthAccountRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        account_columns!(),
        " FROM oauth_accounts
         WHERE project_id = $1 AND ($2::uuid IS NULL OR user_id = $2)
           AND (NOT $3 OR allow_connected_accounts)
         ORDER BY created_at, id"
    ))
    .bind(project_id)
    .bind(user_id)
    .bind(connected_only)
    .fetch_all(db)
    .await
}

/// Which accounts [`any_account`] looks for; `None` matches any value.
#[derive(Debug, Default, Clone, Copy)]
pub struct AccountFilter<'a> {
    /// The provider's config key.
    pub provider_config_id: Option<&'a str>,
    /// The owner.
    pub user_id: Option<Uuid>,
    /// The user's id at the provider.
    pub provider_account_id: Option<&'a str>,
    /// Only accounts that sign in.
    pub sign_in_only: bool,
    /// An account that does not count (the one being changed).
    pub except: Option<Uuid>,
}

/// Whether the project has an account that `filter` matches.
///
/// # Errors
/// Database failures.
pub async fn any_account(
    db: impl PgExecutor<'_>,
    project_id: &str,
    filter: &AccountFilter<'_>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM oauth_accounts
         WHERE project_id = $1
           AND ($2::text IS NULL OR provider_config_id = $2)
           AND ($3::uuid IS NULL OR user_id = $3)
           AND ($4::text IS NULL OR provider_account_id = $4)
           AND (NOT $5 OR allow_sign_in)
           AND ($6::uuid IS NULL OR id <> $6))",
    )
    .bind(project_id)
    .bind(filter.provider_config_id)
    .bind(filter.user_id)
    .bind(filter.provider_account_id)
    .bind(filter.sign_in_only)
    .bind(filter.except)
    .fetch_one(db)
    .await
}

/// A stored provider token with the account it belongs to.
#[derive(Clone, sqlx::FromRow)]
pub struct AccountTokenRecord {
    /// The row id.
    pub id: Uuid,
    /// The account it belongs to.
    pub oauth_account_id: Uuid,
    /// The token as the provider issued it.
    pub token: String,
    /// The scopes it was granted with.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for AccountTokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountTokenRecord")
            .field("id", &self.id)
            .field("oauth_account_id", &self.oauth_account_id)
            .field("token", &"[redacted]")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The valid tokens of `kind` of any of `account_ids`, newest first, as
/// [`valid_tokens`] selects them.
///
/// # Errors
/// Database failures.
pub async fn valid_tokens_of_accounts(
    db: impl PgExecutor<'_>,
    project_id: &str,
    account_ids: &[Uuid],
    kind: TokenKind,
) -> Result<Vec<AccountTokenRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, oauth_account_id, token, scopes FROM oauth_provider_tokens
         WHERE project_id = $1 AND oauth_account_id = ANY($2) AND kind = $3 AND is_valid
           AND (expires_at IS NULL OR expires_at > now() + interval '5 minutes')
         ORDER BY created_at DESC, id",
    )
    .bind(project_id)
    .bind(account_ids)
    .bind(kind.as_str())
    .fetch_all(db)
    .await
}
