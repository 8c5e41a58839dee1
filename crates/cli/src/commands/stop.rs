//! `stop`: hibernate the VM, or shut the guest down cleanly; data is kept.

use stack_emulator::home::Home;
use stack_emulator::printer::Printer;
use stack_emulator::stop::{self, Stopped};

use crate::exit::Exit;

/// `stack-emulator stop`; exits [`Exit::NotRunning`] when nothing ran.
///
/// # Errors
/// The lock, or QEMU survived even SIGKILL.
pub async fn stop(home: &Home, printer: &Printer) -> anyhow::Result<u8> {
    let _lock = stack_emulator::start::lock(home, printer).await?;
    let outcome = stop::stop_locked(home, printer).await?;
    printer.step(match outcome {
        Stopped::WasNotRunning => "the emulator is not running",
        Stopped::WasDead => {
            "the emulator had already died; cleared what it left (the data is kept)"
        }
        Stopped::Clean => "stopped; the data is kept",
        Stopped::Hibernated => "hibernated; the next start resumes this session",
        Stopped::Forced => {
            "stopped from the host; the data is kept, and PostgreSQL recovers at the next start"
        }
    });
    let exit = match outcome {
        Stopped::WasNotRunning => Exit::NotRunning,
        _ => Exit::Success,
    };
    Ok(exit.code())
}
