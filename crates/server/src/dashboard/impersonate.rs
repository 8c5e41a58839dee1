//! Impersonating a user: a session made as `POST /auth/sessions` (server
//! access) makes one with `is_impersonation: true` ([`tokens::sign_in`]),
//! whose tokens the next page shows once, with a ready `curl` command for
//! `GET /users/me`. The tokens are kept only until that page is opened
//! ([`super::reveal`]); the session itself is listed on the user's page,
//! marked as an impersonation, and can be revoked there.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Redirect, Response};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::html::{self, Esc, Section, seg};
use super::security::PostForm;
use super::user_path::{load, user_id};
use super::{Dashboard, PageError, ProjectContext};
use crate::secret::Secret;
use crate::tokens;

/// How long an impersonation session lasts: two hours, as the sessions
/// Stack Auth's dashboard makes to impersonate a user.
const IMPERSONATION_LIFETIME: Duration = Duration::from_secs(2 * 3600);

/// A new impersonation session waiting to be shown.
#[derive(Debug)]
pub struct NewSession {
    user_id: Uuid,
    /// The user's email or name, for the heading.
    who: String,
    access_token: Secret<String>,
    refresh_token: Secret<String>,
    expires_at: DateTime<Utc>,
}

/// The card with the impersonate button.
pub fn section(here: &str, token: &str) -> String {
    format!(
        "<section class=\"card\"><h2>Impersonate</h2><p class=\"muted\">Creates a session for this user, \
         marked as an impersonation, that lasts two hours, and shows its tokens once, with a <code>curl</code> \
         command that calls the API as them.</p>\
         <form method=\"post\" action=\"{here}/impersonate\">{csrf}\
         <button class=\"btn\" type=\"submit\" id=\"impersonate\">Impersonate</button></form></section>",
        csrf = html::csrf_field(token),
    )
}

/// `POST …/users/{user_id}/impersonate`.
pub async fn create(
    State(d): State<Dashboard>,
    Path((project_id, raw_user)): Path<(String, String)>,
    _form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let id = user_id(&raw_user)?;
    let user = load(&d, &ctx.project.id, id).await?;
    let pair = tokens::sign_in(&d.state, &ctx.project, &user, IMPERSONATION_LIFETIME, true).await?;
    let who = user
        .primary_email
        .clone()
        .or_else(|| user.display_name.clone().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| id.to_string());
    let session = NewSession {
        user_id: id,
        who,
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        expires_at: Utc::now()
            + chrono::Duration::from_std(IMPERSONATION_LIFETIME).unwrap_or_default(),
    };
    // Post, redirect, get: a refresh of the token page cannot make a second
    // session, and the tokens leave memory once shown.
    let reveal_id = d.sessions.put(&ctx.project.id, session)?;
    Ok(Redirect::to(&format!(
        "{}/users/{}/impersonate/{}",
        ctx.base(),
        seg(&id.to_string()),
        seg(&reveal_id)
    )))
}

/// `GET …/users/{user_id}/impersonate/{reveal_id}`: the tokens, once.
pub async fn show(
    State(d): State<Dashboard>,
    Path((project_id, raw_user, reveal_id)): Path<(String, String, String)>,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let id = user_id(&raw_user)?;
    let session = d
        .sessions
        .take(&reveal_id, &ctx.project.id)
        .filter(|s| s.user_id == id)
        .ok_or_else(|| {
            PageError::gone(
                "These tokens were shown once and are not kept. The session still works until it \
                 expires; revoke it on the user's page, or impersonate again for new tokens.",
            )
        })?;
    let api = d
        .state
        .runtime()
        .await
        .map_err(crate::error::ApiError::from)?;
    Ok(tokens_page(&ctx, &session, &api.public_api_url).into_response())
}

/// `s` as one single-quoted shell word.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The `curl` command that reads the user as the app would, signed in with
/// `access_token`; and whether it needs the project's publishable key.
fn curl_command(api_url: &str, ctx: &ProjectContext, access_token: &str) -> (String, bool) {
    let needs_key = ctx.project.config.require_publishable_client_key;
    let mut command = format!(
        "curl {url} \\\n  -H 'x-stack-access-type: client' \\\n  -H {project} \\\n  -H {token}",
        url = shell_quote(&format!("{api_url}/api/v1/users/me")),
        project = shell_quote(&format!("x-stack-project-id: {}", ctx.project.id)),
        token = shell_quote(&format!("x-stack-access-token: {access_token}")),
    );
    if needs_key {
        // Double quotes: the shell fills in the variable.
        command.push_str(
            " \\\n  -H \"x-stack-publishable-client-key: $STACK_PUBLISHABLE_CLIENT_KEY\"",
        );
    }
    (command, needs_key)
}

fn tokens_page(ctx: &ProjectContext, s: &NewSession, api_url: &str) -> Response {
    let line = |label: &str, value: &str, name: &str| {
        format!(
            "<dt>{label}</dt><dd><code class=\"secret\" data-token=\"{name}\">{v}</code>{copy}</dd>",
            v = Esc(value),
            copy = html::copy_button(value, label),
        )
    };
    let (curl, needs_key) = curl_command(api_url, ctx, s.access_token.expose());
    let key_note = if needs_key {
        "<p class=\"muted\">This project requires a publishable client key: set \
         <code>STACK_PUBLISHABLE_CLIENT_KEY</code> to one of its keys (API keys page) before running it.</p>"
    } else {
        ""
    };
    let user_page = format!("{}/users/{}", ctx.base(), seg(&s.user_id.to_string()));
    let body = format!(
        "<p class=\"crumbs\"><a href=\"{base}/users\">Users</a> / <a href=\"{user_page}\">{who}</a> / \
         <span>Impersonate</span></p>\
         <div class=\"page-head\"><div><h1>Impersonating {who}</h1>\
         <p class=\"muted\">Copy the tokens now: this is the only time the dashboard shows them. \
         The session expires {expires}.</p></div></div>\
         <section class=\"card\"><dl class=\"props new-keys\">{access}{refresh}</dl>\
         <h3>Call the API as this user</h3><pre id=\"impersonate-curl\">{curl_text}</pre>\
         <p>{copy}</p>{key_note}\
         <p><a class=\"btn\" href=\"{user_page}\">Back to the user</a></p></section>",
        base = ctx.base(),
        who = Esc(&s.who),
        expires = html::date(&s.expires_at),
        access = line("Access token", s.access_token.expose(), "access_token"),
        refresh = line("Refresh token", s.refresh_token.expose(), "refresh_token"),
        curl_text = Esc(&curl),
        copy = html::copy_button(&curl, "curl command"),
    );
    let chrome = ctx.chrome(Section::Users, None);
    html::respond(StatusCode::OK, html::page("Impersonate", &chrome, &body))
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quoted_words_keep_their_quotes_inside() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's $HOME"), r"'it'\''s $HOME'");
    }
}
