//! The mail sink's SMTP listener: a small hand-written state machine that
//! accepts every well-formed message and stores it in PostgreSQL.
//!
//! It speaks enough of RFC 5321 for any client (HELO/EHLO, MAIL, RCPT, DATA,
//! RSET, NOOP, VRFY, HELP, QUIT; the SIZE and 8BITMIME extensions) and no more:
//! no relaying, no authentication, no TLS. Every resource a client can consume
//! is bounded (see [`SmtpLimits`]); a client that breaks a limit gets a 4xx/5xx
//! reply and, for the connection-level limits, a closed connection, while the
//! listener goes on serving everyone else. A message is acknowledged with 250
//! only after it is committed, so a sender that got 250 can read it at once.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::mail::store::{self, NewMessage};

/// The limits that keep one client from exhausting the sink.
#[derive(Debug, Clone)]
pub struct SmtpLimits {
    /// Largest message accepted (advertised as SIZE). Auth mails are a few KB;
    /// 1 MiB leaves room for HTML with inline images without letting a client
    /// fill the database quickly.
    pub max_message_bytes: usize,
    /// Longest line, CRLF included. RFC 5321 §4.5.3.1.6 sets 1000 for text lines.
    pub max_line_bytes: usize,
    /// Most recipients per message (RFC 5321 §4.5.3.1.8 asks servers to take at least 100).
    pub max_recipients: usize,
    /// Most connections served at once; more get 421 at once.
    pub max_connections: usize,
    /// Most messages one connection may send before it is closed.
    pub max_messages_per_connection: usize,
    /// Most rejected commands one connection may send before it is closed.
    pub max_errors: usize,
    /// How long the server waits for the next line (RFC 5321 §4.5.3.2 suggests
    /// minutes; a local sink can be stricter).
    pub idle_timeout: Duration,
    /// How long one connection may last in total.
    pub session_timeout: Duration,
}

impl Default for SmtpLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            max_line_bytes: 1000,
            max_recipients: 100,
            max_connections: 64,
            max_messages_per_connection: 100,
            max_errors: 10,
            idle_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(300),
        }
    }
}

/// The host name the sink greets with.
const HOSTNAME: &str = "stack-server.mail-sink";

/// Accepts connections until the task is dropped; each runs on its own task,
/// owned here, so that dropping this future ends every connection too.
pub async fn serve(listener: TcpListener, pool: PgPool, limits: SmtpLimits) {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Running out of file descriptors is the usual cause; back off briefly.
                tracing::warn!(error = %e, "SMTP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Replies are small and the client waits for each: send them at once.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on an SMTP connection");
        }
        let pool = pool.clone();
        let limits = Arc::clone(&limits);
        let slot = Arc::clone(&slots).try_acquire_owned();
        connections.spawn(async move {
            let mut stream = stream;
            let Ok(_slot) = slot else {
                let _ = stream
                    .write_all(b"421 4.7.0 Too many connections, try again later\r\n")
                    .await;
                return;
            };
            let session =
                tokio::time::timeout(limits.session_timeout, handle(&mut stream, &pool, &limits));
            match session.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "SMTP connection ended"),
                Err(_) => {
                    let _ = stream
                        .write_all(b"421 4.4.2 Session time limit reached\r\n")
                        .await;
                }
            }
        });
    }
}

async fn handle(stream: &mut TcpStream, pool: &PgPool, limits: &SmtpLimits) -> std::io::Result<()> {
    let (reader, mut writer) = stream.split();
    let mut reader = BufReader::new(reader);
    let mut session = Session::new(limits);
    writer
        .write_all(format!("220 {HOSTNAME} ESMTP mail sink ready\r\n").as_bytes())
        .await?;
    loop {
        let line = match read_line_timed(&mut reader, limits).await? {
            Some(line) => line,
            None => {
                writer
                    .write_all(b"421 4.4.2 Idle too long, closing\r\n")
                    .await?;
                return Ok(());
            }
        };
        let step = match line {
            Line::Eof => return Ok(()),
            Line::TooLong => Reply::error("500 5.5.2 Line too long").into(),
            Line::Text(bytes) => match std::str::from_utf8(&bytes) {
                Ok(text) => session.command(text.trim_end_matches(['\r', '\n'])),
                Err(_) => Reply::error("500 5.5.2 Command is not valid UTF-8").into(),
            },
        };
        let reply = match step {
            Step::StartData => {
                writer
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                match read_data(&mut reader, limits).await? {
                    Data::Complete(raw) => session.finish_message(pool, raw).await,
                    Data::TooLarge => {
                        session.reset();
                        Reply::error("552 5.3.4 Message exceeds the size limit")
                    }
                    Data::LineTooLong => {
                        session.reset();
                        Reply::error("500 5.5.2 Line too long in message data")
                    }
                    Data::Closed => return Ok(()),
                }
            }
            Step::Reply(reply) => reply,
        };
        let close = reply.close;
        if reply.error {
            session.errors += 1;
        }
        // One write per reply: a reply split over two writes waits for the
        // client's delayed ACK (Nagle), which adds tens of ms to every command.
        writer
            .write_all(format!("{}\r\n", reply.text).as_bytes())
            .await?;
        if close {
            return Ok(());
        }
        if session.errors >= limits.max_errors {
            writer
                .write_all(b"421 4.7.0 Too many errors, closing\r\n")
                .await?;
            return Ok(());
        }
        if session.messages >= limits.max_messages_per_connection {
            writer
                .write_all(b"421 4.7.0 Message limit for this connection reached\r\n")
                .await?;
            return Ok(());
        }
    }
}

/// One line read from the client.
#[derive(Debug, PartialEq)]
enum Line {
    /// A complete line, its line ending included.
    Text(Vec<u8>),
    /// The line was longer than the limit; it has been read and dropped.
    TooLong,
    /// The client closed the connection.
    Eof,
}

/// Reads a line, or `None` when the client stayed silent past the idle timeout.
async fn read_line_timed<R: AsyncBufRead + Unpin>(
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
enum Data {
    /// The message, dot-unstuffed, with CRLF line endings.
    Complete(Vec<u8>),
    /// The message was larger than the limit (read to its end and dropped).
    TooLarge,
    /// A line was longer than the limit (read to its end and dropped).
    LineTooLong,
    /// The client went away or stalled.
    Closed,
}

async fn read_data<R: AsyncBufRead + Unpin>(
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

/// A reply to one command.
#[derive(Debug, PartialEq)]
struct Reply {
    text: String,
    error: bool,
    close: bool,
}

impl Reply {
    fn ok(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            error: false,
            close: false,
        }
    }
    fn error(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            error: true,
            close: false,
        }
    }
}

/// What the server does after a command: reply, or read the message data.
#[derive(Debug, PartialEq)]
enum Step {
    Reply(Reply),
    StartData,
}

impl From<Reply> for Step {
    fn from(r: Reply) -> Self {
        Self::Reply(r)
    }
}

/// The SMTP state of one connection.
#[derive(Debug)]
struct Session<'a> {
    limits: &'a SmtpLimits,
    greeted: bool,
    sender: Option<String>,
    recipients: Vec<String>,
    errors: usize,
    messages: usize,
}

impl<'a> Session<'a> {
    fn new(limits: &'a SmtpLimits) -> Self {
        Self {
            limits,
            greeted: false,
            sender: None,
            recipients: Vec::new(),
            errors: 0,
            messages: 0,
        }
    }

    fn reset(&mut self) {
        self.sender = None;
        self.recipients.clear();
    }

    /// Answers one command line (without its line ending).
    fn command(&mut self, line: &str) -> Step {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let reply = match verb.to_ascii_uppercase().as_str() {
            "HELO" | "EHLO" if rest.trim().is_empty() => {
                Reply::error("501 5.5.4 Syntax: HELO/EHLO <domain>")
            }
            "HELO" => {
                self.greeted = true;
                self.reset();
                Reply::ok(format!("250 {HOSTNAME}"))
            }
            "EHLO" => {
                self.greeted = true;
                self.reset();
                Reply::ok(format!(
                    "250-{HOSTNAME}\r\n250-SIZE {}\r\n250-8BITMIME\r\n250 SMTPUTF8",
                    self.limits.max_message_bytes
                ))
            }
            "MAIL" => self.mail(rest),
            "RCPT" => self.rcpt(rest),
            "DATA" if !rest.trim().is_empty() => Reply::error("501 5.5.4 DATA takes no arguments"),
            "DATA" if self.recipients.is_empty() => Reply::error("503 5.5.1 Need RCPT before DATA"),
            "DATA" => return Step::StartData,
            "RSET" => {
                self.reset();
                Reply::ok("250 2.0.0 OK")
            }
            "NOOP" => Reply::ok("250 2.0.0 OK"),
            "VRFY" => Reply::ok("252 2.1.5 Cannot verify, but will accept"),
            "HELP" => Reply::ok("214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP VRFY QUIT"),
            "QUIT" => Reply {
                text: "221 2.0.0 Bye".into(),
                error: false,
                close: true,
            },
            _ => Reply::error("500 5.5.2 Command not recognized"),
        };
        reply.into()
    }

    fn mail(&mut self, rest: &str) -> Reply {
        if !self.greeted {
            return Reply::error("503 5.5.1 Send HELO or EHLO first");
        }
        if self.sender.is_some() {
            return Reply::error("503 5.5.1 Sender already given");
        }
        let Some((path, params)) = parse_path(rest, "FROM:") else {
            return Reply::error("501 5.5.4 Syntax: MAIL FROM:<address>");
        };
        for param in params.split_whitespace() {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            if key.eq_ignore_ascii_case("SIZE") {
                match value.parse::<usize>() {
                    Ok(size) if size > self.limits.max_message_bytes => {
                        return Reply::error("552 5.3.4 Message exceeds the size limit");
                    }
                    Ok(_) => {}
                    Err(_) => return Reply::error("501 5.5.4 Bad SIZE parameter"),
                }
            }
        }
        if !path.is_empty() && !is_address(path) {
            return Reply::error("501 5.1.7 Bad sender address");
        }
        self.sender = Some(path.to_owned());
        Reply::ok("250 2.1.0 OK")
    }

    fn rcpt(&mut self, rest: &str) -> Reply {
        if self.sender.is_none() {
            return Reply::error("503 5.5.1 Need MAIL before RCPT");
        }
        let Some((path, _params)) = parse_path(rest, "TO:") else {
            return Reply::error("501 5.5.4 Syntax: RCPT TO:<address>");
        };
        if !is_address(path) {
            return Reply::error("501 5.1.3 Bad recipient address");
        }
        if self.recipients.len() >= self.limits.max_recipients {
            return Reply::error("452 4.5.3 Too many recipients");
        }
        self.recipients.push(path.to_owned());
        Reply::ok("250 2.1.5 OK")
    }

    async fn finish_message(&mut self, pool: &PgPool, raw: Vec<u8>) -> Reply {
        let message = parse_message(
            self.sender.take().unwrap_or_default(),
            std::mem::take(&mut self.recipients),
            raw,
        );
        self.messages += 1;
        match store::insert(pool, &message).await {
            Ok(ids) => Reply::ok(format!(
                "250 2.0.0 OK: stored as {}",
                ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            )),
            Err(e) => {
                tracing::warn!(error = %e, "the mail sink could not store a message");
                Reply::error("451 4.3.0 Cannot store the message now, try again later")
            }
        }
    }
}

/// Splits `FROM:<path> params` into the path (without brackets) and the parameters.
fn parse_path<'a>(rest: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let head = rest.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let after = rest[keyword.len()..].trim_start();
    let inner = after.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some((&inner[..end], inner[end + 1..].trim()))
}

/// A plausible mailbox: something@something, no spaces or control characters.
fn is_address(path: &str) -> bool {
    let Some((local, domain)) = path.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && path.len() <= 320
        && !path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

/// Parses the parts the sink shows; a message MIME cannot parse is still stored, raw.
fn parse_message(sender: String, recipients: Vec<String>, raw: Vec<u8>) -> NewMessage {
    let parsed = mail_parser::MessageParser::default().parse(&raw);
    let subject = parsed
        .as_ref()
        .and_then(|m| m.subject())
        .unwrap_or_default()
        .to_owned();
    let text_body = parsed
        .as_ref()
        .and_then(|m| m.text_part(0))
        .filter(|p| !p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(str::to_owned);
    let html_body = parsed
        .as_ref()
        .and_then(|m| m.html_part(0))
        .filter(|p| p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(str::to_owned);
    drop(parsed);
    NewMessage {
        sender,
        recipients,
        subject: strip_nul(subject),
        text_body: text_body.map(strip_nul),
        html_body: html_body.map(strip_nul),
        raw,
    }
}

/// PostgreSQL text cannot hold NUL.
fn strip_nul(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SmtpLimits {
        SmtpLimits::default()
    }

    fn text(step: Step) -> String {
        match step {
            Step::Reply(r) => r.text,
            Step::StartData => "354".into(),
        }
    }

    #[test]
    fn commands_follow_the_smtp_order() {
        let limits = limits();
        let mut s = Session::new(&limits);
        assert!(text(s.command("MAIL FROM:<a@b.c>")).starts_with("503"));
        assert!(text(s.command("EHLO client")).starts_with("250-"));
        assert!(text(s.command("RCPT TO:<a@b.c>")).starts_with("503"));
        assert!(text(s.command("DATA")).starts_with("503"));
        assert!(text(s.command("MAIL FROM:<a@b.c> SIZE=100")).starts_with("250"));
        assert!(text(s.command("RCPT TO:<x@y.z>")).starts_with("250"));
        assert_eq!(s.command("DATA"), Step::StartData);
    }

    #[test]
    fn malformed_commands_get_5xx() {
        let limits = limits();
        let mut s = Session::new(&limits);
        assert!(text(s.command("EHLO")).starts_with("501"));
        assert!(text(s.command("BOGUS")).starts_with("500"));
        s.command("HELO x");
        assert!(text(s.command("MAIL FROM:a@b.c")).starts_with("501"));
        assert!(text(s.command("MAIL FROM:<a@b.c> SIZE=99999999")).starts_with("552"));
        s.command("MAIL FROM:<>");
        assert!(text(s.command("RCPT TO:<nobody>")).starts_with("501"));
    }

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

    #[test]
    fn parts_are_extracted() {
        let raw = b"Subject: Hi\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b\r\nContent-Type: text/html\r\n\r\n<b>html</b>\r\n--b--\r\n".to_vec();
        let m = parse_message("a@b.c".into(), vec!["x@y.z".into()], raw);
        assert_eq!(m.subject, "Hi");
        assert_eq!(m.text_body.as_deref().map(str::trim), Some("plain"));
        assert_eq!(m.html_body.as_deref().map(str::trim), Some("<b>html</b>"));
    }
}
