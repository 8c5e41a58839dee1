//! The project list (`/`): the internal project and every other one, with
//! user counts and, for a project the local emulator made for an app, its
//! config file; creating and deleting a project; the project switcher.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, json};

use super::html::{self, Chrome, Esc, Section, seg};
use super::security::{CsrfToken, PostForm};
use super::{Dashboard, PageError, ProjectContext, confirm_page, notice};
use crate::config::{Overrides, format, legacy};
use crate::db::projects::{
    self as rows, EMULATOR_OWNER_TEAM_ID, INTERNAL_PROJECT_ID, NewProject, ProjectName,
    ProjectSummary,
};
use crate::random;
use crate::validate::single_line;

/// Longest project name the form takes, in characters.
const MAX_NAME_CHARS: usize = 255;

/// The query of a page after a change.
#[derive(Debug, Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// `GET /`: the project list.
pub async fn index(
    State(d): State<Dashboard>,
    Query(q): Query<Done>,
    csrf: axum::Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let summaries = rows::summaries(&d.state.pool).await?;
    let names: Vec<ProjectName> = summaries
        .iter()
        .map(|p| ProjectName {
            id: p.id.clone(),
            display_name: p.display_name.clone(),
        })
        .collect();
    let chrome = Chrome {
        projects: &names,
        current: None,
        section: Section::Projects,
        notice: notice(q.done.as_deref()),
    };
    let cards: String = summaries.iter().map(|p| card(p, csrf.value())).collect();
    let body = format!(
        "<div class=\"page-head\"><div><h1>Projects</h1>\
         <p class=\"muted\">Every project of this emulator; the dashboard administers them all as the emulator's owner.</p></div>\
         <details class=\"popover\"><summary class=\"btn btn-primary\">New project</summary>\
         <form method=\"post\" action=\"/projects\" class=\"stack\">{csrf}\
         <label>Display name<input name=\"display_name\" required maxlength=\"{MAX_NAME_CHARS}\" autocomplete=\"off\"></label>\
         <button class=\"btn btn-primary\" type=\"submit\">Create project</button></form></details></div>\
         <div class=\"grid\">{cards}</div>",
        csrf = html::csrf_field(csrf.value()),
    );
    Ok(html::respond(
        StatusCode::OK,
        html::page("Projects", &chrome, &body),
    ))
}

/// One project's card.
fn card(p: &ProjectSummary, token: &str) -> String {
    let base = format!("/projects/{}", seg(&p.id));
    let internal = p.id == INTERNAL_PROJECT_ID;
    let badge = if internal {
        "<span class=\"badge\">internal</span>"
    } else if p.config_file.is_some() {
        "<span class=\"badge badge-blue\">config file</span>"
    } else {
        ""
    };
    let config = p
        .config_file
        .as_deref()
        .map(|path| {
            format!(
                "<p class=\"config-file\" title=\"{path}\"><span class=\"muted\">Config file</span> <code>{path}</code></p>",
                path = Esc(path)
            )
        })
        .unwrap_or_default();
    let delete = if internal {
        String::new()
    } else {
        format!(
            "<form method=\"post\" action=\"{base}/delete\" data-confirm=\"Delete the project {name} with all its users? This cannot be undone.\">\
             {csrf}<input type=\"hidden\" name=\"confirmed\" value=\"\">\
             <button class=\"btn btn-small btn-danger-ghost\" type=\"submit\">Delete</button></form>",
            name = Esc(&p.display_name),
            csrf = html::csrf_field(token),
        )
    };
    format!(
        "<article class=\"card project\" data-project-id=\"{id}\"><div class=\"project-head\">\
         <h2><a href=\"{base}\">{name}</a></h2>{badge}</div>\
         <p class=\"id-line\"><code>{id}</code>{copy}</p>\
         <dl class=\"facts\"><div><dt>Users</dt><dd>{users}</dd></div><div><dt>Created</dt><dd>{created}</dd></div></dl>\
         {config}<div class=\"card-actions\"><a class=\"btn btn-small\" href=\"{base}/users\">Users</a>\
         <a class=\"btn btn-small\" href=\"{base}/emails\">Emails</a>{delete}</div></article>",
        id = Esc(&p.id),
        name = Esc(&p.display_name),
        copy = html::copy_button(&p.id, "project ID"),
        users = html::count(p.user_count),
        created = html::date(&p.created_at),
    )
}

/// `POST /projects`: a new project owned by the emulator's owner team, with
/// the defaults the API's `POST /internal/projects` gives one (localhost
/// allowed); then its overview.
pub async fn create(State(d): State<Dashboard>, form: PostForm) -> Result<Redirect, PageError> {
    let name = single_line(form.get("display_name").unwrap_or_default());
    if name.is_empty() {
        return Err(PageError::bad_request("A project needs a display name."));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(PageError::bad_request(format!(
            "A project's display name has at most {MAX_NAME_CHARS} characters."
        )));
    }
    let mut allow_localhost = Map::new();
    allow_localhost.insert("domains.allowLocalhost".into(), json!(true));
    let environment = format::override_with(&legacy::new_project_defaults(), &allow_localhost);
    let project = rows::insert(
        &d.state.pool,
        &NewProject {
            id: random::uuid()?.to_string(),
            display_name: name,
            description: String::new(),
            is_production_mode: false,
            owner_team_id: Some(EMULATOR_OWNER_TEAM_ID),
            overrides: Overrides {
                environment,
                ..Overrides::default()
            },
        },
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/projects/{}?done=project-created",
        seg(&project.id)
    )))
}

/// `POST /projects/{id}/delete`: deletes a project and everything in it
/// (not the internal project); without `confirmed=yes`, asks first.
pub async fn delete(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    csrf: axum::Extension<CsrfToken>,
    form: PostForm,
) -> Result<Response, PageError> {
    if project_id == INTERNAL_PROJECT_ID {
        return Err(PageError::bad_request(
            "The internal project cannot be deleted.",
        ));
    }
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    if !form.confirmed() {
        return Ok(confirm_page(
            &ctx.chrome(Section::Projects, None),
            &format!(
                "Delete the project {} ({}) with all its users, sessions and keys? This cannot be undone.",
                ctx.project.display_name, ctx.project.id
            ),
            &format!("{}/delete", ctx.base()),
            "/",
            csrf.value(),
        ));
    }
    rows::delete(&d.state.pool, &ctx.project.id).await?;
    d.state.clear_auth_cache();
    Ok(Redirect::to("/?done=project-deleted").into_response())
}

/// The query of the project switcher.
#[derive(Debug, Deserialize)]
pub struct Switch {
    project: Option<String>,
}

/// `GET /switch?project=ID`: the switcher's target, the project's overview
/// (the project list for none).
pub async fn switch(Query(q): Query<Switch>) -> Redirect {
    match q.project.as_deref().filter(|p| !p.is_empty()) {
        Some(id) => Redirect::to(&format!("/projects/{}", seg(id))),
        None => Redirect::to("/"),
    }
}
