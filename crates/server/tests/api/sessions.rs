//! Sessions (spec §1.7, §2.7): server-made sessions, listing, revoking,
//! signing out, and refreshing through `/auth/sessions/current/refresh`.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Response, Session, TestApp, claims, keys, sorted, wait_until};

const REVOKED: &str =
    "Refresh token not found for this project, or the session has expired/been revoked.";
async fn refresh(app: &TestApp, s: &Session) -> Response {
    app.post("/auth/sessions/current/refresh")
        .client()
        .header("x-stack-refresh-token", &s.refresh)
        .send()
        .await
}

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
async fn a_server_creates_a_session_for_a_user() {
    let app = TestApp::spawn().await;
    let user = app.create_user(json!({})).await;
    let id = user["id"].as_str().unwrap();
    let r = app
        .post("/auth/sessions")
        .server()
        .json(json!({ "user_id": id }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(keys(&r.body), sorted(&["access_token", "refresh_token"]));
    let c = claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], id);
    let s = Session {
        access: r.body["access_token"].as_str().unwrap().into(),
        refresh: r.body["refresh_token"].as_str().unwrap().into(),
        user_id: id.into(),
    };
    let r = refresh(&app, &s).await;
    r.assert_status(200);
    assert_eq!(claims(r.body["access_token"].as_str().unwrap())["sub"], id);
}

#[tokio::test]
async fn creating_a_session_is_for_servers_and_existing_users_only() {
    let app = TestApp::spawn().await;
    let user = app.create_user(json!({})).await;
    let r = app
        .post("/auth/sessions")
        .client()
        .json(json!({ "user_id": user["id"] }))
        .send()
        .await;
    r.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    assert_eq!(
        r.body["details"]["allowed_access_types"],
        json!(["server", "admin"])
    );
    let missing = "3d6c1e2a-4b5f-4c7d-8e9f-0a1b2c3d4e5f";
    let r = app
        .post("/auth/sessions")
        .server()
        .json(json!({ "user_id": missing }))
        .send()
        .await;
    r.assert_error(
        400,
        "USER_ID_DOES_NOT_EXIST",
        &format!("The given user with the ID {missing} does not exist."),
    );
    assert_eq!(r.body["details"], json!({ "user_id": missing }));
    let r = app
        .post("/auth/sessions")
        .server()
        .json(json!({ "user_id": "me" }))
        .send()
        .await;
    r.assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    let r = app
        .post("/auth/sessions")
        .server()
        .json(json!({}))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/auth/sessions",
        &["body.user_id must be defined"],
    );
}

#[tokio::test]
async fn a_session_may_last_at_most_367_days() {
    let app = TestApp::spawn().await;
    let user = app.create_user(json!({})).await;
    let r = app
        .post("/auth/sessions")
        .server()
        .json(json!({ "user_id": user["id"], "expires_in_millis": 31_708_800_001_i64 }))
        .send()
        .await;
    r.assert_error(
        400,
        "SCHEMA_ERROR",
        "Request validation failed on POST /api/v1/auth/sessions:\n  - body.expires_in_millis must be less than or equal to 31708800000",
    );
    let r = app
        .post("/auth/sessions")
        .server()
        .json(json!({ "user_id": user["id"], "expires_in_millis": 31_708_800_000_i64 }))
        .send()
        .await;
    r.assert_status(200);
}

#[tokio::test]
async fn a_short_session_expires() {
    let app = TestApp::spawn().await;
    let user = app.create_user(json!({})).await;
    let id = user["id"].as_str().unwrap();
    let r = app
        .post("/auth/sessions")
        .server()
        .json(json!({ "user_id": id, "expires_in_millis": 1000 }))
        .send()
        .await;
    r.assert_status(200);
    let s = Session {
        access: r.body["access_token"].as_str().unwrap().into(),
        refresh: r.body["refresh_token"].as_str().unwrap().into(),
        user_id: id.into(),
    };
    wait_until("the session to expire", Duration::from_secs(5), || async {
        refresh(&app, &s).await.status == 401
    })
    .await
    .unwrap();
    refresh(&app, &s)
        .await
        .assert_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED", REVOKED);
}

#[tokio::test]
async fn listing_sessions_marks_the_current_one() {
    let app = TestApp::spawn().await;
    let a = new_user(&app).await;
    let b = app.session_for(&a.user_id).await;
    let r = app
        .get("/auth/sessions?user_id=me")
        .client()
        .user(&b)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["is_paginated"], false);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", r.text);
    let required = sorted(&[
        "id",
        "user_id",
        "created_at",
        "last_used_at",
        "is_impersonation",
        "is_current_session",
    ]);
    for item in items {
        let mut k = keys(item);
        k.retain(|key| key != "last_used_at_end_user_ip_info");
        assert_eq!(k, required, "session item {item}");
        assert_eq!(item["user_id"], a.user_id.as_str());
        assert_eq!(item["is_impersonation"], false);
    }
    let current: Vec<_> = items
        .iter()
        .filter(|i| i["is_current_session"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], claims(&b.access)["refresh_token_id"]);
    // Newest first.
    assert_eq!(items[0]["id"], claims(&b.access)["refresh_token_id"]);
    assert!(items[0]["created_at"].as_i64() >= items[1]["created_at"].as_i64());
    // The server may list by id; nothing is current without a token.
    let r = app
        .get(&format!("/auth/sessions?user_id={}", a.user_id))
        .server()
        .send()
        .await;
    r.assert_status(200);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i["is_current_session"] == false));
}

#[tokio::test]
async fn listing_sessions_needs_a_user_id_and_clients_see_only_their_own() {
    let app = TestApp::spawn().await;
    let a = new_user(&app).await;
    let b = new_user(&app).await;
    let r = app.get("/auth/sessions").client().user(&a).send().await;
    r.assert_schema_error(
        "GET",
        "/api/v1/auth/sessions",
        &["query.user_id must be defined"],
    );
    let r = app
        .get(&format!("/auth/sessions?user_id={}", b.user_id))
        .client()
        .user(&a)
        .send()
        .await;
    r.assert_status(403);
    r.assert_plain_kind();
    let r = app.get("/auth/sessions?user_id=me").client().send().await;
    r.assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
}

#[tokio::test]
async fn impersonation_sessions_are_listed_only_for_admins() {
    let app = TestApp::spawn().await;
    let a = new_user(&app).await;
    app.post("/auth/sessions")
        .server()
        .json(json!({ "user_id": a.user_id, "is_impersonation": true }))
        .send()
        .await
        .assert_status(200);
    let path = format!("/auth/sessions?user_id={}", a.user_id);
    let r = app.get(&path).server().send().await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.text);
    let r = app.get(&path).admin().send().await;
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", r.text);
    assert_eq!(
        items
            .iter()
            .filter(|i| i["is_impersonation"] == true)
            .count(),
        1
    );
}

#[tokio::test]
async fn deleting_another_session_revokes_it() {
    let app = TestApp::spawn().await;
    let a = new_user(&app).await;
    let other = app.session_for(&a.user_id).await;
    let other_id = claims(&other.access)["refresh_token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .delete(&format!("/auth/sessions/{other_id}?user_id=me"))
        .client()
        .user(&a)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": true }));
    refresh(&app, &other)
        .await
        .assert_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED", REVOKED);
    refresh(&app, &a).await.assert_status(200);
    let r = app
        .get("/auth/sessions?user_id=me")
        .client()
        .user(&a)
        .send()
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    // Deleting it again: it is gone.
    let r = app
        .delete(&format!("/auth/sessions/{other_id}?user_id=me"))
        .client()
        .user(&a)
        .send()
        .await;
    r.assert_plain(404, "Session not found.");
}

#[tokio::test]
async fn the_current_session_cannot_be_deleted_by_id() {
    let app = TestApp::spawn().await;
    let a = new_user(&app).await;
    let id = claims(&a.access)["refresh_token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .delete(&format!("/auth/sessions/{id}?user_id=me"))
        .client()
        .user(&a)
        .send()
        .await;
    r.assert_error(
        400,
        "CANNOT_DELETE_CURRENT_SESSION",
        "Cannot delete the current session.",
    )
    .assert_no_details();
    refresh(&app, &a).await.assert_status(200);
}

#[tokio::test]
async fn a_client_cannot_delete_the_session_of_another_user() {
    let app = TestApp::spawn().await;
    let a = new_user(&app).await;
    let b = new_user(&app).await;
    let b_id = claims(&b.access)["refresh_token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("/auth/sessions/{b_id}?user_id=me"),
        format!("/auth/sessions/{b_id}?user_id={}", b.user_id),
        "/auth/sessions/6b1f3f4c-5d7e-4f43-9c55-6f7f0a4f2d10?user_id=me".to_owned(),
    ] {
        let r = app.delete(&path).client().user(&a).send().await;
        r.assert_plain(404, "Session not found.");
    }
    refresh(&app, &b).await.assert_status(200);
    // The server may, also without naming the user (the server SDK omits it).
    let r = app
        .delete(&format!("/auth/sessions/{b_id}"))
        .server()
        .send()
        .await;
    r.assert_status(200);
    refresh(&app, &b)
        .await
        .assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
}

#[tokio::test]
async fn signing_out_ends_the_session_of_the_access_token() {
    let app = TestApp::spawn().await;
    let a = new_user(&app).await;
    let r = app
        .delete("/auth/sessions/current")
        .client()
        .user(&a)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": true }));
    refresh(&app, &a)
        .await
        .assert_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED", REVOKED);
    // The access token stays valid (tokens are stateless), but its session is gone.
    let r = app
        .delete("/auth/sessions/current")
        .client()
        .user(&a)
        .send()
        .await;
    r.assert_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED", REVOKED);
}

#[tokio::test]
async fn signing_out_without_an_access_token_is_access_token_expired() {
    let app = TestApp::spawn().await;
    let r = app.delete("/auth/sessions/current").client().send().await;
    r.assert_known(401, "ACCESS_TOKEN_EXPIRED");
    assert_eq!(
        r.body["details"],
        json!({
            "expired_at_millis": null,
            "project_id": null,
            "user_id": null,
            "refresh_token_id": null,
        })
    );
    assert!(
        r.body["error"].as_str().unwrap().starts_with(
            "Access token has expired. Please refresh it and try again.\n\nDebug info: "
        ),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn refresh_gives_a_new_access_token_for_the_same_session() {
    let app = TestApp::spawn().await;
    let a = new_user(&app).await;
    let r = refresh(&app, &a).await;
    r.assert_status(200);
    assert_eq!(keys(&r.body), sorted(&["access_token"]));
    let new = claims(r.body["access_token"].as_str().unwrap());
    let old = claims(&a.access);
    assert_eq!(new["sub"], old["sub"]);
    assert_eq!(new["refresh_token_id"], old["refresh_token_id"]);

    let r = app
        .post("/auth/sessions/current/refresh")
        .client()
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/auth/sessions/current/refresh",
        &["headers.x-stack-refresh-token must be defined"],
    );
    let r = app
        .post("/auth/sessions/current/refresh")
        .client()
        .header("x-stack-refresh-token", "not-a-token")
        .send()
        .await;
    r.assert_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED", REVOKED)
        .assert_no_details();
}

#[tokio::test]
async fn a_deleted_user_cannot_refresh() {
    let app = TestApp::spawn().await;
    let a = new_user(&app).await;
    app.delete(&format!("/users/{}", a.user_id))
        .server()
        .send()
        .await
        .assert_status(200);
    refresh(&app, &a)
        .await
        .assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    oauth_refresh(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &a.refresh),
            ("client_id", "internal"),
            ("client_secret", &app.pck),
        ],
    )
    .await
    .assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
}

#[tokio::test]
async fn a_refresh_token_works_only_in_its_own_project() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up(&app.email(), "password123").await;
    let project = app.create_project(&owner, json!({})).await;
    let id = project["id"].as_str().unwrap();
    let r = app
        .post("/auth/sessions/current/refresh")
        .admin_token("client", id, &owner.access)
        .header("x-stack-refresh-token", &owner.refresh)
        .send()
        .await;
    r.assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    let r = oauth_refresh(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &owner.refresh),
            ("client_id", id),
            ("client_secret", "__stack_public_client__"),
        ],
    )
    .await;
    r.assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
}

#[tokio::test]
async fn a_password_change_by_the_server_ends_every_session() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let a = app.sign_up(&email, "password123").await;
    let b = app.session_for(&a.user_id).await;
    let r = app
        .patch("/users/me")
        .server()
        .user(&a)
        .json(json!({ "password": "password456" }))
        .send()
        .await;
    r.assert_status(200);
    for s in [&a, &b] {
        refresh(&app, s)
            .await
            .assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    }
    let r = app
        .post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": email, "password": "password456" }))
        .send()
        .await;
    r.assert_status(200);
}
