//! OAuth sign-in end to end, through the real mock provider: the app's
//! `/auth/oauth/authorize`, the provider's interaction sequence as Stack
//! Auth's e2e suite drives it (`Auth.OAuth` in its backend helpers), the
//! callback and the authorization-code grant. Around that: who signs in (merge
//! strategies, closed sign-up, linking, anonymous upgrade), the provider
//! tokens handed out as connected accounts, and a change of the public URL.
//!
//! The browser is a reqwest client that follows no redirect and keeps no
//! cookie: every hop is checked, and the inner cookie is carried by hand.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header;
use serde_json::{Value, json};
use url::Url;

use crate::helpers::{Response, Session, Spawn, TestApp, keys, sorted, wait_until};

/// The app's redirect URI: localhost, which the internal project trusts.
const REDIRECT: &str = "http://localhost:3000/oauth-callback";
/// A second trusted URL of the app.
const AFTER: &str = "http://localhost:3000/after-sign-in";
const STATE: &str = "this-is-some-state";
/// The plain PKCE verifier (and challenge) of Stack Auth's e2e helpers.
pub(crate) const PLAIN_VERIFIER: &str = "some-code-challenge";
/// The PKCE example of RFC 7636, appendix B.
const S256_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const S256_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// A shared provider of the internal project.
const PROVIDER: &str = "spotify";

const BAD_CLIENT: &str = "The OAuth client ID or secret is invalid. The client ID must be equal to the project ID (potentially with a hash and a branch ID), and the client secret must be a publishable client key.";
const NOT_WHITELISTED: &str = "Redirect URL not whitelisted. Did you forget to add this domain to the trusted domains list on the Stack Auth dashboard?";
const INVALID_CODE: &str = "The given authorization code is invalid.";
const BAD_STATE: &str = "Invalid OAuth state. Please try signing in again.";
const NO_COOKIE: &str = "Inner OAuth cookie not found. This is likely because you refreshed the page during the OAuth sign in process. Please try signing in again";
const INVALID_GRANT: &str = "Inner OAuth callback failed due to invalid grant. Please try again.";
const REDIRECT_MISMATCH: &str = "Invalid redirect URI. Your redirect URI must be the same as the one used to get the authorization code.";
const NO_SCOPE: &str = "The OAuth connection does not have the required scope.";

/// A server whose public URL is its own address, so that the mock sends
/// the browser back to it.
pub(crate) async fn spawn() -> TestApp {
    TestApp::spawn_with(Spawn {
        public_url_is_own_address: true,
        ..Spawn::default()
    })
    .await
}

/// A browser without redirects or cookies.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sends a request and reads the whole answer.
async fn read(request: reqwest::RequestBuilder) -> Response {
    let r = request.send().await.expect("request failed");
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Response {
        status,
        headers,
        text,
        body,
    }
}

/// The `Location` of an answer, as a URL (relative ones against `base`).
#[track_caller]
fn location(r: &Response, base: Option<&Url>) -> Url {
    let raw = r
        .header("location")
        .unwrap_or_else(|| panic!("no Location in a {} answer: {}", r.status, r.text));
    match base {
        Some(base) => base.join(raw).unwrap(),
        None => Url::parse(raw).unwrap_or_else(|e| panic!("Location {raw:?}: {e}")),
    }
}

fn query_of(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// `url` without its query.
fn without_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// The `Set-Cookie` values of an answer.
fn set_cookies(r: &Response) -> Vec<String> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Asserts that the answer deletes the inner cookie, as Stack Auth's callback
/// always does once it has found the flow.
#[track_caller]
fn assert_cookie_deleted(r: &Response) {
    let cookies = set_cookies(r);
    assert!(
        cookies.iter().any(|c| c.starts_with("stack-oauth-inner-")
            && c.contains("=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT")),
        "the inner cookie is not deleted: {cookies:?}"
    );
}

/// One sign-in as the app starts it: the query of its authorize request.
pub(crate) struct Flow<'a> {
    app: &'a TestApp,
    provider: &'a str,
    query: Vec<(String, String)>,
    verifier: &'static str,
}

/// A flow under way: the inner cookie (none in JSON mode) and the
/// provider's URL the browser was sent to.
struct Started {
    cookie: Option<String>,
    provider_url: Url,
}

impl<'a> Flow<'a> {
    /// `Auth.OAuth.getAuthorizeQuery` of Stack Auth's e2e helpers, for the
    /// internal project.
    pub(crate) fn new(app: &'a TestApp) -> Self {
        let query = [
            ("client_id", "internal"),
            ("client_secret", app.pck.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "legacy"),
            ("response_type", "code"),
            ("state", STATE),
            ("grant_type", "authorization_code"),
            ("code_challenge", PLAIN_VERIFIER),
            ("code_challenge_method", "plain"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
        Self {
            app,
            provider: PROVIDER,
            query,
            verifier: PLAIN_VERIFIER,
        }
    }

    fn provider(mut self, provider: &'a str) -> Self {
        self.provider = provider;
        self
    }

    /// The query with `name` set to `value`.
    fn with(mut self, name: &str, value: &str) -> Self {
        self.query.retain(|(k, _)| k != name);
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// S256 PKCE instead of plain.
    fn s256(self) -> Self {
        let mut flow = self
            .with("code_challenge", S256_CHALLENGE)
            .with("code_challenge_method", "S256");
        flow.verifier = S256_VERIFIER;
        flow
    }

    /// Linking to (or upgrading) the user of `session`.
    fn signed_in_as(self, session: &Session, kind: &str) -> Self {
        self.with("type", kind).with("token", &session.access)
    }

    fn url(&self) -> Url {
        let mut url = Url::parse(&format!(
            "{}/api/v1/auth/oauth/authorize/{}",
            self.app.base, self.provider
        ))
        .unwrap();
        url.query_pairs_mut().extend_pairs(&self.query);
        url
    }

    fn json_mode(&self) -> bool {
        self.query
            .iter()
            .any(|(k, v)| k == "stack_response_mode" && v == "json")
    }

    async fn authorize(&self) -> Response {
        read(browser().get(self.url())).await
    }

    /// Authorizes, expecting to be sent to the provider.
    async fn start(&self) -> Started {
        let r = self.authorize().await;
        if self.json_mode() {
            r.assert_status(200);
            assert_eq!(keys(&r.body), sorted(&["location"]), "{}", r.text);
            assert!(set_cookies(&r).is_empty(), "JSON mode sets no cookie");
            let provider_url = Url::parse(r.body["location"].as_str().unwrap()).unwrap();
            return Started {
                cookie: None,
                provider_url,
            };
        }
        r.assert_status(307);
        let cookies = set_cookies(&r);
        assert_eq!(cookies.len(), 1, "{cookies:?}");
        let cookie = cookies[0].split(';').next().unwrap().to_owned();
        Started {
            cookie: Some(cookie),
            provider_url: location(&r, None),
        }
    }

    /// Authorizes and signs in at the provider as `email`; returns the flow
    /// and the URL the provider sends the browser back to.
    async fn through_provider(&self, email: &str) -> (Started, Url) {
        let started = self.start().await;
        let back = provider_sign_in(&started.provider_url, email).await;
        (started, back)
    }

    /// The whole browser trip up to the callback's answer.
    async fn callback(&self, email: &str) -> Response {
        let (started, back) = self.through_provider(email).await;
        callback(&back, started.cookie.as_deref()).await
    }

    /// The app's authorization code for a sign-in as `email`.
    pub(crate) async fn code(&self, email: &str) -> String {
        app_code(&self.callback(email).await)
    }

    /// A whole sign-in as `email`: the token endpoint's answer.
    pub(crate) async fn sign_in(&self, email: &str) -> Response {
        let code = self.code(email).await;
        exchange(self.app, &code, self.verifier).await
    }
}

/// The mock provider's interaction sequence, as Stack Auth's
/// `Auth.OAuth.getInnerCallbackUrl` drives it: sign in as `email`, consent,
/// and return where the provider sends the browser.
async fn provider_sign_in(auth: &Url, email: &str) -> Url {
    let http = browser();
    let first = read(http.get(auth.as_str())).await;
    first.assert_status(303);
    let interaction = location(&first, Some(auth));
    let login = read(
        http.post(interaction.as_str())
            .form(&[("prompt", "login"), ("login", email)]),
    )
    .await;
    login.assert_status(303);
    let second = read(http.get(location(&login, Some(&interaction)))).await;
    second.assert_status(303);
    let consent_at = location(&second, Some(auth));
    let consent = read(
        http.post(consent_at.as_str())
            .form(&[("prompt", "consent")]),
    )
    .await;
    consent.assert_status(303);
    let third = read(http.get(location(&consent, Some(auth)))).await;
    third.assert_status(303);
    location(&third, None)
}

/// The browser arriving at the callback, with the inner cookie if given.
async fn callback(url: &Url, cookie: Option<&str>) -> Response {
    let mut request = browser().get(url.as_str());
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    read(request).await
}

/// The code of a successful callback: a 303 to the app with `code` and
/// `state` only.
#[track_caller]
fn app_code(r: &Response) -> String {
    r.assert_status(303);
    let to = location(r, None);
    assert_eq!(without_query(&to), REDIRECT);
    let query = query_of(&to);
    assert_eq!(keys(&json!(query)), sorted(&["code", "state"]), "{to}");
    assert_eq!(query["state"], STATE);
    query["code"].clone()
}

/// The query of a callback error sent back to `target` (a 307), with the
/// fields every such redirect has checked.
#[track_caller]
fn app_error(r: &Response, target: &str, code: &str) -> HashMap<String, String> {
    r.assert_status(307);
    let to = location(r, None);
    assert_eq!(without_query(&to), target);
    let query = query_of(&to);
    assert_eq!(
        keys(&json!(query)),
        sorted(&[
            "error",
            "error_description",
            "errorCode",
            "message",
            "details"
        ]),
        "{to}"
    );
    assert_eq!(query["error"], "server_error");
    assert_eq!(query["errorCode"], code);
    assert_eq!(query["error_description"], query["message"]);
    query
}

/// `POST /auth/oauth/token` with the authorization-code grant.
pub(crate) async fn exchange(app: &TestApp, code: &str, verifier: &str) -> Response {
    exchange_with(
        app,
        &[
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await
}

/// The grant with the client fields and `fields`.
async fn exchange_with(app: &TestApp, fields: &[(&str, &str)]) -> Response {
    let mut body = json!({
        "grant_type": "authorization_code",
        "client_id": "internal",
        "client_secret": app.pck,
    });
    for (k, v) in fields {
        body[*k] = json!(v);
    }
    app.post("/auth/oauth/token").json(body).send().await
}

/// The session of a successful token answer.
#[track_caller]
fn session_of(r: &Response) -> Session {
    r.assert_status(200);
    Session::from(&r.body)
}

/// `GET /users/me` as the client.
async fn me(app: &TestApp, s: &Session) -> Value {
    let r = app.get("/users/me").client().user(s).send().await;
    r.assert_status(200);
    r.body
}

/// The server view of a user.
async fn server_user(app: &TestApp, id: &str) -> Value {
    let r = app.get(&format!("/users/{id}")).server().send().await;
    r.assert_status(200);
    r.body
}

/// Merges `config` into the internal project's environment override.
async fn set_config(app: &TestApp, config: Value) {
    let r = app
        .patch("/internal/config/override/environment")
        .admin()
        .json(json!({ "config_override_string": config.to_string() }))
        .send()
        .await;
    r.assert_status(200);
}

/// A user who signs in with `email`, verified or not, made by the server.
async fn email_user(app: &TestApp, email: &str, verified: bool) -> String {
    let user = app
        .create_user(json!({
            "primary_email": email,
            "primary_email_verified": verified,
            "primary_email_auth_enabled": true,
        }))
        .await;
    user["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_new_account_signs_up_and_then_signs_in_as_the_same_user() {
    let app = spawn().await;
    let email = app.email();
    let flow = Flow::new(&app);

    // The authorize answer sends the browser to the provider with Stack
    // Auth's parameters, and sets the inner cookie.
    let authorize = flow.authorize().await;
    authorize.assert_status(307);
    let to = location(&authorize, None);
    assert_eq!(without_query(&to), format!("{}/auth", app.mock_oauth_base));
    let names: Vec<String> = to.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(
        names,
        [
            "client_id",
            "scope",
            "response_type",
            "redirect_uri",
            "code_challenge_method",
            "code_challenge",
            "state",
            "access_type",
            "prompt"
        ]
    );
    let query = query_of(&to);
    assert_eq!(query["client_id"], "spotify");
    assert_eq!(query["scope"], "openid offline_access");
    assert_eq!(
        query["redirect_uri"],
        format!(
            "http://localhost:{}/api/v1/auth/oauth/callback/spotify",
            app.addr.port()
        )
    );
    let cookie = &set_cookies(&authorize)[0];
    assert!(
        cookie.starts_with(&format!(
            "stack-oauth-inner-{}=true; Path=/; Expires=",
            query["state"]
        )) && cookie.ends_with("; Max-Age=600; HttpOnly"),
        "{cookie}"
    );

    // The rest of the trip, and the code's exchange.
    let (started, back) = flow.through_provider(&email).await;
    assert_eq!(
        back.origin(),
        Url::parse(&query["redirect_uri"]).unwrap().origin()
    );
    let answer = callback(&back, started.cookie.as_deref()).await;
    assert_cookie_deleted(&answer);
    let code = app_code(&answer);
    let tokens = exchange(&app, &code, PLAIN_VERIFIER).await;
    tokens.assert_status(200);
    assert_eq!(
        keys(&tokens.body),
        sorted(&[
            "access_token",
            "afterCallbackRedirectUrl",
            "after_callback_redirect_url",
            "expires_in",
            "is_new_user",
            "newUser",
            "refresh_token",
            "scope",
            "token_type",
        ])
    );
    assert_eq!(tokens.body["is_new_user"], true);
    assert_eq!(tokens.body["newUser"], true);
    assert_eq!(tokens.body["after_callback_redirect_url"], Value::Null);
    assert_eq!(tokens.header("pragma"), Some("no-cache"));
    let first = session_of(&tokens);
    let user = me(&app, &first).await;
    assert_eq!(
        user["oauth_providers"],
        json!([{ "id": "spotify", "account_id": email, "email": email }])
    );
    assert_eq!(user["primary_email"], email.as_str());
    assert_eq!(user["primary_email_verified"], true);
    assert_eq!(user["has_password"], false);
    assert_eq!(user["is_anonymous"], false);

    // The same provider account signs the same user in again.
    let again = flow.sign_in(&email).await;
    assert_eq!(again.body["is_new_user"], false, "{}", again.text);
    assert_eq!(again.body["newUser"], false);
    assert_eq!(me(&app, &session_of(&again)).await["id"], user["id"]);

    // Another account is another user.
    let other = flow.sign_in(&app.email()).await;
    assert_eq!(other.body["is_new_user"], true, "{}", other.text);
    assert_ne!(me(&app, &session_of(&other)).await["id"], user["id"]);
}

#[tokio::test]
async fn the_after_callback_redirect_url_comes_back_with_the_tokens() {
    let app = spawn().await;
    let r = Flow::new(&app)
        .with("after_callback_redirect_url", AFTER)
        .sign_in(&app.email())
        .await;
    r.assert_status(200);
    assert_eq!(r.body["after_callback_redirect_url"], AFTER);
    assert_eq!(r.body["afterCallbackRedirectUrl"], AFTER);
}

#[tokio::test]
async fn json_mode_answers_the_location_and_its_callback_needs_no_cookie() {
    let app = spawn().await;
    let flow = Flow::new(&app).with("stack_response_mode", "json");
    let (started, back) = flow.through_provider(&app.email()).await;
    assert_eq!(started.cookie, None);
    let answer = callback(&back, None).await;
    assert!(
        set_cookies(&answer).is_empty(),
        "{:?}",
        set_cookies(&answer)
    );
    let code = app_code(&answer);
    let tokens = exchange(&app, &code, PLAIN_VERIFIER).await;
    assert_eq!(tokens.body["is_new_user"], true, "{}", tokens.text);
    me(&app, &session_of(&tokens)).await;
}

#[tokio::test]
async fn authorize_refuses_bad_clients_providers_and_urls() {
    let app = spawn().await;
    for client_id in ["some-invalid-client-id", "internal#does-not-exist"] {
        let r = Flow::new(&app)
            .with("client_id", client_id)
            .authorize()
            .await;
        r.assert_error(400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET", BAD_CLIENT);
        assert_eq!(r.body["details"], json!({ "client_id": client_id }));
    }
    Flow::new(&app)
        .with("client_id", "internal#main")
        .authorize()
        .await
        .assert_status(307);

    let r = Flow::new(&app)
        .with("client_secret", "some-invalid-client-secret")
        .authorize()
        .await;
    r.assert_error(
        401,
        "INVALID_PUBLISHABLE_CLIENT_KEY",
        "The publishable key is not valid for the project \"internal\". Does the project and/or the key exist?",
    );
    assert_eq!(r.body["details"], json!({ "project_id": "internal" }));

    Flow::new(&app)
        .provider("discord")
        .authorize()
        .await
        .assert_error(
            400,
            "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED",
            "The OAuth provider is not found or not enabled.",
        );
    Flow::new(&app)
        .with("type", "link")
        .authorize()
        .await
        .assert_plain(400, "?token= query parameter is required for link type");
    Flow::new(&app)
        .with(
            "after_callback_redirect_url",
            "https://evil.example.com/post-auth",
        )
        .authorize()
        .await
        .assert_error(400, "REDIRECT_URL_NOT_WHITELISTED", NOT_WHITELISTED)
        .assert_no_details();
    Flow::new(&app)
        .with("provider_scope", "user-read-private user-library-modify")
        .authorize()
        .await
        .assert_error(
            400,
            "OAUTH_EXTRA_SCOPE_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS",
            "Extra scopes are not available with shared OAuth keys. Please add your own OAuth keys on the Stack dashboard to use extra scopes.",
        );
    // The refusals leave no flow behind.
    let flows: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_outer_flows")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(flows, 1, "only the internal#main request started a flow");

    // With the app's own keys, extra scopes are asked for.
    set_config(
        &app,
        json!({ "auth.oauth.providers.spotify": {
            "type": "spotify", "isShared": false, "clientId": "id", "clientSecret": "secret",
            "allowSignIn": true, "allowConnectedAccounts": true,
        }}),
    )
    .await;
    let r = Flow::new(&app)
        .with("provider_scope", "user-read-private")
        .authorize()
        .await;
    r.assert_status(307);
    assert_eq!(
        query_of(&location(&r, None))["scope"],
        "openid offline_access user-read-private"
    );
}

#[tokio::test]
async fn authorize_answers_schema_errors_for_missing_and_bad_fields() {
    let app = spawn().await;
    let path = "/api/v1/auth/oauth/authorize/spotify";
    let mut flow = Flow::new(&app);
    flow.query.clear();
    flow.authorize().await.assert_schema_error(
        "GET",
        path,
        &[
            "query.client_id must be defined",
            "query.client_secret must be defined",
            "query.redirect_uri must be defined",
            "query.scope must be defined",
            "query.state must be defined",
            "query.grant_type must be defined",
            "query.code_challenge must be defined",
            "query.code_challenge_method must be defined",
            "query.response_type must be defined",
        ],
    );
    Flow::new(&app)
        .with("after_callback_redirect_url", "not-a-valid-url")
        .authorize()
        .await
        .assert_schema_error(
            "GET",
            path,
            &["query.after_callback_redirect_url is not a valid URL"],
        );
    Flow::new(&app)
        .with("grant_type", "refresh_token")
        .with("type", "other")
        .authorize()
        .await
        .assert_schema_error(
            "GET",
            path,
            &[
                "query.type must be one of the following values: authenticate, link",
                "query.grant_type must be one of the following values: authorization_code",
            ],
        );
}

#[tokio::test]
async fn the_callback_refuses_an_unknown_state_and_a_missing_cookie() {
    let app = spawn().await;
    let flow = Flow::new(&app);
    let (started, back) = flow.through_provider(&app.email()).await;

    let mut forged = back.clone();
    forged
        .query_pairs_mut()
        .clear()
        .extend_pairs(query_of(&back).iter().map(|(k, v)| {
            let v = if k == "state" { "invalid-state" } else { v };
            (k.clone(), v.to_owned())
        }));
    let r = callback(&forged, started.cookie.as_deref()).await;
    r.assert_plain(400, BAD_STATE);
    assert!(set_cookies(&r).is_empty(), "{:?}", set_cookies(&r));

    let r = callback(&back, None).await;
    r.assert_plain(400, NO_COOKIE);
    assert_cookie_deleted(&r);
    let r = callback(&back, Some("stack-oauth-inner-other=true")).await;
    r.assert_plain(400, NO_COOKIE);
}

#[tokio::test]
async fn a_code_the_provider_does_not_know_is_an_invalid_grant() {
    let app = spawn().await;
    let flow = Flow::new(&app);

    // Another provider's callback for a spotify code, then a made-up code.
    let (started, back) = flow.through_provider(&app.email()).await;
    let mut github = back.clone();
    github.set_path("/api/v1/auth/oauth/callback/github");
    let r = callback(&github, started.cookie.as_deref()).await;
    r.assert_plain(400, INVALID_GRANT);
    assert_cookie_deleted(&r);

    let (started, back) = flow.through_provider(&app.email()).await;
    let mut made_up = back.clone();
    made_up
        .query_pairs_mut()
        .clear()
        .append_pair("code", "invalid-authorization-code")
        .append_pair("state", &query_of(&back)["state"]);
    callback(&made_up, started.cookie.as_deref())
        .await
        .assert_plain(400, INVALID_GRANT);
}

#[tokio::test]
async fn a_refusal_at_the_provider_goes_back_to_the_app() {
    let app = spawn().await;
    let started = Flow::new(&app).start().await;
    // The person cancels on the provider's page.
    let http = browser();
    let first = read(http.get(started.provider_url.as_str())).await;
    let interaction = location(&first, Some(&started.provider_url));
    let abort = read(http.get(format!("{interaction}/abort"))).await;
    abort.assert_status(303);
    let back = location(&abort, None);
    assert_eq!(query_of(&back)["error"], "access_denied");

    let r = callback(&back, started.cookie.as_deref()).await;
    let error = app_error(&r, REDIRECT, "OAUTH_PROVIDER_ACCESS_DENIED");
    assert_eq!(
        error["message"],
        "The OAuth provider denied access to the user."
    );
    assert_eq!(error["details"], "{}");
    assert_cookie_deleted(&r);
}

#[tokio::test]
async fn an_expired_flow_goes_back_to_the_app_with_outer_oauth_timeout() {
    let app = spawn().await;
    let (started, back) = Flow::new(&app).through_provider(&app.email()).await;
    sqlx::query("UPDATE oauth_outer_flows SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let r = callback(&back, started.cookie.as_deref()).await;
    let error = app_error(&r, REDIRECT, "OUTER_OAUTH_TIMEOUT");
    assert_eq!(
        error["message"],
        "The OAuth flow has timed out. Please sign in again."
    );
    assert_cookie_deleted(&r);
}

#[tokio::test]
async fn an_untrusted_redirect_uri_is_refused_before_anyone_signs_in() {
    let app = spawn().await;
    let email = app.email();
    let untrusted = "http://untrusted-redirect-url.stack-test.example.com/cb";
    let r = Flow::new(&app)
        .with("redirect_uri", untrusted)
        .callback(&email)
        .await;
    r.assert_error(400, "REDIRECT_URL_NOT_WHITELISTED", NOT_WHITELISTED);
    assert_cookie_deleted(&r);

    // With a trusted error URL, the error goes there.
    let to_error_page = Flow::new(&app)
        .with("redirect_uri", untrusted)
        .with("error_redirect_uri", AFTER)
        .callback(&email)
        .await;
    app_error(&to_error_page, AFTER, "REDIRECT_URL_NOT_WHITELISTED");

    // Nobody was signed up by the refused callbacks.
    let r = Flow::new(&app).sign_in(&email).await;
    assert_eq!(r.body["is_new_user"], true, "{}", r.text);
}

#[tokio::test]
async fn a_scope_other_than_legacy_is_refused_at_the_callback() {
    let app = spawn().await;
    for scope in ["openid", "legacy openid"] {
        let r = Flow::new(&app)
            .with("scope", scope)
            .callback(&app.email())
            .await;
        r.assert_plain(
            400,
            "Invalid scope requested. Please check the scopes you are requesting.",
        );
        assert_cookie_deleted(&r);
    }
}

#[tokio::test]
async fn the_code_grant_refuses_unknown_codes_wrong_verifiers_and_reuse() {
    let app = spawn().await;
    exchange(&app, "some-unknown-code", PLAIN_VERIFIER)
        .await
        .assert_error(400, "INVALID_AUTHORIZATION_CODE", INVALID_CODE);

    // A wrong verifier leaves the code usable; a used code is gone.
    let code = Flow::new(&app).code(&app.email()).await;
    exchange(&app, &code, "invalid-code-challenge")
        .await
        .assert_error(400, "INVALID_AUTHORIZATION_CODE", INVALID_CODE);
    exchange_with(&app, &[("code", &code), ("redirect_uri", REDIRECT)])
        .await
        .assert_known(400, "INVALID_AUTHORIZATION_CODE");
    exchange(&app, &code, PLAIN_VERIFIER)
        .await
        .assert_status(200);
    exchange(&app, &code, PLAIN_VERIFIER).await.assert_error(
        400,
        "INVALID_AUTHORIZATION_CODE",
        INVALID_CODE,
    );

    // With S256, the challenge itself is not a verifier.
    let flow = Flow::new(&app).s256();
    let code = flow.code(&app.email()).await;
    exchange(&app, &code, S256_CHALLENGE)
        .await
        .assert_known(400, "INVALID_AUTHORIZATION_CODE");
    exchange(&app, &code, S256_VERIFIER)
        .await
        .assert_status(200);

    // An expired code.
    let code = Flow::new(&app).code(&app.email()).await;
    sqlx::query("UPDATE oauth_authorization_codes SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    exchange(&app, &code, PLAIN_VERIFIER)
        .await
        .assert_known(400, "INVALID_AUTHORIZATION_CODE");
}

#[tokio::test]
async fn the_code_grant_checks_the_redirect_uri_after_using_the_code_up() {
    let app = spawn().await;
    let code = Flow::new(&app).code(&app.email()).await;
    exchange_with(
        &app,
        &[
            ("code", &code),
            ("code_verifier", PLAIN_VERIFIER),
            ("redirect_uri", "http://invalid-redirect-uri.example.com"),
        ],
    )
    .await
    .assert_plain(400, REDIRECT_MISMATCH);
    // Stack Auth's OAuth library revokes the code before it compares the
    // redirect URI.
    exchange(&app, &code, PLAIN_VERIFIER)
        .await
        .assert_known(400, "INVALID_AUTHORIZATION_CODE");

    let code = Flow::new(&app).code(&app.email()).await;
    let r = exchange_with(&app, &[("code", &code), ("code_verifier", PLAIN_VERIFIER)]).await;
    r.assert_status(400);
    assert_eq!(
        r.body,
        json!({
            "error": "invalid_request",
            "error_description": "Invalid request: `redirect_uri` is not a valid URI",
        })
    );

    // The code and its verifier are checked first.
    exchange_with(
        &app,
        &[("code", "unknown"), ("code_verifier", PLAIN_VERIFIER)],
    )
    .await
    .assert_known(400, "INVALID_AUTHORIZATION_CODE");
    let code = Flow::new(&app).code(&app.email()).await;
    exchange_with(
        &app,
        &[
            ("code", &code),
            ("code_verifier", "wrong"),
            ("redirect_uri", "http://invalid-redirect-uri.example.com"),
        ],
    )
    .await
    .assert_known(400, "INVALID_AUTHORIZATION_CODE");
}

#[tokio::test]
async fn two_concurrent_exchanges_of_one_code_give_exactly_one_session() {
    let app = spawn().await;
    for _ in 0..3 {
        let code = Flow::new(&app).code(&app.email()).await;
        let (a, b) = tokio::join!(
            exchange(&app, &code, PLAIN_VERIFIER),
            exchange(&app, &code, PLAIN_VERIFIER)
        );
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "{} / {}", a.text, b.text);
        let refused = if a.status == 400 { &a } else { &b };
        refused.assert_error(400, "INVALID_AUTHORIZATION_CODE", INVALID_CODE);
    }
}

#[tokio::test]
async fn link_method_joins_a_verified_password_user() {
    let app = spawn().await;
    set_config(
        &app,
        json!({ "auth.oauth.accountMergeStrategy": "link_method" }),
    )
    .await;
    let email = app.email();
    let password_user = app.sign_up(&email, "correct horse battery").await;
    let id = me(&app, &password_user).await["id"].clone();
    app.patch(&format!("/users/{}", id.as_str().unwrap()))
        .server()
        .json(json!({ "primary_email_verified": true }))
        .send()
        .await
        .assert_status(200);

    let r = Flow::new(&app).sign_in(&email).await;
    assert_eq!(r.body["is_new_user"], false, "{}", r.text);
    let user = me(&app, &session_of(&r)).await;
    assert_eq!(user["id"], id);
    assert_eq!(user["has_password"], true);
    assert_eq!(
        user["oauth_providers"],
        json!([{ "id": "spotify", "account_id": email, "email": email }])
    );
    // The password still signs in.
    app.post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": email, "password": "correct horse battery" }))
        .send()
        .await
        .assert_status(200);
}

#[tokio::test]
async fn link_method_refuses_an_email_its_owner_has_not_verified() {
    let app = spawn().await;
    set_config(
        &app,
        json!({ "auth.oauth.accountMergeStrategy": "link_method" }),
    )
    .await;
    let email = app.email();
    app.sign_up(&email, "correct horse battery").await;
    let r = Flow::new(&app).callback(&email).await;
    let error = app_error(
        &r,
        REDIRECT,
        "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE",
    );
    assert_eq!(
        error["message"],
        format!(
            "This email \"({email})\" is already used for authentication by another account but the email is not verified. Please login to your existing account with the method you used to sign up, and then verify your email to sign in with this login method."
        )
    );
    let details: Value = serde_json::from_str(&error["details"]).unwrap();
    assert_eq!(
        details,
        json!({
            "type": "email",
            "contact_channel_value": email,
            "would_work_if_email_was_verified": true,
        })
    );
    assert_cookie_deleted(&r);
}

#[tokio::test]
async fn raise_error_refuses_an_email_someone_signs_in_with() {
    let app = spawn().await;
    set_config(
        &app,
        json!({ "auth.oauth.accountMergeStrategy": "raise_error" }),
    )
    .await;
    let email = app.email();
    email_user(&app, &email, true).await;
    let r = Flow::new(&app).callback(&email).await;
    let error = app_error(
        &r,
        REDIRECT,
        "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE",
    );
    assert_eq!(
        error["message"],
        format!("This email \"({email})\" is already used for authentication by another account.")
    );
    let details: Value = serde_json::from_str(&error["details"]).unwrap();
    assert_eq!(details["would_work_if_email_was_verified"], false);

    // An email nobody signs in with is a sign-up as usual.
    let r = Flow::new(&app).sign_in(&app.email()).await;
    assert_eq!(r.body["is_new_user"], true, "{}", r.text);
}

#[tokio::test]
async fn allow_duplicates_makes_a_second_user_whose_email_does_not_sign_in() {
    let app = spawn().await;
    set_config(
        &app,
        json!({ "auth.oauth.accountMergeStrategy": "allow_duplicates" }),
    )
    .await;
    let email = app.email();
    let first = email_user(&app, &email, true).await;

    let r = Flow::new(&app).sign_in(&email).await;
    assert_eq!(r.body["is_new_user"], true, "{}", r.text);
    let second = me(&app, &session_of(&r)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second, first);
    let duplicate = server_user(&app, &second).await;
    assert_eq!(duplicate["primary_email"], email.as_str());
    assert_eq!(duplicate["primary_email_verified"], true);
    assert_eq!(duplicate["primary_email_auth_enabled"], false);
    assert_eq!(
        server_user(&app, &first).await["primary_email_auth_enabled"],
        true
    );

    // The provider account signs the duplicate in from now on.
    let again = Flow::new(&app).sign_in(&email).await;
    assert_eq!(again.body["is_new_user"], false, "{}", again.text);
    assert_eq!(me(&app, &session_of(&again)).await["id"], second.as_str());
}

#[tokio::test]
async fn closed_sign_up_refuses_new_accounts_but_not_existing_ones() {
    let app = spawn().await;
    let known = app.email();
    Flow::new(&app).sign_in(&known).await.assert_status(200);
    let manual = app.email();
    let manual_id = email_user(&app, &manual, true).await;
    set_config(
        &app,
        json!({ "auth.allowSignUp": false, "auth.oauth.accountMergeStrategy": "link_method" }),
    )
    .await;

    let r = Flow::new(&app).callback(&app.email()).await;
    let error = app_error(&r, REDIRECT, "SIGN_UP_NOT_ENABLED");
    assert_eq!(
        error["message"],
        "Creation of new accounts is not enabled for this project. Please ask the project owner to enable it."
    );
    assert_eq!(error["details"], "{}");

    let r = Flow::new(&app).sign_in(&known).await;
    assert_eq!(r.body["is_new_user"], false, "{}", r.text);
    // A user the server made signs in with the provider account of their
    // verified email.
    let r = Flow::new(&app).sign_in(&manual).await;
    assert_eq!(r.body["is_new_user"], false, "{}", r.text);
    assert_eq!(me(&app, &session_of(&r)).await["id"], manual_id.as_str());
}

#[tokio::test]
async fn a_signed_in_user_links_a_provider_account_once() {
    let app = spawn().await;
    let owner_email = app.email();
    let owner_id = email_user(&app, &owner_email, true).await;
    let owner = app.session_for(&owner_id).await;
    let account = app.email();

    let r = Flow::new(&app)
        .signed_in_as(&owner, "link")
        .sign_in(&account)
        .await;
    assert_eq!(r.body["is_new_user"], false, "{}", r.text);
    let user = me(&app, &session_of(&r)).await;
    assert_eq!(user["id"], owner_id.as_str());
    assert_eq!(user["primary_email"], owner_email.as_str());
    assert_eq!(
        user["oauth_providers"],
        json!([{ "id": "spotify", "account_id": account, "email": account }])
    );
    // The linked account signs its user in.
    let r = Flow::new(&app).sign_in(&account).await;
    assert_eq!(me(&app, &session_of(&r)).await["id"], owner_id.as_str());
    // Linking it again to the same user is fine.
    let r = Flow::new(&app)
        .signed_in_as(&owner, "link")
        .sign_in(&account)
        .await;
    assert_eq!(me(&app, &session_of(&r)).await["id"], owner_id.as_str());

    // Someone else cannot take it.
    let other_id = email_user(&app, &app.email(), true).await;
    let other = app.session_for(&other_id).await;
    let r = Flow::new(&app)
        .signed_in_as(&other, "link")
        .callback(&account)
        .await;
    let error = app_error(
        &r,
        REDIRECT,
        "OAUTH_CONNECTION_ALREADY_CONNECTED_TO_ANOTHER_USER",
    );
    assert_eq!(
        error["message"],
        "The OAuth connection is already connected to another user."
    );
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_accounts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
}

#[tokio::test]
async fn an_anonymous_user_is_upgraded_in_place() {
    let app = spawn().await;
    let anonymous = app.anonymous().await;
    let r = app
        .get("/users/me")
        .client()
        .user(&anonymous)
        .allow_anonymous()
        .send()
        .await;
    assert_eq!(r.body["is_anonymous"], true, "{}", r.text);
    let anonymous_id = r.body["id"].clone();
    let email = app.email();
    let r = Flow::new(&app)
        .signed_in_as(&anonymous, "authenticate")
        .sign_in(&email)
        .await;
    assert_eq!(r.body["is_new_user"], true, "{}", r.text);
    let user = me(&app, &session_of(&r)).await;
    assert_eq!(user["id"], anonymous_id);
    assert_eq!(user["is_anonymous"], false);
    assert_eq!(user["primary_email"], email.as_str());
    assert_eq!(user["primary_email_verified"], true);
    assert_eq!(
        user["oauth_providers"],
        json!([{ "id": "spotify", "account_id": email, "email": email }])
    );
}

/// `POST /connected-accounts/me/spotify/access-token` as the client.
async fn connected_token(app: &TestApp, s: &Session) -> Response {
    app.post("/connected-accounts/me/spotify/access-token")
        .client()
        .user(s)
        .json(json!({ "scope": "openid" }))
        .send()
        .await
}

/// The mock's userinfo status for `access_token`.
async fn mock_me_status(app: &TestApp, access_token: &str) -> u16 {
    browser()
        .get(format!("{}/me", app.mock_oauth_base))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A test hook of the mock.
async fn mock_hook(app: &TestApp, hook: &str, access_token: &str) {
    let r = read(
        browser()
            .post(format!("{}/{hook}", app.mock_oauth_base))
            .json(&json!({ "token": access_token })),
    )
    .await;
    r.assert_status(200);
}

#[tokio::test]
async fn connected_account_tokens_come_from_the_sign_in_and_are_refreshed_at_the_mock() {
    let app = spawn().await;
    let s = session_of(&Flow::new(&app).sign_in(&app.email()).await);

    // The access token kept from the sign-in works at the provider.
    let r = connected_token(&app, &s).await;
    r.assert_status(201);
    let first = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(mock_me_status(&app, &first).await, 200);
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT token FROM oauth_provider_tokens WHERE kind = 'access' AND is_valid",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, std::slice::from_ref(&first));
    assert_eq!(connected_token(&app, &s).await.body["access_token"], first);

    // Revoked at the provider: the server refreshes it.
    mock_hook(&app, "revoke-access-token", &first).await;
    let r = connected_token(&app, &s).await;
    r.assert_status(201);
    let second = r.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(mock_me_status(&app, &second).await, 200);
    assert_eq!(connected_token(&app, &s).await.body["access_token"], second);

    // The grant revoked: nothing left to hand out.
    mock_hook(&app, "revoke-refresh-token", &second).await;
    connected_token(&app, &s).await.assert_error(
        400,
        "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE",
        NO_SCOPE,
    );
}

/// Changes the public API URL as a rotation does (a settings row and its
/// NOTIFY), and waits until the server uses it for new sign-ins.
async fn change_public_url(app: &TestApp, url: &str) {
    sqlx::query(
        "UPDATE server_settings SET value = $1, updated_at = now() WHERE name = 'public_api_url'",
    )
    .bind(url)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("SELECT pg_notify('stack_server_settings', 'test')")
        .execute(&app.pool)
        .await
        .unwrap();
    let callback = format!("{url}/api/v1/auth/oauth/callback/spotify");
    let flow = Flow::new(app).with("stack_response_mode", "json");
    wait_until(
        "the server to use the new public URL",
        Duration::from_secs(10),
        || async {
            let r = flow.authorize().await;
            let to = Url::parse(r.body["location"].as_str().unwrap_or("x:")).unwrap();
            query_of(&to).get("redirect_uri") == Some(&callback)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_new_public_url_moves_the_callback_and_flows_under_way_still_finish() {
    let app = spawn().await;
    let before = Flow::new(&app);
    let (under_way, old_back) = before.through_provider(&app.email()).await;
    assert_eq!(old_back.host_str(), Some("localhost"));

    let new_url = format!("http://127.0.0.1:{}", app.addr.port());
    change_public_url(&app, &new_url).await;

    // A new sign-in comes back to the new URL.
    let (started, back) = Flow::new(&app).through_provider(&app.email()).await;
    assert_eq!(
        without_query(&back),
        format!("{new_url}/api/v1/auth/oauth/callback/spotify")
    );
    let code = app_code(&callback(&back, started.cookie.as_deref()).await);
    session_of(&exchange(&app, &code, PLAIN_VERIFIER).await);

    // The sign-in started before the change still finishes.
    let code = app_code(&callback(&old_back, under_way.cookie.as_deref()).await);
    session_of(&exchange(&app, &code, PLAIN_VERIFIER).await);
}
