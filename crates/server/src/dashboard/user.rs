//! One user (`/projects/{id}/users/{user_id}`): profile, contact channels,
//! sessions, teams, OAuth accounts; renaming the user, revoking a session and
//! deleting the user. The page also carries the cards of `user_edit.rs`
//! (profile and metadata forms), `user_permissions.rs` and `impersonate.rs`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::html::{self, Esc, Section, seg, table_card};
use super::security::{CsrfToken, PostForm};
use super::user_path::{back_to_user, load, user_id};
use super::users::{MAX_DISPLAY_NAME_CHARS, initial, method_badges};
use super::{
    Dashboard, PageError, ProjectContext, confirm_page, impersonate, notice, user_edit,
    user_permissions,
};
use crate::accounts::{self, UserPatch};
use crate::db::contact_channels::{self as channels, ChannelRecord};
use crate::db::oauth::{self, OAuthAccountRecord};
use crate::db::sessions::{self, SessionRecord};
use crate::db::teams::{self, TeamRecord};
use crate::db::users::{self, UserRecord};
use crate::validate::{Patch, single_line};

/// The query of the user page.
#[derive(Debug, Deserialize)]
pub struct UserParams {
    done: Option<String>,
}

/// `GET /projects/{id}/users/{user_id}`.
pub async fn show(
    State(d): State<Dashboard>,
    Path((project_id, raw_user)): Path<(String, String)>,
    Query(p): Query<UserParams>,
    csrf: axum::Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let id = user_id(&raw_user)?;
    let pid = ctx.project.id.as_str();
    let user = load(&d, pid, id).await?;
    let pool = &d.state.pool;
    let channel_rows = channels::list(pool, pid, Some(id), None).await?;
    let session_rows = sessions::list_for_user(pool, pid, id).await?;
    let team_rows = teams::list(pool, pid, Some(id)).await?;
    let account_rows = oauth::list_accounts(pool, pid, id, None).await?;
    let held = user_permissions::load(pool, &ctx.project, id).await?;

    let here = format!("{}/users/{}", ctx.base(), seg(&id.to_string()));
    let token = csrf.value();
    let name = user.display_name.as_deref().filter(|n| !n.is_empty());
    let body = format!(
        "<p class=\"crumbs\"><a href=\"{base}/users\">Users</a> / <span>{crumb}</span></p>\
         <div class=\"page-head\"><div class=\"user-head\"><span class=\"avatar avatar-lg\" aria-hidden=\"true\">{initial}</span>\
         <div><h1>{title}</h1><p class=\"muted\">{email}</p></div></div></div>\
         <div class=\"cols\">{profile}{edit}{contact}{sessions}{impersonate}{permissions}{teams}{accounts}{metadata}{danger}</div>",
        base = ctx.base(),
        crumb = Esc(name.or(user.primary_email.as_deref()).unwrap_or("User")),
        initial = Esc(&initial(name, user.primary_email.as_deref())),
        title = Esc(name.unwrap_or("(no name)")),
        email = Esc(user.primary_email.as_deref().unwrap_or("no primary email")),
        profile = profile(&user, &here, token),
        edit = user_edit::profile_form(&user, &here, token),
        contact = contact_channels(&channel_rows),
        sessions = session_list(&session_rows, &here, token),
        impersonate = impersonate::section(&here, token),
        permissions = user_permissions::section(&ctx.project, &held, &here, token),
        teams = team_list(&team_rows, user.team_id),
        accounts = oauth_accounts(&account_rows),
        metadata = user_edit::metadata_form(&user, &here, token),
        danger = danger_zone(&user, &here, token),
    );
    let chrome = ctx.chrome(Section::Users, notice(p.done.as_deref()));
    let title = name.or(user.primary_email.as_deref()).unwrap_or("User");
    Ok(html::respond(
        StatusCode::OK,
        html::page(title, &chrome, &body),
    ))
}

fn yes_no(value: bool) -> &'static str {
    if value { "Yes" } else { "No" }
}

fn profile(u: &UserRecord, here: &str, token: &str) -> String {
    let id = u.id.to_string();
    let verified = match (&u.primary_email, u.primary_email_verified) {
        (Some(_), Some(true)) => " <span class=\"badge badge-green\">verified</span>",
        (Some(_), _) => " <span class=\"badge\">not verified</span>",
        (None, _) => "",
    };
    let methods = method_badges(u);
    format!(
        "<section class=\"card\"><h2>Profile</h2><dl class=\"props\">\
         <dt>User ID</dt><dd><code>{id}</code>{copy}</dd>\
         <dt>Primary email</dt><dd>{email}{verified}</dd>\
         <dt>Signed up</dt><dd>{signed_up}</dd><dt>Last active</dt><dd>{active}</dd>\
         <dt>Sign-in methods</dt><dd><span class=\"badges\">{methods}</span></dd>\
         <dt>Two-factor (TOTP)</dt><dd>{totp}</dd><dt>Country</dt><dd>{country}</dd></dl>\
         <form method=\"post\" action=\"{here}/display-name\" class=\"row\">{csrf}\
         <label class=\"grow\">Display name<input name=\"display_name\" value=\"{name}\" maxlength=\"{MAX_DISPLAY_NAME_CHARS}\" autocomplete=\"off\"></label>\
         <button class=\"btn\" type=\"submit\">Save</button></form></section>",
        id = Esc(&id),
        copy = html::copy_button(&id, "user ID"),
        email = Esc(u.primary_email.as_deref().unwrap_or("none")),
        signed_up = html::date(&u.signed_up_at),
        active = html::date(&u.last_active_at),
        methods = if methods.is_empty() {
            "<span class=\"muted\">none</span>".to_owned()
        } else {
            methods
        },
        totp = yes_no(u.requires_totp_mfa),
        country = Esc(u.country_code.as_deref().unwrap_or("unknown")),
        csrf = html::csrf_field(token),
        name = Esc(u.display_name.as_deref().unwrap_or_default()),
    )
}

fn contact_channels(rows: &[ChannelRecord]) -> String {
    let body: String = rows
        .iter()
        .map(|c| {
            format!(
                "<tr><td>{value}{primary}</td><td class=\"hide-sm\">{kind}</td><td>{verified}</td><td>{auth}</td></tr>",
                value = Esc(&c.value),
                primary = if c.is_primary == Some(true) {
                    " <span class=\"badge\">primary</span>"
                } else {
                    ""
                },
                kind = Esc(&c.kind),
                verified = yes_no(c.is_verified),
                auth = yes_no(c.used_for_auth == Some(true)),
            )
        })
        .collect();
    table_card(
        "Contact channels",
        "<th>Value</th><th class=\"hide-sm\">Type</th><th>Verified</th><th>Sign-in</th>",
        &body,
        "No contact channels.",
    )
}

fn session_list(rows: &[SessionRecord], here: &str, token: &str) -> String {
    let body: String = rows
        .iter()
        .map(|s| {
            let sid = s.id.to_string();
            format!(
                "<tr><td>{created}{imp}</td><td>{active}</td><td class=\"hide-sm\"><code class=\"small\">{id}</code></td>\
                 <td class=\"actions\"><form method=\"post\" action=\"{here}/sessions/{seg}/revoke\">{csrf}\
                 <button class=\"btn btn-small\" type=\"submit\">Revoke</button></form></td></tr>",
                created = html::date_cell(&s.created_at),
                imp = if s.is_impersonation {
                    " <span class=\"badge badge-amber\">impersonation</span>"
                } else {
                    ""
                },
                active = html::date_cell(&s.last_active_at),
                id = Esc(&sid),
                seg = seg(&sid),
                csrf = html::csrf_field(token),
            )
        })
        .collect();
    table_card(
        "Sessions",
        "<th>Signed in</th><th>Last active</th><th class=\"hide-sm\">Session ID</th><th></th>",
        &body,
        "No active sessions.",
    )
}

fn team_list(rows: &[TeamRecord], selected: Option<Uuid>) -> String {
    let body: String = rows
        .iter()
        .map(|t| {
            format!(
                "<tr><td>{name}{sel}</td><td class=\"hide-sm\"><code class=\"small\">{id}</code></td><td>{created}</td></tr>",
                name = Esc(&t.display_name),
                sel = if selected == Some(t.id) {
                    " <span class=\"badge\">selected</span>"
                } else {
                    ""
                },
                id = Esc(&t.id.to_string()),
                created = html::date_cell(&t.created_at),
            )
        })
        .collect();
    table_card(
        "Teams",
        "<th>Team</th><th class=\"hide-sm\">Team ID</th><th>Created</th>",
        &body,
        "Not a member of any team.",
    )
}

fn oauth_accounts(rows: &[OAuthAccountRecord]) -> String {
    let body: String = rows
        .iter()
        .map(|a| {
            format!(
                "<tr><td><span class=\"badge badge-blue\">{provider}</span></td><td><code class=\"small\">{account}</code></td>\
                 <td>{email}</td><td>{sign_in}</td><td class=\"hide-sm\">{created}</td></tr>",
                provider = Esc(&a.provider_config_id),
                account = Esc(&a.provider_account_id),
                email = Esc(a.email.as_deref().unwrap_or("")),
                sign_in = yes_no(a.allow_sign_in),
                created = html::date_cell(&a.created_at),
            )
        })
        .collect();
    table_card(
        "OAuth accounts",
        "<th>Provider</th><th>Account ID</th><th>Email</th><th>Signs in</th><th class=\"hide-sm\">Linked</th>",
        &body,
        "No OAuth accounts.",
    )
}

fn danger_zone(u: &UserRecord, here: &str, token: &str) -> String {
    let who = u
        .primary_email
        .as_deref()
        .or(u.display_name.as_deref())
        .unwrap_or("this user");
    format!(
        "<section class=\"card danger\"><h2>Delete user</h2><p class=\"muted\">Deletes the user with their sessions, \
         contact channels, team memberships and OAuth accounts. This cannot be undone.</p>\
         <form method=\"post\" action=\"{here}/delete\" data-confirm=\"Delete {who}? This cannot be undone.\">{csrf}\
         <input type=\"hidden\" name=\"confirmed\" value=\"\">\
         <button class=\"btn btn-danger\" type=\"submit\" id=\"delete-user\">Delete user</button></form></section>",
        who = Esc(who),
        csrf = html::csrf_field(token),
    )
}

/// `POST …/users/{user_id}/display-name`: sets the display name (empty
/// clears it), through the same update as `PATCH /users/{id}`.
pub async fn rename(
    State(d): State<Dashboard>,
    Path((project_id, raw_user)): Path<(String, String)>,
    form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let id = user_id(&raw_user)?;
    let name = form
        .get("display_name")
        .map(single_line)
        .unwrap_or_default();
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(PageError::bad_request(format!(
            "A display name has at most {MAX_DISPLAY_NAME_CHARS} characters."
        )));
    }
    let patch = UserPatch {
        display_name: Patch::Set(name),
        ..UserPatch::default()
    };
    accounts::update_user(&d.state.pool, &ctx.project, id, patch).await?;
    Ok(back_to_user(&ctx, id, "user-renamed"))
}

/// `POST …/users/{user_id}/delete`: deletes the user; without
/// `confirmed=yes`, asks first.
pub async fn delete(
    State(d): State<Dashboard>,
    Path((project_id, raw_user)): Path<(String, String)>,
    csrf: axum::Extension<CsrfToken>,
    form: PostForm,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let id = user_id(&raw_user)?;
    let user = load(&d, &ctx.project.id, id).await?;
    let here = format!("{}/users/{}", ctx.base(), seg(&id.to_string()));
    if !form.confirmed() {
        let who = user.primary_email.as_deref().unwrap_or("this user");
        return Ok(confirm_page(
            &ctx.chrome(Section::Users, None),
            &format!("Delete {who} ({id})? This cannot be undone."),
            &format!("{here}/delete"),
            &here,
            csrf.value(),
        ));
    }
    if !users::delete(&d.state.pool, &ctx.project.id, id).await? {
        return Err(PageError::not_found(format!(
            "There is no user {id} in this project."
        )));
    }
    Ok(Redirect::to(&format!("{}/users?done=user-deleted", ctx.base())).into_response())
}

/// `POST …/users/{user_id}/sessions/{session_id}/revoke`: ends one session
/// of this user (its refresh token stops working).
pub async fn revoke_session(
    State(d): State<Dashboard>,
    Path((project_id, raw_user, raw_session)): Path<(String, String, String)>,
    _form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let id = user_id(&raw_user)?;
    let not_found = || PageError::not_found("This session does not exist (any more).");
    let session_id = Uuid::parse_str(&raw_session).map_err(|_| not_found())?;
    let pid = ctx.project.id.as_str();
    let session = sessions::find(&d.state.pool, pid, session_id)
        .await?
        .filter(|s| s.user_id == id)
        .ok_or_else(not_found)?;
    sessions::delete(&d.state.pool, pid, session.id).await?;
    Ok(back_to_user(&ctx, id, "session-revoked"))
}
