//! A team's pending invitations on its page: the list, sending one and
//! revoking one, through [`crate::team_invitations`] as
//! `POST /team-invitations/send-code` and `DELETE /team-invitations/{id}` do
//! with a server key. The mail goes out as the API sends it (to the mail
//! sink in development); the callback URL must be one the project trusts.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Redirect;
use url::Url;
use uuid::Uuid;

use super::html::table_card_with;
use super::html::{self, Esc, seg};
use super::security::PostForm;
use super::teams::{back_to_team, team_id};
use super::{Dashboard, PageError, ProjectContext};
use crate::auth::{AccessType, Auth};
use crate::db::projects::{Project, ProjectConfig};
use crate::http::routes::send_mail;
use crate::team_invitations as invitations;
use crate::validate::is_plausible_email;

/// Stack Auth's default path of the page that accepts an invitation, below
/// the handler path.
const ACCEPT_PAGE: &str = "/team-invitation";

/// The port of a local app the default callback assumes (Next.js's).
const LOCAL_APP: &str = "http://localhost:3000";

/// The dashboard's access to the invitation functions: the owner's, an admin
/// without a signed-in user (none of the client rules apply).
fn owner_auth(project: &Project) -> Auth {
    Auth {
        project: Arc::new(project.clone()),
        access: AccessType::Admin,
        user: None,
        refresh_token_id: None,
    }
}

/// The callback URL the send form starts with: the accept page under the
/// first trusted domain's handler, else under a local app when the project
/// allows localhost, else none (the form then asks for one).
pub fn default_callback(config: &ProjectConfig) -> String {
    match config.domains.first() {
        Some(d) => format!(
            "{}{}{ACCEPT_PAGE}",
            d.domain.trim_end_matches('/'),
            d.handler_path.trim_end_matches('/')
        ),
        None if config.allow_localhost => format!("{LOCAL_APP}/handler{ACCEPT_PAGE}"),
        None => String::new(),
    }
}

/// The invitations card of a team's page.
///
/// # Errors
/// Database failures.
pub async fn section(
    d: &Dashboard,
    ctx: &ProjectContext,
    team_id: Uuid,
    here: &str,
    token: &str,
) -> Result<String, PageError> {
    let auth = owner_auth(&ctx.project);
    let pending = invitations::list_for_team(&d.state.pool, &auth, team_id).await?;
    let csrf = html::csrf_field(token);
    let rows: String = pending
        .iter()
        .map(|i| {
            format!(
                "<tr><td>{email}</td><td class=\"date\">{expires}</td><td class=\"actions\">\
                 <form method=\"post\" action=\"{here}/invitations/{id}/revoke\" data-confirm=\"Revoke the invitation to {email}?\">{csrf}\
                 <button class=\"btn btn-small btn-danger-ghost\" type=\"submit\">Revoke</button></form></td></tr>",
                email = Esc(&i.recipient_email),
                expires = html::date_cell(&i.expires_at),
                id = seg(&i.id.to_string()),
            )
        })
        .collect();
    let form = format!(
        "<h3>Invite a member</h3><p class=\"muted\">The mail links to the callback URL with the invitation code; the URL \
         must be on a trusted domain of the project (or localhost, when the project allows it).</p>\
         <form method=\"post\" action=\"{here}/invitations\" class=\"stack\">{csrf}\
         <label>Email<input type=\"email\" name=\"email\" required autocomplete=\"off\"></label>\
         <label>Callback URL<input type=\"url\" name=\"callback_url\" value=\"{callback}\" required autocomplete=\"off\"></label>\
         <button class=\"btn\" type=\"submit\">Send invitation</button></form>",
        callback = Esc(&default_callback(&ctx.project.config)),
    );
    Ok(table_card_with(
        "Pending invitations",
        "<th>Email</th><th>Expires</th><th></th>",
        &rows,
        "No pending invitations.",
        &form,
    ))
}

/// `POST …/teams/{team_id}/invitations`: creates and mails an invitation
/// as `POST /team-invitations/send-code` does.
pub async fn send(
    State(d): State<Dashboard>,
    Path((project_id, raw_team)): Path<(String, String)>,
    form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let team = team_id(&raw_team)?;
    let email = form.get("email").unwrap_or_default();
    if !is_plausible_email(email) {
        return Err(PageError::bad_request(
            "Enter a valid email address to invite.",
        ));
    }
    let raw_callback = form.get("callback_url").ok_or_else(|| {
        PageError::bad_request("Enter the callback URL the invitation mail links to.")
    })?;
    let callback = match Url::parse(raw_callback) {
        Ok(url) if !raw_callback.chars().any(char::is_whitespace) => url,
        _ => {
            return Err(PageError::bad_request(format!(
                "The callback URL {raw_callback} is not a valid URL; enter an absolute one such as {LOCAL_APP}/handler{ACCEPT_PAGE}."
            )));
        }
    };
    let auth = owner_auth(&ctx.project);
    let sent = invitations::send(&d.state.pool, &auth, team, email, &callback).await?;
    let mail = invitations::mail(&sent.team_display_name, sent.link.as_str());
    send_mail(&d.state, &ctx.project, email, mail);
    Ok(back_to_team(&ctx, team, "invitation-sent"))
}

/// `POST …/teams/{team_id}/invitations/{invitation_id}/revoke`: revokes a
/// pending invitation, as `DELETE /team-invitations/{id}` does.
pub async fn revoke(
    State(d): State<Dashboard>,
    Path((project_id, raw_team, raw_id)): Path<(String, String, String)>,
    _form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let team = team_id(&raw_team)?;
    let id = Uuid::parse_str(&raw_id).map_err(|_| {
        PageError::not_found(format!("There is no invitation {raw_id} to this team."))
    })?;
    let auth = owner_auth(&ctx.project);
    invitations::revoke(&d.state.pool, &auth, team, id).await?;
    Ok(back_to_team(&ctx, team, "invitation-revoked"))
}
