//! The test harness: a real stack-server on a free port over a fresh, migrated
//! and seeded PostgreSQL database, plus request helpers.
//!
//! Set `STACK_TEST_DATABASE_URL` to a role that may create databases (default
//! `postgres://stack:stack@127.0.0.1:5432/postgres`, which `.ci/run` creates).
//! Set `TEST_LOG=1` to see the server's logs.

#![allow(dead_code)] // each test module uses a different subset of the helpers

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use stack_server::secret::Secret;
use stack_server::seed::{InternalKeys, SeedOptions};
use stack_server::state::ServeSettings;
use stack_server::{Application, connect_lazy, db, seed};
use tokio::sync::OnceCell;

/// Access-token lifetime of test servers.
pub const TOKEN_TTL: Duration = Duration::from_secs(600);

pub fn admin_url() -> String {
    std::env::var("STACK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://stack:stack@127.0.0.1:5432/postgres".into())
}

static TRACING: std::sync::Once = std::sync::Once::new();
static STALE_DATABASES_DROPPED: OnceCell<()> = OnceCell::const_new();

/// Creates a fresh database and returns options to connect to it.
pub async fn fresh_database() -> PgConnectOptions {
    let admin: PgConnectOptions = admin_url()
        .parse()
        .expect("STACK_TEST_DATABASE_URL is not a valid URL");
    let admin_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(admin.clone())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot connect to PostgreSQL at {} ({e}).\nStart it (`.ci/run` does) or set STACK_TEST_DATABASE_URL.",
                admin_url()
            )
        });
    STALE_DATABASES_DROPPED
        .get_or_init(|| async {
            // Databases left by earlier runs of this binary.
            let stale: Vec<String> = sqlx::query_scalar(
                "SELECT datname FROM pg_database WHERE datname LIKE 'stack_test_%'",
            )
            .fetch_all(&admin_pool)
            .await
            .unwrap_or_default();
            for name in stale {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&admin_pool)
                    .await;
            }
        })
        .await;
    let name = format!("stack_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&admin_pool)
        .await
        .expect("cannot create a test database");
    admin_pool.close().await;
    admin.database(&name)
}

/// A running server with known internal-project keys.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub pool: PgPool,
    pub pck: String,
    pub ssk: String,
    pub sak: String,
    pub http: reqwest::Client,
    pub db_options: PgConnectOptions,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn key(prefix: &str) -> String {
    format!("{prefix}{}", stack_server::random::token().unwrap())
}

/// Options for [`TestApp::spawn_with`].
pub struct Spawn {
    pub local_emulator: bool,
    pub ttl: Duration,
    pub db: Option<PgConnectOptions>,
}

impl Default for Spawn {
    fn default() -> Self {
        Self {
            local_emulator: true,
            ttl: TOKEN_TTL,
            db: None,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Spawn::default()).await
    }

    pub async fn spawn_with(opts: Spawn) -> Self {
        TRACING.call_once(|| {
            if std::env::var_os("TEST_LOG").is_some() {
                tracing_subscriber::fmt()
                    .with_env_filter("debug,sqlx=warn")
                    .init();
            }
        });
        let options = fresh_database().await;
        let setup_pool = connect_lazy(options.clone(), 2);
        db::MIGRATOR
            .run(&setup_pool)
            .await
            .expect("migrations failed");
        let (pck, ssk, sak) = (key("pck_"), key("ssk_"), key("sak_"));
        seed::seed(
            &setup_pool,
            SeedOptions {
                internal_keys: Some(InternalKeys {
                    publishable_client_key: Secret::new(pck.clone()),
                    secret_server_key: Secret::new(ssk.clone()),
                    super_secret_admin_key: Secret::new(sak.clone()),
                }),
                public_api_url: None,
            },
        )
        .await
        .expect("seed failed");
        setup_pool.close().await;
        let serve_options = opts.db.unwrap_or_else(|| options.clone());
        let pool = connect_lazy(serve_options, 8);
        let app = Application::bind(
            "127.0.0.1:0".parse().unwrap(),
            pool.clone(),
            ServeSettings {
                default_public_api_url: "http://localhost:8102".into(),
                access_token_ttl: opts.ttl,
                local_emulator: opts.local_emulator,
            },
        )
        .await
        .expect("cannot bind a test port");
        let addr = app.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            base: format!("http://{addr}"),
            pool,
            pck,
            ssk,
            sak,
            http: reqwest::Client::new(),
            db_options: options,
            shutdown: Some(tx),
        }
    }

    /// A request builder for `path` below `/api/v1`.
    pub fn req(&self, method: Method, path: &str) -> Request {
        Request {
            inner: self
                .http
                .request(method, format!("{}/api/v1{path}", self.base)),
            app_keys: (self.pck.clone(), self.ssk.clone(), self.sak.clone()),
        }
    }

    pub fn get(&self, path: &str) -> Request {
        self.req(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Request {
        self.req(Method::POST, path)
    }
    pub fn patch(&self, path: &str) -> Request {
        self.req(Method::PATCH, path)
    }
    pub fn delete(&self, path: &str) -> Request {
        self.req(Method::DELETE, path)
    }

    /// Signs up a fresh user with a password through the client API.
    pub async fn sign_up(&self, email: &str, password: &str) -> Session {
        let r = self
            .post("/auth/password/sign-up")
            .client()
            .json(json!({ "email": email, "password": password }))
            .send()
            .await;
        r.assert_status(200);
        Session::from(&r.body)
    }

    /// A fresh random email.
    pub fn email(&self) -> String {
        format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
    }
}

/// Tokens of a signed-in user.
#[derive(Clone, Debug)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

impl From<&Value> for Session {
    fn from(v: &Value) -> Self {
        Self {
            access: v["access_token"].as_str().expect("no access_token").into(),
            refresh: v["refresh_token"]
                .as_str()
                .expect("no refresh_token")
                .into(),
            user_id: v["user_id"].as_str().unwrap_or_default().into(),
        }
    }
}

pub struct Request {
    inner: reqwest::RequestBuilder,
    app_keys: (String, String, String),
}

impl Request {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner = self.inner.header(name, value);
        self
    }
    pub fn project(self, id: &str) -> Self {
        self.header("x-stack-project-id", id)
    }
    /// Client access to the internal project with its publishable key.
    pub fn client(self) -> Self {
        let key = self.app_keys.0.clone();
        self.project("internal")
            .header("x-stack-access-type", "client")
            .header("x-stack-publishable-client-key", &key)
    }
    /// Server access to the internal project.
    pub fn server(self) -> Self {
        let key = self.app_keys.1.clone();
        self.project("internal")
            .header("x-stack-access-type", "server")
            .header("x-stack-secret-server-key", &key)
    }
    /// Admin access to the internal project.
    pub fn admin(self) -> Self {
        let key = self.app_keys.2.clone();
        self.project("internal")
            .header("x-stack-access-type", "admin")
            .header("x-stack-super-secret-admin-key", &key)
    }
    pub fn user(self, s: &Session) -> Self {
        self.header("x-stack-access-token", &s.access)
    }
    pub fn json(mut self, v: Value) -> Self {
        self.inner = self.inner.json(&v);
        self
    }
    pub fn body(mut self, content_type: &str, body: &str) -> Self {
        self.inner = self
            .inner
            .header("content-type", content_type)
            .body(body.to_owned());
        self
    }
    pub async fn send(self) -> Response {
        let r = self.inner.send().await.expect("request failed");
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Response {
            status,
            headers,
            text,
            body,
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Response {
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts a known error: status, code in the body and in the header.
    #[track_caller]
    pub fn assert_known(&self, status: u16, code: &str) -> &Self {
        self.assert_status(status);
        assert_eq!(self.body["code"], code, "body: {}", self.text);
        assert_eq!(
            self.headers
                .get("x-stack-known-error")
                .and_then(|v| v.to_str().ok()),
            Some(code),
            "x-stack-known-error header"
        );
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}
