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
//! on Linux) on every mail.
//!
//! The trade-off: a mail still queued or being retried when the process stops
//! is lost. That is acceptable for a development sink (the app simply asks for a
//! new code) and keeps PostgreSQL free of an outbox.

use std::sync::Arc;
use std::time::Duration;

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

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

    /// Queues a mail; never waits. A full queue or a disabled mailer drops it, with a log line.
    pub fn send(&self, mail: Outgoing) {
        let Some(queue) = &self.queue else {
            tracing::warn!(to = %mail.to, subject = %mail.content.subject, "mail is disabled; dropped a mail");
            return;
        };
        if let Err(e) = queue.try_send(mail) {
            tracing::warn!(error = %e, "the outbound mail queue is full; dropped a mail");
        }
    }
}

impl Delivery {
    /// Sends queued mail until every [`Mailer`] is dropped, then waits for sends in flight.
    pub async fn run(mut self) {
        let slots = Arc::new(Semaphore::new(MAX_CONCURRENT_SENDS));
        let mut sends = JoinSet::new();
        while let Some(mail) = self.queue.recv().await {
            while sends.try_join_next().is_some() {}
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let message = match build(&self.from_address, mail) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "could not build a mail; dropped it");
                    continue;
                }
            };
            let target = self.target.clone();
            sends.spawn(async move {
                send_with_retries(&target, &message).await;
                drop(slot);
            });
        }
        sends.join_all().await;
    }
}

fn build(from_address: &lettre::Address, mail: Outgoing) -> Result<Message, BuildError> {
    let to: lettre::Address = mail
        .to
        .parse()
        .map_err(|_| BuildError::Recipient(mail.to.clone()))?;
    Message::builder()
        .from(Mailbox::new(Some(mail.from_name), from_address.clone()))
        .to(Mailbox::new(None, to))
        .subject(mail.content.subject)
        .multipart(MultiPart::alternative_plain_html(
            mail.content.text,
            mail.content.html,
        ))
        .map_err(BuildError::Message)
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

/// One SMTP session that delivers `message`.
async fn send_once(target: &SmtpUrl, message: &Message) -> Result<(), SendError> {
    let attempt = async {
        let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(SendError::Connect)?;
        stream.set_nodelay(true).map_err(SendError::Connect)?;
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
