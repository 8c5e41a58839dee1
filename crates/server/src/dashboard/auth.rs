//! A project's auth methods (`/projects/{id}/auth`): the sign-in methods and
//! sign-up, the OAuth providers (`auth_providers.rs`), and the trusted domains.
//!
//! Every change is a merge into the project's config override, checked and
//! applied as `PATCH /internal/config/override/environment` does
//! ([`crate::project_config`]). A project that an app's config file defines
//! (local emulator) is the exception, as in Stack Auth: its sign-in keys go
//! to the branch override, which the config file sync writes back to the
//! file, and its environment-only keys (domains, OAuth credentials) are
//! refused with Stack Auth's local-emulator message.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::html::{self, Esc, Section, seg};
use super::security::{CsrfToken, PostForm};
use super::{Dashboard, PageError, ProjectContext, notice};
use crate::config::Level;
use crate::db::local_emulator as paths;
use crate::project_config::{self, Change, EMULATOR_ENVIRONMENT_BLOCKED};
use crate::random;

/// The sign-in switches: form field, config key, label.
const METHODS: [(&str, &str, &str); 4] = [
    ("password", "auth.password.allowSignIn", "Password"),
    (
        "otp",
        "auth.otp.allowSignIn",
        "One-time code and magic link",
    ),
    ("passkey", "auth.passkey.allowSignIn", "Passkey"),
    (
        "sign_up",
        "auth.allowSignUp",
        "Sign-up (new users may register)",
    ),
];

/// The query of the auth page.
#[derive(Debug, Deserialize)]
pub struct AuthParams {
    done: Option<String>,
}

/// `GET /projects/{id}/auth`.
pub async fn index(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    Query(p): Query<AuthParams>,
    csrf: axum::Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    render(&d, &ctx, csrf.value(), notice(p.done.as_deref()), None).await
}

/// The page, with a confirmation or a refusal.
async fn render(
    d: &Dashboard,
    ctx: &ProjectContext,
    token: &str,
    done: Option<&'static str>,
    refusal: Option<&str>,
) -> Result<Response, PageError> {
    let file = paths::path_of_project(&d.state.pool, &ctx.project.id).await?;
    let locked = d.state.settings.local_emulator && file.is_some();
    let base = ctx.base();
    let config = &ctx.project.rendered;
    let file_note = match (&file, locked) {
        (Some(path), true) => format!(
            "<p class=\"card note\">This project is defined by the config file <code>{}</code>. Changes to sign-in \
             methods, sign-up and OAuth providers go to its branch config, and the config file sync writes them \
             back to the file. Domains and OAuth keys are environment settings, which the local emulator does not \
             change.</p>",
            Esc(path)
        ),
        _ => String::new(),
    };
    let refusal = refusal
        .map(|r| {
            format!(
                "<p class=\"notice notice-error\" role=\"alert\">{}</p>",
                Esc(r)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<div class=\"page-head\"><div><h1>Auth methods</h1>\
         <p class=\"muted\">How users sign in to {name}.</p></div></div>{refusal}{file_note}\
         <div class=\"cols\">{methods}{providers}{domains}</div>",
        name = Esc(&ctx.project.display_name),
        methods = methods_card(&base, config, token),
        providers = super::auth_providers::card(d, &base, config, token).await,
        domains = domains_card(&base, config, token),
    );
    let status = if refusal.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let chrome = ctx.chrome(Section::Auth, done);
    Ok(html::respond(
        status,
        html::page("Auth methods", &chrome, &body),
    ))
}

/// The value at a dotted path of the rendered config.
pub(super) fn at<'a>(config: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let first = config.get(parts.next()?)?;
    parts.try_fold(first, |v, k| v.get(k))
}

fn flag(config: &Map<String, Value>, path: &str) -> bool {
    at(config, path).and_then(Value::as_bool).unwrap_or(false)
}

pub(super) fn checkbox(name: &str, label: &str, on: bool) -> String {
    format!(
        "<label class=\"check\"><input type=\"checkbox\" name=\"{name}\" value=\"1\"{}> {label}</label>",
        if on { " checked" } else { "" }
    )
}

fn methods_card(base: &str, config: &Map<String, Value>, token: &str) -> String {
    let boxes: String = METHODS
        .iter()
        .map(|(field, key, label)| checkbox(field, label, flag(config, key)))
        .collect();
    format!(
        "<section class=\"card\"><h2>Sign-in methods</h2>\
         <form method=\"post\" action=\"{base}/auth/methods\" class=\"stack\">{csrf}{boxes}\
         <button class=\"btn btn-primary\" type=\"submit\" id=\"save-methods\">Save</button></form></section>",
        csrf = html::csrf_field(token),
    )
}

fn domains_card(base: &str, config: &Map<String, Value>, token: &str) -> String {
    let csrf = html::csrf_field(token);
    let rows: String = at(config, "domains.trustedDomains")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(id, d)| {
                    format!(
                        "<li><span><code>{url}</code> <span class=\"muted small\">{path}</span></span>\
                         <form method=\"post\" action=\"{base}/auth/domains/{sid}/remove\">{csrf}\
                         <button class=\"btn btn-small btn-danger-ghost\" type=\"submit\">Remove</button></form></li>",
                        url = Esc(d["baseUrl"].as_str().unwrap_or("")),
                        path = Esc(d["handlerPath"].as_str().unwrap_or("")),
                        sid = seg(id),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let list = if rows.is_empty() {
        "<p class=\"muted\">No trusted domains yet.</p>".to_owned()
    } else {
        format!("<ul class=\"domains\">{rows}</ul>")
    };
    format!(
        "<section class=\"card\"><h2>Domains</h2>\
         <form method=\"post\" action=\"{base}/auth/localhost\" class=\"row\">{csrf}{localhost}\
         <button class=\"btn btn-small\" type=\"submit\">Save</button></form>\
         <h3>Trusted domains</h3>{list}\
         <form method=\"post\" action=\"{base}/auth/domains\" class=\"stack\">{csrf}\
         <label>Domain<input name=\"base_url\" type=\"url\" required placeholder=\"https://app.example.com\"></label>\
         <label>Handler path<input name=\"handler_path\" value=\"/handler\" required></label>\
         <button class=\"btn\" type=\"submit\">Add domain</button></form></section>",
        localhost = checkbox(
            "allow_localhost",
            "Allow localhost callbacks",
            flag(config, "domains.allowLocalhost")
        ),
    )
}

/// What a change may touch: keys every level takes, or environment-only ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keys {
    Branch,
    EnvironmentOnly,
}

/// Merges `patch` into the project's override as the config API does: the
/// environment override, or for a config-file project the branch override
/// (environment-only keys refused). `Ok(None)` when applied, `Ok(Some(msg))`
/// when refused.
async fn merge(
    d: &Dashboard,
    ctx: &ProjectContext,
    keys: Keys,
    patch: Map<String, Value>,
) -> Result<Option<&'static str>, PageError> {
    let pool = &d.state.pool;
    let locked =
        project_config::environment_locked(pool, d.state.settings.local_emulator, &ctx.project.id)
            .await?;
    let level = match (locked, keys) {
        (true, Keys::EnvironmentOnly) => return Ok(Some(EMULATOR_ENVIRONMENT_BLOCKED)),
        (true, Keys::Branch) => Level::Branch,
        (false, _) => Level::Environment,
    };
    let parsed = project_config::parse_override(level, &Value::Object(patch).to_string())?;
    project_config::apply(pool, &ctx.project.id, level, Change::Merge(parsed)).await?;
    d.state.clear_auth_cache();
    Ok(None)
}

/// Applies a change and answers: back to the page with a confirmation, or
/// the page with the refusal.
pub(super) async fn change(
    d: &Dashboard,
    project_id: &str,
    token: &str,
    keys: Keys,
    patch: Map<String, Value>,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, project_id).await?;
    if patch.is_empty() {
        return Ok(Redirect::to(&format!("{}/auth?done=auth-saved", ctx.base())).into_response());
    }
    match merge(d, &ctx, keys, patch).await? {
        None => Ok(Redirect::to(&format!("{}/auth?done=auth-saved", ctx.base())).into_response()),
        Some(refusal) => render(d, &ctx, token, None, Some(refusal)).await,
    }
}

/// `POST /projects/{id}/auth/methods`: the sign-in switches and sign-up.
pub async fn save_methods(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    csrf: axum::Extension<CsrfToken>,
    form: PostForm,
) -> Result<Response, PageError> {
    let patch = METHODS
        .iter()
        .map(|(field, key, _)| ((*key).to_owned(), json!(form.checked(field))))
        .collect();
    change(&d, &project_id, csrf.value(), Keys::Branch, patch).await
}

/// `POST /projects/{id}/auth/localhost`: whether localhost callbacks are
/// trusted.
pub async fn save_localhost(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    csrf: axum::Extension<CsrfToken>,
    form: PostForm,
) -> Result<Response, PageError> {
    let mut patch = Map::new();
    patch.insert(
        "domains.allowLocalhost".into(),
        json!(form.checked("allow_localhost")),
    );
    change(&d, &project_id, csrf.value(), Keys::EnvironmentOnly, patch).await
}

/// `POST /projects/{id}/auth/domains`: adds a trusted domain.
pub async fn add_domain(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    csrf: axum::Extension<CsrfToken>,
    form: PostForm,
) -> Result<Response, PageError> {
    let raw = form.get("base_url").unwrap_or_default();
    let valid = url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if valid.is_none() {
        return Err(PageError::bad_request(
            "A trusted domain is a URL such as https://app.example.com.",
        ));
    }
    let handler_path = form.get("handler_path").unwrap_or("/handler");
    if !handler_path.starts_with('/') {
        return Err(PageError::bad_request("The handler path starts with /."));
    }
    let mut patch = Map::new();
    patch.insert(
        format!("domains.trustedDomains.{}", random::uuid()?),
        json!({ "baseUrl": raw.trim_end_matches('/'), "handlerPath": handler_path }),
    );
    change(&d, &project_id, csrf.value(), Keys::EnvironmentOnly, patch).await
}

/// `POST /projects/{id}/auth/domains/{domain_id}/remove`: removes a trusted
/// domain.
pub async fn remove_domain(
    State(d): State<Dashboard>,
    Path((project_id, domain_id)): Path<(String, String)>,
    csrf: axum::Extension<CsrfToken>,
    _form: PostForm,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let key = format!("domains.trustedDomains.{domain_id}");
    if at(&ctx.project.rendered, &key).is_none() || domain_id.contains('.') {
        return Err(PageError::not_found("There is no such trusted domain."));
    }
    let mut patch = Map::new();
    patch.insert(key, Value::Null);
    change(&d, &project_id, csrf.value(), Keys::EnvironmentOnly, patch).await
}
