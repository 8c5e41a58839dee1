//! Target: the mail sink's SMTP listener, fed whole client byte streams over
//! loopback: command parsing, the session's state machine, DATA reading with
//! dot-unstuffing and the line and size limits, and the MIME parsing of every
//! message that completes (the store then fails: the database is not there).
//!
//! A stream is a greeting and a few mail transactions (MAIL, RCPTs, DATA, the
//! message lines, the ending dot) with random addresses, parameters and lines,
//! with noise between them: unknown or misplaced commands, raw bytes, bare LFs,
//! lines at and past the limits, data that never ends. It runs against one of
//! three sets of limits (the defaults, tight ones, and the smallest values). No
//! session may panic, every session must end, and every reply line must be a
//! well-formed SMTP reply.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bolero::{TypeGenerator, check};
use stack_server::mail::smtp::{SmtpLimits, serve};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::CI_TIME;
use crate::offline::{Offline, assert_no_panic_since, panic_count, watch_panics};

/// How long one session may take: generous, since a fuzzed session is a few
/// kilobytes over loopback and ends in milliseconds; reaching it means a hang.
const SESSION_LIMIT: Duration = Duration::from_secs(20);

/// Addresses the sink takes.
const GOOD_ADDRESSES: &[&str] = &["a@b.c", "user@example.com", "x@y", "ü@bücher.de"];

/// Addresses that look nearly right.
const ODD_ADDRESSES: &[&str] = &[
    "",
    "no-at-sign",
    "@b.c",
    "a@",
    "a@b.c> SIZE=1",
    "<a@b.c>",
    "a b@c.d",
    "a\u{0}@b.c",
    "a@b.c\r",
];

/// Lines that steer the MIME parser into its branches.
const MIME_LINES: &[&str] = &[
    "Subject: Hi",
    "Subject: =?utf-8?B?w6TDtsO8?=",
    "Subject: =?iso-8859-1?Q?caf=E9?=",
    "Subject: =?utf-8?B?",
    "From: a@b.c",
    "To: \"X\" <x@y.z>, y@z.a",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Type: text/plain; charset=\"iso-2022-jp\"",
    "Content-Type: text/html",
    "Content-Type: multipart/alternative; boundary=b",
    "Content-Type: multipart/mixed; boundary=\"=_x\"",
    "Content-Type: message/rfc822",
    "Content-Transfer-Encoding: base64",
    "Content-Transfer-Encoding: quoted-printable",
    "Content-Disposition: attachment; filename=a.txt",
    "--b",
    "--b--",
    "--=_x",
    "--=_x--",
    "PGI+aHRtbDwvYj4=",
    "caf=C3=A9=",
    "=",
    "\t folded",
    "",
    "..",
    "...",
];

#[derive(Debug, Clone, TypeGenerator)]
enum Verb {
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Rset,
    Noop,
    Vrfy,
    Help,
    Quit,
    Other(String),
}

#[derive(Debug, Clone, TypeGenerator)]
enum Address {
    Good(#[generator(0..GOOD_ADDRESSES.len())] usize),
    Odd(#[generator(0..ODD_ADDRESSES.len())] usize),
    Other(String),
}

impl Address {
    fn text(&self) -> String {
        match self {
            Self::Good(i) => GOOD_ADDRESSES[*i].to_owned(),
            Self::Odd(i) => ODD_ADDRESSES[*i].to_owned(),
            Self::Other(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone, TypeGenerator)]
enum Param {
    Size(u64),
    SmallSize(u16),
    SizeText(String),
    Body8BitMime,
    Other(String),
}

#[derive(Debug, Clone, TypeGenerator)]
enum MessageLine {
    Mime(#[generator(0..MIME_LINES.len())] usize),
    Header(#[generator(0..MIME_LINES.len())] usize, String),
    Text(String),
    Bytes(Vec<u8>),
    /// A line starting with a dot (the sender doubles it; the sink strips one).
    Dotted(Vec<u8>),
    /// A line of this many bytes.
    Long(#[generator(0..1100)] u16),
    /// A line ending in a bare LF.
    BareLf(String),
}

/// How the message data ends.
#[derive(Debug, Clone, TypeGenerator)]
enum Ending {
    Dot,
    DotBareLf,
    /// A dot with something after it (not an ending: a data line).
    DotAndMore(String),
    /// No ending: the client stops sending in the middle of the data.
    Unfinished,
}

#[derive(Debug, Clone, TypeGenerator)]
enum Noise {
    /// A command with any argument, in upper or lower case.
    Command {
        verb: Verb,
        lower: bool,
        arg: String,
    },
    /// Any bytes, then CRLF.
    Line(Vec<u8>),
    /// Any bytes as they are (no line ending).
    Raw(Vec<u8>),
    /// A line of this many bytes, around and past the line limits.
    Long(#[generator(900..1100)] u16),
    /// A line ending in a bare LF.
    BareLf(String),
}

/// The greeting a session starts with, when not the usual `EHLO client.example`.
#[derive(Debug, Clone, TypeGenerator)]
enum Hello {
    Helo(String),
    Ehlo(String),
    /// No greeting (MAIL must then be refused).
    Missing,
}

/// One message: MAIL, RCPTs, DATA, the lines and the ending, after some noise.
/// Each `None` stands for the usual value, so that most messages get through
/// to the MIME parser.
#[derive(Debug, Clone, TypeGenerator)]
struct Transaction {
    #[generator(Vec::produce().with().len(0usize..2))]
    noise: Vec<Noise>,
    from: Option<Address>,
    param: Option<Param>,
    to: Option<Address>,
    #[generator(Vec::produce().with().len(0usize..3))]
    more_to: Vec<Address>,
    #[generator(Vec::produce().with().len(0usize..12))]
    lines: Vec<MessageLine>,
    ending: Option<Ending>,
}

/// A whole client stream and the limits it runs against.
#[derive(Debug, Clone, TypeGenerator)]
struct Input {
    /// Which of [`limit_sets`] the session runs against.
    limits: u8,
    hello: Option<Hello>,
    #[generator(Vec::produce().with().len(1usize..4))]
    transactions: Vec<Transaction>,
    #[generator(Vec::produce().with().len(0usize..3))]
    tail: Vec<Noise>,
}

fn verb(verb: &Verb) -> &str {
    match verb {
        Verb::Helo => "HELO",
        Verb::Ehlo => "EHLO",
        Verb::Mail => "MAIL",
        Verb::Rcpt => "RCPT",
        Verb::Data => "DATA",
        Verb::Rset => "RSET",
        Verb::Noop => "NOOP",
        Verb::Vrfy => "VRFY",
        Verb::Help => "HELP",
        Verb::Quit => "QUIT",
        Verb::Other(s) => s,
    }
}

fn line(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

fn render_noise(out: &mut Vec<u8>, noise: &Noise) {
    match noise {
        Noise::Command {
            verb: v,
            lower,
            arg,
        } => {
            let mut text = verb(v).to_owned();
            if *lower {
                text = text.to_lowercase();
            }
            if !arg.is_empty() {
                text.push(' ');
                text.push_str(arg);
            }
            line(out, text.as_bytes());
        }
        Noise::Line(b) => line(out, b),
        Noise::Raw(b) => out.extend_from_slice(b),
        Noise::Long(n) => line(out, &vec![b'x'; usize::from(*n)]),
        Noise::BareLf(t) => {
            out.extend_from_slice(t.as_bytes());
            out.push(b'\n');
        }
    }
}

fn render_line(out: &mut Vec<u8>, message_line: &MessageLine) {
    match message_line {
        MessageLine::Mime(i) => line(out, MIME_LINES[*i].as_bytes()),
        MessageLine::Header(i, value) => {
            line(out, format!("{}{value}", MIME_LINES[*i]).as_bytes());
        }
        MessageLine::Text(t) => line(out, t.as_bytes()),
        MessageLine::Bytes(b) => line(out, b),
        MessageLine::Dotted(b) => {
            out.push(b'.');
            line(out, b);
        }
        MessageLine::Long(n) => line(out, &vec![b'y'; usize::from(*n)]),
        MessageLine::BareLf(t) => {
            out.extend_from_slice(t.as_bytes());
            out.push(b'\n');
        }
    }
}

fn render_transaction(out: &mut Vec<u8>, t: &Transaction) {
    for noise in &t.noise {
        render_noise(out, noise);
    }
    let param = match &t.param {
        None => String::new(),
        Some(Param::Size(n)) => format!(" SIZE={n}"),
        Some(Param::SmallSize(n)) => format!(" SIZE={n}"),
        Some(Param::SizeText(s)) => format!(" SIZE={s}"),
        Some(Param::Body8BitMime) => " BODY=8BITMIME".into(),
        Some(Param::Other(s)) => format!(" {s}"),
    };
    let from = t
        .from
        .as_ref()
        .map_or("sender@example.com".into(), Address::text);
    line(out, format!("MAIL FROM:<{from}>{param}").as_bytes());
    let first =
        t.to.as_ref()
            .map_or("rcpt@example.com".into(), Address::text);
    for to in std::iter::once(first).chain(t.more_to.iter().map(Address::text)) {
        line(out, format!("RCPT TO:<{to}>").as_bytes());
    }
    line(out, b"DATA");
    for message_line in &t.lines {
        render_line(out, message_line);
    }
    match &t.ending {
        None | Some(Ending::Dot) => line(out, b"."),
        Some(Ending::DotBareLf) => out.extend_from_slice(b".\n"),
        Some(Ending::DotAndMore(more)) => line(out, format!(".{more}").as_bytes()),
        Some(Ending::Unfinished) => {}
    }
}

/// The bytes a client sends for `input`.
fn render(input: &Input) -> Vec<u8> {
    let mut out = Vec::new();
    match &input.hello {
        None => line(&mut out, b"EHLO client.example"),
        Some(Hello::Helo(name)) => line(&mut out, format!("HELO {name}").as_bytes()),
        Some(Hello::Ehlo(name)) => line(&mut out, format!("EHLO {name}").as_bytes()),
        Some(Hello::Missing) => {}
    }
    for t in &input.transactions {
        render_transaction(&mut out, t);
    }
    for noise in &input.tail {
        render_noise(&mut out, noise);
    }
    out
}

/// The sets of limits: the defaults, tight ones, and the smallest values.
fn limit_sets() -> [SmtpLimits; 3] {
    let defaults = SmtpLimits::default();
    [
        defaults.clone(),
        SmtpLimits {
            max_message_bytes: 300,
            max_line_bytes: 80,
            max_recipients: 2,
            max_messages_per_connection: 2,
            max_errors: 3,
            ..defaults.clone()
        },
        SmtpLimits {
            max_message_bytes: 0,
            max_line_bytes: 1,
            max_recipients: 0,
            max_messages_per_connection: 1,
            max_errors: 1,
            ..defaults
        },
    ]
}

/// Checks what the server sent: a greeting first (unless the connection was
/// reset before it could be read), then only well-formed reply lines.
fn check_replies(replies: &[u8], reset: bool) {
    let text = std::str::from_utf8(replies).expect("replies are UTF-8");
    if !reset {
        assert!(text.starts_with("220 "), "no greeting: {text:?}");
    }
    // A reset can cut the last line short; only complete lines are checked.
    let complete = text.rfind("\r\n").map_or("", |end| &text[..end]);
    for reply in complete.split("\r\n").filter(|_| !complete.is_empty()) {
        let bytes = reply.as_bytes();
        let well_formed = bytes.len() >= 3
            && (b'2'..=b'5').contains(&bytes[0])
            && bytes[1].is_ascii_digit()
            && bytes[2].is_ascii_digit()
            && bytes.get(3).is_none_or(|b| *b == b' ' || *b == b'-')
            && bytes.iter().all(|b| (b' '..=b'~').contains(b));
        assert!(well_formed, "malformed reply line {reply:?} in {text:?}");
    }
}

/// Listeners with each set of limits, serving on the offline runtime.
struct Sink {
    offline: Offline,
    addrs: Vec<SocketAddr>,
}

impl Sink {
    fn new() -> Self {
        let offline = Offline::new();
        let addrs = limit_sets()
            .into_iter()
            .map(|limits| {
                let pool = offline.pool();
                offline.block_on(async move {
                    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                        .await
                        .expect("a loopback port");
                    let addr = listener.local_addr().expect("the bound address");
                    // Runs whenever the runtime does, i.e. inside each `block_on` below.
                    tokio::spawn(serve(listener, pool, limits));
                    addr
                })
            })
            .collect();
        Self { offline, addrs }
    }

    fn session(&self, input: &Input) {
        watch_panics();
        let before = panic_count();
        // Most sessions run against the defaults, the rest against the tight
        // and the smallest limits.
        let set = match input.limits % 8 {
            0..=4 => 0,
            5 | 6 => 1,
            _ => 2,
        };
        let addr = self.addrs[set];
        let client = render(input);
        let (replies, reset) = self.offline.block_on(async {
            tokio::time::timeout(SESSION_LIMIT, converse(addr, &client))
                .await
                .expect("the SMTP session did not end")
        });
        assert_no_panic_since(before, "the SMTP session");
        check_replies(&replies, reset);
    }
}

/// Sends `client` (then closes the sending side) while reading every reply
/// until the server closes; says whether the connection was reset.
async fn converse(addr: SocketAddr, client: &[u8]) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(addr).await.expect("connect to the sink");
    let (mut reader, mut writer) = stream.split();
    let send = async {
        // The server may close first (QUIT, too many errors); that is not a failure.
        let _ = writer.write_all(client).await;
        let _ = writer.shutdown().await;
    };
    let receive = async {
        let mut replies = Vec::new();
        let reset = reader.read_to_end(&mut replies).await.is_err();
        (replies, reset)
    };
    let ((), received) = tokio::join!(send, receive);
    received
}

#[test]
fn sessions() {
    let sink = std::panic::AssertUnwindSafe(Sink::new());
    check!()
        .with_type::<Input>()
        .with_test_time(CI_TIME)
        .for_each(|input| sink.session(input));
}
