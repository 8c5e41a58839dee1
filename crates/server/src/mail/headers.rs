//! The header fields of outgoing mail that carry text from users: `From`,
//! whose display name is the project's name, and `Subject`, which contains it.
//!
//! lettre (0.11) does not write these two fields here, because of two limits of
//! its encoders. A display name with CR or LF makes its `From` header panic
//! while the message is built (the name's `Display` fails, and lettre turns it
//! into a string with `to_string`, which panics on that). And neither field is
//! folded inside a word: a project named with 1,000 letters and no space
//! becomes one header line of more than 1,000 bytes, over the 998 that RFC 5322
//! §2.1.1 allows, and SMTP servers (this sink too) refuse the mail.
//!
//! Here every control character first becomes a space, so that text from users
//! can never start a new header line. Words of printable ASCII are written as
//! they are (in the display name as atoms, or as one quoted string when a word
//! needs quoting); every other word, and every word too long for a line, is
//! written as RFC 2047 encoded-words (UTF-8, base64), which a reader decodes
//! back to the same text. Lines are folded at the spaces between words before
//! 78 characters (RFC 5322 §2.1.1), so no line comes near the limit.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::validate::single_line;

/// Line length that folding keeps to, without the CRLF (RFC 5322 §2.1.1's "SHOULD").
const LINE_LIMIT: usize = 78;

/// Bytes of text in one encoded-word: 42 bytes are 56 base64 characters, and
/// with `=?utf-8?b?` and `?=` the word has 68, under RFC 2047's 75, so that
/// `Subject: ` and one encoded-word still fit in [`LINE_LIMIT`].
const ENCODED_WORD_BYTES: usize = 42;

/// Longest word written as it is; a longer one is encoded, since encoded-words
/// can be split across lines and a plain word cannot.
const PLAIN_WORD_CHARS: usize = 64;

/// The value of a `Subject` field for `text`, encoded and folded.
pub fn subject(text: &str) -> String {
    fold("Subject", &unstructured(&single_line(text)))
}

/// The value of a `From` field for `display_name <address>`, encoded and
/// folded; without a name left after cleaning, the bare `<address>`.
pub fn from(display_name: &str, address: &lettre::Address) -> String {
    let mut tokens = phrase(&single_line(display_name));
    tokens.push(format!("<{address}>"));
    fold("From", &tokens)
}

/// A word that can stand as it is in an unstructured field: printable ASCII,
/// short enough for a line, and nothing a reader would take for an
/// encoded-word.
fn is_plain(word: &str) -> bool {
    !word.is_empty()
        && word.len() <= PLAIN_WORD_CHARS
        && word.bytes().all(|b| b.is_ascii_graphic())
        && !word.contains("=?")
}

/// A plain word that is also an RFC 5322 atom (no quoting needed in a phrase).
fn is_atom(word: &str) -> bool {
    is_plain(word)
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b))
}

/// The tokens of an unstructured field: plain words as they are, and each run
/// of other words, with the spaces inside it, as encoded-words. The space
/// between two encoded-words is dropped when they are decoded (RFC 2047 §6.2),
/// so a run keeps its own spaces inside its encoded text.
fn unstructured(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if is_plain(word) {
            if !run.is_empty() {
                tokens.extend(encoded_words(&run.join(" ")));
                run.clear();
            }
            tokens.push(word.to_owned());
        } else {
            run.push(word);
        }
    }
    if !run.is_empty() {
        tokens.extend(encoded_words(&run.join(" ")));
    }
    tokens
}

/// The tokens of a display name (an RFC 5322 phrase): atoms; or one quoted
/// string when every word is printable ASCII; or else encoded-words.
fn phrase(name: &str) -> Vec<String> {
    let words: Vec<&str> = name.split(' ').filter(|w| !w.is_empty()).collect();
    if words.iter().all(|w| is_atom(w)) {
        return words.into_iter().map(str::to_owned).collect();
    }
    if words.iter().all(|w| is_plain(w)) {
        // Folding between the words of a quoted string is allowed (RFC 5322
        // §3.2.4); the quotes go on the first and the last word.
        let last = words.len() - 1;
        return words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
                let open = if i == 0 { "\"" } else { "" };
                let close = if i == last { "\"" } else { "" };
                format!("{open}{escaped}{close}")
            })
            .collect();
    }
    encoded_words(name)
}

/// `text` as RFC 2047 B-encoded UTF-8 words of at most [`ENCODED_WORD_BYTES`]
/// bytes of text each, never splitting a character.
fn encoded_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = ENCODED_WORD_BYTES.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (chunk, tail) = rest.split_at(end);
        words.push(format!("=?utf-8?b?{}?=", BASE64.encode(chunk)));
        rest = tail;
    }
    words
}

/// Joins `tokens` with spaces, folding (CRLF and a space) before a token that
/// would take the line past [`LINE_LIMIT`]; the first line starts after `name: `.
fn fold(name: &str, tokens: &[String]) -> String {
    let mut out = String::new();
    let mut line = name.len() + ": ".len();
    for (i, token) in tokens.iter().enumerate() {
        if i > 0 {
            if line + 1 + token.len() > LINE_LIMIT {
                out.push_str("\r\n ");
                line = 1;
            } else {
                out.push(' ');
                line += 1;
            }
        }
        out.push_str(token);
        line += token.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> lettre::Address {
        "noreply@stack-emulator.localhost"
            .parse()
            .expect("a valid address")
    }

    /// The decoded text of a field value, as a mail reader shows it.
    fn decoded(field: &str, value: &str) -> String {
        let raw = format!("{field}: {value}\r\n\r\n");
        let message = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .expect("a parsable header");
        match field {
            "Subject" => message.subject().unwrap_or_default().to_owned(),
            _ => {
                let from = message
                    .from()
                    .and_then(|a| a.first())
                    .expect("a From address");
                format!(
                    "{} <{}>",
                    from.name().unwrap_or_default(),
                    from.address().unwrap_or_default()
                )
            }
        }
    }

    fn assert_safe_lines(field: &str, value: &str) {
        for line in format!("{field}: {value}").split("\r\n") {
            assert!(
                line.len() <= LINE_LIMIT,
                "line of {} bytes: {line:?}",
                line.len()
            );
            assert!(
                line.bytes().all(|b| b.is_ascii_graphic() || b == b' '),
                "{line:?}"
            );
        }
        for continuation in value.split("\r\n").skip(1) {
            assert!(continuation.starts_with(' '), "{continuation:?}");
        }
    }

    #[test]
    fn plain_names_and_subjects_stay_readable() {
        assert_eq!(
            from("My App", &address()),
            "My App <noreply@stack-emulator.localhost>"
        );
        assert_eq!(
            from("Acme, Inc.", &address()),
            "\"Acme, Inc.\" <noreply@stack-emulator.localhost>"
        );
        assert_eq!(
            from("Say \"hi\"", &address()),
            "\"Say \\\"hi\\\"\" <noreply@stack-emulator.localhost>"
        );
        assert_eq!(
            from("\r\n", &address()),
            "<noreply@stack-emulator.localhost>"
        );
        assert_eq!(
            subject("Sign in to My App: Your code is ABC123"),
            "Sign in to My App: Your code is ABC123"
        );
    }

    #[test]
    fn crlf_cannot_start_a_header_line() {
        let name = "Evil\r\nBcc: victim@example.com\r\n\r\nbody";
        let value = from(name, &address());
        assert_safe_lines("From", &value);
        assert_eq!(
            decoded("From", &value),
            "Evil Bcc: victim@example.com body <noreply@stack-emulator.localhost>"
        );
        let value = subject(&format!("Sign in to {name}: Your code is X"));
        assert_safe_lines("Subject", &value);
        assert_eq!(
            decoded("Subject", &value),
            "Sign in to Evil Bcc: victim@example.com body: Your code is X"
        );
    }

    #[test]
    fn a_thousand_character_name_is_folded_and_decodes_to_itself() {
        let name = "x".repeat(1000);
        let value = from(&name, &address());
        assert_safe_lines("From", &value);
        assert_eq!(
            decoded("From", &value),
            format!("{name} <noreply@stack-emulator.localhost>")
        );
        let text = format!("Sign in to {name}: Your code is X");
        let value = subject(&text);
        assert_safe_lines("Subject", &value);
        assert_eq!(decoded("Subject", &value), text);
    }

    #[test]
    fn non_ascii_and_lookalike_words_are_encoded() {
        for text in [
            "Café Ünïcode 🦀 app",
            "=?utf-8?b?QUJD?= is not decoded",
            &"é".repeat(500),
            &"word ".repeat(300),
        ] {
            let value = subject(text);
            assert_safe_lines("Subject", &value);
            assert_eq!(decoded("Subject", &value), single_line(text));
            let value = from(text, &address());
            assert_safe_lines("From", &value);
            assert_eq!(
                decoded("From", &value),
                format!("{} <noreply@stack-emulator.localhost>", single_line(text))
            );
        }
    }
}
