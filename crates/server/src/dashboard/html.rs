//! Writing the dashboard's HTML by hand: the escaping helpers every page uses
//! for text that is not a literal of this crate, and the page layout (top bar
//! with the project switcher, left navigation, content).
//!
//! The rule: markup is built with `format!`, and every value that comes from
//! the database, the request or the configuration goes through [`Esc`] (text
//! and quoted attribute values) or [`seg`] (a path segment in a link). The
//! pages use no inline script or style: the Content-Security-Policy forbids
//! both.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::db::projects::ProjectName;

/// Text escaped for HTML element content and double- or single-quoted
/// attribute values, as it is written (no allocation).
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            let entity = match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            };
            f.write_str(entity)?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// `s` percent-encoded for one path segment or query value of a link (then
/// also safe in a quoted attribute: no `&`, `"`, `'`, `<` or `>` is left).
pub fn seg(s: &str) -> String {
    // byte_serialize writes a space as `+` (and a `+` as `%2B`), which a path
    // would keep as a plus sign.
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A query string (`?a=1&amp;b=2`, already escaped for an attribute) of the
/// pairs whose value is not empty; empty when none is.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", seg(k), seg(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&amp;"))
    }
}

/// A time as the pages show it, in UTC.
pub fn date(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A count with thousands separators: `100,000`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A time in a table cell: the day, and the time of day, which may wrap
/// below it on a narrow screen.
pub fn date_cell(at: &DateTime<Utc>) -> String {
    format!(
        "<span class=\"nowrap\">{}</span> <span class=\"nowrap muted\">{}</span>",
        at.format("%Y-%m-%d"),
        at.format("%H:%M UTC")
    )
}

/// The hidden field that carries the CSRF token in every form that posts.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        super::security::CSRF_FIELD,
        Esc(token)
    )
}

/// A small "copy" button for `text` (the script copies it; without script
/// the text itself is still selectable next to it).
pub fn copy_button(text: &str, label: &str) -> String {
    format!(
        "<button type=\"button\" class=\"copy\" data-copy=\"{}\" title=\"Copy {}\">Copy</button>",
        Esc(text),
        Esc(label)
    )
}

/// The part of the dashboard a page belongs to, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The project list.
    Projects,
    /// The VM and the commands that drive it.
    Emulator,
    /// A project's overview.
    Overview,
    /// A project's users (and a user's page).
    Users,
    /// A project's teams (and a team's page).
    Teams,
    /// A project's team and project permission definitions.
    Permissions,
    /// A project's sign-in methods and domains.
    Auth,
    /// The mail sent to a project's users.
    Emails,
    /// A project's API key sets.
    Keys,
    /// A project's effective config and its overrides.
    Config,
}

/// What the frame around a page shows: the switcher's projects, the current
/// project and section, and a notice after a change.
#[derive(Debug)]
pub struct Chrome<'a> {
    /// Every project, for the switcher.
    pub projects: &'a [ProjectName],
    /// The project the page is about.
    pub current: Option<&'a ProjectName>,
    /// The section the page is in.
    pub section: Section,
    /// A line confirming the last change.
    pub notice: Option<&'static str>,
}

/// A whole page: `title` (text) and `body` (markup) in the layout.
pub fn page(title: &str, chrome: &Chrome<'_>, body: &str) -> String {
    let notice = chrome
        .notice
        .map(|n| format!("<p class=\"notice\" role=\"status\">{}</p>", Esc(n)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Stack Auth emulator</title>\
         <link rel=\"icon\" href=\"/static/icon.svg\" type=\"image/svg+xml\">\
         <link rel=\"stylesheet\" href=\"/static/dashboard.css\">\
         <script src=\"/static/dashboard.js\"></script></head>\
         <body>{top}<div class=\"shell\">{nav}<main class=\"content\">{notice}{body}</main></div></body></html>",
        title = Esc(title),
        top = top_bar(chrome),
        nav = side_nav(chrome),
    )
}

fn top_bar(chrome: &Chrome<'_>) -> String {
    let current = chrome.current.map(|p| p.id.as_str());
    let options: String = chrome
        .projects
        .iter()
        .map(|p| {
            format!(
                "<option value=\"{}\"{}>{}</option>",
                Esc(&p.id),
                if current == Some(p.id.as_str()) {
                    " selected"
                } else {
                    ""
                },
                Esc(&p.display_name)
            )
        })
        .collect();
    format!(
        "<header class=\"topbar\"><a class=\"brand\" href=\"/\"><img src=\"/static/icon.svg\" alt=\"\" width=\"22\" height=\"22\">\
         <span>Stack Auth</span><span class=\"tag\">emulator</span></a>\
         <span class=\"slash\" aria-hidden=\"true\">/</span>\
         <form class=\"switcher\" method=\"get\" action=\"/switch\">\
         <label class=\"sr-only\" for=\"project-switcher\">Project</label>\
         <select id=\"project-switcher\" name=\"project\" data-autosubmit>\
         <option value=\"\"{all}>All projects</option>{options}</select>\
         <button class=\"btn btn-small no-js-only\" type=\"submit\">Go</button></form>\
         <span class=\"owner\" title=\"No sign-in: the dashboard acts as the emulator's owner, who administers every project\">\
         <span class=\"avatar\" aria-hidden=\"true\">O</span><span class=\"owner-name\">Emulator owner</span></span></header>",
        all = if current.is_none() { " selected" } else { "" },
    )
}

fn side_nav(chrome: &Chrome<'_>) -> String {
    let link = |href: &str, label: &str, section: Section| {
        let active = if chrome.section == section {
            " class=\"active\" aria-current=\"page\""
        } else {
            ""
        };
        format!("<li><a href=\"{href}\"{active}>{label}</a></li>")
    };
    let project = match chrome.current {
        Some(p) => {
            let base = format!("/projects/{}", seg(&p.id));
            format!(
                "<p class=\"nav-title\" title=\"{id}\">{name}</p><ul>{overview}{users}{teams}{permissions}{auth}{emails}{keys}{config}</ul>",
                id = Esc(&p.id),
                name = Esc(&p.display_name),
                overview = link(&base, "Overview", Section::Overview),
                users = link(&format!("{base}/users"), "Users", Section::Users),
                teams = link(&format!("{base}/teams"), "Teams", Section::Teams),
                permissions = link(
                    &format!("{base}/permissions"),
                    "Permissions",
                    Section::Permissions
                ),
                auth = link(&format!("{base}/auth"), "Auth methods", Section::Auth),
                emails = link(&format!("{base}/emails"), "Emails", Section::Emails),
                keys = link(&format!("{base}/keys"), "API keys", Section::Keys),
                config = link(&format!("{base}/config"), "Config", Section::Config),
            )
        }
        None => String::new(),
    };
    format!(
        "<nav class=\"sidebar\" aria-label=\"Dashboard\"><ul>{}{}</ul>{project}</nav>",
        link("/", "Projects", Section::Projects),
        link("/emulator", "Emulator", Section::Emulator)
    )
}

/// A table in a card, or a line saying there is nothing.
pub fn table_card(title: &str, head: &str, rows: &str, empty: &str) -> String {
    table_card_with(title, head, rows, empty, "")
}

/// [`table_card`] with `after` (markup, such as a form) below the table.
pub fn table_card_with(title: &str, head: &str, rows: &str, empty: &str, after: &str) -> String {
    if rows.is_empty() {
        format!(
            "<section class=\"card\"><h2>{title}</h2><p class=\"muted\">{empty}</p>{after}</section>"
        )
    } else {
        format!(
            "<section class=\"card\"><h2>{title}</h2><div class=\"table-wrap\"><table><thead><tr>{head}</tr></thead>\
             <tbody>{rows}</tbody></table></div>{after}</section>"
        )
    }
}

/// A JSON value in a titled block, pretty-printed (`null` when absent).
pub fn json_block(label: &str, value: Option<&serde_json::Value>) -> String {
    let text = value
        .and_then(|v| serde_json::to_string_pretty(v).ok())
        .unwrap_or_else(|| "null".to_owned());
    format!(
        "<div class=\"meta\"><h3>{label}</h3><pre>{}</pre></div>",
        Esc(&text)
    )
}

/// A checkbox with its label, sent as `name=1` when ticked.
pub fn checkbox(name: &str, label: &str, on: bool) -> String {
    format!(
        "<label class=\"check\"><input type=\"checkbox\" name=\"{name}\" value=\"1\"{}> {label}</label>",
        if on { " checked" } else { "" }
    )
}

/// An HTML answer with `status`.
pub fn respond(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            Esc("<a href=\"x\" onclick='y'>&amp;</a>").to_string(),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(Esc("plain ünïcode").to_string(), "plain ünïcode");
        assert_eq!(Esc("").to_string(), "");
    }

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(100_000), "100,000");
        assert_eq!(count(-1_234_567), "-1,234,567");
    }

    #[test]
    fn link_parts_cannot_leave_their_attribute() {
        assert_eq!(seg("a b+/\"<>&'"), "a%20b%2B%2F%22%3C%3E%26%27");
        assert_eq!(
            query(&[("q", "x&y"), ("empty", ""), ("order", "asc")]),
            "?q=x%26y&amp;order=asc"
        );
        assert_eq!(query(&[("q", "")]), "");
    }
}
