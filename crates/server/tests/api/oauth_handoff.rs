//! The OAuth routes that do not go through a provider: the cross-domain
//! session handoff (a code bound to the caller's session and a PKCE
//! challenge, exchanged for the same session), and native Apple sign-in,
//! whose identity tokens the offline emulator cannot verify.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::{Value, json};

use crate::helpers::{Response, Session, TestApp};

/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://localhost:3000/handler/oauth-callback?stack_cross_domain_auth=1";

async fn handoff(app: &TestApp, s: &Session, body: Value) -> Response {
    app.post("/auth/oauth/cross-domain/authorize")
        .client()
        .user(s)
        .header("x-stack-refresh-token", &s.refresh)
        .json(body)
        .send()
        .await
}

fn body(redirect: &str) -> Value {
    json!({
        "redirect_uri": redirect,
        "state": "st",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "after_callback_redirect_url": "http://localhost:3000/after",
    })
}

async fn exchange(app: &TestApp, code: &str, redirect: &str, verifier: &str) -> Response {
    app.post("/auth/oauth/token")
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "internal"),
            ("client_secret", &app.pck),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
        .send()
        .await
}

fn code_of(r: &Response) -> String {
    let url = url::Url::parse(r.body["redirect_url"].as_str().unwrap()).unwrap();
    assert_eq!(
        url.query_pairs()
            .find(|(k, _)| k == "stack_cross_domain_auth")
            .map(|(_, v)| v.into_owned()),
        Some("1".into()),
        "the redirect URI's own query is kept"
    );
    assert_eq!(
        url.query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned()),
        Some("st".into())
    );
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn a_handoff_code_continues_the_same_session_once() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "a-long-password-1").await;
    let r = handoff(&app, &s, body(REDIRECT)).await;
    r.assert_status(200);
    let code = code_of(&r);

    // A wrong verifier leaves the code usable; the right one uses it up.
    exchange(&app, &code, REDIRECT, "x".repeat(43).as_str())
        .await
        .assert_known(400, "INVALID_AUTHORIZATION_CODE");
    let t = exchange(&app, &code, REDIRECT, VERIFIER).await;
    t.assert_status(200);
    assert_eq!(t.body["refresh_token"], json!(s.refresh), "{}", t.body);
    assert_eq!(t.body["is_new_user"], json!(false));
    assert_eq!(
        t.body["after_callback_redirect_url"],
        json!("http://localhost:3000/after")
    );
    let me = app
        .get("/users/me")
        .client()
        .header(
            "x-stack-access-token",
            t.body["access_token"].as_str().unwrap(),
        )
        .send()
        .await;
    me.assert_status(200);
    assert_eq!(me.body["id"], json!(s.user_id));
    exchange(&app, &code, REDIRECT, VERIFIER)
        .await
        .assert_known(400, "INVALID_AUTHORIZATION_CODE");
}

#[tokio::test]
async fn a_handoff_needs_the_callers_own_session_and_trusted_urls() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "a-long-password-1").await;
    let other = app.sign_up(&app.email(), "a-long-password-1").await;

    // No user: only a refresh token is not enough.
    app.post("/auth/oauth/cross-domain/authorize")
        .client()
        .header("x-stack-refresh-token", &s.refresh)
        .json(body(REDIRECT))
        .send()
        .await
        .assert_known(401, "USER_AUTHENTICATION_REQUIRED");
    app.post("/auth/oauth/cross-domain/authorize")
        .client()
        .user(&s)
        .json(body(REDIRECT))
        .send()
        .await
        .assert_plain(
            400,
            "Cross-domain auth handoff requires passing the current refresh token.",
        );
    app.post("/auth/oauth/cross-domain/authorize")
        .client()
        .user(&s)
        .header("x-stack-refresh-token", &other.refresh)
        .json(body(REDIRECT))
        .send()
        .await
        .assert_plain(
            401,
            "Cross-domain auth handoff refresh token does not match the authenticated session.",
        );
    handoff(&app, &s, body("https://evil.example.com/cb"))
        .await
        .assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");
    let mut untrusted_after = body(REDIRECT);
    untrusted_after["after_callback_redirect_url"] = json!("https://evil.example.com/after");
    handoff(&app, &s, untrusted_after)
        .await
        .assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");
    let mut short = body(REDIRECT);
    short["code_challenge"] = json!("too-short");
    handoff(&app, &s, short)
        .await
        .assert_known(400, "SCHEMA_ERROR");

    // A code issued to one redirect URI is refused for another.
    let code = code_of(&handoff(&app, &s, body(REDIRECT)).await);
    exchange(&app, &code, "http://localhost:3000/elsewhere", VERIFIER)
        .await
        .assert_plain(
            400,
            "Invalid redirect URI. Your redirect URI must be the same as the one used to get the authorization code.",
        );
}

#[tokio::test]
async fn native_apple_sign_in_checks_the_provider_and_refuses_unverifiable_tokens() {
    let app = TestApp::spawn().await;
    let set = |value: Value| {
        app.patch("/internal/config/override/environment")
            .admin()
            .json(json!({ "config_override_string": value.to_string() }))
            .send()
    };
    let sign_in = || {
        app.post("/auth/oauth/callback/apple/native")
            .client()
            .json(json!({ "id_token": "header.payload.signature" }))
            .send()
    };
    set(json!({ "auth.oauth.providers.apple": null }))
        .await
        .assert_status(200);
    sign_in()
        .await
        .assert_known(400, "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED");
    set(json!({ "auth.oauth.providers.apple": { "type": "apple", "isShared": false, "clientId": "id", "clientSecret": "s", "allowSignIn": true } }))
        .await
        .assert_status(200);
    sign_in()
        .await
        .assert_known(400, "APPLE_BUNDLE_ID_NOT_CONFIGURED");
    set(json!({ "auth.oauth.providers.apple.appleBundles": { "b1": { "bundleId": "com.example.app" } } }))
        .await
        .assert_status(200);
    sign_in()
        .await
        .assert_known(400, "INVALID_APPLE_CREDENTIALS");
    app.post("/auth/oauth/callback/apple/native")
        .client()
        .json(json!({}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
}
