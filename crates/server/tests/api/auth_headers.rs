//! Request authentication from headers (spec §1.2–§1.4, §1.6): every known
//! error of the resolution order, user access tokens (bad, expired, of another
//! project, anonymous, restricted), and the `x-hexclave-` header aliases.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Spawn, TestApp, claims, wait_until};

const AUTH_DOCS: &str = "For more information, see the docs on REST API authentication: https://docs.stack-auth.com/rest-api/overview#authentication";
const WELCOME: &str = "Welcome to the Stack API endpoint! Please refer to the documentation at https://docs.stack-auth.com.\n\nAuthentication: ";

#[tokio::test]
async fn a_key_or_admin_token_without_access_type_is_refused() {
    let app = TestApp::spawn().await;
    for header in [
        "x-stack-publishable-client-key",
        "x-stack-secret-server-key",
        "x-stack-super-secret-admin-key",
        "x-stack-admin-access-token",
    ] {
        let r = app
            .get("")
            .project("internal")
            .header(header, "some-value")
            .send()
            .await;
        r.assert_error(
            400,
            "PROJECT_KEY_WITHOUT_ACCESS_TYPE",
            "Either an API key or an admin access token was provided, but the x-stack-access-type header is missing. Set it to 'client', 'server', or 'admin' as appropriate.",
        )
        .assert_no_details();
    }
}

#[tokio::test]
async fn without_access_type_the_request_is_unauthenticated_even_with_an_access_token() {
    let app = TestApp::spawn().await;
    let r = app
        .get("")
        .project("internal")
        .header("x-stack-access-token", "12341234")
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.text, format!("{WELCOME}None"));
}

#[tokio::test]
async fn an_unknown_access_type_is_refused_before_the_project_is_checked() {
    let app = TestApp::spawn().await;
    // No project id either: the access type is checked first.
    let r = app
        .get("")
        .header("x-stack-access-type", "superuser")
        .send()
        .await;
    r.assert_error(
        400,
        "INVALID_ACCESS_TYPE",
        "The x-stack-access-type header must be 'client', 'server', or 'admin', but was 'superuser'.",
    )
    .assert_no_details();
}

#[tokio::test]
async fn an_access_type_without_project_id_is_refused() {
    let app = TestApp::spawn().await;
    let r = app
        .get("")
        .header("x-stack-access-type", "server")
        .header("x-stack-secret-server-key", &app.ssk)
        .send()
        .await;
    r.assert_error(
        400,
        "ACCESS_TYPE_WITHOUT_PROJECT_ID",
        &format!(
            "The x-stack-access-type header was 'server', but the x-stack-project-id header was not provided.\n\n{AUTH_DOCS}"
        ),
    );
    assert_eq!(r.body["details"], json!({ "request_type": "server" }));
}

#[tokio::test]
async fn an_unknown_project_is_refused_before_the_key() {
    let app = TestApp::spawn().await;
    for project in ["invalid", "7f2f9b4e-0d36-4c1a-9a43-3c5a4a0f5b11"] {
        let r = app
            .get("")
            .with_key("client", project, "not-a-key")
            .send()
            .await;
        r.assert_error(
            400,
            "CURRENT_PROJECT_NOT_FOUND",
            &format!(
                "The current project with ID {project} was not found. Please check the value of the x-stack-project-id header."
            ),
        );
        assert_eq!(r.body["details"], json!({ "project_id": project }));
    }
}

#[tokio::test]
async fn wrong_keys_are_refused_with_the_quoted_project_id() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            "client",
            "INVALID_PUBLISHABLE_CLIENT_KEY",
            "The publishable key is not valid for the project \"internal\". Does the project and/or the key exist?",
        ),
        (
            "server",
            "INVALID_SECRET_SERVER_KEY",
            "The secret server key is not valid for the project \"internal\". Does the project and/or the key exist?",
        ),
        (
            "admin",
            "INVALID_SUPER_SECRET_ADMIN_KEY",
            "The super secret admin key is not valid for the project \"internal\". Does the project and/or the key exist?",
        ),
    ];
    for (access, code, message) in cases {
        let r = app
            .get("")
            .with_key(access, "internal", "wrong-key")
            .send()
            .await;
        r.assert_error(401, code, message);
        assert_eq!(r.body["details"], json!({ "project_id": "internal" }));
    }
}

#[tokio::test]
async fn a_key_of_another_kind_is_not_accepted() {
    let app = TestApp::spawn().await;
    // The real publishable key sent as the server key, and the server key as the admin key.
    let r = app
        .get("")
        .with_key("server", "internal", &app.pck)
        .send()
        .await;
    r.assert_known(401, "INVALID_SECRET_SERVER_KEY");
    let r = app
        .get("")
        .with_key("admin", "internal", &app.ssk)
        .send()
        .await;
    r.assert_known(401, "INVALID_SUPER_SECRET_ADMIN_KEY");
    let r = app
        .get("")
        .with_key("client", "internal", &app.sak)
        .send()
        .await;
    r.assert_known(401, "INVALID_PUBLISHABLE_CLIENT_KEY");
}

#[tokio::test]
async fn server_and_admin_access_need_their_key() {
    let app = TestApp::spawn().await;
    for key in [None, Some("")] {
        let mut req = app.get("").access("server", "internal");
        if let Some(k) = key {
            req = req.header("x-stack-secret-server-key", k);
        }
        req.send()
            .await
            .assert_error(
                401,
                "SERVER_AUTHENTICATION_REQUIRED",
                "The secret server key must be provided.",
            )
            .assert_no_details();
        let mut req = app.get("").access("admin", "internal");
        if let Some(k) = key {
            req = req.header("x-stack-super-secret-admin-key", k);
        }
        req.send()
            .await
            .assert_error(
                401,
                "ADMIN_AUTHENTICATION_REQUIRED",
                "The super secret admin key must be provided.",
            )
            .assert_no_details();
    }
}

#[tokio::test]
async fn client_access_without_a_key_or_with_the_public_sentinel_is_allowed() {
    let app = TestApp::spawn().await;
    let expected = format!("{WELCOME}Client\n  Project: internal\n  User: None");
    let r = app.get("").access("client", "internal").send().await;
    r.assert_status(200);
    assert_eq!(r.text, expected);
    let r = app
        .get("")
        .with_key("client", "internal", "__stack_public_client__")
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.text, expected);
}

#[tokio::test]
async fn each_access_type_is_reported_with_its_user() {
    let app = TestApp::spawn().await;
    let user = app
        .create_user(json!({ "primary_email": "root-greeting@example.com" }))
        .await;
    let s = app.session_for(user["id"].as_str().unwrap()).await;
    for (kind, req) in [
        ("Client", app.get("").client()),
        ("Server", app.get("").server()),
        ("Admin", app.get("").admin()),
    ] {
        let r = req.user(&s).send().await;
        r.assert_status(200);
        assert_eq!(
            r.text,
            format!("{WELCOME}{kind}\n  Project: internal\n  User: root-greeting@example.com")
        );
    }
}

#[tokio::test]
async fn an_unknown_branch_is_refused_after_the_keys() {
    let app = TestApp::spawn().await;
    let r = app
        .get("")
        .server()
        .header("x-stack-branch-id", "invalid-branch")
        .send()
        .await;
    r.assert_error(
        400,
        "BRANCH_DOES_NOT_EXIST",
        "The branch with ID invalid-branch does not exist.",
    );
    assert_eq!(r.body["details"], json!({ "branch_id": "invalid-branch" }));
    // A wrong key is reported before the branch.
    let r = app
        .get("")
        .with_key("server", "internal", "wrong")
        .header("x-stack-branch-id", "invalid-branch")
        .send()
        .await;
    r.assert_known(401, "INVALID_SECRET_SERVER_KEY");
    // `main` is the default and may be named.
    let r = app
        .get("")
        .server()
        .header("x-stack-branch-id", "main")
        .send()
        .await;
    r.assert_status(200);
}

#[tokio::test]
async fn a_garbage_access_token_is_unparsable_even_for_an_unknown_project() {
    let app = TestApp::spawn().await;
    let r = app
        .get("/users/me")
        .client()
        .header("x-stack-access-token", "12341234")
        .send()
        .await;
    r.assert_error(
        401,
        "UNPARSABLE_ACCESS_TOKEN",
        "Access token is not parsable.",
    )
    .assert_no_details();
    // The token is decoded before the project is looked up.
    let r = app
        .get("")
        .access("client", "no-such-project")
        .header("x-stack-access-token", "12341234")
        .send()
        .await;
    r.assert_known(401, "UNPARSABLE_ACCESS_TOKEN");
}

#[tokio::test]
async fn a_token_with_a_changed_signature_or_payload_is_unparsable() {
    let app = TestApp::spawn().await;
    let user = app.create_user(json!({})).await;
    let s = app.session_for(user["id"].as_str().unwrap()).await;
    let parts: Vec<&str> = s.access.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {}", s.access);
    // Another payload with the original signature.
    let other = app.create_user(json!({})).await;
    let o = app.session_for(other["id"].as_str().unwrap()).await;
    let other_payload = o.access.split('.').nth(1).unwrap();
    let swapped = format!("{}.{}.{}", parts[0], other_payload, parts[2]);
    // A signature with one character changed.
    let mut sig = parts[2].to_owned();
    let first = if sig.starts_with('A') { "B" } else { "A" };
    sig.replace_range(0..1, first);
    let flipped = format!("{}.{}.{sig}", parts[0], parts[1]);
    for token in [swapped, flipped] {
        let mut tampered = s.clone();
        tampered.access = token;
        let r = app.get("/users/me").client().user(&tampered).send().await;
        r.assert_known(401, "UNPARSABLE_ACCESS_TOKEN");
    }
}

#[tokio::test]
async fn a_token_from_another_install_is_unparsable() {
    let (a, b) = tokio::join!(TestApp::spawn(), TestApp::spawn());
    let user = a.create_user(json!({})).await;
    let s = a.session_for(user["id"].as_str().unwrap()).await;
    let r = b.get("/users/me").client().user(&s).send().await;
    r.assert_known(401, "UNPARSABLE_ACCESS_TOKEN");
}

#[tokio::test]
async fn an_expired_access_token_is_reported_with_what_it_names() {
    let app = TestApp::spawn_with(Spawn {
        ttl: Duration::from_secs(1),
        ..Spawn::default()
    })
    .await;
    let user = app.create_user(json!({})).await;
    let s = app.session_for(user["id"].as_str().unwrap()).await;
    let c = claims(&s.access);
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 1);
    wait_until("the access token to expire", Duration::from_secs(5), || {
        let req = app.get("/users/me").client().user(&s);
        async move { req.send().await.status == 401 }
    })
    .await
    .unwrap();

    let r = app.get("/users/me").client().user(&s).send().await;
    let exp = c["exp"].as_i64().unwrap();
    let at = chrono::DateTime::from_timestamp(exp, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let rid = c["refresh_token_id"].as_str().unwrap();
    r.assert_error(
        401,
        "ACCESS_TOKEN_EXPIRED",
        &format!(
            "Access token has expired. Please refresh it and try again. (The access token expired at {at}.) Project ID: internal. User ID: {}. Refresh token ID: {rid}.\n\nDebug info: Most likely, you fetched the access token before it expired (for example, in a server component, pre-rendered page, or on page load), but then didn't refresh it before it expired. If this is the case, and you're using the SDK, make sure you call getAccessToken() every time you need to use the access token. If you're not using the SDK, make sure you refresh the access token with the refresh endpoint.",
            s.user_id
        ),
    );
    assert_eq!(
        r.body["details"],
        json!({
            "expired_at_millis": exp * 1000,
            "project_id": "internal",
            "user_id": s.user_id,
            "refresh_token_id": rid,
        })
    );

    // An expired token sent along with a refresh fails before the refresh (spec §2.7).
    let r = app
        .post("/auth/sessions/current/refresh")
        .client()
        .user(&s)
        .header("x-stack-refresh-token", &s.refresh)
        .send()
        .await;
    r.assert_known(401, "ACCESS_TOKEN_EXPIRED");
    // Without it the session still refreshes.
    let r = app
        .post("/auth/sessions/current/refresh")
        .client()
        .header("x-stack-refresh-token", &s.refresh)
        .send()
        .await;
    r.assert_status(200);

    // The same token as an admin access token.
    let r = app
        .get("/internal/projects/current")
        .admin_token("admin", "internal", &s.access)
        .send()
        .await;
    r.assert_error(
        401,
        "ADMIN_ACCESS_TOKEN_EXPIRED",
        &format!(
            "Admin access token has expired. Please refresh it and try again. (The access token expired at {at}.)"
        ),
    );
    assert_eq!(
        r.body["details"],
        json!({ "expired_at_millis": exp * 1000 })
    );
}

#[tokio::test]
async fn a_token_for_another_project_is_refused_before_the_project_lookup() {
    let app = TestApp::spawn().await;
    let user = app.create_user(json!({})).await;
    let s = app.session_for(user["id"].as_str().unwrap()).await;
    let other = "0b9f7ad6-5d7e-4f43-9c55-6f7f0a4f2d10";
    let r = app
        .get("/users/me")
        .access("client", other)
        .user(&s)
        .send()
        .await;
    r.assert_error(
        401,
        "INVALID_PROJECT_FOR_ACCESS_TOKEN",
        &format!(
            "Access token not valid for this project. Expected project ID \"{other}\", but the token is for project ID \"internal\"."
        ),
    );
    assert_eq!(
        r.body["details"],
        json!({ "expected_project_id": other, "actual_project_id": "internal" })
    );
}

#[tokio::test]
async fn anonymous_tokens_need_the_allow_anonymous_header() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous().await;
    let r = app.get("/users/me").client().user(&anon).send().await;
    r.assert_error(
        401,
        "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED",
        "X-Stack-Access-Token is for an anonymous user, but anonymous users are not enabled. Set the X-Stack-Allow-Anonymous-User header of this request to 'true' to allow anonymous users.",
    )
    .assert_no_details();
    // Allowing restricted users does not allow anonymous ones.
    let r = app
        .get("/users/me")
        .client()
        .user(&anon)
        .header("x-stack-allow-restricted-user", "true")
        .send()
        .await;
    r.assert_known(401, "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED");
    // Only the exact value `true` counts.
    let r = app
        .get("/users/me")
        .client()
        .user(&anon)
        .header("x-stack-allow-anonymous-user", "yes")
        .send()
        .await;
    r.assert_known(401, "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED");
    let r = app
        .get("/users/me")
        .client()
        .user(&anon)
        .allow_anonymous()
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["id"], anon.user_id.as_str());
    assert_eq!(r.body["is_anonymous"], true);
}

#[tokio::test]
async fn restricted_tokens_need_the_allow_restricted_header() {
    let app = TestApp::spawn().await;
    let user = app
        .create_user(json!({ "restricted_by_admin": true }))
        .await;
    let s = app.session_for(user["id"].as_str().unwrap()).await;
    let r = app.get("/users/me").client().user(&s).send().await;
    r.assert_error(
        403,
        "RESTRICTED_USER_NOT_ALLOWED",
        "The user in the access token is in restricted state. Reason: restricted_by_administrator. Please pass the X-Stack-Allow-Restricted-User header if this is intended.",
    );
    assert_eq!(
        r.body["details"],
        json!({ "restricted_reason": { "type": "restricted_by_administrator" } })
    );
    for (name, value) in [
        ("x-stack-allow-restricted-user", "true"),
        // Allowing anonymous users implies allowing restricted ones.
        ("x-stack-allow-anonymous-user", "true"),
    ] {
        let r = app
            .get("/users/me")
            .client()
            .user(&s)
            .header(name, value)
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(r.body["is_restricted"], true);
    }
}

#[tokio::test]
async fn the_x_hexclave_header_names_are_accepted() {
    let app = TestApp::spawn().await;
    let r = app
        .get("")
        .header("x-hexclave-project-id", "internal")
        .header("x-hexclave-access-type", "server")
        .header("x-hexclave-secret-server-key", &app.ssk)
        .send()
        .await;
    r.assert_status(200);
    assert!(
        r.text
            .ends_with("Authentication: Server\n  Project: internal\n  User: None"),
        "{}",
        r.text
    );
    let r = app
        .get("")
        .header("x-hexclave-project-id", "internal")
        .header("x-hexclave-access-type", "admin")
        .header("x-hexclave-super-secret-admin-key", "wrong")
        .header("x-hexclave-override-error-status", "true")
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.header("x-hexclave-actual-status"), Some("401"));
    assert_eq!(r.header("x-stack-actual-status"), Some("401"));
    assert_eq!(
        r.header("x-hexclave-known-error"),
        Some("INVALID_SUPER_SECRET_ADMIN_KEY")
    );
    // An access token under the new name.
    let user = app.create_user(json!({})).await;
    let s = app.session_for(user["id"].as_str().unwrap()).await;
    let r = app
        .get("/users/me")
        .client()
        .header("x-hexclave-access-token", &s.access)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["id"], s.user_id.as_str());
}

#[tokio::test]
async fn a_client_on_a_server_route_gets_insufficient_access_type() {
    let app = TestApp::spawn().await;
    // Also when the path parameter is malformed: the access type wins.
    for path in ["/users", "/users/123"] {
        let r = app.get(path).client().send().await;
        r.assert_error(
            401,
            "INSUFFICIENT_ACCESS_TYPE",
            "The x-stack-access-type header must be 'server' or 'admin', but was 'client'.",
        );
        assert_eq!(
            r.body["details"],
            json!({ "actual_access_type": "client", "allowed_access_types": ["server", "admin"] })
        );
    }
    let r = app.get("/internal/api-keys").server().send().await;
    r.assert_error(
        401,
        "INSUFFICIENT_ACCESS_TYPE",
        "The x-stack-access-type header must be 'admin', but was 'server'.",
    );
    assert_eq!(
        r.body["details"],
        json!({ "actual_access_type": "server", "allowed_access_types": ["admin"] })
    );
}

#[tokio::test]
async fn a_route_that_needs_auth_without_access_type_gets_access_type_required() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::GET, "/users/me"),
        (Method::GET, "/users"),
        (Method::GET, "/projects/current"),
        (Method::POST, "/auth/password/sign-in"),
    ] {
        let r = app.req(method, path).send().await;
        r.assert_error(
            400,
            "ACCESS_TYPE_REQUIRED",
            &format!(
                "You must specify an access level for this Stack project. Make sure project API keys are provided (eg. x-stack-publishable-client-key) and you set the x-stack-access-type header to 'client', 'server', or 'admin'.\n\n{AUTH_DOCS}"
            ),
        )
        .assert_no_details();
    }
}
