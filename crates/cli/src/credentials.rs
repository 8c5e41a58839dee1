//! `credentials`: the project and keys for an app's config file, as env lines or JSON.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use stack_proto::headers;
use stack_proto::local_emulator::{self, ProjectAnswer, ProjectRequest};

use crate::home::Home;
use crate::secrets::Secrets;
use crate::session::{self, Liveness, SessionFiles};

/// How long the API may take to answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The variables an app needs.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `NEXT_PUBLIC_STACK_API_URL`.
    pub api_url: String,
    /// The project.
    pub project_id: String,
    /// The publishable key.
    pub publishable_client_key: String,
    /// The secret server key.
    pub secret_server_key: String,
}

impl Credentials {
    /// As `NAME=value` pairs.
    pub fn vars(&self) -> [(&'static str, &str); 4] {
        [
            ("NEXT_PUBLIC_STACK_API_URL", &self.api_url),
            ("NEXT_PUBLIC_STACK_PROJECT_ID", &self.project_id),
            (
                "NEXT_PUBLIC_STACK_PUBLISHABLE_CLIENT_KEY",
                &self.publishable_client_key,
            ),
            ("STACK_SECRET_SERVER_KEY", &self.secret_server_key),
        ]
    }
}

/// Why the credentials could not be given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    /// The emulator runs, but this install has no secrets file.
    #[error("this install has no keys yet")]
    NoKeys,
}

impl CredentialsError {
    /// What to do next.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::NoKeys => "`stack-emulator stop && stack-emulator start` makes them",
        }
    }
}

/// The absolute path that keys the project: `--config-file`, or `./stack.config.ts`.
///
/// # Errors
/// No current directory.
pub fn config_path(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("stack.config.ts"),
    };
    let absolute = if path.is_absolute() {
        path
    } else {
        std::env::current_dir()?.join(path)
    };
    // Resolve symlinks and `..` when the file exists, so two spellings of one file share a project.
    Ok(std::fs::canonicalize(&absolute).unwrap_or(absolute))
}

/// Gets (or creates) the project for `config_file` from the running emulator.
///
/// # Errors
/// Not running ([`session::NotRunning`]), or the API refused.
pub async fn fetch(home: &Home, config_file: &Path) -> anyhow::Result<Credentials> {
    let files = SessionFiles::of(home);
    let Liveness::Running(state) = session::liveness(&files) else {
        return Err(session::NotRunning::Stopped.into());
    };
    let secrets = Secrets::load(&files.secrets)?.ok_or(CredentialsError::NoKeys)?;
    let api = state.ports.api_url();
    let response = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}{}",
            state.ports.api,
            local_emulator::PATH
        ))
        .header(headers::PROJECT_ID, "internal")
        .header(headers::ACCESS_TYPE, "server")
        .header(headers::SECRET_SERVER_KEY, &secrets.secret_server_key)
        .json(&ProjectRequest {
            absolute_file_path: config_file.to_string_lossy().into_owned(),
        })
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .with_context(|| format!("cannot reach the emulator's API at {api}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the emulator refused the project request (HTTP {status}): {body}");
    }
    let answer: ProjectAnswer =
        serde_json::from_str(&body).context("the emulator's answer is not the expected JSON")?;
    Ok(Credentials {
        api_url: api,
        project_id: answer.project_id,
        publishable_client_key: answer.publishable_client_key,
        secret_server_key: answer.secret_server_key,
    })
}
