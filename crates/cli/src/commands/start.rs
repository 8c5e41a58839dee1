//! `start`: bring the emulator up (or say that it runs), then print its URLs
//! or the credentials for `--config-file`.

use anyhow::anyhow;
use stack_emulator::credentials;
use stack_emulator::home::Home;
use stack_emulator::printer::Printer;
use stack_emulator::start::{self, StartOptions, Started};

use crate::cli::{Format, StartArgs};
use crate::exit::Exit;

/// `stack-emulator start`.
///
/// # Errors
/// Bad ports, or what the start reports.
pub async fn start(home: &Home, printer: &Printer, args: &StartArgs) -> anyhow::Result<u8> {
    let opts = start_options(args)?;
    let started = start::start(home, printer, &opts).await?;
    match &started {
        Started::AlreadyRunning(_) => printer.step("the emulator is already running"),
        Started::Started(_) => printer.step("the emulator is ready"),
    }
    if let Some(config_file) = &args.config_file {
        let path = credentials::config_path(Some(config_file))?;
        let (creds, notes) = credentials::fetch(home, &path).await?;
        if let Some(line) = notes.warning(&path) {
            printer.warn(&line);
        }
        super::credentials::print_credentials(printer, &creds, Format::Env);
    } else {
        for line in start::summary(started.state()) {
            printer.result(&line);
        }
    }
    Ok(Exit::Success.code())
}

/// The start options that the flags of `start` and `run` give.
///
/// # Errors
/// Two services on one port, or port 0.
pub fn start_options(args: &StartArgs) -> anyhow::Result<StartOptions> {
    let ports = args.ports.ports().map_err(|e| anyhow!(e))?;
    Ok(StartOptions {
        ports,
        memory_mib: args.machine.memory_mib,
        vcpus: args.machine.vcpus,
        timings: args.timings,
        source: args.machine.source.clone(),
        cold: args.cold,
        no_rotation: args.no_rotation,
    })
}
