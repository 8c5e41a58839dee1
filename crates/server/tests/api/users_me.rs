//! `/users/me` as a client sees it (spec §2.8, §3.1–§3.2; facts §7): exactly
//! the client shape, and what a signed-in user may change about itself.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use crate::helpers::{Response, Session, TestApp, claims, keys, sorted};
use crate::users::{CLIENT_FIELDS, CLIENT_TEAM_FIELDS, NO_USER};

const A_PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

async fn me(app: &TestApp, s: &Session) -> Response {
    let r = app.get("/users/me").client().user(s).send().await;
    r.assert_status(200);
    r
}

async fn patch_me(app: &TestApp, s: &Session, body: Value) -> Response {
    app.patch("/users/me")
        .client()
        .user(s)
        .json(body)
        .send()
        .await
}

#[tokio::test]
async fn a_client_reads_itself_in_exactly_the_client_shape() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let s = app.sign_up(&email, "password123").await;
    let r = me(&app, &s).await;
    let u = &r.body;
    assert_eq!(keys(u), sorted(CLIENT_FIELDS), "{u}");
    assert_eq!(u["id"], s.user_id.as_str());
    assert_eq!(u["primary_email"], email.as_str());
    for (field, value) in [
        ("primary_email_verified", json!(false)),
        ("display_name", json!(null)),
        ("client_metadata", json!(null)),
        ("client_read_only_metadata", json!(null)),
        ("profile_image_url", json!(null)),
        ("has_password", json!(true)),
        ("auth_with_email", json!(true)),
        ("oauth_providers", json!([])),
        ("requires_totp_mfa", json!(false)),
        ("otp_auth_enabled", json!(false)),
        ("passkey_auth_enabled", json!(false)),
        ("is_anonymous", json!(false)),
        ("is_restricted", json!(false)),
        ("restricted_reason", json!(null)),
        ("restricted_by_admin", json!(false)),
        ("restricted_by_admin_reason", json!(null)),
    ] {
        assert_eq!(u[field], value, "{field}");
    }
    assert!(u["signed_up_at_millis"].is_i64());
    let team = &u["selected_team"];
    assert_eq!(keys(team), sorted(CLIENT_TEAM_FIELDS), "{team}");
    assert_eq!(team["id"], u["selected_team_id"]);
    assert_eq!(team["display_name"], format!("{email}'s Team"));
    assert_eq!(team["client_metadata"], json!(null));
}

#[tokio::test]
async fn me_without_a_user_is_refused() {
    let app = TestApp::spawn().await;
    for r in [
        app.get("/users/me").client().send().await,
        app.get("/users/me").server().send().await,
        app.patch("/users/me")
            .client()
            .json(json!({ "display_name": "x" }))
            .send()
            .await,
        app.delete("/users/me").server().send().await,
    ] {
        r.assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER", NO_USER)
            .assert_no_details();
    }
}

#[tokio::test]
async fn a_client_updates_its_profile_and_metadata() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "password123").await;
    let metadata = json!({ "theme": "dark", "tags": [1, 2, { "n": null }] });
    let r = patch_me(
        &app,
        &s,
        json!({ "display_name": "Ada Lovelace", "client_metadata": metadata }),
    )
    .await;
    r.assert_status(200);
    assert_eq!(
        keys(&r.body),
        sorted(CLIENT_FIELDS),
        "client shape after PATCH"
    );
    assert_eq!(r.body["display_name"], "Ada Lovelace");
    assert_eq!(r.body["client_metadata"], metadata);
    let r = me(&app, &s).await;
    assert_eq!(r.body["display_name"], "Ada Lovelace");
    assert_eq!(r.body["client_metadata"], metadata);
    // An empty display name is stored as none; null clears metadata.
    let r = patch_me(
        &app,
        &s,
        json!({ "display_name": "", "client_metadata": null }),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["display_name"], json!(null));
    assert_eq!(r.body["client_metadata"], json!(null));
    let r = patch_me(&app, &s, json!({ "display_name": "x".repeat(257) })).await;
    r.assert_schema_error(
        "PATCH",
        "/api/v1/users/me",
        &["body.display_name must be at most 256 characters"],
    );
    let r = patch_me(&app, &s, json!({ "display_name": "x".repeat(256) })).await;
    r.assert_status(200);
}

#[tokio::test]
async fn a_client_cannot_write_server_fields() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "password123").await;
    for field in [
        "server_metadata",
        "client_read_only_metadata",
        "primary_email_verified",
        "restricted_by_admin",
    ] {
        let r = patch_me(&app, &s, json!({ field: { "x": 1 } })).await;
        r.assert_error(
            400,
            "SCHEMA_ERROR",
            &format!(
                "Request validation failed on PATCH /api/v1/users/me:\n  - body contains unknown properties: {field}"
            ),
        );
    }
    let r = app.get("/users/me").server().user(&s).send().await;
    assert_eq!(r.body["server_metadata"], json!(null));
}

#[tokio::test]
async fn a_client_selects_only_its_own_teams() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "password123").await;
    let other = app.sign_up(&app.email(), "password123").await;
    let own = app.selected_team(&s).await;
    let foreign = app.selected_team(&other).await;
    let r = patch_me(&app, &s, json!({ "selected_team_id": foreign })).await;
    r.assert_error(
        404,
        "TEAM_MEMBERSHIP_NOT_FOUND",
        &format!("User {} is not found in team {foreign}.", s.user_id),
    );
    assert_eq!(
        r.body["details"],
        json!({ "team_id": foreign, "user_id": s.user_id })
    );
    assert_eq!(me(&app, &s).await.body["selected_team_id"], own.as_str());
    let r = patch_me(&app, &s, json!({ "selected_team_id": null })).await;
    r.assert_status(200);
    assert_eq!(r.body["selected_team_id"], json!(null));
    assert_eq!(r.body["selected_team"], json!(null));
    let r = patch_me(&app, &s, json!({ "selected_team_id": own })).await;
    r.assert_status(200);
    assert_eq!(r.body["selected_team"]["id"], own.as_str());
    let r = patch_me(&app, &s, json!({ "selected_team_id": "not-a-uuid" })).await;
    r.assert_schema_error(
        "PATCH",
        "/api/v1/users/me",
        &["body.selected_team_id must be a valid UUID"],
    );
}

#[tokio::test]
async fn a_client_profile_image_must_be_an_image_data_url() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "password123").await;
    for url in [
        "https://example.com/me.png",
        "data:text/plain;base64,aGVsbG8=",
        "data:image/png;base64,###",
    ] {
        let r = patch_me(&app, &s, json!({ "profile_image_url": url })).await;
        r.assert_plain(400, "Invalid profile image URL");
    }
    let r = patch_me(&app, &s, json!({ "profile_image_url": A_PNG })).await;
    r.assert_status(200);
    assert!(r.body["profile_image_url"].is_string(), "{}", r.text);
}

#[tokio::test]
async fn client_self_deletion_is_off_unless_the_project_allows_it() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "password123").await;
    let r = app.delete("/users/me").client().user(&s).send().await;
    r.assert_plain(400, "Client user deletion is not enabled for this project");
    me(&app, &s).await;

    let project = app
        .create_project(&s, json!({ "client_user_deletion_enabled": true }))
        .await;
    let id = project["id"].as_str().unwrap();
    let r = app
        .post("/auth/password/sign-up")
        .admin_token("client", id, &s.access)
        .json(json!({ "email": app.email(), "password": "password123" }))
        .send()
        .await;
    r.assert_status(200);
    let member = Session::from(&r.body);
    let r = app
        .delete("/users/me")
        .admin_token("client", id, &s.access)
        .user(&member)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": true }));
    let r = app
        .get(&format!("/users/{}", member.user_id))
        .admin_token("server", id, &s.access)
        .send()
        .await;
    r.assert_known(404, "USER_NOT_FOUND");
}

#[tokio::test]
async fn a_client_may_change_its_primary_email_which_becomes_unverified() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "password123").await;
    app.patch("/users/me")
        .server()
        .user(&s)
        .json(json!({ "primary_email_verified": true }))
        .send()
        .await
        .assert_status(200);
    let new = app.email();
    let r = patch_me(&app, &s, json!({ "primary_email": new })).await;
    r.assert_status(200);
    assert_eq!(r.body["primary_email"], new.as_str());
    assert_eq!(r.body["primary_email_verified"], false);
}

#[tokio::test]
async fn an_anonymous_user_who_signs_up_keeps_its_id() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous().await;
    let email = app.email();
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .user(&anon)
        .json(json!({ "email": email, "password": "password123" }))
        .send()
        .await;
    r.assert_known(401, "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED");
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .user(&anon)
        .allow_anonymous()
        .json(json!({ "email": email, "password": "password123" }))
        .send()
        .await;
    r.assert_status(200);
    let s = Session::from(&r.body);
    assert_eq!(s.user_id, anon.user_id);
    let c = claims(&s.access);
    assert_eq!(c["aud"], "internal");
    assert_eq!(c["is_anonymous"], false);
    let u = me(&app, &s).await.body;
    assert_eq!(u["id"], anon.user_id.as_str());
    assert_eq!(u["is_anonymous"], false);
    assert_eq!(u["is_restricted"], false);
    assert_eq!(u["primary_email"], email.as_str());
    assert_eq!(u["has_password"], true);
    let r = app
        .post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": email, "password": "password123" }))
        .send()
        .await;
    assert_eq!(r.body["user_id"], anon.user_id.as_str());
}
