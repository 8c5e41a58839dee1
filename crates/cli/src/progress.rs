//! Download progress on stderr: bytes, speed and ETA. On a terminal one line
//! is redrawn in place; elsewhere (CI logs) a plain line is written every few
//! seconds, so logs show that a download moves without filling up. Nothing is
//! shown under `--quiet`.
//!
//! Written here rather than with a progress-bar crate: it is one line of text,
//! and the CLI has no other use for such a crate.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::printer::{Printer, Verbosity};
use crate::release::download::DownloadReporter;
use crate::release::mib;

/// How often a terminal line is redrawn: smooth to the eye, cheap in CPU.
const REDRAW_INTERVAL: Duration = Duration::from_millis(100);
/// How often a plain progress line is written when stderr is not a terminal.
const PLAIN_LINE_INTERVAL: Duration = Duration::from_secs(2);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Hidden,
    Redrawn,
    PlainLines,
}

#[derive(Debug)]
struct Current {
    file: String,
    total: u64,
    resumed_from: u64,
    started: Instant,
    last_shown: Instant,
    line_open: bool,
}

/// Draws download progress for the CLI.
#[derive(Debug)]
pub struct DownloadProgress {
    style: Style,
    current: Mutex<Option<Current>>,
}

impl DownloadProgress {
    /// Progress that follows the printer's verbosity and terminal.
    pub fn for_printer(printer: &Printer) -> Self {
        let style = match (printer.verbosity(), printer.is_terminal()) {
            (Verbosity::Quiet, _) => Style::Hidden,
            (Verbosity::Normal, true) => Style::Redrawn,
            _ => Style::PlainLines,
        };
        Self {
            style,
            current: Mutex::new(None),
        }
    }

    fn write(&self, text: &str) {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// `12.0 / 84.7 MiB (14%), 31.2 MiB/s, ETA 2 s`
fn describe(current: &Current, done: u64) -> String {
    let elapsed = current.started.elapsed().as_secs_f64();
    let fetched = done.saturating_sub(current.resumed_from);
    // Display only: byte counts fit an f64 closely enough.
    #[allow(clippy::cast_precision_loss)]
    let speed = if elapsed > 0.0 {
        fetched as f64 / elapsed
    } else {
        0.0
    };
    #[allow(clippy::cast_precision_loss)]
    let eta = if speed > 0.0 {
        let seconds = current.total.saturating_sub(done) as f64 / speed;
        format!("ETA {}", clock(seconds))
    } else {
        "ETA ?".to_owned()
    };
    let percent = (done * 100).checked_div(current.total).unwrap_or(100);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let speed_text = mib(speed as u64);
    format!(
        "{} / {} ({percent}%), {speed_text}/s, {eta}",
        mib(done).trim_end_matches(" MiB"),
        mib(current.total),
    )
}

fn clock(seconds: f64) -> String {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let s = seconds.ceil() as u64;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

impl DownloadReporter for DownloadProgress {
    fn started(&self, file: &str, total: u64, resumed_from: u64) {
        let now = Instant::now();
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        *current = Some(Current {
            file: file.to_owned(),
            total,
            resumed_from,
            started: now,
            last_shown: now,
            line_open: false,
        });
        if self.style == Style::PlainLines {
            let resumed = if resumed_from > 0 {
                format!(", resuming at {}", mib(resumed_from))
            } else {
                String::new()
            };
            self.write(&format!("          {file}: {}{resumed}\n", mib(total)));
        }
    }

    fn advanced(&self, done: u64) {
        let mut guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let Some(current) = guard.as_mut() else {
            return;
        };
        let interval = match self.style {
            Style::Hidden => return,
            Style::Redrawn => REDRAW_INTERVAL,
            Style::PlainLines => PLAIN_LINE_INTERVAL,
        };
        if current.last_shown.elapsed() < interval {
            return;
        }
        current.last_shown = Instant::now();
        let text = describe(current, done);
        if self.style == Style::Redrawn {
            current.line_open = true;
            self.write(&format!("\r\x1b[2K          {}: {text}", current.file));
        } else {
            self.write(&format!("          {}: {text}\n", current.file));
        }
    }

    fn retrying(&self, file: &str, done: u64, why: &str) {
        if self.style == Style::Hidden {
            return;
        }
        let mut guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let clear = guard
            .as_mut()
            .is_some_and(|c| std::mem::take(&mut c.line_open));
        let prefix = if clear { "\r\x1b[2K" } else { "" };
        self.write(&format!(
            "{prefix}warning: the connection for {file} failed at {} ({why}); resuming from there\n",
            mib(done)
        ));
    }

    fn finished(&self, file: &str, fetched: u64, elapsed: Duration) {
        let mut guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let line_open = guard.as_ref().is_some_and(|c| c.line_open);
        *guard = None;
        if self.style == Style::Hidden {
            return;
        }
        let seconds = elapsed.as_secs_f64();
        // Display only.
        #[allow(clippy::cast_precision_loss)]
        let speed = if seconds > 0.0 {
            fetched as f64 / seconds
        } else {
            0.0
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let speed_text = mib(speed as u64);
        let prefix = if line_open { "\r\x1b[2K" } else { "" };
        self.write(&format!(
            "{prefix}          {file}: {} in {seconds:.2} s ({speed_text}/s)\n",
            mib(fetched)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_line_has_bytes_percent_speed_and_eta() {
        let current = Current {
            file: "disk".into(),
            total: 100 << 20,
            resumed_from: 0,
            started: Instant::now() - Duration::from_secs(2),
            last_shown: Instant::now(),
            line_open: false,
        };
        let text = describe(&current, 50 << 20);
        assert!(text.starts_with("50.0 / 100.0 MiB (50%), "), "{text}");
        assert!(text.contains("MiB/s, ETA "), "{text}");
    }

    #[test]
    fn the_clock_shows_minutes_past_a_minute() {
        assert_eq!(clock(5.2), "6s");
        assert_eq!(clock(125.0), "2m05s");
    }
}
