//! `/internal/api-keys` (spec §1.3 key validation, §2.17): key sets are shown
//! once in full, then by their last four characters; they authenticate only
//! against their project, and stop working when revoked or expired, on every
//! server that shares the database.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::json;

use crate::helpers::{TestApp, keys, sorted, wait_until};
use crate::projects::{
    KINDS, PROPAGATION_LIMIT, assert_admin_shape, create_keys, key, owned_project, second_server,
};

#[tokio::test]
async fn new_keys_are_shown_once_in_full_and_then_by_their_last_four() {
    let app = TestApp::spawn().await;
    let o = owned_project(&app).await;
    let set = &o.keys;
    assert_eq!(
        keys(set),
        sorted(&[
            "id",
            "description",
            "created_at_millis",
            "expires_at_millis",
            "publishable_client_key",
            "secret_server_key",
            "super_secret_admin_key",
        ])
    );
    assert_eq!(set["description"], "test keys");
    for (name, prefix) in [
        ("publishable_client_key", "pck_"),
        ("secret_server_key", "ssk_"),
        ("super_secret_admin_key", "sak_"),
    ] {
        let k = key(set, name);
        let rest = k
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{name} = {k}"));
        assert_eq!(rest.len(), 45, "{name} = {k}");
        assert!(
            rest.chars()
                .all(|c| "0123456789abcdefghjkmnpqrstvwxyz".contains(c)),
            "{name} is not lower-case Crockford base32: {k}"
        );
    }
    let r = app
        .get("/internal/api-keys")
        .admin_token("admin", &o.id, &o.owner.access)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["is_paginated"], false);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let listed = &items[0];
    assert_eq!(listed["id"], set["id"]);
    for name in [
        "publishable_client_key",
        "secret_server_key",
        "super_secret_admin_key",
    ] {
        let full = key(set, name);
        assert_eq!(
            listed[name],
            json!({ "last_four": &full[full.len() - 4..] })
        );
        assert!(!r.text.contains(full), "the full {name} is listed");
    }
    let r = app
        .get(&format!("/internal/api-keys/{}", key(set, "id")))
        .admin_token("admin", &o.id, &o.owner.access)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(&r.body, listed);
    // Only the keys asked for are made.
    let r = create_keys(
        &app,
        &o.owner,
        &o.id,
        json!({ "has_secret_server_key": false, "has_super_secret_admin_key": false }),
    )
    .await;
    assert!(r.body["publishable_client_key"].is_string());
    assert!(r.body.get("secret_server_key").is_none(), "{}", r.text);
    assert!(r.body.get("super_secret_admin_key").is_none(), "{}", r.text);
}

#[tokio::test]
async fn new_keys_authenticate_against_their_project_only() {
    let app = TestApp::spawn().await;
    let o = owned_project(&app).await;
    let (pck, ssk, sak) = (
        key(&o.keys, "publishable_client_key"),
        key(&o.keys, "secret_server_key"),
        key(&o.keys, "super_secret_admin_key"),
    );
    let r = app
        .get("/projects/current")
        .with_key("client", &o.id, pck)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["id"], o.id.as_str());
    app.get("/users")
        .with_key("server", &o.id, ssk)
        .send()
        .await
        .assert_status(200);
    let r = app
        .get("/internal/projects/current")
        .with_key("admin", &o.id, sak)
        .send()
        .await;
    r.assert_status(200);
    assert_admin_shape(&r.body);
    assert_eq!(r.body["id"], o.id.as_str());
    // Not against the internal project.
    app.get("")
        .with_key("server", "internal", ssk)
        .send()
        .await
        .assert_known(401, "INVALID_SECRET_SERVER_KEY");
    app.get("")
        .with_key("admin", "internal", sak)
        .send()
        .await
        .assert_known(401, "INVALID_SUPER_SECRET_ADMIN_KEY");
}

#[tokio::test]
async fn revoked_keys_stop_working() {
    let app = TestApp::spawn().await;
    let o = owned_project(&app).await;
    let id = key(&o.keys, "id");
    // Used first, so that a server that remembers good keys has seen them.
    for (access, name, _) in KINDS {
        app.get("")
            .with_key(access, &o.id, key(&o.keys, name))
            .send()
            .await
            .assert_status(200);
    }
    let r = app
        .patch(&format!("/internal/api-keys/{id}"))
        .admin_token("admin", &o.id, &o.owner.access)
        .json(json!({ "revoked": true }))
        .send()
        .await;
    r.assert_status(200);
    assert!(r.body["manually_revoked_at_millis"].is_i64(), "{}", r.text);
    for (access, name, code) in KINDS {
        let r = app
            .get("")
            .with_key(access, &o.id, key(&o.keys, name))
            .send()
            .await;
        r.assert_known(401, code);
        assert_eq!(r.body["details"], json!({ "project_id": o.id }));
    }
    let r = app
        .patch(&format!("/internal/api-keys/{id}"))
        .admin_token("admin", &o.id, &o.owner.access)
        .json(json!({ "revoked": false }))
        .send()
        .await;
    r.assert_known(400, "SCHEMA_ERROR");
}

#[tokio::test]
async fn expired_keys_do_not_work() {
    let app = TestApp::spawn().await;
    let o = owned_project(&app).await;
    let expired = create_keys(
        &app,
        &o.owner,
        &o.id,
        json!({ "expires_at_millis": chrono::Utc::now().timestamp_millis() - 1000 }),
    )
    .await
    .body;
    let r = app
        .get("")
        .with_key("server", &o.id, key(&expired, "secret_server_key"))
        .send()
        .await;
    r.assert_known(401, "INVALID_SECRET_SERVER_KEY");
}

#[tokio::test]
async fn key_sets_are_admin_only_and_validated() {
    let app = TestApp::spawn().await;
    let r = app.get("/internal/api-keys").server().send().await;
    r.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    let r = app
        .post("/internal/api-keys")
        .admin()
        .json(json!({ "has_publishable_client_key": true }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/internal/api-keys",
        &[
            "body.description must be defined",
            "body.expires_at_millis must be defined",
        ],
    );
    let r = app
        .get("/internal/api-keys/6b1f3f4c-5d7e-4f43-9c55-6f7f0a4f2d10")
        .admin()
        .send()
        .await;
    r.assert_status(404);
}

#[tokio::test]
async fn a_key_stops_working_when_it_expires() {
    let app = TestApp::spawn().await;
    let o = owned_project(&app).await;
    let expiring = create_keys(
        &app,
        &o.owner,
        &o.id,
        json!({ "expires_at_millis": chrono::Utc::now().timestamp_millis() + 1500 }),
    )
    .await
    .body;
    let use_key = || {
        app.get("")
            .with_key("server", &o.id, key(&expiring, "secret_server_key"))
            .send()
    };
    use_key().await.assert_status(200);
    wait_until("the key to expire", Duration::from_secs(5), || async {
        use_key().await.status == 401
    })
    .await
    .unwrap();
    use_key()
        .await
        .assert_known(401, "INVALID_SECRET_SERVER_KEY");
}

#[tokio::test]
async fn a_key_revoked_through_one_server_is_refused_by_another() {
    let a = TestApp::spawn().await;
    let o = owned_project(&a).await;
    let b = second_server(&a).await;
    for (access, name, _) in KINDS {
        b.get("")
            .with_key(access, &o.id, key(&o.keys, name))
            .send()
            .await
            .assert_status(200);
    }
    a.patch(&format!("/internal/api-keys/{}", key(&o.keys, "id")))
        .admin_token("admin", &o.id, &o.owner.access)
        .json(json!({ "revoked": true }))
        .send()
        .await
        .assert_status(200);
    for (access, name, code) in KINDS {
        let request = || b.get("").with_key(access, &o.id, key(&o.keys, name)).send();
        wait_until(
            &format!("the other server to refuse the revoked {name}"),
            PROPAGATION_LIMIT,
            || async { request().await.status == 401 },
        )
        .await
        .unwrap();
        request().await.assert_known(401, code);
    }
}
