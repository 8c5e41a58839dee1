//! A project's teams (`/projects/{id}/teams`): the table, newest first, with
//! search by name or id, each team's member count and keyset pages
//! ([`crate::db::team_list`], so it stays fast with many teams); and
//! creating a team, through the same [`crate::teams::create_team`] as
//! `POST /teams` with a server key (a creator becomes its first member with
//! the `teamCreator` default permissions).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::html::{self, Esc, Section, seg};
use super::security::{CsrfToken, PostForm};
use super::{Dashboard, PageError, ProjectContext, notice};
use crate::db::contact_channels;
use crate::db::team_list::{self, TeamPage, TeamSummary};
use crate::db::user_list::escape_like;
use crate::teams::{self, Caller, CreateTeam};
use crate::validate::{is_plausible_email, single_line};

/// Teams per page.
const PAGE_SIZE: i64 = 50;

/// Longest team name the dashboard's forms take, in characters.
pub const MAX_TEAM_NAME_CHARS: usize = 256;

/// The dashboard acts as the emulator's owner: a trusted caller without a
/// signed-in user, as a server key is.
pub const OWNER: Caller = Caller {
    client: false,
    user: None,
};

/// The query of the teams page.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    /// Search text.
    q: Option<String>,
    /// First team of the page.
    cursor: Option<String>,
    /// The change just made.
    done: Option<String>,
}

/// `GET /projects/{id}/teams`.
pub async fn index(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    Query(p): Query<ListParams>,
    csrf: axum::Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let search = p.q.as_deref().map(str::trim).unwrap_or_default();
    let cursor = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(
            Uuid::parse_str(c)
                .map_err(|_| PageError::bad_request("The page cursor is not valid."))?,
        ),
        None => None,
    };
    let pattern = (!search.is_empty()).then(|| escape_like(search));
    let query = TeamPage {
        cursor,
        search: pattern.as_deref(),
        limit: PAGE_SIZE + 1,
    };
    let pool = &d.state.pool;
    let mut rows = team_list::page(pool, &ctx.project.id, &query).await?;
    let total = team_list::count(pool, &ctx.project.id).await?;
    let page = usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
    let next = rows.get(page).map(|t| t.id.to_string());
    rows.truncate(page);

    let base = ctx.base();
    let table = if rows.is_empty() {
        let why = if search.is_empty() {
            "No teams yet. Create one here, or through the API."
        } else {
            "No team matches this search."
        };
        format!("<div class=\"empty\">{why}</div>")
    } else {
        let body: String = rows.iter().map(|t| row(&base, t)).collect();
        format!(
            "<div class=\"table-wrap\"><table class=\"teams\"><thead><tr><th>Team</th>\
             <th>Members</th><th class=\"hide-sm\">Team ID</th><th>Created</th></tr></thead>\
             <tbody>{body}</tbody></table></div>"
        )
    };
    let mut pager = String::new();
    if cursor.is_some() {
        let first = html::query(&[("q", search)]);
        pager.push_str(&format!(
            "<a class=\"btn btn-small\" href=\"{base}/teams{first}\">First page</a>"
        ));
    }
    if let Some(next) = &next {
        let href = html::query(&[("q", search), ("cursor", next)]);
        pager.push_str(&format!(
            "<a class=\"btn btn-small\" rel=\"next\" href=\"{base}/teams{href}\">Next page</a>"
        ));
    }
    let body = format!(
        "<div class=\"page-head\"><div><h1>Teams</h1><p class=\"muted\">{count} {noun}</p></div>{create}</div>\
         <form class=\"toolbar\" method=\"get\" action=\"{base}/teams\" role=\"search\">\
         <label class=\"sr-only\" for=\"team-search\">Search</label>\
         <input id=\"team-search\" type=\"search\" name=\"q\" value=\"{q}\" placeholder=\"Search by name or team ID\">\
         <button class=\"btn\" type=\"submit\">Search</button></form>\
         {table}<div class=\"pager\">{pager}</div>",
        count = html::count(total),
        noun = if total == 1 { "team" } else { "teams" },
        create = create_form(&base, csrf.value()),
        q = Esc(search),
    );
    let chrome = ctx.chrome(Section::Teams, notice(p.done.as_deref()));
    Ok(html::respond(
        StatusCode::OK,
        html::page("Teams", &chrome, &body),
    ))
}

fn row(base: &str, t: &TeamSummary) -> String {
    let id = t.id.to_string();
    format!(
        "<tr><td><a class=\"user-cell\" href=\"{base}/teams/{seg}\"><span class=\"avatar\" aria-hidden=\"true\">{initial}</span>\
         <span class=\"name\">{name}</span></a></td><td>{members}</td>\
         <td class=\"hide-sm\"><code class=\"small\">{id}</code></td><td class=\"date\">{created}</td></tr>",
        seg = seg(&id),
        initial = Esc(&super::users::initial(Some(&t.display_name), None)),
        name = Esc(&t.display_name),
        members = html::count(t.member_count),
        id = Esc(&id),
        created = html::date_cell(&t.created_at),
    )
}

fn create_form(base: &str, token: &str) -> String {
    format!(
        "<details class=\"popover\"><summary class=\"btn btn-primary\">Create team</summary>\
         <form method=\"post\" action=\"{base}/teams\" class=\"stack\">{csrf}\
         <label>Display name<input name=\"display_name\" required maxlength=\"{MAX_TEAM_NAME_CHARS}\" autocomplete=\"off\"></label>\
         <label>Creator <span class=\"muted\">(optional user ID or email; becomes the first member)</span>\
         <input name=\"creator\" autocomplete=\"off\"></label>\
         <button class=\"btn btn-primary\" type=\"submit\">Create team</button></form></details>",
        csrf = html::csrf_field(token),
    )
}

/// A team name from a form: one line, not empty, not too long.
///
/// # Errors
/// A 400 saying which rule the name broke.
pub fn team_name(form: &PostForm) -> Result<String, PageError> {
    let name = single_line(form.get("display_name").unwrap_or_default());
    if name.is_empty() {
        return Err(PageError::bad_request(
            "A team needs a display name; enter one.",
        ));
    }
    if name.chars().count() > MAX_TEAM_NAME_CHARS {
        return Err(PageError::bad_request(format!(
            "A team name has at most {MAX_TEAM_NAME_CHARS} characters."
        )));
    }
    Ok(name)
}

/// The user a form names by user ID or email address; the email must belong
/// to exactly one user of the project.
///
/// # Errors
/// A 400 for text that is neither, an email no user or several users have;
/// database failures. A user ID is not looked up here: the domain function
/// that takes it answers `USER_NOT_FOUND`, as the API does.
pub async fn named_user(d: &Dashboard, project_id: &str, raw: &str) -> Result<Uuid, PageError> {
    if let Ok(id) = Uuid::parse_str(raw) {
        return Ok(id);
    }
    if !is_plausible_email(raw) {
        return Err(PageError::bad_request(format!(
            "\u{201c}{raw}\u{201d} is neither a user ID nor an email address; enter one of them."
        )));
    }
    let found = contact_channels::users_with_email(&d.state.pool, project_id, raw, 2).await?;
    match found.as_slice() {
        [id] => Ok(*id),
        [] => Err(PageError::bad_request(format!(
            "No user of this project has the email {raw}; create the user first, or enter a user ID."
        ))),
        _ => Err(PageError::bad_request(format!(
            "Several users of this project have the email {raw}; enter the user ID instead."
        ))),
    }
}

/// `POST /projects/{id}/teams`: creates a team as `POST /teams` does with a
/// server key (a creator given becomes its first member), then opens it.
pub async fn create(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let display_name = team_name(&form)?;
    let creator_user_id = match form.get("creator") {
        Some(raw) => Some(named_user(&d, &ctx.project.id, raw).await?),
        None => None,
    };
    let new = CreateTeam {
        display_name,
        creator_user_id,
        ..CreateTeam::default()
    };
    let team = teams::create_team(&d.state.pool, &ctx.project, OWNER, new).await?;
    Ok(Redirect::to(&format!(
        "{}/teams/{}?done=team-created",
        ctx.base(),
        seg(&team.id.to_string())
    )))
}

/// A team id from the path; an id that is not a UUID names no team.
pub fn team_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| PageError::not_found(format!("There is no team {raw}.")))
}

/// The path of a team's page.
pub fn team_path(ctx: &ProjectContext, id: Uuid) -> String {
    format!("{}/teams/{}", ctx.base(), seg(&id.to_string()))
}

/// The team's page after a change, with the notice `done` (see [`super::notice`]).
pub fn back_to_team(ctx: &ProjectContext, id: Uuid, done: &str) -> Redirect {
    Redirect::to(&format!("{}?done={done}", team_path(ctx, id)))
}
