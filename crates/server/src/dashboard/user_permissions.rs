//! A user's project permissions on their page: the permissions granted to
//! them directly (each can be revoked) and those these contain, and granting
//! one of the project's defined project permissions. The same functions as
//! `POST` and `DELETE /project-permissions/{user_id}/{permission_id}`
//! ([`grants::grant`], [`grants::revoke`]).

use axum::extract::{Path, State};
use axum::response::Redirect;
use uuid::Uuid;

use super::html::{self, Esc, seg};
use super::security::PostForm;
use super::user_path::{back_to_user, user_id};
use super::{Dashboard, PageError, ProjectContext};
use crate::db::projects::Project;
use crate::permissions::grants::{self, GrantsOf, Holder, ListFilter};
use crate::permissions::{self, Scope};

/// The permission ids the user holds: granted directly, and all of them
/// (the direct ones and what they contain, transitively).
pub struct Held {
    direct: Vec<String>,
    all: Vec<String>,
}

/// Reads the user's project permissions.
///
/// # Errors
/// Database errors.
pub async fn load(pool: &sqlx::PgPool, project: &Project, user: Uuid) -> Result<Held, PageError> {
    let ids = |recursive: bool| ListFilter {
        user_id: Some(user),
        permission_id: None,
        recursive,
    };
    let direct = grants::list(pool, project, GrantsOf::Project, &ids(false)).await?;
    let all = grants::list(pool, project, GrantsOf::Project, &ids(true)).await?;
    Ok(Held {
        direct: direct.into_iter().map(|g| g.id).collect(),
        all: all.into_iter().map(|g| g.id).collect(),
    })
}

/// The card: direct grants with revoke buttons, the contained ones, and the
/// grant form.
pub fn section(project: &Project, held: &Held, here: &str, token: &str) -> String {
    let rows: String = held
        .direct
        .iter()
        .map(|id| {
            format!(
                "<tr><td><code>{id}</code></td><td class=\"actions\">\
                 <form method=\"post\" action=\"{here}/permissions/{seg}/revoke\">{csrf}\
                 <button class=\"btn btn-small btn-danger-ghost\" type=\"submit\">Revoke</button></form></td></tr>",
                id = Esc(id),
                seg = seg(id),
                csrf = html::csrf_field(token),
            )
        })
        .collect();
    let list = if rows.is_empty() {
        "<p class=\"muted\">No project permissions granted.</p>".to_owned()
    } else {
        format!(
            "<div class=\"table-wrap\"><table><thead><tr><th>Granted directly</th><th></th></tr></thead>\
             <tbody>{rows}</tbody></table></div>"
        )
    };
    let contained: Vec<String> = held
        .all
        .iter()
        .filter(|id| !held.direct.contains(id))
        .map(|id| format!("<code>{}</code>", Esc(id)))
        .collect();
    let through = if contained.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"muted\">Also held through these: {}</p>",
            contained.join(" ")
        )
    };
    let options: String = permissions::definitions(&project.rendered, Scope::Project)
        .into_iter()
        .filter(|d| !held.direct.contains(&d.id))
        .map(|d| {
            let about = d
                .description
                .map(|text| format!(" ({text})"))
                .unwrap_or_default();
            format!(
                "<option value=\"{id}\">{id}{about}</option>",
                id = Esc(&d.id),
                about = Esc(&about)
            )
        })
        .collect();
    let grant = if options.is_empty() {
        "<p class=\"muted\">No other project permission is defined. Define them with \
         <code>POST /project-permission-definitions</code> (admin access).</p>"
            .to_owned()
    } else {
        format!(
            "<form method=\"post\" action=\"{here}/permissions\" class=\"row\">{csrf}\
             <label class=\"grow\">Grant a permission<select name=\"permission_id\" required>{options}</select></label>\
             <button class=\"btn\" type=\"submit\">Grant</button></form>",
            csrf = html::csrf_field(token),
        )
    };
    format!("<section class=\"card\"><h2>Project permissions</h2>{through}{grant}{list}</section>")
}

/// `POST …/users/{user_id}/permissions`: grants `permission_id`.
pub async fn grant(
    State(d): State<Dashboard>,
    Path((project_id, raw_user)): Path<(String, String)>,
    form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let id = user_id(&raw_user)?;
    let permission = form
        .get("permission_id")
        .ok_or_else(|| PageError::bad_request("Choose a permission to grant."))?;
    grants::grant(&d.state.pool, &ctx.project, Holder::User(id), permission).await?;
    Ok(back_to_user(&ctx, id, "permission-granted"))
}

/// `POST …/users/{user_id}/permissions/{permission_id}/revoke`.
pub async fn revoke(
    State(d): State<Dashboard>,
    Path((project_id, raw_user, permission)): Path<(String, String, String)>,
    _form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let id = user_id(&raw_user)?;
    grants::revoke(&d.state.pool, &ctx.project, Holder::User(id), &permission).await?;
    Ok(back_to_user(&ctx, id, "permission-revoked"))
}
