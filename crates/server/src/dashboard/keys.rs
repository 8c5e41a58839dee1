//! A project's API keys (`/projects/{id}/keys`): its key sets with their
//! description, dates, state and which keys each has (by their last four
//! characters); creating a set, whose keys the result page shows once; and
//! revoking one. The same storage and rules as `/internal/api-keys`
//! ([`crate::db::keys`]).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::html::{self, Esc, Section, seg};
use super::security::{CsrfToken, PostForm};
use super::{Dashboard, PageError, ProjectContext, notice};
use crate::db::keys::{self, KeyKind, KeySet, NewKeySet};
use crate::validate::single_line;

/// Longest description the form takes, in characters.
const MAX_DESCRIPTION_CHARS: usize = 255;

/// The expiry choices of Stack Auth's "Create API key" dialog: form value,
/// label, days (`None`: never).
const EXPIRY: [(&str, &str, Option<i64>); 6] = [
    ("1d", "1 day", Some(1)),
    ("7d", "7 days", Some(7)),
    ("30d", "30 days", Some(30)),
    ("90d", "90 days", Some(90)),
    ("365d", "1 year", Some(365)),
    ("never", "Never", None),
];

/// The three kinds of key: form field, label, kind.
const KINDS: [(&str, &str, KeyKind); 3] = [
    (
        "publishable_client_key",
        "Publishable client key",
        KeyKind::PublishableClient,
    ),
    (
        "secret_server_key",
        "Secret server key",
        KeyKind::SecretServer,
    ),
    (
        "super_secret_admin_key",
        "Super secret admin key",
        KeyKind::SuperSecretAdmin,
    ),
];

/// The query of the keys page.
#[derive(Debug, Deserialize)]
pub struct KeysParams {
    done: Option<String>,
}

/// `GET /projects/{id}/keys`.
pub async fn index(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    Query(p): Query<KeysParams>,
    csrf: axum::Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let sets = keys::list(&d.state.pool, &ctx.project.id).await?;
    let base = ctx.base();
    let table = if sets.is_empty() {
        "<div class=\"empty\">No API keys yet.</div>".to_owned()
    } else {
        let now = Utc::now();
        let rows: String = sets
            .iter()
            .map(|s| row(&base, s, now, csrf.value()))
            .collect();
        format!(
            "<div class=\"table-wrap\"><table class=\"keys\"><thead><tr><th>Description</th><th>Keys</th>\
             <th class=\"hide-sm\">Created</th><th class=\"hide-sm\">Expires</th><th>State</th><th></th></tr></thead>\
             <tbody>{rows}</tbody></table></div>"
        )
    };
    let body = format!(
        "<div class=\"page-head\"><div><h1>API keys</h1><p class=\"muted\">Key sets that let your app and \
         backend reach this project. A key is shown only once, when it is created.</p></div>{create}</div>{table}",
        create = create_form(&base, csrf.value()),
    );
    let chrome = ctx.chrome(Section::Keys, notice(p.done.as_deref()));
    Ok(html::respond(
        StatusCode::OK,
        html::page("API keys", &chrome, &body),
    ))
}

fn last_four(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

fn row(base: &str, set: &KeySet, now: DateTime<Utc>, token: &str) -> String {
    let keys: String = [
        (&set.publishable_client_key, "publishable"),
        (&set.secret_server_key, "secret server"),
        (&set.super_secret_admin_key, "admin"),
    ]
    .into_iter()
    .filter_map(|(k, label)| {
        k.as_deref().map(|k| {
            format!(
                "<span class=\"badge\">{label} …{}</span>",
                Esc(&last_four(k))
            )
        })
    })
    .collect();
    let (state, live) = match set.manually_revoked_at {
        Some(at) => (
            format!(
                "<span class=\"badge badge-red\" title=\"{}\">revoked</span>",
                html::date(&at)
            ),
            false,
        ),
        None if set.expires_at <= now => (
            "<span class=\"badge badge-amber\">expired</span>".to_owned(),
            false,
        ),
        None => (
            "<span class=\"badge badge-green\">active</span>".to_owned(),
            true,
        ),
    };
    let expires = if never_expires(&set.expires_at) {
        "never".to_owned()
    } else {
        html::date_cell(&set.expires_at)
    };
    let revoke = if live {
        format!(
            "<form method=\"post\" action=\"{base}/keys/{id}/revoke\" data-confirm=\"Revoke the key set {desc}? Apps that use it stop working.\">\
             {csrf}<button class=\"btn btn-small btn-danger-ghost\" type=\"submit\">Revoke</button></form>",
            id = seg(&set.id.to_string()),
            desc = Esc(&set.description),
            csrf = html::csrf_field(token),
        )
    } else {
        String::new()
    };
    format!(
        "<tr data-key-set=\"{id}\"><td>{desc}</td><td><span class=\"badges\">{keys}</span></td>\
         <td class=\"date hide-sm\">{created}</td><td class=\"date hide-sm\">{expires}</td><td>{state}</td>\
         <td class=\"actions\">{revoke}</td></tr>",
        id = Esc(&set.id.to_string()),
        desc = Esc(&set.description),
        created = html::date_cell(&set.created_at),
    )
}

/// Whether an expiry is past any a person would set: "never".
fn never_expires(at: &DateTime<Utc>) -> bool {
    *at > Utc::now() + Duration::days(365 * 100)
}

fn create_form(base: &str, token: &str) -> String {
    let options: String = EXPIRY
        .iter()
        .map(|(value, label, _)| {
            let selected = if *value == "90d" { " selected" } else { "" };
            format!("<option value=\"{value}\"{selected}>{label}</option>")
        })
        .collect();
    let kinds: String = KINDS
        .iter()
        .map(|(field, label, kind)| {
            let checked = if *kind == KeyKind::SuperSecretAdmin { "" } else { " checked" };
            format!("<label class=\"check\"><input type=\"checkbox\" name=\"{field}\" value=\"1\"{checked}> {label}</label>")
        })
        .collect();
    format!(
        "<details class=\"popover\"><summary class=\"btn btn-primary\">Create API key</summary>\
         <form method=\"post\" action=\"{base}/keys\" class=\"stack\">{csrf}\
         <label>Description<input name=\"description\" required maxlength=\"{MAX_DESCRIPTION_CHARS}\" autocomplete=\"off\"></label>\
         <label>Expires in<select name=\"expires_in\">{options}</select></label>{kinds}\
         <button class=\"btn btn-primary\" type=\"submit\">Create API key</button></form></details>",
        csrf = html::csrf_field(token),
    )
}

/// `POST /projects/{id}/keys`: a new key set with the chosen keys, shown in
/// full on the answer, the only time they are shown.
pub async fn create(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    form: PostForm,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let description = single_line(form.get("description").unwrap_or_default());
    if description.is_empty() {
        return Err(PageError::bad_request("An API key needs a description."));
    }
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(PageError::bad_request(format!(
            "A description has at most {MAX_DESCRIPTION_CHARS} characters."
        )));
    }
    let expires_at = match EXPIRY
        .iter()
        .find(|(value, _, _)| Some(*value) == form.get("expires_in"))
    {
        Some((_, _, Some(days))) => Utc::now() + Duration::days(*days),
        Some((_, _, None)) => DateTime::<Utc>::MAX_UTC,
        None => return Err(PageError::bad_request("Choose when the key expires.")),
    };
    let wanted = |kind: KeyKind| {
        KINDS
            .iter()
            .find(|(_, _, k)| *k == kind)
            .is_some_and(|(field, _, _)| form.checked(field))
    };
    if !KINDS.iter().any(|(_, _, k)| wanted(*k)) {
        return Err(PageError::bad_request("Choose at least one kind of key."));
    }
    let generate = |kind: KeyKind| wanted(kind).then(|| kind.generate()).transpose();
    let new = NewKeySet {
        description,
        expires_at,
        publishable_client_key: generate(KeyKind::PublishableClient)?,
        secret_server_key: generate(KeyKind::SecretServer)?,
        super_secret_admin_key: generate(KeyKind::SuperSecretAdmin)?,
    };
    let set = keys::insert(&d.state.pool, &ctx.project.id, &new)
        .await
        .map_err(|e| match e {
            keys::InsertKeySetError::Rng(e) => PageError::from(e),
            keys::InsertKeySetError::Database(e) => PageError::from(e),
        })?;
    // Post, redirect, get: the keys are shown by a GET that works once, so
    // a refresh of the page cannot make a second key set.
    let reveal_id = d.reveals.put(&ctx.project.id, set)?;
    Ok(Redirect::to(&format!("{}/keys/created/{reveal_id}", ctx.base())).into_response())
}

/// `GET /projects/{id}/keys/created/{reveal_id}`: the new key set, once.
pub async fn created(
    State(d): State<Dashboard>,
    Path((project_id, reveal_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    match d.reveals.take(&reveal_id, &ctx.project.id) {
        Some(set) => Ok(created_page(&ctx, &set)),
        None => Err(PageError::gone(
            "These keys were shown once and are not kept in full. If they were not copied, revoke that key set and create a new one.",
        )),
    }
}

/// The answer to a creation: the project ID and each new key, with copy
/// buttons.
fn created_page(ctx: &ProjectContext, set: &KeySet) -> Response {
    let id_line = |label: &str, value: &str, name: &str| {
        format!(
            "<dt>{label}</dt><dd><code class=\"secret\" data-key=\"{name}\">{v}</code>{copy}</dd>",
            v = Esc(value),
            copy = html::copy_button(value, label),
        )
    };
    let mut lines = id_line("Project ID", &ctx.project.id, "project_id");
    for (field, label, _) in KINDS {
        let value = match field {
            "publishable_client_key" => &set.publishable_client_key,
            "secret_server_key" => &set.secret_server_key,
            _ => &set.super_secret_admin_key,
        };
        if let Some(v) = value {
            lines.push_str(&id_line(label, v, field));
        }
    }
    let body = format!(
        "<p class=\"crumbs\"><a href=\"{base}/keys\">API keys</a> / <span>{desc}</span></p>\
         <div class=\"page-head\"><div><h1>API key created</h1>\
         <p class=\"muted\">Copy the keys now: this is the only time the dashboard shows them in full.</p></div></div>\
         <section class=\"card\"><dl class=\"props new-keys\">{lines}</dl>\
         <p><a class=\"btn\" href=\"{base}/keys?done=keys-created\">Done</a></p></section>",
        base = ctx.base(),
        desc = Esc(&set.description),
    );
    let chrome = ctx.chrome(Section::Keys, None);
    html::respond(
        StatusCode::OK,
        html::page("API key created", &chrome, &body),
    )
}

/// `POST /projects/{id}/keys/{key_id}/revoke`: revokes a key set, at once on
/// every server (as `PATCH /internal/api-keys/{id}` with `revoked: true`).
pub async fn revoke(
    State(d): State<Dashboard>,
    Path((project_id, raw_id)): Path<(String, String)>,
    _form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let missing = || PageError::not_found(format!("There is no API key {raw_id} in this project."));
    let id = Uuid::parse_str(&raw_id).map_err(|_| missing())?;
    keys::revoke(&d.state.pool, &ctx.project.id, id)
        .await?
        .ok_or_else(missing)?;
    d.state.clear_auth_cache();
    Ok(Redirect::to(&format!(
        "{}/keys?done=keys-revoked",
        ctx.base()
    )))
}
