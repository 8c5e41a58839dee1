//! `stack-emulator`: parse flags, run one command of the engine
//! (`stack_emulator`), report its error with `hint:` lines, and exit with a
//! documented code (see `exit.rs`).

use std::process::ExitCode;

use clap::Parser as _;

mod cli;
mod commands;
mod exit;
mod report;

use exit::Exit;
use report::report;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            // Help and version go to stdout and are not failures.
            let _ = e.print();
            let exit = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            };
            return ExitCode::from(exit.code());
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stack-emulator: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Failure.code());
        }
    };
    match runtime.block_on(commands::run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e);
            ExitCode::from(Exit::of_error(&e).code())
        }
    }
}
