//! Admin access tokens (spec §1.5): an internal-project user's access token in
//! `x-stack-admin-access-token` replaces the keys of every project its teams
//! own, for every access type, and nothing else.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;

use crate::helpers::{TestApp, claims};

#[tokio::test]
async fn an_admin_access_token_replaces_the_keys_of_an_owned_project() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up(&app.email(), "password123").await;
    let project = app.create_project(&owner, json!({})).await;
    let id = project["id"].as_str().unwrap();

    let r = app
        .get("/internal/projects/current")
        .admin_token("admin", id, &owner.access)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["id"], id);
    let r = app
        .get("/users")
        .admin_token("server", id, &owner.access)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["items"], json!([]));
    let r = app
        .get("/projects/current")
        .admin_token("client", id, &owner.access)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["id"], id);
    // A wrong key next to the token is not checked.
    let r = app
        .get("/internal/projects/current")
        .admin_token("admin", id, &owner.access)
        .header("x-stack-super-secret-admin-key", "wrong")
        .send()
        .await;
    r.assert_status(200);
}

#[tokio::test]
async fn an_admin_access_token_is_refused_for_a_project_of_another_team() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up(&app.email(), "password123").await;
    let stranger = app.sign_up(&app.email(), "password123").await;
    let project = app.create_project(&owner, json!({})).await;
    let id = project["id"].as_str().unwrap();
    const NOT_ADMIN: &str =
        "Admin access token does not have the required permissions to access this project.";
    for access in ["admin", "server", "client"] {
        let r = app
            .get("/projects/current")
            .admin_token(access, id, &stranger.access)
            .send()
            .await;
        r.assert_error(401, "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN", NOT_ADMIN)
            .assert_no_details();
    }
    // The internal project is owned by the emulator's team, not by a new user.
    let r = app
        .get("/internal/projects/current")
        .admin_token("admin", "internal", &owner.access)
        .send()
        .await;
    r.assert_known(401, "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN");
    // A token of a user of the project itself is not an internal-project token.
    let r = app
        .post("/auth/password/sign-up")
        .admin_token("client", id, &owner.access)
        .json(json!({ "email": "member@example.com", "password": "password123" }))
        .send()
        .await;
    r.assert_status(200);
    let member = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&member)["aud"], id);
    let r = app
        .get("/internal/projects/current")
        .admin_token("admin", id, &member)
        .send()
        .await;
    r.assert_error(401, "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN", NOT_ADMIN);
}

#[tokio::test]
async fn a_malformed_or_anonymous_admin_access_token_is_unparsable() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous().await;
    for token in ["garbage", "a.b.c", anon.access.as_str()] {
        let r = app
            .get("/internal/projects/current")
            .admin_token("admin", "internal", token)
            .send()
            .await;
        r.assert_error(
            401,
            "UNPARSABLE_ADMIN_ACCESS_TOKEN",
            "Admin access token is not parsable.",
        )
        .assert_no_details();
    }
}

#[tokio::test]
async fn the_admin_access_token_of_a_deleted_user_is_refused() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up(&app.email(), "password123").await;
    let project = app.create_project(&owner, json!({})).await;
    let id = project["id"].as_str().unwrap();
    app.delete(&format!("/users/{}", owner.user_id))
        .server()
        .send()
        .await
        .assert_status(200);
    let r = app
        .get("/internal/projects/current")
        .admin_token("admin", id, &owner.access)
        .send()
        .await;
    r.assert_plain(
        401,
        "The user associated with the admin access token is no longer valid. Please refresh the admin access token and try again.",
    );
}
