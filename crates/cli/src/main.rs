//! `stack-emulator`: parse flags, run one command, report errors with a hint.

use std::process::ExitCode;

use clap::Parser as _;

mod accel;
mod cli;
mod commands;
mod guest;
mod home;
mod image;
mod ports;
mod preflight;
mod printer;
mod private;
mod progress;
mod release;
mod secrets;
mod session;
mod snapshot;
mod space;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stack-emulator: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_FAILURE);
        }
    };
    match runtime.block_on(commands::run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e);
            ExitCode::from(cli::EXIT_FAILURE)
        }
    }
}

/// Prints the error, its causes, and any `hint:` lines last.
fn report(e: &anyhow::Error) {
    let mut hints = Vec::new();
    let mut lines = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let (message, hint) = match text.split_once("\nhint: ") {
            Some((m, h)) => (m.to_owned(), Some(h.to_owned())),
            None => (text, None),
        };
        if !lines.iter().any(|l: &String| l.contains(&message)) {
            lines.push(message);
        }
        hints.extend(hint);
    }
    eprintln!("error: {}", lines.join(": "));
    for hint in hints {
        eprintln!("hint: {hint}");
    }
}
