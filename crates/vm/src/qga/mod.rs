//! An async client for the QEMU guest agent (`qemu-ga`), reached through the
//! Unix socket of the host end of a virtio-serial port named
//! `org.qemu.guest_agent.0`.
//!
//! The agent's protocol is QMP without a greeting, without ids and without
//! events: one reply per command, in order. Nothing tells a reply to an old
//! command from a reply to the current one, so the channel is brought back in
//! step with `guest-sync-delimited` on connect and before the first use after
//! any timeout (as the guest agent reference requires): the client sends a
//! 0xFF byte (which resets the agent's JSON parser) and a random id, skips
//! everything up to the agent's 0xFF sentinel, and ignores replies until one
//! echoes that id.
//!
//! Typed helpers for the commands the emulator uses (ping, info, clock, file
//! access with `guest-file-*`, shutdown) are in `commands.rs`. Left out:
//! `guest-exec` (the emulator starts no program in the guest: the first one
//! after a resume costs 150–175 ms under TCG), filesystem freeze, and the
//! rest.

mod commands;
mod error;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;

pub use commands::{FileChunk, GuestCommandInfo, GuestFile, GuestInfo, ShutdownMode};
pub use error::{QgaCommandError, QgaConnectError, QgaSyncError};

use crate::wire::{MAX_LINE_BYTES, MalformedMessage, ReadError, Wire};

/// The byte the agent sends before its `guest-sync-delimited` reply, and the
/// client before the request. It can never occur in UTF-8 JSON.
const SENTINEL: u8 = 0xFF;

/// How long one `connect()` on the agent's socket may take. QEMU listens on
/// it from start-up whether or not the guest runs an agent, so connecting
/// completes at once unless QEMU is not accepting; 5 s tells that apart from
/// a slow host.
pub const QGA_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a `guest-sync-delimited` may take when the agent should already
/// be running. A running agent answers at once (the first sync after boot
/// took 80 ms under TCG); 5 s allows
/// for a guest that is busy under TCG and still reports a missing agent
/// quickly. To wait for an agent that is still booting, use
/// [`QgaClient::connect_unix_when_ready`] with the boot's own limit.
pub const QGA_SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an agent command may take. Commands the emulator uses (ping,
/// info, clock, opening, writing and reading a file) answer in tens of
/// milliseconds under TCG; `guest-set-time` also writes the RTC through
/// `hwclock`. The agent runs one command at a time, so 10 s means it is
/// stuck or the guest is frozen.
pub const QGA_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to the guest agent.
#[derive(Debug)]
pub struct QgaClient<S> {
    wire: Wire<S>,
    /// Whether a reply may be outstanding or a write torn, so the channel
    /// must be resynchronised before its next use.
    needs_sync: bool,
}

impl QgaClient<UnixStream> {
    /// Connects to the agent socket at `path` and synchronises, expecting a
    /// running agent (within [`QGA_SYNC_TIMEOUT`]).
    ///
    /// # Errors
    ///
    /// [`QgaConnectError`] when the socket cannot be connected to or the
    /// agent does not answer the sync.
    pub async fn connect_unix(path: &Path) -> Result<Self, QgaConnectError> {
        Self::connect_unix_when_ready(path, QGA_SYNC_TIMEOUT).await
    }

    /// Connects to the agent socket at `path` and waits up to `limit` for the
    /// agent to answer the sync, for a guest that is still booting. The
    /// request waits in the virtio-serial channel until the agent opens its
    /// port, so no retry loop is needed.
    ///
    /// # Errors
    ///
    /// [`QgaConnectError`] when the socket cannot be connected to or the
    /// agent does not answer within `limit`.
    pub async fn connect_unix_when_ready(
        path: &Path,
        limit: Duration,
    ) -> Result<Self, QgaConnectError> {
        let deadline = tokio::time::Instant::now() + limit;
        let stream = loop {
            let attempt = tokio::time::timeout(QGA_CONNECT_TIMEOUT, UnixStream::connect(path))
                .await
                .map_err(|_| QgaConnectError::ConnectTimeout {
                    path: path.to_owned(),
                    limit: QGA_CONNECT_TIMEOUT,
                })?;
            match attempt {
                Ok(stream) => break stream,
                // QEMU creates the socket file a moment before it listens on
                // it (and a starting QEMU has not created it yet): retry then.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
                    ) && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(crate::poll::SOCKET_POLL_INTERVAL).await;
                }
                Err(source) => {
                    return Err(QgaConnectError::Connect {
                        path: path.to_owned(),
                        source,
                    });
                }
            }
        };
        Self::handshake(stream, limit)
            .await
            .map_err(|source| QgaConnectError::Sync {
                path: path.to_owned(),
                source,
            })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> QgaClient<S> {
    /// Synchronises a fresh connection, waiting up to `limit` for the agent.
    ///
    /// # Errors
    ///
    /// [`QgaSyncError`] when the agent does not echo the sync id in time.
    pub async fn handshake(stream: S, limit: Duration) -> Result<Self, QgaSyncError> {
        let mut client = Self {
            wire: Wire::new(stream),
            needs_sync: true,
        };
        client.sync(limit).await?;
        Ok(client)
    }

    /// Brings the channel back in step with `guest-sync-delimited` and a
    /// fresh random id, waiting up to `limit`. Commands call this by
    /// themselves after a timeout; calling it directly is only needed to
    /// check that the agent is alive.
    ///
    /// # Errors
    ///
    /// [`QgaSyncError`] when the agent does not echo the id in time, the
    /// connection breaks, or no random id can be drawn.
    pub async fn sync(&mut self, limit: Duration) -> Result<(), QgaSyncError> {
        self.needs_sync = true;
        let id = random_sync_id()?;
        let mut request = vec![SENTINEL];
        request.extend_from_slice(
            json!({ "execute": "guest-sync-delimited", "arguments": { "id": id } })
                .to_string()
                .as_bytes(),
        );
        request.push(b'\n');
        tokio::time::timeout(limit, self.exchange_sync(id, &request))
            .await
            .map_err(|_| QgaSyncError::Timeout { limit })??;
        self.needs_sync = false;
        Ok(())
    }

    async fn exchange_sync(&mut self, id: i64, request: &[u8]) -> Result<(), QgaSyncError> {
        self.wire
            .write_all(request)
            .await
            .map_err(|source| QgaSyncError::Io { source })?;
        loop {
            if let Err(error) = self.wire.discard_through(SENTINEL).await {
                match sync_failure(error) {
                    Some(failure) => return Err(failure),
                    None => continue,
                }
            }
            let line = match self.wire.read_line().await {
                Ok(line) => line,
                Err(error) => match sync_failure(error) {
                    Some(failure) => return Err(failure),
                    None => continue,
                },
            };
            match parse_reply(&line) {
                Ok(Reply::Return(value)) if value.as_i64() == Some(id) => return Ok(()),
                // Only the size is logged: a stale reply can carry a guest
                // program's output, which may include secrets.
                _ => tracing::debug!(
                    bytes = line.len(),
                    "skipping a stale guest agent reply during sync"
                ),
            }
        }
    }

    /// Runs `command` with optional `arguments` (a JSON object), waiting at
    /// most [`QGA_COMMAND_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// See [`QgaClient::execute_with_timeout`].
    pub async fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<Value, QgaCommandError> {
        self.execute_with_timeout(command, arguments, QGA_COMMAND_TIMEOUT)
            .await
    }

    /// Runs `command` with optional `arguments`, waiting at most `limit` for
    /// the reply. After an earlier timeout the channel is resynchronised
    /// first (within [`QGA_SYNC_TIMEOUT`], not counted in `limit`).
    ///
    /// # Errors
    ///
    /// [`QgaCommandError::Rejected`] with the agent's error class and
    /// description; [`QgaCommandError::Timeout`] naming the command and
    /// `limit`; [`QgaCommandError::Resync`] when the channel could not be
    /// brought back in step; [`QgaCommandError::Closed`],
    /// [`QgaCommandError::Io`] or [`QgaCommandError::Malformed`] for a broken
    /// connection.
    pub async fn execute_with_timeout(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        limit: Duration,
    ) -> Result<Value, QgaCommandError> {
        self.resync_if_needed(command).await?;
        let line = request_line(command, arguments);
        tracing::trace!(command, "guest agent command");
        self.needs_sync = true;
        let reply = tokio::time::timeout(limit, self.exchange(command, &line))
            .await
            .map_err(|_| QgaCommandError::Timeout {
                command: command.to_owned(),
                limit,
            })??;
        self.needs_sync = false;
        match reply {
            Reply::Return(value) => Ok(value),
            Reply::Error { class, desc } => Err(QgaCommandError::Rejected {
                command: command.to_owned(),
                class,
                desc,
            }),
        }
    }

    /// Sends `command` without waiting for a reply, for commands that do not
    /// answer on success (`guest-shutdown`). The channel is resynchronised
    /// before its next use, which drops an error reply if one comes.
    async fn send_without_reply(
        &mut self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<(), QgaCommandError> {
        self.resync_if_needed(command).await?;
        let line = request_line(command, arguments);
        self.needs_sync = true;
        tokio::time::timeout(QGA_COMMAND_TIMEOUT, self.wire.write_all(&line))
            .await
            .map_err(|_| QgaCommandError::Timeout {
                command: command.to_owned(),
                limit: QGA_COMMAND_TIMEOUT,
            })?
            .map_err(|source| QgaCommandError::Io {
                command: command.to_owned(),
                source,
            })
    }

    async fn resync_if_needed(&mut self, command: &str) -> Result<(), QgaCommandError> {
        if self.needs_sync {
            self.sync(QGA_SYNC_TIMEOUT)
                .await
                .map_err(|source| QgaCommandError::Resync {
                    command: command.to_owned(),
                    source,
                })?;
        }
        Ok(())
    }

    async fn exchange(&mut self, command: &str, line: &[u8]) -> Result<Reply, QgaCommandError> {
        self.wire
            .write_all(line)
            .await
            .map_err(|source| QgaCommandError::Io {
                command: command.to_owned(),
                source,
            })?;
        let line = self.wire.read_line().await.map_err(|error| match error {
            ReadError::Io(source) => QgaCommandError::Io {
                command: command.to_owned(),
                source,
            },
            ReadError::Closed => QgaCommandError::Closed {
                command: command.to_owned(),
            },
            ReadError::TooLong => QgaCommandError::Malformed {
                command: command.to_owned(),
                source: MalformedMessage::TooLong {
                    limit_bytes: MAX_LINE_BYTES,
                },
            },
        })?;
        parse_reply(&line).map_err(|source| QgaCommandError::Malformed {
            command: command.to_owned(),
            source,
        })
    }
}

/// How a read error ends a sync; `None` for an overlong line, which is
/// stale data like any other and is skipped.
fn sync_failure(error: ReadError) -> Option<QgaSyncError> {
    match error {
        ReadError::Io(source) => Some(QgaSyncError::Io { source }),
        ReadError::Closed => Some(QgaSyncError::Closed),
        ReadError::TooLong => None,
    }
}

/// A reply from the agent.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Return(Value),
    Error { class: String, desc: String },
}

/// Parses one reply line; stray sentinel bytes are dropped first.
fn parse_reply(line: &[u8]) -> Result<Reply, MalformedMessage> {
    let json: Vec<u8> = line
        .iter()
        .copied()
        .filter(|byte| *byte != SENTINEL)
        .collect();
    let value: Value =
        serde_json::from_slice(&json).map_err(|source| MalformedMessage::not_json(line, source))?;
    let Value::Object(mut object) = value else {
        return Err(MalformedMessage::unknown_shape(line));
    };
    if let Some(value) = object.remove("return") {
        return Ok(Reply::Return(value));
    }
    if let Some(Value::Object(mut error)) = object.remove("error") {
        let text = |value: Option<Value>| match value {
            Some(Value::String(text)) => Some(text),
            _ => None,
        };
        if let (Some(class), Some(desc)) = (text(error.remove("class")), text(error.remove("desc")))
        {
            return Ok(Reply::Error { class, desc });
        }
    }
    Err(MalformedMessage::unknown_shape(line))
}

fn request_line(command: &str, arguments: Option<Value>) -> Vec<u8> {
    let mut request = Map::new();
    request.insert("execute".to_owned(), command.into());
    if let Some(arguments) = arguments {
        request.insert("arguments".to_owned(), arguments);
    }
    let mut line = Value::Object(request).to_string().into_bytes();
    line.push(b'\n');
    line
}

/// A fresh sync id from the OS RNG, so a reply to another client's or an
/// earlier sync can never be mistaken for ours. Non-negative, because the
/// agent reads it as a JSON integer (int64).
fn random_sync_id() -> Result<i64, QgaSyncError> {
    let mut bytes = [0_u8; 8];
    getrandom::fill(&mut bytes).map_err(|source| QgaSyncError::Random { source })?;
    bytes[7] &= 0x7F;
    Ok(i64::from_le_bytes(bytes))
}
