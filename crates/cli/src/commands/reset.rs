//! `reset`: end the VM, then delete the session's data and keys; images and
//! snapshots are kept.

use stack_emulator::home::Home;
use stack_emulator::printer::Printer;
use stack_emulator::session::SessionFiles;

use crate::exit::Exit;

/// `stack-emulator reset [--yes]`; without `--yes` it asks on a terminal.
///
/// # Errors
/// Not confirmed, the lock, QEMU survived SIGKILL, or a file cannot be deleted.
pub async fn reset(home: &Home, printer: &Printer, yes: bool) -> anyhow::Result<u8> {
    if !yes && !super::confirm("Delete this emulator's users, projects and keys?")? {
        return Err(super::CommandError::ResetCancelled.into());
    }
    let _lock = stack_emulator::start::lock(home, printer).await?;
    // Its data is deleted next: nothing to save or shut down cleanly.
    stack_emulator::stop::discard_locked(home, printer).await?;
    SessionFiles::of(home).delete_data()?;
    printer.step("reset: the session's data and keys are gone; images and snapshots are kept");
    Ok(Exit::Success.code())
}
