//! Mail under hostile input: project names that would break mail headers,
//! clients that hold every SMTP connection, and requests to the sink's web
//! listener under someone else's host name (DNS rebinding).

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use stack_server::mail::outbound::SmtpUrl;
use stack_server::mail::smtp::{self, SmtpLimits};

use crate::helpers::{Response, Smtp, Spawn, TestApp};

const CALLBACK: &str = "http://localhost:3000/handler/magic-link-callback";

/// A project named `name` that sends sign-in codes: its id and publishable key.
async fn project_named(app: &TestApp, name: &str) -> (String, String) {
    let path = format!(
        "/home/dev/app-{}/stack.config.ts",
        uuid::Uuid::new_v4().simple()
    );
    let r = app
        .post("/internal/local-emulator/project")
        .server()
        .json(json!({
            "absolute_file_path": path,
            "branch_config_override_string": r#"{"auth":{"otp":{"allowSignIn":true}}}"#,
        }))
        .send()
        .await;
    r.assert_status(200);
    let id = r.body["project_id"].as_str().unwrap().to_owned();
    let pck = r.body["publishable_client_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let sak = r.body["super_secret_admin_key"].as_str().unwrap();
    let renamed = app
        .patch("/internal/projects/current")
        .with_key("admin", &id, sak)
        .json(json!({ "display_name": name }))
        .send()
        .await;
    renamed.assert_status(200);
    assert_eq!(
        renamed.body["display_name"], name,
        "the name is stored as sent"
    );
    (id, pck)
}

async fn send_code_from(app: &TestApp, project: &(String, String), email: &str) {
    app.post("/auth/otp/send-sign-in-code")
        .with_key("client", &project.0, &project.1)
        .json(json!({ "email": email, "callback_url": CALLBACK }))
        .send()
        .await
        .assert_status(200);
}

/// The raw source of a stored mail.
async fn source_of(app: &TestApp, mail: &Value) -> Response {
    let path = format!(
        "/api/v1/mailbox/{}/{}/source",
        mail["mailbox"].as_str().unwrap(),
        mail["id"]
    );
    let r = app.sink(Method::GET, &path).send().await;
    r.assert_status(200);
    r
}

/// The header section of a raw message, one entry per physical line.
fn header_lines(source: &str) -> Vec<&str> {
    let (head, _) = source
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header section in {source:?}"));
    head.split("\r\n").collect()
}

#[tokio::test]
async fn a_project_named_with_crlf_cannot_stop_anyones_mail() {
    let app = TestApp::spawn().await;
    let hostile = project_named(&app, "Evil\r\nBcc: victim@example.com\r\n\r\nInjected body").await;
    let first = app.email();
    send_code_from(&app, &hostile, &first).await;
    let mail = app.wait_for_mail(&first, 1).await;
    let subject = mail["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("Sign in to Evil Bcc: victim@example.com Injected body: Your code is "),
        "{subject}"
    );
    let source = source_of(&app, &mail).await;
    for line in header_lines(&source.text) {
        assert!(
            line.starts_with(' ')
                || line
                    .split_once(": ")
                    .is_some_and(|(name, _)| !name.contains(' ')),
            "not a header line: {line:?}"
        );
        assert!(!line.to_ascii_lowercase().starts_with("bcc:"), "{line:?}");
    }
    assert!(app.mailbox("victim@example.com").await.is_empty());

    // Mail of another project (the internal one) still goes out.
    let second = app.email();
    app.post("/auth/otp/send-sign-in-code")
        .client()
        .json(json!({ "email": second, "callback_url": CALLBACK }))
        .send()
        .await
        .assert_status(200);
    let mail = app.wait_for_mail(&second, 1).await;
    assert!(
        mail["subject"]
            .as_str()
            .unwrap()
            .starts_with("Sign in to Stack Dashboard: Your code is ")
    );
    let health = app.root(Method::GET, "/health?db=1").send().await;
    health.assert_status(200);
    assert_eq!(health.body, json!({ "status": "ok" }));
}

#[tokio::test]
async fn a_thousand_character_project_name_is_delivered_with_short_header_lines() {
    let app = TestApp::spawn().await;
    for name in [
        "x".repeat(1000),
        "Ünïcødé ".repeat(125).trim_end().to_owned(),
    ] {
        let project = project_named(&app, &name).await;
        let email = app.email();
        send_code_from(&app, &project, &email).await;
        let mail = app.wait_for_mail(&email, 1).await;
        let subject = mail["subject"].as_str().unwrap();
        assert!(
            subject.starts_with(&format!("Sign in to {name}: Your code is ")),
            "{subject}"
        );
        let source = source_of(&app, &mail).await;
        for line in header_lines(&source.text) {
            assert!(line.len() <= 78, "a header line of {} bytes", line.len());
        }
    }
}

#[tokio::test]
async fn a_folder_name_with_control_characters_gets_a_project_with_a_one_line_name() {
    let app = TestApp::spawn().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let path = format!("/home/dev/Evil\r\nBcc: x@example.com\t\u{7}{tag}/stack.config.ts");
    let r = app
        .post("/internal/local-emulator/project")
        .server()
        .json(json!({ "absolute_file_path": path }))
        .send()
        .await;
    r.assert_status(200);
    let id = r.body["project_id"].as_str().unwrap();
    let sak = r.body["super_secret_admin_key"].as_str().unwrap();
    let project = app
        .get("/internal/projects/current")
        .with_key("admin", id, sak)
        .send()
        .await;
    project.assert_status(200);
    assert_eq!(
        project.body["display_name"],
        format!("Evil Bcc: x@example.com {tag}")
    );
}

#[tokio::test]
async fn the_servers_own_mail_gets_through_while_other_clients_hold_every_slot() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = TestApp::spawn_with(Spawn {
        smtp_url: Some(SmtpUrl::of(addr)),
        ..Spawn::default()
    })
    .await;
    let sink = tokio::spawn(smtp::serve(
        listener,
        app.pool.clone(),
        SmtpLimits {
            max_connections: 2,
            reserved_own_connections: 1,
            ..SmtpLimits::default()
        },
    ));
    let mut held = Vec::new();
    for _ in 0..2 {
        let (client, greeting) = Smtp::connect(addr).await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        held.push(client);
    }
    let (_, refused) = Smtp::connect(addr).await;
    assert!(refused.starts_with("421 "), "{refused}");

    let email = app.email();
    app.post("/auth/otp/send-sign-in-code")
        .client()
        .json(json!({ "email": email, "callback_url": CALLBACK }))
        .send()
        .await
        .assert_status(200);
    app.wait_for_mail(&email, 1).await;
    // The kept slot is not for anyone else.
    let (_, refused) = Smtp::connect(addr).await;
    assert!(refused.starts_with("421 "), "{refused}");
    drop(held);
    sink.abort();
}

#[tokio::test]
async fn a_connection_held_open_in_silence_is_closed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pool = stack_server::connect_lazy(crate::helpers::admin_url().parse().unwrap(), 1);
    let sink = tokio::spawn(smtp::serve(
        listener,
        pool,
        SmtpLimits {
            idle_timeout: Duration::from_millis(300),
            ..SmtpLimits::default()
        },
    ));
    let (mut client, greeting) = Smtp::connect(addr).await;
    assert!(greeting.starts_with("220 "), "{greeting}");
    let started = std::time::Instant::now();
    let closing = client.reply().await;
    assert!(closing.starts_with("421 4.4.2 Idle too long"), "{closing}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(client.reply().await, "", "the server closed the connection");
    sink.abort();
}

#[tokio::test]
async fn the_sink_answers_only_loopback_host_headers() {
    let app = TestApp::spawn().await;
    for path in [
        "/",
        "/health",
        "/m/ada@example.com",
        "/api/v1/mailboxes",
        "/api/v1/mailbox/ada@example.com",
        "/api/v1/mailbox/ada@example.com/1/source",
    ] {
        for host in [
            "rebound.attacker.example",
            "rebound.attacker.example:8105",
            "10.0.2.15:8105",
        ] {
            let r = app
                .sink(Method::GET, path)
                .header("host", host)
                .send()
                .await;
            r.assert_status(421);
            assert!(r.text.contains("localhost"), "{host} {path}: {}", r.text);
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        }
    }
    let r = app
        .sink(Method::DELETE, "/api/v1/messages")
        .header("host", "rebound.attacker.example")
        .send()
        .await;
    r.assert_status(421);
    for host in [
        "localhost",
        "localhost:26703",
        "mail.localhost",
        "127.1.2.3:80",
        "[::1]:8105",
    ] {
        app.sink(Method::GET, "/api/v1/mailboxes")
            .header("host", host)
            .send()
            .await
            .assert_status(200);
    }
}

#[tokio::test]
async fn every_answer_is_nosniff_and_pages_load_no_remote_images() {
    let app = TestApp::spawn().await;
    let (mut smtp, _) = Smtp::connect(app.smtp_addr).await;
    smtp.cmd("HELO tester").await;
    let r = smtp
        .send_mail(
            "s@example.com",
            &["pixel@example.com"],
            "Subject: tracked\r\nContent-Type: text/html\r\n\r\n<p>hi</p><img src=\"http://tracker.example/p.gif\">\r\n",
        )
        .await;
    assert!(r.starts_with("250 "), "{r}");
    let id = app.mailbox("pixel@example.com").await[0]["id"]
        .as_i64()
        .unwrap();
    let source = app
        .sink(
            Method::GET,
            &format!("/api/v1/mailbox/pixel@example.com/{id}/source"),
        )
        .send()
        .await;
    source.assert_status(200);
    assert_eq!(
        source.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(source.header("x-content-type-options"), Some("nosniff"));
    for path in [
        "/api/v1/mailboxes".to_owned(),
        "/api/v1/mailbox/pixel@example.com/999999".to_owned(),
        "/no/such/page".to_owned(),
        "/health".to_owned(),
        format!("/m/pixel@example.com/{id}"),
    ] {
        let r = app.sink(Method::GET, &path).send().await;
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
    let page = app
        .sink(Method::GET, &format!("/m/pixel@example.com/{id}"))
        .send()
        .await;
    page.assert_status(200);
    let csp = page.header("content-security-policy").unwrap();
    let img = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("img-src"))
        .unwrap_or_else(|| panic!("no img-src in {csp}"));
    assert_eq!(img, "img-src 'self' data:", "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
}
