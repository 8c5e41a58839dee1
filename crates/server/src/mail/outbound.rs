//! Sending mail: a queue in front of a plain SMTP client (lettre).
//!
//! A handler that sends mail only puts it on a bounded in-process queue and
//! returns, so an API call is never slowed or failed by the mail server. One
//! delivery task, owned by the running server, takes mails off the queue and
//! sends each on its own task (at most [`MAX_CONCURRENT_SENDS`] at once), with a
//! few retries when the SMTP server is momentarily down. With the built-in sink
//! a mail is stored a few milliseconds after the call that sent it.
//!
//! The SMTP dialogue is lettre's; only the TCP connection is made here, with
//! `TCP_NODELAY`: lettre writes a message and its final `.` in two writes, and
//! with Nagle's algorithm the second waits for the server's delayed ACK (40 ms
//! on Linux) on every mail. Each socket's local address is recorded in
//! [`own_clients`] before it connects, so that the sink keeps a connection
//! slot for it however many other clients hold theirs. The `From` and
//! `Subject` fields, which carry the project's name, are written by
//! [`headers`] (see there why not by lettre).
//!
//! One mail can never stop the others: each is built and sent on its own task,
//! and a task that fails, even by panicking, loses only its own mail (the
//! panic is logged from its `JoinError`). If the delivery task itself ends
//! anyway, [`Mailer::state`] says so, and `/health` reports it.
//!
//! The trade-off: a mail still queued or being retried when the process stops
//! is lost. That is acceptable for a development sink (the app simply asks for a
//! new code) and keeps PostgreSQL free of an outbox.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinError, JoinSet};

use crate::mail::headers;
use crate::mail::own_clients::{self, Registration};
use crate::mail::templates::Rendered;

/// Mails waiting to be sent; more are dropped (and logged) rather than held.
pub const QUEUE_CAPACITY: usize = 1000;

/// Sends in flight at once.
pub const MAX_CONCURRENT_SENDS: usize = 16;

/// Waits before the 2nd, 3rd and 4th attempt: long enough to ride out a sink
/// restart, short enough that a mail still arrives while someone waits for it.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(5),
];

/// Limit on one whole SMTP session, so a stuck server cannot hold a send (and
/// its slot) forever.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where outbound mail goes: `smtp://host[:port]` (plain SMTP, no TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    host: String,
    port: u16,
}

/// Why an SMTP URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmtpUrlError {
    /// Not a URL at all.
    #[error("{0:?} is not a URL (expected smtp://host:port)")]
    NotAUrl(String),
    /// Another scheme.
    #[error("{0:?} is not an smtp:// URL (TLS relays are not supported)")]
    Scheme(String),
    /// No host.
    #[error("{0:?} has no host")]
    NoHost(String),
}

impl SmtpUrl {
    /// Parses `smtp://host[:port]` (port 25 when not given).
    ///
    /// # Errors
    /// The text is not such a URL.
    pub fn parse(text: &str) -> Result<Self, SmtpUrlError> {
        let url = url::Url::parse(text).map_err(|_| SmtpUrlError::NotAUrl(text.to_owned()))?;
        if url.scheme() != "smtp" {
            return Err(SmtpUrlError::Scheme(text.to_owned()));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| SmtpUrlError::NoHost(text.to_owned()))?;
        Ok(Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: url.port().unwrap_or(25),
        })
    }

    /// The URL of an SMTP listener at `addr`.
    pub fn of(addr: std::net::SocketAddr) -> Self {
        Self {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

impl std::fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "smtp://{}:{}", self.host, self.port)
    }
}

/// One mail to send.
#[derive(Debug)]
pub struct Outgoing {
    /// Display name of the sender (the project's name).
    pub from_name: String,
    /// Recipient address.
    pub to: String,
    /// Subject and bodies.
    pub content: Rendered,
}

/// The handle handlers send through; cheap to clone.
#[derive(Debug, Clone)]
pub struct Mailer {
    queue: Option<mpsc::Sender<Outgoing>>,
}

/// The delivery side of a [`Mailer`]; run it with [`Delivery::run`].
#[derive(Debug)]
pub struct Delivery {
    queue: mpsc::Receiver<Outgoing>,
    from_address: lettre::Address,
    target: SmtpUrl,
}

impl Mailer {
    /// A mailer that sends to `target` from `from_address`, and its delivery task.
    pub fn new(target: SmtpUrl, from_address: lettre::Address) -> (Self, Delivery) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        (
            Self { queue: Some(tx) },
            Delivery {
                queue: rx,
                from_address,
                target,
            },
        )
    }

    /// A mailer that drops every mail (for servers run without mail).
    pub fn disabled() -> Self {
        Self { queue: None }
    }

    /// Queues a mail; never waits. A full queue, a stopped delivery task or a
    /// disabled mailer drops it, with a log line.
    pub fn send(&self, mail: Outgoing) {
        let Some(queue) = &self.queue else {
            tracing::warn!(to = %mail.to, subject = %mail.content.subject, "mail is disabled; dropped a mail");
            return;
        };
        match queue.try_send(mail) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!("the outbound mail queue is full; dropped a mail");
            }
            Err(TrySendError::Closed(_)) => {
                tracing::error!("the mail delivery task has stopped; dropped a mail");
            }
        }
    }

    /// Whether mail is being delivered.
    pub fn state(&self) -> MailerState {
        match &self.queue {
            None => MailerState::Disabled,
            // The queue closes when its receiver, owned by the delivery task, is
            // dropped: the task returned, was aborted or panicked.
            Some(queue) if queue.is_closed() => MailerState::Stopped,
            Some(_) => MailerState::Running,
        }
    }
}

/// What [`Mailer::state`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailerState {
    /// The server runs without mail; every mail is dropped by design.
    Disabled,
    /// The delivery task is taking mails off the queue (or has not started yet).
    Running,
    /// The delivery task has ended; mails are dropped until the server restarts.
    Stopped,
}

impl Delivery {
    /// Sends queued mail until every [`Mailer`] is dropped, then waits for sends in flight.
    pub async fn run(mut self) {
        let slots = Arc::new(Semaphore::new(MAX_CONCURRENT_SENDS));
        let mut sends = JoinSet::new();
        while let Some(mail) = self.queue.recv().await {
            while let Some(done) = sends.try_join_next() {
                report_ended_send(done);
            }
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let from_address = self.from_address.clone();
            let target = self.target.clone();
            // Building happens on the send's task too: whatever goes wrong with
            // one mail ends that task, never this loop.
            sends.spawn(async move {
                let _slot = slot;
                deliver(&target, &from_address, mail).await;
            });
        }
        while let Some(done) = sends.join_next().await {
            report_ended_send(done);
        }
    }
}

/// Logs a send task that panicked; its mail is lost, the others go on.
fn report_ended_send(done: Result<(), JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(error = %e, "sending a mail panicked; dropped that mail");
    }
}

/// Builds one mail and sends it, with retries.
async fn deliver(target: &SmtpUrl, from_address: &lettre::Address, mail: Outgoing) {
    match build(from_address, mail) {
        Ok(message) => send_with_retries(target, &message).await,
        Err(e) => {
            tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), "could not build a mail; dropped it");
        }
    }
}

/// Names of the fields written by [`headers`] (checked when compiled).
const FROM: HeaderName = HeaderName::new_from_ascii_str("From");
const SUBJECT: HeaderName = HeaderName::new_from_ascii_str("Subject");

fn build(from_address: &lettre::Address, mail: Outgoing) -> Result<Message, BuildError> {
    let to: lettre::Address = mail
        .to
        .parse()
        .map_err(|_| BuildError::Recipient(mail.to.clone()))?;
    // lettre needs a From to build the envelope; the field's text, with the
    // project's name, is then replaced by one written by `headers`.
    let mut message = Message::builder()
        .from(Mailbox::new(None, from_address.clone()))
        .to(Mailbox::new(None, to))
        .multipart(MultiPart::alternative_plain_html(
            mail.content.text,
            mail.content.html,
        ))
        .map_err(BuildError::Message)?;
    let fields = message.headers_mut();
    fields.insert_raw(HeaderValue::dangerous_new_pre_encoded(
        FROM,
        from_address.to_string(),
        headers::from(&mail.from_name, from_address),
    ));
    fields.insert_raw(HeaderValue::dangerous_new_pre_encoded(
        SUBJECT,
        crate::validate::single_line(&mail.content.subject),
        headers::subject(&mail.content.subject),
    ));
    Ok(message)
}

/// Why a mail could not be built.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error("the recipient {0:?} is not an address the SMTP client accepts")]
    Recipient(String),
    #[error("the message could not be assembled")]
    Message(#[source] lettre::error::Error),
}

/// Why one attempt to send failed.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("cannot connect")]
    Connect(#[source] std::io::Error),
    #[error("the SMTP dialogue failed")]
    Smtp(#[source] lettre::transport::smtp::Error),
    #[error("no answer within {SMTP_TIMEOUT:?}")]
    Timeout,
}

impl SendError {
    /// Whether retrying cannot help (the server refused the mail with a 5xx).
    fn is_permanent(&self) -> bool {
        matches!(self, Self::Smtp(e) if e.is_permanent())
    }
}

/// A connection to the first address of `target` that answers, with the
/// registration that marks it as this server's own.
async fn connect(target: &SmtpUrl) -> std::io::Result<(TcpStream, Registration)> {
    let mut last_error = None;
    for addr in tokio::net::lookup_host((target.host.as_str(), target.port)).await? {
        match connect_to(addr).await {
            Ok(connected) => return Ok(connected),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} has no address", target.host),
        )
    }))
}

/// Connects to `addr` from a local address recorded in [`own_clients`] first.
/// For a loopback target the socket is bound to that loopback address, so the
/// sink sees exactly the recorded address as the peer.
async fn connect_to(addr: SocketAddr) -> std::io::Result<(TcpStream, Registration)> {
    let (socket, unspecified) = match addr {
        SocketAddr::V4(_) => (TcpSocket::new_v4()?, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        SocketAddr::V6(_) => (TcpSocket::new_v6()?, IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
    };
    let local_ip = if addr.ip().is_loopback() {
        addr.ip()
    } else {
        unspecified
    };
    socket.bind(SocketAddr::new(local_ip, 0))?;
    socket.set_nodelay(true)?;
    let registration = own_clients::register(socket.local_addr()?);
    let stream = socket.connect(addr).await?;
    Ok((stream, registration))
}

/// One SMTP session that delivers `message`.
async fn send_once(target: &SmtpUrl, message: &Message) -> Result<(), SendError> {
    let attempt = async {
        let (stream, _registration) = connect(target).await.map_err(SendError::Connect)?;
        let mut connection =
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &ClientId::default())
                .await
                .map_err(SendError::Smtp)?;
        connection
            .send(message.envelope(), &message.formatted())
            .await
            .map_err(SendError::Smtp)?;
        // The mail is delivered once DATA is accepted; a failed QUIT changes nothing.
        let _ = connection.quit().await;
        Ok(())
    };
    tokio::time::timeout(SMTP_TIMEOUT, attempt)
        .await
        .unwrap_or(Err(SendError::Timeout))
}

async fn send_with_retries(target: &SmtpUrl, message: &Message) {
    let mut delays = RETRY_DELAYS.iter();
    loop {
        match send_once(target, message).await {
            Ok(()) => return,
            Err(e) if e.is_permanent() => {
                tracing::warn!(%target, error = %e, cause = ?std::error::Error::source(&e), "the SMTP server refused a mail");
                return;
            }
            Err(e) => match delays.next() {
                Some(delay) => {
                    tracing::debug!(%target, error = %e, "sending a mail failed; retrying");
                    tokio::time::sleep(*delay).await;
                }
                None => {
                    tracing::warn!(%target, error = %e, cause = ?std::error::Error::source(&e), "sending a mail failed; gave up");
                    return;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_address() -> lettre::Address {
        "noreply@stack-emulator.localhost"
            .parse()
            .expect("a valid address")
    }

    fn outgoing(project_name: &str) -> Outgoing {
        Outgoing {
            from_name: project_name.to_owned(),
            to: "ada@example.com".to_owned(),
            content: crate::mail::templates::sign_in_code(
                project_name,
                "ABC123",
                "http://localhost:3000/cb?code=x",
            ),
        }
    }

    /// The header section of a built mail, one entry per line.
    fn header_lines(message: &Message) -> Vec<String> {
        let raw = String::from_utf8(message.formatted()).expect("an ASCII message");
        let (head, _) = raw.split_once("\r\n\r\n").expect("a header section");
        head.split("\r\n").map(str::to_owned).collect()
    }

    #[test]
    fn a_project_name_with_crlf_builds_a_mail_without_extra_fields() {
        let message = build(
            &from_address(),
            outgoing("Evil\r\nBcc: victim@example.com\r\n\r\nbody"),
        )
        .expect("the mail builds");
        let lines = header_lines(&message);
        assert!(
            !lines
                .iter()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{lines:#?}"
        );
        assert!(
            lines.contains(
                &"From: \"Evil Bcc: victim@example.com body\" <noreply@stack-emulator.localhost>"
                    .to_owned()
            ),
            "{lines:#?}"
        );
        assert_eq!(
            message.envelope().to(),
            ["ada@example.com"
                .parse::<lettre::Address>()
                .expect("an address")]
        );
    }

    #[test]
    fn a_thousand_character_project_name_keeps_every_line_short() {
        let message = build(&from_address(), outgoing(&"x".repeat(1000))).expect("the mail builds");
        let raw = String::from_utf8(message.formatted()).expect("an ASCII message");
        for line in raw.split("\r\n") {
            assert!(line.len() <= 78, "a line of {} bytes: {line:?}", line.len());
        }
    }

    #[tokio::test]
    async fn a_delivery_task_that_died_is_reported() {
        assert_eq!(Mailer::disabled().state(), MailerState::Disabled);
        let target = SmtpUrl::parse("smtp://127.0.0.1:9").expect("a URL");
        let (mailer, delivery) = Mailer::new(target, from_address());
        assert_eq!(mailer.state(), MailerState::Running);
        let task = tokio::spawn(async move {
            let _delivery = delivery;
            panic!("the delivery task fails");
        });
        assert!(task.await.is_err_and(|e| e.is_panic()));
        assert_eq!(mailer.state(), MailerState::Stopped);
    }

    #[test]
    fn smtp_urls_need_the_smtp_scheme_and_a_host() {
        assert_eq!(
            SmtpUrl::parse("smtp://127.0.0.1:2525").map(|u| u.to_string()),
            Ok("smtp://127.0.0.1:2525".to_owned())
        );
        assert_eq!(
            SmtpUrl::parse("smtp://mail.example.com").map(|u| u.port),
            Ok(25)
        );
        assert!(matches!(
            SmtpUrl::parse("smtps://x:465"),
            Err(SmtpUrlError::Scheme(_))
        ));
        assert!(matches!(
            SmtpUrl::parse("nonsense"),
            Err(SmtpUrlError::NotAUrl(_))
        ));
    }
}
