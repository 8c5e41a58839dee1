//! A project's overview (`/projects/{id}`), its landing page: the user
//! count, sign-ups per day over the last 30 days as a bar chart drawn here
//! in SVG, the sessions active in that time, and the users most recently
//! active. Every number reads a range of an index ([`crate::db::stats`],
//! [`crate::db::user_list`]), so the page stays fast with many users.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Duration, NaiveDate, Utc};
use serde::Deserialize;

use super::html::{self, Esc, Section, seg};
use super::users::initial;
use super::{Dashboard, PageError, ProjectContext, notice};
use crate::db::stats;
use crate::db::user_list::{self, ListQuery, UserOrder};
use crate::db::users::UserRecord;

/// Days the chart and the active-session count look back.
const WINDOW_DAYS: i64 = 30;

/// Users in the "recently active" list.
const RECENT_USERS: i64 = 10;

/// The chart's drawing area, in SVG user units (it scales to the card).
const CHART_WIDTH: i64 = 600;
const CHART_HEIGHT: i64 = 140;

/// The query of the overview.
#[derive(Debug, Deserialize)]
pub struct OverviewParams {
    done: Option<String>,
}

/// `GET /projects/{id}`.
pub async fn show(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    Query(p): Query<OverviewParams>,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let pool = &d.state.pool;
    let pid = ctx.project.id.as_str();
    let today = Utc::now().date_naive();
    let first_day = today - Duration::days(WINDOW_DAYS - 1);
    let since = first_day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let recent_query = ListQuery {
        cursor: None,
        search: None,
        team_id: None,
        include_anonymous: false,
        only_anonymous: false,
        include_restricted: true,
        require_verified: false,
        order: UserOrder::LastActiveAt,
        desc: true,
        limit: RECENT_USERS,
    };
    // Four independent reads, each on a connection of its own: at 100,000
    // users the page then takes as long as the slowest, not their sum.
    let (total, per_day, sessions, recent) = tokio::try_join!(
        user_list::count(pool, pid, false),
        stats::sign_ups_per_day(pool, pid, since),
        stats::active_sessions(pool, pid, Utc::now() - Duration::days(WINDOW_DAYS)),
        user_list::list(pool, pid, &recent_query),
    )?;
    let days: Vec<(NaiveDate, i64)> = (0..WINDOW_DAYS)
        .map(|i| {
            let day = first_day + Duration::days(i);
            let n = per_day
                .iter()
                .find(|(d, _)| *d == day)
                .map_or(0, |(_, n)| *n);
            (day, n)
        })
        .collect();
    let new_users: i64 = days.iter().map(|(_, n)| n).sum();
    let base = ctx.base();
    let body = format!(
        "<div class=\"page-head\"><div><h1>Overview</h1><p class=\"muted\">{name}</p></div></div>\
         <div class=\"stats\">{total}{new}{active}</div>\
         <section class=\"card\"><h2>Sign-ups per day</h2>{chart}</section>\
         <section class=\"card\"><h2>Recently active users</h2>{recent}</section>",
        name = Esc(&ctx.project.display_name),
        total = stat("Total users", total, &format!("{base}/users")),
        new = stat(
            "Sign-ups, last 30 days",
            new_users,
            &format!("{base}/users")
        ),
        active = stat("Active sessions, last 30 days", sessions, ""),
        chart = chart(&days),
        recent = recent_table(&base, &recent),
    );
    let chrome = ctx.chrome(Section::Overview, notice(p.done.as_deref()));
    Ok(html::respond(
        StatusCode::OK,
        html::page("Overview", &chrome, &body),
    ))
}

/// One number with its label, a link when `href` is not empty.
fn stat(label: &str, n: i64, href: &str) -> String {
    let value = html::count(n);
    let value = if href.is_empty() {
        value
    } else {
        format!("<a href=\"{href}\">{value}</a>")
    };
    format!(
        "<div class=\"card stat\"><p class=\"stat-label\">{label}</p><p class=\"stat-value\">{value}</p></div>"
    )
}

/// The sign-ups of each day as bars, scaled to the busiest day; each bar's
/// `<title>` gives its day and count.
fn chart(days: &[(NaiveDate, i64)]) -> String {
    let max = days.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let slot = CHART_WIDTH / i64::try_from(days.len().max(1)).unwrap_or(1);
    let bars: String = days
        .iter()
        .enumerate()
        .map(|(i, (day, n))| {
            let height = if *n == 0 { 0 } else { (n * CHART_HEIGHT / max).max(2) };
            let x = i64::try_from(i).unwrap_or(0) * slot + 2;
            format!(
                "<rect class=\"bar\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{height}\" rx=\"2\">\
                 <title>{day}: {n} sign-up{s}</title></rect>",
                y = CHART_HEIGHT - height,
                w = slot - 4,
                s = if *n == 1 { "" } else { "s" },
            )
        })
        .collect();
    let (first, last) = match (days.first(), days.last()) {
        (Some((a, _)), Some((b, _))) => (
            a.format("%b %-d").to_string(),
            b.format("%b %-d").to_string(),
        ),
        _ => (String::new(), String::new()),
    };
    format!(
        "<figure class=\"chart\"><p class=\"chart-max muted small\">{max} per day at most</p>\
         <svg viewBox=\"0 0 {CHART_WIDTH} {h}\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"Sign-ups per day, last {WINDOW_DAYS} days\">\
         <line class=\"axis\" x1=\"0\" y1=\"{CHART_HEIGHT}\" x2=\"{CHART_WIDTH}\" y2=\"{CHART_HEIGHT}\"></line>{bars}</svg>\
         <figcaption class=\"chart-axis muted small\"><span>{first}</span><span>today ({last})</span></figcaption></figure>",
        h = CHART_HEIGHT + 1,
        max = html::count(max),
    )
}

/// The most recently active users, each linking to their page.
fn recent_table(base: &str, users: &[UserRecord]) -> String {
    if users.is_empty() {
        return "<div class=\"empty\">No user has signed in yet.</div>".to_owned();
    }
    let rows: String = users
        .iter()
        .map(|u| {
            let name = u.display_name.as_deref().filter(|n| !n.is_empty());
            let email = u.primary_email.as_deref();
            let second = match (name, email) {
                (Some(_), Some(e)) => format!("<span class=\"email\">{}</span>", Esc(e)),
                _ => String::new(),
            };
            format!(
                "<tr><td><a class=\"user-cell\" href=\"{base}/users/{id}\"><span class=\"avatar\" aria-hidden=\"true\">{initial}</span>\
                 <span><span class=\"name\">{first}</span>{second}</span></a></td><td class=\"date\">{at}</td></tr>",
                id = seg(&u.id.to_string()),
                initial = Esc(&initial(name, email)),
                first = Esc(name.or(email).unwrap_or("(no name)")),
                at = html::date_cell(&u.last_active_at),
            )
        })
        .collect();
    format!(
        "<div class=\"table-wrap\"><table><thead><tr><th>User</th><th>Last active</th></tr></thead>\
         <tbody>{rows}</tbody></table></div>"
    )
}
