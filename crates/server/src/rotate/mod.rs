//! `stack-server rotate-secrets`: replace every secret an install shares with a
//! snapshot, live.
//!
//! A rotation is one JSON document (the [`RotationDocument`]). It is validated
//! field by field, applied in one transaction that asserts the rows it
//! expects, announced with NOTIFY so that every server on the database
//! reloads, and then read back through the server's own API: the new server
//! key must work, the old one must fail, and the JWKS must publish the keys
//! derived from the new signing secret. Only then does the rotation succeed.
//!
//! The emulator hands the document to the running server's inbox (see
//! [`crate::inbox`]), which applies it on a connection it keeps and reloads
//! before the read-back. `stack-server rotate-secrets` applies a document
//! from stdin with its own connection, for a server without an inbox.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sqlx::{Connection as _, PgConnection};
use stack_proto::keys;

use crate::db::projects::INTERNAL_PROJECT_ID;
use crate::db::{keys as key_sets, settings};
use crate::jwt::Keyring;
use crate::secret::Secret;
use crate::seed::{INTERNAL_KEY_SET_DESCRIPTION, InternalKeys, set_internal_keys};
use crate::state::AppState;

pub mod client;

pub use stack_proto::rotation::{FORMAT_VERSION, PublicUrls, RotationDocument};

/// Fewest random bytes accepted for the token-signing secret.
const MIN_SECRET_BYTES: usize = 32;
/// How long the running server may take to pick up the new settings.
const RELOAD_DEADLINE: Duration = Duration::from_secs(5);

/// A validated rotation.
#[derive(Debug)]
pub struct ValidRotation {
    keys: InternalKeys,
    signing_secret: Secret<Vec<u8>>,
    signing_secret_text: Secret<String>,
    cron_secret: Secret<String>,
    database_password: Option<Secret<String>>,
    public_api_url: String,
    public_oauth_url: Option<String>,
}

/// What went wrong, in terms the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// The document is not valid JSON of the expected shape.
    #[error("the rotation document is not valid: {0}")]
    Malformed(String),
    /// A field failed validation.
    #[error("the rotation document is not valid: {field} {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The database does not hold the rows a seeded install has.
    #[error("the database is not seeded as expected: {0}")]
    NotSeeded(&'static str),
    /// The database failed.
    #[error("database error while rotating")]
    Database(#[from] sqlx::Error),
    /// The running server did not confirm the new secrets in time.
    #[error("the running server did not confirm the new secrets within {limit:?}: {last}")]
    NotConfirmed {
        /// The deadline.
        limit: Duration,
        /// The last check that failed.
        last: String,
    },
}

/// Parses and validates a document from its JSON text.
///
/// # Errors
/// [`RotateError::Malformed`] or [`RotateError::Invalid`] naming the field.
pub fn validate(raw: &[u8]) -> Result<ValidRotation, RotateError> {
    let doc: RotationDocument =
        serde_json::from_slice(raw).map_err(|e| RotateError::Malformed(e.to_string()))?;
    check(&doc)
}

/// Validates a parsed document, field by field.
///
/// # Errors
/// [`RotateError::Invalid`] naming the field.
pub fn check(doc: &RotationDocument) -> Result<ValidRotation, RotateError> {
    let invalid = |field: &'static str, problem: &str| RotateError::Invalid {
        field,
        problem: problem.to_owned(),
    };
    if doc.format != FORMAT_VERSION {
        return Err(invalid(
            "format",
            &format!(
                "is {}, but this server reads format {FORMAT_VERSION}",
                doc.format
            ),
        ));
    }
    let k = &doc.internal_project_keys;
    check_key(
        "internal_project_keys.publishable_client_key",
        &k.publishable_client_key,
        keys::PUBLISHABLE_CLIENT_KEY_PREFIX,
    )?;
    check_key(
        "internal_project_keys.secret_server_key",
        &k.secret_server_key,
        keys::SECRET_SERVER_KEY_PREFIX,
    )?;
    check_key(
        "internal_project_keys.super_secret_admin_key",
        &k.super_secret_admin_key,
        keys::SUPER_SECRET_ADMIN_KEY_PREFIX,
    )?;
    let secret = B64
        .decode(&doc.token_signing_secret)
        .map_err(|_| invalid("token_signing_secret", "is not base64url without padding"))?;
    if secret.len() < MIN_SECRET_BYTES {
        return Err(invalid(
            "token_signing_secret",
            &format!("must hold at least {MIN_SECRET_BYTES} bytes"),
        ));
    }
    if doc.cron_secret.len() < 32 || !doc.cron_secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid(
            "cron_secret",
            "must be at least 32 ASCII letters or digits",
        ));
    }
    if let Some(pw) = &doc.database_password
        && (pw.len() < 16 || !pw.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(invalid(
            "database_password",
            "must be at least 16 ASCII letters or digits",
        ));
    }
    let urls = [
        ("public_urls.api", Some(&doc.public_urls.api)),
        ("public_urls.dashboard", doc.public_urls.dashboard.as_ref()),
        ("public_urls.mail", doc.public_urls.mail.as_ref()),
        ("public_urls.oauth", doc.public_urls.oauth.as_ref()),
    ];
    for (field, value) in urls {
        if let Some(v) = value {
            let ok = url::Url::parse(v)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(invalid(field, "must be an absolute http(s) URL"));
            }
        }
    }
    // 2020-01-01: anything earlier is a clock that was never set.
    if doc.now_unix_millis < 1_577_836_800_000 {
        return Err(invalid(
            "now_unix_millis",
            "is before 2020; is the host clock set?",
        ));
    }
    Ok(ValidRotation {
        keys: InternalKeys {
            publishable_client_key: Secret::new(k.publishable_client_key.clone()),
            secret_server_key: Secret::new(k.secret_server_key.clone()),
            super_secret_admin_key: Secret::new(k.super_secret_admin_key.clone()),
        },
        signing_secret: Secret::new(secret),
        signing_secret_text: Secret::new(doc.token_signing_secret.clone()),
        cron_secret: Secret::new(doc.cron_secret.clone()),
        database_password: doc.database_password.clone().map(Secret::new),
        public_api_url: doc.public_urls.api.trim_end_matches('/').to_owned(),
        public_oauth_url: doc
            .public_urls
            .oauth
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned()),
    })
}

fn check_key(field: &'static str, key: &str, prefix: &str) -> Result<(), RotateError> {
    let body = key
        .strip_prefix(prefix)
        .ok_or_else(|| RotateError::Invalid {
            field,
            problem: format!("must start with {prefix}"),
        })?;
    if body.len() < 32
        || !body
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(RotateError::Invalid {
            field,
            problem: "must have at least 32 lower-case letters or digits after its prefix".into(),
        });
    }
    Ok(())
}

/// What the caller learns from a successful rotation.
#[derive(Debug)]
pub struct RotationReport {
    /// Time spent in the database transaction.
    pub apply: Duration,
    /// Time until the running server answered with the new keys.
    pub confirm: Duration,
    /// Each step of the apply and the read-back, in order, with its duration.
    pub steps: Vec<(&'static str, Duration)>,
}

impl RotationReport {
    /// The report as it crosses to the host (and as `rotate-secrets` prints it).
    pub fn to_wire(&self) -> stack_proto::rotation::RotationReport {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        stack_proto::rotation::RotationReport {
            apply_ms: ms(self.apply),
            confirm_ms: ms(self.confirm),
            steps_ms: self
                .steps
                .iter()
                .map(|(name, d)| ((*name).to_owned(), ms(*d)))
                .collect(),
        }
    }
}

/// Applies a validated rotation on `conn` and confirms it through the API at
/// `api_base`. `server` is the running server's state when it applies the
/// rotation itself: it then reloads at once instead of waiting for its NOTIFY.
///
/// # Errors
/// See [`RotateError`].
pub async fn apply(
    conn: &mut PgConnection,
    rotation: &ValidRotation,
    api_base: &str,
    server: Option<&AppState>,
) -> Result<RotationReport, RotateError> {
    let started = Instant::now();
    let mut steps = Steps::new();
    let mut tx = conn.begin().await?;
    steps.mark("begin");
    let old_server_key =
        key_sets::lock_by_description(&mut *tx, INTERNAL_PROJECT_ID, INTERNAL_KEY_SET_DESCRIPTION)
            .await?;
    let (set_id, old_server_key) = old_server_key.ok_or(RotateError::NotSeeded(
        "the internal project's key set is missing",
    ))?;
    set_internal_keys(&mut tx, set_id, &rotation.keys)
        .await
        .map_err(|_| RotateError::NotSeeded("the internal key set could not be updated"))?;
    let had_secret = settings::update(
        &mut tx,
        settings::TOKEN_SIGNING_SECRET,
        rotation.signing_secret_text.expose(),
    )
    .await?;
    if !had_secret {
        return Err(RotateError::NotSeeded(
            "the token-signing secret is missing",
        ));
    }
    // A seed without a public URL (or an older one without a cron secret)
    // has no row to update yet.
    for (name, value) in [
        (
            settings::CRON_SECRET,
            rotation.cron_secret.expose().as_str(),
        ),
        (settings::PUBLIC_API_URL, rotation.public_api_url.as_str()),
    ]
    .into_iter()
    .chain(
        rotation
            .public_oauth_url
            .as_deref()
            .map(|url| (settings::PUBLIC_OAUTH_URL, url)),
    ) {
        if !settings::update(&mut tx, name, value).await? {
            settings::put(&mut tx, name, value).await?;
        }
    }
    steps.mark("update keys and settings");
    if let Some(pw) = &rotation.database_password {
        settings::set_own_password(&mut tx, pw.expose()).await?;
    }
    // Other servers on this database learn of it through the NOTIFY.
    let payload = server.map_or(settings::RELOAD, AppState::own_reload);
    settings::notify_changed(&mut tx, payload).await?;
    tx.commit().await?;
    steps.mark("commit");
    if let Some(server) = server {
        // The values just committed; no need to read them back from the database.
        server.use_settings(
            Secret::new(rotation.signing_secret.expose().clone()),
            &rotation.public_api_url,
            rotation.public_oauth_url.as_deref(),
        );
        server.clear_auth_cache();
        steps.mark("reload");
    }
    let apply = started.elapsed();

    let confirm_started = Instant::now();
    confirm(rotation, old_server_key.as_deref(), api_base, &mut steps).await?;
    Ok(RotationReport {
        apply,
        confirm: confirm_started.elapsed(),
        steps: steps.done,
    })
}

/// Polls the API until the new keys work, the old server key fails, and the
/// JWKS lists the new key ids.
async fn confirm(
    rotation: &ValidRotation,
    old_server_key: Option<&str>,
    api_base: &str,
    steps: &mut Steps,
) -> Result<(), RotateError> {
    let expected_kids = Keyring::new(Secret::new(rotation.signing_secret.expose().clone()))
        .kids(INTERNAL_PROJECT_ID);
    let deadline = Instant::now() + RELOAD_DEADLINE;
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        match check_once(rotation, old_server_key, api_base, &expected_kids, steps).await {
            Ok(()) => return Ok(()),
            Err(why) => last = why,
        }
        // Poll interval while the server applies the NOTIFY; not a guess at its timing.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(RotateError::NotConfirmed {
        limit: RELOAD_DEADLINE,
        last,
    })
}

async fn check_once(
    rotation: &ValidRotation,
    old_server_key: Option<&str>,
    api_base: &str,
    expected_kids: &[String],
    steps: &mut Steps,
) -> Result<(), String> {
    let project = ("x-stack-project-id", INTERNAL_PROJECT_ID);
    let server = ("x-stack-access-type", "server");
    let new_key = (
        "x-stack-secret-server-key",
        rotation.keys.secret_server_key.expose().as_str(),
    );
    let status = client::get(
        api_base,
        "/api/v1/projects/current",
        &[project, server, new_key],
    )
    .await?
    .status;
    steps.mark("read back: new key");
    if status != 200 {
        return Err(format!("the new secret server key got HTTP {status}"));
    }
    if let Some(old) = old_server_key.filter(|o| *o != rotation.keys.secret_server_key.expose()) {
        let old_key = ("x-stack-secret-server-key", old);
        let status = client::get(
            api_base,
            "/api/v1/projects/current",
            &[project, server, old_key],
        )
        .await?
        .status;
        steps.mark("read back: old key");
        if status != 401 {
            return Err(format!("the old secret server key still got HTTP {status}"));
        }
    }
    let client::Answer { status, body } = client::get(
        api_base,
        &format!("/api/v1/projects/{INTERNAL_PROJECT_ID}/.well-known/jwks.json"),
        &[],
    )
    .await?;
    steps.mark("read back: JWKS");
    let jwks: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .map(|keys| keys.iter().filter_map(|k| k["kid"].as_str()).collect())
        .unwrap_or_default();
    if status != 200 || kids != expected_kids.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err("the JWKS does not list the new signing keys yet".into());
    }
    Ok(())
}

/// Named steps with the time each took since the one before.
struct Steps {
    last: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Steps {
    fn new() -> Self {
        Self {
            last: Instant::now(),
            done: Vec::new(),
        }
    }

    fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        self.done.push((name, now - self.last));
        self.last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> serde_json::Value {
        serde_json::json!({
            "format": 1,
            "internal_project_keys": {
                "publishable_client_key": format!("pck_{}", "a".repeat(45)),
                "secret_server_key": format!("ssk_{}", "b".repeat(45)),
                "super_secret_admin_key": format!("sak_{}", "c".repeat(45)),
            },
            "token_signing_secret": B64.encode([7u8; 32]),
            "cron_secret": "d".repeat(45),
            "public_urls": { "api": "http://localhost:26701" },
            "now_unix_millis": 1_800_000_000_000i64,
        })
    }

    fn problem(v: serde_json::Value) -> String {
        match validate(&serde_json::to_vec(&v).unwrap()) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_complete_document_is_valid() {
        assert_eq!(problem(doc()), "ok");
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut d = doc();
        d["internal_project_keys"]["secret_server_key"] = "pck_nope".into();
        assert!(
            problem(d).contains("internal_project_keys.secret_server_key must start with ssk_")
        );
        let mut d = doc();
        d["token_signing_secret"] = B64.encode([1u8; 8]).into();
        assert!(problem(d).contains("token_signing_secret must hold at least 32 bytes"));
        let mut d = doc();
        d["public_urls"]["api"] = "localhost:26701".into();
        assert!(problem(d).contains("public_urls.api must be an absolute http(s) URL"));
        let mut d = doc();
        d["format"] = 2.into();
        assert!(problem(d).contains("format is 2, but this server reads format 1"));
        let mut d = doc();
        d["surprise"] = 1.into();
        assert!(problem(d).contains("unknown field `surprise`"));
    }

    #[test]
    fn debug_output_of_a_rotation_hides_its_secrets() {
        let rotation = validate(&serde_json::to_vec(&doc()).unwrap()).unwrap();
        let shown = format!("{rotation:?}");
        assert!(!shown.contains(&"b".repeat(45)));
        assert!(!shown.contains(&"d".repeat(45)));
    }
}
