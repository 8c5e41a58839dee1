//! An async client for the QEMU Machine Protocol (QMP), the JSON control
//! channel QEMU offers on a Unix socket (`-chardev socket,...` plus
//! `-mon chardev=...,mode=control`).
//!
//! [`QmpClient::handshake`] reads the greeting and negotiates capabilities
//! (none are enabled). Each command is sent with a fresh numeric `id`, and the
//! reply with that `id` is its answer; replies to commands that timed out
//! earlier are recognised by their `id` and dropped. Every line is parsed into
//! a [`QmpMessage`] in one place (`message.rs`), and events that arrive while
//! waiting for a reply are buffered for [`QmpClient::wait_event`].
//!
//! The client reads only while a call is in progress (no background task), so
//! it needs `&mut self` and one call at a time. Out-of-band execution and the
//! QAPI schema are left out: commands are named by string and their return
//! values are decoded by the typed helpers in `commands.rs`.

mod commands;
mod error;
mod message;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;

pub use commands::{
    KvmInfo, MigrationCapability, MigrationInfo, MigrationParameters, MigrationStatus,
    MigrationUri, MigrationUriError, MultifdCompression, RunState, VmStatus,
};
pub use error::{QmpCommandError, QmpConnectError, QmpEventError, QmpHandshakeError};
pub use message::{EventTimestamp, Greeting, QemuVersion, QmpErrorReply, QmpEvent, QmpMessage};

use crate::poll::{SOCKET_POLL_INTERVAL, poll_until};
use crate::wire::{ReadError, Wire};
use error::ReadFailure;

/// How long one `connect()` on the QMP socket may take. Connecting to a
/// listening Unix socket completes at once; it only blocks when the
/// listener's backlog is full because QEMU stopped accepting, so 5 s tells a
/// hung QEMU apart from a slow host.
pub const QMP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long to wait for the greeting after connecting. QEMU greets as soon as
/// its main loop runs, measured at 40–130 ms after spawn on QEMU 10 under
/// TCG. 10 s leaves room
/// for a loaded CI host and a cold page cache while still catching a QEMU
/// that is stuck before its main loop.
pub const QMP_GREETING_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a QMP command may take to answer. Commands normally answer in
/// milliseconds, but QEMU's main loop, and so QMP, can be blocked while an
/// incoming `file:` migration loads (about 0.3 s for 400 MiB from the page
/// cache, seconds from a cold disk, per the same measurements). 30 s is far
/// beyond that and means QEMU is hung.
pub const QMP_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How many unclaimed events are kept for [`QmpClient::wait_event`]. QEMU
/// emits a handful per lifecycle step; a thousand unclaimed ones means nobody
/// waits for them, so the oldest are dropped (and logged) rather than letting
/// the buffer grow without bound.
pub const MAX_BUFFERED_EVENTS: usize = 1024;

/// A QMP connection that has completed the handshake.
#[derive(Debug)]
pub struct QmpClient<S> {
    wire: Wire<S>,
    greeting: Greeting,
    next_id: u64,
    events: VecDeque<QmpEvent>,
}

impl QmpClient<UnixStream> {
    /// Connects to the QMP socket at `path` and completes the handshake.
    ///
    /// # Errors
    ///
    /// [`QmpConnectError`] when the socket cannot be connected to, connecting
    /// takes longer than [`QMP_CONNECT_TIMEOUT`], or the handshake fails.
    pub async fn connect_unix(path: &Path) -> Result<Self, QmpConnectError> {
        let stream = tokio::time::timeout(QMP_CONNECT_TIMEOUT, UnixStream::connect(path))
            .await
            .map_err(|_| QmpConnectError::ConnectTimeout {
                path: path.to_owned(),
                limit: QMP_CONNECT_TIMEOUT,
            })?
            .map_err(|source| QmpConnectError::Connect {
                path: path.to_owned(),
                source,
            })?;
        Self::handshake_on(path, stream).await
    }

    /// Connects to the QMP socket of a QEMU that was just spawned: retries
    /// while the socket does not exist yet or refuses connections, for at
    /// most `limit`, then completes the handshake.
    ///
    /// # Errors
    ///
    /// [`QmpConnectError::NotReady`] when no connection succeeded within
    /// `limit`; [`QmpConnectError::Connect`] for other connection errors
    /// (such as permission denied); [`QmpConnectError::Handshake`] when the
    /// handshake fails.
    pub async fn connect_unix_when_ready(
        path: &Path,
        limit: Duration,
    ) -> Result<Self, QmpConnectError> {
        let what = format!("QMP socket {} accepting connections", path.display());
        let connected = poll_until(&what, limit, SOCKET_POLL_INTERVAL, || try_connect(path)).await;
        let stream = match connected {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => {
                return Err(QmpConnectError::Connect {
                    path: path.to_owned(),
                    source,
                });
            }
            Err(_) => {
                return Err(QmpConnectError::NotReady {
                    path: path.to_owned(),
                    limit,
                });
            }
        };
        Self::handshake_on(path, stream).await
    }

    async fn handshake_on(path: &Path, stream: UnixStream) -> Result<Self, QmpConnectError> {
        Self::handshake(stream)
            .await
            .map_err(|source| QmpConnectError::Handshake {
                path: path.to_owned(),
                source,
            })
    }
}

/// One connection attempt for [`QmpClient::connect_unix_when_ready`]: `None`
/// means "not there yet, try again".
async fn try_connect(path: &Path) -> Option<io::Result<UnixStream>> {
    match tokio::time::timeout(QMP_CONNECT_TIMEOUT, UnixStream::connect(path)).await {
        Ok(Ok(stream)) => Some(Ok(stream)),
        Ok(Err(error))
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            None
        }
        Ok(Err(error)) => Some(Err(error)),
        Err(_) => None,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> QmpClient<S> {
    /// Reads QEMU's greeting from a fresh connection and negotiates
    /// capabilities, each step within its limit ([`QMP_GREETING_TIMEOUT`],
    /// [`QMP_COMMAND_TIMEOUT`]).
    ///
    /// # Errors
    ///
    /// [`QmpHandshakeError`] when no greeting arrives in time, the first
    /// message is not a greeting, or `qmp_capabilities` fails.
    pub async fn handshake(stream: S) -> Result<Self, QmpHandshakeError> {
        let mut wire = Wire::new(stream);
        let first = tokio::time::timeout(QMP_GREETING_TIMEOUT, read_message(&mut wire))
            .await
            .map_err(|_| QmpHandshakeError::GreetingTimeout {
                limit: QMP_GREETING_TIMEOUT,
            })?
            .map_err(ReadFailure::for_greeting)?;
        let greeting = match first {
            QmpMessage::Greeting(greeting) => greeting,
            QmpMessage::Return { .. } => {
                return Err(QmpHandshakeError::NotAGreeting {
                    kind: "a return value",
                });
            }
            QmpMessage::Error { .. } => {
                return Err(QmpHandshakeError::NotAGreeting { kind: "an error" });
            }
            QmpMessage::Event(_) => {
                return Err(QmpHandshakeError::NotAGreeting { kind: "an event" });
            }
        };
        tracing::debug!(qemu = %greeting.version, "QMP greeting received");
        let mut client = Self {
            wire,
            greeting,
            next_id: 1,
            events: VecDeque::new(),
        };
        client
            .execute("qmp_capabilities", None)
            .await
            .map_err(|source| QmpHandshakeError::Capabilities { source })?;
        Ok(client)
    }

    /// The greeting QEMU sent on this connection (it includes the version).
    pub fn greeting(&self) -> &Greeting {
        &self.greeting
    }

    /// Runs `command` with optional `arguments` (a JSON object) and returns
    /// its return value, waiting at most [`QMP_COMMAND_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// See [`QmpClient::execute_with_timeout`].
    pub async fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<Value, QmpCommandError> {
        self.execute_with_timeout(command, arguments, QMP_COMMAND_TIMEOUT)
            .await
    }

    /// Runs `command` with optional `arguments` and returns its return value,
    /// waiting at most `limit` for the reply. Events that arrive meanwhile
    /// are kept for [`QmpClient::wait_event`].
    ///
    /// # Errors
    ///
    /// [`QmpCommandError::Rejected`] with QEMU's error class and description;
    /// [`QmpCommandError::Timeout`] when no reply came within `limit` (a late
    /// reply is recognised by its id and dropped, so the connection stays
    /// usable); [`QmpCommandError::Closed`], [`QmpCommandError::Io`] or
    /// [`QmpCommandError::Malformed`] for a broken connection;
    /// [`QmpCommandError::Unusable`] after an earlier write was cut off.
    pub async fn execute_with_timeout(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        limit: Duration,
    ) -> Result<Value, QmpCommandError> {
        if self.wire.write_interrupted() {
            return Err(QmpCommandError::Unusable {
                command: command.to_owned(),
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut request = json!({ "execute": command, "id": id });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut line = request.to_string().into_bytes();
        line.push(b'\n');
        tracing::trace!(command, id, "QMP command");
        tokio::time::timeout(limit, self.send_and_await_reply(command, id, &line))
            .await
            .map_err(|_| QmpCommandError::Timeout {
                command: command.to_owned(),
                limit,
            })?
    }

    async fn send_and_await_reply(
        &mut self,
        command: &str,
        id: u64,
        line: &[u8],
    ) -> Result<Value, QmpCommandError> {
        self.wire
            .write_all(line)
            .await
            .map_err(|source| QmpCommandError::Io {
                command: command.to_owned(),
                source,
            })?;
        loop {
            let message = read_message(&mut self.wire)
                .await
                .map_err(|failure| failure.for_command(command))?;
            match message {
                QmpMessage::Return {
                    id: reply_id,
                    value,
                } if is_id(reply_id.as_ref(), id) => {
                    return Ok(value);
                }
                QmpMessage::Error {
                    id: reply_id,
                    error,
                } if is_id(reply_id.as_ref(), id) => {
                    return Err(QmpCommandError::Rejected {
                        command: command.to_owned(),
                        class: error.class,
                        desc: error.desc,
                    });
                }
                QmpMessage::Event(event) => self.buffer_event(event),
                other => {
                    tracing::debug!(?other, "dropping a QMP reply that is not for this command")
                }
            }
        }
    }

    /// Waits at most `limit` for an event called `name` (such as `STOP` or
    /// `SHUTDOWN`) and returns it. The oldest buffered event of that name is
    /// returned first, including events that arrived during earlier
    /// commands; call [`QmpClient::take_events`] before an action to see
    /// only what it causes.
    ///
    /// # Errors
    ///
    /// [`QmpEventError::Timeout`] naming the event and the limit, or
    /// [`QmpEventError::Closed`], [`QmpEventError::Io`] or
    /// [`QmpEventError::Malformed`] for a broken connection.
    pub async fn wait_event(
        &mut self,
        name: &str,
        limit: Duration,
    ) -> Result<QmpEvent, QmpEventError> {
        if let Some(at) = self.events.iter().position(|event| event.name == name)
            && let Some(event) = self.events.remove(at)
        {
            return Ok(event);
        }
        tokio::time::timeout(limit, self.read_until_event(name))
            .await
            .map_err(|_| QmpEventError::Timeout {
                event: name.to_owned(),
                limit,
            })?
    }

    async fn read_until_event(&mut self, name: &str) -> Result<QmpEvent, QmpEventError> {
        loop {
            let message = read_message(&mut self.wire)
                .await
                .map_err(|failure| failure.for_event(name))?;
            match message {
                QmpMessage::Event(event) if event.name == name => return Ok(event),
                QmpMessage::Event(event) => self.buffer_event(event),
                other => tracing::debug!(?other, "dropping a QMP reply while waiting for an event"),
            }
        }
    }

    /// Removes and returns all buffered events, oldest first.
    pub fn take_events(&mut self) -> Vec<QmpEvent> {
        self.events.drain(..).collect()
    }

    fn buffer_event(&mut self, event: QmpEvent) {
        tracing::trace!(event = %event.name, "QMP event");
        if self.events.len() >= MAX_BUFFERED_EVENTS
            && let Some(dropped) = self.events.pop_front()
        {
            tracing::warn!(event = %dropped.name, "dropping an unclaimed QMP event");
        }
        self.events.push_back(event);
    }
}

/// Whether a reply's `id` is the one a command was sent with.
fn is_id(reply_id: Option<&Value>, sent: u64) -> bool {
    reply_id.and_then(Value::as_u64) == Some(sent)
}

async fn read_message<S: AsyncRead + AsyncWrite + Unpin>(
    wire: &mut Wire<S>,
) -> Result<QmpMessage, ReadFailure> {
    let line = wire.read_line().await.map_err(|error| match error {
        ReadError::Io(source) => ReadFailure::Io(source),
        ReadError::Closed => ReadFailure::Closed,
        ReadError::TooLong => ReadFailure::Malformed(crate::MalformedMessage::TooLong {
            limit_bytes: crate::wire::MAX_LINE_BYTES,
        }),
    })?;
    QmpMessage::parse(&line).map_err(ReadFailure::Malformed)
}
