//! `run`: start the emulator if needed, run a command with the credentials of
//! its project, and stop the emulator again if this command started it.

use anyhow::anyhow;
use stack_emulator::credentials;
use stack_emulator::home::Home;
use stack_emulator::printer::Printer;

use crate::cli::StartArgs;
use crate::exit::Exit;

/// `stack-emulator run [START OPTIONS] -- CMD`; returns CMD's exit code.
///
/// # Errors
/// The start, the credentials, running CMD, or the stop afterwards failed.
pub async fn run(
    home: &Home,
    printer: &Printer,
    start_args: &StartArgs,
    command: &[String],
) -> anyhow::Result<u8> {
    let opts = super::start::start_options(start_args)?;
    let path = credentials::config_path(start_args.config_file.as_deref())?;
    let started = stack_emulator::start::start(home, printer, &opts).await?;
    let we_started = matches!(started, stack_emulator::start::Started::Started(_));
    let outcome = run_with_credentials(home, &path, command).await;
    if we_started {
        let _lock = stack_emulator::start::lock(home, printer).await?;
        stack_emulator::stop::stop_locked(home, printer).await?;
    }
    outcome
}

/// Runs `command` with the credentials of the project for `path` in its
/// environment, as the variables that `credentials` prints
/// (`Credentials::vars`), and returns its exit code (128 + the signal's
/// number when a signal ended it, as shells report it).
///
/// While it runs, SIGINT and SIGTERM that reach this process are passed on to
/// it, and this process waits for it to end: a Ctrl-C in a terminal reaches
/// both, a `kill -INT` of this process only this one, and either way `run`
/// then still stops the emulator it started. Like `npm run`, the command may
/// therefore get a terminal's Ctrl-C twice.
pub async fn run_with_credentials(
    home: &Home,
    path: &std::path::Path,
    command: &[String],
) -> anyhow::Result<u8> {
    let (creds, notes) = credentials::fetch(home, path).await?;
    if let Some(line) = notes.warning(path) {
        eprintln!("warning: {line}");
    }
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow!("no command given after --"))?;
    let mut child = std::process::Command::new(program);
    child.args(args);
    for (name, value) in creds.vars() {
        child.env(name, value);
    }
    // The app's files are the user's, not the emulator's private state.
    stack_emulator::private::keep_user_umask(&mut child);
    // Listening before the spawn: a signal in between must not end `run`.
    let mut signals = ForwardedSignals::listen()?;
    let mut child = tokio::process::Command::from(child)
        .spawn()
        .map_err(|e| anyhow!("cannot run {program}: {e}"))?;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.map_err(|e| anyhow!("cannot wait for {program}: {e}"))?,
            Some(signal) = signals.next() => {
                if let Some(pid) = child.id() {
                    stack_emulator::session::signal(pid, signal);
                }
            }
        }
    };
    Ok(exit_code(status))
}

/// The exit code a shell would report for a process that ended with `status`.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt as _;
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal));
    code.and_then(|c| u8::try_from(c).ok())
        .unwrap_or(Exit::Failure.code())
}

/// SIGINT and SIGTERM, caught for as long as this process lives.
struct ForwardedSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ForwardedSignals {
    fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind| signal(kind).map_err(|e| anyhow!("cannot catch signals: {e}"));
        Ok(Self {
            interrupt: listen(SignalKind::interrupt())?,
            terminate: listen(SignalKind::terminate())?,
        })
    }

    /// The next signal that arrives.
    async fn next(&mut self) -> Option<stack_emulator::session::Signal> {
        use stack_emulator::session::Signal;
        tokio::select! {
            got = self.interrupt.recv() => got.map(|()| Signal::Interrupt),
            got = self.terminate.recv() => got.map(|()| Signal::Terminate),
        }
    }
}
