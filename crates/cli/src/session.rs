//! The session: one VM per state directory, its files under `run/`, and how to
//! tell whether it is running.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stack_vm::poll::poll_until;

use crate::home::{Home, PristineFiles};
use crate::ports::Ports;
use crate::snapshot::StateFiles;

/// Paths of the session's files.
#[derive(Debug, Clone)]
pub struct SessionFiles {
    /// The disk overlay holding all user data.
    pub overlay: PathBuf,
    /// QMP socket.
    pub qmp: PathBuf,
    /// Guest agent socket.
    pub qga: PathBuf,
    /// The guest's serial console.
    pub serial_log: PathBuf,
    /// QEMU's own stderr.
    pub qemu_log: PathBuf,
    /// QEMU's pid.
    pub pid: PathBuf,
    /// The install's secrets (mode 0600).
    pub secrets: PathBuf,
    /// What the running session was started with.
    pub state: PathBuf,
    /// The guest's RAM, mapped shared by QEMU; kept by `stop` as part of the
    /// hibernated state.
    pub ram: PathBuf,
    /// The version of the image that the overlay stands on.
    pub image_marker: PathBuf,
    /// The public API URL that the guest's keys were last rotated for.
    pub public_api_url: PathBuf,
    /// The runtime-config disk of older versions, deleted by `reset`.
    pub legacy_config_iso: PathBuf,
}

impl SessionFiles {
    /// The files of `home`'s session.
    pub fn of(home: &Home) -> Self {
        Self {
            overlay: home.run_file("overlay.qcow2"),
            qmp: home.run_file("qmp.sock"),
            qga: home.run_file("qga.sock"),
            serial_log: home.run_file("serial.log"),
            qemu_log: home.run_file("qemu.log"),
            pid: home.run_file("qemu.pid"),
            secrets: home.run_file("secrets.json"),
            state: home.run_file("session.json"),
            ram: home.run_file("ram.bin"),
            image_marker: home.run_file("overlay.image"),
            public_api_url: home.run_file("public-api-url"),
            legacy_config_iso: home.run_file("config.iso"),
        }
    }

    /// The files of a capture VM: its disk layer and RAM file in the pristine
    /// snapshot's directory, its own sockets, logs and pid file next to the
    /// session's in `run/`, so that it never disturbs a running session.
    pub fn capture(home: &Home, pristine: &PristineFiles) -> Self {
        Self {
            overlay: pristine.partial_disk.clone(),
            ram: pristine.partial_ram.clone(),
            qmp: home.run_file("capture-qmp.sock"),
            qga: home.run_file("capture-qga.sock"),
            serial_log: home.run_file("capture-serial.log"),
            qemu_log: home.run_file("capture-qemu.log"),
            pid: home.run_file("capture-qemu.pid"),
            ..Self::of(home)
        }
    }

    /// The hibernated session's saved state, next to its disk.
    pub fn saved_state(&self) -> StateFiles {
        StateFiles::at(
            self.overlay.parent().unwrap_or(std::path::Path::new(".")),
            "session-state",
            self.ram.clone(),
        )
    }

    /// Deletes the session's data and keys (the VM must not run): its disk,
    /// RAM, saved state, secrets and logs. Images and snapshots stay.
    ///
    /// # Errors
    /// A file exists and cannot be deleted.
    pub fn delete_data(&self) -> Result<(), CannotDelete> {
        self.saved_state().remove();
        for path in [
            &self.overlay,
            &self.ram,
            &self.image_marker,
            &self.public_api_url,
            &self.secrets,
            &self.legacy_config_iso,
            &self.serial_log,
            &self.qemu_log,
        ] {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(CannotDelete {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }
}

/// A file of the session could not be deleted.
#[derive(Debug, thiserror::Error)]
#[error("cannot delete {}", path.display())]
pub struct CannotDelete {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// What a running session was started with (`run/session.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionState {
    /// QEMU's pid.
    pub pid: u32,
    /// Host ports.
    pub ports: Ports,
    /// `kvm`, `hvf` or `tcg`.
    pub accelerator: String,
    /// Why that accelerator.
    pub accelerator_reason: String,
    /// The image version.
    pub image_version: String,
    /// Unix time of the start, in seconds.
    pub started_at_unix: u64,
    /// How the guest came up: `cold-boot`, `pristine-resume` or `session-resume`.
    pub boot: String,
    /// The snapshot fingerprint, when this VM can hibernate (virtio-blk root).
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// The parts of the fingerprint a person chooses or upgrades, kept with a
    /// hibernated state so that a refusal to resume it names what changed.
    #[serde(default)]
    pub machine: Option<crate::snapshot::Machine>,
    /// Set while the `start` that launched this VM has not finished: until
    /// then the guest may run keys this install did not make, and a `start`
    /// that was interrupted there (Ctrl-C, a kill) must not count as running.
    #[serde(default)]
    pub starting: bool,
    /// How the forwarded ports take new connections (see [`crate::net`]).
    #[serde(default)]
    pub network: Option<String>,
}

impl SessionState {
    /// Reads the state file, if any.
    pub fn load(files: &SessionFiles) -> Option<Self> {
        serde_json::from_slice(&fs::read(&files.state).ok()?).ok()
    }

    /// Writes the state file.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save(&self, files: &SessionFiles) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let tmp = files.state.with_extension("json.tmp");
        fs::write(&tmp, bytes)?;
        fs::rename(tmp, &files.state)
    }
}

/// Whether a process with this pid is alive and is QEMU.
pub fn is_qemu_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        // Right after spawn and before exec, the child still shows our own command line.
        living_command_line(pid)
            .is_some_and(|cmdline| cmdline.contains("qemu") || cmdline.contains("stack-emulator"))
    }
    #[cfg(not(target_os = "linux"))]
    {
        send(pid, 0)
    }
}

/// The command line of `pid` when it is a process that is neither gone nor a
/// zombie (a zombie still has /proc/<pid>); empty once an exiting process has
/// released its memory.
#[cfg(target_os = "linux")]
fn living_command_line(pid: u32) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    if status.contains("State:\tZ") {
        return None;
    }
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    Some(String::from_utf8_lossy(&cmdline).into_owned())
}

/// Where a session stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Liveness {
    /// Never started, or stopped cleanly.
    Stopped,
    /// QEMU is running.
    Running(SessionState),
    /// A session was running but QEMU is gone without a clean stop (killed, crashed).
    Died(SessionState),
}

/// Reads where the session stands.
pub fn liveness(files: &SessionFiles) -> Liveness {
    match SessionState::load(files) {
        None => Liveness::Stopped,
        Some(state) if is_qemu_alive(state.pid) => Liveness::Running(state),
        Some(state) => Liveness::Died(state),
    }
}

/// A command that needs the running emulator found none.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotRunning {
    /// No VM runs in this state directory.
    #[error("the emulator is not running")]
    Stopped,
    /// No VM has run in this state directory yet, so it has no console log.
    #[error("no console log yet at {}", .0.display())]
    NoConsoleLog(std::path::PathBuf),
}

impl NotRunning {
    /// What to do next.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Stopped => "run `stack-emulator start` first, or use `stack-emulator run -- CMD`",
            Self::NoConsoleLog(_) => "start the emulator first",
        }
    }
}

/// Removes the files that only mean something while QEMU runs.
pub fn clear_runtime_files(files: &SessionFiles) {
    for path in [&files.qmp, &files.qga, &files.pid, &files.state] {
        let _ = fs::remove_file(path);
    }
}

/// The signals the emulator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGKILL.
    Kill,
    /// SIGTERM.
    Terminate,
    /// SIGINT.
    Interrupt,
}

impl Signal {
    fn number(self) -> libc::c_int {
        match self {
            Self::Kill => libc::SIGKILL,
            Self::Terminate => libc::SIGTERM,
            Self::Interrupt => libc::SIGINT,
        }
    }
}

/// Sends `signal` to process `pid`. Returns false when there is no such
/// process: it is already gone, which is what the callers want anyway.
pub fn signal(pid: u32, signal: Signal) -> bool {
    send(pid, signal.number())
}

/// `kill(2)` for one process; signal 0 only asks whether it exists.
#[allow(unsafe_code)] // std can only kill its own children, and only with SIGKILL.
fn send(pid: u32, signal: libc::c_int) -> bool {
    // Never 0 or negative: those would signal whole process groups.
    let Some(pid) = libc::pid_t::try_from(pid).ok().filter(|p| *p > 0) else {
        return false;
    };
    // SAFETY: kill takes two integers, reads and writes no memory of ours,
    // and reports failure (ESRCH for a process that is gone) in its result.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// How often a wait for QEMU's exit looks at `/proc`. A poll interval, not a
/// guess at how long the exit takes: a process exit has no event that an
/// unrelated process could wait on, and this bounds how late a `stop` or the
/// next `start` notices it (each look costs microseconds).
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Waits until the process is gone or the limit passes; true if it is gone.
pub async fn wait_gone(pid: u32, limit: Duration) -> bool {
    poll_until("QEMU to exit", limit, EXIT_POLL_INTERVAL, || async {
        (!is_qemu_alive(pid)).then_some(())
    })
    .await
    .is_ok()
}

/// Waits up to `limit` until a QEMU that counts as gone has also finished
/// exiting. A killed process loses its command line before it closes its
/// files, so for a moment it still holds its ports and sockets. Returns
/// whether it finished.
pub async fn wait_exited(pid: u32, limit: Duration) -> bool {
    poll_until(
        "QEMU to finish exiting",
        limit,
        EXIT_POLL_INTERVAL,
        || async { (!still_exiting(pid)).then_some(()) },
    )
    .await
    .is_ok()
}

/// Whether `pid` is a process that is neither a zombie nor gone and is QEMU
/// or has already lost its command line (it is exiting).
fn still_exiting(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        living_command_line(pid)
            .is_some_and(|cmdline| cmdline.is_empty() || cmdline.contains("qemu"))
    }
    #[cfg(not(target_os = "linux"))]
    {
        is_qemu_alive(pid)
    }
}

/// The last `n` lines of a text file (for diagnostics).
pub fn tail(path: &std::path::Path, n: usize) -> String {
    let text = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
