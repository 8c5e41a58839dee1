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
//!
//! Clients that hold every connection open cannot stop the server's own mail:
//! connections from its own outbound client (recorded in
//! [`own_clients`](crate::mail::own_clients)) have slots of their own, and a
//! connection that neither sends a line nor reads a reply within the idle
//! timeout is closed.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::mail::own_clients;

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
    /// Connections kept, on top of `max_connections`, for this server's own
    /// outbound mail, so that other clients holding every slot cannot make the
    /// server's mails fail: one per send the mailer runs at once.
    pub reserved_own_connections: usize,
    /// Most messages one connection may send before it is closed.
    pub max_messages_per_connection: usize,
    /// Most rejected commands one connection may send before it is closed.
    pub max_errors: usize,
    /// How long the server waits for the next line, or for the client to take
    /// a reply (RFC 5321 §4.5.3.2 suggests minutes; a local sink can be
    /// stricter, and a connection held open idle takes a slot from others).
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
            reserved_own_connections: crate::mail::outbound::MAX_CONCURRENT_SENDS,
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
    let slots = Slots {
        shared: Arc::new(Semaphore::new(limits.max_connections)),
        own: Arc::new(Semaphore::new(limits.reserved_own_connections)),
    };
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
        let slot = slots.take(peer);
        connections.spawn(async move {
            let mut stream = stream;
            let Some(_slot) = slot else {
                let _ = write_timed(
                    &mut stream,
                    b"421 4.7.0 Too many connections, try again later\r\n",
                    &limits,
                )
                .await;
                return;
            };
            let session =
                tokio::time::timeout(limits.session_timeout, handle(&mut stream, &pool, &limits));
            match session.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "SMTP connection ended"),
                Err(_) => {
                    let _ = write_timed(
                        &mut stream,
                        b"421 4.4.2 Session time limit reached\r\n",
                        &limits,
                    )
                    .await;
                }
            }
        });
    }
}

/// The connection slots: shared by every client, and kept for the server's own mail.
struct Slots {
    shared: Arc<Semaphore>,
    own: Arc<Semaphore>,
}

impl Slots {
    /// A slot for a connection from `peer`, or `None` when it must be turned away.
    /// The server's own connections take a kept slot first, then a shared one.
    fn take(&self, peer: std::net::SocketAddr) -> Option<OwnedSemaphorePermit> {
        if own_clients::is_own(peer)
            && let Ok(slot) = Arc::clone(&self.own).try_acquire_owned()
        {
            return Some(slot);
        }
        Arc::clone(&self.shared).try_acquire_owned().ok()
    }
}

/// Writes `bytes`, giving up when the client has not taken them within the
/// idle timeout: a client that never reads would otherwise hold its slot until
/// the session limit.
async fn write_timed<W: AsyncWrite + Unpin>(
    writer: &mut W,
    bytes: &[u8],
    limits: &SmtpLimits,
) -> std::io::Result<()> {
    tokio::time::timeout(limits.idle_timeout, writer.write_all(bytes))
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the client did not read a reply within {:?}",
                    limits.idle_timeout
                ),
            ))
        })
}

async fn handle(stream: &mut TcpStream, pool: &PgPool, limits: &SmtpLimits) -> std::io::Result<()> {
    let (reader, mut writer) = stream.split();
    let mut reader = BufReader::new(reader);
    let mut session = Session::new(limits);
    write_timed(
        &mut writer,
        format!("220 {HOSTNAME} ESMTP mail sink ready\r\n").as_bytes(),
        limits,
    )
    .await?;
    loop {
        let line = match read_line_timed(&mut reader, limits).await? {
            Some(line) => line,
            None => {
                write_timed(&mut writer, b"421 4.4.2 Idle too long, closing\r\n", limits).await?;
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
                write_timed(
                    &mut writer,
                    b"354 End data with <CR><LF>.<CR><LF>\r\n",
                    limits,
                )
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
        write_timed(
            &mut writer,
            format!("{}\r\n", reply.text).as_bytes(),
            limits,
        )
        .await?;
        if close {
            return Ok(());
        }
        if session.errors >= limits.max_errors {
            write_timed(
                &mut writer,
                b"421 4.7.0 Too many errors, closing\r\n",
                limits,
            )
            .await?;
            return Ok(());
        }
        if session.messages >= limits.max_messages_per_connection {
            write_timed(
                &mut writer,
                b"421 4.7.0 Message limit for this connection reached\r\n",
                limits,
            )
            .await?;
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn the_servers_own_connections_have_slots_others_cannot_take() {
        let slots = Slots {
            shared: Arc::new(Semaphore::new(1)),
            own: Arc::new(Semaphore::new(1)),
        };
        let stranger: std::net::SocketAddr = "127.0.0.1:41001".parse().expect("an address");
        let held = slots.take(stranger);
        assert!(held.is_some());
        assert!(slots.take(stranger).is_none(), "the shared slot is taken");
        let own: std::net::SocketAddr = "127.0.0.1:41002".parse().expect("an address");
        let _registration = own_clients::register(own);
        let own_slot = slots.take(own);
        assert!(
            own_slot.is_some(),
            "the kept slot serves the server's own client"
        );
        drop(held);
        assert!(slots.take(own).is_some(), "then a shared one");
    }

    #[tokio::test]
    async fn a_client_that_never_reads_its_replies_is_disconnected() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("an address");
        // Never used: the client sends no message.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("a lazy pool");
        let limits = SmtpLimits {
            idle_timeout: Duration::from_millis(300),
            session_timeout: Duration::from_secs(120),
            ..SmtpLimits::default()
        };
        let server = tokio::spawn(serve(listener, pool, limits));
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .set_recv_buffer_size(4096)
            .expect("a small receive buffer");
        let mut client = socket.connect(addr).await.expect("connect");
        let mut greeting = [0u8; 3];
        client.read_exact(&mut greeting).await.expect("a greeting");
        assert_eq!(&greeting, b"220");
        // Commands whose replies are ten times their size, never read: the
        // server's writes stall, and it must give up on the connection long
        // before the session limit.
        let commands = "EHLO x\r\n".repeat(8192);
        let flood = async {
            loop {
                if client.write_all(commands.as_bytes()).await.is_err() {
                    return;
                }
            }
        };
        let ended = tokio::time::timeout(Duration::from_secs(20), flood).await;
        server.abort();
        assert!(
            ended.is_ok(),
            "the server still held the connection after 20 s"
        );
    }
}
