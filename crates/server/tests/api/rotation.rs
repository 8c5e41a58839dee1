//! Secret rotation through the running server's control socket, driven by the
//! real `stack-server rotate-secrets` binary, as the emulator does at start.

#![allow(clippy::unwrap_used)] // a failed expectation fails the test

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::helpers::{Spawn, TestApp};

fn socket_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "stack-control-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("control.sock")
}

async fn spawn_with_control(name: &str) -> (TestApp, PathBuf) {
    let path = socket_path(name);
    let app = TestApp::spawn_with(Spawn {
        control_socket: Some(path.clone()),
        ..Spawn::default()
    })
    .await;
    (app, path)
}

fn token(prefix: &str) -> String {
    format!("{prefix}{}", stack_server::random::token().unwrap())
}

fn document(app: &TestApp) -> Value {
    let mut signing = [0u8; 32];
    getrandom::fill(&mut signing).unwrap();
    use base64::Engine as _;
    json!({
        "format": 1,
        "internal_project_keys": {
            "publishable_client_key": token("pck_"),
            "secret_server_key": token("ssk_"),
            "super_secret_admin_key": token("sak_"),
        },
        "token_signing_secret": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signing),
        "cron_secret": stack_server::random::token().unwrap(),
        "public_urls": { "api": format!("http://localhost:{}", app.addr.port()) },
        "now_unix_millis": chrono::Utc::now().timestamp_millis(),
    })
}

/// Runs `stack-server rotate-secrets --control-socket PATH` with `input` on stdin.
fn rotate_secrets(socket: &std::path::Path, input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stack-server"))
        .args(["rotate-secrets", "--control-socket"])
        .arg(socket)
        .env_remove("STACK_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `rotate-secrets` with `doc` and expects it to succeed.
async fn rotate_successfully(socket: &std::path::Path, doc: &Value) -> Output {
    let (socket, input) = (socket.to_owned(), serde_json::to_vec(doc).unwrap());
    let out = tokio::task::spawn_blocking(move || rotate_secrets(&socket, &input))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "rotate-secrets failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let r = app
        .get("/projects/internal/.well-known/jwks.json")
        .send()
        .await;
    r.assert_status(200);
    r.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_rotation_through_the_control_socket_replaces_every_key_at_once() {
    let (app, socket) = spawn_with_control("rotate").await;
    let old_kids = jwks_kids(&app).await;
    let before = app.sign_up(&app.email(), "password123").await;
    app.get("/users/me")
        .client()
        .user(&before)
        .send()
        .await
        .assert_status(200);

    let doc = document(&app);
    let out = rotate_successfully(&socket, &doc).await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["apply_ms"].as_f64().unwrap() >= 0.0, "{report}");

    // The new keys work at once, the old ones are refused.
    let keys = &doc["internal_project_keys"];
    let r = app
        .get("/projects/current")
        .project("internal")
        .header("x-stack-access-type", "server")
        .header(
            "x-stack-secret-server-key",
            keys["secret_server_key"].as_str().unwrap(),
        )
        .send()
        .await;
    r.assert_status(200);
    app.get("/projects/current")
        .server()
        .send()
        .await
        .assert_known(401, "INVALID_SECRET_SERVER_KEY");
    let r = app
        .get("/users/me")
        .project("internal")
        .header("x-stack-access-type", "client")
        .header(
            "x-stack-publishable-client-key",
            keys["publishable_client_key"].as_str().unwrap(),
        )
        .header("x-stack-access-token", &before.access)
        .send()
        .await;
    // An access token signed with the old signing secret is no longer valid.
    r.assert_status(401);
    let new_kids = jwks_kids(&app).await;
    assert_ne!(new_kids, old_kids, "the JWKS still lists the old keys");
}

#[tokio::test]
async fn a_bad_rotation_document_is_refused_and_changes_nothing() {
    let (app, socket) = spawn_with_control("bad").await;
    let mut doc = document(&app);
    doc["internal_project_keys"]["secret_server_key"] = "ssk_short".into();
    let input = serde_json::to_vec(&doc).unwrap();
    let path = socket.clone();
    let out = tokio::task::spawn_blocking(move || rotate_secrets(&path, &input))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("internal_project_keys.secret_server_key"),
        "{stderr}"
    );
    app.get("/projects/current")
        .server()
        .send()
        .await
        .assert_status(200);

    // Sent straight to the socket, past the client's own check: the server
    // refuses it too, and keeps serving.
    let raw = serde_json::to_vec(&doc).unwrap();
    let answer = tokio::task::spawn_blocking(move || stack_server::control::request(&socket, &raw))
        .await
        .unwrap();
    let err = answer.unwrap_err().to_string();
    assert!(
        err.contains("internal_project_keys.secret_server_key"),
        "{err}"
    );
    app.get("/projects/current")
        .server()
        .send()
        .await
        .assert_status(200);
}

#[tokio::test]
async fn the_control_socket_is_private_and_bounds_its_requests() {
    let (app, socket) = spawn_with_control("private").await;
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "control socket mode {mode:o}");

    let huge = vec![b'x'; 200 * 1024];
    let path = socket.clone();
    let answer = tokio::task::spawn_blocking(move || stack_server::control::request(&path, &huge))
        .await
        .unwrap();
    let err = answer.unwrap_err().to_string();
    assert!(err.contains("larger than"), "{err}");

    // Without a running server the client says where it looked.
    let missing = socket.with_file_name("absent.sock");
    let out = tokio::task::spawn_blocking(move || rotate_secrets(&missing, b"{}"))
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rotation document"), "{stderr}");
    let missing = socket.with_file_name("absent.sock");
    let doc = serde_json::to_vec(&document(&app)).unwrap();
    let out = tokio::task::spawn_blocking(move || rotate_secrets(&missing, &doc))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the running server") && stderr.contains("absent.sock"),
        "{stderr}"
    );
    app.get("/projects/current")
        .server()
        .send()
        .await
        .assert_status(200);
}

#[tokio::test]
async fn another_server_on_the_same_database_follows_a_rotation_it_did_not_apply() {
    let (app, socket) = spawn_with_control("follow").await;
    let other = TestApp::spawn_with(Spawn {
        db: Some(app.db_options.clone()),
        ..Spawn::default()
    })
    .await;
    let current_with = |server: &TestApp, key: &str| {
        server
            .get("/projects/current")
            .project("internal")
            .header("x-stack-access-type", "server")
            .header("x-stack-secret-server-key", key)
    };
    // The other server has the old key cached as good.
    current_with(&other, &app.ssk)
        .send()
        .await
        .assert_status(200);

    let doc = document(&app);
    rotate_successfully(&socket, &doc).await;

    // It learns of the change through the NOTIFY, a moment later.
    let new_key = doc["internal_project_keys"]["secret_server_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let old = current_with(&other, &app.ssk).send().await;
        let new = current_with(&other, &new_key).send().await;
        if old.status == 401 && new.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other server still answers {} to the old key and {} to the new one",
            old.status,
            new.status
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(jwks_kids(&other).await, jwks_kids(&app).await);
}

#[tokio::test]
async fn a_rotation_without_the_internal_key_set_is_refused_and_changes_nothing() {
    let (app, socket) = spawn_with_control("unseeded").await;
    sqlx::query("UPDATE api_key_sets SET description = 'renamed' WHERE project_id = 'internal'")
        .execute(&app.pool)
        .await
        .unwrap();
    let settings = || async {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT name, value FROM server_settings ORDER BY name")
                .fetch_all(&app.pool)
                .await
                .unwrap();
        rows
    };
    let before = settings().await;
    let kids = jwks_kids(&app).await;

    let input = serde_json::to_vec(&document(&app)).unwrap();
    let out = tokio::task::spawn_blocking(move || rotate_secrets(&socket, &input))
        .await
        .unwrap();
    assert!(
        !out.status.success(),
        "a rotation without its key set passed"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the internal project's key set is missing"),
        "{stderr}"
    );
    assert_eq!(settings().await, before, "the settings changed");
    assert_eq!(jwks_kids(&app).await, kids);
    app.get("/projects/current")
        .server()
        .send()
        .await
        .assert_status(200);
}
