//! Hostile input: requests an attacker sends to a developer's emulator, each
//! answered as Stack Auth answers it, without a mail, a key or a timing hint
//! given away.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, Instant};

use serde_json::json;

use reqwest::Method;
use stack_server::serve::ConnectionLimits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{Spawn, TestApp};

/// Callback hosts that look local and are not: each once got a live reset code.
const NOT_LOCAL: &[&str] = &[
    "http://127.attacker.example.com/reset",
    "http://127.0.0.1.attacker.example.com/reset",
    "http://127.0.0.1.nip.io/reset",
    "http://localhost.attacker.example/reset",
    "http://attacker.example/localhost/reset",
    "http://localhost@attacker.example/reset",
    "http://0.0.0.0/reset",
    "http://[::2]/reset",
];

#[tokio::test]
async fn callbacks_on_hosts_that_only_look_local_get_no_mail() {
    let app = TestApp::spawn().await;
    let email = app.email();
    app.sign_up(&email, "a-password").await;
    let otp_email = app.email();
    for callback in NOT_LOCAL {
        app.post("/auth/password/send-reset-code")
            .client()
            .json(json!({ "email": email, "callback_url": callback }))
            .send()
            .await
            .assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");
        app.post("/auth/otp/send-sign-in-code")
            .client()
            .json(json!({ "email": otp_email, "callback_url": callback }))
            .send()
            .await
            .assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");
    }
    // The same call with a loopback callback does send: the refusals above
    // were about the host, not about the account.
    app.post("/auth/otp/send-sign-in-code")
        .client()
        .json(json!({ "email": otp_email, "callback_url": "http://127.0.0.1:3000/cb" }))
        .send()
        .await
        .assert_status(200);
    app.wait_for_mail(&otp_email, 1).await;
    assert_eq!(app.mailbox(&otp_email).await.len(), 1);
    assert!(app.mailbox(&email).await.is_empty());
}

#[tokio::test]
async fn an_untrusted_callback_is_refused_alike_for_unknown_addresses() {
    let app = TestApp::spawn().await;
    app.post("/auth/password/send-reset-code")
        .client()
        .json(json!({ "email": "nobody@example.com", "callback_url": NOT_LOCAL[0] }))
        .send()
        .await
        .assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");
}

#[tokio::test]
async fn repeated_auth_headers_are_refused_not_decided_by_the_first_copy() {
    let app = TestApp::spawn().await;
    let session = app.sign_up(&app.email(), "a-password").await;
    // Each header twice, the first copy valid: Stack Auth sees the values
    // joined and refuses them.
    app.get("/users/me")
        .client()
        .user(&session)
        .header("x-stack-access-type", "client")
        .send()
        .await
        .assert_known(400, "INVALID_ACCESS_TYPE");
    app.get("/users/me")
        .client()
        .header("x-stack-publishable-client-key", "pck_wrong")
        .user(&session)
        .send()
        .await
        .assert_known(401, "INVALID_PUBLISHABLE_CLIENT_KEY");
    app.get("/users/me")
        .client()
        .user(&session)
        .header("x-stack-access-token", "not-a-token")
        .send()
        .await
        .assert_known(401, "UNPARSABLE_ACCESS_TOKEN");
    let r = app
        .get("/users/me")
        .client()
        .user(&session)
        .header("x-stack-project-id", "internal")
        .send()
        .await;
    assert!(
        r.status.is_client_error(),
        "a repeated project id was accepted: {} {}",
        r.status,
        r.text
    );
    // One copy of each still works.
    app.get("/users/me")
        .client()
        .user(&session)
        .send()
        .await
        .assert_status(200);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test]
async fn password_sign_in_takes_as_long_for_an_unknown_address() {
    let app = TestApp::spawn().await;
    let known = app.email();
    app.sign_up(&known, "the-right-password").await;
    let sign_in = |email: String| {
        let request = app
            .post("/auth/password/sign-in")
            .client()
            .json(json!({ "email": email, "password": "a-wrong-password" }));
        async move {
            let started = Instant::now();
            request
                .send()
                .await
                .assert_known(400, "EMAIL_PASSWORD_MISMATCH");
            started.elapsed()
        }
    };
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    for i in 0..7 {
        known_times.push(sign_in(known.clone()).await);
        unknown_times.push(sign_in(format!("nobody-{i}@example.com")).await);
    }
    let (known_median, unknown_median) = (median(known_times), median(unknown_times));
    // A bcrypt check is tens of milliseconds; skipping it for an unknown
    // address made that answer come more than ten times sooner.
    assert!(
        unknown_median * 2 > known_median && known_median * 2 > unknown_median,
        "sign-in medians differ: known address {known_median:?}, unknown {unknown_median:?}"
    );
}

#[tokio::test]
async fn send_reset_code_takes_as_long_for_an_unknown_address() {
    let app = TestApp::spawn().await;
    let known = app.email();
    app.sign_up(&known, "a-password").await;
    let send = |email: String| {
        let request = app
            .post("/auth/password/send-reset-code")
            .client()
            .json(json!({ "email": email, "callback_url": "http://localhost:3000/handler/reset" }));
        async move {
            let started = Instant::now();
            let r = request.send().await;
            r.assert_status(200);
            (started.elapsed(), r.body)
        }
    };
    // The answers wait on timers, so the calls can run side by side.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..5 {
        let known_call = send(known.clone());
        calls.spawn(async move { (0, known_call.await) });
        let unknown_call = send(format!("nobody-{i}@example.com"));
        calls.spawn(async move { (1, unknown_call.await) });
    }
    let mut times = [Vec::new(), Vec::new()];
    while let Some(joined) = calls.join_next().await {
        let (kind, (elapsed, body)) = joined.unwrap();
        assert_eq!(
            body,
            json!({ "success": "maybe, only if user with e-mail exists" })
        );
        times[kind].push(elapsed);
    }
    for t in times.iter().flatten() {
        assert!(
            *t >= Duration::from_secs(2),
            "an answer came after {t:?}, before the common delay"
        );
    }
    let [known_times, unknown_times] = times;
    let (known_median, unknown_median) = (median(known_times), median(unknown_times));
    let gap = known_median.abs_diff(unknown_median);
    assert!(
        gap < Duration::from_millis(900),
        "send-reset-code medians differ: known {known_median:?}, unknown {unknown_median:?}"
    );
    app.wait_for_mail(&known, 5).await;
}

#[tokio::test]
async fn requests_naming_another_host_are_refused_on_the_api_and_the_mail_page() {
    let app = TestApp::spawn().await;
    for (base, path) in [
        (&app.base, "/api/v1/projects/current"),
        (&app.mail_base, "/api/v1/mailboxes"),
    ] {
        for host in ["attacker.example", "127.0.0.1.nip.io:8102", "192.168.1.5"] {
            let r = app
                .http
                .get(format!("{base}{path}"))
                .header("host", host)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 421, "{base}{path} answered Host {host}");
            let text = r.text().await.unwrap();
            assert!(text.contains("localhost"), "{text}");
        }
        let r = app
            .http
            .get(format!("{base}/health"))
            .header("host", "localhost:26701")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{base} refused Host localhost");
    }
    // The public API URL's host is answered too (the test server's is localhost).
    app.req(Method::GET, "/projects/current")
        .client()
        .send()
        .await
        .assert_status(200);
}

/// Opens a connection that sends the start of a request head and then nothing.
async fn half_sent_head(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn slow_request_heads_are_cut_off_and_cannot_lock_clients_out() {
    let limits = ConnectionLimits {
        max_connections: 16,
        header_read_timeout: Duration::from_secs(2),
    };
    let app = TestApp::spawn_with(Spawn {
        limits: Some((limits, limits)),
        ..Spawn::default()
    })
    .await;
    // Twice the cap of connections that never finish their head.
    let mut held = Vec::new();
    for _ in 0..32 {
        held.push(half_sent_head(app.addr).await);
    }
    // A real client still gets in at once: the oldest idle connection makes room.
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        app.http.get(format!("{}/health", app.base)).send(),
    )
    .await
    .expect("the API did not answer while slow connections were held")
    .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the API answered only after {:?}",
        started.elapsed()
    );
    // Every held connection is closed by the server: evicted, or cut off when
    // its head did not arrive in time.
    for (i, stream) in held.iter_mut().enumerate() {
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("held connection {i} was still open after 5 s"));
        if let Ok(n) = read {
            let answer = String::from_utf8_lossy(&buf[..n]);
            assert!(
                n == 0 || answer.starts_with("HTTP/1.1 408"),
                "held connection {i} got {answer:?}"
            );
        }
    }
}
