//! Typed helpers for the guest agent commands the emulator uses: liveness
//! (`guest-ping`, `guest-info`), the guest clock (`guest-get-time`,
//! `guest-set-time`), running a program with stdin and captured output
//! (`guest-exec` plus `guest-exec-status` polled to a deadline), and
//! `guest-shutdown`, and the file commands (`guest-file-open`, `-write`,
//! `-read`, `-close`), which reach a file or FIFO in the guest without
//! starting a program there. All were checked against qemu-guest-agent 7.2
//! (`research/guest-boot-measurements.md` for the first ones; the VM tests
//! for the file commands), except `guest-shutdown`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::error::{QgaCommandError, QgaExecError};
use super::{QGA_COMMAND_TIMEOUT, QGA_EXEC_TIMEOUT, QgaClient};
/// The longest pause between two status calls for a running guest program:
/// how late its exit may be noticed. A status call costs the guest little, and
/// the programs polled (the clock, a rotation) are on the path of every start.
pub const EXEC_POLL_CAP: Duration = Duration::from_millis(10);

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

/// How a guest program ended, with its captured output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit code, if the program exited normally.
    pub exit_code: Option<i32>,
    /// The signal number, if a signal ended the program.
    pub signal: Option<i32>,
    /// Captured standard output (empty unless capture was asked for).
    pub stdout: Vec<u8>,
    /// Captured standard error (empty unless capture was asked for).
    pub stderr: Vec<u8>,
    /// Whether the agent cut stdout at its 16 MiB capture limit.
    pub stdout_truncated: bool,
    /// Whether the agent cut stderr at its 16 MiB capture limit.
    pub stderr_truncated: bool,
}

impl ExecOutput {
    /// Whether the program exited with code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
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

#[derive(Deserialize)]
struct ExecStarted {
    pid: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ExecStatusWire {
    exited: bool,
    exitcode: Option<i32>,
    signal: Option<i32>,
    out_data: Option<String>,
    err_data: Option<String>,
    #[serde(default)]
    out_truncated: bool,
    #[serde(default)]
    err_truncated: bool,
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
            Err(QgaCommandError::UnexpectedReturn {
                command: "guest-file-write".to_owned(),
                source: serde::de::Error::custom(format!(
                    "wrote {} of {} bytes",
                    written.count,
                    data.len()
                )),
            })
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
            Some(b64) => BASE64
                .decode(b64)
                .map_err(|e| QgaCommandError::UnexpectedReturn {
                    command: "guest-file-read".to_owned(),
                    source: serde::de::Error::custom(format!("buf-b64 is not base64: {e}")),
                })?,
            None => Vec::new(),
        };
        if data.len() != wire.count {
            return Err(QgaCommandError::UnexpectedReturn {
                command: "guest-file-read".to_owned(),
                source: serde::de::Error::custom(format!(
                    "count is {} but {} bytes came",
                    wire.count,
                    data.len()
                )),
            });
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

    /// Runs `path` with `args` in the guest, feeding `input_data` to its
    /// stdin (stdin is empty otherwise) and capturing stdout and stderr if
    /// `capture` is set, and waits up to [`QGA_EXEC_TIMEOUT`] for it to exit.
    ///
    /// # Errors
    ///
    /// See [`QgaClient::exec_with_timeout`].
    pub async fn exec(
        &mut self,
        path: &str,
        args: &[&str],
        input_data: Option<&[u8]>,
        capture: bool,
    ) -> Result<ExecOutput, QgaExecError> {
        self.exec_with_timeout(path, args, input_data, capture, QGA_EXEC_TIMEOUT)
            .await
    }

    /// Like [`QgaClient::exec`], waiting up to `limit` for the program to
    /// exit. Its status is polled every [`EXEC_POLL_CAP`] at most; no single agent
    /// call waits longer than [`QGA_COMMAND_TIMEOUT`] or past the deadline.
    ///
    /// Secrets passed as `input_data` travel only through the virtio-serial
    /// channel and the program's stdin; they are never logged.
    ///
    /// # Errors
    ///
    /// [`QgaExecError::Start`] when the agent cannot start the program (for
    /// example, no such file); [`QgaExecError::Status`] when its status
    /// cannot be read; [`QgaExecError::Timeout`] when it has not exited by
    /// the deadline (it may still run in the guest);
    /// [`QgaExecError::Output`] for undecodable output.
    pub async fn exec_with_timeout(
        &mut self,
        path: &str,
        args: &[&str],
        input_data: Option<&[u8]>,
        capture: bool,
        limit: Duration,
    ) -> Result<ExecOutput, QgaExecError> {
        let running = self
            .exec_start(path, args, input_data, capture, limit)
            .await?;
        self.exec_wait(&running).await
    }

    /// Starts `path` in the guest without waiting for it; [`QgaClient::exec_wait`]
    /// collects it. Two programs can run at once this way.
    ///
    /// # Errors
    ///
    /// [`QgaExecError::Start`] when the agent cannot start the program.
    pub async fn exec_start(
        &mut self,
        path: &str,
        args: &[&str],
        input_data: Option<&[u8]>,
        capture: bool,
        limit: Duration,
    ) -> Result<RunningProgram, QgaExecError> {
        let deadline = Instant::now() + limit;
        let mut arguments = Map::new();
        arguments.insert("path".to_owned(), path.into());
        arguments.insert("arg".to_owned(), args.to_vec().into());
        if let Some(input) = input_data {
            arguments.insert("input-data".to_owned(), BASE64.encode(input).into());
        }
        arguments.insert("capture-output".to_owned(), capture.into());
        let started: ExecStarted = self
            .execute_typed(
                "guest-exec",
                Some(Value::Object(arguments)),
                call_limit(deadline),
            )
            .await
            .map_err(|source| QgaExecError::Start {
                path: path.to_owned(),
                source,
            })?;
        tracing::debug!(path, pid = started.pid, "guest program started");
        Ok(RunningProgram {
            path: path.to_owned(),
            pid: started.pid,
            deadline,
            limit,
        })
    }

    /// Waits until a program started with [`QgaClient::exec_start`] exits,
    /// polling its status.
    ///
    /// # Errors
    ///
    /// As [`QgaClient::exec_with_timeout`].
    pub async fn exec_wait(
        &mut self,
        program: &RunningProgram,
    ) -> Result<ExecOutput, QgaExecError> {
        let RunningProgram {
            path,
            pid,
            deadline,
            limit,
        } = program;
        let (path, pid, deadline, limit) = (path.as_str(), *pid, *deadline, *limit);
        let mut pause = Duration::from_millis(2);
        loop {
            let status = self
                .execute_typed::<ExecStatusWire>(
                    "guest-exec-status",
                    Some(json!({ "pid": pid })),
                    call_limit(deadline),
                )
                .await;
            let timed_out = |limit| QgaExecError::Timeout {
                path: path.to_owned(),
                pid,
                limit,
            };
            let status = match status {
                Ok(status) => status,
                Err(QgaCommandError::Timeout { .. }) if Instant::now() >= deadline => {
                    return Err(timed_out(limit));
                }
                Err(source) => {
                    return Err(QgaExecError::Status {
                        path: path.to_owned(),
                        pid,
                        source,
                    });
                }
            };
            if status.exited {
                return exec_output(path, status);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(timed_out(limit));
            }
            // Short commands (setting the clock, a rotation) end within tens
            // or hundreds of milliseconds, and they are on the path of every
            // start: poll often at first, then every EXEC_POLL_CAP.
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(EXEC_POLL_CAP);
        }
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

/// A program started in the guest that has not been collected yet.
#[derive(Debug, Clone)]
pub struct RunningProgram {
    path: String,
    pid: i64,
    deadline: Instant,
    limit: Duration,
}

/// The limit for one agent call made on the way to `deadline`.
fn call_limit(deadline: Instant) -> Duration {
    QGA_COMMAND_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()))
}

fn exec_output(path: &str, status: ExecStatusWire) -> Result<ExecOutput, QgaExecError> {
    let decode = |data: Option<String>, stream: &'static str| {
        data.map_or(Ok(Vec::new()), |text| {
            BASE64.decode(text).map_err(|source| QgaExecError::Output {
                path: path.to_owned(),
                stream,
                source,
            })
        })
    };
    Ok(ExecOutput {
        exit_code: status.exitcode,
        signal: status.signal,
        stdout: decode(status.out_data, "stdout")?,
        stderr: decode(status.err_data, "stderr")?,
        stdout_truncated: status.out_truncated,
        stderr_truncated: status.err_truncated,
    })
}
