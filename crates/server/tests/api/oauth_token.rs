//! `POST /auth/oauth/token` with the refresh-token grant (spec §2.6; facts §6),
//! which the SDK uses to renew access tokens: the response shape and headers
//! of the OAuth library, client checks, and revoked or missing tokens.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;

use crate::helpers::{Response, Session, TestApp, claims, keys, sorted};

const REVOKED: &str =
    "Refresh token not found for this project, or the session has expired/been revoked.";
const BAD_CLIENT: &str = "The OAuth client ID or secret is invalid. The client ID must be equal to the project ID (potentially with a hash and a branch ID), and the client secret must be a publishable client key.";

async fn new_user(app: &TestApp) -> Session {
    let user = app
        .create_user(json!({ "primary_email": app.email() }))
        .await;
    app.session_for(user["id"].as_str().unwrap()).await
}

async fn oauth_refresh(app: &TestApp, pairs: &[(&str, &str)]) -> Response {
    app.post("/auth/oauth/token").form(pairs).send().await
}

#[tokio::test]
async fn the_oauth_refresh_grant_answers_like_the_oauth_library() {
    let app = TestApp::spawn().await;
    let a = new_user(&app).await;
    let r = oauth_refresh(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &a.refresh),
            ("client_id", "internal"),
            ("client_secret", &app.pck),
        ],
    )
    .await;
    r.assert_status(200);
    assert_eq!(
        keys(&r.body),
        sorted(&[
            "access_token",
            "token_type",
            "expires_in",
            "scope",
            "afterCallbackRedirectUrl",
            "after_callback_redirect_url",
        ])
    );
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["scope"], "legacy");
    assert!(
        matches!(r.body["expires_in"].as_i64(), Some(3599 | 3600)),
        "{}",
        r.text
    );
    assert_eq!(r.body["afterCallbackRedirectUrl"], json!(null));
    assert_eq!(r.body["after_callback_redirect_url"], json!(null));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let c = claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], a.user_id.as_str());
    assert_eq!(c["refresh_token_id"], claims(&a.access)["refresh_token_id"]);
    // The new token works.
    let me = app
        .get("/users/me")
        .client()
        .header(
            "x-stack-access-token",
            r.body["access_token"].as_str().unwrap(),
        )
        .send()
        .await;
    me.assert_status(200);
}

#[tokio::test]
async fn the_oauth_refresh_grant_accepts_json_branches_the_sentinel_and_extra_fields() {
    let app = TestApp::spawn().await;
    let a = new_user(&app).await;
    let r = app
        .post("/auth/oauth/token")
        .json(json!({
            "grant_type": "refresh_token",
            "refresh_token": a.refresh,
            "client_id": "internal",
            "client_secret": app.pck,
        }))
        .send()
        .await;
    r.assert_status(200);
    for (client_id, secret) in [
        ("internal#main", app.pck.as_str()),
        ("internal", "__stack_public_client__"),
    ] {
        let r = oauth_refresh(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &a.refresh),
                ("client_id", client_id),
                ("client_secret", secret),
                ("unknown_extra", "ignored"),
            ],
        )
        .await;
        r.assert_status(200);
    }
}

#[tokio::test]
async fn the_oauth_refresh_grant_refuses_wrong_clients() {
    let app = TestApp::spawn().await;
    let a = new_user(&app).await;
    for (client_id, secret) in [
        ("internal", "pck_wrong"),
        ("no-such-project", app.pck.as_str()),
        ("7f2f9b4e-0d36-4c1a-9a43-3c5a4a0f5b11", app.pck.as_str()),
        ("internal#other-branch", app.pck.as_str()),
        ("internal", app.ssk.as_str()),
    ] {
        let r = oauth_refresh(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &a.refresh),
                ("client_id", client_id),
                ("client_secret", secret),
            ],
        )
        .await;
        r.assert_error(400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET", BAD_CLIENT);
        assert_eq!(
            r.body["details"],
            json!({ "client_id": null }),
            "{client_id}"
        );
    }
    let r = oauth_refresh(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &a.refresh),
            ("client_secret", &app.pck),
        ],
    )
    .await;
    r.assert_known(400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET");
}

#[tokio::test]
async fn the_oauth_refresh_grant_refuses_revoked_and_missing_tokens() {
    let app = TestApp::spawn().await;
    let a = new_user(&app).await;
    app.delete("/auth/sessions/current")
        .client()
        .user(&a)
        .send()
        .await
        .assert_status(200);
    let r = oauth_refresh(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &a.refresh),
            ("client_id", "internal"),
            ("client_secret", &app.pck),
        ],
    )
    .await;
    r.assert_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED", REVOKED)
        .assert_no_details();
    assert_eq!(
        r.text,
        format!(
            "{{\n  \"code\": \"REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED\",\n  \"error\": \"{REVOKED}\"\n}}"
        )
    );

    let r = oauth_refresh(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "internal"),
            ("client_secret", &app.pck),
        ],
    )
    .await;
    r.assert_status(400);
    assert_eq!(
        r.body,
        json!({ "error": "invalid_request", "error_description": "Missing parameter: `refresh_token`" })
    );
    assert_eq!(r.header("x-stack-known-error"), None);
}

#[tokio::test]
async fn the_oauth_token_grant_type_is_validated() {
    let app = TestApp::spawn().await;
    let r = oauth_refresh(
        &app,
        &[("client_id", "internal"), ("client_secret", &app.pck)],
    )
    .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/auth/oauth/token",
        &["body.grant_type must be defined"],
    );
    let r = oauth_refresh(
        &app,
        &[
            ("grant_type", "password"),
            ("client_id", "internal"),
            ("client_secret", &app.pck),
        ],
    )
    .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/auth/oauth/token",
        &["body.grant_type must be one of the following values: authorization_code, refresh_token"],
    );
}
