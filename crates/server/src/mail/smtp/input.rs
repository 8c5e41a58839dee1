//! Reading SMTP input without letting a client make the server buffer more
//! than a line (or a message) at a time: commands line by line, message data
//! up to the terminating dot, each read bounded by the idle timeout.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::SmtpLimits;

/// One line read from the client.
#[derive(Debug, PartialEq)]
pub(super) enum Line {
    /// A complete line, its line ending included.
    Text(Vec<u8>),
    /// The line was longer than the limit; it has been read and dropped.
    TooLong,
    /// The client closed the connection.
    Eof,
}

/// Reads a line, or `None` when the client stayed silent past the idle timeout.
pub(super) async fn read_line_timed<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limits: &SmtpLimits,
) -> std::io::Result<Option<Line>> {
    match tokio::time::timeout(
        limits.idle_timeout,
        read_line(reader, limits.max_line_bytes),
    )
    .await
    {
        Ok(line) => line.map(Some),
        Err(_) => Ok(None),
    }
}

/// Reads one line of at most `max` bytes without ever buffering more than that.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, max: usize) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if line.is_empty() && !too_long {
                Line::Eof
            } else if too_long {
                Line::TooLong
            } else {
                Line::Text(line)
            });
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..=end], true),
            None => (available, false),
        };
        let used = chunk.len();
        if !too_long && line.len() + used <= max {
            line.extend_from_slice(chunk);
        } else {
            too_long = true;
            line.clear();
        }
        reader.consume(used);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Text(line)
            });
        }
    }
}

/// What a DATA phase produced.
pub(super) enum Data {
    /// The message, dot-unstuffed, with CRLF line endings.
    Complete(Vec<u8>),
    /// The message was larger than the limit (read to its end and dropped).
    TooLarge,
    /// A line was longer than the limit (read to its end and dropped).
    LineTooLong,
    /// The client went away or stalled.
    Closed,
}

pub(super) async fn read_data<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limits: &SmtpLimits,
) -> std::io::Result<Data> {
    let mut raw = Vec::new();
    let mut too_large = false;
    let mut line_too_long = false;
    loop {
        let line = match read_line_timed(reader, limits).await? {
            None | Some(Line::Eof) => return Ok(Data::Closed),
            Some(Line::TooLong) => {
                line_too_long = true;
                continue;
            }
            Some(Line::Text(line)) => line,
        };
        let content = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(&line);
        if content == b"." {
            break;
        }
        // RFC 5321 §4.5.2: a leading dot was doubled by the sender.
        let content = content.strip_prefix(b".").unwrap_or(content);
        if !too_large && raw.len() + content.len() + 2 <= limits.max_message_bytes {
            raw.extend_from_slice(content);
            raw.extend_from_slice(b"\r\n");
        } else {
            too_large = true;
            raw = Vec::new();
        }
    }
    Ok(if line_too_long {
        Data::LineTooLong
    } else if too_large {
        Data::TooLarge
    } else {
        Data::Complete(raw)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    #[tokio::test]
    async fn long_lines_are_dropped_without_buffering_them() {
        let input = format!("{}\r\nNOOP\r\n", "x".repeat(5000));
        let mut reader = BufReader::with_capacity(64, input.as_bytes());
        assert_eq!(read_line(&mut reader, 1000).await.unwrap(), Line::TooLong);
        assert_eq!(
            read_line(&mut reader, 1000).await.unwrap(),
            Line::Text(b"NOOP\r\n".to_vec())
        );
        assert_eq!(read_line(&mut reader, 1000).await.unwrap(), Line::Eof);
    }
}
