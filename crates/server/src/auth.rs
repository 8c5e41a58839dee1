//! Request authentication from headers, in the exact order Stack Auth checks them
//! (API spec §1.3): header consistency, the user's access token, the project,
//! then the key that matches the access type (or an admin access token), then
//! the branch, then the user.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::HeaderMap;
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

/// A non-empty `x-stack-…` request header, also accepted under the `x-hexclave-…`
/// prefix that newer SDKs (2.8.10x) send instead.
///
/// A header sent more than once reads as its values joined with `", "`, as
/// Stack Auth sees it (Node joins repeated headers): such a value matches no
/// key, token or access type, so the request is refused with the error that
/// header's check gives, never decided by whichever copy came first.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    let lookup = |n: &str| -> Option<Cow<'a, str>> {
        let mut values = headers.get_all(n).iter();
        let first = values.next()?;
        let rest: Vec<_> = values.collect();
        let value = if rest.is_empty() {
            Cow::Borrowed(first.to_str().ok()?)
        } else {
            let mut joined = first.to_str().ok()?.to_owned();
            for v in rest {
                joined.push_str(", ");
                joined.push_str(v.to_str().ok()?);
            }
            Cow::Owned(joined)
        };
        (!value.is_empty()).then_some(value)
    };
    lookup(name).or_else(|| {
        let rest = name.strip_prefix("x-stack-")?;
        lookup(&format!("x-hexclave-{rest}"))
    })
}

/// Authenticates a request from its headers.
///
/// # Errors
/// Every error of spec §1.3, and database failures.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<MaybeAuth, ApiError> {
    let publishable = header(headers, "x-stack-publishable-client-key");
    let publishable = publishable.as_deref();
    let server_key = header(headers, "x-stack-secret-server-key");
    let server_key = server_key.as_deref();
    let admin_key = header(headers, "x-stack-super-secret-admin-key");
    let admin_key = admin_key.as_deref();
    let admin_token = header(headers, "x-stack-admin-access-token");
    let admin_token = admin_token.as_deref();
    let access_type = header(headers, "x-stack-access-type");
    let Some(access_type) = access_type.as_deref() else {
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
    let project_id = header(headers, "x-stack-project-id");
    let project_id = project_id
        .as_deref()
        .ok_or_else(|| ke::access_type_without_project_id(access_type))?;
    let allow_anonymous =
        header(headers, "x-stack-allow-anonymous-user").as_deref() == Some("true");
    let allow_restricted = allow_anonymous
        || header(headers, "x-stack-allow-restricted-user").as_deref() == Some("true");

    let access_token = header(headers, "x-stack-access-token");
    let claims = match access_token.as_deref() {
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

    let branch = header(headers, "x-stack-branch-id");
    let branch = branch.as_deref().unwrap_or("main");
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
        return Err(ApiError::status(
            axum::http::StatusCode::UNAUTHORIZED,
            "The user associated with the admin access token is no longer valid. Please refresh the admin access token and try again.",
        ));
    }
    let teams = users::team_ids(&state.pool, INTERNAL_PROJECT_ID, user_id).await?;
    match project.owner_team_id {
        Some(owner) if teams.contains(&owner) => Ok(()),
        _ => Err(ke::admin_access_token_is_not_admin().into()),
    }
}
