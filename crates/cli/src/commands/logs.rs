//! `logs`: the guest console, with every service's log lines.

use std::io::{Read as _, Seek as _, Write as _};
use std::time::Duration;

use stack_emulator::home::Home;
use stack_emulator::session::{NotRunning, SessionFiles};

use crate::exit::Exit;

/// How often `logs --follow` looks for new console output: a poll interval,
/// not a guess at when the guest writes; short enough to read as live.
const FOLLOW_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Prints the console log, and with `follow` keeps printing what is appended.
///
/// # Errors
/// No console log yet ([`NotRunning::NoConsoleLog`]), or it cannot be read.
pub async fn logs(home: &Home, follow: bool) -> anyhow::Result<u8> {
    let path = SessionFiles::of(home).serial_log;
    let path = path.as_path();
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(NotRunning::NoConsoleLog(path.to_path_buf()).into());
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        file.read_to_end(&mut buf)?;
        out.write_all(&buf)?;
        out.flush()?;
        if !follow {
            return Ok(Exit::Success.code());
        }
        // A new boot truncates the log; start over from its beginning.
        let position = file.stream_position()?;
        if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) < position {
            file = std::fs::File::open(path)?;
        }
        tokio::time::sleep(FOLLOW_POLL_INTERVAL).await;
    }
}
