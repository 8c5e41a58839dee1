//! The test harness: a real stack-server on a free port over a fresh, migrated
//! and seeded PostgreSQL database, plus request helpers.
//!
//! Set `STACK_TEST_DATABASE_URL` to a role that may create databases (default
//! `postgres://stack:stack@127.0.0.1:5432/postgres`, which `.ci/run` creates).
//! Set `TEST_LOG=1` to see the server's logs.

#![allow(dead_code)] // each test module uses a different subset of the helpers
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed expectation fails the test

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use stack_server::mail::outbound::SmtpUrl;
use stack_server::secret::Secret;
use stack_server::seed::{InternalKeys, SeedOptions};
use stack_server::serve::ConnectionLimits;
use stack_server::state::{MailSettings, ServeSettings};
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
/// Connections used to drop the previous run's databases in parallel.
const STALE_DROP_CONNECTIONS: usize = 8;

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
            // Databases left by earlier runs whose process has ended; a run
            // that is still going (another checkout, another terminal) keeps
            // its own.
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT datname FROM pg_database WHERE datname LIKE 'stack_test_%'",
            )
            .fetch_all(&admin_pool)
            .await
            .unwrap_or_default();
            let stale: Vec<String> = names
                .into_iter()
                .filter(|name| !owner_is_running(name))
                .collect();
            // A drop mostly waits for a checkpoint, which concurrent drops share:
            // a few connections dropping at once take a fraction of the time.
            let per_connection = stale.len().div_ceil(STALE_DROP_CONNECTIONS).max(1);
            let mut drops = tokio::task::JoinSet::new();
            for names in stale.chunks(per_connection) {
                let names = names.to_vec();
                let admin = admin.clone();
                drops.spawn(async move {
                    let Ok(mut conn) = sqlx::ConnectOptions::connect(&admin).await else {
                        return;
                    };
                    for name in names {
                        let _ = sqlx::query(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .execute(&mut conn)
                        .await;
                    }
                });
            }
            drops.join_all().await;
        })
        .await;
    let name = format!(
        "stack_test_{}_{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&admin_pool)
        .await
        .expect("cannot create a test database");
    admin_pool.close().await;
    admin.database(&name)
}

/// Whether the test process that created database `name`
/// (`stack_test_<pid>_<uuid>`) is still running on this machine.
fn owner_is_running(name: &str) -> bool {
    let pid = name
        .strip_prefix("stack_test_")
        .and_then(|rest| rest.split_once('_'))
        .and_then(|(pid, _)| pid.parse::<u32>().ok());
    match pid {
        Some(pid) if pid != std::process::id() => {
            std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

/// A running server with known internal-project keys.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    /// The mail sink's SMTP listener.
    pub smtp_addr: SocketAddr,
    /// The mail sink's web base URL.
    pub mail_base: String,
    /// The mock OAuth provider's base URL (its issuer).
    pub mock_oauth_base: String,
    /// The dashboard's base URL (`http://localhost:<port>`).
    pub dashboard_base: String,
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
    /// Serve through this address (e.g. a fault-injecting proxy in front of
    /// PostgreSQL) instead of connecting to the fresh database directly;
    /// migrations and seeding still connect directly.
    pub db_through: Option<SocketAddr>,
    /// Also take clock and rotation requests in an inbox in this directory.
    pub inbox: Option<std::path::PathBuf>,
    /// Send mail here instead of to the server's own SMTP listener.
    pub smtp_url: Option<SmtpUrl>,
    /// Connection limits of the API and mail web listeners (default: the
    /// server's own).
    pub limits: Option<(ConnectionLimits, ConnectionLimits)>,
    /// Make the server's public API URL its own address
    /// (`http://localhost:<port>`), as a rotation would: token issuers and
    /// the OAuth callback then point at this server, so a browser can
    /// follow them. Otherwise it is `http://localhost:8102`.
    pub public_url_is_own_address: bool,
}

impl Default for Spawn {
    fn default() -> Self {
        Self {
            local_emulator: true,
            ttl: TOKEN_TTL,
            db: None,
            db_through: None,
            inbox: None,
            smtp_url: None,
            limits: None,
            public_url_is_own_address: false,
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
        let serve_options = match (opts.db, opts.db_through) {
            (Some(db), _) => db,
            (None, Some(addr)) => options
                .clone()
                .host(&addr.ip().to_string())
                .port(addr.port()),
            (None, None) => options.clone(),
        };
        let pool = connect_lazy(serve_options, 8);
        let app = Application::bind(
            "127.0.0.1:0".parse().unwrap(),
            pool.clone(),
            ServeSettings {
                default_public_api_url: "http://localhost:8102".into(),
                access_token_ttl: opts.ttl,
                local_emulator: opts.local_emulator,
                mail: MailSettings {
                    smtp_listen: Some("127.0.0.1:0".parse().unwrap()),
                    http_listen: Some("127.0.0.1:0".parse().unwrap()),
                    smtp_url: opts.smtp_url.clone(),
                    ..MailSettings::default()
                },
                oauth: stack_server::state::OAuthSettings {
                    mock_listen: Some("127.0.0.1:0".parse().unwrap()),
                    ..stack_server::state::OAuthSettings::default()
                },
                dashboard_listen: Some("127.0.0.1:0".parse().unwrap()),
            },
        )
        .await
        .expect("cannot bind a test port");
        let app = match &opts.inbox {
            Some(dir) => app.with_inbox(dir).expect("cannot make the inbox"),
            None => app,
        };
        let app = match opts.limits {
            Some((api, mail)) => app.with_connection_limits(api, mail),
            None => app,
        };
        let addr = app.local_addr().unwrap();
        let smtp_addr = app.smtp_addr().unwrap();
        let mail_addr = app.mail_addr().unwrap();
        let mock_oauth_addr = app.mock_oauth_addr().unwrap();
        let dashboard_addr = app.dashboard_addr().unwrap();
        if opts.public_url_is_own_address {
            let url = format!("http://localhost:{}", addr.port());
            sqlx::query(
                "INSERT INTO server_settings (name, value) VALUES ('public_api_url', $1)
                 ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(&url)
            .execute(&pool)
            .await
            .expect("cannot set the public API URL");
            app.state()
                .reload()
                .await
                .expect("cannot reload the settings");
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            base: format!("http://{addr}"),
            smtp_addr,
            mail_base: format!("http://{mail_addr}"),
            mock_oauth_base: format!("http://localhost:{}", mock_oauth_addr.port()),
            dashboard_base: format!("http://localhost:{}", dashboard_addr.port()),
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
    /// A URL of this server's database (for a separate process).
    pub fn database_url(&self) -> String {
        let admin = admin_url();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        format!("{base}/{}", self.db_options.get_database().unwrap())
    }

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

/// A poll loop gave up.
#[derive(Debug)]
pub struct Timeout {
    pub what: String,
    pub limit: Duration,
}

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "timed out after {:?} waiting for {}",
            self.limit, self.what
        )
    }
}

/// Polls `ready` every 50 ms until it answers true, for at most `limit`
/// (STYLE rule 17: no fixed sleeps for synchronisation).
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut ready: F) -> Result<(), Timeout>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if ready().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await; // poll interval, not a guess at timing
    }
    Err(Timeout {
        what: what.to_owned(),
        limit,
    })
}

/// The decoded JSON of part `index` (0 = header, 1 = payload) of a JWT.
pub fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let part = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("not a JWT: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_else(|e| panic!("JWT part {index} is not base64url ({e}): {token}"));
    serde_json::from_slice(&bytes).expect("JWT part is not JSON")
}

/// The claims of a JWT.
pub fn claims(token: &str) -> Value {
    jwt_part(token, 1)
}

/// The keys of a JSON object, sorted.
pub fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// `names`, sorted, for comparing with [`keys`].
pub fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

impl TestApp {
    /// A request to `path` below the server root (not below `/api/v1`).
    pub fn root(&self, method: Method, path: &str) -> Request {
        Request {
            inner: self.http.request(method, format!("{}{path}", self.base)),
            app_keys: (self.pck.clone(), self.ssk.clone(), self.sak.clone()),
        }
    }

    /// Creates a user in the internal project through the server API (no
    /// password, so no bcrypt) and returns the server view.
    pub async fn create_user(&self, body: Value) -> Value {
        let r = self.post("/users").server().json(body).send().await;
        r.assert_status(201);
        r.body
    }

    /// A new session for an existing user of the internal project, made by the server API.
    pub async fn session_for(&self, user_id: &str) -> Session {
        let r = self
            .post("/auth/sessions")
            .server()
            .json(json!({ "user_id": user_id }))
            .send()
            .await;
        r.assert_status(200);
        Session {
            access: r.body["access_token"]
                .as_str()
                .expect("no access_token")
                .into(),
            refresh: r.body["refresh_token"]
                .as_str()
                .expect("no refresh_token")
                .into(),
            user_id: user_id.into(),
        }
    }

    /// A fresh anonymous user of the internal project.
    pub async fn anonymous(&self) -> Session {
        let r = self.post("/auth/anonymous/sign-up").client().send().await;
        r.assert_status(200);
        Session::from(&r.body)
    }

    /// The selected (personal) team of an internal-project user.
    pub async fn selected_team(&self, s: &Session) -> String {
        let r = self.get("/users/me").client().user(s).send().await;
        r.assert_status(200);
        r.body["selected_team_id"]
            .as_str()
            .unwrap_or_else(|| panic!("user has no selected team: {}", r.text))
            .to_owned()
    }

    /// Creates a project owned by the personal team of `owner` (an internal
    /// user) with `POST /internal/projects`; returns the admin view.
    pub async fn create_project(&self, owner: &Session, config: Value) -> Value {
        let team = self.selected_team(owner).await;
        let r = self
            .post("/internal/projects")
            .client()
            .user(owner)
            .json(json!({
                "display_name": "Test project",
                "owner_team_id": team,
                "config": config,
            }))
            .send()
            .await;
        r.assert_status(201);
        r.body
    }
}

impl Request {
    /// Access type and project, without any key.
    pub fn access(self, access_type: &str, project_id: &str) -> Self {
        self.project(project_id)
            .header("x-stack-access-type", access_type)
    }

    /// Access to `project_id` with `key` sent in the header that matches `access_type`.
    pub fn with_key(self, access_type: &str, project_id: &str, key: &str) -> Self {
        let header = match access_type {
            "client" => "x-stack-publishable-client-key",
            "server" => "x-stack-secret-server-key",
            "admin" => "x-stack-super-secret-admin-key",
            other => panic!("unknown access type {other}"),
        };
        self.access(access_type, project_id).header(header, key)
    }

    /// Access to `project_id` with an admin access token instead of keys.
    pub fn admin_token(self, access_type: &str, project_id: &str, token: &str) -> Self {
        self.access(access_type, project_id)
            .header("x-stack-admin-access-token", token)
    }

    /// `x-stack-allow-anonymous-user: true`, as the SDK sends.
    pub fn allow_anonymous(self) -> Self {
        self.header("x-stack-allow-anonymous-user", "true")
    }

    /// A form-encoded body.
    pub fn form(self, pairs: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.body("application/x-www-form-urlencoded", &body)
    }
}

impl Response {
    /// Asserts a known error with its exact message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, message: &str) -> &Self {
        self.assert_known(status, code);
        assert_eq!(self.body["error"], message, "error message of {code}");
        self
    }

    /// Asserts a known error without a `details` key.
    #[track_caller]
    pub fn assert_no_details(&self) -> &Self {
        assert!(
            self.body.get("details").is_none(),
            "unexpected details: {}",
            self.text
        );
        self
    }

    /// Asserts a plain status error: text body, no known-error header.
    #[track_caller]
    pub fn assert_plain(&self, status: u16, text: &str) -> &Self {
        self.assert_status(status);
        assert_eq!(self.text, text, "plain error text");
        self.assert_plain_kind();
        self
    }

    /// Asserts a plain-text body without a known-error header (any text).
    #[track_caller]
    pub fn assert_plain_kind(&self) -> &Self {
        assert_eq!(
            self.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "content-type; body: {}",
            self.text
        );
        assert_eq!(
            self.header("x-stack-known-error"),
            None,
            "a plain error must not carry a known-error code"
        );
        self
    }

    /// Asserts a `SCHEMA_ERROR` for `method path` whose message lists exactly
    /// `lines` (in any order) and repeats itself in `details.message`.
    #[track_caller]
    pub fn assert_schema_error(&self, method: &str, path: &str, lines: &[&str]) -> &Self {
        self.assert_known(400, "SCHEMA_ERROR");
        let message = self.body["error"].as_str().unwrap_or_default();
        assert_eq!(
            self.body["details"],
            json!({ "message": message }),
            "details.message repeats the message"
        );
        let first = format!("Request validation failed on {method} {path}:");
        let mut got = message.split("\n  - ");
        assert_eq!(
            got.next(),
            Some(first.as_str()),
            "first line of {message:?}"
        );
        let mut got: Vec<&str> = got.collect();
        got.sort_unstable();
        let mut want = lines.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "schema problems of {message:?}");
        self
    }
}

/// The mail sink: its JSON API and a raw SMTP client.
impl TestApp {
    /// A request to the mail sink's web listener.
    pub fn sink(&self, method: Method, path: &str) -> Request {
        Request {
            inner: self
                .http
                .request(method, format!("{}{path}", self.mail_base)),
            app_keys: (self.pck.clone(), self.ssk.clone(), self.sak.clone()),
        }
    }

    /// The summaries of a mailbox, newest first (one page of up to 200).
    pub async fn mailbox(&self, address: &str) -> Vec<Value> {
        let r = self
            .sink(Method::GET, &format!("/api/v1/mailbox/{address}?limit=200"))
            .send()
            .await;
        r.assert_status(200);
        r.body["items"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `address` holds at least `count` messages and returns the
    /// newest in full (summary plus bodies).
    pub async fn wait_for_mail(&self, address: &str, count: usize) -> Value {
        let latest = std::cell::Cell::new(None);
        wait_until(
            &format!("{count} mail(s) to {address}"),
            Duration::from_secs(10),
            || async {
                let items = self.mailbox(address).await;
                if items.len() >= count {
                    latest.set(items.first().and_then(|m| m["id"].as_i64()));
                    true
                } else {
                    false
                }
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let id = latest.get().expect("a message id");
        let r = self
            .sink(Method::GET, &format!("/api/v1/mailbox/{address}/{id}"))
            .send()
            .await;
        r.assert_status(200);
        r.body
    }
}

/// The `code` query parameter of the first link in a mail's text body.
pub fn code_in_mail(message: &Value) -> String {
    let text = message["body"]["text"].as_str().expect("a text body");
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains("code="))
        .unwrap_or_else(|| panic!("no link with a code in {text:?}"));
    let url = url::Url::parse(link).expect("the link is a URL");
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code parameter")
}

/// A minimal SMTP client over a real TCP connection, for driving the sink by hand.
pub struct Smtp {
    reader: tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Smtp {
    /// Connects and returns the client with the greeting read.
    pub async fn connect(addr: SocketAddr) -> (Self, String) {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to the SMTP listener");
        let (r, w) = stream.into_split();
        let mut client = Self {
            reader: tokio::io::BufReader::new(r),
            writer: w,
        };
        let greeting = client.reply().await;
        (client, greeting)
    }

    /// Reads one (possibly multi-line) reply; empty when the server closed the connection.
    pub async fn reply(&mut self) -> String {
        use tokio::io::AsyncBufReadExt as _;
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line))
                .await
                .expect("the SMTP server answers within 10 s")
                .unwrap_or(0);
            if n == 0 {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    /// Sends raw bytes.
    pub async fn write(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt as _;
        self.writer.write_all(bytes).await.expect("write to SMTP");
    }

    /// Sends one command line and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.write(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// A whole transaction; returns the reply to the end of data.
    pub async fn send_mail(&mut self, from: &str, to: &[&str], message: &str) -> String {
        assert!(
            self.cmd(&format!("MAIL FROM:<{from}>"))
                .await
                .starts_with("250")
        );
        for rcpt in to {
            assert!(
                self.cmd(&format!("RCPT TO:<{rcpt}>"))
                    .await
                    .starts_with("250")
            );
        }
        assert!(self.cmd("DATA").await.starts_with("354"));
        self.write(message.as_bytes()).await;
        self.cmd(".").await
    }
}
