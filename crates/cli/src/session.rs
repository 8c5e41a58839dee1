//! The session: one VM per state directory, its files under `run/`, and how to
//! tell whether it is running.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::home::Home;
use crate::ports::Ports;

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
        }
    }
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

/// Waits until the process is gone or the limit passes; true if it is gone.
pub async fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if !is_qemu_alive(pid) {
            return true;
        }
        // Poll interval while QEMU winds down; not a guess at its timing.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    !is_qemu_alive(pid)
}

/// Waits up to `limit` until a QEMU that counts as gone has also finished
/// exiting. A killed process loses its command line before it closes its
/// files, so for a moment it still holds its ports and sockets. Returns
/// whether it finished.
pub async fn wait_exited(pid: u32, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while still_exiting(pid) {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        // Poll interval while the kernel tears the process down.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
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
