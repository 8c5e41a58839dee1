//! The inbox: how the host asks the running server, through the guest agent's
//! file commands, to set the clock or rotate the server's secrets. No program
//! is started in the guest for it: under TCG the first program started after a
//! resume costs 150–175 ms before it runs a line of its own, a third of the
//! budget of a whole resume (docs/snapshots.md).
//!
//! Two files in a directory that only the server's user (and root, which the
//! agent runs as) may enter:
//! - `inbox`, a FIFO the server holds open for reading and writing, so that a
//!   writer never waits and the server never sees its end. The host writes one
//!   request: a JSON object on one line.
//! - `outbox`, a regular file. The host empties it before it writes a request,
//!   then reads it until the line that carries its request's `id` has arrived.
//!   The server appends one line per request, `{"id", "ok", …}`.
//!
//! Requests are served one at a time, in order. A rotation runs on a database
//! connection the server keeps for rotations (see [`RotationConnection`]) and
//! is read back through the server's own API before the answer is written, so
//! an answer with `"ok": true` means the new keys are live.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::{Connection as _, PgConnection};
use stack_proto::inbox::{Answer, MAX_ID_CHARS, Request};
use stack_proto::session::SessionFacts;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

use crate::rotate;
use crate::state::AppState;

/// Largest request accepted; a rotation document is well under 1 KiB.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// The earliest and latest clock a request may set (2020-01-01, 2100-01-01):
/// anything outside is a host bug, not a time.
const CLOCK_RANGE_MILLIS: std::ops::Range<i64> = 1_577_836_800_000..4_102_444_800_000;

pub use stack_proto::inbox::{INBOX_FILE, OUTBOX_FILE};

/// An open inbox.
#[derive(Debug)]
pub struct Inbox {
    requests: tokio::net::unix::pipe::Receiver,
    outbox: PathBuf,
}

impl Inbox {
    /// Makes the FIFO and an empty outbox in `dir` (replacing any left by an
    /// earlier run), both mode 0600, and opens the FIFO.
    ///
    /// # Errors
    /// `dir` is missing or not writable.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let fifo = dir.join(INBOX_FILE);
        let outbox = dir.join(OUTBOX_FILE);
        for stale in [&fifo, &outbox] {
            match std::fs::remove_file(stale) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        make_fifo(&fifo)?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&outbox)?;
        let requests = tokio::net::unix::pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(&fifo)?;
        Ok(Self { requests, outbox })
    }

    /// Serves requests until the task is dropped. `api_base` is where the
    /// server's own API answers, for the read-back after a rotation.
    pub async fn serve(self, state: AppState, api_base: String) {
        let mut requests = BufReader::new(self.requests);
        let mut rotations = RotationConnection::default();
        loop {
            let mut line = Vec::new();
            let read = (&mut requests)
                .take(MAX_REQUEST_BYTES + 1)
                .read_until(b'\n', &mut line)
                .await;
            let answer = match read {
                Ok(0) => {
                    // The server holds a writing end itself, so this does not
                    // happen; do not spin if it does.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the inbox");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Ok(_) if !line.ends_with(b"\n") => {
                    skip_line(&mut requests).await;
                    Answer::failed(
                        None,
                        format!("the request is larger than {MAX_REQUEST_BYTES} bytes"),
                    )
                }
                Ok(_) => answer(&line, &state, &api_base, &mut rotations).await,
            };
            if let Err(e) = post(&self.outbox, &answer).await {
                tracing::warn!(error = %e, "cannot write to the outbox");
            }
        }
    }
}

/// Makes a FIFO at `path`, mode 0600.
fn make_fifo(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("the inbox path holds a NUL byte"))?;
    // SAFETY: mkfifo reads the NUL-terminated path, which lives for the whole
    // call, and writes no memory of ours.
    #[allow(unsafe_code)]
    let made = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
    if made == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Reads and drops the rest of an overlong line.
async fn skip_line(requests: &mut BufReader<tokio::net::unix::pipe::Receiver>) {
    loop {
        let mut chunk = Vec::new();
        match (&mut *requests)
            .take(MAX_REQUEST_BYTES)
            .read_until(b'\n', &mut chunk)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) if chunk.ends_with(b"\n") => return,
            Ok(_) => {}
        }
    }
}

/// Appends `answer` to the outbox as one line.
async fn post(outbox: &Path, answer: &Answer) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(answer).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(outbox)
        .await?;
    file.write_all(&line).await?;
    file.flush().await
}

async fn answer(
    line: &[u8],
    state: &AppState,
    api_base: &str,
    rotations: &mut RotationConnection,
) -> Answer {
    let request: Request = match serde_json::from_slice(line) {
        Ok(request) => request,
        Err(e) => {
            // Echo the id when there is one, so the host sees its own error.
            let id = serde_json::from_slice::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned));
            return Answer::failed(id.as_deref(), format!("the request is not valid: {e}"));
        }
    };
    let id = request.id.as_str();
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
        return Answer::failed(
            None,
            format!("the request's id must have 1 to {MAX_ID_CHARS} characters"),
        );
    }
    // Checked before anything changes, so that a bad rotation document
    // leaves the clock alone too.
    let rotation = match request.rotation.as_ref().map(rotate::check).transpose() {
        Ok(rotation) => rotation,
        Err(e) => return Answer::failed(Some(id), e.to_string()),
    };
    if let Some(problem) = request.session.as_ref().and_then(session_problem) {
        return Answer::failed(Some(id), problem);
    }
    // The clock first: the tokens the read-back issues then carry the right times.
    if let Some(millis) = request.set_clock_unix_millis {
        if !CLOCK_RANGE_MILLIS.contains(&millis) {
            return Answer::failed(
                Some(id),
                format!("set_clock_unix_millis {millis} is not a time between 2020 and 2100"),
            );
        }
        if let Err(e) = set_system_clock(millis) {
            return Answer::failed(
                Some(id),
                format!("cannot set the clock (the server needs CAP_SYS_TIME): {e}"),
            );
        }
    }
    let report = match rotation {
        None => None,
        Some(rotation) => match rotations.apply(&rotation, state, api_base).await {
            Ok(report) => {
                tracing::info!("secrets rotated");
                Some(report.to_wire())
            }
            Err(e) => return Answer::failed(Some(id), format!("{e:#}")),
        },
    };
    if let Some(mut facts) = request.session {
        if report.is_some() {
            // The keys were applied just now, whatever the host last knew.
            facts.keys_rotated_at_unix_millis = Some(chrono::Utc::now().timestamp_millis());
        }
        state.set_session_facts(facts);
    }
    Answer::done(id, request.set_clock_unix_millis.is_some(), report)
}

/// Longest text field of the session facts.
const MAX_SESSION_TEXT_CHARS: usize = 512;
/// Most forwarded ports the session facts may list.
const MAX_SESSION_PORTS: usize = 16;

/// Why the host's facts about the VM cannot be shown as they are, if they
/// can't: a text field too long, too many ports, a time before 2020.
fn session_problem(facts: &SessionFacts) -> Option<String> {
    let texts = [
        ("emulator_version", &facts.emulator_version),
        ("accelerator", &facts.accelerator),
        ("accelerator_reason", &facts.accelerator_reason),
        ("image_version", &facts.image_version),
        ("boot", &facts.boot),
        ("home", &facts.home),
    ]
    .into_iter()
    .chain(facts.snapshot.as_ref().map(|s| ("snapshot", s)))
    .chain(facts.ports.iter().map(|p| ("ports.service", &p.service)));
    for (field, text) in texts {
        if text.chars().count() > MAX_SESSION_TEXT_CHARS {
            return Some(format!(
                "session.{field} is longer than {MAX_SESSION_TEXT_CHARS} characters"
            ));
        }
    }
    if facts.ports.len() > MAX_SESSION_PORTS {
        return Some(format!(
            "session.ports lists more than {MAX_SESSION_PORTS} ports"
        ));
    }
    let earliest = CLOCK_RANGE_MILLIS.start;
    if facts.started_at_unix_millis < earliest
        || facts
            .keys_rotated_at_unix_millis
            .is_some_and(|t| t < earliest)
    {
        return Some("session times must be after 2020-01-01".to_owned());
    }
    None
}

/// Sets the system clock to `millis` since the epoch.
fn set_system_clock(millis: i64) -> std::io::Result<()> {
    let now = libc::timespec {
        tv_sec: millis.div_euclid(1000),
        tv_nsec: millis.rem_euclid(1000) * 1_000_000,
    };
    // SAFETY: clock_settime reads the timespec we pass by reference, which
    // lives for the whole call, and writes no memory of ours.
    #[allow(unsafe_code)]
    let done = unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &now) };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The database connection that rotations use, kept between requests. The
/// rotation before a snapshot is captured leaves its statements prepared and
/// its caches filled, so the rotation after a resume finds them warm; a
/// pooled connection could be any of several, most of them cold.
#[derive(Default)]
struct RotationConnection(Option<PgConnection>);

impl RotationConnection {
    async fn apply(
        &mut self,
        rotation: &rotate::ValidRotation,
        state: &AppState,
        api_base: &str,
    ) -> Result<rotate::RotationReport, rotate::RotateError> {
        let conn = match &mut self.0 {
            Some(conn) => conn,
            empty @ None => {
                empty.insert(PgConnection::connect_with(&state.pool.connect_options()).await?)
            }
        };
        let applied = rotate::apply(conn, rotation, api_base, Some(state)).await;
        if matches!(applied, Err(rotate::RotateError::Database(_))) {
            // The connection may be broken: the next rotation makes a new one.
            self.0 = None;
        }
        applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stack_proto::session::ForwardedPort;

    fn facts() -> SessionFacts {
        SessionFacts {
            emulator_version: "0.1.0".into(),
            accelerator: "tcg".into(),
            accelerator_reason: "KVM is not usable".into(),
            image_version: "2026.12.06".into(),
            boot: "pristine-resume".into(),
            snapshot: Some("ab12".into()),
            started_at_unix_millis: 1_795_945_709_477,
            keys_rotated_at_unix_millis: Some(1_795_945_709_900),
            ports: vec![ForwardedPort {
                service: "API".into(),
                host: 26701,
                guest: 8102,
            }],
            home: "/home/dev/.stack/emulator".into(),
        }
    }

    #[test]
    fn plausible_session_facts_pass_and_each_bad_field_is_named() {
        assert_eq!(session_problem(&facts()), None);
        let mut long = facts();
        long.boot = "x".repeat(MAX_SESSION_TEXT_CHARS + 1);
        assert!(session_problem(&long).is_some_and(|p| p.contains("session.boot")));
        let mut many = facts();
        many.ports = vec![many.ports[0].clone(); MAX_SESSION_PORTS + 1];
        assert!(session_problem(&many).is_some_and(|p| p.contains("ports")));
        let mut early = facts();
        early.keys_rotated_at_unix_millis = Some(0);
        assert!(session_problem(&early).is_some_and(|p| p.contains("2020")));
    }
}
