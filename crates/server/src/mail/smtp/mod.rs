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
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

mod input;
mod session;

use input::{Data, Line, read_data, read_line_timed};
use session::{Reply, Session, Step};

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
