//! `credentials`: the project and keys for an app's config file, as env lines or JSON.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::config_sync;
use crate::home::Home;
use crate::session::{self, Liveness, SessionFiles};

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
    /// Every variable an app gets, in [`VARIABLES`] order, with its value:
    /// what `run` puts in the command's environment and `credentials` prints.
    pub fn vars(&self) -> Vec<(&'static str, &str)> {
        VARIABLES
            .iter()
            .map(|&(name, value)| (name, self.value(value)))
            .collect()
    }

    fn value(&self, value: Value) -> &str {
        match value {
            Value::ProjectId => &self.project_id,
            Value::ApiUrl => &self.api_url,
            Value::PublishableClientKey => &self.publishable_client_key,
            Value::SecretServerKey => &self.secret_server_key,
        }
    }
}

/// Which of the four credentials a variable holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// The project id.
    ProjectId,
    /// The emulator's API URL.
    ApiUrl,
    /// The publishable client key.
    PublishableClientKey,
    /// The secret server key.
    SecretServerKey,
}

impl Value {
    /// Whether the value may be built into code that browsers and phones get;
    /// the secret server key never may.
    pub fn is_public(self) -> bool {
        self != Self::SecretServerKey
    }
}

/// The variables that Stack Auth's CLI gives an app's command (`emulator run`
/// and `dev`) and that its SDKs read, under both of its names: `HEXCLAVE_*`
/// (the current one) and `STACK_*` (the older one, which SDKs still read).
///
/// Each public value also has a copy for each framework that only builds
/// variables with its own prefix into client code: Next.js (`NEXT_PUBLIC_`),
/// Vite (`VITE_`) and Expo (`EXPO_PUBLIC_`). The secret server key has none, so
/// that no framework ships it to a browser.
///
/// The names are written out rather than built from their parts so that a
/// search for any one of them finds it here.
pub const VARIABLES: [(&str, Value); 26] = [
    ("HEXCLAVE_PROJECT_ID", Value::ProjectId),
    ("HEXCLAVE_API_URL", Value::ApiUrl),
    (
        "HEXCLAVE_PUBLISHABLE_CLIENT_KEY",
        Value::PublishableClientKey,
    ),
    ("HEXCLAVE_SECRET_SERVER_KEY", Value::SecretServerKey),
    ("NEXT_PUBLIC_HEXCLAVE_PROJECT_ID", Value::ProjectId),
    ("NEXT_PUBLIC_HEXCLAVE_API_URL", Value::ApiUrl),
    (
        "NEXT_PUBLIC_HEXCLAVE_PUBLISHABLE_CLIENT_KEY",
        Value::PublishableClientKey,
    ),
    ("VITE_HEXCLAVE_PROJECT_ID", Value::ProjectId),
    ("VITE_HEXCLAVE_API_URL", Value::ApiUrl),
    (
        "VITE_HEXCLAVE_PUBLISHABLE_CLIENT_KEY",
        Value::PublishableClientKey,
    ),
    ("EXPO_PUBLIC_HEXCLAVE_PROJECT_ID", Value::ProjectId),
    ("EXPO_PUBLIC_HEXCLAVE_API_URL", Value::ApiUrl),
    (
        "EXPO_PUBLIC_HEXCLAVE_PUBLISHABLE_CLIENT_KEY",
        Value::PublishableClientKey,
    ),
    ("STACK_PROJECT_ID", Value::ProjectId),
    ("STACK_API_URL", Value::ApiUrl),
    ("STACK_PUBLISHABLE_CLIENT_KEY", Value::PublishableClientKey),
    ("STACK_SECRET_SERVER_KEY", Value::SecretServerKey),
    ("NEXT_PUBLIC_STACK_PROJECT_ID", Value::ProjectId),
    ("NEXT_PUBLIC_STACK_API_URL", Value::ApiUrl),
    (
        "NEXT_PUBLIC_STACK_PUBLISHABLE_CLIENT_KEY",
        Value::PublishableClientKey,
    ),
    ("VITE_STACK_PROJECT_ID", Value::ProjectId),
    ("VITE_STACK_API_URL", Value::ApiUrl),
    (
        "VITE_STACK_PUBLISHABLE_CLIENT_KEY",
        Value::PublishableClientKey,
    ),
    ("EXPO_PUBLIC_STACK_PROJECT_ID", Value::ProjectId),
    ("EXPO_PUBLIC_STACK_API_URL", Value::ApiUrl),
    (
        "EXPO_PUBLIC_STACK_PUBLISHABLE_CLIENT_KEY",
        Value::PublishableClientKey,
    ),
];

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

/// The app's config file: `--config-file` (relative to the current
/// directory), or the one found in the current directory
/// (`hexclave.config.ts`, `hexclave.config.js`, `stack.config.ts`,
/// `stack.config.js`). Absolute and canonical, so that two spellings of one
/// file share a project.
///
/// # Errors
/// No current directory; the file is missing, a directory, or not found.
pub fn config_path(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Ok(stack_config_file::resolve(explicit, &cwd)?)
}

/// Fails unless the emulator runs in `home` (checked before the config file,
/// since a stopped emulator is the first thing to fix).
///
/// # Errors
/// [`session::NotRunning::Stopped`].
pub fn require_running(home: &Home) -> Result<(), session::NotRunning> {
    match session::liveness(&SessionFiles::of(home)) {
        Liveness::Running(_) => Ok(()),
        _ => Err(session::NotRunning::Stopped),
    }
}

/// What `fetch` found besides the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectNotes {
    /// The sign-in methods the project's config turns on; empty means nobody
    /// can sign in.
    pub sign_in_methods: Vec<String>,
}

impl ProjectNotes {
    /// One line for a project that nobody can sign in to, naming the keys to
    /// set in `config_file`.
    pub fn warning(&self, config_file: &Path) -> Option<String> {
        self.sign_in_methods.is_empty().then(|| {
            format!(
                "{} turns on no sign-in method: set auth.password.allowSignIn, auth.otp.allowSignIn, auth.passkey.allowSignIn or auth.oauth.providers.<id>.allowSignIn to true",
                config_file.display()
            )
        })
    }
}

/// Reads the app's config file, sends its config to the running emulator as
/// its project's branch override, and returns the project's credentials. The
/// file is then kept in step with the project ([`crate::config_sync`]).
///
/// # Errors
/// Not running ([`session::NotRunning`]), the file cannot be read or does
/// not parse, or the API refused (a config the schema refuses, for example).
pub async fn fetch(home: &Home, config_file: &Path) -> anyhow::Result<(Credentials, ProjectNotes)> {
    let api = config_sync::Api::of(home)?;
    let files = SessionFiles::of(home);
    let Liveness::Running(state) = session::liveness(&files) else {
        return Err(session::NotRunning::Stopped.into());
    };
    let local = config_sync::read_config(config_file)?;
    let answer = api.project(config_file, Some(&local.branch_text)).await?;
    config_sync::map(home, config_file)
        .with_context(|| format!("cannot record {} for config sync", config_file.display()))?;
    if let Err(e) = config_sync::ensure_running(home) {
        tracing::warn!("cannot start the config sync: {e}");
    }
    Ok((
        Credentials {
            api_url: state.ports.api_url(),
            project_id: answer.project_id,
            publishable_client_key: answer.publishable_client_key,
            secret_server_key: answer.secret_server_key,
        },
        ProjectNotes {
            sign_in_methods: answer.sign_in_methods,
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Prefixes under which frameworks build a variable into client code.
    const PUBLIC_PREFIXES: [&str; 3] = ["NEXT_PUBLIC_", "VITE_", "EXPO_PUBLIC_"];

    fn creds() -> Credentials {
        Credentials {
            api_url: "http://127.0.0.1:8102".to_owned(),
            project_id: "project".to_owned(),
            publishable_client_key: "pck".to_owned(),
            secret_server_key: "ssk".to_owned(),
        }
    }

    /// The set spelled out from the rule (both names, each public value under
    /// each framework prefix too), independently of how `VARIABLES` lists it.
    fn expected() -> Vec<(String, &'static str)> {
        let values = [
            ("PROJECT_ID", "project", true),
            ("API_URL", "http://127.0.0.1:8102", true),
            ("PUBLISHABLE_CLIENT_KEY", "pck", true),
            ("SECRET_SERVER_KEY", "ssk", false),
        ];
        let mut all = Vec::new();
        for brand in ["HEXCLAVE", "STACK"] {
            for (suffix, value, public) in values {
                all.push((format!("{brand}_{suffix}"), value));
                if public {
                    for prefix in PUBLIC_PREFIXES {
                        all.push((format!("{prefix}{brand}_{suffix}"), value));
                    }
                }
            }
        }
        all
    }

    #[test]
    fn every_name_is_there_with_its_value_and_nothing_else() {
        let creds = creds();
        let mut got: Vec<(String, &str)> = creds
            .vars()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let mut want = expected();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
    }

    /// The names Stack Auth's `emulator run` sets and its SDK reads, as the
    /// emulator has always given them; a regression here breaks existing apps.
    #[test]
    fn the_names_apps_use_today_are_kept() {
        let creds = creds();
        let vars = creds.vars();
        for name in [
            "NEXT_PUBLIC_STACK_API_URL",
            "NEXT_PUBLIC_STACK_PROJECT_ID",
            "NEXT_PUBLIC_STACK_PUBLISHABLE_CLIENT_KEY",
            "STACK_SECRET_SERVER_KEY",
            "STACK_PROJECT_ID",
            "STACK_API_URL",
            "STACK_PUBLISHABLE_CLIENT_KEY",
        ] {
            assert!(vars.iter().any(|(n, _)| *n == name), "{name} is missing");
        }
    }

    #[test]
    fn no_name_comes_twice() {
        let mut seen = HashSet::new();
        for (name, _) in VARIABLES {
            assert!(seen.insert(name), "{name} is listed twice");
        }
    }

    #[test]
    fn the_secret_never_has_a_public_prefix() {
        for (name, value) in VARIABLES {
            let public_name = PUBLIC_PREFIXES.iter().any(|p| name.starts_with(p));
            assert!(
                value.is_public() || !public_name,
                "{name} would ship the secret to browsers"
            );
        }
        let creds = creds();
        for (name, value) in creds.vars() {
            if value == creds.secret_server_key {
                assert!(
                    !PUBLIC_PREFIXES.iter().any(|p| name.starts_with(p)),
                    "{name} holds the secret server key"
                );
            }
        }
    }
}
