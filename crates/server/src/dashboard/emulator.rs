//! The emulator page (`/emulator`): the VM this server runs in, as the host
//! described it at the last start (accelerator, image, how it came up, the
//! snapshot, ports, when the keys were rotated), this server's own facts, and
//! the commands a developer copies. The host hands the facts over with the
//! request that sets the clock or rotates the keys at every start
//! ([`stack_proto::session`]); a `stack-server` the emulator did not start
//! has none, and the page says so.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, TimeDelta, Utc};
use stack_proto::session::SessionFacts;

use super::html::{self, Chrome, Esc, Section};
use super::{Dashboard, PageError};
use crate::db::projects as project_rows;

/// `GET /emulator`.
pub async fn show(State(d): State<Dashboard>) -> Result<Response, PageError> {
    let projects = project_rows::names(&d.state.pool).await?;
    let chrome = Chrome {
        projects: &projects,
        current: None,
        section: Section::Emulator,
        notice: None,
    };
    let now = Utc::now();
    let runtime = d.state.runtime().await.ok();
    let api_url = runtime.as_ref().map(|rt| rt.public_api_url.clone());
    // Read once: a start may replace the facts while the page is drawn.
    let facts = d.state.session_facts();
    let (vm, ports) = match &facts {
        Some(facts) => (vm_card(facts, now), ports_card(facts)),
        None => (
            "<section class=\"card\"><h2>Virtual machine</h2>\
             <p>This <code>stack-server</code> was not started by <code>stack-emulator</code>, so there is \
             no VM to describe: it runs on this machine as a process of its own (<code>stack-server serve</code>). \
             Start the emulator with <code>stack-emulator start</code> to get the API, dashboard, mail sink and \
             mock OAuth provider in a VM that resumes from a snapshot.</p></section>"
                .to_owned(),
            String::new(),
        ),
    };
    let server = format!(
        "<section class=\"card\"><h2>Server</h2><dl class=\"props\">\
         <dt>stack-server</dt><dd>{version}</dd>\
         <dt>Process started</dt><dd>{since} <span class=\"muted\">({uptime} ago{frozen})</span></dd>\
         <dt>Public API URL</dt><dd><code>{api}</code></dd>\
         <dt>Mock OAuth URL</dt><dd><code>{oauth}</code></dd></dl></section>",
        version = Esc(env!("CARGO_PKG_VERSION")),
        since = html::date(&d.state.started_at()),
        uptime = Esc(&duration(now - d.state.started_at())),
        // A resumed snapshot holds the server process it was captured with.
        frozen = match &facts {
            Some(f) if f.boot != "cold-boot" => ", kept in the snapshot since",
            _ => "",
        },
        api = Esc(api_url.as_deref().unwrap_or("not loaded yet")),
        oauth = Esc(&runtime
            .as_ref()
            .and_then(|rt| d.state.settings.oauth.issuer(rt))
            .unwrap_or_else(|| "none".to_owned())),
    );
    let body = format!(
        "<div class=\"page-head\"><div><h1>Emulator</h1>\
         <p class=\"muted\">The VM behind this dashboard, and the commands that drive it.</p></div></div>\
         <div class=\"cols\">{vm}{ports}{server}{commands}</div>",
        commands = commands_card(),
    );
    Ok(html::respond(
        StatusCode::OK,
        html::page("Emulator", &chrome, &body),
    ))
}

/// How the guest came up, for a person.
fn boot_text(boot: &str) -> &str {
    match boot {
        "cold-boot" => "booted from its disk (no snapshot)",
        "pristine-resume" => {
            "resumed from the image's pristine snapshot, then given this install's keys"
        }
        "session-resume" => "resumed from the hibernated session",
        other => other,
    }
}

fn vm_card(facts: &SessionFacts, now: DateTime<Utc>) -> String {
    let started = DateTime::from_timestamp_millis(facts.started_at_unix_millis);
    let accelerator = if facts.accelerator == "tcg" {
        format!(
            "<span class=\"badge badge-amber\">tcg</span> software emulation, slower: {}",
            Esc(&facts.accelerator_reason)
        )
    } else {
        format!(
            "<span class=\"badge badge-green\">{}</span> <span class=\"muted\">{}</span>",
            Esc(&facts.accelerator),
            Esc(&facts.accelerator_reason)
        )
    };
    let rotated = match facts
        .keys_rotated_at_unix_millis
        .and_then(DateTime::from_timestamp_millis)
    {
        Some(at) => format!(
            "{} <span class=\"muted\">({} ago)</span>",
            html::date(&at),
            Esc(&duration(now - at))
        ),
        None => "<span class=\"badge badge-red\">never</span> this VM runs with its image's keys \
                 (<code>--no-rotation</code>), which other installs share"
            .to_owned(),
    };
    let snapshot = match &facts.snapshot {
        Some(fingerprint) => format!(
            "<code title=\"{full}\">{short}</code> <span class=\"muted\">stop hibernates the VM into it</span>",
            full = Esc(fingerprint),
            short = Esc(&fingerprint.chars().take(12).collect::<String>()),
        ),
        None => "<span class=\"muted\">none: this VM shuts down on stop</span>".to_owned(),
    };
    format!(
        "<section class=\"card\"><h2>Virtual machine</h2><dl class=\"props\">\
         <dt>State</dt><dd><span class=\"badge badge-green\">running</span></dd>\
         <dt>Accelerator</dt><dd>{accelerator}</dd>\
         <dt>Image</dt><dd><code>{image}</code></dd>\
         <dt>Came up</dt><dd>{boot}</dd>\
         <dt>Snapshot</dt><dd>{snapshot}</dd>\
         <dt>Started</dt><dd>{started}</dd>\
         <dt>Keys rotated</dt><dd>{rotated}</dd>\
         <dt>State directory</dt><dd><code>{home}</code></dd>\
         <dt>stack-emulator</dt><dd>{version}</dd></dl></section>",
        image = Esc(&facts.image_version),
        boot = Esc(boot_text(&facts.boot)),
        started = match started {
            Some(at) => format!(
                "{} <span class=\"muted\">(up {})</span>",
                html::date(&at),
                Esc(&duration(now - at))
            ),
            None => "unknown".to_owned(),
        },
        home = Esc(&facts.home),
        version = Esc(&facts.emulator_version),
    )
}

fn ports_card(facts: &SessionFacts) -> String {
    let rows: String = facts
        .ports
        .iter()
        .map(|p| {
            let url = format!("http://localhost:{}", p.host);
            format!(
                "<tr><td>{service}</td><td><a href=\"{url}\">{url}</a> {copy}</td><td class=\"muted\">{guest}</td></tr>",
                service = Esc(&p.service),
                copy = html::copy_button(&url, &p.service),
                guest = p.guest,
            )
        })
        .collect();
    format!(
        "<section class=\"card\"><h2>Ports</h2><div class=\"table-wrap\"><table>\
         <thead><tr><th>Service</th><th>On this machine</th><th>In the guest</th></tr></thead>\
         <tbody>{rows}</tbody></table></div></section>"
    )
}

/// The commands to copy: what each does, and the line.
const COMMANDS: [(&str, &str); 6] = [
    (
        "The project and keys for an app's config file",
        "stack-emulator credentials --config-file stack.config.ts",
    ),
    (
        "Run a command with those keys in its environment",
        "stack-emulator run --config-file stack.config.ts -- npm test",
    ),
    (
        "Whether the emulator runs, and how",
        "stack-emulator status",
    ),
    (
        "The guest's console and service logs",
        "stack-emulator logs",
    ),
    ("Hibernate the VM (data is kept)", "stack-emulator stop"),
    ("Delete the session's data and keys", "stack-emulator reset"),
];

fn commands_card() -> String {
    let rows: String = COMMANDS
        .iter()
        .map(|(what, line)| {
            format!(
                "<dt>{what}</dt><dd><code>{line}</code>{copy}</dd>",
                what = Esc(what),
                line = Esc(line),
                copy = html::copy_button(line, "command"),
            )
        })
        .collect();
    format!("<section class=\"card\"><h2>Commands</h2><dl class=\"props\">{rows}</dl></section>")
}

/// A span of time, for a person: `42 s`, `5 min`, `3 h 12 min`, `2 d 4 h`.
fn duration(span: TimeDelta) -> String {
    let s = span.num_seconds().max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min", s / 60),
        3_600..86_400 => format!("{} h {} min", s / 3_600, s % 3_600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3_600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_the_largest_units() {
        assert_eq!(duration(TimeDelta::seconds(-5)), "0 s");
        assert_eq!(duration(TimeDelta::seconds(59)), "59 s");
        assert_eq!(duration(TimeDelta::seconds(61)), "1 min");
        assert_eq!(
            duration(TimeDelta::seconds(3_600 * 3 + 60 * 12)),
            "3 h 12 min"
        );
        assert_eq!(
            duration(TimeDelta::seconds(86_400 * 2 + 3_600 * 4)),
            "2 d 4 h"
        );
    }
}
