//! Where output goes: results on stdout, progress and diagnostics on stderr.
//!
//! Progress is one line per step with the time since the command started. On a
//! terminal, output lines of a running step overwrite each other on one status
//! line; elsewhere (CI logs) they are dropped unless `--verbose`, so logs stay
//! short and readable.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::Instant;

use crate::image::BuildReporter;

/// How chatty to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Only errors and results.
    Quiet,
    /// Steps.
    Normal,
    /// Steps and every line of their output.
    Verbose,
}

/// The one place that writes progress.
#[derive(Debug)]
pub struct Printer {
    verbosity: Verbosity,
    started: Instant,
    terminal: bool,
    status_line_open: Mutex<bool>,
}

impl Printer {
    /// A printer for this process.
    pub fn new(verbosity: Verbosity) -> Self {
        Self {
            verbosity,
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            status_line_open: Mutex::new(false),
        }
    }

    /// How chatty this printer is.
    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// Whether stderr is a terminal (progress is redrawn in place there).
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    fn close_status_line(&self, err: &mut impl std::io::Write) {
        let mut open = self
            .status_line_open
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if *open {
            let _ = write!(err, "\r\x1b[2K");
            *open = false;
        }
    }

    /// A step begins.
    pub fn step(&self, message: &str) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        self.close_status_line(&mut err);
        let _ = writeln!(
            err,
            "[{:>6.2}s] {message}",
            self.started.elapsed().as_secs_f64()
        );
    }

    /// A detail of the current step.
    pub fn detail(&self, line: &str) {
        match (self.verbosity, self.terminal) {
            (Verbosity::Verbose, _) => {
                let _ = writeln!(std::io::stderr().lock(), "          {line}");
            }
            (Verbosity::Normal, true) => {
                let mut err = std::io::stderr().lock();
                let shown: String = line.chars().take(100).collect();
                let _ = write!(err, "\r\x1b[2K          {shown}");
                *self
                    .status_line_open
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = true;
            }
            _ => {}
        }
    }

    /// A warning, always shown.
    pub fn warn(&self, message: &str) {
        let mut err = std::io::stderr().lock();
        self.close_status_line(&mut err);
        let _ = writeln!(err, "warning: {message}");
    }

    /// A result line on stdout.
    pub fn result(&self, line: &str) {
        let mut err = std::io::stderr().lock();
        self.close_status_line(&mut err);
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

impl BuildReporter for Printer {
    fn step(&self, name: &str) {
        Printer::step(self, name);
    }

    fn line(&self, line: &str) {
        self.detail(line);
    }
}
