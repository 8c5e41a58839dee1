//! Request authentication, in the exact order Stack Auth checks it (API spec
//! §1.3): credential consistency, the user's access token, the project, then
//! the key that matches the access type (or an admin access token), then the
//! branch, then the user. The HTTP layer reads the credentials from headers
//! into [`Credentials`]; nothing here knows about headers.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::keys::{self, KeyKind};
use crate::db::projects::{self, INTERNAL_PROJECT_ID, Project};
use crate::db::users::{self, UserRecord};
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::state::AppState;
use crate::tokens;

/// The publishable key value that means "no key" (Stack Auth's sentinel).
pub const PUBLIC_CLIENT_SENTINEL: &str = "__stack_public_client__";

/// Who is calling: a browser, a trusted backend or a project owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessType {
    /// `client`.
    Client,
    /// `server`.
    Server,
    /// `admin`.
    Admin,
}

impl AccessType {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Server => "server",
            Self::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "client" => Some(Self::Client),
            "server" => Some(Self::Server),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// `Client` for client access, `Server` otherwise.
    pub fn view(self) -> crate::user_view::View {
        match self {
            Self::Client => crate::user_view::View::Client,
            Self::Server | Self::Admin => crate::user_view::View::Server,
        }
    }
}

/// Access types that may call a route.
pub const ANY: &[AccessType] = &[AccessType::Client, AccessType::Server, AccessType::Admin];
/// Server or admin only.
pub const SERVER_OR_ADMIN: &[AccessType] = &[AccessType::Server, AccessType::Admin];
/// Admin only.
pub const ADMIN: &[AccessType] = &[AccessType::Admin];

/// An authenticated request.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The project addressed.
    pub project: Arc<Project>,
    /// The access type.
    pub access: AccessType,
    /// The signed-in user, when a valid access token names one that exists.
    pub user: Option<UserRecord>,
    /// The session of the access token.
    pub refresh_token_id: Option<Uuid>,
}

impl Auth {
    /// The signed-in user, or `CANNOT_GET_OWN_USER_WITHOUT_USER`.
    ///
    /// # Errors
    /// No user.
    pub fn me(&self) -> Result<&UserRecord, ApiError> {
        self.user
            .as_ref()
            .ok_or_else(|| ke::cannot_get_own_user_without_user().into())
    }
}

/// The outcome of header authentication: `None` when no access type was sent.
#[derive(Debug, Clone)]
pub struct MaybeAuth(pub Option<Auth>);

impl MaybeAuth {
    /// The auth of a route that `allowed` access types may call.
    ///
    /// # Errors
    /// `ACCESS_TYPE_REQUIRED` or `INSUFFICIENT_ACCESS_TYPE`.
    pub fn require(&self, allowed: &[AccessType]) -> Result<&Auth, ApiError> {
        let auth = self.0.as_ref().ok_or_else(ke::access_type_required)?;
        if allowed.contains(&auth.access) {
            Ok(auth)
        } else {
            let names: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
            Err(ke::insufficient_access_type(auth.access.as_str(), &names).into())
        }
    }
}

/// The credentials a request presents, one field per Stack Auth header
/// (`x-stack-…`); `None` for a header that is absent or empty. Its `Debug`
/// output shows which keys and tokens are present, never their values.
#[derive(Default)]
pub struct Credentials<'a> {
    /// `x-stack-access-type`.
    pub access_type: Option<Cow<'a, str>>,
    /// `x-stack-project-id`.
    pub project_id: Option<Cow<'a, str>>,
    /// `x-stack-branch-id`.
    pub branch_id: Option<Cow<'a, str>>,
    /// `x-stack-publishable-client-key`.
    pub publishable_client_key: Option<Cow<'a, str>>,
    /// `x-stack-secret-server-key`.
    pub secret_server_key: Option<Cow<'a, str>>,
    /// `x-stack-super-secret-admin-key`.
    pub super_secret_admin_key: Option<Cow<'a, str>>,
    /// `x-stack-admin-access-token`.
    pub admin_access_token: Option<Cow<'a, str>>,
    /// `x-stack-access-token`.
    pub access_token: Option<Cow<'a, str>>,
    /// `x-stack-allow-anonymous-user: true`.
    pub allow_anonymous_user: bool,
    /// `x-stack-allow-restricted-user: true`.
    pub allow_restricted_user: bool,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let present = |v: &Option<Cow<'_, str>>| v.as_ref().map(|_| "[redacted]");
        f.debug_struct("Credentials")
            .field("access_type", &self.access_type)
            .field("project_id", &self.project_id)
            .field("branch_id", &self.branch_id)
            .field(
                "publishable_client_key",
                &present(&self.publishable_client_key),
            )
            .field("secret_server_key", &present(&self.secret_server_key))
            .field(
                "super_secret_admin_key",
                &present(&self.super_secret_admin_key),
            )
            .field("admin_access_token", &present(&self.admin_access_token))
            .field("access_token", &present(&self.access_token))
            .field("allow_anonymous_user", &self.allow_anonymous_user)
            .field("allow_restricted_user", &self.allow_restricted_user)
            .finish()
    }
}

/// Authenticates a request from its credentials.
///
/// # Errors
/// Every error of spec §1.3, and database failures.
pub async fn authenticate(
    state: &AppState,
    credentials: &Credentials<'_>,
) -> Result<MaybeAuth, ApiError> {
    let publishable = credentials.publishable_client_key.as_deref();
    let server_key = credentials.secret_server_key.as_deref();
    let admin_key = credentials.super_secret_admin_key.as_deref();
    let admin_token = credentials.admin_access_token.as_deref();
    let Some(access_type) = credentials.access_type.as_deref() else {
        if publishable
            .or(server_key)
            .or(admin_key)
            .or(admin_token)
            .is_some()
        {
            return Err(ke::project_key_without_access_type().into());
        }
        return Ok(MaybeAuth(None));
    };
    let access =
        AccessType::parse(access_type).ok_or_else(|| ke::invalid_access_type(access_type))?;
    let project_id = credentials
        .project_id
        .as_deref()
        .ok_or_else(|| ke::access_type_without_project_id(access_type))?;
    let allow_anonymous = credentials.allow_anonymous_user;
    let allow_restricted = allow_anonymous || credentials.allow_restricted_user;

    let claims = match credentials.access_token.as_deref() {
        Some(token) => {
            let rt = state.runtime().await?;
            let claims = tokens::decode(&rt, token)?;
            if claims.project_id != project_id {
                return Err(
                    ke::invalid_project_for_access_token(project_id, &claims.project_id).into(),
                );
            }
            if claims.is_anonymous && !allow_anonymous {
                return Err(ke::anonymous_authentication_not_allowed().into());
            }
            if let (true, false, Some(reason)) = (
                claims.is_restricted,
                allow_restricted,
                &claims.restricted_reason,
            ) {
                return Err(ke::restricted_user_not_allowed(&reason.kind).into());
            }
            Some(claims)
        }
        None => None,
    };

    let project = match admin_token {
        Some(token) => {
            let project = find_project(state, project_id).await?;
            check_admin_access_token(state, &project, token).await?;
            project
        }
        None => {
            let (kind, key) = requested_key(access, publishable, server_key, admin_key);
            state
                .authenticate_key(project_id, kind, key.unwrap_or_default(), || async {
                    let project = find_project(state, project_id).await?;
                    let valid_until = check_key(state, &project, kind, key).await?;
                    Ok((project, valid_until))
                })
                .await?
        }
    };

    let branch = credentials.branch_id.as_deref().unwrap_or("main");
    if branch != "main" {
        return Err(ke::branch_does_not_exist(branch).into());
    }

    let (user, refresh_token_id) = match claims {
        Some(claims) => {
            let user_id =
                Uuid::parse_str(&claims.sub).map_err(|_| ke::unparsable_access_token())?;
            let user = users::find(&state.pool, &project.id, user_id).await?;
            (user, Uuid::parse_str(&claims.refresh_token_id).ok())
        }
        None => (None, None),
    };
    Ok(MaybeAuth(Some(Auth {
        project,
        access,
        user,
        refresh_token_id,
    })))
}

async fn find_project(state: &AppState, project_id: &str) -> Result<Arc<Project>, ApiError> {
    let project = projects::find(&state.pool, project_id)
        .await?
        .ok_or_else(|| ke::current_project_not_found(project_id))?;
    Ok(Arc::new(project))
}

/// The key the access type calls for; `None` kind means client access without a key.
fn requested_key<'a>(
    access: AccessType,
    publishable: Option<&'a str>,
    server_key: Option<&'a str>,
    admin_key: Option<&'a str>,
) -> (Option<KeyKind>, Option<&'a str>) {
    match access {
        AccessType::Client => match publishable {
            None | Some(PUBLIC_CLIENT_SENTINEL) => (None, None),
            Some(key) => (Some(KeyKind::PublishableClient), Some(key)),
        },
        AccessType::Server => (Some(KeyKind::SecretServer), server_key),
        AccessType::Admin => (Some(KeyKind::SuperSecretAdmin), admin_key),
    }
}

/// Checks the key of the request; returns until when the answer holds.
async fn check_key(
    state: &AppState,
    project: &Project,
    kind: Option<KeyKind>,
    key: Option<&str>,
) -> Result<DateTime<Utc>, ApiError> {
    let (kind, key) = match (kind, key) {
        (Some(kind), Some(key)) => (kind, key),
        (Some(KeyKind::SecretServer), None) => {
            return Err(ke::server_authentication_required().into());
        }
        (Some(KeyKind::SuperSecretAdmin), None) => {
            return Err(ke::admin_authentication_required().into());
        }
        (None, _) | (Some(KeyKind::PublishableClient), None) => {
            if project.config.require_publishable_client_key {
                return Err(ke::publishable_client_key_required(&project.id).into());
            }
            // Keyless client access holds until the project changes (which clears the cache).
            return Ok(DateTime::<Utc>::MAX_UTC);
        }
    };
    if let Some(until) = keys::valid_until(&state.pool, &project.id, kind, key).await? {
        return Ok(until);
    }
    Err(match kind {
        KeyKind::PublishableClient => ke::invalid_publishable_client_key(&project.id),
        KeyKind::SecretServer => ke::invalid_secret_server_key(&project.id),
        KeyKind::SuperSecretAdmin => ke::invalid_super_secret_admin_key(&project.id),
    }
    .into())
}

/// An admin access token is a normal user token of the internal project whose
/// user belongs to the team that owns the target project (§1.5).
async fn check_admin_access_token(
    state: &AppState,
    project: &Project,
    token: &str,
) -> Result<(), ApiError> {
    let rt = state.runtime().await?;
    let claims = match tokens::decode(&rt, token) {
        Ok(claims) => claims,
        Err(e) if e.code == "ACCESS_TOKEN_EXPIRED" => {
            let expired_at = e
                .details
                .as_ref()
                .and_then(|d| d["expired_at_millis"].as_i64())
                .and_then(chrono::DateTime::from_timestamp_millis);
            return Err(ke::admin_access_token_expired(expired_at).into());
        }
        Err(_) => return Err(ke::unparsable_admin_access_token().into()),
    };
    if claims.is_anonymous || claims.is_restricted {
        return Err(ke::unparsable_admin_access_token().into());
    }
    if claims.project_id != INTERNAL_PROJECT_ID {
        return Err(ke::admin_access_token_is_not_admin().into());
    }
    let user_id = Uuid::parse_str(&claims.sub).map_err(|_| ke::unparsable_admin_access_token())?;
    if !users::exists(&state.pool, INTERNAL_PROJECT_ID, user_id).await? {
        return Err(ApiError::unauthorized(
            "The user associated with the admin access token is no longer valid. Please refresh the admin access token and try again.",
        ));
    }
    let teams = users::team_ids(&state.pool, INTERNAL_PROJECT_ID, user_id).await?;
    match project.owner_team_id {
        Some(owner) if teams.contains(&owner) => Ok(()),
        _ => Err(ke::admin_access_token_is_not_admin().into()),
    }
}

/// Checks the OAuth client (project id and publishable key), using the server's
/// cache of keys that authenticated before.
///
/// # Errors
/// `INVALID_OAUTH_CLIENT_ID_OR_SECRET`, `PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT`;
/// database failures.
pub async fn authenticate_oauth_client(
    state: &AppState,
    project_id: &str,
    branch_ok: bool,
    client_secret: Option<&str>,
) -> Result<Arc<Project>, ApiError> {
    let key = match client_secret {
        None | Some(PUBLIC_CLIENT_SENTINEL) => None,
        Some(secret) => Some(secret),
    };
    let kind = key.map(|_| KeyKind::PublishableClient);
    if !branch_ok {
        return Err(ke::invalid_oauth_client_id_or_secret().into());
    }
    state
        .authenticate_key(project_id, kind, key.unwrap_or_default(), || async {
            let project = projects::find(&state.pool, project_id)
                .await?
                .map(Arc::new)
                .ok_or_else(ke::invalid_oauth_client_id_or_secret)?;
            let valid_until = match key {
                None => {
                    if project.config.require_publishable_client_key {
                        return Err(ke::publishable_client_key_required(&project.id).into());
                    }
                    chrono::DateTime::<chrono::Utc>::MAX_UTC
                }
                Some(secret) => {
                    keys::valid_until(&state.pool, &project.id, KeyKind::PublishableClient, secret)
                        .await?
                        .ok_or_else(ke::invalid_oauth_client_id_or_secret)?
                }
            };
            Ok((project, valid_until))
        })
        .await
}

/// Checks a publishable client key (or the public-client sentinel) of
/// `project_id` where the OAuth routes take it from a stored flow or a header
/// rather than as an OAuth `client_secret`: a refused key is
/// `INVALID_PUBLISHABLE_CLIENT_KEY`, as Stack Auth answers there.
///
/// # Errors
/// `INVALID_PUBLISHABLE_CLIENT_KEY`, `PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT`;
/// database failures.
pub async fn authenticate_publishable_key(
    state: &AppState,
    project_id: &str,
    key: Option<&str>,
) -> Result<Arc<Project>, ApiError> {
    authenticate_oauth_client(state, project_id, true, key)
        .await
        .map_err(|e| match e {
            ApiError::Known(k) if k.code == "INVALID_OAUTH_CLIENT_ID_OR_SECRET" => {
                ke::invalid_publishable_client_key(project_id).into()
            }
            other => other,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_credentials_hides_keys_and_tokens() {
        let credentials = Credentials {
            access_type: Some("server".into()),
            secret_server_key: Some("ssk_the_secret".into()),
            access_token: Some("eyJ.the.token".into()),
            ..Credentials::default()
        };
        let shown = format!("{credentials:?}");
        assert!(shown.contains("server"));
        assert!(!shown.contains("the_secret"));
        assert!(!shown.contains("the.token"));
    }
}
