//! The mail sink over real TCP: SMTP in (with malformed and oversized input),
//! the JSON API and the web page out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Smtp, TestApp};

fn message(subject: &str, text: &str, html: &str) -> String {
    format!(
        "From: Sender <sender@example.com>\r\nTo: rcpt@example.com\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--XX--\r\n"
    )
}

#[tokio::test]
async fn a_message_is_stored_per_recipient_then_listed_read_and_deleted() {
    let app = TestApp::spawn().await;
    let (mut smtp, greeting) = Smtp::connect(app.smtp_addr).await;
    assert!(greeting.starts_with("220 "), "{greeting}");
    let ehlo = smtp.cmd("EHLO tester").await;
    assert!(ehlo.contains("250-SIZE 1048576"), "{ehlo}");
    let done = smtp
        .send_mail(
            "sender@example.com",
            &["Alice@Example.com", "bob@example.com"],
            &message("Hello there", "plain words", "<p>rich <b>words</b></p>"),
        )
        .await;
    assert!(done.starts_with("250 "), "{done}");
    assert!(smtp.cmd("QUIT").await.starts_with("221"));

    // Mailboxes are lower-cased addresses; each recipient has its own copy.
    let alice = app.mailbox("alice@example.com").await;
    assert_eq!(alice.len(), 1);
    let summary = &alice[0];
    assert_eq!(summary["subject"], "Hello there");
    assert_eq!(summary["from"], "sender@example.com");
    assert_eq!(
        summary["to"],
        json!(["Alice@Example.com", "bob@example.com"])
    );
    assert_eq!(summary["mailbox"], "alice@example.com");
    assert!(summary["size"].as_i64().unwrap() > 100);
    assert_eq!(app.mailbox("BOB@example.com").await.len(), 1);

    let id = summary["id"].as_i64().unwrap();
    let full = app
        .sink(
            Method::GET,
            &format!("/api/v1/mailbox/alice@example.com/{id}"),
        )
        .send()
        .await;
    full.assert_status(200);
    assert_eq!(
        full.body["body"]["text"].as_str().unwrap().trim(),
        "plain words"
    );
    assert_eq!(
        full.body["body"]["html"].as_str().unwrap().trim(),
        "<p>rich <b>words</b></p>"
    );
    let source = app
        .sink(
            Method::GET,
            &format!("/api/v1/mailbox/alice@example.com/{id}/source"),
        )
        .send()
        .await;
    source.assert_status(200);
    assert!(source.text.contains("Subject: Hello there\r\n"));

    let gone = app
        .sink(
            Method::DELETE,
            &format!("/api/v1/mailbox/alice@example.com/{id}"),
        )
        .send()
        .await;
    gone.assert_status(200);
    assert_eq!(gone.body, json!({ "deleted": 1 }));
    app.sink(
        Method::GET,
        &format!("/api/v1/mailbox/alice@example.com/{id}"),
    )
    .send()
    .await
    .assert_status(404);
    app.sink(
        Method::DELETE,
        &format!("/api/v1/mailbox/alice@example.com/{id}"),
    )
    .send()
    .await
    .assert_status(404);
    // Bob's copy is untouched, and "delete all" removes it.
    assert_eq!(app.mailbox("bob@example.com").await.len(), 1);
    let all = app.sink(Method::DELETE, "/api/v1/messages").send().await;
    assert_eq!(all.body, json!({ "deleted": 1 }));
    assert!(app.mailbox("bob@example.com").await.is_empty());
}

#[tokio::test]
async fn listings_are_newest_first_and_page_with_a_cursor() {
    let app = TestApp::spawn().await;
    let (mut smtp, _) = Smtp::connect(app.smtp_addr).await;
    smtp.cmd("HELO tester").await;
    for i in 0..5 {
        let r = smtp
            .send_mail(
                "s@example.com",
                &["pages@example.com"],
                &format!("Subject: n{i}\r\n\r\nbody {i}\r\n"),
            )
            .await;
        assert!(r.starts_with("250"), "{r}");
    }
    let mut subjects = Vec::new();
    let mut path = "/api/v1/mailbox/pages@example.com?limit=2".to_owned();
    loop {
        let r = app.sink(Method::GET, &path).send().await;
        r.assert_status(200);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        subjects.extend(
            items
                .iter()
                .map(|m| m["subject"].as_str().unwrap().to_owned()),
        );
        match r.body["next_before"].as_i64() {
            Some(before) => {
                path = format!("/api/v1/mailbox/pages@example.com?limit=2&before={before}")
            }
            None => break,
        }
    }
    assert_eq!(subjects, ["n4", "n3", "n2", "n1", "n0"]);

    let mailboxes = app.sink(Method::GET, "/api/v1/mailboxes").send().await;
    assert_eq!(mailboxes.body[0]["name"], "pages@example.com");
    assert_eq!(mailboxes.body[0]["count"], 5);

    let purge = app
        .sink(Method::DELETE, "/api/v1/mailbox/pages@example.com")
        .send()
        .await;
    assert_eq!(purge.body, json!({ "deleted": 5 }));
}

#[tokio::test]
async fn bad_api_input_gets_clear_4xx_answers() {
    let app = TestApp::spawn().await;
    let r = app
        .sink(Method::GET, "/api/v1/mailbox/a@b.co/not-a-number")
        .send()
        .await;
    r.assert_status(400);
    assert_eq!(r.body["error"], "the message id must be a number");
    let r = app
        .sink(Method::GET, "/api/v1/mailbox/a@b.co?limit=0")
        .send()
        .await;
    r.assert_status(400);
    assert_eq!(
        r.body["error"],
        "limit must be a whole number from 1 to 200"
    );
    let r = app
        .sink(Method::GET, "/api/v1/mailbox/a@b.co?before=x")
        .send()
        .await;
    r.assert_status(400);
    app.sink(Method::GET, "/api/v1/mailbox/a@b.co/42")
        .send()
        .await
        .assert_status(404);
    let health = app.sink(Method::GET, "/health").send().await;
    health.assert_status(200);
    assert_eq!(health.body, json!({ "status": "ok" }));
}

#[tokio::test]
async fn malformed_commands_get_5xx_and_the_listener_keeps_serving() {
    let app = TestApp::spawn().await;
    let (mut smtp, _) = Smtp::connect(app.smtp_addr).await;
    assert!(smtp.cmd("MAIL FROM:<a@b.co>").await.starts_with("503 "));
    assert!(smtp.cmd("EHLO").await.starts_with("501 "));
    assert!(smtp.cmd("FROBNICATE").await.starts_with("500 "));
    smtp.write(b"\xff\xfe\r\n").await;
    assert!(smtp.reply().await.starts_with("500 "));
    smtp.write(format!("NOOP {}\r\n", "x".repeat(5000)).as_bytes())
        .await;
    assert!(smtp.reply().await.starts_with("500 5.5.2 Line too long"));
    smtp.cmd("HELO tester").await;
    assert!(smtp.cmd("MAIL FROM:a@b.co").await.starts_with("501 "));
    assert!(smtp.cmd("RCPT TO:<a@b.co>").await.starts_with("503 "));
    assert!(smtp.cmd("MAIL FROM:<a@b.co>").await.starts_with("250"));
    assert!(smtp.cmd("RCPT TO:<no-at-sign>").await.starts_with("501 "));
    assert!(smtp.cmd("DATA extra").await.starts_with("501 "));
    // Nine errors so far; one more closes the connection with 421.
    assert!(smtp.cmd("ALSO-BAD").await.starts_with("500 "));
    let last = smtp.reply().await;
    assert!(last.starts_with("421 "), "{last}");
    assert_eq!(smtp.reply().await, "", "the server closed the connection");

    // A new connection is served normally.
    let (mut again, greeting) = Smtp::connect(app.smtp_addr).await;
    assert!(greeting.starts_with("220"));
    again.cmd("HELO tester").await;
    let r = again
        .send_mail(
            "a@b.co",
            &["after-errors@example.com"],
            "Subject: still here\r\n\r\nok\r\n",
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(app.mailbox("after-errors@example.com").await.len(), 1);
}

#[tokio::test]
async fn an_oversized_message_is_refused_with_552_and_the_connection_goes_on() {
    let app = TestApp::spawn().await;
    let (mut smtp, _) = Smtp::connect(app.smtp_addr).await;
    smtp.cmd("EHLO tester").await;
    // Announced too large: refused at MAIL.
    assert!(
        smtp.cmd("MAIL FROM:<a@b.co> SIZE=2000000")
            .await
            .starts_with("552 ")
    );
    // Not announced: read to its end, then refused.
    let line = "y".repeat(998);
    let big: String = std::iter::repeat_n(format!("{line}\r\n"), 1100).collect();
    let r = smtp
        .send_mail(
            "a@b.co",
            &["big@example.com"],
            &format!("Subject: big\r\n\r\n{big}"),
        )
        .await;
    assert!(r.starts_with("552 "), "{r}");
    // The same connection still delivers a normal message.
    let r = smtp
        .send_mail(
            "a@b.co",
            &["big@example.com"],
            "Subject: small\r\n\r\nfits\r\n",
        )
        .await;
    assert!(r.starts_with("250 "), "{r}");
    let items = app.mailbox("big@example.com").await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["subject"], "small");
}

#[tokio::test]
async fn a_flood_is_bounded_per_connection_and_in_connections() {
    let app = TestApp::spawn().await;
    // At most 100 messages per connection: the 100th reply is followed by 421.
    let (mut smtp, _) = Smtp::connect(app.smtp_addr).await;
    smtp.cmd("HELO flooder").await;
    for i in 0..100 {
        let r = smtp
            .send_mail(
                "f@example.com",
                &["flood@example.com"],
                &format!("Subject: {i}\r\n\r\nx\r\n"),
            )
            .await;
        assert!(r.starts_with("250"), "message {i}: {r}");
    }
    assert!(smtp.reply().await.starts_with("421 "));
    assert_eq!(smtp.reply().await, "");

    // At most 64 connections at once: the next one is turned away, and served again later.
    let mut held = Vec::new();
    for _ in 0..64 {
        let (client, greeting) = Smtp::connect(app.smtp_addr).await;
        assert!(greeting.starts_with("220"));
        held.push(client);
    }
    let (_, refused) = Smtp::connect(app.smtp_addr).await;
    assert!(refused.starts_with("421 "), "{refused}");
    drop(held);
    crate::helpers::wait_until(
        "a free SMTP slot",
        std::time::Duration::from_secs(5),
        || async { Smtp::connect(app.smtp_addr).await.1.starts_with("220") },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn storage_is_bounded_by_deleting_the_oldest_messages() {
    let app = TestApp::spawn().await;
    let (mut smtp, _) = Smtp::connect(app.smtp_addr).await;
    smtp.cmd("HELO tester").await;
    for i in 0..12 {
        smtp.send_mail(
            "s@example.com",
            &["prune@example.com"],
            &format!("Subject: p{i}\r\n\r\nx\r\n"),
        )
        .await;
    }
    let deleted = stack_server::db::mail::prune(&app.pool, 5).await.unwrap();
    assert_eq!(deleted, 7);
    let subjects: Vec<String> = app
        .mailbox("prune@example.com")
        .await
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(subjects, ["p11", "p10", "p9", "p8", "p7"]);
}

#[tokio::test]
async fn the_web_page_shows_mailboxes_and_renders_mail_html_only_in_a_sandbox() {
    let app = TestApp::spawn().await;
    let (mut smtp, _) = Smtp::connect(app.smtp_addr).await;
    smtp.cmd("HELO tester").await;
    smtp.send_mail(
        "s@example.com",
        &["web@example.com"],
        &message(
            "Look <here>",
            "text view",
            "<p>html view</p><script>alert(1)</script>",
        ),
    )
    .await;
    let index = app.sink(Method::GET, "/").send().await;
    index.assert_status(200);
    assert!(
        index.text.contains("/m/web%40example.com"),
        "{}",
        index.text
    );
    let csp = index.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"));

    let list = app.sink(Method::GET, "/m/web@example.com").send().await;
    assert!(list.text.contains("Look &lt;here&gt;"));
    let id = app.mailbox("web@example.com").await[0]["id"]
        .as_i64()
        .unwrap();
    let page = app
        .sink(Method::GET, &format!("/m/web@example.com/{id}"))
        .send()
        .await;
    page.assert_status(200);
    assert!(page.text.contains("<pre>text view"));
    assert!(page.text.contains("<iframe sandbox=\"\""));
    assert!(page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        !page.text.contains("<script>"),
        "mail HTML must not reach the page unescaped"
    );
}

#[tokio::test]
async fn a_send_while_the_smtp_server_is_down_answers_at_once_and_is_retried() {
    // A port with nothing behind it yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(crate::helpers::Spawn {
        smtp_url: Some(
            stack_server::mail::outbound::SmtpUrl::parse(&format!("smtp://127.0.0.1:{port}"))
                .unwrap(),
        ),
        ..crate::helpers::Spawn::default()
    })
    .await;
    let email = app.email();
    let started = std::time::Instant::now();
    app.post("/auth/otp/send-sign-in-code")
        .client()
        .json(json!({ "email": email, "callback_url": "http://localhost:3000/cb" }))
        .send()
        .await
        .assert_status(200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "the API call does not wait for the mail server"
    );
    assert!(app.mailbox(&email).await.is_empty());
    // The SMTP server comes up; the queued mail is delivered by a retry.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let sink = tokio::spawn(stack_server::mail::smtp::serve(
        listener,
        app.pool.clone(),
        stack_server::mail::smtp::SmtpLimits::default(),
    ));
    let mail = app.wait_for_mail(&email, 1).await;
    assert!(
        mail["subject"]
            .as_str()
            .unwrap()
            .starts_with("Sign in to Stack Dashboard")
    );
    sink.abort();
}

fn settings(mail: stack_server::state::MailSettings) -> stack_server::state::ServeSettings {
    stack_server::state::ServeSettings {
        default_public_api_url: "http://localhost:8102".into(),
        access_token_ttl: crate::helpers::TOKEN_TTL,
        local_emulator: false,
        mail,
        oauth: stack_server::state::OAuthSettings::default(),
        dashboard_listen: None,
    }
}

#[tokio::test]
async fn bad_mail_settings_stop_the_server_with_a_clear_error() {
    use stack_server::{Application, BindError, state::MailSettings};
    // A lazy pool never connects: binding fails before any query.
    let pool = stack_server::connect_lazy(crate::helpers::admin_url().parse().unwrap(), 1);
    let err = Application::bind(
        "127.0.0.1:0".parse().unwrap(),
        pool.clone(),
        settings(MailSettings {
            from_address: "not an address".into(),
            ..MailSettings::default()
        }),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, BindError::FromAddress(_)));
    assert_eq!(
        err.to_string(),
        "the mail sender address \"not an address\" is not a valid address"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Application::bind(
        "127.0.0.1:0".parse().unwrap(),
        pool,
        settings(MailSettings {
            smtp_listen: Some(addr),
            ..MailSettings::default()
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot listen on {addr} for the mail sink's SMTP listener")
    );
}
