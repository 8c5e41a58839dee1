//! Typed helpers for the guest agent commands the emulator uses: liveness
//! (`guest-ping`, `guest-info`), the guest clock (`guest-get-time`,
//! `guest-set-time`), the file commands (`guest-file-open`, `-write`,
//! `-read`, `-close`), which reach a file or FIFO in the guest without
//! starting a program there, and `guest-shutdown`. All but `guest-shutdown`
//! are exercised against qemu-guest-agent 7.2 by the emulator's VM tests.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};

use super::error::QgaCommandError;
use super::{QGA_COMMAND_TIMEOUT, QgaClient};

/// What `guest-info` returns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct GuestInfo {
    /// The agent's version, such as `7.2.22`.
    pub version: String,
    /// The commands the agent knows.
    pub supported_commands: Vec<GuestCommandInfo>,
}

/// One entry of [`GuestInfo::supported_commands`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct GuestCommandInfo {
    /// The command name.
    pub name: String,
    /// Whether the agent allows it (it can be disabled in the guest).
    pub enabled: bool,
    /// Whether it answers on success (`guest-shutdown` does not).
    pub success_response: bool,
}

/// How `guest-shutdown` stops the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Power off.
    Powerdown,
    /// Halt without powering off.
    Halt,
    /// Reboot.
    Reboot,
}

impl ShutdownMode {
    /// The agent's name for the mode.
    pub fn as_agent_name(self) -> &'static str {
        match self {
            Self::Powerdown => "powerdown",
            Self::Halt => "halt",
            Self::Reboot => "reboot",
        }
    }
}

/// A file the agent holds open (`guest-file-open`); give it back with
/// [`QgaClient::file_close`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestFile(i64);

/// What one `guest-file-read` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChunk {
    /// The bytes read (possibly none).
    pub data: Vec<u8>,
    /// Whether the read reached the end of the file.
    pub eof: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileReadWire {
    count: usize,
    buf_b64: Option<String>,
    eof: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> QgaClient<S> {
    /// `guest-ping`: checks that the agent answers.
    ///
    /// # Errors
    ///
    /// [`QgaCommandError`] naming `guest-ping`.
    pub async fn ping(&mut self) -> Result<(), QgaCommandError> {
        self.execute("guest-ping", None).await.map(drop)
    }

    /// `guest-info`: the agent version and its commands.
    ///
    /// # Errors
    ///
    /// [`QgaCommandError`] naming `guest-info`.
    pub async fn info(&mut self) -> Result<GuestInfo, QgaCommandError> {
        self.execute_typed("guest-info", None, QGA_COMMAND_TIMEOUT)
            .await
    }

    /// `guest-get-time`: the guest's clock, in nanoseconds since the Unix
    /// epoch.
    ///
    /// # Errors
    ///
    /// [`QgaCommandError`] naming `guest-get-time`.
    pub async fn get_time(&mut self) -> Result<i64, QgaCommandError> {
        self.execute_typed("guest-get-time", None, QGA_COMMAND_TIMEOUT)
            .await
    }

    /// `guest-set-time`: sets the guest clock to `time_ns` (nanoseconds since
    /// the Unix epoch) and the RTC from it; with `None`, sets the guest clock
    /// from the RTC instead (which QEMU keeps at host time).
    ///
    /// # Errors
    ///
    /// [`QgaCommandError`] naming `guest-set-time`.
    pub async fn set_time(&mut self, time_ns: Option<i64>) -> Result<(), QgaCommandError> {
        let arguments = time_ns.map(|time| json!({ "time": time }));
        self.execute("guest-set-time", arguments).await.map(drop)
    }

    /// `guest-file-open`: opens `path` in the guest with an `fopen` `mode`
    /// (`"r"`, `"w+"`, `"r+"`, …). The agent makes the file descriptor
    /// non-blocking once it is open; `"r+"` opens a FIFO without waiting for
    /// the other side.
    ///
    /// # Errors
    ///
    /// [`QgaCommandError`] naming `guest-file-open`, with the agent's reason
    /// (a missing file, no permission).
    pub async fn file_open(
        &mut self,
        path: &str,
        mode: &str,
    ) -> Result<GuestFile, QgaCommandError> {
        self.execute_typed(
            "guest-file-open",
            Some(json!({ "path": path, "mode": mode })),
            QGA_COMMAND_TIMEOUT,
        )
        .await
        .map(GuestFile)
    }

    /// `guest-file-write`: writes `data` to `file`. The agent buffers it (as
    /// `fwrite` does) until [`QgaClient::file_close`] or a read.
    ///
    /// # Errors
    ///
    /// [`QgaCommandError`] naming `guest-file-write`;
    /// [`QgaCommandError::UnexpectedReturn`] if the agent wrote less than all.
    pub async fn file_write(
        &mut self,
        file: GuestFile,
        data: &[u8],
    ) -> Result<(), QgaCommandError> {
        #[derive(Deserialize)]
        struct Written {
            count: usize,
        }
        let written: Written = self
            .execute_typed(
                "guest-file-write",
                Some(json!({ "handle": file.0, "buf-b64": BASE64.encode(data) })),
                QGA_COMMAND_TIMEOUT,
            )
            .await?;
        if written.count == data.len() {
            Ok(())
        } else {
            Err(unexpected(
                "guest-file-write",
                format!("wrote {} of {} bytes", written.count, data.len()),
            ))
        }
    }

    /// `guest-file-read`: reads up to `count` bytes of `file`. At the end of a
    /// regular file it returns what there is and `eof`; a later read sees what
    /// was appended since.
    ///
    /// # Errors
    ///
    /// [`QgaCommandError`] naming `guest-file-read`.
    pub async fn file_read(
        &mut self,
        file: GuestFile,
        count: usize,
    ) -> Result<FileChunk, QgaCommandError> {
        let wire: FileReadWire = self
            .execute_typed(
                "guest-file-read",
                Some(json!({ "handle": file.0, "count": count })),
                QGA_COMMAND_TIMEOUT,
            )
            .await?;
        let data = match wire.buf_b64 {
            Some(b64) => BASE64.decode(b64).map_err(|e| {
                unexpected("guest-file-read", format!("buf-b64 is not base64: {e}"))
            })?,
            None => Vec::new(),
        };
        if data.len() != wire.count {
            return Err(unexpected(
                "guest-file-read",
                format!("count is {} but {} bytes came", wire.count, data.len()),
            ));
        }
        Ok(FileChunk {
            data,
            eof: wire.eof,
        })
    }

    /// `guest-file-close`: flushes and closes `file`.
    ///
    /// # Errors
    ///
    /// [`QgaCommandError`] naming `guest-file-close` (for a write, the flush
    /// failed: the data may not have arrived).
    pub async fn file_close(&mut self, file: GuestFile) -> Result<(), QgaCommandError> {
        self.execute("guest-file-close", Some(json!({ "handle": file.0 })))
            .await
            .map(drop)
    }

    /// `guest-shutdown`: asks the guest to stop in the given `mode`. The
    /// agent does not answer on success, so this returns once the request is
    /// written; confirm with QMP (the `SHUTDOWN` event, or QEMU exiting). An
    /// error reply, if any, is dropped when the channel is next used.
    ///
    /// # Errors
    ///
    /// [`QgaCommandError`] naming `guest-shutdown` when the request cannot
    /// be written.
    pub async fn shutdown(&mut self, mode: ShutdownMode) -> Result<(), QgaCommandError> {
        self.send_without_reply(
            "guest-shutdown",
            Some(json!({ "mode": mode.as_agent_name() })),
        )
        .await
    }

    async fn execute_typed<T: DeserializeOwned>(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        limit: Duration,
    ) -> Result<T, QgaCommandError> {
        let value = self.execute_with_timeout(command, arguments, limit).await?;
        serde_json::from_value(value).map_err(|source| QgaCommandError::UnexpectedReturn {
            command: command.to_owned(),
            source,
        })
    }
}

/// A return value that has the expected shape but does not add up.
fn unexpected(command: &str, problem: String) -> QgaCommandError {
    QgaCommandError::UnexpectedReturn {
        command: command.to_owned(),
        source: serde::de::Error::custom(problem),
    }
}
