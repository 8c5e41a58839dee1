//! `stop`: a clean guest shutdown, then QEMU's exit; data is kept.

use std::time::Duration;

use stack_vm::qmp::QmpClient;

use crate::guest;
use crate::home::Home;
use crate::printer::Printer;
use crate::qemu::{QemuProcess, SurvivedKill};
use crate::session::{self, Liveness, SessionFiles};
use crate::snapshot::Fingerprint;

/// How long the guest may take to stop PostgreSQL and power off after the
/// agent's shutdown request. A checkpoint under TCG takes a few seconds.
const GUEST_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(45);
/// How long the guest agent may take to accept the request.
const AGENT_DEADLINE: Duration = Duration::from_secs(5);
/// How long QEMU may take to exit after QMP `quit`.
const QUIT_DEADLINE: Duration = Duration::from_secs(10);

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
/// Only when QEMU survives even SIGKILL.
pub async fn stop_locked(home: &Home, printer: &Printer) -> anyhow::Result<Stopped> {
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
                "could not hibernate ({e:#}); shutting the guest down instead"
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
    quit_or_kill(&files, &mut qemu, printer).await?;
    session::clear_runtime_files(&files);
    Ok(Stopped::Forced)
}

/// Ends a running VM without saving or shutting anything down: for `reset`,
/// which deletes the session's disk and RAM next (the caller holds the lock).
///
/// # Errors
/// Only when QEMU survives even SIGKILL.
pub async fn discard_locked(home: &Home, printer: &Printer) -> anyhow::Result<()> {
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
            quit_or_kill(&files, &mut QemuProcess::adopt(state.pid), printer).await?;
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
async fn hibernate(
    files: &SessionFiles,
    fingerprint: &Fingerprint,
    qemu: &mut QemuProcess,
    printer: &Printer,
) -> anyhow::Result<()> {
    printer.step("hibernating");
    let saved = files.saved_state();
    saved.remove();
    let mut qmp = QmpClient::connect_unix(&files.qmp).await?;
    // Held until QEMU quits: the saved guest then resumes with its agent ready.
    let _agent = crate::guest::sync_before_save(&files.qga).await;
    if let Err(e) = crate::snapshot::capture(&mut qmp, &saved.state).await {
        saved.remove();
        // Let the guest run again so the clean shutdown can proceed.
        let _ = qmp.cont().await;
        return Err(e.into());
    }
    // The state is saved: a QEMU that hangs on `quit` is killed without loss.
    let _ = qemu
        .quit_or_kill(Some(&mut qmp), QUIT_DEADLINE, |_| {})
        .await;
    crate::snapshot::seal(&saved, fingerprint)?;
    Ok(())
}
