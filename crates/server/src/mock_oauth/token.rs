//! The server side of the flow: the token endpoint (authorization code and
//! refresh token grants), RFC 7009 revocation, and userinfo.
//!
//! Codes are single use: a second redemption fails and revokes the grant the
//! first one created (RFC 6749 §4.1.2). A refresh answers with a new access
//! token and the same refresh token (no rotation), unless the test hook armed
//! a simulated error for the grant, which the next refresh answers instead.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Serialize;
use serde_json::{Map, Value};

use super::MockOAuth;
use super::clients::{self, ClientId};
use super::error::OAuthError;
use super::params::{Accept, Params};
use super::scope::Scope;
use super::signing::IdTokenClaims;
use super::store::{ACCESS_TOKEN_TTL, AccessToken, Account, Grant, RefreshToken, Store};

/// `POST /token`.
pub(super) async fn token(
    State(mock): State<MockOAuth>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match exchange(&mock, &headers, body).await {
        Ok(answer) => {
            let mut response = Json(answer).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(e) => e.into_response(),
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Serialize)]
struct TokenAnswer {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    scope: String,
}

async fn exchange(
    mock: &MockOAuth,
    headers: &HeaderMap,
    body: Body,
) -> Result<TokenAnswer, OAuthError> {
    let params = Params::from_body(headers, body, Accept::Form).await?;
    let client = clients::authenticate(headers, &params)?;
    let issued = match params.get("grant_type") {
        None => {
            return Err(OAuthError::invalid_request(
                "missing required parameter grant_type",
            ));
        }
        Some("authorization_code") => redeem_code(mock, client, &params)?,
        Some("refresh_token") => refresh(mock, client, &params)?,
        Some(_) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            ));
        }
    };
    answer(mock, issued)
}

/// Fresh random values for one token response.
struct Fresh {
    access_token: String,
    refresh_token: String,
    grant: String,
}

impl Fresh {
    fn draw() -> Result<Self, OAuthError> {
        let token = || {
            crate::random::bytes::<32>()
                .map(|b| B64.encode(b))
                .map_err(|_| OAuthError::server_error())
        };
        Ok(Self {
            access_token: token()?,
            refresh_token: token()?,
            grant: token()?,
        })
    }
}

/// What a grant step issued, for the response.
struct Issued {
    client: ClientId,
    access_token: String,
    refresh_token: Option<String>,
    scope: Scope,
    account: Account,
    nonce: Option<String>,
}

fn redeem_code(mock: &MockOAuth, client: ClientId, params: &Params) -> Result<Issued, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("missing required parameter code"))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| OAuthError::invalid_request("missing required parameter redirect_uri"))?;
    let verifier = params.get("code_verifier");
    let fresh = Fresh::draw()?;
    let mut guard = mock.store();
    let store: &mut Store = &mut guard;
    let now = Instant::now();
    let Some(entry) = store.codes.get_mut(code, now) else {
        return Err(OAuthError::invalid_grant(
            "the authorization code is invalid or expired",
        ));
    };
    if let Some(grant) = entry.redeemed.take() {
        store.codes.remove(code, now);
        store.grants.remove(&grant, now);
        return Err(OAuthError::invalid_grant(
            "the authorization code was already used; the tokens issued for it are now revoked",
        ));
    }
    if entry.request.client != client {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if entry.request.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the one of the authorization request",
        ));
    }
    match (&entry.request.challenge, verifier) {
        (Some(challenge), Some(verifier)) if challenge.verify(verifier) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "PKCE verification failed: code_verifier does not match the code_challenge",
            ));
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier is required: the authorization request had a code_challenge",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier was sent, but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    entry.redeemed = Some(fresh.grant.clone());
    let scope = entry.request.scope.clone();
    let account = entry.account.clone();
    let nonce = entry.request.nonce.clone();
    let grant = Grant {
        client,
        account: account.clone(),
        scope: scope.clone(),
        simulated_error: None,
    };
    store.grants.insert(fresh.grant.clone(), grant, now);
    let access = AccessToken {
        grant: fresh.grant.clone(),
        scope: scope.clone(),
    };
    store
        .access_tokens
        .insert(fresh.access_token.clone(), access, now);
    let refresh_token = scope.has("offline_access").then(|| {
        let refresh = RefreshToken {
            grant: fresh.grant.clone(),
        };
        store
            .refresh_tokens
            .insert(fresh.refresh_token.clone(), refresh, now);
        fresh.refresh_token
    });
    Ok(Issued {
        client,
        access_token: fresh.access_token,
        refresh_token,
        scope,
        account,
        nonce,
    })
}

fn refresh(mock: &MockOAuth, client: ClientId, params: &Params) -> Result<Issued, OAuthError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("missing required parameter refresh_token"))?;
    let requested = Scope::parse(params.get("scope"))
        .map_err(|d| OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", d))?;
    let fresh = Fresh::draw()?;
    let not_good = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let mut guard = mock.store();
    let store: &mut Store = &mut guard;
    let now = Instant::now();
    let grant_id = store
        .refresh_tokens
        .get(token, now)
        .map(|r| r.grant.clone())
        .ok_or_else(not_good)?;
    let grant = store.grants.get_mut(&grant_id, now).ok_or_else(not_good)?;
    if let Some(simulated) = grant.simulated_error.take() {
        return Err(simulated.into_error());
    }
    if grant.client != client {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let scope = if params.get("scope").is_some() {
        if !requested.is_within(&grant.scope) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "the requested scope exceeds the scope granted",
            ));
        }
        requested
    } else {
        grant.scope.clone()
    };
    let account = grant.account.clone();
    let access = AccessToken {
        grant: grant_id,
        scope: scope.clone(),
    };
    store
        .access_tokens
        .insert(fresh.access_token.clone(), access, now);
    Ok(Issued {
        client,
        access_token: fresh.access_token,
        refresh_token: Some(token.to_owned()),
        scope,
        account,
        nonce: None,
    })
}

/// The token response, with an ID token for the `openid` scope.
fn answer(mock: &MockOAuth, issued: Issued) -> Result<TokenAnswer, OAuthError> {
    let issuer = mock.issuer();
    let id_token = if issued.scope.has("openid") {
        let iat = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(ACCESS_TOKEN_TTL.as_secs()).unwrap_or(i64::MAX);
        let account = &issued.account;
        let claims = IdTokenClaims {
            iss: &issuer,
            sub: &account.login,
            aud: issued.client.as_str(),
            exp: iat.saturating_add(ttl),
            iat,
            nonce: issued.nonce.as_deref(),
            email: &account.login,
            email_verified: true,
            name: account.name.as_deref(),
            picture: account.picture.as_deref(),
        };
        let signed = mock.key().sign(&claims).map_err(|e| {
            tracing::error!(error = %e, "the mock could not serialize ID token claims");
            OAuthError::server_error()
        })?;
        Some(signed)
    } else {
        None
    };
    Ok(TokenAnswer {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL.as_secs(),
        refresh_token: issued.refresh_token,
        id_token,
        scope: issued.scope.to_string(),
    })
}

/// `POST /token/revocation` (RFC 7009): 200 for any token, known or not.
pub(super) async fn revocation(
    State(mock): State<MockOAuth>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let params = match Params::from_body(&headers, body, Accept::Form).await {
        Ok(params) => params,
        Err(e) => return OAuthError::from(e).into_response(),
    };
    let client = match clients::authenticate(&headers, &params) {
        Ok(client) => client,
        Err(e) => return e.into_response(),
    };
    let Some(token) = params.get("token") else {
        return OAuthError::invalid_request("missing required parameter token").into_response();
    };
    revoke(&mut mock.store(), client, token, Instant::now());
    StatusCode::OK.into_response()
}

/// Revokes an access token, or a refresh token with its grant, if `client`
/// owns it.
fn revoke(store: &mut Store, client: ClientId, token: &str, now: Instant) {
    let owned = |store: &Store, grant: &str| {
        store
            .grants
            .get(grant, now)
            .is_some_and(|g| g.client == client)
    };
    if let Some(access) = store.access_tokens.get(token, now) {
        if owned(store, &access.grant) {
            store.access_tokens.remove(token, now);
        }
        return;
    }
    let Some(grant) = store
        .refresh_tokens
        .get(token, now)
        .map(|r| r.grant.clone())
    else {
        return;
    };
    if owned(store, &grant) {
        // RFC 7009 §2.1: revoking a refresh token may revoke its grant's
        // access tokens too; removing the grant does.
        store.refresh_tokens.remove(token, now);
        store.grants.remove(&grant, now);
    }
}

/// `GET|POST /me`: the claims of the account behind a bearer token.
pub(super) async fn userinfo(State(mock): State<MockOAuth>, headers: HeaderMap) -> Response {
    let claims = match bearer(&headers).and_then(|token| claims(&mock, token)) {
        Ok(claims) => claims,
        Err(e) => return e.into_response(),
    };
    let mut response = Json(Value::Object(claims)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn bearer(headers: &HeaderMap) -> Result<&str, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(OAuthError::bearer(
            true,
            "no access token: send Authorization: Bearer ACCESS_TOKEN",
        ));
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            OAuthError::bearer(false, "the Authorization header is not Bearer ACCESS_TOKEN")
        })
}

/// Userinfo claims: `sub` always; `email` and `email_verified` with the
/// `email` scope; `name` and `picture` when the person entered them.
fn claims(mock: &MockOAuth, token: &str) -> Result<Map<String, Value>, OAuthError> {
    let store = mock.store();
    let Some((access, grant)) = store.access_token(token, Instant::now()) else {
        return Err(OAuthError::bearer(
            false,
            "the access token is invalid, expired or revoked",
        ));
    };
    let account = &grant.account;
    let mut claims = Map::new();
    claims.insert("sub".into(), account.login.clone().into());
    if access.scope.has("email") {
        claims.insert("email".into(), account.login.clone().into());
        claims.insert("email_verified".into(), true.into());
    }
    if let Some(name) = &account.name {
        claims.insert("name".into(), name.clone().into());
    }
    if let Some(picture) = &account.picture {
        claims.insert("picture".into(), picture.clone().into());
    }
    Ok(claims)
}
