//! One QEMU process of the emulator, and every way of ending it: a signal,
//! the wait until it is gone, and QMP `quit` with SIGKILL after a deadline.
//!
//! The process is either this command's child (from [`QemuProcess::spawn`]),
//! or one that an earlier command started, found again through the session's
//! pid file ([`QemuProcess::adopt`]). Dropping a `QemuProcess` leaves QEMU
//! running: a session outlives the `start` that launched it.

use std::fs;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use stack_vm::launch::LaunchSpec;
use stack_vm::qmp::QmpClient;
use tokio::net::UnixStream;

use crate::session::{self, SessionFiles, Signal};

/// How long a QEMU that got SIGKILL or SIGTERM may take to be gone: the
/// kernel unmaps its guest RAM, which takes a moment for gigabytes.
pub const KILL_DEADLINE: Duration = Duration::from_secs(5);

/// How long a killed QEMU may take to finish exiting before a new one starts
/// on the same ports. The kernel tears down a process's memory before it
/// closes its sockets, so until then the forwarded ports stay taken; with a
/// file-backed guest RAM on a busy machine that took more than 5 s (a start
/// right after then failed with "port … is already in use"). It ends as soon
/// as the process is gone.
pub const EXIT_DEADLINE: Duration = Duration::from_secs(60);

/// A QEMU process.
#[derive(Debug)]
pub struct QemuProcess {
    pid: u32,
    /// Present when this command started it: then its exit is exact, and it
    /// is reaped once it has ended.
    child: Option<std::process::Child>,
}

/// How [`QemuProcess::quit_or_kill`] ended QEMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It exited by itself (after `quit`, or a guest power-off).
    Exited,
    /// It was still there at the deadline and SIGKILL ended it.
    Killed,
}

/// QEMU was still there after SIGKILL and another deadline.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("QEMU (pid {pid}) survived SIGKILL")]
pub struct SurvivedKill {
    /// Its process id.
    pub pid: u32,
}

impl SurvivedKill {
    /// What to do next.
    pub fn hint(&self) -> String {
        format!("check the process with `ps -p {}`", self.pid)
    }
}

impl QemuProcess {
    /// Starts QEMU for `spec` in the background, in its own process group
    /// (Ctrl-C on `start` must not take the VM down with it), with its output
    /// in the QEMU log and its pid in the pid file.
    ///
    /// # Errors
    /// The command line, the log or pid file, or the spawn failed.
    pub fn spawn(spec: &LaunchSpec, files: &SessionFiles) -> anyhow::Result<Self> {
        for stale in [&files.qmp, &files.qga] {
            let _ = fs::remove_file(stale);
        }
        let args = spec.args()?;
        let log = fs::File::create(&files.qemu_log)
            .with_context(|| format!("cannot write {}", files.qemu_log.display()))?;
        let mut command = Command::new(&spec.qemu_binary);
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt as _;
            command.process_group(0);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", spec.qemu_binary.display()))?;
        fs::write(&files.pid, child.id().to_string()).context("cannot write the pid file")?;
        Ok(Self {
            pid: child.id(),
            child: Some(child),
        })
    }

    /// The QEMU with process id `pid`, which an earlier command started.
    pub fn adopt(pid: u32) -> Self {
        Self { pid, child: None }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How it exited, when this command started it and it has exited.
    /// Exact for a child, where `/proc` would race with QEMU's exec.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends `signal`; false when the process is already gone (ESRCH), which
    /// is what every caller wants anyway.
    pub fn signal(&self, signal: Signal) -> bool {
        session::signal(self.pid, signal)
    }

    /// Waits until it is gone or `limit` passes; true if it is gone. A child
    /// that is gone is reaped.
    pub async fn wait_gone(&mut self, limit: Duration) -> bool {
        let gone = session::wait_gone(self.pid, limit).await;
        if gone {
            let _ = self.try_wait();
        }
        gone
    }

    /// Waits up to `limit` until a QEMU that counts as gone has also finished
    /// exiting, so that its ports and sockets are free; true if it has.
    pub async fn wait_exited(&self, limit: Duration) -> bool {
        session::wait_exited(self.pid, limit).await
    }

    /// Sends QMP `quit` on `qmp` (with `None`, only waits), then SIGKILL if
    /// QEMU is still there after `limit`, calling `before_kill` first. Ends
    /// when it has exited completely (or after another `limit`).
    ///
    /// # Errors
    /// QEMU survived SIGKILL for `limit`.
    pub async fn quit_or_kill(
        &mut self,
        qmp: Option<&mut QmpClient<UnixStream>>,
        limit: Duration,
        before_kill: impl FnOnce(u32),
    ) -> Result<Ended, SurvivedKill> {
        if let Some(qmp) = qmp {
            let _ = qmp.quit().await;
        }
        let mut ended = Ended::Exited;
        if !self.wait_gone(limit).await {
            before_kill(self.pid);
            self.signal(Signal::Kill);
            if !self.wait_gone(limit).await {
                return Err(SurvivedKill { pid: self.pid });
            }
            ended = Ended::Killed;
        }
        // Until then it may still hold its ports.
        self.wait_exited(limit).await;
        Ok(ended)
    }
}
