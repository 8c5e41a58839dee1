//! A team's members on its page: each member's user, team member profile
//! name and team permissions (granted directly, and those they contain),
//! with granting and revoking a team permission, removing a member and
//! adding one. The same functions as `/team-memberships` and
//! `/team-permissions` with a server key ([`crate::teams::members`],
//! [`crate::permissions::grants`]).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Redirect;
use uuid::Uuid;

use super::html::table_card_with;
use super::html::{self, Esc, seg};
use super::security::PostForm;
use super::teams::{OWNER, back_to_team, named_user, team_id};
use super::{Dashboard, PageError, ProjectContext};
use crate::db::permissions::{self as grant_rows, GrantsOf};
use crate::db::teams::{self as team_rows, MemberRecord};
use crate::permissions::grants::{self, Holder};
use crate::permissions::{self, Definition, Scope};
use crate::teams::members::{self, MemberProfile};

/// Members on one page of the members table: each row carries its own
/// forms, so a team of thousands would otherwise make a page of megabytes.
const MEMBERS_PER_PAGE: usize = 50;

/// The members card of a team's page, showing page `page` (from 1) of the
/// members.
///
/// # Errors
/// Database failures.
pub async fn section(
    d: &Dashboard,
    ctx: &ProjectContext,
    team_id: Uuid,
    here: &str,
    token: &str,
    page: usize,
) -> Result<String, PageError> {
    let pool = &d.state.pool;
    let pid = ctx.project.id.as_str();
    let rows = team_rows::members(pool, pid, Some(team_id), None).await?;
    let grant_list =
        grant_rows::list_grants(pool, pid, GrantsOf::Teams(Some(team_id)), None, None).await?;
    let mut direct: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    for g in grant_list {
        direct.entry(g.user_id).or_default().push(g.permission_id);
    }
    let defs = permissions::scope_definitions(&ctx.project.rendered, Scope::Team);
    let choices = permissions::definitions(&ctx.project.rendered, Scope::Team);
    let total = rows.len();
    let pages = total.div_ceil(MEMBERS_PER_PAGE).max(1);
    let page = page.clamp(1, pages);
    let body: String = rows
        .into_iter()
        .skip((page - 1) * MEMBERS_PER_PAGE)
        .take(MEMBERS_PER_PAGE)
        .map(|m| {
            let ids = direct.remove(&m.user.id).unwrap_or_default();
            let held = Held::of(&defs, &ids);
            member_row(ctx, m, &held, &choices, here, token)
        })
        .collect();
    let mut pager = String::new();
    if pages > 1 {
        let link = |n: usize, rel: &str, label: &str| {
            format!(
                "<a class=\"btn btn-small\" rel=\"{rel}\" href=\"{here}?members_page={n}\">{label}</a>"
            )
        };
        if page > 1 {
            pager.push_str(&link(page - 1, "prev", "Previous"));
        }
        pager.push_str(&format!(
            "<span class=\"muted small\">Members {first}–{last} of {total}</span>",
            first = (page - 1) * MEMBERS_PER_PAGE + 1,
            last = (page * MEMBERS_PER_PAGE).min(total),
        ));
        if page < pages {
            pager.push_str(&link(page + 1, "next", "Next"));
        }
        pager = format!("<div class=\"pager\">{pager}</div>");
    }
    let add = format!(
        "{pager}<h3>Add member</h3><form method=\"post\" action=\"{here}/members\" class=\"row\">{csrf}\
         <label class=\"grow\">User ID or email of an existing user<input name=\"user\" required autocomplete=\"off\"></label>\
         <button class=\"btn\" type=\"submit\">Add member</button></form>",
        csrf = html::csrf_field(token),
    );
    Ok(table_card_with(
        "Members",
        "<th>User</th><th class=\"hide-sm\">Name in the team</th><th>Team permissions</th><th></th>",
        &body,
        "No members yet.",
        &add,
    ))
}

/// A member's team permissions as the API lists them: direct grants of
/// defined team permissions, and all they contain.
struct Held<'a> {
    direct: Vec<&'a str>,
    contained: Vec<&'a str>,
}

impl<'a> Held<'a> {
    fn of(defs: &'a BTreeMap<String, Definition>, ids: &'a [String]) -> Self {
        let direct = permissions::held(defs, ids.iter().map(String::as_str), false);
        let all = permissions::held(defs, ids.iter().map(String::as_str), true);
        Self {
            contained: all.difference(&direct).copied().collect(),
            direct: direct.into_iter().collect(),
        }
    }
}

fn member_row(
    ctx: &ProjectContext,
    m: MemberRecord,
    held: &Held<'_>,
    choices: &[Definition],
    here: &str,
    token: &str,
) -> String {
    let profile = MemberProfile::from(m);
    let user = &profile.user;
    let uid = user.id.to_string();
    let member = format!("{here}/members/{}", seg(&uid));
    let csrf = html::csrf_field(token);
    let revokes: String = held
        .direct
        .iter()
        .map(|p| {
            format!(
                "<form method=\"post\" action=\"{member}/permissions/{seg}/revoke\" class=\"inline\">{csrf}\
                 <button class=\"badge badge-blue\" type=\"submit\" title=\"Revoke {id}\">{id} \u{d7}</button></form>",
                seg = seg(p),
                id = Esc(p),
            )
        })
        .collect();
    let contained: String = held
        .contained
        .iter()
        .map(|p| {
            format!(
                "<span class=\"badge\" title=\"contained in a direct grant\">{}</span>",
                Esc(p)
            )
        })
        .collect();
    let options: String = choices
        .iter()
        .filter(|c| !held.direct.contains(&c.id.as_str()))
        .map(|c| format!("<option value=\"{id}\">{id}</option>", id = Esc(&c.id)))
        .collect();
    let grant = if options.is_empty() {
        String::new()
    } else {
        format!(
            "<form method=\"post\" action=\"{member}/permissions\" class=\"row\">{csrf}\
             <label class=\"sr-only\" for=\"grant-{uid}\">Team permission</label>\
             <select id=\"grant-{uid}\" name=\"permission_id\">{options}</select>\
             <button class=\"btn btn-small\" type=\"submit\">Grant</button></form>",
            uid = Esc(&uid),
        )
    };
    let who = user
        .primary_email
        .as_deref()
        .or(user.display_name.as_deref().filter(|n| !n.is_empty()));
    format!(
        "<tr><td><a href=\"{base}/users/{useg}\">{label}</a><br><code class=\"small\">{uid}</code></td>\
         <td class=\"hide-sm\">{name}</td>\
         <td><span class=\"badges\">{revokes}{contained}</span>{grant}</td>\
         <td class=\"actions\"><form method=\"post\" action=\"{member}/remove\" data-confirm=\"Remove {confirm} from the team?\">{csrf}\
         <button class=\"btn btn-small btn-danger-ghost\" type=\"submit\">Remove</button></form></td></tr>",
        base = ctx.base(),
        useg = seg(&uid),
        label = Esc(who.unwrap_or("(no name)")),
        uid = Esc(&uid),
        name = Esc(profile.display_name.as_deref().unwrap_or("")),
        confirm = Esc(who.unwrap_or("this member")),
    )
}

/// A user id from the path; an id that is not a UUID names no member.
fn member_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw)
        .map_err(|_| PageError::not_found(format!("There is no member {raw} in this team.")))
}

/// `POST …/teams/{team_id}/members`: adds an existing user (by ID or email)
/// as `POST /team-memberships/{team_id}/{user_id}` does.
pub async fn add(
    State(d): State<Dashboard>,
    Path((project_id, raw_team)): Path<(String, String)>,
    form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let team = team_id(&raw_team)?;
    let raw_user = form
        .get("user")
        .ok_or_else(|| PageError::bad_request("Enter the user ID or email of the new member."))?;
    let user = named_user(&d, &ctx.project.id, raw_user).await?;
    members::add_member(&d.state.pool, &ctx.project, team, user).await?;
    Ok(back_to_team(&ctx, team, "member-added"))
}

/// `POST …/teams/{team_id}/members/{user_id}/remove`: removes a member (with
/// their team permissions) as `DELETE /team-memberships/…` does.
pub async fn remove(
    State(d): State<Dashboard>,
    Path((project_id, raw_team, raw_user)): Path<(String, String, String)>,
    _form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let team = team_id(&raw_team)?;
    let user = member_id(&raw_user)?;
    members::remove_member(&d.state.pool, &ctx.project, OWNER, team, user).await?;
    Ok(back_to_team(&ctx, team, "member-removed"))
}

/// `POST …/members/{user_id}/permissions`: grants the team permission the
/// form names, as `POST /team-permissions/…` does.
pub async fn grant(
    State(d): State<Dashboard>,
    Path((project_id, raw_team, raw_user)): Path<(String, String, String)>,
    form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let team = team_id(&raw_team)?;
    let user = member_id(&raw_user)?;
    let permission = form
        .get("permission_id")
        .ok_or_else(|| PageError::bad_request("Choose a team permission to grant."))?;
    let problems = permissions::id_problems(permission, true);
    if !problems.is_empty() {
        return Err(PageError::bad_request(format!(
            "{permission} is not a permission id: {}.",
            problems.join("; ")
        )));
    }
    // A form value, not a path: an unknown id is bad input (400), where the
    // API's path answers PERMISSION_NOT_FOUND (404).
    if !permissions::scope_definitions(&ctx.project.rendered, Scope::Team).contains_key(permission)
    {
        return Err(PageError::bad_request(format!(
            "There is no team permission {permission}; define it on the Permissions page first."
        )));
    }
    let holder = Holder::Member {
        team_id: team,
        user_id: user,
    };
    grants::grant(&d.state.pool, &ctx.project, holder, permission).await?;
    Ok(back_to_team(&ctx, team, "permission-granted"))
}

/// `POST …/members/{user_id}/permissions/{permission_id}/revoke`: revokes a
/// direct grant, as `DELETE /team-permissions/…` does.
pub async fn revoke(
    State(d): State<Dashboard>,
    Path((project_id, raw_team, raw_user, permission)): Path<(String, String, String, String)>,
    _form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let team = team_id(&raw_team)?;
    let user = member_id(&raw_user)?;
    let holder = Holder::Member {
        team_id: team,
        user_id: user,
    };
    grants::revoke(&d.state.pool, &ctx.project, holder, &permission).await?;
    Ok(back_to_team(&ctx, team, "permission-revoked"))
}
