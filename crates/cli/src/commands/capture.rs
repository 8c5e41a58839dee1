//! `capture`: take the pristine snapshot for the active image and a machine
//! shape now, instead of at the first `start`.

use stack_emulator::capture::{self, Captured};
use stack_emulator::home::Home;
use stack_emulator::printer::Printer;
use stack_emulator::start::StartOptions;

use crate::cli::MachineArgs;
use crate::exit::Exit;

/// `stack-emulator capture [--force]`.
///
/// # Errors
/// What the capture reports.
pub async fn capture(
    home: &Home,
    printer: &Printer,
    machine: &MachineArgs,
    force: bool,
) -> anyhow::Result<u8> {
    let opts = StartOptions {
        memory_mib: machine.memory_mib,
        vcpus: machine.vcpus,
        source: machine.source.clone(),
        ..StartOptions::for_capture()
    };
    match capture::capture(home, printer, &opts, force).await? {
        Captured::AlreadyThere => printer.step(
            "the pristine snapshot for this image and machine is already there (--force takes it again)",
        ),
        Captured::Taken(_) => {
            printer.step("the pristine snapshot is ready; `start` resumes it");
        }
    }
    Ok(Exit::Success.code())
}
