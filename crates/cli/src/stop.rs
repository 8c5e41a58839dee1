//! `stop`: a clean guest shutdown, then QEMU's exit; data is kept.

use std::path::PathBuf;
use std::time::Duration;

use stack_vm::qmp::{QmpClient, QmpConnectError};

use crate::guest;
use crate::home::Home;
use crate::printer::Printer;
use crate::qemu::{QemuProcess, SurvivedKill};
use crate::session::{self, Liveness, SessionFiles};
use crate::snapshot::{Fingerprint, MigrationError};

/// How long the guest may take to stop PostgreSQL and power off after the
/// agent's shutdown request. A checkpoint under TCG takes a few seconds.
const GUEST_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(45);
/// How long the guest agent may take to accept the request.
const AGENT_DEADLINE: Duration = Duration::from_secs(5);
/// How long QEMU may take to exit after QMP `quit`.
const QUIT_DEADLINE: Duration = Duration::from_secs(10);

/// Why the emulator could not be stopped, ended or hibernated. `stop` falls
/// back from a failed hibernation to a clean shutdown, so only the
/// [`NotStopped`](Self::NotStopped) and [`NotEnded`](Self::NotEnded) variants
/// end a command.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// `stop` could not end QEMU.
    #[error("cannot stop the emulator")]
    NotStopped(#[source] SurvivedKill),
    /// The VM that `reset` ends before it deletes the session's data could
    /// not be ended.
    #[error("cannot end the emulator's VM")]
    NotEnded(#[source] SurvivedKill),
    /// Hibernation could not reach QEMU's QMP socket.
    #[error(transparent)]
    HibernateQmp(#[from] QmpConnectError),
    /// QEMU could not save the VM's device state.
    #[error("cannot save the VM's device state to {}", state.display())]
    HibernateSave {
        /// The device-state file.
        state: PathBuf,
        /// The cause.
        #[source]
        source: MigrationError,
    },
    /// The saved state could not be made durable or its metadata written.
    #[error("cannot seal the saved state {}", state.display())]
    HibernateSeal {
        /// The device-state file.
        state: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl StopError {
    /// What to do next, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NotStopped(e) => Some(format!(
                "once QEMU (pid {}) is gone, `stack-emulator stop` clears what it left",
                e.pid
            )),
            Self::NotEnded(e) => Some(format!(
                "once QEMU (pid {}) is gone, `stack-emulator reset` deletes the session's data",
                e.pid
            )),
            _ => None,
        }
    }
}

/// How `stop` ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Nothing was running.
    WasNotRunning,
    /// QEMU had already died; its leftovers were cleared.
    WasDead,
    /// The guest shut down cleanly.
    Clean,
    /// RAM and device state were saved next to the disk.
    Hibernated,
    /// The guest did not shut down; QEMU was ended from the host.
    Forced,
}

/// Stops the emulator (the caller holds the lock).
///
/// # Errors
/// Only [`StopError::NotStopped`], when QEMU survives even SIGKILL.
pub async fn stop_locked(home: &Home, printer: &Printer) -> Result<Stopped, StopError> {
    // The config sync first: it talks to the VM that is about to go.
    crate::config_sync::stop(home).await;
    let files = SessionFiles::of(home);
    let state = match session::liveness(&files) {
        Liveness::Stopped => return Ok(Stopped::WasNotRunning),
        Liveness::Died(state) => {
            QemuProcess::adopt(state.pid)
                .wait_exited(QUIT_DEADLINE)
                .await;
            session::clear_runtime_files(&files);
            return Ok(Stopped::WasDead);
        }
        Liveness::Running(state) => state,
    };
    let mut qemu = QemuProcess::adopt(state.pid);
    if let Some(digest) = &state.fingerprint {
        let fingerprint = Fingerprint {
            digest: digest.clone(),
            machine: state.machine.clone(),
        };
        match hibernate(&files, &fingerprint, &mut qemu, printer).await {
            Ok(()) => {
                session::clear_runtime_files(&files);
                return Ok(Stopped::Hibernated);
            }
            Err(e) => printer.warn(&format!(
                "could not hibernate ({:#}); shutting the guest down instead",
                anyhow::Error::from(e)
            )),
        }
    }
    printer.step("shutting the guest down");
    match guest::shutdown(&files.qga, AGENT_DEADLINE).await {
        Ok(()) => {
            if qemu.wait_gone(GUEST_SHUTDOWN_DEADLINE).await {
                session::clear_runtime_files(&files);
                return Ok(Stopped::Clean);
            }
            printer.warn(&format!(
                "the guest did not power off within {} s",
                GUEST_SHUTDOWN_DEADLINE.as_secs()
            ));
        }
        Err(e) => printer.warn(&format!(
            "the guest agent did not take the shutdown request: {e}"
        )),
    }
    printer.step("asking QEMU to quit");
    quit_or_kill(&files, &mut qemu, printer)
        .await
        .map_err(StopError::NotStopped)?;
    session::clear_runtime_files(&files);
    Ok(Stopped::Forced)
}

/// Ends a running VM without saving or shutting anything down: for `reset`,
/// which deletes the session's disk and RAM next (the caller holds the lock).
///
/// # Errors
/// Only [`StopError::NotEnded`], when QEMU survives even SIGKILL.
pub async fn discard_locked(home: &Home, printer: &Printer) -> Result<(), StopError> {
    let files = SessionFiles::of(home);
    match session::liveness(&files) {
        Liveness::Stopped => {}
        Liveness::Died(state) => {
            QemuProcess::adopt(state.pid)
                .wait_exited(QUIT_DEADLINE)
                .await;
        }
        Liveness::Running(state) => {
            printer.step("ending the VM");
            quit_or_kill(&files, &mut QemuProcess::adopt(state.pid), printer)
                .await
                .map_err(StopError::NotEnded)?;
        }
    }
    session::clear_runtime_files(&files);
    Ok(())
}

/// QMP `quit`, then SIGKILL if QEMU is still there after [`QUIT_DEADLINE`].
async fn quit_or_kill(
    files: &SessionFiles,
    qemu: &mut QemuProcess,
    printer: &Printer,
) -> Result<(), SurvivedKill> {
    let mut qmp = QmpClient::connect_unix(&files.qmp).await.ok();
    qemu.quit_or_kill(qmp.as_mut(), QUIT_DEADLINE, |pid| {
        printer.warn(&format!("QEMU (pid {pid}) did not quit; killing it"));
    })
    .await?;
    Ok(())
}

/// Saves the session's RAM and device state next to its disk, then quits QEMU.
///
/// # Errors
/// QMP, the save (the guest then runs again) or the seal (QEMU has quit) failed.
async fn hibernate(
    files: &SessionFiles,
    fingerprint: &Fingerprint,
    qemu: &mut QemuProcess,
    printer: &Printer,
) -> Result<(), StopError> {
    printer.step("hibernating");
    let saved = files.saved_state();
    saved.remove();
    let mut qmp = QmpClient::connect_unix(&files.qmp).await?;
    // Held until QEMU quits: the saved guest then resumes with its agent ready.
    let _agent = crate::guest::sync_before_save(&files.qga).await;
    if let Err(source) = crate::snapshot::capture(&mut qmp, &saved.state).await {
        saved.remove();
        // Let the guest run again so the clean shutdown can proceed.
        let _ = qmp.cont().await;
        return Err(StopError::HibernateSave {
            state: saved.state.clone(),
            source,
        });
    }
    // The state is saved: a QEMU that hangs on `quit` is killed without loss.
    let _ = qemu
        .quit_or_kill(Some(&mut qmp), QUIT_DEADLINE, |_| {})
        .await;
    crate::snapshot::seal(&saved, fingerprint).map_err(|source| StopError::HibernateSeal {
        state: saved.state.clone(),
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qemu_that_survives_the_stop_says_what_failed_and_what_to_do_then() {
        let e = StopError::NotStopped(SurvivedKill { pid: 4242 });
        assert_eq!(e.to_string(), "cannot stop the emulator");
        assert_eq!(
            e.hint().as_deref(),
            Some("once QEMU (pid 4242) is gone, `stack-emulator stop` clears what it left")
        );
        assert_eq!(
            format!("{:#}", anyhow::Error::from(e)),
            "cannot stop the emulator: QEMU (pid 4242) survived SIGKILL"
        );
    }

    #[test]
    fn a_qemu_that_survives_a_reset_says_the_data_is_deleted_afterwards() {
        let e = StopError::NotEnded(SurvivedKill { pid: 7 });
        assert_eq!(e.to_string(), "cannot end the emulator's VM");
        assert_eq!(
            e.hint().as_deref(),
            Some("once QEMU (pid 7) is gone, `stack-emulator reset` deletes the session's data")
        );
    }

    #[test]
    fn a_failed_hibernation_names_the_state_file_and_has_no_hint() {
        let save = StopError::HibernateSave {
            state: PathBuf::from("run/session-state.bin"),
            source: MigrationError::Timeout { phase: "capture" },
        };
        assert_eq!(save.hint(), None);
        // What the warning before the clean shutdown shows.
        assert_eq!(
            format!("{:#}", anyhow::Error::from(save)),
            "cannot save the VM's device state to run/session-state.bin: the capture did not finish within 60 s"
        );
        let seal = StopError::HibernateSeal {
            state: PathBuf::from("run/session-state.bin"),
            source: std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left"),
        };
        assert_eq!(seal.hint(), None);
        assert_eq!(
            format!("{:#}", anyhow::Error::from(seal)),
            "cannot seal the saved state run/session-state.bin: no space left"
        );
        let qmp = StopError::from(QmpConnectError::NotReady {
            path: PathBuf::from("run/qmp.sock"),
            limit: Duration::from_secs(5),
        });
        assert_eq!(
            qmp.to_string(),
            "the QMP socket run/qmp.sock did not accept a connection within 5s; is QEMU running?"
        );
        assert_eq!(qmp.hint(), None);
    }
}
