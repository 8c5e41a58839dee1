//! Live sync between an app's config file on the host and its project's
//! branch override in the guest, without mounting the host's files into the
//! guest.
//!
//! `credentials` (and `run`, `start --config-file`) read the file, send its
//! config to the emulator's API as the project's branch override, and add the
//! file to this state directory's list of mapped files. A small supervisor
//! process (`stack-emulator config-sync`, one per state directory, started by
//! `start` and `credentials`, stopped by `stop`, shown by `status`) then keeps
//! each mapped file and its project in step over the same API:
//!
//! - a change of the file on the host reaches the project within
//!   [`FILE_POLL`] (plus one API round trip);
//! - a change of the branch override in the guest (the config API, the
//!   dashboard) is written to the file within [`SERVER_POLL`], in the form the
//!   file already uses, atomically;
//! - when both changed since they last agreed, the file wins and the
//!   supervisor says so in one line of its log.
//!
//! The file is polled (a `stat` per file per tick), which works the same on
//! Linux and macOS and costs nothing next to the VM.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stack_config_file::{ConfigFile, Form, ParseError, WriteError};
use stack_proto::config_format::{self, OnMissingParent};
use stack_proto::headers;
use stack_proto::local_emulator::{self, ProjectAnswer, ProjectRequest};

use crate::home::Home;
use crate::secrets::Secrets;
use crate::session::{self, Liveness, SessionFiles};

/// How often the supervisor looks at the mapped files.
pub const FILE_POLL: Duration = Duration::from_millis(100);
/// How often the supervisor asks the guest for each project's branch override.
pub const SERVER_POLL: Duration = Duration::from_millis(500);
/// How long one API call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `stop` waits for the supervisor to end after SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// The content a blank config file gets, as Stack Auth's emulator writes it.
fn default_form(path: &Path) -> Form {
    Form::for_new_file(path)
}

/// The supervisor's files, in the session's `run/` folder.
#[derive(Debug, Clone)]
pub struct SyncFiles {
    /// The mapped config files (JSON list of absolute paths).
    pub mapped: PathBuf,
    /// The supervisor's pid.
    pub pid: PathBuf,
    /// The supervisor's log.
    pub log: PathBuf,
}

impl SyncFiles {
    /// The files of `home`'s supervisor.
    pub fn of(home: &Home) -> Self {
        Self {
            mapped: home.run_file("config-sync.json"),
            pid: home.run_file("config-sync.pid"),
            log: home.run_file("config-sync.log"),
        }
    }
}

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a config file the emulator can read.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A blank file could not be given its default content.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A config file as read: its config and the JSON text sent as the branch
/// override.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The file as parsed.
    pub file: ConfigFile,
    /// The branch override it stands for, as JSON text (`"show-onboarding"`
    /// stands for an empty one).
    pub branch_text: String,
}

/// Reads and parses the config file at `path`. A blank file first gets
/// Stack Auth's default content (an empty config), as Stack Auth's emulator
/// does.
///
/// # Errors
/// The file cannot be read or written, or does not parse.
pub fn read_config(path: &Path) -> Result<LocalConfig, ConfigFileError> {
    let source = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut file = stack_config_file::parse(&source, path)?;
    if file.form().is_none() {
        let text = stack_config_file::render(&Value::Object(Map::new()), &default_form(path));
        stack_config_file::write_atomically(path, text.as_bytes())?;
        file = stack_config_file::parse(&text, path)?;
    }
    let branch_text = if file.is_show_onboarding() {
        "{}".to_owned()
    } else {
        file.value().to_string()
    };
    Ok(LocalConfig { file, branch_text })
}

/// Why the emulator's API did not give a project.
#[derive(Debug, thiserror::Error)]
pub enum ApiCallError {
    /// The API could not be reached.
    #[error("cannot reach the emulator's API at {url}")]
    Unreachable {
        /// The API's URL.
        url: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The API refused; `body` is its message (a schema problem of the
    /// file's config, for example).
    #[error("the emulator refused the config of {path} (HTTP {status}): {body}")]
    Refused {
        /// The config file.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The answer's body.
        body: String,
    },
    /// The answer was not the expected JSON.
    #[error("the emulator's answer is not the expected JSON")]
    Malformed(#[source] serde_json::Error),
}

/// How to reach the running emulator's API as the internal project's server.
#[derive(Clone)]
pub struct Api {
    port: u16,
    secret_server_key: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// The API of the emulator that runs in `home`, with this install's
    /// internal secret server key.
    ///
    /// # Errors
    /// The emulator does not run ([`session::NotRunning`]) or has no keys.
    pub fn of(home: &Home) -> anyhow::Result<Self> {
        let files = SessionFiles::of(home);
        let Liveness::Running(state) = session::liveness(&files) else {
            return Err(session::NotRunning::Stopped.into());
        };
        let secrets =
            Secrets::load(&files.secrets)?.ok_or(crate::credentials::CredentialsError::NoKeys)?;
        Ok(Self {
            port: state.ports.api,
            secret_server_key: secrets.secret_server_key,
            http: reqwest::Client::new(),
        })
    }

    /// The project of the config file at `path`; with `branch_text`, that
    /// text becomes its branch override first.
    ///
    /// # Errors
    /// The API cannot be reached, refuses, or answers something else.
    pub async fn project(
        &self,
        path: &Path,
        branch_text: Option<&str>,
    ) -> Result<ProjectAnswer, ApiCallError> {
        let url = format!("http://127.0.0.1:{}{}", self.port, local_emulator::PATH);
        let response = self
            .http
            .post(&url)
            .header(headers::PROJECT_ID, "internal")
            .header(headers::ACCESS_TYPE, "server")
            .header(headers::SECRET_SERVER_KEY, &self.secret_server_key)
            .json(&ProjectRequest {
                absolute_file_path: path.to_string_lossy().into_owned(),
                branch_config_override_string: branch_text.map(str::to_owned),
            })
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|source| ApiCallError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(ApiCallError::Refused {
                path: path.display().to_string(),
                status: status.as_u16(),
                body,
            });
        }
        serde_json::from_str(&body).map_err(ApiCallError::Malformed)
    }
}

/// The mapped config files of `home`.
pub fn mapped(home: &Home) -> Vec<PathBuf> {
    let files = SyncFiles::of(home);
    std::fs::read(&files.mapped)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Vec<PathBuf>>(&bytes).ok())
        .unwrap_or_default()
}

/// Adds `path` to the mapped config files of `home` (once).
///
/// # Errors
/// The list cannot be written.
pub fn map(home: &Home, path: &Path) -> std::io::Result<()> {
    let mut paths = mapped(home);
    if paths.iter().any(|p| p == path) {
        return Ok(());
    }
    paths.push(path.to_owned());
    let files = SyncFiles::of(home);
    let text = serde_json::to_vec_pretty(&paths).map_err(std::io::Error::other)?;
    stack_config_file::write_atomically(&files.mapped, &text).map_err(std::io::Error::other)
}

/// What to do with one mapped file after looking at both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Both sides agree with what they last agreed on.
    Nothing,
    /// The file changed: send it to the guest.
    Push,
    /// The guest changed: write the file.
    Pull,
    /// Both changed: the file wins (and the log says so).
    Conflict,
}

/// What to do, given whether each side changed since they last agreed.
/// `agreed_before` is false until the first sync of a file, which always
/// sends the file.
pub fn decide(file_changed: bool, server_changed: bool, agreed_before: bool) -> Decision {
    match (file_changed, server_changed) {
        _ if !agreed_before => Decision::Push,
        (true, true) => Decision::Conflict,
        (true, false) => Decision::Push,
        (false, true) => Decision::Pull,
        (false, false) => Decision::Nothing,
    }
}

/// The file's text for the branch override `server` (JSON text), in the form
/// `form`: dotted keys are written nested, as a person would write them.
pub fn render_for_file(server: &str, form: &Form) -> Option<(String, Value)> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(server) else {
        return None;
    };
    let mut dropped = Vec::new();
    let value = match config_format::normalize(&map, OnMissingParent::CreateEmpty, &mut dropped) {
        Ok(nested) => Value::Object(nested),
        Err(_) => Value::Object(map),
    };
    Some((stack_config_file::render(&value, form), value))
}

/// When a file was last seen changed: size, modification time and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode: meta.ino(),
    })
}

/// What the supervisor knows of one mapped file.
#[derive(Debug, Default)]
struct Tracked {
    /// The file's config when the two sides last agreed.
    file: Option<Value>,
    /// The guest's branch override (JSON text) when they last agreed.
    server: Option<String>,
    /// The file's stamp when it was last read.
    stamp: Option<Stamp>,
    /// The last problem reported for this file, so that it is logged once.
    problem: Option<String>,
    /// The file as last read.
    local: Option<LocalConfig>,
    /// When the guest was last asked.
    asked: Option<Instant>,
}

/// One line of the supervisor's log.
fn log(line: &str) {
    eprintln!("{} {line}", crate::image::now_rfc3339());
}

impl Tracked {
    fn report(&mut self, problem: String) {
        if self.problem.as_deref() != Some(problem.as_str()) {
            log(&problem);
            self.problem = Some(problem);
        }
    }

    /// One look at `path`: reads it when it changed, asks the guest when due,
    /// and pushes, pulls or does nothing.
    async fn tick(&mut self, api: &Api, path: &Path) {
        let now_stamp = stamp(path);
        let file_touched = now_stamp != self.stamp;
        if file_touched {
            self.stamp = now_stamp;
            match read_config(path) {
                Ok(local) => {
                    self.local = Some(local);
                    self.problem = None;
                }
                Err(e) => {
                    // The guest keeps what it has until the file reads again.
                    self.report(format!("{}: {}", path.display(), one_line(&e.to_string())));
                    self.local = None;
                    return;
                }
            }
        }
        let due = self.asked.is_none_or(|t| t.elapsed() >= SERVER_POLL);
        if !file_touched && !due {
            return;
        }
        let Some(local) = self.local.clone() else {
            return;
        };
        self.asked = Some(Instant::now());
        let server = match api.project(path, None).await {
            Ok(answer) => answer.branch_config_override_string,
            Err(e) => {
                self.report(one_line(&e.to_string()));
                return;
            }
        };
        let file_changed = self.file.as_ref() != Some(local.file.value());
        let server_changed = self.server.as_deref() != Some(server.as_str());
        match decide(file_changed, server_changed, self.server.is_some()) {
            Decision::Nothing => {}
            Decision::Conflict => {
                log(&format!(
                    "{}: changed both in the file and in the emulator; kept the file",
                    path.display()
                ));
                self.push(api, path, &local).await;
            }
            Decision::Push => self.push(api, path, &local).await,
            Decision::Pull => self.pull(path, &local, &server),
        }
    }

    async fn push(&mut self, api: &Api, path: &Path, local: &LocalConfig) {
        match api.project(path, Some(&local.branch_text)).await {
            Ok(answer) => {
                self.file = Some(local.file.value().clone());
                self.server = Some(answer.branch_config_override_string);
                self.problem = None;
            }
            Err(e) => {
                // Not sent again until the file changes.
                self.file = Some(local.file.value().clone());
                self.report(one_line(&e.to_string()));
            }
        }
    }

    fn pull(&mut self, path: &Path, local: &LocalConfig, server: &str) {
        if stamp(path) != self.stamp {
            // The file changed since it was read: it wins, on the next tick.
            return;
        }
        let form = local
            .file
            .form()
            .cloned()
            .unwrap_or_else(|| default_form(path));
        let Some((text, value)) = render_for_file(server, &form) else {
            self.report(format!(
                "{}: the emulator's branch config is not a JSON object",
                path.display()
            ));
            return;
        };
        match stack_config_file::write_atomically(path, text.as_bytes()) {
            Ok(()) => {
                log(&format!(
                    "{}: written from the emulator's branch config",
                    path.display()
                ));
                self.stamp = stamp(path);
                self.local = read_config(path).ok();
                self.file = Some(
                    self.local
                        .as_ref()
                        .map_or(value, |l| l.file.value().clone()),
                );
                self.server = Some(server.to_owned());
            }
            Err(e) => self.report(one_line(&e.to_string())),
        }
    }
}

fn one_line(text: &str) -> String {
    text.replace('\n', "; ")
}

/// The supervisor: keeps every mapped file in step with its project until
/// the emulator stops running.
///
/// # Errors
/// The emulator does not run when it starts.
pub async fn supervise(home: &Home) -> anyhow::Result<()> {
    let api = Api::of(home)?;
    let session = SessionFiles::of(home);
    let mut tracked: BTreeMap<PathBuf, Tracked> = BTreeMap::new();
    let mut alive_checked = Instant::now();
    log("config sync started");
    loop {
        if alive_checked.elapsed() >= Duration::from_secs(1) {
            alive_checked = Instant::now();
            if !matches!(session::liveness(&session), Liveness::Running(_)) {
                log("the emulator stopped; config sync ends");
                return Ok(());
            }
        }
        for path in mapped(home) {
            let entry = tracked.entry(path.clone()).or_default();
            entry.tick(&api, &path).await;
        }
        tokio::time::sleep(FILE_POLL).await;
    }
}

/// The supervisor's process, when one runs for `home`.
pub fn running(home: &Home) -> Option<u32> {
    let files = SyncFiles::of(home);
    let pid: u32 = std::fs::read_to_string(&files.pid)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    is_supervisor(pid).then_some(pid)
}

/// Whether `pid` is alive and a `config-sync` process (a recycled pid is not).
fn is_supervisor(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| {
            cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == SUBCOMMAND.as_bytes())
        })
        .unwrap_or_else(|_| session::is_qemu_alive(pid))
}

/// The hidden subcommand that runs [`supervise`].
pub const SUBCOMMAND: &str = "config-sync";

/// Starts the supervisor for `home` unless one runs; returns its pid. It
/// runs in its own process group (a terminal's Ctrl-C does not reach it) and
/// logs to [`SyncFiles::log`].
///
/// # Errors
/// The executable or the log cannot be opened, or the spawn failed.
pub fn ensure_running(home: &Home) -> std::io::Result<u32> {
    if let Some(pid) = running(home) {
        return Ok(pid);
    }
    use std::os::unix::process::CommandExt as _;
    let files = SyncFiles::of(home);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&files.log)?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg(SUBCOMMAND)
        .env("STACK_EMULATOR_HOME", home.root())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()?;
    let pid = child.id();
    std::fs::write(&files.pid, pid.to_string())?;
    Ok(pid)
}

/// Starts the supervisor again when config files are mapped and it does not
/// run (after a `start`, or when it died); a failure is a warning, since the
/// emulator itself works without it.
pub fn resume(home: &Home, printer: &crate::printer::Printer) {
    if mapped(home).is_empty() || running(home).is_some() {
        return;
    }
    if let Err(e) = ensure_running(home) {
        printer.warn(&format!(
            "cannot start the config sync ({e}); config files are read only by `credentials` until the next start"
        ));
    }
}

/// Stops the supervisor of `home`, if one runs.
pub async fn stop(home: &Home) {
    let files = SyncFiles::of(home);
    if let Some(pid) = running(home) {
        session::signal(pid, session::Signal::Terminate);
        let deadline = Instant::now() + STOP_DEADLINE;
        while is_supervisor(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if is_supervisor(pid) {
            session::signal(pid, session::Signal::Kill);
        }
    }
    let _ = std::fs::remove_file(&files.pid);
}

/// What `status` shows of the sync.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SyncStatus {
    /// The supervisor's pid, when it runs.
    pub pid: Option<u32>,
    /// The mapped config files.
    pub files: Vec<PathBuf>,
}

/// The sync's status for `home`.
pub fn status(home: &Home) -> SyncStatus {
    SyncStatus {
        pid: running(home),
        files: mapped(home),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_wins_a_conflict_and_the_first_sync_sends_the_file() {
        assert_eq!(decide(false, false, true), Decision::Nothing);
        assert_eq!(decide(true, false, true), Decision::Push);
        assert_eq!(decide(false, true, true), Decision::Pull);
        assert_eq!(decide(true, true, true), Decision::Conflict);
        assert_eq!(decide(false, true, false), Decision::Push);
    }

    #[test]
    fn a_branch_override_is_written_nested() {
        let form = Form::stack_auth("@hexclave/js", stack_config_file::Language::TypeScript);
        let (text, value) = render_for_file(
            r#"{"teams.allowClientTeamCreation":true,"auth":{"allowSignUp":false}}"#,
            &form,
        )
        .unwrap_or_default();
        assert_eq!(
            value,
            serde_json::json!({"teams": {"allowClientTeamCreation": true}, "auth": {"allowSignUp": false}})
        );
        let reread = stack_config_file::parse(&text, Path::new("/app/hexclave.config.ts"));
        assert_eq!(reread.map(ConfigFile::into_value).ok(), Some(value));
        assert!(render_for_file("[]", &form).is_none());
    }

    #[test]
    fn a_blank_file_gets_the_default_content_and_an_empty_config() {
        let dir = std::env::temp_dir().join(format!("config-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let path = dir.join("hexclave.config.ts");
        std::fs::write(&path, "  \n").unwrap_or_default();
        let local = read_config(&path);
        assert_eq!(
            local.as_ref().map(|l| l.branch_text.as_str()).ok(),
            Some("{}")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(text.contains("export const config"), "{text}");
        std::fs::write(&path, "export const config = \"show-onboarding\";\n").unwrap_or_default();
        assert_eq!(
            read_config(&path).map(|l| l.branch_text).ok().as_deref(),
            Some("{}")
        );
        std::fs::write(&path, "export const config = { auth: f() };\n").unwrap_or_default();
        let refused = read_config(&path).map(|_| ()).map_err(|e| e.to_string());
        assert!(
            refused
                .as_ref()
                .is_err_and(|m| m.contains("hexclave.config.ts:1:")),
            "{refused:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
