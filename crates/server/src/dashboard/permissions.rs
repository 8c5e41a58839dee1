//! A project's permission definitions (`/projects/{id}/permissions`): team
//! permissions (with the six system ones, shown read-only) and project
//! permissions, each with its description and contained permissions;
//! creating and deleting a definition through [`crate::permissions::definitions`],
//! as `POST` and `DELETE /{team,project}-permission-definitions` do.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::html::table_card_with;
use super::html::{self, Esc, Section, seg};
use super::security::{CsrfToken, PostForm};
use super::{Dashboard, PageError, ProjectContext, confirm_page, notice};
use crate::permissions::definitions::{self, NewDefinition, Target};
use crate::permissions::{self, Definition, Scope, is_system};

/// The query of the permissions page.
#[derive(Debug, Deserialize)]
pub struct PermissionsParams {
    done: Option<String>,
}

/// The scope a path segment names (`team` or `project`).
fn scope(raw: &str) -> Result<Scope, PageError> {
    match raw {
        "team" => Ok(Scope::Team),
        "project" => Ok(Scope::Project),
        _ => Err(PageError::not_found(format!(
            "There are no {raw} permissions; the scopes are team and project."
        ))),
    }
}

/// `GET /projects/{id}/permissions`.
pub async fn index(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    Query(p): Query<PermissionsParams>,
    csrf: axum::Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let token = csrf.value();
    let body = format!(
        "<div class=\"page-head\"><div><h1>Permissions</h1><p class=\"muted\">Permission definitions: team \
         permissions are granted to members within a team, project permissions to users. A permission holds the \
         ones it contains too.</p></div></div><div class=\"cols\">{team}{project}</div>",
        team = scope_section(&ctx, Scope::Team, token),
        project = scope_section(&ctx, Scope::Project, token),
    );
    let chrome = ctx.chrome(Section::Permissions, notice(p.done.as_deref()));
    Ok(html::respond(
        StatusCode::OK,
        html::page("Permissions", &chrome, &body),
    ))
}

fn scope_section(ctx: &ProjectContext, scope: Scope, token: &str) -> String {
    let defs = permissions::definitions(&ctx.project.rendered, scope);
    let action = format!("{}/permissions/{}", ctx.base(), scope.as_str());
    let rows: String = defs.iter().map(|d| row(&action, d, token)).collect();
    let title = match scope {
        Scope::Team => "Team permissions",
        Scope::Project => "Project permissions",
    };
    let form = format!(
        "<h3>New {noun} permission</h3>{form}",
        noun = scope.as_str(),
        form = create_form(&action, &defs, token),
    );
    table_card_with(
        title,
        "<th>ID</th><th>Description</th><th>Contains</th><th></th>",
        &rows,
        "No project permissions yet.",
        &form,
    )
}

fn row(action: &str, d: &Definition, token: &str) -> String {
    let contained: String = d
        .contained
        .iter()
        .map(|c| format!("<span class=\"badge\">{}</span>", Esc(c)))
        .collect();
    let delete = if is_system(&d.id) {
        "<span class=\"badge badge-amber\" title=\"Stack Auth's own; cannot be changed\">system</span>"
            .to_owned()
    } else {
        format!(
            "<form method=\"post\" action=\"{action}/{seg}/delete\" data-confirm=\"Delete the permission {id}? Its grants are revoked.\">{csrf}\
             <input type=\"hidden\" name=\"confirmed\" value=\"\">\
             <button class=\"btn btn-small btn-danger-ghost\" type=\"submit\">Delete</button></form>",
            seg = seg(&d.id),
            id = Esc(&d.id),
            csrf = html::csrf_field(token),
        )
    };
    format!(
        "<tr data-permission=\"{id}\"><td><code>{id}</code></td><td>{description}</td>\
         <td><span class=\"badges\">{contained}</span></td><td class=\"actions\">{delete}</td></tr>",
        id = Esc(&d.id),
        description = Esc(d.description.as_deref().unwrap_or("")),
    )
}

fn create_form(action: &str, defs: &[Definition], token: &str) -> String {
    let boxes: String = defs
        .iter()
        .map(|d| {
            format!(
                "<label class=\"check\"><input type=\"checkbox\" name=\"contained\" value=\"{id}\"> <code>{id}</code></label>",
                id = Esc(&d.id)
            )
        })
        .collect();
    let contains = if boxes.is_empty() {
        String::new()
    } else {
        format!("<fieldset class=\"choices\"><legend>Contains</legend>{boxes}</fieldset>")
    };
    format!(
        "<form method=\"post\" action=\"{action}\" class=\"stack\">{csrf}\
         <label>ID <span class=\"muted\">(lowercase letters, digits, \u{201c}_\u{201d} and \u{201c}:\u{201d})</span>\
         <input name=\"id\" required pattern=\"[a-z0-9_:]+\" autocomplete=\"off\"></label>\
         <label>Description <span class=\"muted\">(optional)</span><input name=\"description\" autocomplete=\"off\"></label>\
         {contains}<button class=\"btn btn-primary\" type=\"submit\">Create permission</button></form>",
        csrf = html::csrf_field(token),
    )
}

fn target<'a>(d: &'a Dashboard, ctx: &'a ProjectContext) -> Target<'a> {
    Target {
        pool: &d.state.pool,
        project_id: &ctx.project.id,
        emulator_mode: d.state.settings.local_emulator,
    }
}

/// `POST /projects/{id}/permissions/{scope}`: creates a definition, with the
/// API's id rules.
pub async fn create(
    State(d): State<Dashboard>,
    Path((project_id, raw_scope)): Path<(String, String)>,
    form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let scope = scope(&raw_scope)?;
    let id = form
        .get("id")
        .ok_or_else(|| PageError::bad_request("A permission needs an ID; enter one."))?;
    let problems = permissions::id_problems(id, false);
    if !problems.is_empty() {
        return Err(PageError::bad_request(format!(
            "{id} cannot be a permission ID: {}.",
            problems.join("; ")
        )));
    }
    let contained: Vec<String> = form.all("contained").map(str::to_owned).collect();
    if let Some(bad) = contained
        .iter()
        .find(|c| !permissions::id_problems(c, true).is_empty())
    {
        return Err(PageError::bad_request(format!(
            "{bad} is not a permission ID; choose contained permissions from the list."
        )));
    }
    let new = NewDefinition {
        id: id.to_owned(),
        description: form.get("description").map(str::to_owned),
        contained: Some(contained),
    };
    definitions::create(target(&d, &ctx), scope, new).await?;
    d.state.clear_auth_cache();
    Ok(Redirect::to(&format!(
        "{}/permissions?done=permission-created",
        ctx.base()
    )))
}

/// `POST /projects/{id}/permissions/{scope}/{permission_id}/delete`: deletes
/// a definition (it leaves the ones that contain it, its grants are
/// revoked); without `confirmed=yes`, asks first.
pub async fn delete(
    State(d): State<Dashboard>,
    Path((project_id, raw_scope, id)): Path<(String, String, String)>,
    csrf: axum::Extension<CsrfToken>,
    form: PostForm,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let scope = scope(&raw_scope)?;
    if is_system(&id) {
        return Err(PageError::bad_request(format!(
            "{id} is one of Stack Auth's system permissions, which cannot be deleted."
        )));
    }
    if !form.confirmed() {
        let here = format!("{}/permissions", ctx.base());
        return Ok(confirm_page(
            &ctx.chrome(Section::Permissions, None),
            &format!(
                "Delete the {} permission {id}? Its grants are revoked.",
                scope.as_str()
            ),
            &format!("{here}/{}/{}/delete", scope.as_str(), seg(&id)),
            &here,
            csrf.value(),
        ));
    }
    definitions::delete(target(&d, &ctx), scope, &id).await?;
    d.state.clear_auth_cache();
    Ok(Redirect::to(&format!(
        "{}/permissions?done=permission-deleted",
        ctx.base()
    ))
    .into_response())
}
