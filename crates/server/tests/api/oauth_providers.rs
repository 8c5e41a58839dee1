//! A user's accounts at OAuth providers: the `/oauth-providers` CRUD (who
//! may do what, the sign-in uniqueness checks, Stack Auth's texts), the
//! `/connected-accounts` list, and the access-token routes.
//!
//! The access-token tests that need a provider use test-only fakes at
//! boundaries users never see: token rows inserted with SQL (as a sign-in
//! would have stored them) and a fake of the provider's back channel
//! (`/me`, `/token`), served to a second server on the test database in
//! place of the mock provider. Sign-in through the real mock provider is
//! tested end to end elsewhere.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as AxumResponse};
use serde_json::{Value, json};

use stack_server::Application;
use stack_server::state::{MailSettings, OAuthSettings, ServeSettings};
use tokio::sync::oneshot;

use crate::helpers::{Response, Session, TOKEN_TTL, TestApp, keys, sorted};

const SAME_PROVIDER_SIGN_IN: &str =
    "The same provider type with sign-in enabled already exists for this user.";
const SAME_PROVIDER_ACCOUNT_ID: &str =
    "The same provider type with the same account ID already exists for this user.";
const ACCOUNT_ID_USED: &str = "A provider with the same account ID is already used for signing in.";
const NOT_CONNECTED: &str = "The OAuth connection is not connected to any user.";
const NO_SCOPE: &str = "The OAuth connection does not have the required scope.";
const NO_PROVIDER: &str = "The OAuth provider is not found or not enabled.";
const NO_USER: &str =
    "You have specified 'me' as a userId, but did not provide authentication for a user.";

/// A spotify provider with the app's own keys, as Stack Auth's e2e tests configure it.
fn spotify() -> Value {
    json!({
        "type": "spotify",
        "isShared": false,
        "clientId": "test_client_id",
        "clientSecret": "test_client_secret",
        "allowSignIn": true,
        "allowConnectedAccounts": true,
    })
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

/// A server running with a spotify provider configured.
async fn spawn_with_spotify() -> TestApp {
    let app = TestApp::spawn().await;
    set_config(&app, json!({ "auth.oauth.providers.spotify": spotify() })).await;
    app
}

/// A new user of the internal project and a session for them.
async fn new_user(app: &TestApp) -> Session {
    let user = app
        .create_user(json!({ "primary_email": app.email() }))
        .await;
    app.session_for(user["id"].as_str().unwrap()).await
}

/// `POST /oauth-providers` as the server.
async fn add_account(
    app: &TestApp,
    user_id: &str,
    provider: &str,
    account_id: &str,
    allow_sign_in: bool,
    allow_connected_accounts: bool,
) -> Response {
    app.post("/oauth-providers")
        .server()
        .json(json!({
            "user_id": user_id,
            "provider_config_id": provider,
            "account_id": account_id,
            "email": format!("{account_id}@example.com"),
            "allow_sign_in": allow_sign_in,
            "allow_connected_accounts": allow_connected_accounts,
        }))
        .send()
        .await
}

/// Adds an account that must be created; returns its id.
async fn added(
    app: &TestApp,
    user_id: &str,
    provider: &str,
    account_id: &str,
    sign_in: bool,
) -> String {
    let r = add_account(app, user_id, provider, account_id, sign_in, true).await;
    r.assert_status(201);
    r.body["id"].as_str().unwrap().to_owned()
}

fn not_found_text(id: &str, user_id: &str) -> String {
    format!("OAuth provider {id} for user {user_id} not found")
}

#[tokio::test]
async fn the_server_adds_an_account_that_reads_show_and_the_user_object_lists() {
    let app = spawn_with_spotify().await;
    let s = new_user(&app).await;
    let r = app
        .post("/oauth-providers")
        .server()
        .user(&s)
        .json(json!({
            "user_id": "me",
            "provider_config_id": "spotify",
            "account_id": "test_spotify_user_123",
            "email": "test@example.com",
            "allow_sign_in": true,
            "allow_connected_accounts": true,
        }))
        .send()
        .await;
    r.assert_status(201);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.body,
        json!({
            "account_id": "test_spotify_user_123",
            "allow_connected_accounts": true,
            "allow_sign_in": true,
            "email": "test@example.com",
            "id": id,
            "provider_config_id": "spotify",
            "type": "spotify",
            "user_id": s.user_id,
        })
    );

    // The client view has no account_id; the server's and the admin's do.
    let path = format!("/oauth-providers/me/{id}");
    let client = app.get(&path).client().user(&s).send().await;
    client.assert_status(200);
    assert_eq!(
        keys(&client.body),
        sorted(&[
            "allow_connected_accounts",
            "allow_sign_in",
            "email",
            "id",
            "provider_config_id",
            "type",
            "user_id"
        ])
    );
    assert_eq!(client.body["user_id"], s.user_id.as_str());
    for server in [
        app.get(&path).server().user(&s).send().await,
        app.get(&format!("/oauth-providers/{}/{id}", s.user_id))
            .admin()
            .send()
            .await,
    ] {
        server.assert_status(200);
        assert_eq!(server.body, r.body);
    }

    let me = app.get("/users/me").client().user(&s).send().await;
    me.assert_status(200);
    assert_eq!(
        me.body["oauth_providers"],
        json!([{ "id": "spotify", "account_id": "test_spotify_user_123", "email": "test@example.com" }])
    );
}

#[tokio::test]
async fn a_client_lists_changes_and_deletes_its_own_accounts() {
    let app = spawn_with_spotify().await;
    let s = new_user(&app).await;

    let empty = app
        .get("/oauth-providers?user_id=me")
        .client()
        .user(&s)
        .send()
        .await;
    empty.assert_status(200);
    assert_eq!(empty.body, json!({ "items": [], "is_paginated": false }));

    let id = added(&app, &s.user_id, "spotify", "spotify_user_1", true).await;
    let list = app
        .get("/oauth-providers?user_id=me")
        .client()
        .user(&s)
        .send()
        .await;
    list.assert_status(200);
    assert_eq!(
        list.body,
        json!({
            "items": [{
                "allow_connected_accounts": true,
                "allow_sign_in": true,
                "email": "spotify_user_1@example.com",
                "id": id,
                "provider_config_id": "spotify",
                "type": "spotify",
                "user_id": s.user_id,
            }],
            "is_paginated": false,
        })
    );

    let path = format!("/oauth-providers/me/{id}");
    for (sign_in, connected) in [(false, false), (true, false), (true, true)] {
        let r = app
            .patch(&path)
            .client()
            .user(&s)
            .json(json!({ "allow_sign_in": sign_in, "allow_connected_accounts": connected }))
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(r.body["allow_sign_in"], sign_in);
        assert_eq!(r.body["allow_connected_accounts"], connected);
        assert!(r.body.get("account_id").is_none(), "{}", r.text);
        let read = app.get(&path).client().user(&s).send().await;
        assert_eq!(read.body, r.body);
    }

    // A client may not change email or account_id.
    app.patch(&path)
        .client()
        .user(&s)
        .json(json!({ "email": "new@example.com", "account_id": "other" }))
        .send()
        .await
        .assert_schema_error(
            "PATCH",
            &format!("/api/v1{path}"),
            &["body contains unknown properties: email, account_id"],
        );

    let gone = app.delete(&path).client().user(&s).send().await;
    gone.assert_status(200);
    assert_eq!(gone.body, json!({ "success": true }));
    let text = not_found_text(&id, &s.user_id);
    app.get(&path)
        .client()
        .user(&s)
        .send()
        .await
        .assert_plain(404, &text);
    app.patch(&path)
        .client()
        .user(&s)
        .json(json!({ "allow_sign_in": true }))
        .send()
        .await
        .assert_plain(404, &text);
    app.delete(&path)
        .client()
        .user(&s)
        .send()
        .await
        .assert_plain(404, &text);

    let me = app.get("/users/me").client().user(&s).send().await;
    assert_eq!(me.body["oauth_providers"], json!([]));
}

#[tokio::test]
async fn a_client_reaches_only_its_own_users_accounts() {
    let app = spawn_with_spotify().await;
    let a = new_user(&app).await;
    let b = new_user(&app).await;
    let a_account = added(&app, &a.user_id, "spotify", "spotify_a", true).await;
    let b_account = added(&app, &b.user_id, "spotify", "spotify_b", true).await;

    // Its own account, by id as well as by `me`.
    app.get(&format!("/oauth-providers/{}/{b_account}", b.user_id))
        .client()
        .user(&b)
        .send()
        .await
        .assert_status(200);

    let other = format!("/oauth-providers/{}/{a_account}", a.user_id);
    app.get(&other).client().user(&b).send().await.assert_plain(
        403,
        "Client can only read OAuth providers for their own user.",
    );
    app.patch(&other)
        .client()
        .user(&b)
        .json(json!({ "allow_sign_in": false }))
        .send()
        .await
        .assert_plain(
            403,
            "Client can only update OAuth providers for their own user.",
        );
    app.delete(&other)
        .client()
        .user(&b)
        .send()
        .await
        .assert_plain(
            403,
            "Client can only delete OAuth providers for their own user.",
        );
    let list_refusal = "Client can only list OAuth providers for their own user.";
    app.get(&format!("/oauth-providers?user_id={}", a.user_id))
        .client()
        .user(&b)
        .send()
        .await
        .assert_plain(403, list_refusal);
    // Without a user_id a client would list everyone's.
    app.get("/oauth-providers")
        .client()
        .user(&b)
        .send()
        .await
        .assert_plain(403, list_refusal);

    // Without a signed-in user.
    for r in [
        app.get("/oauth-providers").client().send().await,
        app.get(&other).client().send().await,
        app.get(&format!("/oauth-providers/me/{a_account}"))
            .client()
            .send()
            .await,
    ] {
        r.assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER", NO_USER);
    }

    // Only the server adds accounts.
    app.post("/oauth-providers")
        .client()
        .user(&b)
        .json(json!({
            "user_id": "me", "provider_config_id": "spotify", "account_id": "x",
            "allow_sign_in": false, "allow_connected_accounts": true,
        }))
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
}

#[tokio::test]
async fn the_server_and_admin_reach_every_users_accounts() {
    let app = spawn_with_spotify().await;
    let a = new_user(&app).await;
    let b = new_user(&app).await;
    let a_account = added(&app, &a.user_id, "spotify", "spotify_a", true).await;
    let b_account = added(&app, &b.user_id, "spotify", "spotify_b", true).await;

    let all = app.get("/oauth-providers").server().send().await;
    all.assert_status(200);
    let ids: Vec<&str> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["spotify_a", "spotify_b"], "oldest first");

    let only_a = app
        .get(&format!("/oauth-providers?user_id={}", a.user_id))
        .admin()
        .send()
        .await;
    only_a.assert_status(200);
    assert_eq!(only_a.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(only_a.body["items"][0]["id"], a_account.as_str());

    let r = app
        .patch(&format!("/oauth-providers/{}/{a_account}", a.user_id))
        .server()
        .json(json!({ "allow_sign_in": false }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["allow_sign_in"], false);
    assert_eq!(r.body["account_id"], "spotify_a");

    // An account is found only under its own user.
    let mismatched = format!("/oauth-providers/{}/{b_account}", a.user_id);
    let text = not_found_text(&b_account, &a.user_id);
    app.get(&mismatched)
        .server()
        .send()
        .await
        .assert_plain(404, &text);
    app.patch(&mismatched)
        .server()
        .json(json!({ "allow_sign_in": false }))
        .send()
        .await
        .assert_plain(404, &text);
    app.delete(&mismatched)
        .server()
        .send()
        .await
        .assert_plain(404, &text);

    // Users that do not exist.
    let nobody = "e889e6de-8da5-47fd-87fd-a8db34b14ec4";
    for r in [
        app.get(&format!("/oauth-providers?user_id={nobody}"))
            .server()
            .send()
            .await,
        app.get(&format!("/oauth-providers/{nobody}/{a_account}"))
            .server()
            .send()
            .await,
        add_account(&app, nobody, "spotify", "nobody", false, true).await,
    ] {
        r.assert_error(404, "USER_NOT_FOUND", "User not found.");
    }
}

#[tokio::test]
async fn admin_access_does_what_server_access_does() {
    let app = spawn_with_spotify().await;
    let s = new_user(&app).await;
    let r = app
        .post("/oauth-providers")
        .admin()
        .json(json!({
            "user_id": s.user_id,
            "provider_config_id": "spotify",
            "account_id": "admin_made",
            "allow_sign_in": false,
            "allow_connected_accounts": true,
        }))
        .send()
        .await;
    r.assert_status(201);
    assert!(r.body.get("email").is_none(), "{}", r.text);
    let path = format!(
        "/oauth-providers/{}/{}",
        s.user_id,
        r.body["id"].as_str().unwrap()
    );
    let changed = app
        .patch(&path)
        .admin()
        .json(json!({ "email": "admin@example.com", "account_id": "admin_changed" }))
        .send()
        .await;
    changed.assert_status(200);
    assert_eq!(changed.body["email"], "admin@example.com");
    assert_eq!(changed.body["account_id"], "admin_changed");
    app.post(&format!(
        "/connected-accounts/{}/spotify/admin_changed/access-token",
        s.user_id
    ))
    .admin()
    .json(json!({ "scope": "openid" }))
    .send()
    .await
    .assert_error(
        400,
        "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE",
        NO_SCOPE,
    );
    app.delete(&path).admin().send().await.assert_status(200);
    let me = app.get("/users/me").client().user(&s).send().await;
    assert_eq!(me.body["oauth_providers"], json!([]));
}

#[tokio::test]
async fn sign_in_uniqueness_is_checked_as_stack_auth_checks_it() {
    let app = spawn_with_spotify().await;
    set_config(
        &app,
        json!({ "auth.oauth.providers.github": { "type": "github", "isShared": true, "allowSignIn": true } }),
    )
    .await;
    let a = new_user(&app).await;
    let b = new_user(&app).await;
    let first = added(&app, &a.user_id, "spotify", "spotify_123", true).await;

    // A second account at the same provider may not sign in too.
    add_account(&app, &a.user_id, "spotify", "spotify_456", true, true)
        .await
        .assert_plain(400, SAME_PROVIDER_SIGN_IN);
    let second = added(&app, &a.user_id, "spotify", "spotify_789", false).await;
    let second_path = format!("/oauth-providers/{}/{second}", a.user_id);
    app.patch(&second_path)
        .server()
        .json(json!({ "allow_sign_in": true }))
        .send()
        .await
        .assert_plain(400, SAME_PROVIDER_SIGN_IN);

    // One provider account once per user, whether or not it signs in.
    add_account(&app, &a.user_id, "spotify", "spotify_789", false, true)
        .await
        .assert_plain(400, SAME_PROVIDER_ACCOUNT_ID);
    app.patch(&second_path)
        .server()
        .json(json!({ "account_id": "spotify_123" }))
        .send()
        .await
        .assert_plain(400, SAME_PROVIDER_ACCOUNT_ID);

    // An account id that signs someone in does not sign anyone else in,
    // at any provider; it may still be connected without sign-in.
    for provider in ["spotify", "github"] {
        add_account(&app, &b.user_id, provider, "spotify_123", true, true)
            .await
            .assert_error(
                400,
                "OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN",
                ACCOUNT_ID_USED,
            )
            .assert_no_details();
    }
    let b_connected = added(&app, &b.user_id, "spotify", "spotify_123", false).await;
    app.patch(&format!("/oauth-providers/{}/{b_connected}", b.user_id))
        .server()
        .json(json!({ "allow_sign_in": true, "account_id": "spotify_123" }))
        .send()
        .await
        .assert_known(400, "OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN");

    // Once the first account stops signing in, the second may.
    let off = app
        .patch(&format!("/oauth-providers/{}/{first}", a.user_id))
        .server()
        .json(json!({ "allow_sign_in": false }))
        .send()
        .await;
    off.assert_status(200);
    assert_eq!(off.body["allow_sign_in"], false);
    let on = app
        .patch(&second_path)
        .server()
        .json(json!({ "allow_sign_in": true }))
        .send()
        .await;
    on.assert_status(200);
    assert_eq!(on.body["allow_sign_in"], true);
}

#[tokio::test]
async fn turning_sign_in_on_without_an_account_id_is_refused_while_anyone_else_signs_in_as_in_stack_auth()
 {
    // Stack Auth's query for the third check has no account-id condition
    // when the change sends none, so any other signing-in account refuses it.
    let app = spawn_with_spotify().await;
    let a = new_user(&app).await;
    let b = new_user(&app).await;
    let a_account = added(&app, &a.user_id, "spotify", "spotify_a", true).await;
    added(&app, &b.user_id, "spotify", "spotify_b", true).await;
    app.patch(&format!("/oauth-providers/me/{a_account}"))
        .client()
        .user(&a)
        .json(json!({ "allow_sign_in": true }))
        .send()
        .await
        .assert_error(
            400,
            "OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN",
            ACCOUNT_ID_USED,
        );
    // Sending the account id narrows the check to that id.
    app.patch(&format!("/oauth-providers/me/{a_account}"))
        .server()
        .user(&a)
        .json(json!({ "allow_sign_in": true, "account_id": "spotify_a" }))
        .send()
        .await
        .assert_status(200);
}

#[tokio::test]
async fn the_server_changes_account_id_and_email() {
    let app = spawn_with_spotify().await;
    let s = new_user(&app).await;
    let id = added(&app, &s.user_id, "spotify", "test_spotify_user_123", true).await;
    let path = format!("/oauth-providers/me/{id}");
    let r = app
        .patch(&path)
        .server()
        .user(&s)
        .json(json!({ "account_id": "updated_spotify_user_456", "email": "updated@example.com" }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(
        r.body,
        json!({
            "account_id": "updated_spotify_user_456",
            "allow_connected_accounts": true,
            "allow_sign_in": true,
            "email": "updated@example.com",
            "id": id,
            "provider_config_id": "spotify",
            "type": "spotify",
            "user_id": s.user_id,
        })
    );
    let read = app.get(&path).server().user(&s).send().await;
    assert_eq!(read.body, r.body);
    let me = app.get("/users/me").client().user(&s).send().await;
    assert_eq!(
        me.body["oauth_providers"][0]["account_id"],
        "updated_spotify_user_456"
    );
}

#[tokio::test]
async fn providers_missing_from_the_config() {
    let app = TestApp::spawn().await;
    set_config(
        &app,
        json!({
            "auth.oauth.providers.spotify": spotify(),
            "auth.oauth.providers.my_gh": { "type": "github", "isShared": true },
        }),
    )
    .await;
    let s = new_user(&app).await;

    add_account(&app, &s.user_id, "twitch", "t1", true, true)
        .await
        .assert_plain(404, "OAuth provider twitch not found or not configured");

    let spotify_id = added(&app, &s.user_id, "spotify", "spotify_1", true).await;
    let gh = add_account(&app, &s.user_id, "my_gh", "gh_1", true, true).await;
    gh.assert_status(201);
    assert_eq!(gh.body["type"], "github");
    let gh_id = gh.body["id"].as_str().unwrap().to_owned();

    // Remove both providers: a key that names a provider type still shows
    // as that type; any other key is left out of lists and not found.
    set_config(
        &app,
        json!({ "auth.oauth.providers.spotify": null, "auth.oauth.providers.my_gh": null }),
    )
    .await;
    let list = app
        .get("/oauth-providers?user_id=me")
        .server()
        .user(&s)
        .send()
        .await;
    list.assert_status(200);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", list.text);
    assert_eq!(items[0]["id"], spotify_id.as_str());
    assert_eq!(items[0]["type"], "spotify");
    let read = app
        .get(&format!("/oauth-providers/me/{spotify_id}"))
        .server()
        .user(&s)
        .send()
        .await;
    read.assert_status(200);
    assert_eq!(read.body["type"], "spotify");
    app.get(&format!("/oauth-providers/me/{gh_id}"))
        .server()
        .user(&s)
        .send()
        .await
        .assert_plain(404, "OAuth provider my_gh not found or not configured");
    app.delete(&format!("/oauth-providers/me/{spotify_id}"))
        .server()
        .user(&s)
        .send()
        .await
        .assert_status(200);
    // The user still reads fine.
    app.get(&format!("/users/{}", s.user_id))
        .server()
        .send()
        .await
        .assert_status(200);
}

#[tokio::test]
async fn bad_input_gets_stack_auths_schema_errors() {
    let app = spawn_with_spotify().await;
    let s = new_user(&app).await;
    app.post("/oauth-providers")
        .server()
        .json(json!({ "user_id": "nope", "email": "not-an-email", "extra": 1 }))
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/oauth-providers",
            &[
                "body.user_id must be a valid UUID",
                "body.provider_config_id must be defined",
                "body.email must be a valid email",
                "body.allow_sign_in must be defined",
                "body.allow_connected_accounts must be defined",
                "body.account_id must be defined",
                "body contains unknown properties: extra",
            ],
        );
    app.post("/oauth-providers")
        .server()
        .send()
        .await
        .assert_schema_error("POST", "/api/v1/oauth-providers", &["body must be defined"]);
    app.get("/oauth-providers/me/not-a-uuid?user_id=bad&x=1")
        .client()
        .user(&s)
        .send()
        .await
        .assert_schema_error(
            "GET",
            "/api/v1/oauth-providers/me/not-a-uuid",
            &[
                "params.provider_id must be a valid UUID",
                "query.user_id must be a valid UUID",
                "query contains unknown properties: x",
            ],
        );
    app.delete("/oauth-providers/someone/e889e6de-8da5-47fd-87fd-a8db34b14ec4")
        .server()
        .send()
        .await
        .assert_schema_error(
            "DELETE",
            "/api/v1/oauth-providers/someone/e889e6de-8da5-47fd-87fd-a8db34b14ec4",
            &["params.user_id must be a valid UUID"],
        );
    app.patch("/oauth-providers/me/e889e6de-8da5-47fd-87fd-a8db34b14ec4")
        .server()
        .user(&s)
        .json(json!({ "allow_sign_in": "maybe", "email": null }))
        .send()
        .await
        .assert_schema_error(
            "PATCH",
            "/api/v1/oauth-providers/me/e889e6de-8da5-47fd-87fd-a8db34b14ec4",
            &[
                "body.allow_sign_in must be a `boolean` type, but the final value was: `\"maybe\"`.",
                "body.email cannot be null",
            ],
        );
}

#[tokio::test]
async fn connected_accounts_lists_only_accounts_that_allow_it() {
    let app = spawn_with_spotify().await;
    set_config(
        &app,
        json!({ "auth.oauth.providers.github": { "type": "github", "isShared": true } }),
    )
    .await;
    let a = new_user(&app).await;
    let b = new_user(&app).await;

    let empty = app
        .get("/connected-accounts/me")
        .client()
        .user(&a)
        .send()
        .await;
    empty.assert_status(200);
    assert_eq!(empty.body, json!({ "items": [], "is_paginated": false }));

    added(&app, &a.user_id, "spotify", "spotify_a", true).await;
    add_account(&app, &a.user_id, "spotify", "not-connected", false, false)
        .await
        .assert_status(201);
    let toggled = added(&app, &a.user_id, "github", "github_a", false).await;

    let expected = json!({
        "items": [
            { "user_id": a.user_id, "provider": "spotify", "provider_account_id": "spotify_a" },
            { "user_id": a.user_id, "provider": "github", "provider_account_id": "github_a" },
        ],
        "is_paginated": false,
    });
    let own = app
        .get("/connected-accounts/me")
        .client()
        .user(&a)
        .send()
        .await;
    own.assert_status(200);
    assert_eq!(own.body, expected);
    let by_server = app
        .get(&format!("/connected-accounts/{}", a.user_id))
        .server()
        .send()
        .await;
    assert_eq!(by_server.body, expected);

    // Turning connected accounts off takes the account off the list.
    app.patch(&format!("/oauth-providers/{}/{toggled}", a.user_id))
        .server()
        .json(json!({ "allow_connected_accounts": false }))
        .send()
        .await
        .assert_status(200);
    let after = app
        .get(&format!("/connected-accounts/{}", a.user_id))
        .admin()
        .send()
        .await;
    assert_eq!(after.body["items"].as_array().unwrap().len(), 1);

    app.get(&format!("/connected-accounts/{}", a.user_id))
        .client()
        .user(&b)
        .send()
        .await
        .assert_plain(
            403,
            "Client can only list connected accounts for their own user.",
        );
    app.get("/connected-accounts/me")
        .client()
        .send()
        .await
        .assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER", NO_USER);
    app.get("/connected-accounts/non-existent-user-id")
        .server()
        .send()
        .await
        .assert_schema_error(
            "GET",
            "/api/v1/connected-accounts/non-existent-user-id",
            &["params.user_id must be a valid UUID"],
        );
    app.get("/connected-accounts/e889e6de-8da5-47fd-87fd-a8db34b14ec4")
        .server()
        .send()
        .await
        .assert_error(404, "USER_NOT_FOUND", "User not found.");
}

#[tokio::test]
async fn access_token_errors_without_a_usable_token() {
    let app = spawn_with_spotify().await;
    let a = new_user(&app).await;
    let b = new_user(&app).await;
    let token = |path: &str| app.post(path).json(json!({ "scope": "openid" }));

    // No account at the provider.
    for path in [
        "/connected-accounts/me/spotify/access-token",
        "/connected-accounts/me/spotify/non-existent-account-id/access-token",
        "/auth/oauth/connected-accounts/spotify/access-token",
    ] {
        token(path)
            .client()
            .user(&a)
            .send()
            .await
            .assert_error(400, "OAUTH_CONNECTION_NOT_CONNECTED_TO_USER", NOT_CONNECTED)
            .assert_no_details();
    }
    // A provider the config does not have.
    token("/connected-accounts/me/non-existent-provider/some-account-id/access-token")
        .client()
        .user(&a)
        .send()
        .await
        .assert_error(400, "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED", NO_PROVIDER);

    // Accounts added by the server have no tokens.
    added(&app, &a.user_id, "spotify", "spotify_a", true).await;
    add_account(&app, &a.user_id, "spotify", "no-connected", false, false)
        .await
        .assert_status(201);
    for path in [
        "/connected-accounts/me/spotify/access-token",
        "/connected-accounts/me/spotify/spotify_a/access-token",
        "/auth/oauth/connected-accounts/spotify/access-token",
    ] {
        token(path).client().user(&a).send().await.assert_error(
            400,
            "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE",
            NO_SCOPE,
        );
    }
    // The per-account route needs an account that allows connected accounts.
    token(&format!(
        "/connected-accounts/{}/spotify/no-connected/access-token",
        a.user_id
    ))
    .server()
    .send()
    .await
    .assert_error(400, "OAUTH_CONNECTION_NOT_CONNECTED_TO_USER", NOT_CONNECTED);

    // A client asks only for its own user's tokens.
    for path in [
        format!("/connected-accounts/{}/spotify/access-token", a.user_id),
        format!(
            "/connected-accounts/{}/spotify/spotify_a/access-token",
            a.user_id
        ),
    ] {
        token(&path)
            .client()
            .user(&b)
            .send()
            .await
            .assert_plain(403, "Client can only access its own connected accounts");
    }
    token("/connected-accounts/me/spotify/access-token")
        .client()
        .send()
        .await
        .assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER", NO_USER);
    token("/auth/oauth/connected-accounts/spotify/access-token")
        .client()
        .send()
        .await
        .assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER", NO_USER);

    // The body is an object with an optional string scope.
    app.post("/connected-accounts/me/spotify/access-token")
        .client()
        .user(&a)
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/connected-accounts/me/spotify/access-token",
            &["body must be defined"],
        );
    app.post("/auth/oauth/connected-accounts/spotify/access-token")
        .client()
        .user(&a)
        .json(json!({ "scope": ["openid"], "other": 1 }))
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/auth/oauth/connected-accounts/spotify/access-token",
            &[
                "body.scope must be a `string` type, but the final value was: `[\"openid\"]`.",
                "body contains unknown properties: other",
            ],
        );
}

/// The fake provider's state: which access tokens `/me` accepts, and what
/// `/token` answers for each refresh token (the new access token).
#[derive(Default)]
struct FakeProvider {
    valid_access_tokens: HashSet<String>,
    refreshes: HashMap<String, String>,
    me_calls: usize,
    token_calls: usize,
}

type Fake = Arc<Mutex<FakeProvider>>;

async fn fake_me(State(fake): State<Fake>, headers: HeaderMap) -> AxumResponse {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let mut fake = fake.lock().unwrap();
    fake.me_calls += 1;
    if fake.valid_access_tokens.contains(&token) {
        axum::Json(json!({ "sub": "fake-user@example.com" })).into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "invalid_token" })),
        )
            .into_response()
    }
}

async fn fake_token(State(fake): State<Fake>, body: String) -> AxumResponse {
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let mut fake = fake.lock().unwrap();
    fake.token_calls += 1;
    let refresh = form.get("refresh_token").cloned().unwrap_or_default();
    match (form.get("grant_type").map(String::as_str), fake.refreshes.get(&refresh).cloned()) {
        (Some("refresh_token"), Some(access)) => {
            fake.valid_access_tokens.insert(access.clone());
            axum::Json(json!({
                "access_token": access,
                "refresh_token": format!("{refresh}-rotated"),
                "expires_in": 3600,
                "token_type": "Bearer",
            }))
            .into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "invalid_grant", "error_description": "grant request is invalid" })),
        )
            .into_response(),
    }
}

/// Starts the fake provider; returns its state and address.
async fn start_fake_provider() -> (Fake, SocketAddr) {
    let fake = Fake::default();
    let router = axum::Router::new()
        .route("/me", axum::routing::get(fake_me))
        .route("/token", axum::routing::post(fake_token))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (fake, addr)
}

/// A test server whose requests go to a second server on the same database,
/// whose OAuth provider is at `provider_url` (the fake; `None`: no provider)
/// instead of the test server's own mock. Dropping the sender stops it.
async fn spawn_with_provider_at(provider_url: Option<&str>) -> (TestApp, oneshot::Sender<()>) {
    let mut app = TestApp::spawn().await;
    let settings = ServeSettings {
        default_public_api_url: "http://localhost:8102".into(),
        access_token_ttl: TOKEN_TTL,
        local_emulator: true,
        mail: MailSettings::default(),
        oauth: OAuthSettings {
            mock_listen: None,
            public_url: provider_url.map(str::to_owned),
            provider_url: provider_url.map(str::to_owned),
        },
        dashboard_listen: None,
    };
    let server = Application::bind("127.0.0.1:0".parse().unwrap(), app.pool.clone(), settings)
        .await
        .unwrap();
    app.base = format!("http://{}", server.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    set_config(&app, json!({ "auth.oauth.providers.spotify": spotify() })).await;
    (app, stop)
}

/// Stores a provider token for an account as a sign-in would have (test-only).
async fn insert_token(app: &TestApp, account: &str, kind: &str, token: &str, scopes: &[&str]) {
    sqlx::query(
        "INSERT INTO oauth_provider_tokens (project_id, id, oauth_account_id, kind, token, scopes, expires_at)
         VALUES ('internal', $1, $2::uuid, $3, $4, $5,
                 CASE WHEN $3 = 'access' THEN now() + interval '1 hour' END)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(account)
    .bind(kind)
    .bind(token)
    .bind(scopes.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    .execute(&app.pool)
    .await
    .unwrap();
}

/// Whether each of the account's tokens is still valid, by token value.
async fn token_validity(app: &TestApp, account: &str) -> HashMap<String, bool> {
    let rows: Vec<(String, bool)> = sqlx::query_as(
        "SELECT token, is_valid FROM oauth_provider_tokens WHERE oauth_account_id = $1::uuid",
    )
    .bind(account)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    rows.into_iter().collect()
}

async fn get_token(app: &TestApp, s: &Session, path: &str, scope: &str) -> Response {
    app.post(path)
        .client()
        .user(s)
        .json(json!({ "scope": scope }))
        .send()
        .await
}

#[tokio::test]
async fn a_stored_access_token_inserted_by_sql_is_handed_out_once_a_fake_provider_accepts_it() {
    let (fake, addr) = start_fake_provider().await;
    fake.lock()
        .unwrap()
        .valid_access_tokens
        .insert("stored-access".into());
    let (app, _server) = spawn_with_provider_at(Some(&format!("http://{addr}"))).await;
    let s = new_user(&app).await;
    let account = added(&app, &s.user_id, "spotify", "spotify_a", true).await;
    insert_token(
        &app,
        &account,
        "access",
        "stored-access",
        &["openid", "offline_access"],
    )
    .await;

    for path in [
        "/connected-accounts/me/spotify/access-token",
        "/connected-accounts/me/spotify/spotify_a/access-token",
        "/auth/oauth/connected-accounts/spotify/access-token",
    ] {
        let r = get_token(&app, &s, path, "openid").await;
        r.assert_status(201);
        assert_eq!(r.body, json!({ "access_token": "stored-access" }), "{path}");
    }
    // No scope asked: any token.
    let any = app
        .post("/connected-accounts/me/spotify/access-token")
        .client()
        .user(&s)
        .json(json!({}))
        .send()
        .await;
    any.assert_status(201);
    assert_eq!(fake.lock().unwrap().me_calls, 4);

    // A scope the stored tokens lack: no provider call at all.
    get_token(
        &app,
        &s,
        "/connected-accounts/me/spotify/access-token",
        "openid user-read-email",
    )
    .await
    .assert_error(
        400,
        "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE",
        NO_SCOPE,
    );
    assert_eq!(fake.lock().unwrap().me_calls, 4);
    assert_eq!(fake.lock().unwrap().token_calls, 0);
}

#[tokio::test]
async fn a_token_the_fake_provider_refuses_is_refreshed_and_the_refused_ones_are_invalidated() {
    let (fake, addr) = start_fake_provider().await;
    fake.lock()
        .unwrap()
        .refreshes
        .insert("stored-refresh".into(), "fresh-access".into());
    let (app, _server) = spawn_with_provider_at(Some(&format!("http://{addr}"))).await;
    let s = new_user(&app).await;
    let account = added(&app, &s.user_id, "spotify", "spotify_a", true).await;
    insert_token(&app, &account, "access", "revoked-access", &["openid"]).await;
    insert_token(&app, &account, "refresh", "stored-refresh", &["openid"]).await;

    let path = "/connected-accounts/me/spotify/access-token";
    let r = get_token(&app, &s, path, "openid").await;
    r.assert_status(201);
    assert_eq!(r.body, json!({ "access_token": "fresh-access" }));
    assert_eq!(
        token_validity(&app, &account).await,
        HashMap::from([
            ("revoked-access".to_owned(), false),
            ("stored-refresh".to_owned(), false),
            ("stored-refresh-rotated".to_owned(), true),
            ("fresh-access".to_owned(), true),
        ])
    );
    // The new token is stored and used next time, without a refresh.
    let again = get_token(&app, &s, path, "openid").await;
    assert_eq!(again.body, json!({ "access_token": "fresh-access" }));
    assert_eq!(fake.lock().unwrap().token_calls, 1);

    // The provider refuses everything: every token ends up invalid.
    {
        let mut f = fake.lock().unwrap();
        f.valid_access_tokens.clear();
        f.refreshes.clear();
    }
    get_token(&app, &s, path, "openid").await.assert_error(
        400,
        "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE",
        NO_SCOPE,
    );
    assert!(
        token_validity(&app, &account)
            .await
            .values()
            .all(|valid| !valid),
        "{:?}",
        token_validity(&app, &account).await
    );
    // Invalid tokens are not tried again.
    let calls = fake.lock().unwrap().token_calls;
    get_token(&app, &s, path, "openid")
        .await
        .assert_known(400, "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE");
    assert_eq!(fake.lock().unwrap().token_calls, calls);
}

#[tokio::test]
async fn an_unreachable_provider_keeps_the_stored_tokens() {
    // A port that nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (app, _server) = spawn_with_provider_at(Some(&format!("http://{closed}"))).await;
    let s = new_user(&app).await;
    let account = added(&app, &s.user_id, "spotify", "spotify_a", true).await;
    insert_token(&app, &account, "access", "stored-access", &["openid"]).await;
    insert_token(&app, &account, "refresh", "stored-refresh", &["openid"]).await;

    let r = get_token(
        &app,
        &s,
        "/connected-accounts/me/spotify/access-token",
        "openid",
    )
    .await;
    r.assert_known(400, "OAUTH_ACCESS_TOKEN_NOT_AVAILABLE");
    assert_eq!(r.body["details"]["provider"], "spotify");
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .starts_with("Failed to retrieve an OAuth access token for the connected account (provider: spotify). The OAuth provider could not be reached"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("stored-access"), "{}", r.text);
    assert!(
        token_validity(&app, &account)
            .await
            .values()
            .all(|valid| *valid)
    );
}

#[tokio::test]
async fn a_stored_token_without_any_provider_configured_says_how_to_start_one() {
    let (app, _server) = spawn_with_provider_at(None).await;
    let s = new_user(&app).await;
    let account = added(&app, &s.user_id, "spotify", "spotify_a", true).await;
    insert_token(&app, &account, "access", "stored-access", &["openid"]).await;
    let r = get_token(
        &app,
        &s,
        "/connected-accounts/me/spotify/access-token",
        "openid",
    )
    .await;
    r.assert_status(503);
    assert!(r.text.contains("--mock-oauth-listen"), "{}", r.text);
}
