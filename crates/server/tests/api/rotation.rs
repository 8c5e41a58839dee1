//! Clock and secret-rotation requests through the running server's inbox (a
//! FIFO and an outbox file), driven the way the emulator drives them through
//! the guest agent: empty the outbox, write one line, read the outbox until
//! the answer with the request's id is there. Also the standalone
//! `stack-server rotate-secrets`.

#![allow(clippy::unwrap_used)] // a failed expectation fails the test

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Spawn, TestApp};

fn inbox_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "stack-inbox-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn spawn_with_inbox(name: &str) -> (TestApp, PathBuf) {
    let dir = inbox_dir(name);
    let app = TestApp::spawn_with(Spawn {
        inbox: Some(dir.clone()),
        ..Spawn::default()
    })
    .await;
    (app, dir)
}

/// Writes `line` (a newline is added) to the inbox in `dir` and returns the
/// answer that carries `id`.
async fn ask_raw(dir: &Path, id: &str, line: &[u8]) -> Value {
    let (dir, id, mut line) = (dir.to_owned(), id.to_owned(), line.to_vec());
    line.push(b'\n');
    tokio::task::spawn_blocking(move || {
        let outbox = dir.join(stack_server::inbox::OUTBOX_FILE);
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&outbox)
            .unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join(stack_server::inbox::INBOX_FILE))
            .unwrap()
            .write_all(&line)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&outbox).unwrap();
            let answer = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|a| a["id"] == id.as_str() || (id.is_empty() && a["id"].is_null()));
            if let Some(answer) = answer {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "no answer in the outbox: {text:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    })
    .await
    .unwrap()
}

/// Sends `request` (given an id here) and returns the answer.
async fn ask(dir: &Path, mut request: Value) -> Value {
    let id = uuid::Uuid::new_v4().simple().to_string();
    request["id"] = id.clone().into();
    ask_raw(dir, &id, &serde_json::to_vec(&request).unwrap()).await
}

/// Asks for `doc` to be applied and expects it to succeed.
async fn rotate_successfully(dir: &Path, doc: &Value) -> Value {
    let answer = ask(dir, json!({ "rotation": doc })).await;
    assert_eq!(answer["ok"], true, "{answer}");
    answer
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

/// Runs the standalone `stack-server rotate-secrets` against `app`'s database
/// with `input` on stdin.
async fn rotate_secrets(app: &TestApp, input: Vec<u8>) -> Output {
    let (database_url, api_url) = (app.database_url(), format!("http://{}", app.addr));
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stack-server"))
            .args(["rotate-secrets", "--api-url", &api_url])
            .env("STACK_DATABASE_URL", database_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&input).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
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
async fn a_rotation_through_the_inbox_replaces_every_key_at_once() {
    let (app, inbox) = spawn_with_inbox("rotate").await;
    let old_kids = jwks_kids(&app).await;
    let before = app.sign_up(&app.email(), "password123").await;
    app.get("/users/me")
        .client()
        .user(&before)
        .send()
        .await
        .assert_status(200);

    let doc = document(&app);
    let answer = rotate_successfully(&inbox, &doc).await;
    assert_eq!(answer["clock_set"], false, "{answer}");
    assert!(
        answer["rotation"]["apply_ms"].as_f64().unwrap() >= 0.0,
        "{answer}"
    );

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
    let (app, inbox) = spawn_with_inbox("bad").await;
    let mut doc = document(&app);
    doc["internal_project_keys"]["secret_server_key"] = "ssk_short".into();
    // A bad document leaves the clock alone too: this time is out of range on
    // purpose (the tests may run as root), and must not even be looked at.
    let answer = ask(
        &inbox,
        json!({ "rotation": doc, "set_clock_unix_millis": 0 }),
    )
    .await;
    assert_eq!(answer["ok"], false, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("internal_project_keys.secret_server_key"),
        "{error}"
    );
    app.get("/projects/current")
        .server()
        .send()
        .await
        .assert_status(200);

    // The standalone command checks it before it connects.
    let out = rotate_secrets(&app, serde_json::to_vec(&doc).unwrap()).await;
    assert!(!out.status.success());
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
}

#[tokio::test]
async fn the_inbox_is_private_answers_every_bad_request_and_keeps_serving() {
    let (app, inbox) = spawn_with_inbox("private").await;
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    for name in [
        stack_server::inbox::INBOX_FILE,
        stack_server::inbox::OUTBOX_FILE,
    ] {
        let meta = std::fs::metadata(inbox.join(name)).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} mode {mode:o}");
    }
    assert!(
        std::fs::metadata(inbox.join(stack_server::inbox::INBOX_FILE))
            .unwrap()
            .file_type()
            .is_fifo()
    );

    // Not JSON: answered without an id.
    let answer = ask_raw(&inbox, "", b"rotate please").await;
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("not valid"),
        "{answer}"
    );
    // An unknown field: answered with the request's id.
    let answer = ask(&inbox, json!({ "reboot": true })).await;
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("reboot"),
        "{answer}"
    );
    // A time that is no time.
    let answer = ask(&inbox, json!({ "set_clock_unix_millis": -5 })).await;
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("2020"),
        "{answer}"
    );
    // A line longer than the limit is dropped whole, and the next one is read.
    let huge = vec![b'x'; 200 * 1024];
    let answer = ask_raw(&inbox, "", &huge).await;
    assert!(
        answer["error"].as_str().unwrap().contains("larger than"),
        "{answer}"
    );
    let answer = rotate_successfully(&inbox, &document(&app)).await;
    assert_eq!(answer["clock_set"], false, "{answer}");
    assert!(
        answer["rotation"]["confirm_ms"].as_f64().is_some(),
        "{answer}"
    );
}

#[tokio::test]
async fn another_server_on_the_same_database_follows_a_rotation_it_did_not_apply() {
    let (app, inbox) = spawn_with_inbox("follow").await;
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
    rotate_successfully(&inbox, &doc).await;

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
    let (app, inbox) = spawn_with_inbox("unseeded").await;
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

    let answer = ask(&inbox, json!({ "rotation": document(&app) })).await;
    assert_eq!(
        answer["ok"], false,
        "a rotation without its key set passed: {answer}"
    );
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("the internal project's key set is missing"),
        "{error}"
    );
    assert_eq!(settings().await, before, "the settings changed");
    assert_eq!(jwks_kids(&app).await, kids);
    app.get("/projects/current")
        .server()
        .send()
        .await
        .assert_status(200);
}

#[tokio::test]
async fn the_standalone_command_rotates_and_the_running_server_follows() {
    let app = TestApp::spawn().await;
    let doc = document(&app);
    let out = rotate_secrets(&app, serde_json::to_vec(&doc).unwrap()).await;
    assert!(
        out.status.success(),
        "rotate-secrets failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: stack_proto::rotation::RotationReport =
        serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report.apply_ms > 0.0 && report.confirm_ms > 0.0,
        "{report:?}"
    );
    assert!(!report.steps_ms.is_empty(), "{report:?}");
    // The command confirmed through the API that the server took the new key.
    app.get("/projects/current")
        .server()
        .send()
        .await
        .assert_known(401, "INVALID_SECRET_SERVER_KEY");
    app.get("/projects/current")
        .project("internal")
        .header("x-stack-access-type", "server")
        .header(
            "x-stack-secret-server-key",
            doc["internal_project_keys"]["secret_server_key"]
                .as_str()
                .unwrap(),
        )
        .send()
        .await
        .assert_status(200);
}

/// The session facts `stack-emulator start` sends: what the dashboard's
/// emulator page shows.
fn session_facts(boot: &str, rotated_at: Option<i64>) -> Value {
    let mut facts = json!({
        "emulator_version": "9.8.7",
        "accelerator": "tcg",
        "accelerator_reason": "KVM cannot run a guest here",
        "image_version": "image-2026.12.06",
        "boot": boot,
        "snapshot": "fingerprint0123456789abcdef",
        "started_at_unix_millis": 1_796_000_000_000_i64,
        "ports": [
            { "service": "API", "host": 26701, "guest": 8102 },
            { "service": "dashboard", "host": 26700, "guest": 8101 }
        ],
        "home": "/home/dev/.stack/emulator"
    });
    if let Some(at) = rotated_at {
        facts["keys_rotated_at_unix_millis"] = at.into();
    }
    facts
}

async fn emulator_page(app: &TestApp) -> String {
    let r = reqwest::get(format!("{}/emulator", app.dashboard_base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

#[tokio::test]
async fn the_hosts_session_facts_reach_the_dashboards_emulator_page() {
    let (app, inbox) = spawn_with_inbox("facts").await;
    let page = emulator_page(&app).await;
    assert!(page.contains("was not started by"), "{page}");

    // Facts the server cannot show are refused, and nothing is recorded.
    let mut bad = session_facts("cold-boot", None);
    bad["boot"] = "x".repeat(600).into();
    let answer = ask(&inbox, json!({ "session": bad })).await;
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("session.boot"),
        "{answer}"
    );
    let mut unknown = session_facts("cold-boot", None);
    unknown["cpu_temperature"] = 80.into();
    let answer = ask(&inbox, json!({ "session": unknown })).await;
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(emulator_page(&app).await.contains("was not started by"));

    // A start that rotates: the server stamps the rotation time itself.
    let before = chrono::Utc::now();
    let answer = ask(
        &inbox,
        json!({ "rotation": document(&app), "session": session_facts("pristine-resume", None) }),
    )
    .await;
    assert_eq!(answer["ok"], true, "{answer}");
    let page = emulator_page(&app).await;
    for shown in [
        "image-2026.12.06",
        "KVM cannot run a guest here",
        "resumed from the image&#39;s pristine snapshot",
        "http://localhost:26701",
        "fingerprint0",
        "/home/dev/.stack/emulator",
        "9.8.7",
        &before.format("%Y-%m-%d").to_string(),
    ] {
        assert!(page.contains(shown), "{shown} missing from {page}");
    }
    assert!(!page.contains("was not started by"), "{page}");
    assert!(!page.contains(">never<"), "{page}");

    // A later start that only sets the clock replaces the facts; one
    // without rotated keys (--no-rotation) is said to be so.
    let answer = ask(
        &inbox,
        json!({ "session": session_facts("session-resume", None) }),
    )
    .await;
    assert_eq!(answer["ok"], true, "{answer}");
    let page = emulator_page(&app).await;
    assert!(
        page.contains("resumed from the hibernated session"),
        "{page}"
    );
    assert!(page.contains(">never<"), "{page}");
    // Markup in the host's text is shown as text.
    let mut hostile = session_facts("cold-boot", Some(1_796_100_000_000));
    hostile["image_version"] = "<script>alert(1)</script>".into();
    let answer = ask(&inbox, json!({ "session": hostile })).await;
    assert_eq!(answer["ok"], true, "{answer}");
    let page = emulator_page(&app).await;
    assert!(page.contains("&lt;script&gt;alert(1)"), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(
        page.contains("2026-12-01 04:40 UTC"),
        "the host's rotation time: {page}"
    );
}
