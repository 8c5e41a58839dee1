//! The exit codes of `stack-emulator`, which scripts can test: the listing
//! below is also the end of `--help`.
//!
//! `run` exits with its command's code instead (128 + the signal's number
//! when a signal ended it).

use stack_emulator::release::ReleaseError;
use stack_emulator::session::NotRunning;

/// What `stack-emulator` exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did what it was asked.
    Success,
    /// The command failed; the message and its `hint:` line say why.
    Failure,
    /// The command line was wrong (clap reports it and exits with this code).
    Usage,
    /// `stop`, `credentials` or `logs` found no emulator running.
    NotRunning,
    /// Ctrl-C ended a `pull`; 130 as shells report a process that SIGINT
    /// ended.
    Interrupted,
}

/// The listing at the end of `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    failure (the message says why)
  2    usage: a wrong command line
  3    the emulator is not running (stop, credentials, logs)
  130  pull was interrupted with Ctrl-C (what arrived is kept)
  run exits with its command's code";

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::Usage => 2,
            Self::NotRunning => 3,
            Self::Interrupted => 130,
        }
    }

    /// The exit code for a command that failed with `error`.
    pub fn of_error(error: &anyhow::Error) -> Self {
        let interrupted = |cause: &(dyn std::error::Error + 'static)| {
            matches!(
                cause.downcast_ref::<ReleaseError>(),
                Some(ReleaseError::Interrupted { .. })
            )
        };
        if error.chain().any(|cause| cause.is::<NotRunning>()) {
            Self::NotRunning
        } else if error.chain().any(interrupted) {
            Self::Interrupted
        } else {
            Self::Failure
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use anyhow::Context as _;

    #[test]
    fn each_exit_has_its_documented_code() {
        let codes = [
            (Exit::Success, 0),
            (Exit::Failure, 1),
            (Exit::Usage, 2),
            (Exit::NotRunning, 3),
            (Exit::Interrupted, 130),
        ];
        for (exit, code) in codes {
            assert_eq!(exit.code(), code, "{exit:?}");
            assert!(
                EXIT_CODES_HELP.contains(&format!("\n  {code:<4} ")),
                "{exit:?} is not listed:\n{EXIT_CODES_HELP}"
            );
        }
    }

    #[test]
    fn not_running_anywhere_in_the_chain_exits_3_and_anything_else_1() {
        let stopped = anyhow::Error::from(NotRunning::Stopped);
        assert_eq!(Exit::of_error(&stopped), Exit::NotRunning);
        let wrapped = Err::<(), _>(NotRunning::NoConsoleLog(PathBuf::from("run/serial.log")))
            .context("cannot print the logs")
            .unwrap_err();
        assert_eq!(Exit::of_error(&wrapped), Exit::NotRunning);
        let other = anyhow::anyhow!("the emulator is not running");
        assert_eq!(Exit::of_error(&other), Exit::Failure);
    }
}
