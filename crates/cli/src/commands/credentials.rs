//! `credentials`: the project and keys for an app's config file, written out
//! as shell `NAME=value` lines, as the body of a .env file, or as JSON.
//!
//! Which variables there are is `Credentials::vars`, shared with `run`; this
//! module only writes them. Each format quotes for its reader: `env` for a
//! POSIX shell, `dotenv` for the `dotenv` package followed by `dotenv-expand`,
//! which is how Next.js, Vite and Expo load .env files.

use std::path::Path;

use stack_emulator::credentials::{self, Credentials};
use stack_emulator::home::Home;
use stack_emulator::printer::Printer;

use crate::cli::Format;
use crate::exit::Exit;

/// `stack-emulator credentials`.
///
/// # Errors
/// Not running, the API refused, or a value that the format cannot hold.
pub async fn credentials(
    home: &Home,
    printer: &Printer,
    config_file: Option<&Path>,
    format: Format,
) -> anyhow::Result<u8> {
    credentials::require_running(home)?;
    let path = credentials::config_path(config_file)?;
    let (creds, notes) = credentials::fetch(home, &path).await?;
    if let Some(line) = notes.warning(&path) {
        printer.warn(&line);
    }
    printer.result(&render(&creds, format, Some(&path))?);
    Ok(Exit::Success.code())
}

/// Prints `creds` in `format` (what `start --config-file` shows, as `env`).
///
/// Only `dotenv` can fail (see [`NotInDotenv`]); then the reason is printed
/// as a warning instead, since this helper has no error to return.
pub fn print_credentials(printer: &Printer, creds: &Credentials, format: Format) {
    match render(creds, format, None) {
        Ok(text) => printer.result(&text),
        Err(e) => printer.warn(&e.to_string()),
    }
}

/// `creds` as text in `format`, without a final newline. `config_file` is
/// named in the header of a .env file.
///
/// # Errors
/// A value that a .env file cannot hold, for [`Format::Dotenv`] only.
pub fn render(
    creds: &Credentials,
    format: Format,
    config_file: Option<&Path>,
) -> Result<String, NotInDotenv> {
    let vars = creds.vars();
    match format {
        Format::Env => Ok(env_lines(&vars)),
        Format::Dotenv => dotenv_file(creds, &vars, config_file),
        Format::Json => Ok(json_object(&vars)),
    }
}

/// A value that no quoting of a .env file keeps intact.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the value of {name} cannot be written in a .env file: it holds {reason}; \
     use --format env or --format json instead"
)]
pub struct NotInDotenv {
    /// The variable.
    pub name: &'static str,
    /// What in the value is in the way.
    pub reason: &'static str,
}

/// Whether `value` needs no quotes, neither in a shell nor in a .env file:
/// URLs, ids and keys. Leaves out `~` (a shell expands it after `=` and `:`),
/// `#` (starts a .env comment) and `$` (both expand it).
fn is_plain(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c))
}

/// `NAME=value` lines that a POSIX shell reads back (`eval`, `.`) as the
/// same values; a plain value is written as it is.
fn env_lines(vars: &[(&str, &str)]) -> String {
    vars.iter()
        .map(|(name, value)| format!("{name}={}", shell_word(value)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `value` as one shell word: in single quotes, inside which only `'` itself
/// is special, so it is closed, escaped and reopened.
fn shell_word(value: &str) -> String {
    if is_plain(value) {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// A .env file: a header comment saying what it is for, then one
/// `NAME=value` line per variable.
fn dotenv_file(
    creds: &Credentials,
    vars: &[(&'static str, &str)],
    config_file: Option<&Path>,
) -> Result<String, NotInDotenv> {
    let mut lines = vec![
        format!(
            "# Stack Auth project {} on the local stack-emulator, API {}",
            one_line(&creds.project_id),
            one_line(&creds.api_url)
        ),
        "# from `stack-emulator credentials --format dotenv`; `stack-emulator reset` makes new keys"
            .to_owned(),
    ];
    if let Some(path) = config_file {
        lines.insert(
            1,
            format!(
                "# for the config file {}",
                one_line(&path.display().to_string())
            ),
        );
    }
    for &(name, value) in vars {
        let value = dotenv_value(value).map_err(|reason| NotInDotenv { name, reason })?;
        lines.push(format!("{name}={value}"));
    }
    Ok(lines.join("\n"))
}

/// `text` fit for one comment line: a line break in it would end the comment.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `value` as a .env file must spell it for `dotenv` and `dotenv-expand` to
/// give it back, or what in it is in the way.
///
/// The rules, from `dotenv`'s parser: an unquoted value ends at `#` or the end
/// of the line and loses surrounding spaces; a value in `'`, `"` or `` ` ``
/// runs to the next such quote, line breaks included, and has no escapes,
/// except that in `"` the two-character sequences `\n` and `\r` become line
/// breaks; a CR in the file is read as a line break. `dotenv-expand` then
/// replaces `$NAME` and `${NAME}` everywhere and turns `\$` into `$`.
fn dotenv_value(value: &str) -> Result<String, &'static str> {
    if value.contains(r"\$") {
        return Err(r"`\$`, which dotenv-expand always reads as `$`");
    }
    if is_plain(value) {
        return Ok(value.to_owned());
    }
    let text = value.replace('$', r"\$");
    if !value.contains(['\'', '\r']) {
        return Ok(format!("'{text}'"));
    }
    if !value.contains('"') && !value.contains(r"\n") && !value.contains(r"\r") {
        let text = text.replace('\n', r"\n").replace('\r', r"\r");
        return Ok(format!("\"{text}\""));
    }
    if !value.contains(['`', '\r']) {
        return Ok(format!("`{text}`"));
    }
    Err("all three quote characters, or a carriage return with `'` and `\"` or `\\n`")
}

/// One JSON object, its members in the order of `vars`.
fn json_object(vars: &[(&str, &str)]) -> String {
    let members: Vec<String> = vars
        .iter()
        .map(|(name, value)| format!("{}:{}", json_string(name), json_string(value)))
        .collect();
    format!("{{{}}}", members.join(","))
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// Values with everything a quoting has to get right: spaces, both
    /// quotes, `$` before a name and not, line breaks, `#`, an empty one.
    fn tricky() -> [Credentials; 2] {
        [
            Credentials {
                api_url: "http://127.0.0.1:8102".to_owned(),
                project_id: "with spaces, a \"double\" quote and # not a comment".to_owned(),
                publishable_client_key: "it's $HOME, ${PATH} and $ alone".to_owned(),
                secret_server_key: "line one\nline two\n".to_owned(),
            },
            Credentials {
                api_url: "it's a \"test\" at $5\nand more".to_owned(),
                project_id: "it's\r\nwindows".to_owned(),
                publishable_client_key: String::new(),
                secret_server_key: "  edges and a `tick`  ".to_owned(),
            },
        ]
    }

    fn plain() -> Credentials {
        Credentials {
            api_url: "http://127.0.0.1:8102".to_owned(),
            project_id: "6c2f3f2e-6a51-4c57-9d3a-0e8b2f1c7a10".to_owned(),
            publishable_client_key: "pck_3b1f0a".to_owned(),
            secret_server_key: "ssk_9e2d4c".to_owned(),
        }
    }

    fn owned(vars: Vec<(&str, &str)>) -> Vec<(String, String)> {
        vars.into_iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn plain_values_are_written_as_they_are() {
        let text = render(&plain(), Format::Env, None).unwrap();
        assert!(
            text.lines()
                .any(|l| l == "NEXT_PUBLIC_STACK_API_URL=http://127.0.0.1:8102"),
            "{text}"
        );
        assert_eq!(text.lines().count(), plain().vars().len());
        let text = render(&plain(), Format::Dotenv, None).unwrap();
        assert!(
            text.lines()
                .any(|l| l == "STACK_SECRET_SERVER_KEY=ssk_9e2d4c"),
            "{text}"
        );
    }

    /// The shell reads the lines back as the same values (`eval`, as in
    /// `eval "$(stack-emulator credentials)"`).
    #[test]
    fn env_lines_read_back_in_a_shell() {
        for creds in tricky().iter().chain([&plain()]) {
            let text = render(creds, Format::Env, None).unwrap();
            let mut script = format!("{text}\n");
            for (name, _) in creds.vars() {
                script.push_str(&format!("printf '%s\\0' \"${name}\"\n"));
            }
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&script)
                .env_clear()
                .output()
                .unwrap();
            assert!(out.status.success(), "{script}");
            let stdout = String::from_utf8(out.stdout).unwrap();
            let got: Vec<&str> = stdout.split_terminator('\0').collect();
            let want: Vec<&str> = creds.vars().into_iter().map(|(_, v)| v).collect();
            assert_eq!(got, want, "{text}");
        }
    }

    /// Reads a .env body the way `dotenv` and then `dotenv-expand` do, for
    /// the forms `dotenv_value` writes; a `$` that expansion would replace
    /// fails the test instead of being guessed at.
    fn read_dotenv(text: &str) -> Vec<(String, String)> {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let mut rest = text.as_str();
        let mut vars = Vec::new();
        while !rest.is_empty() {
            let (line_start, after) = rest.split_at(rest.find('\n').map_or(rest.len(), |i| i + 1));
            if line_start.trim().is_empty() || line_start.starts_with('#') {
                rest = after;
                continue;
            }
            let (name, value_start) = rest.split_once('=').unwrap();
            let (raw, tail) = match value_start.chars().next() {
                Some(q @ ('\'' | '"' | '`')) => {
                    let end = value_start[1..].find(q).unwrap() + 1;
                    let inner = &value_start[1..end];
                    let inner = if q == '"' {
                        inner.replace(r"\n", "\n").replace(r"\r", "\r")
                    } else {
                        inner.to_owned()
                    };
                    let tail = &value_start[end + 1..];
                    let tail = tail.strip_prefix('\n').unwrap_or(tail);
                    (inner, tail)
                }
                _ => {
                    let end = value_start.find('\n').map_or(value_start.len(), |i| i + 1);
                    let line = &value_start[..end];
                    let line = line.split('#').next().unwrap_or_default();
                    (line.trim().to_owned(), &value_start[end..])
                }
            };
            let bytes = raw.as_bytes();
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'$' {
                    assert!(i > 0 && bytes[i - 1] == b'\\', "unescaped $ in {raw:?}");
                }
            }
            vars.push((name.to_owned(), raw.replace(r"\$", "$")));
            rest = tail;
        }
        vars
    }

    #[test]
    fn a_dotenv_file_reads_back_as_the_same_values() {
        for creds in tricky().iter().chain([&plain()]) {
            let text = render(creds, Format::Dotenv, None).unwrap();
            assert_eq!(read_dotenv(&text), owned(creds.vars()), "{text}");
        }
    }

    #[test]
    fn each_quoting_is_used_where_it_is_needed() {
        assert_eq!(dotenv_value("a b $X").unwrap(), r"'a b \$X'");
        assert_eq!(dotenv_value("it's\n").unwrap(), "\"it's\\n\"");
        assert_eq!(dotenv_value("it's \"x\"").unwrap(), "`it's \"x\"`");
        assert_eq!(dotenv_value("").unwrap(), "''");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("~/x"), "'~/x'");
    }

    #[test]
    fn a_value_no_dotenv_quoting_holds_is_an_error_naming_the_variable() {
        for value in [r"a\$b", "'\"`", "'\"\r"] {
            let mut creds = plain();
            creds.secret_server_key = value.to_owned();
            let Err(e) = render(&creds, Format::Dotenv, None) else {
                panic!("{value:?} was written");
            };
            assert_eq!(e.name, "HEXCLAVE_SECRET_SERVER_KEY", "{value:?}");
            assert!(e.to_string().contains("--format json"), "{e}");
            assert!(render(&creds, Format::Env, None).is_ok());
            assert!(render(&creds, Format::Json, None).is_ok());
        }
    }

    #[test]
    fn the_dotenv_header_names_the_project_the_emulator_and_the_config_file() {
        let path = PathBuf::from("/home/me/app\nname/stack.config.ts");
        let text = render(&plain(), Format::Dotenv, Some(&path)).unwrap();
        let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
        assert_eq!(
            header,
            [
                "# Stack Auth project 6c2f3f2e-6a51-4c57-9d3a-0e8b2f1c7a10 on the local stack-emulator, API http://127.0.0.1:8102",
                "# for the config file /home/me/app?name/stack.config.ts",
                "# from `stack-emulator credentials --format dotenv`; `stack-emulator reset` makes new keys",
            ]
        );
        assert_eq!(
            text.lines().count(),
            header.len() + plain().vars().len(),
            "{text}"
        );
    }

    #[test]
    fn the_json_object_reads_back_in_order() {
        for creds in tricky().iter().chain([&plain()]) {
            let text = render(creds, Format::Json, None).unwrap();
            assert_eq!(text.lines().count(), 1, "{text}");
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text).unwrap();
            let vars = owned(creds.vars());
            assert_eq!(map.len(), vars.len());
            for (name, value) in &vars {
                assert_eq!(map[name], serde_json::Value::from(value.as_str()), "{name}");
            }
            let positions: Vec<usize> = vars
                .iter()
                .map(|(name, _)| text.find(&format!("\"{name}\":")).unwrap())
                .collect();
            assert!(positions.is_sorted(), "{text}");
        }
    }
}
