//! The mail sent to a project's users (`/projects/{id}/emails`), read from
//! the mail sink's store, newest first, each opened in place.
//!
//! The sink keeps the envelope, not the project that sent a mail, so "this
//! project's mail" means mail to an address that is a contact channel of one
//! of its users; the page says so and offers all mail as well. A mail's text
//! body is shown as text; its HTML body only as escaped source (rendered
//! HTML is the mail sink's job, in a sandboxed frame).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::html::{self, Esc, Section};
use super::{Dashboard, PageError, ProjectContext};
use crate::db::mail::{self, Message};

/// Mails per page (bodies included).
const PAGE_SIZE: i64 = 25;

/// The query of the emails page.
#[derive(Debug, Deserialize)]
pub struct MailParams {
    /// `all` for every mail the sink holds.
    scope: Option<String>,
    /// Only mail older than this id.
    before: Option<String>,
}

/// `GET /projects/{id}/emails`.
pub async fn index(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    Query(p): Query<MailParams>,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let all = p.scope.as_deref() == Some("all");
    let before = match p.before.as_deref().filter(|b| !b.is_empty()) {
        Some(b) => Some(
            b.parse::<i64>()
                .map_err(|_| PageError::bad_request("The page cursor is not valid."))?,
        ),
        None => None,
    };
    let filter = (!all).then_some(ctx.project.id.as_str());
    let messages = mail::list_with_bodies(&d.state.pool, filter, before, PAGE_SIZE).await?;
    let base = ctx.base();
    let scope = if all { "all" } else { "" };
    let tab = |label: &str, value: &str| {
        let current = if value == scope {
            " class=\"active\" aria-current=\"page\""
        } else {
            ""
        };
        format!(
            "<a href=\"{base}/emails{}\"{current}>{label}</a>",
            html::query(&[("scope", value)])
        )
    };
    let explanation = if all {
        "Every mail the emulator's mail sink holds, from every project, newest first."
    } else {
        "Mail to the email addresses of this project's users, newest first. The mail sink does not \
         record which project sent a mail: a mail to an address that is a user of several projects \
         shows in each, and a mail to an address that is no user's here (a sign-in code for an \
         address that has not signed up yet, say) is only under All mail."
    };
    let list = if messages.is_empty() {
        "<div class=\"empty\">No mail yet. Sign-in codes, magic links, password resets and \
         verification mails show up here as soon as they are sent.</div>"
            .to_owned()
    } else {
        messages.iter().map(message).collect()
    };
    let mut pager = String::new();
    if before.is_some() {
        pager.push_str(&format!(
            "<a class=\"btn btn-small\" href=\"{base}/emails{}\">Newest</a>",
            html::query(&[("scope", scope)])
        ));
    }
    let full = i64::try_from(messages.len()).is_ok_and(|n| n == PAGE_SIZE);
    if let (true, Some(last)) = (full, messages.last()) {
        pager.push_str(&format!(
            "<a class=\"btn btn-small\" rel=\"next\" href=\"{base}/emails{}\">Older</a>",
            html::query(&[("scope", scope), ("before", &last.summary.id.to_string())])
        ));
    }
    let body = format!(
        "<div class=\"page-head\"><div><h1>Emails</h1><p class=\"muted\">{explanation}</p></div></div>\
         <nav class=\"tabs\" aria-label=\"Which mail\">{mine}{every}</nav>\
         <div class=\"mails\">{list}</div><div class=\"pager\">{pager}</div>",
        explanation = Esc(explanation),
        mine = tab("This project's users", ""),
        every = tab("All mail", "all"),
    );
    let chrome = ctx.chrome(Section::Emails, None);
    Ok(html::respond(
        StatusCode::OK,
        html::page("Emails", &chrome, &body),
    ))
}

/// One mail: a summary line that opens, in place, to its headers and bodies.
fn message(m: &Message) -> String {
    let s = &m.summary;
    let subject = if s.subject.is_empty() {
        "(no subject)"
    } else {
        &s.subject
    };
    let text = match m.text_body.as_deref() {
        Some(t) => format!("<pre class=\"mail-text\">{}</pre>", Esc(t)),
        None => "<p class=\"muted\">This mail has no text part.</p>".to_owned(),
    };
    let html_source = m
        .html_body
        .as_deref()
        .map(|h| {
            format!(
                "<details class=\"source\"><summary>HTML part (source)</summary><pre>{}</pre></details>",
                Esc(h)
            )
        })
        .unwrap_or_default();
    format!(
        "<details class=\"mail\" data-mail-id=\"{id}\"><summary><span class=\"mail-subject\">{subject}</span>\
         <span class=\"mail-to\">{to}</span><span class=\"mail-date\">{date}</span></summary>\
         <div class=\"mail-body\"><dl class=\"props\"><dt>From</dt><dd>{from}</dd><dt>To</dt><dd>{all_to}</dd>\
         <dt>Received</dt><dd>{date}</dd><dt>Size</dt><dd>{size} bytes</dd></dl>{text}{html_source}</div></details>",
        id = s.id,
        subject = Esc(subject),
        to = Esc(&s.mailbox),
        date = html::date(&s.received_at),
        from = Esc(&s.sender),
        all_to = Esc(&s.recipients.join(", ")),
        size = s.size_bytes,
    )
}
