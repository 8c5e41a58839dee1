//! "With PostgreSQL down, `/health?db=1` answers 503, requests fail with a
//! clear error, and the server recovers by itself."
//!
//! The outage is made by a TCP proxy between the server and PostgreSQL (a
//! fault injector at a boundary users never see): while it is down it cuts
//! every open connection and closes new ones at once, as a crashed or
//! restarting database would look from the server's side.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::helpers::{Response, Spawn, TestApp, admin_url, wait_until};

/// How long the server may take to notice that PostgreSQL is back.
const RECOVERY_LIMIT: Duration = Duration::from_secs(20);

/// A TCP forwarder to PostgreSQL that can be switched off and on.
struct CuttingProxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    accept_loop: JoinHandle<()>,
}

impl CuttingProxy {
    async fn start(upstream: (String, u16)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (up, up_rx) = watch::channel(true);
        let accept_loop = tokio::spawn(async move {
            // Dropping this set (when the loop is aborted) ends every forwarded connection.
            let mut connections = JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                while connections.try_join_next().is_some() {}
                if !*up_rx.borrow() {
                    drop(client); // refuse: the server sees the connection close at once
                    continue;
                }
                let mut down = up_rx.clone();
                let upstream = upstream.clone();
                connections.spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self {
            addr,
            up,
            accept_loop,
        }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

fn postgres_address() -> (String, u16) {
    let admin: PgConnectOptions = admin_url().parse().expect("admin URL");
    (admin.get_host().to_owned(), admin.get_port())
}

async fn health(app: &TestApp) -> Response {
    app.root(Method::GET, "/health?db=1").send().await
}

async fn list_users(app: &TestApp) -> Response {
    app.get("/users?limit=1").server().send().await
}

#[track_caller]
fn assert_database_error(r: &Response, what: &str) {
    assert_eq!(r.status.as_u16(), 503, "{what}: {} {}", r.status, r.text);
    r.assert_plain_kind();
    assert!(
        r.text.to_lowercase().contains("database"),
        "{what}: the message should name the database: {}",
        r.text
    );
}

#[tokio::test]
async fn outage_through_a_cutting_proxy_gives_503_then_recovers() {
    let proxy = CuttingProxy::start(postgres_address()).await;
    let app = TestApp::spawn_with(Spawn {
        db_through: Some(proxy.addr),
        ..Spawn::default()
    })
    .await;
    assert!(app.db_options.get_database().is_some());
    let r = health(&app).await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "status": "ok" }));
    list_users(&app).await.assert_status(200);

    proxy.set_up(false);
    let r = health(&app).await;
    assert_eq!(r.status.as_u16(), 503, "health while down: {}", r.text);
    // Health without the database check stays up.
    app.root(Method::GET, "/health")
        .send()
        .await
        .assert_status(200);
    let (users, sign_in, jwks) = tokio::join!(
        list_users(&app),
        app.post("/auth/password/sign-in")
            .client()
            .json(json!({ "email": "nobody@example.com", "password": "password123" }))
            .send(),
        app.get("/projects/internal/.well-known/jwks.json").send(),
    );
    assert_database_error(&users, "GET /users");
    assert_database_error(&sign_in, "POST /auth/password/sign-in");
    assert_database_error(&jwks, "GET jwks.json");
    // The error-status override rewrites only 4xx answers.
    let r = app
        .get("/users?limit=1")
        .server()
        .header("x-stack-override-error-status", "true")
        .send()
        .await;
    assert_database_error(&r, "GET /users with x-stack-override-error-status");
    assert_eq!(r.header("x-stack-actual-status"), None);

    proxy.set_up(true);
    wait_until("/health?db=1 to answer 200", RECOVERY_LIMIT, || async {
        health(&app).await.status == 200
    })
    .await
    .unwrap_or_else(|e| panic!("{e} (TEST_LOG=1 shows the server's log)"));
    wait_until("GET /users to succeed", RECOVERY_LIMIT, || async {
        list_users(&app).await.status == 200
    })
    .await
    .unwrap();
    // Writes work again too.
    app.sign_up(&app.email(), "password123").await;
}

#[tokio::test]
async fn the_mail_sink_answers_451_and_503_while_the_database_is_down_then_recovers() {
    let proxy = CuttingProxy::start(postgres_address()).await;
    let app = TestApp::spawn_with(Spawn {
        db_through: Some(proxy.addr),
        ..Spawn::default()
    })
    .await;
    let send = || async {
        let (mut smtp, _) = crate::helpers::Smtp::connect(app.smtp_addr).await;
        smtp.cmd("HELO tester").await;
        smtp.send_mail(
            "s@example.com",
            &["outage@example.com"],
            "Subject: during an outage\r\n\r\nx\r\n",
        )
        .await
    };

    proxy.set_up(false);
    let reply = send().await;
    assert!(
        reply.starts_with("451 "),
        "a temporary failure while down: {reply}"
    );
    let r = app
        .sink(Method::GET, "/api/v1/mailbox/outage@example.com")
        .send()
        .await;
    r.assert_status(503);
    assert_eq!(r.body, json!({ "error": "the database is unavailable" }));
    app.sink(Method::GET, "/health")
        .send()
        .await
        .assert_status(200);

    proxy.set_up(true);
    wait_until("the sink to store mail again", RECOVERY_LIMIT, || async {
        send().await.starts_with("250 ")
    })
    .await
    .unwrap();
    assert_eq!(app.mailbox("outage@example.com").await.len(), 1);
}
