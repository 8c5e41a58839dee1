//! The control socket: a Unix socket on which the running server takes a
//! rotation document and applies it with its own warm database pool, so a
//! rotation costs a few queries instead of a new process's database
//! connection, and the server reloads before it answers.
//!
//! One request per connection: the client writes the document and shuts its
//! writing side; the server answers with one JSON object and closes. The socket
//! is readable and writable by the server's user only (root can always
//! connect), which is who may rotate the server's secrets.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::{Connection as _, PgConnection};
use tokio::sync::Mutex;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{UnixListener, UnixStream};

use crate::rotate;
use crate::state::AppState;

/// Largest request accepted; a rotation document is well under 1 KiB.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client waits for the whole exchange (the server confirms
/// through its own API before answering).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound control socket.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `path` (replacing a stale socket left by an earlier run) with mode 0600.
    ///
    /// # Errors
    /// The directory is missing or not writable.
    pub fn bind(path: &Path) -> std::io::Result<Self> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(Self {
            listener,
            path: path.to_owned(),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves requests until the task is dropped. `api_base` is where the
    /// server's own API answers, for the read-back after a rotation.
    pub async fn serve(self, state: AppState, api_base: String) {
        let connection = Arc::new(Mutex::new(None));
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    let state = state.clone();
                    let api_base = api_base.clone();
                    let connection = Arc::clone(&connection);
                    tokio::spawn(async move {
                        if let Err(e) = handle(stream, &state, &api_base, &connection).await {
                            tracing::warn!(error = %e, "control request failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    // Back off so that a persistent error does not spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// The database connection that rotations use, kept between requests. The
/// rotation before a snapshot is captured leaves its statements prepared and
/// its caches filled, so the rotation after a resume finds them warm; a
/// pooled connection could be any of several, most of them cold.
type RotationConnection = Arc<Mutex<Option<PgConnection>>>;

async fn handle(
    mut stream: UnixStream,
    state: &AppState,
    api_base: &str,
    connection: &RotationConnection,
) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut limited = (&mut stream).take(MAX_REQUEST_BYTES + 1);
    let read = limited.read_to_end(&mut request);
    let answer = match tokio::time::timeout(READ_TIMEOUT, read).await {
        Err(_) => failure(&format!(
            "no complete request within {} s",
            READ_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => failure(&format!("cannot read the request: {e}")),
        Ok(Ok(_)) if request.len() as u64 > MAX_REQUEST_BYTES => failure(&format!(
            "the request is larger than {MAX_REQUEST_BYTES} bytes"
        )),
        Ok(Ok(_)) => rotate_secrets(&request, state, api_base, connection).await,
    };
    let mut line = serde_json::to_vec(&answer).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line).await?;
    stream.shutdown().await
}

async fn rotate_secrets(
    request: &[u8],
    state: &AppState,
    api_base: &str,
    connection: &RotationConnection,
) -> serde_json::Value {
    let rotation = match rotate::validate(request) {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    // One rotation at a time; the lock is held until it has been read back.
    let mut held = connection.lock().await;
    let conn = match &mut *held {
        Some(conn) => conn,
        empty @ None => match PgConnection::connect_with(&state.pool.connect_options()).await {
            Ok(conn) => empty.insert(conn),
            Err(e) => return failure(&format!("cannot connect to the database: {e}")),
        },
    };
    let applied = rotate::apply(conn, &rotation, api_base, Some(state)).await;
    if matches!(applied, Err(rotate::RotateError::Database(_))) {
        // The connection may be broken: the next rotation makes a new one.
        *held = None;
    }
    match applied {
        Ok(report) => {
            tracing::info!("secrets rotated");
            report.to_json()
        }
        Err(e) => failure(&format!("{e:#}")),
    }
}

fn failure(error: &str) -> serde_json::Value {
    serde_json::json!({ "ok": false, "error": error })
}

/// A control request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket is missing or refused the connection.
    #[error("cannot reach the running server at {path}: {source}")]
    Connect {
        /// The socket.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The exchange broke off.
    #[error("the running server's control socket failed: {0}")]
    Io(#[from] std::io::Error),
    /// The answer is not what the server sends.
    #[error("the running server sent an unreadable answer")]
    BadAnswer,
    /// The server refused the request.
    #[error("{0}")]
    Refused(String),
}

/// Sends `request` to the control socket at `path` and returns the server's
/// report. Blocking: the client is a short-lived process that needs no async
/// runtime.
///
/// # Errors
/// See [`ClientError`].
pub fn request(path: &Path, request: &[u8]) -> Result<serde_json::Value, ClientError> {
    use std::io::{Read as _, Write as _};
    let mut stream =
        std::os::unix::net::UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        })?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    // The server may answer (and close) before it has read everything, for
    // example when the request is too large: its answer still counts.
    let sent = stream
        .write_all(request)
        .and_then(|()| stream.shutdown(std::net::Shutdown::Write));
    let mut answer = Vec::new();
    let read = (&mut stream)
        .take(MAX_REQUEST_BYTES)
        .read_to_end(&mut answer);
    let answer: serde_json::Value = match serde_json::from_slice(&answer) {
        Ok(answer) => answer,
        Err(_) => {
            sent?;
            read?;
            return Err(ClientError::BadAnswer);
        }
    };
    match answer["ok"].as_bool() {
        Some(true) => Ok(answer),
        Some(false) => Err(ClientError::Refused(
            answer["error"]
                .as_str()
                .unwrap_or("the server refused the request")
                .to_owned(),
        )),
        None => Err(ClientError::BadAnswer),
    }
}
