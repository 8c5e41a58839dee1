//! `POST /internal/local-emulator/project` (spec §2.15): one project and one
//! key set per config-file path, also under concurrent calls; only in
//! emulator mode, only with server or admin access to the internal project.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use crate::helpers::{Response, Spawn, TestApp, keys, sorted};

const ROUTE: &str = "/internal/local-emulator/project";
const EMULATOR_OWNER_TEAM: &str = "5a0c858b-d9e9-49d4-9943-8ce385d86428";

async fn project_for(app: &TestApp, path: &str) -> Response {
    app.post(ROUTE)
        .server()
        .json(json!({ "absolute_file_path": path }))
        .send()
        .await
}

/// The project for `path` with the config file's content `config`.
async fn project_with_config(app: &TestApp, path: &str, config: &Value) -> Response {
    app.post(ROUTE)
        .server()
        .json(json!({ "absolute_file_path": path, "branch_config_override_string": config.to_string() }))
        .send()
        .await
}

const PASSWORD_ON: &str = r#"{"auth":{"password":{"allowSignIn":true}}}"#;

async fn answer_for(app: &TestApp, path: &str) -> Value {
    let r = project_for(app, path).await;
    r.assert_status(200);
    r.body
}

fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

fn unique_path() -> String {
    format!(
        "/home/dev/app-{}/stack.config.ts",
        uuid::Uuid::new_v4().simple()
    )
}

#[tokio::test]
async fn the_server_key_gets_a_project_with_keys() {
    let app = TestApp::spawn().await;
    let body = answer_for(&app, &unique_path()).await;
    assert_eq!(
        keys(&body),
        sorted(&[
            "project_id",
            "publishable_client_key",
            "secret_server_key",
            "super_secret_admin_key",
            "branch_config_override_string",
            "sign_in_methods",
        ])
    );
    uuid::Uuid::parse_str(field(&body, "project_id")).unwrap();
    assert!(field(&body, "publishable_client_key").starts_with("pck_"));
    assert!(field(&body, "secret_server_key").starts_with("ssk_"));
    assert!(field(&body, "super_secret_admin_key").starts_with("sak_"));
    serde_json::from_str::<Value>(field(&body, "branch_config_override_string"))
        .expect("branch_config_override_string is JSON");
    // The admin key works too.
    let r = app
        .post(ROUTE)
        .admin()
        .json(json!({ "absolute_file_path": unique_path() }))
        .send()
        .await;
    r.assert_status(200);
}

#[tokio::test]
async fn publishable_client_access_is_insufficient() {
    let app = TestApp::spawn().await;
    let r = app
        .post(ROUTE)
        .client()
        .json(json!({ "absolute_file_path": unique_path() }))
        .send()
        .await;
    r.assert_error(
        401,
        "INSUFFICIENT_ACCESS_TYPE",
        "The x-stack-access-type header must be 'server' or 'admin', but was 'client'.",
    );
    assert_eq!(
        r.body["details"],
        json!({ "actual_access_type": "client", "allowed_access_types": ["server", "admin"] })
    );
    let r = app
        .post(ROUTE)
        .json(json!({ "absolute_file_path": unique_path() }))
        .send()
        .await;
    r.assert_known(400, "ACCESS_TYPE_REQUIRED");
}

#[tokio::test]
async fn the_same_path_gets_the_same_project_and_keys_and_another_path_another() {
    let app = TestApp::spawn().await;
    let path = unique_path();
    let first = answer_for(&app, &path).await;
    let again = answer_for(&app, &path).await;
    assert_eq!(first, again);
    let other = answer_for(&app, &unique_path()).await;
    assert_ne!(first["project_id"], other["project_id"]);
    for name in [
        "publishable_client_key",
        "secret_server_key",
        "super_secret_admin_key",
    ] {
        assert_ne!(first[name], other[name], "{name}");
    }
}

#[tokio::test]
async fn a_relative_or_missing_path_is_refused() {
    let app = TestApp::spawn().await;
    for path in [
        "app/stack.config.ts",
        "./stack.config.ts",
        "stack.config.ts",
    ] {
        project_for(&app, path)
            .await
            .assert_plain(400, "absolute_file_path must be an absolute path.");
    }
    let r = app.post(ROUTE).server().json(json!({})).send().await;
    r.assert_schema_error(
        "POST",
        "/api/v1/internal/local-emulator/project",
        &["body.absolute_file_path must be defined"],
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM local_emulator_projects")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "refused calls must not create projects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_for_a_new_path_agree_on_one_project() {
    let app = TestApp::spawn().await;
    let path = unique_path();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let request = app
            .post(ROUTE)
            .server()
            .json(json!({ "absolute_file_path": path }));
        calls.spawn(request.send());
    }
    let answers = calls.join_all().await;
    for a in &answers {
        a.assert_status(200);
        assert_eq!(a.body, answers[0].body);
    }
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM local_emulator_projects WHERE absolute_file_path = $1",
    )
    .bind(&path)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows, 1);
    let key_sets: i64 =
        sqlx::query_scalar("SELECT count(*) FROM api_key_sets WHERE project_id = $1")
            .bind(field(&answers[0].body, "project_id"))
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(key_sets, 1);
}

#[tokio::test]
async fn outside_emulator_mode_the_route_is_refused() {
    let app = TestApp::spawn_with(Spawn {
        local_emulator: false,
        ..Spawn::default()
    })
    .await;
    project_for(&app, &unique_path()).await.assert_plain(
        400,
        "This endpoint is only available in local emulator mode (set NEXT_PUBLIC_STACK_IS_LOCAL_EMULATOR=true).",
    );
}

#[tokio::test]
async fn the_returned_keys_authenticate_against_the_new_project() {
    let app = TestApp::spawn().await;
    let config: Value = serde_json::from_str(PASSWORD_ON).unwrap();
    let r = project_with_config(&app, &unique_path(), &config).await;
    r.assert_status(200);
    let body = r.body;
    let id = field(&body, "project_id");
    let r = app
        .get("/projects/current")
        .with_key("client", id, field(&body, "publishable_client_key"))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["id"], id);
    let r = app
        .get("/users")
        .with_key("server", id, field(&body, "secret_server_key"))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["items"], json!([]));
    let r = app
        .get("/internal/projects/current")
        .with_key("admin", id, field(&body, "super_secret_admin_key"))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["id"], id);
    assert_eq!(r.body["owner_team_id"], EMULATOR_OWNER_TEAM);
    assert_eq!(r.body["config"]["allow_localhost"], true);
    // A user signs up in the new project.
    let r = app
        .post("/auth/password/sign-up")
        .with_key("client", id, field(&body, "publishable_client_key"))
        .json(json!({ "email": app.email(), "password": "password123" }))
        .send()
        .await;
    r.assert_status(200);
}

#[tokio::test]
async fn another_project_cannot_call_the_route() {
    let app = TestApp::spawn().await;
    let body = answer_for(&app, &unique_path()).await;
    let id = field(&body, "project_id");
    let r = app
        .post(ROUTE)
        .with_key("server", id, field(&body, "secret_server_key"))
        .json(json!({ "absolute_file_path": unique_path() }))
        .send()
        .await;
    r.assert_known(400, "SCHEMA_ERROR");
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .contains("auth.project.id"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn the_file_config_is_the_branch_override_and_an_empty_one_enables_no_sign_in() {
    let app = TestApp::spawn().await;
    let path = unique_path();
    let body = answer_for(&app, &path).await;
    assert_eq!(field(&body, "branch_config_override_string"), "{}");
    assert_eq!(body["sign_in_methods"], json!([]));
    let id = field(&body, "project_id").to_owned();
    let pck = field(&body, "publishable_client_key").to_owned();
    let sign_up = |app: &TestApp| {
        app.post("/auth/password/sign-up")
            .with_key("client", &id, &pck)
            .json(json!({ "email": app.email(), "password": "password123" }))
            .send()
    };
    sign_up(&app)
        .await
        .assert_known(400, "PASSWORD_AUTHENTICATION_NOT_ENABLED");
    // The same path with the file's new content: same project, new branch override.
    let config: Value = serde_json::from_str(PASSWORD_ON).unwrap();
    let again = project_with_config(&app, &path, &config).await;
    again.assert_status(200);
    assert_eq!(field(&again.body, "project_id"), id);
    assert_eq!(
        field(&again.body, "branch_config_override_string"),
        PASSWORD_ON
    );
    sign_up(&app).await.assert_status(200);
    // Environment-level changes belong to the deployment, not the emulator.
    let sak = field(&again.body, "super_secret_admin_key");
    app.patch("/internal/config/override/environment")
        .with_key("admin", &id, sak)
        .json(json!({ "config_override_string": "{}" }))
        .send()
        .await
        .assert_plain(
            400,
            stack_server::project_config::EMULATOR_ENVIRONMENT_BLOCKED,
        );
}

#[tokio::test]
async fn a_file_config_the_schema_refuses_gets_the_schema_message() {
    let app = TestApp::spawn().await;
    project_with_config(
        &app,
        &unique_path(),
        &json!({ "domains": { "allowLocalhost": true } }),
    )
    .await
    .assert_plain(400, "domains contains unknown properties: allowLocalhost");
}
