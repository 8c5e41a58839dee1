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
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::html::{self, Esc, Section, checkbox, seg};
use super::security::CsrfToken;
use super::{Dashboard, PageError, ProjectContext, notice};
use crate::config::at;
use crate::db::local_emulator as paths;

/// The sign-in switches: form field, config key, label.
pub(super) const METHODS: [(&str, &str, &str); 4] = [
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
pub(super) async fn render(
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

fn flag(config: &Map<String, Value>, path: &str) -> bool {
    at(config, path).and_then(Value::as_bool).unwrap_or(false)
}
