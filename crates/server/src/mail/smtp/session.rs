//! The SMTP state machine of one connection: commands in, replies out, and
//! the parsing of a finished message into what the sink stores.

use sqlx::PgPool;

use super::{HOSTNAME, SmtpLimits};
use crate::db::mail::{self as store, NewMessage};

/// A reply to one command.
#[derive(Debug, PartialEq)]
pub(super) struct Reply {
    pub(super) text: String,
    pub(super) error: bool,
    pub(super) close: bool,
}

impl Reply {
    pub(super) fn ok(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            error: false,
            close: false,
        }
    }
    pub(super) fn error(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            error: true,
            close: false,
        }
    }
}

/// What the server does after a command: reply, or read the message data.
#[derive(Debug, PartialEq)]
pub(super) enum Step {
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
pub(super) struct Session<'a> {
    limits: &'a SmtpLimits,
    greeted: bool,
    sender: Option<String>,
    recipients: Vec<String>,
    pub(super) errors: usize,
    pub(super) messages: usize,
}

impl<'a> Session<'a> {
    pub(super) fn new(limits: &'a SmtpLimits) -> Self {
        Self {
            limits,
            greeted: false,
            sender: None,
            recipients: Vec::new(),
            errors: 0,
            messages: 0,
        }
    }

    pub(super) fn reset(&mut self) {
        self.sender = None;
        self.recipients.clear();
    }

    /// Answers one command line (without its line ending).
    pub(super) fn command(&mut self, line: &str) -> Step {
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

    pub(super) async fn finish_message(&mut self, pool: &PgPool, raw: Vec<u8>) -> Reply {
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
    #[test]
    fn parts_are_extracted() {
        let raw = b"Subject: Hi\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b\r\nContent-Type: text/html\r\n\r\n<b>html</b>\r\n--b--\r\n".to_vec();
        let m = parse_message("a@b.c".into(), vec!["x@y.z".into()], raw);
        assert_eq!(m.subject, "Hi");
        assert_eq!(m.text_body.as_deref().map(str::trim), Some("plain"));
        assert_eq!(m.html_body.as_deref().map(str::trim), Some("<b>html</b>"));
    }
}
