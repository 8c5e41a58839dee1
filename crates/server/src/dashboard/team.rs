//! One team (`/projects/{id}/teams/{team_id}`): its profile and metadata,
//! its members ([`super::team_members`]) and pending invitations
//! ([`super::team_invitations`]); renaming and deleting the team, through
//! the same [`crate::teams`] functions as `PATCH` and `DELETE /teams/{id}`
//! with a server key.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::html::json_block;
use super::html::{self, Esc, Section};
use super::security::{CsrfToken, PostForm};
use super::teams::{MAX_TEAM_NAME_CHARS, OWNER, back_to_team, team_id, team_name, team_path};
use super::{
    Dashboard, PageError, ProjectContext, confirm_page, notice, team_invitations, team_members,
};
use crate::db::teams::{self as team_rows, TeamRecord};
use crate::teams::{self, TeamPatch};
use crate::validate::Patch;

/// The query of the team page.
#[derive(Debug, Deserialize)]
pub struct TeamParams {
    done: Option<String>,
    /// The page of the members table, from 1.
    members_page: Option<usize>,
}

/// The team, or 404.
pub async fn load(d: &Dashboard, project_id: &str, id: Uuid) -> Result<TeamRecord, PageError> {
    team_rows::find(&d.state.pool, project_id, id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("There is no team {id} in this project.")))
}

/// `GET /projects/{id}/teams/{team_id}`.
pub async fn show(
    State(d): State<Dashboard>,
    Path((project_id, raw_team)): Path<(String, String)>,
    Query(p): Query<TeamParams>,
    csrf: axum::Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let id = team_id(&raw_team)?;
    let team = load(&d, &ctx.project.id, id).await?;
    let here = team_path(&ctx, id);
    let token = csrf.value();
    let members =
        team_members::section(&d, &ctx, id, &here, token, p.members_page.unwrap_or(1)).await?;
    let invitations = team_invitations::section(&d, &ctx, id, &here, token).await?;
    let body = format!(
        "<p class=\"crumbs\"><a href=\"{base}/teams\">Teams</a> / <span>{name}</span></p>\
         <div class=\"page-head\"><div class=\"user-head\"><span class=\"avatar avatar-lg\" aria-hidden=\"true\">{initial}</span>\
         <div><h1>{name}</h1><p class=\"muted\">Team</p></div></div></div>\
         <div class=\"cols\">{profile}{members}{invitations}{metadata}{danger}</div>",
        base = ctx.base(),
        name = Esc(&team.display_name),
        initial = Esc(&super::users::initial(Some(&team.display_name), None)),
        profile = profile(&team, &here, token),
        metadata = metadata(&team),
        danger = danger_zone(&team, &here, token),
    );
    let chrome = ctx.chrome(Section::Teams, notice(p.done.as_deref()));
    Ok(html::respond(
        StatusCode::OK,
        html::page(&team.display_name, &chrome, &body),
    ))
}

fn profile(t: &TeamRecord, here: &str, token: &str) -> String {
    let id = t.id.to_string();
    let image = match t.profile_image_url.as_deref() {
        Some(url) => format!("<code class=\"small\">{}</code>", Esc(url)),
        None => "<span class=\"muted\">none</span>".to_owned(),
    };
    format!(
        "<section class=\"card\"><h2>Profile</h2><dl class=\"props\">\
         <dt>Team ID</dt><dd><code>{id}</code>{copy}</dd>\
         <dt>Created</dt><dd>{created}</dd><dt>Profile image URL</dt><dd>{image}</dd></dl>\
         <form method=\"post\" action=\"{here}/display-name\" class=\"row\">{csrf}\
         <label class=\"grow\">Display name<input name=\"display_name\" value=\"{name}\" required maxlength=\"{MAX_TEAM_NAME_CHARS}\" autocomplete=\"off\"></label>\
         <button class=\"btn\" type=\"submit\">Save</button></form></section>",
        id = Esc(&id),
        copy = html::copy_button(&id, "team ID"),
        created = html::date(&t.created_at),
        csrf = html::csrf_field(token),
        name = Esc(&t.display_name),
    )
}

fn metadata(t: &TeamRecord) -> String {
    format!(
        "<section class=\"card\"><h2>Metadata</h2><div class=\"meta-grid\">{}{}{}</div></section>",
        json_block("Client metadata", t.client_metadata.as_ref()),
        json_block(
            "Client read-only metadata",
            t.client_read_only_metadata.as_ref()
        ),
        json_block("Server metadata", t.server_metadata.as_ref()),
    )
}

fn danger_zone(t: &TeamRecord, here: &str, token: &str) -> String {
    format!(
        "<section class=\"card danger\"><h2>Delete team</h2><p class=\"muted\">Deletes the team with its memberships \
         and their team permissions; members who had it selected have no team selected. This cannot be undone.</p>\
         <form method=\"post\" action=\"{here}/delete\" data-confirm=\"Delete the team {name}? This cannot be undone.\">{csrf}\
         <input type=\"hidden\" name=\"confirmed\" value=\"\">\
         <button class=\"btn btn-danger\" type=\"submit\" id=\"delete-team\">Delete team</button></form></section>",
        name = Esc(&t.display_name),
        csrf = html::csrf_field(token),
    )
}

/// `POST …/teams/{team_id}/display-name`: renames the team, through the same
/// update as `PATCH /teams/{id}`.
pub async fn rename(
    State(d): State<Dashboard>,
    Path((project_id, raw_team)): Path<(String, String)>,
    form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let id = team_id(&raw_team)?;
    let patch = TeamPatch {
        display_name: Some(team_name(&form)?),
        profile_image_url: Patch::Absent,
        client_metadata: Patch::Absent,
        client_read_only_metadata: Patch::Absent,
        server_metadata: Patch::Absent,
    };
    teams::update_team(&d.state.pool, &ctx.project, OWNER, id, patch).await?;
    Ok(back_to_team(&ctx, id, "team-renamed"))
}

/// `POST …/teams/{team_id}/delete`: deletes the team; without
/// `confirmed=yes`, asks first.
pub async fn delete(
    State(d): State<Dashboard>,
    Path((project_id, raw_team)): Path<(String, String)>,
    csrf: axum::Extension<CsrfToken>,
    form: PostForm,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let id = team_id(&raw_team)?;
    let team = load(&d, &ctx.project.id, id).await?;
    let here = team_path(&ctx, id);
    if !form.confirmed() {
        return Ok(confirm_page(
            &ctx.chrome(Section::Teams, None),
            &format!(
                "Delete the team {} ({id})? This cannot be undone.",
                team.display_name
            ),
            &format!("{here}/delete"),
            &here,
            csrf.value(),
        ));
    }
    teams::delete_team(&d.state.pool, &ctx.project, OWNER, id).await?;
    Ok(Redirect::to(&format!("{}/teams?done=team-deleted", ctx.base())).into_response())
}
