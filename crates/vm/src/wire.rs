//! Newline-delimited JSON over a byte stream, shared by the QMP and guest
//! agent clients: reading one line at a time with a bounded buffer, skipping
//! to a sentinel byte (the guest agent's 0xFF), and remembering whether a
//! write was cut off half-way. Parsing a line into a typed message is left to
//! each protocol.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The longest line accepted from a peer. The biggest messages the agent can
/// send are `guest-exec-status` replies (at most 16 MiB each of stdout and
/// stderr, base64-encoded: about 43 MiB) and `guest-file-read` replies (as
/// many bytes as asked for, base64-encoded; the emulator asks for 16 KiB).
/// 64 MiB covers them and still bounds memory against a peer that never sends
/// a newline.
pub(crate) const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// How much of an offending line an error message quotes.
const EXCERPT_CHARS: usize = 200;

/// Bytes to make room for before each read, so long lines are not read in
/// tiny pieces.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// A line from QEMU or the guest agent that is not a message of the protocol.
#[derive(Debug, thiserror::Error)]
pub enum MalformedMessage {
    /// The line is not valid JSON.
    #[error("line is not JSON: {excerpt}")]
    NotJson {
        /// The start of the line.
        excerpt: String,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// The line is JSON, but not any message the protocol defines.
    #[error("message has an unknown shape: {excerpt}")]
    UnknownShape {
        /// The start of the line.
        excerpt: String,
    },
    /// The peer sent more than `limit_bytes` (64 MiB) without a newline.
    #[error("line is longer than {limit_bytes} bytes")]
    TooLong {
        /// The limit that was passed.
        limit_bytes: usize,
    },
}

impl MalformedMessage {
    /// Describes `line` as unparseable JSON.
    pub(crate) fn not_json(line: &[u8], source: serde_json::Error) -> Self {
        Self::NotJson {
            excerpt: excerpt(line),
            source,
        }
    }

    /// Describes `line` as JSON of a shape the protocol does not have.
    pub(crate) fn unknown_shape(line: &[u8]) -> Self {
        Self::UnknownShape {
            excerpt: excerpt(line),
        }
    }
}

/// The start of `line`, as text, for error messages.
fn excerpt(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut chars = text.chars();
    let mut start: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        start.push('…');
    }
    start
}

/// Why no line could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Reading the stream failed.
    Io(io::Error),
    /// The peer closed the stream (end of file).
    Closed,
    /// The peer sent an overlong line.
    TooLong,
}

/// A byte stream read as lines and written as whole messages.
///
/// Reads are cancel-safe: bytes already read stay in `pending` when a read is
/// dropped by a timeout, so the next read continues where it stopped.
#[derive(Debug)]
pub(crate) struct Wire<S> {
    stream: S,
    pending: Vec<u8>,
    write_interrupted: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    /// Wraps `stream`.
    pub(crate) fn new(stream: S) -> Self {
        Self {
            stream,
            pending: Vec::new(),
            write_interrupted: false,
        }
    }

    /// Reads the next line, without its line ending. Empty lines are skipped.
    pub(crate) async fn read_line(&mut self) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(end) = self.pending.iter().position(|byte| *byte == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(line);
            }
            if self.pending.len() > MAX_LINE_BYTES {
                self.pending.clear();
                return Err(ReadError::TooLong);
            }
            self.fill().await?;
        }
    }

    /// Drops everything up to and including the next `sentinel` byte, reading
    /// more as needed.
    pub(crate) async fn discard_through(&mut self, sentinel: u8) -> Result<(), ReadError> {
        loop {
            if let Some(at) = self.pending.iter().position(|byte| *byte == sentinel) {
                self.pending.drain(..=at);
                return Ok(());
            }
            self.pending.clear();
            self.fill().await?;
        }
    }

    /// Reads whatever is available into `pending` (at least one byte).
    async fn fill(&mut self) -> Result<(), ReadError> {
        self.pending.reserve(READ_CHUNK_BYTES);
        // `read_buf` is cancel-safe: if the timeout around us fires, no byte
        // has been taken from the stream and lost.
        match self.stream.read_buf(&mut self.pending).await {
            Ok(0) => Err(ReadError::Closed),
            Ok(_) => Ok(()),
            Err(error) => Err(ReadError::Io(error)),
        }
    }

    /// Writes `message` completely. If the future is dropped half-way (a
    /// timeout), [`Wire::write_interrupted`] reports it from then on, because
    /// the peer may have received a partial message.
    pub(crate) async fn write_all(&mut self, message: &[u8]) -> io::Result<()> {
        self.write_interrupted = true;
        self.stream.write_all(message).await?;
        self.stream.flush().await?;
        self.write_interrupted = false;
        Ok(())
    }

    /// Whether a write was cut off (or failed) after it started.
    pub(crate) fn write_interrupted(&self) -> bool {
        self.write_interrupted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_lines_split_across_writes_and_skips_blank_lines() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut wire = Wire::new(ours);
        theirs.write_all(b"{\"a\":").await.unwrap();
        theirs.write_all(b"1}\r\n\n  \n{\"b\":2}\n").await.unwrap();
        assert_eq!(wire.read_line().await.unwrap(), b"{\"a\":1}");
        assert_eq!(wire.read_line().await.unwrap(), b"{\"b\":2}");
        drop(theirs);
        assert!(matches!(wire.read_line().await, Err(ReadError::Closed)));
    }

    #[tokio::test]
    async fn discards_through_the_sentinel_byte() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut wire = Wire::new(ours);
        theirs.write_all(b"stale\n{\"half").await.unwrap();
        theirs.write_all(b"\xff{\"return\":1}\n").await.unwrap();
        wire.discard_through(0xFF).await.unwrap();
        assert_eq!(wire.read_line().await.unwrap(), b"{\"return\":1}");
    }

    #[test]
    fn excerpts_are_cut_at_a_character_boundary() {
        let long = "é".repeat(300);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(b"short"), "short");
    }
}
