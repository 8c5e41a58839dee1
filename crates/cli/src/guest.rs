//! What the host asks of the running guest: readiness, the clock, the
//! rotation of secrets, a clean shutdown. All of it through the guest agent or
//! the forwarded API port.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stack_vm::qga::{QgaClient, ShutdownMode};

use crate::secrets::Secrets;

/// The API port inside the guest.
pub const GUEST_API_PORT: u16 = 8102;
/// Kernel options added to the image's own command line: each shaves a little
/// off a boot (measured in research/guest-boot-measurements.md) or keeps the
/// interface name stable.
pub const KERNEL_CMDLINE_FAST: &str = "mitigations=off tsc=reliable no_timer_check i8042.noaux i8042.nomux i8042.nopnp i8042.nokbd random.trust_cpu=on net.ifnames=0 cryptomgr.notests nowatchdog audit=0";
/// `stack-server` inside the guest.
const GUEST_SERVER: &str = "/usr/local/bin/stack-server";
/// The running server's control socket in the guest (see guest/init).
const GUEST_CONTROL_SOCKET: &str = "/run/stack-server/control.sock";
/// How long one health probe may take; the API answers in milliseconds when up.
const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long rotation may take: it confirms through the API, which under TCG
/// is slow but well below this.
const ROTATION_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// The guest refused the new time.
    #[error("setting the guest clock failed: {0}")]
    Clock(String),
    /// Rotation failed in the guest.
    #[error("rotating the secrets failed in the guest (exit code {code:?}): {stderr}")]
    Rotation {
        /// Exit code.
        code: Option<i32>,
        /// What the guest printed.
        stderr: String,
    },
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

/// How long setting the clock may take (one short program in the guest).
const CLOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Sets the guest clock to the host's. This runs `date -s` through the agent
/// rather than `guest-set-time`, which also writes the RTC with `hwclock`:
/// that waits for the RTC's next second and took ~2 s under TCG.
///
/// # Errors
/// The agent failed, or `date` refused.
pub async fn set_clock(qga: &mut QgaClient<tokio::net::UnixStream>) -> Result<(), GuestError> {
    let ns = now_ns();
    let at = format!("@{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
    let output = qga
        .exec_with_timeout("/bin/date", &["-u", "-s", &at], None, true, CLOCK_TIMEOUT)
        .await
        .map_err(agent)?;
    if output.success() {
        Ok(())
    } else {
        Err(GuestError::Clock(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
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

/// Applies the secrets and public URL in the guest and waits for the server to
/// confirm them. With `set_clock`, the same guest program then sets the guest
/// clock to the host's (one program start instead of two on a resume).
///
/// # Errors
/// The agent failed or the rotation was refused.
pub async fn rotate(
    qga: &mut QgaClient<tokio::net::UnixStream>,
    secrets: &Secrets,
    public_api_url: &str,
    set_clock: bool,
) -> Result<RotationTimes, GuestError> {
    let started = Instant::now();
    let document = secrets.rotation_document(public_api_url, now_ns() / 1_000_000);
    let input = serde_json::to_vec(&document).map_err(agent)?;
    let api = format!("http://127.0.0.1:{GUEST_API_PORT}");
    let mut args = vec![
        "rotate-secrets",
        "--api-url",
        &api,
        "--control-socket",
        GUEST_CONTROL_SOCKET,
    ];
    if set_clock {
        args.push("--set-clock");
    }
    let output = qga
        .exec_with_timeout(GUEST_SERVER, &args, Some(&input), true, ROTATION_TIMEOUT)
        .await
        .map_err(agent)?;
    if output.success() {
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        Ok(RotationTimes {
            total: started.elapsed(),
            apply_ms: report["apply_ms"].as_f64().unwrap_or(f64::NAN),
            confirm_ms: report["confirm_ms"].as_f64().unwrap_or(f64::NAN),
            steps_ms: report["steps_ms"]
                .as_array()
                .map(|steps| {
                    steps
                        .iter()
                        .filter_map(|s| Some((s[0].as_str()?.to_owned(), s[1].as_f64()?)))
                        .collect()
                })
                .unwrap_or_default(),
        })
    } else {
        Err(GuestError::Rotation {
            code: output.exit_code,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
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
