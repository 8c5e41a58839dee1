//! What the host asks of the running guest: readiness, the clock, the
//! rotation of secrets, a clean shutdown. All of it through the guest agent or
//! the forwarded API port.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stack_proto::inbox;
use stack_proto::session::SessionFacts;
use stack_vm::qga::{QgaClient, ShutdownMode};

use crate::secrets::Secrets;

/// The API port inside the guest.
pub const GUEST_API_PORT: u16 = 8102;
/// Kernel options added to the image's own command line: each shaves a little
/// off a boot (measured in research/guest-boot-measurements.md) or keeps the
/// interface name stable.
pub const KERNEL_CMDLINE_FAST: &str = "mitigations=off tsc=reliable no_timer_check i8042.noaux i8042.nomux i8042.nopnp i8042.nokbd random.trust_cpu=on net.ifnames=0 cryptomgr.notests nowatchdog audit=0";
/// How long one health probe may take; the API answers in milliseconds when up.
const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the server may take to answer: a rotation confirms through the
/// API, which under TCG is slow but well below this.
const SERVER_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest pause between two reads of the outbox: how late an answer may
/// be noticed. A read costs the guest little, and a rotation is on the path of
/// every start.
const OUTBOX_POLL_CAP: Duration = Duration::from_millis(5);
/// The first pause between two reads of the outbox; it doubles up to
/// [`OUTBOX_POLL_CAP`], so a fast answer is read almost at once.
const OUTBOX_POLL_FIRST: Duration = Duration::from_millis(1);
/// Bytes asked for per read of the outbox; an answer is well under this.
const OUTBOX_READ_BYTES: usize = 16 * 1024;

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whether `GET /health?db=1` on the host's API port answers 200.
pub async fn api_healthy(http: &reqwest::Client, api_port: u16) -> bool {
    http.get(format!("http://127.0.0.1:{api_port}/health?db=1"))
        .timeout(HEALTH_PROBE_TIMEOUT)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// The guest could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// The agent did not answer.
    #[error("the guest agent did not answer")]
    Agent(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The server's inbox could not be opened (the server is not running, or
    /// an image without an inbox).
    #[error(
        "cannot reach the server in the guest through its inbox {}",
        guest_file(inbox::INBOX_FILE)
    )]
    NoInbox(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The server in the guest did not answer in time.
    #[error("the server in the guest did not answer within {} s{}", limit.as_secs(), seen.as_deref().map(|s| format!(" (its outbox holds: {s})")).unwrap_or_default())]
    NoAnswer {
        /// How long the host waited.
        limit: Duration,
        /// What the outbox held instead, if anything (never an answer with secrets:
        /// answers carry none).
        seen: Option<String>,
    },
    /// The server in the guest refused the request.
    #[error("{what} failed in the guest: {error}")]
    Refused {
        /// What was asked.
        what: &'static str,
        /// The server's reason.
        error: String,
    },
}

impl GuestError {
    /// What to do next, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            Self::NoInbox(..) => "`stack-emulator logs` shows whether stack-server runs".to_owned(),
            Self::NoAnswer { .. } => "`stack-emulator logs` shows what it did".to_owned(),
            _ => return None,
        };
        Some(hint)
    }
}

/// A file of the running server's inbox directory in the guest.
fn guest_file(name: &str) -> String {
    format!("{}/{name}", inbox::GUEST_DIR)
}

fn agent<E: std::error::Error + Send + Sync + 'static>(e: E) -> GuestError {
    GuestError::Agent(Box::new(e))
}

/// Connects to the guest agent, waiting up to `limit` for it to come up.
///
/// # Errors
/// The agent never answered.
pub async fn connect_agent(
    qga_socket: &Path,
    limit: Duration,
) -> Result<QgaClient<tokio::net::UnixStream>, GuestError> {
    QgaClient::connect_unix_when_ready(qga_socket, limit)
        .await
        .map_err(agent)
}

/// Synchronises with the agent over `stream`, a connection to its socket made
/// earlier (see [`hold_agent`]), waiting up to `limit`.
///
/// # Errors
/// The agent did not answer.
pub async fn agent_on(
    stream: tokio::net::UnixStream,
    limit: Duration,
) -> Result<QgaClient<tokio::net::UnixStream>, GuestError> {
    QgaClient::handshake(stream, limit).await.map_err(agent)
}

/// Connects to the agent socket of a QEMU that has not loaded its guest yet,
/// and returns the connection for [`agent_on`].
///
/// The agent polls its port while a host program is connected, but while none
/// is, it rereads it every 100 ms. Snapshots are therefore saved with the
/// host connected (see [`sync_before_save`]), and a resume connects before
/// the guest's state is loaded: the port never looks closed to the guest, and
/// the agent answers at once instead of up to 100 ms later.
pub async fn hold_agent(qga_socket: &Path) -> Option<tokio::net::UnixStream> {
    tokio::net::UnixStream::connect(qga_socket).await.ok()
}

/// Connects to the agent of a running guest and waits for one answer, so
/// that a snapshot saved while the connection is held finds the agent waiting
/// on a connected port (see [`hold_agent`]). `None` when the agent does not
/// answer within a second: the snapshot is then saved without it, which
/// only makes the next resume's first agent answer slower.
pub async fn sync_before_save(qga_socket: &Path) -> Option<QgaClient<tokio::net::UnixStream>> {
    QgaClient::connect_unix_when_ready(qga_socket, Duration::from_secs(1))
        .await
        .ok()
}

/// Sets the guest clock to the host's, through the running server (see
/// `ask_server`), and hands it `session` for the dashboard.
///
/// # Errors
/// The agent failed, or the server could not set the clock.
pub async fn set_clock(
    qga: &mut QgaClient<tokio::net::UnixStream>,
    session: Option<SessionFacts>,
) -> Result<(), GuestError> {
    let request = inbox::Request {
        id: String::new(),
        set_clock_unix_millis: Some(now_ns() / 1_000_000),
        rotation: None,
        session,
    };
    ask_server(qga, "setting the guest clock", request)
        .await
        .map(drop)
}

/// What a rotation reported.
#[derive(Debug, Clone)]
pub struct RotationTimes {
    /// The whole call, as the host saw it.
    pub total: Duration,
    /// The database transaction, as the guest measured it.
    pub apply_ms: f64,
    /// Until the running server answered with the new keys.
    pub confirm_ms: f64,
    /// The guest's own steps (name, milliseconds), in order.
    pub steps_ms: Vec<(String, f64)>,
}

/// Applies the secrets and public URLs (API, mock OAuth) in the guest and waits for the server to
/// confirm them. With `set_clock`, the server first sets the guest clock to the
/// host's, in the same request.
///
/// # Errors
/// The agent failed or the rotation was refused.
pub async fn rotate(
    qga: &mut QgaClient<tokio::net::UnixStream>,
    secrets: &Secrets,
    public_api_url: &str,
    public_oauth_url: &str,
    set_clock: bool,
    session: Option<SessionFacts>,
) -> Result<RotationTimes, GuestError> {
    let started = Instant::now();
    let now_millis = now_ns() / 1_000_000;
    let request = inbox::Request {
        id: String::new(),
        set_clock_unix_millis: set_clock.then_some(now_millis),
        rotation: Some(secrets.rotation_document(public_api_url, public_oauth_url, now_millis)),
        session,
    };
    let answer = ask_server(qga, "rotating the secrets", request).await?;
    let report = answer.rotation.unwrap_or_default();
    Ok(RotationTimes {
        total: started.elapsed(),
        apply_ms: report.apply_ms,
        confirm_ms: report.confirm_ms,
        steps_ms: report.steps_ms,
    })
}

/// Hands `request` to the running server's inbox and returns its answer.
///
/// Through the agent's file commands, so that no program starts in the guest
/// (the first one after a resume costs 150–175 ms under TCG): empty the
/// outbox, write the request as one line into the inbox FIFO, then read the
/// outbox until the line with this request's id has arrived.
async fn ask_server(
    qga: &mut QgaClient<tokio::net::UnixStream>,
    what: &'static str,
    mut request: inbox::Request,
) -> Result<inbox::Answer, GuestError> {
    // Only pairs the answer with this request (the outbox is emptied first,
    // and requests go one at a time): the host's clock in nanoseconds will do.
    let id = now_ns().to_string();
    request.id.clone_from(&id);
    let mut line = serde_json::to_vec(&request).map_err(agent)?;
    line.push(b'\n');

    // "w+" empties the outbox (the server made it; it stays the server's).
    let no_inbox = |e: stack_vm::qga::QgaCommandError| match e {
        e @ stack_vm::qga::QgaCommandError::Rejected { .. } => GuestError::NoInbox(Box::new(e)),
        e => agent(e),
    };
    let outbox = qga
        .file_open(&guest_file(inbox::OUTBOX_FILE), "w+")
        .await
        .map_err(no_inbox)?;
    let answer = async {
        // "r+" opens the FIFO without waiting for a reader.
        let inbox = qga
            .file_open(&guest_file(inbox::INBOX_FILE), "r+")
            .await
            .map_err(no_inbox)?;
        let written = qga.file_write(inbox, &line).await;
        // The close flushes the line into the FIFO.
        let closed = qga.file_close(inbox).await;
        written.and(closed).map_err(agent)?;
        read_answer(qga, outbox, &id).await
    }
    .await;
    let _ = qga.file_close(outbox).await;
    let answer = answer?;
    if answer.ok {
        Ok(answer)
    } else {
        Err(GuestError::Refused {
            what,
            error: answer.error.unwrap_or_else(|| "no reason given".to_owned()),
        })
    }
}

/// Reads the outbox until a whole line with `id` has arrived.
async fn read_answer(
    qga: &mut QgaClient<tokio::net::UnixStream>,
    outbox: stack_vm::qga::GuestFile,
    id: &str,
) -> Result<inbox::Answer, GuestError> {
    let deadline = Instant::now() + SERVER_ANSWER_TIMEOUT;
    let mut text = Vec::new();
    let mut pause = OUTBOX_POLL_FIRST;
    loop {
        let chunk = qga
            .file_read(outbox, OUTBOX_READ_BYTES)
            .await
            .map_err(agent)?;
        text.extend_from_slice(&chunk.data);
        let complete = text
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(&[][..], |end| &text[..end]);
        // An answer without an id is to a request the server could not read:
        // after the outbox was emptied, that is this one.
        let found = complete
            .split(|b| *b == b'\n')
            .filter_map(|l| serde_json::from_slice::<inbox::Answer>(l).ok())
            .find(|answer| answer.id.as_deref().is_none_or(|own| own == id));
        if let Some(answer) = found {
            return Ok(answer);
        }
        if Instant::now() >= deadline {
            return Err(GuestError::NoAnswer {
                limit: SERVER_ANSWER_TIMEOUT,
                seen: (!text.is_empty()).then(|| String::from_utf8_lossy(&text).trim().to_owned()),
            });
        }
        if chunk.data.is_empty() {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(OUTBOX_POLL_CAP);
        }
    }
}

/// Asks the guest to power off cleanly.
///
/// # Errors
/// The agent failed.
pub async fn shutdown(qga_socket: &Path, limit: Duration) -> Result<(), GuestError> {
    let mut qga = connect_agent(qga_socket, limit).await?;
    qga.shutdown(ShutdownMode::Powerdown).await.map_err(agent)
}
