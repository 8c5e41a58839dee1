//! The browser side of the flow: the authorization endpoint, the interaction
//! (sign-in page, automatic consent) and the resume step that issues the code.
//!
//! `GET /auth` validates the request and starts an interaction;
//! `/auth/{uid}` resumes it: to the interaction while no account is chosen or
//! consent is missing, else to the app's callback with a one-time code. The
//! interaction ends there (or at `/abort`), so a uid works for one code only.
//!
//! Until `client_id` and `redirect_uri` are known to be good, errors are HTML
//! pages and never redirects; after that, errors go back to the app
//! (RFC 6749 §4.1.2.1). Redirects that answer a GET carry a short HTML body,
//! those that answer a POST none, as `oidc-provider`'s do (Stack Auth's e2e
//! suite checks the body types).

use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use url::Url;

use super::MockOAuth;
use super::clients::ClientId;
use super::error::PageError;
use super::page::{self, SignIn};
use super::params::{Accept, Params, ParamsError};
use super::pkce::Challenge;
use super::scope::Scope;
use super::store::{Account, AuthRequest, Code, INTERACTION_TTL, Interaction};
use crate::mail::templates::escape_html;
use crate::validate::is_valid_email;

/// Name of the interaction cookie (`oidc-provider`'s).
const COOKIE: &str = "_interaction";
/// Longest `state` accepted, in bytes.
const MAX_STATE: usize = 2048;
/// Longest `nonce` accepted, in bytes.
const MAX_NONCE: usize = 512;
/// Longest display name accepted, in characters.
const MAX_NAME: usize = 256;
/// Longest avatar URL accepted, in bytes.
const MAX_PICTURE: usize = 2048;

/// `GET /auth`.
pub(super) async fn start(State(mock): State<MockOAuth>, RawQuery(query): RawQuery) -> Response {
    begin(
        &mock,
        Params::from_query(query.as_deref()),
        RedirectBody::Html,
    )
}

/// `POST /auth` (OpenID Connect Core §3.1.2.1 allows a form).
pub(super) async fn start_post(
    State(mock): State<MockOAuth>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let params = Params::from_body(&headers, body, Accept::Form).await;
    begin(&mock, params, RedirectBody::Empty)
}

fn begin(mock: &MockOAuth, params: Result<Params, ParamsError>, body: RedirectBody) -> Response {
    let params = match params {
        Ok(params) => params,
        Err(e) => return PageError::from(e).into_response(),
    };
    let request = match parse_request(mock, &params) {
        Ok(request) => request,
        Err(Refusal::Page(e)) => return e.into_response(),
        Err(Refusal::Redirect(e)) => return e.into_response(mock, body),
    };
    let Ok(uid) = crate::random::bytes::<16>().map(|b| B64.encode(b)) else {
        return PageError::server_error().into_response();
    };
    {
        let mut store = mock.store();
        let interaction = Interaction {
            request,
            account: None,
            consented: false,
        };
        store
            .interactions
            .insert(uid.clone(), interaction, Instant::now());
    }
    let mut response = see_other(&interaction_path(&uid), body);
    let cookie = format!(
        "{COOKIE}={uid}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax",
        INTERACTION_TTL.as_secs()
    );
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// Why an authorization request was refused.
enum Refusal {
    /// Shown to the person: the redirect URI cannot be trusted.
    Page(PageError),
    /// Sent back to the app.
    Redirect(Box<ErrorRedirect>),
}

/// An error answered by redirecting to the (validated) redirect URI.
struct ErrorRedirect {
    to: Url,
    state: Option<String>,
    error: &'static str,
    description: &'static str,
}

impl ErrorRedirect {
    fn into_response(self, mock: &MockOAuth, body: RedirectBody) -> Response {
        let mut to = self.to;
        {
            let mut query = to.query_pairs_mut();
            query.append_pair("error", self.error);
            query.append_pair("error_description", self.description);
            if let Some(state) = &self.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", &mock.issuer());
        }
        see_other(to.as_str(), body)
    }
}

fn parse_request(mock: &MockOAuth, params: &Params) -> Result<AuthRequest, Refusal> {
    let page = |title, message: String| Refusal::Page(PageError::bad_request(title, message));
    let Some(client_id) = params.get("client_id") else {
        return Err(page(
            "Missing client_id",
            "The authorization request has no client_id.".into(),
        ));
    };
    let Some(client) = ClientId::parse(client_id) else {
        return Err(page(
            "Unknown client",
            format!(
                "The mock has no client {client_id:?}. Its clients are the provider ids: {}.",
                super::PROVIDER_IDS.join(", ")
            ),
        ));
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return Err(page(
            "Missing redirect_uri",
            "The authorization request has no redirect_uri.".into(),
        ));
    };
    let Some(redirect) = mock.callbacks().allowed(client, redirect_uri) else {
        return Err(page(
            "Redirect URI not allowed",
            format!(
                "{redirect_uri:?} is not a Stack Auth callback of the {client_id} client. \
                 The mock accepts {}.",
                mock.callbacks().expected(client).join(" or ")
            ),
        ));
    };
    let state = params.get("state").filter(|s| s.len() <= MAX_STATE);
    let fail = |error, description| {
        Refusal::Redirect(Box::new(ErrorRedirect {
            to: redirect.clone(),
            state: state.map(str::to_owned),
            error,
            description,
        }))
    };
    if params.get("state").is_some_and(|s| s.len() > MAX_STATE) {
        return Err(fail(
            "invalid_request",
            "state is longer than 2048 characters",
        ));
    }
    match params.get("response_type") {
        None => {
            return Err(fail(
                "invalid_request",
                "missing required parameter response_type",
            ));
        }
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
    }
    let scope = Scope::parse(params.get("scope")).map_err(|d| fail("invalid_scope", d))?;
    let challenge = Challenge::parse(
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    )
    .map_err(|d| fail("invalid_request", d))?;
    let nonce = params.get("nonce");
    if nonce.is_some_and(|n| n.len() > MAX_NONCE) {
        return Err(fail(
            "invalid_request",
            "nonce is longer than 512 characters",
        ));
    }
    if params
        .get("prompt")
        .is_some_and(|p| p.split(' ').any(|v| v == "none"))
    {
        return Err(fail(
            "login_required",
            "prompt=none cannot be honoured: the mock always asks who signs in",
        ));
    }
    Ok(AuthRequest {
        client,
        redirect_uri: redirect_uri.to_owned(),
        redirect,
        state: state.map(str::to_owned),
        scope,
        challenge,
        nonce: nonce.map(str::to_owned),
    })
}

/// `GET /auth/{uid}`: on to the interaction, or to the app with a code.
pub(super) async fn resume(State(mock): State<MockOAuth>, Path(uid): Path<String>) -> Response {
    let Ok(code) = crate::random::bytes::<32>().map(|b| B64.encode(b)) else {
        return PageError::server_error().into_response();
    };
    let finished = {
        let mut store = mock.store();
        let now = Instant::now();
        let Some(interaction) = store.interactions.get(&uid, now) else {
            return PageError::gone().into_response();
        };
        match (&interaction.account, interaction.consented) {
            (Some(_), true) => {}
            _ => return see_other(&interaction_path(&uid), RedirectBody::Html),
        }
        let Some(Interaction {
            request,
            account: Some(account),
            ..
        }) = store.interactions.remove(&uid, now)
        else {
            return PageError::gone().into_response();
        };
        let state = request.state.clone();
        let mut to = request.redirect.clone();
        let entry = Code {
            request,
            account,
            redeemed: None,
        };
        store.codes.insert(code.clone(), entry, now);
        {
            let mut query = to.query_pairs_mut();
            query.append_pair("code", &code);
            if let Some(state) = &state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", &mock.issuer());
        }
        to
    };
    see_other(finished.as_str(), RedirectBody::Html)
}

/// `GET /interaction/{uid}`: the sign-in page, or automatic consent once an
/// account is chosen.
pub(super) async fn show(State(mock): State<MockOAuth>, Path(uid): Path<String>) -> Response {
    let view = {
        let mut store = mock.store();
        let Some(interaction) = store.interactions.get_mut(&uid, Instant::now()) else {
            return PageError::gone().into_response();
        };
        if interaction.account.is_some() {
            interaction.consented = true;
            return see_other(&resume_path(&uid), RedirectBody::Html);
        }
        PageView::of(&interaction.request)
    };
    view.render(&uid, None, &Attempt::default(), StatusCode::OK)
}

/// `POST /interaction/{uid}`: `prompt=login` with the account, or
/// `prompt=consent`.
pub(super) async fn submit(
    State(mock): State<MockOAuth>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let params = match Params::from_body(&headers, body, Accept::Form).await {
        Ok(params) => params,
        Err(e) => return PageError::from(e).into_response(),
    };
    match params.get("prompt") {
        Some("login") => sign_in(&mock, &uid, &params),
        Some("consent") => consent(&mock, &uid),
        _ => PageError::bad_request(
            "Unknown prompt",
            "Send prompt=login with login=EMAIL, or prompt=consent.",
        )
        .into_response(),
    }
}

/// `POST /interaction/{uid}/login`: the sign-in page's form.
pub(super) async fn login(
    State(mock): State<MockOAuth>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    match Params::from_body(&headers, body, Accept::Form).await {
        Ok(params) => sign_in(&mock, &uid, &params),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// `GET /interaction/{uid}/abort`: back to the app with `access_denied`.
pub(super) async fn abort(State(mock): State<MockOAuth>, Path(uid): Path<String>) -> Response {
    let removed = mock.store().interactions.remove(&uid, Instant::now());
    let Some(interaction) = removed else {
        return PageError::gone().into_response();
    };
    let request = interaction.request;
    ErrorRedirect {
        to: request.redirect,
        state: request.state,
        error: "access_denied",
        description: "End-User aborted interaction",
    }
    .into_response(&mock, RedirectBody::Html)
}

/// Records the account of a sign-in form; a bad form shows the page again.
fn sign_in(mock: &MockOAuth, uid: &str, params: &Params) -> Response {
    let attempt = Attempt::of(params);
    let checked = attempt.account();
    let view = {
        let mut store = mock.store();
        let Some(interaction) = store.interactions.get_mut(uid, Instant::now()) else {
            return PageError::gone().into_response();
        };
        if let Ok(account) = &checked {
            interaction.account = Some(account.clone());
            interaction.consented = false;
            return see_other(&resume_path(uid), RedirectBody::Empty);
        }
        PageView::of(&interaction.request)
    };
    view.render(uid, checked.err(), &attempt, StatusCode::BAD_REQUEST)
}

/// Gives consent for the chosen account.
fn consent(mock: &MockOAuth, uid: &str) -> Response {
    let view = {
        let mut store = mock.store();
        let Some(interaction) = store.interactions.get_mut(uid, Instant::now()) else {
            return PageError::gone().into_response();
        };
        if interaction.account.is_some() {
            interaction.consented = true;
            return see_other(&resume_path(uid), RedirectBody::Empty);
        }
        PageView::of(&interaction.request)
    };
    view.render(
        uid,
        Some("Sign in first: consent needs an account."),
        &Attempt::default(),
        StatusCode::BAD_REQUEST,
    )
}

/// What a sign-in form sent.
#[derive(Debug, Default)]
struct Attempt {
    login: String,
    name: String,
    picture: String,
}

impl Attempt {
    fn of(params: &Params) -> Self {
        let field = |name| params.get(name).unwrap_or_default().trim().to_owned();
        Self {
            login: field("login"),
            name: field("name"),
            picture: field("picture"),
        }
    }

    /// The account, or why the form is refused (shown on the page).
    fn account(&self) -> Result<Account, &'static str> {
        if self.login.is_empty() {
            return Err("Enter an e-mail address.");
        }
        if !is_valid_email(&self.login) {
            return Err("Enter a valid e-mail address, like ada@example.com.");
        }
        if self.name.chars().count() > MAX_NAME || self.name.chars().any(char::is_control) {
            return Err("The display name must be one line of at most 256 characters.");
        }
        let picture_ok = self.picture.is_empty()
            || (self.picture.len() <= MAX_PICTURE
                && Url::parse(&self.picture)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()));
        if !picture_ok {
            return Err("The avatar URL must be an http:// or https:// URL.");
        }
        let optional = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Ok(Account {
            login: self.login.clone(),
            name: optional(&self.name),
            picture: optional(&self.picture),
        })
    }
}

/// What the sign-in page shows about the request.
struct PageView {
    client: ClientId,
    app: String,
}

impl PageView {
    fn of(request: &AuthRequest) -> Self {
        let host = request.redirect.host_str().unwrap_or_default();
        let app = match request.redirect.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Self {
            client: request.client,
            app,
        }
    }

    fn render(
        &self,
        uid: &str,
        error: Option<&str>,
        attempt: &Attempt,
        status: StatusCode,
    ) -> Response {
        let view = SignIn {
            uid,
            client_id: self.client.as_str(),
            provider: self.client.display_name(),
            app: &self.app,
            error,
            login: &attempt.login,
            name: &attempt.name,
            picture: &attempt.picture,
        };
        page::html(status, |nonce| page::sign_in_page(&view, nonce))
    }
}

fn interaction_path(uid: &str) -> String {
    format!("/interaction/{uid}")
}

fn resume_path(uid: &str) -> String {
    format!("/auth/{uid}")
}

/// The body of a redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RedirectBody {
    /// A line of HTML with the link (answers to GET).
    Html,
    /// Nothing, and no content type (answers to POST).
    Empty,
}

/// A 303 to `location`, never cached.
fn see_other(location: &str, body: RedirectBody) -> Response {
    let Ok(value) = HeaderValue::from_str(location) else {
        return PageError::bad_request(
            "Bad redirect",
            "The redirect URI cannot be sent in a Location header.",
        )
        .into_response();
    };
    let mut response = match body {
        RedirectBody::Html => {
            let link = escape_html(location);
            let text = format!("Redirecting to <a href=\"{link}\">{link}</a>.");
            (StatusCode::SEE_OTHER, text).into_response()
        }
        RedirectBody::Empty => StatusCode::SEE_OTHER.into_response(),
    };
    let headers = response.headers_mut();
    if body == RedirectBody::Html {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    headers.insert(header::LOCATION, value);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
