//! Projects (spec §2.3, §2.17): the client view of the current project,
//! creating and listing projects as an internal user, the admin view, and
//! changes that reach every server sharing the database.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use std::time::Duration;

use crate::helpers::{Response, Session, Spawn, TestApp, keys, sorted, wait_until};

/// How long a change made through one server may take to reach another
/// (a PostgreSQL NOTIFY round trip, normally milliseconds).
pub(crate) const PROPAGATION_LIMIT: Duration = Duration::from_secs(2);

const CLIENT_PROJECT_FIELDS: &[&str] = &["id", "display_name", "config"];
const CLIENT_CONFIG_FIELDS: &[&str] = &[
    "sign_up_enabled",
    "credential_enabled",
    "magic_link_enabled",
    "passkey_enabled",
    "client_team_creation_enabled",
    "client_user_deletion_enabled",
    "allow_user_api_keys",
    "allow_team_api_keys",
    "enabled_oauth_providers",
    "domains",
];
const ADMIN_PROJECT_EXTRAS: &[&str] = &[
    "description",
    "created_at_millis",
    "is_production_mode",
    "owner_team_id",
    "onboarding_status",
    "logo_url",
    "logo_full_url",
    "logo_dark_mode_url",
    "logo_full_dark_mode_url",
];
const ADMIN_CONFIG_EXTRAS: &[&str] = &[
    "allow_localhost",
    "oauth_providers",
    "email_config",
    "create_team_on_sign_up",
    "team_creator_default_permissions",
    "team_member_default_permissions",
    "user_default_permissions",
    "oauth_account_merge_strategy",
];

pub(crate) fn assert_admin_shape(p: &Value) {
    let k = keys(p);
    for field in CLIENT_PROJECT_FIELDS.iter().chain(ADMIN_PROJECT_EXTRAS) {
        assert!(k.contains(&(*field).to_owned()), "{field} missing from {p}");
    }
    let c = keys(&p["config"]);
    for field in CLIENT_CONFIG_FIELDS.iter().chain(ADMIN_CONFIG_EXTRAS) {
        assert!(
            c.contains(&(*field).to_owned()),
            "config.{field} missing from {p}"
        );
    }
}

/// An internal user, a project owned by its team, and a full key set of that project.
pub(crate) struct Owned {
    pub(crate) owner: Session,
    pub(crate) id: String,
    pub(crate) keys: Value,
}

pub(crate) async fn owned_project(app: &TestApp) -> Owned {
    let owner = app.sign_up(&app.email(), "password123").await;
    let project = app.create_project(&owner, json!({})).await;
    let id = project["id"].as_str().unwrap().to_owned();
    let keys = create_keys(app, &owner, &id, json!({})).await.body;
    Owned { owner, id, keys }
}

pub(crate) async fn create_keys(
    app: &TestApp,
    owner: &Session,
    id: &str,
    extra: Value,
) -> Response {
    let mut body = json!({
        "description": "test keys",
        "expires_at_millis": chrono::Utc::now().timestamp_millis() + 86_400_000,
        "has_publishable_client_key": true,
        "has_secret_server_key": true,
        "has_super_secret_admin_key": true,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app
        .post("/internal/api-keys")
        .admin_token("admin", id, &owner.access)
        .json(body)
        .send()
        .await;
    r.assert_status(200);
    r
}

pub(crate) const KINDS: [(&str, &str, &str); 3] = [
    (
        "client",
        "publishable_client_key",
        "INVALID_PUBLISHABLE_CLIENT_KEY",
    ),
    ("server", "secret_server_key", "INVALID_SECRET_SERVER_KEY"),
    (
        "admin",
        "super_secret_admin_key",
        "INVALID_SUPER_SECRET_ADMIN_KEY",
    ),
];

pub(crate) fn key<'a>(set: &'a Value, name: &str) -> &'a str {
    set[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {set}"))
}

#[tokio::test]
async fn the_internal_project_shows_its_client_view_to_every_access_type() {
    let app = TestApp::spawn().await;
    for req in [
        app.get("/projects/current").client(),
        app.get("/projects/current").server(),
        app.get("/projects/current").admin(),
    ] {
        let r = req.send().await;
        r.assert_status(200);
        let p = &r.body;
        assert_eq!(keys(p), sorted(CLIENT_PROJECT_FIELDS), "{p}");
        assert_eq!(keys(&p["config"]), sorted(CLIENT_CONFIG_FIELDS), "{p}");
        assert_eq!(p["id"], "internal");
        assert_eq!(p["display_name"], "Stack Dashboard");
        let c = &p["config"];
        assert_eq!(c["sign_up_enabled"], true);
        assert_eq!(c["credential_enabled"], true);
        assert_eq!(c["magic_link_enabled"], true);
        assert_eq!(c["passkey_enabled"], false);
        assert_eq!(c["client_team_creation_enabled"], true);
        assert_eq!(c["client_user_deletion_enabled"], false);
        assert_eq!(
            c["enabled_oauth_providers"],
            json!([{ "id": "github" }, { "id": "google" }, { "id": "microsoft" }, { "id": "spotify" }])
        );
        assert_eq!(c["domains"], json!([]));
    }
    let r = app.get("/projects/current").send().await;
    r.assert_known(400, "ACCESS_TYPE_REQUIRED");
    let r = app.get("/projects/current?x=1").client().send().await;
    r.assert_schema_error(
        "GET",
        "/api/v1/projects/current",
        &["query contains unknown properties: x"],
    );
}

#[tokio::test]
async fn an_internal_user_creates_a_project_owned_by_its_team() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up(&app.email(), "password123").await;
    let team = app.selected_team(&owner).await;
    let r = app
        .post("/internal/projects")
        .client()
        .user(&owner)
        .json(json!({
            "display_name": "Shop",
            "description": "A shop",
            "owner_team_id": team,
            "config": {
                "sign_up_enabled": false,
                "client_user_deletion_enabled": true,
                "oauth_providers": [
                    { "id": "spotify", "type": "shared" },
                    { "id": "github", "type": "shared" },
                ],
                "domains": [
                    { "domain": "https://z.example.com", "handler_path": "/handler" },
                    { "domain": "https://a.example.com", "handler_path": "/auth" },
                ],
            },
        }))
        .send()
        .await;
    r.assert_status(201);
    let p = &r.body;
    assert_admin_shape(p);
    let id = p["id"].as_str().unwrap();
    uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(p["display_name"], "Shop");
    assert_eq!(p["description"], "A shop");
    assert_eq!(p["owner_team_id"], team.as_str());
    assert_eq!(p["is_production_mode"], false);
    assert!(p["created_at_millis"].is_i64());
    let c = &p["config"];
    assert_eq!(c["sign_up_enabled"], false);
    assert_eq!(c["credential_enabled"], true);
    assert_eq!(c["client_user_deletion_enabled"], true);
    assert_eq!(c["allow_localhost"], true);
    assert_eq!(
        c["enabled_oauth_providers"],
        json!([{ "id": "github" }, { "id": "spotify" }])
    );
    assert_eq!(
        c["domains"],
        json!([
            { "domain": "https://a.example.com", "handler_path": "/auth" },
            { "domain": "https://z.example.com", "handler_path": "/handler" },
        ])
    );

    // Clients of the new project see its client view.
    let r = app
        .get("/projects/current")
        .access("client", id)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(keys(&r.body), sorted(CLIENT_PROJECT_FIELDS));
    assert_eq!(r.body["display_name"], "Shop");
}

#[tokio::test]
async fn creating_a_project_needs_an_internal_user_of_the_owning_team() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up(&app.email(), "password123").await;
    let team = app.selected_team(&owner).await;
    let body = json!({ "display_name": "P", "owner_team_id": team });
    let r = app
        .post("/internal/projects")
        .client()
        .json(body.clone())
        .send()
        .await;
    r.assert_error(
        401,
        "USER_AUTHENTICATION_REQUIRED",
        "User authentication required for this endpoint.",
    )
    .assert_no_details();

    let project = app.create_project(&owner, json!({})).await;
    let id = project["id"].as_str().unwrap();
    let r = app
        .post("/auth/password/sign-up")
        .admin_token("client", id, &owner.access)
        .json(json!({ "email": app.email(), "password": "password123" }))
        .send()
        .await;
    let member = Session::from(&r.body);
    let r = app
        .post("/internal/projects")
        .access("client", id)
        .user(&member)
        .json(body.clone())
        .send()
        .await;
    r.assert_error(
        401,
        "EXPECTED_INTERNAL_PROJECT",
        "The project ID is expected to be internal.",
    )
    .assert_no_details();

    let stranger = app.sign_up(&app.email(), "password123").await;
    let r = app
        .post("/internal/projects")
        .client()
        .user(&stranger)
        .json(body)
        .send()
        .await;
    assert!(
        r.status.is_client_error(),
        "a team the user is not in: {} {}",
        r.status,
        r.text
    );

    let r = app
        .post("/internal/projects")
        .client()
        .user(&owner)
        .json(json!({ "owner_team_id": team }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/internal/projects",
        &["body.display_name must be defined"],
    );
}

#[tokio::test]
async fn an_internal_user_lists_only_the_projects_of_its_teams() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up(&app.email(), "password123").await;
    let other = app.sign_up(&app.email(), "password123").await;
    let a = app.create_project(&owner, json!({})).await;
    let b = app.create_project(&owner, json!({})).await;
    let foreign = app.create_project(&other, json!({})).await;
    let r = app
        .get("/internal/projects")
        .client()
        .user(&owner)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["is_paginated"], false);
    let items = r.body["items"].as_array().unwrap();
    let mut ids: Vec<&str> = items.iter().map(|p| p["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let mut want = vec![a["id"].as_str().unwrap(), b["id"].as_str().unwrap()];
    want.sort_unstable();
    assert_eq!(ids, want);
    assert!(!ids.contains(&foreign["id"].as_str().unwrap()));
    assert!(!ids.contains(&"internal"));
    for p in items {
        assert_admin_shape(p);
    }
    let r = app.get("/internal/projects").client().send().await;
    r.assert_known(401, "USER_AUTHENTICATION_REQUIRED");
}

#[tokio::test]
async fn the_admin_updates_the_current_project() {
    let app = TestApp::spawn().await;
    let o = owned_project(&app).await;
    let sak = key(&o.keys, "super_secret_admin_key");
    // Seen before the change, by key and keyless.
    app.get("/projects/current")
        .access("client", &o.id)
        .send()
        .await
        .assert_status(200);
    app.get("/projects/current")
        .with_key("client", &o.id, key(&o.keys, "publishable_client_key"))
        .send()
        .await
        .assert_status(200);
    let r = app
        .patch("/internal/projects/current")
        .with_key("admin", &o.id, sak)
        .json(json!({
            "display_name": "Renamed",
            "description": "Now with a description",
            "config": { "sign_up_enabled": false, "magic_link_enabled": true },
        }))
        .send()
        .await;
    r.assert_status(200);
    assert_admin_shape(&r.body);
    assert_eq!(r.body["display_name"], "Renamed");
    assert_eq!(r.body["description"], "Now with a description");
    assert_eq!(r.body["config"]["sign_up_enabled"], false);
    assert_eq!(r.body["config"]["magic_link_enabled"], true);
    // Untouched settings stay.
    assert_eq!(r.body["config"]["credential_enabled"], true);
    let r = app
        .get("/projects/current")
        .access("client", &o.id)
        .send()
        .await;
    assert_eq!(r.body["display_name"], "Renamed");
    assert_eq!(r.body["config"]["sign_up_enabled"], false);
    let r = app
        .get("/projects/current")
        .with_key("client", &o.id, key(&o.keys, "publishable_client_key"))
        .send()
        .await;
    assert_eq!(r.body["display_name"], "Renamed");
    let r = app
        .post("/auth/password/sign-up")
        .access("client", &o.id)
        .json(json!({ "email": app.email(), "password": "password123" }))
        .send()
        .await;
    r.assert_known(400, "SIGN_UP_NOT_ENABLED");

    let r = app
        .patch("/internal/projects/current")
        .with_key("admin", &o.id, sak)
        .json(json!({ "config": { "no_such_setting": true } }))
        .send()
        .await;
    r.assert_schema_error(
        "PATCH",
        "/api/v1/internal/projects/current",
        &["body.config contains unknown properties: no_such_setting"],
    );
    let r = app
        .get("/internal/projects/current")
        .with_key("server", &o.id, key(&o.keys, "secret_server_key"))
        .send()
        .await;
    r.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
}

#[tokio::test]
async fn a_deleted_project_is_gone_and_the_internal_one_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let o = owned_project(&app).await;
    for req in [
        app.get("/projects/current").access("client", &o.id),
        app.get("/projects/current")
            .with_key("server", &o.id, key(&o.keys, "secret_server_key")),
    ] {
        req.send().await.assert_status(200);
    }
    let r = app
        .delete("/internal/projects/current")
        .admin_token("admin", &o.id, &o.owner.access)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": true }));
    let r = app
        .get("/projects/current")
        .access("client", &o.id)
        .send()
        .await;
    r.assert_known(400, "CURRENT_PROJECT_NOT_FOUND");
    let r = app
        .delete("/internal/projects/current")
        .admin()
        .send()
        .await;
    r.assert_status(400);
    app.get("/projects/current")
        .client()
        .send()
        .await
        .assert_status(200);
}

/// A second server on the database of `app`, as when several servers share one PostgreSQL.
pub(crate) async fn second_server(app: &TestApp) -> TestApp {
    TestApp::spawn_with(Spawn {
        db: Some(app.db_options.clone()),
        ..Spawn::default()
    })
    .await
}

#[tokio::test]
async fn a_project_changed_or_deleted_through_one_server_changes_on_another() {
    let a = TestApp::spawn().await;
    let o = owned_project(&a).await;
    let b = second_server(&a).await;
    let pck = key(&o.keys, "publishable_client_key");
    let read = || {
        b.get("/projects/current")
            .with_key("client", &o.id, pck)
            .send()
    };
    assert_eq!(read().await.body["display_name"], "Test project");
    b.get("/projects/current")
        .access("client", &o.id)
        .send()
        .await
        .assert_status(200);
    a.patch("/internal/projects/current")
        .admin_token("admin", &o.id, &o.owner.access)
        .json(json!({ "display_name": "Renamed on A" }))
        .send()
        .await
        .assert_status(200);
    wait_until(
        "the new name on the other server",
        PROPAGATION_LIMIT,
        || async { read().await.body["display_name"] == "Renamed on A" },
    )
    .await
    .unwrap();

    a.delete("/internal/projects/current")
        .admin_token("admin", &o.id, &o.owner.access)
        .send()
        .await
        .assert_status(200);
    wait_until(
        "the other server to forget the project",
        PROPAGATION_LIMIT,
        || async { read().await.status == 400 },
    )
    .await
    .unwrap();
    read().await.assert_known(400, "CURRENT_PROJECT_NOT_FOUND");
    b.get("/projects/current")
        .access("client", &o.id)
        .send()
        .await
        .assert_known(400, "CURRENT_PROJECT_NOT_FOUND");
}
