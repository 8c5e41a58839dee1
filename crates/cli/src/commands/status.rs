//! `status`: whether the emulator runs and how it is doing, readable or JSON.

use stack_emulator::home::Home;
use stack_emulator::printer::Printer;

use crate::exit::Exit;

/// `stack-emulator status [--json]`.
///
/// # Errors
/// The status cannot be encoded as JSON.
pub async fn status(home: &Home, printer: &Printer, json: bool) -> anyhow::Result<u8> {
    let status = stack_emulator::status::status(home).await;
    if json {
        printer.result(&serde_json::to_string_pretty(&status)?);
    } else {
        for line in stack_emulator::status::render(&status) {
            printer.result(&line);
        }
    }
    Ok(Exit::Success.code())
}
