//! A project's config (`/projects/{id}/config`): every value of the
//! effective config with the level it comes from (the defaults, then the
//! project, branch and environment overrides, in Stack Auth's order), the
//! three overrides as stored, and a form that sets or resets one key at one
//! level, checked and applied as `PATCH /internal/config/override/{level}`
//! does ([`crate::project_config`]).
//!
//! For a project that an app's config file defines (local emulator), the
//! branch level is the file: a change there is written back to the file by
//! the config sync, and environment changes are refused with Stack Auth's
//! local-emulator message, as the config API does.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::html::{self, Esc, Section};
use super::security::{CsrfToken, PostForm};
use super::{Dashboard, PageError, ProjectContext, notice};
use crate::config::{Level, Overrides};
use crate::db::local_emulator as paths;
use crate::project_config::{self, Change, EMULATOR_ENVIRONMENT_BLOCKED};

/// Longest key the form takes, in characters.
const MAX_KEY_CHARS: usize = 300;
/// Values longer than this are shown folded.
const FOLD_CHARS: usize = 120;

/// The query of the config page.
#[derive(Debug, Deserialize)]
pub struct ConfigParams {
    /// Show only keys that contain this text.
    q: Option<String>,
    done: Option<String>,
}

/// `GET /projects/{id}/config`.
pub async fn index(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    Query(p): Query<ConfigParams>,
    csrf: axum::Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let filter = p.q.as_deref().map(str::trim).unwrap_or_default();
    render(
        &d,
        &ctx,
        csrf.value(),
        filter,
        notice(p.done.as_deref()),
        None,
    )
    .await
}

/// Where a value of the effective config comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Default,
    Override(Level),
}

/// The level an override's leaf paths say `path` comes from: the last level
/// that sets it (a `null` there means back to the default).
fn source_of(path: &str, levels: &[(Level, Vec<(String, Value)>)]) -> Source {
    levels
        .iter()
        .rev()
        .find_map(|(level, leaves)| {
            leaves
                .iter()
                .find(|(key, _)| key == path || is_below(path, key))
                .map(|(_, value)| {
                    if value.is_null() {
                        Source::Default
                    } else {
                        Source::Override(*level)
                    }
                })
        })
        .unwrap_or(Source::Default)
}

/// Whether `path` lies under `key` (`a.b.c` under `a.b`).
fn is_below(path: &str, key: &str) -> bool {
    path.strip_prefix(key)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// The leaves of a config tree as dotted paths (an override's dotted keys
/// stay as written; an empty object or an array is one leaf).
fn leaves(prefix: &str, map: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) if !inner.is_empty() => leaves(&path, inner, out),
            other => out.push((path, other.clone())),
        }
    }
}

/// Whether a key holds a secret that the page should not print.
fn is_secret(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path).to_ascii_lowercase();
    last.contains("secret") || last.contains("password")
}

/// A value as the table shows it: secrets hidden, long values folded.
fn value_cell(path: &str, value: &Value) -> String {
    if is_secret(path)
        && let Some(text) = value.as_str().filter(|t| !t.is_empty())
    {
        return format!(
            "<span class=\"muted\">hidden ({} characters)</span>",
            text.chars().count()
        );
    }
    let json = value.to_string();
    if json.chars().count() <= FOLD_CHARS {
        return format!("<code>{}</code>", Esc(&json));
    }
    let head: String = json.chars().take(FOLD_CHARS).collect();
    format!(
        "<details><summary><code>{}…</code></summary><pre>{}</pre></details>",
        Esc(&head),
        Esc(&serde_json::to_string_pretty(value).unwrap_or(json))
    )
}

/// An override as stored, pretty-printed with its secrets hidden.
fn masked(map: &Map<String, Value>) -> String {
    fn mask(value: &mut Value, key: &str) {
        match value {
            Value::Object(m) => m.iter_mut().for_each(|(k, v)| mask(v, k)),
            Value::Array(items) => items.iter_mut().for_each(|v| mask(v, key)),
            Value::String(s) if is_secret(key) && !s.is_empty() => *s = "(hidden)".to_owned(),
            _ => {}
        }
    }
    let mut value = Value::Object(map.clone());
    mask(&mut value, "");
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Project => "project",
        Level::Branch => "branch",
        Level::Environment => "environment",
    }
}

fn source_badge(source: Source, file: bool) -> &'static str {
    match source {
        Source::Default => "<span class=\"badge\">default</span>",
        Source::Override(Level::Project) => "<span class=\"badge badge-amber\">project</span>",
        Source::Override(Level::Branch) if file => {
            "<span class=\"badge badge-blue\">branch (config file)</span>"
        }
        Source::Override(Level::Branch) => "<span class=\"badge badge-blue\">branch</span>",
        Source::Override(Level::Environment) => {
            "<span class=\"badge badge-green\">environment</span>"
        }
    }
}

/// The page, with a confirmation or a refusal.
async fn render(
    d: &Dashboard,
    ctx: &ProjectContext,
    token: &str,
    filter: &str,
    done: Option<&'static str>,
    refusal: Option<&str>,
) -> Result<Response, PageError> {
    let file = paths::path_of_project(&d.state.pool, &ctx.project.id).await?;
    let locked = d.state.settings.local_emulator && file.is_some();
    let overrides: &Overrides = &ctx.project.overrides;
    let levels: Vec<(Level, Vec<(String, Value)>)> =
        [Level::Project, Level::Branch, Level::Environment]
            .into_iter()
            .map(|level| {
                let mut out = Vec::new();
                leaves("", overrides.get(level), &mut out);
                (level, out)
            })
            .collect();
    let mut effective = Vec::new();
    leaves("", &ctx.project.rendered, &mut effective);
    let needle = filter.to_lowercase();
    let base = ctx.base();
    let csrf = html::csrf_field(token);
    let rows: String = effective
        .iter()
        .filter(|(path, _)| path.to_lowercase().contains(&needle))
        .map(|(path, value)| {
            let source = source_of(path, &levels);
            let reset = match source {
                Source::Override(level) if level != Level::Project => format!(
                    "<form method=\"post\" action=\"{base}/config/reset\">{csrf}\
                     <input type=\"hidden\" name=\"key\" value=\"{key}\">\
                     <input type=\"hidden\" name=\"level\" value=\"{level}\">\
                     <button class=\"btn btn-small btn-ghost\" type=\"submit\" title=\"Remove this key from the {level} override\">Reset</button></form>",
                    key = Esc(path),
                    level = level_name(level),
                ),
                _ => String::new(),
            };
            format!(
                "<tr><td><code>{key}</code></td><td>{value}</td><td>{badge}</td><td>{reset}</td></tr>",
                key = Esc(path),
                value = value_cell(path, value),
                badge = source_badge(source, file.is_some()),
            )
        })
        .collect();
    let rows = if rows.is_empty() {
        "<tr><td colspan=\"4\" class=\"muted\">No key contains that text.</td></tr>".to_owned()
    } else {
        rows
    };
    let about = match (&file, locked) {
        (Some(path), true) => format!(
            "<p class=\"notice\">This project is defined by the app's config file <code>{}</code>: its branch \
             level is the file. A branch change saved here is written back to the file by the config sync \
             (<code>stack-emulator config-sync</code>, which <code>start</code> runs); environment changes \
             are refused, as in Stack Auth's local emulator.</p>",
            Esc(path)
        ),
        (Some(path), false) => format!(
            "<p class=\"muted\">Mapped to the config file <code>{}</code>.</p>",
            Esc(path)
        ),
        (None, _) => String::new(),
    };
    let refusal = refusal
        .map(|r| format!("<p class=\"error-text\" role=\"alert\">{}</p>", Esc(r)))
        .unwrap_or_default();
    let raw: String = [Level::Project, Level::Branch, Level::Environment]
        .into_iter()
        .map(|level| {
            format!(
                "<details><summary>{name} override</summary><pre>{json}</pre></details>",
                name = level_name(level),
                json = Esc(&masked(overrides.get(level))),
            )
        })
        .collect();
    let default_level = if locked { "branch" } else { "environment" };
    let options: String = ["branch", "environment"]
        .iter()
        .map(|l| {
            format!(
                "<option value=\"{l}\"{}>{l}</option>",
                if *l == default_level { " selected" } else { "" }
            )
        })
        .collect();
    let body = format!(
        "<div class=\"page-head\"><div><h1>Config</h1>\
         <p class=\"muted\">The effective config: Stack Auth's defaults, then the project, branch and environment \
         overrides, each level over the one before.</p></div></div>{about}{refusal}\
         <section class=\"card\"><h2>Set a value</h2>\
         <form method=\"post\" action=\"{base}/config\" class=\"row\">{csrf}\
         <label class=\"grow\">Key<input name=\"key\" required maxlength=\"{MAX_KEY_CHARS}\" placeholder=\"auth.password.allowSignIn\" autocomplete=\"off\"></label>\
         <label class=\"grow\">Value (JSON)<input name=\"value\" required placeholder=\"true\" autocomplete=\"off\"></label>\
         <label>Level<select name=\"level\">{options}</select></label>\
         <button class=\"btn btn-primary\" type=\"submit\">Save</button></form>\
         <p class=\"muted small\">A value is JSON: <code>true</code>, <code>42</code>, <code>\"text\"</code>, <code>{{…}}</code>; \
         <code>null</code> goes back to the default. A key may name a whole object with dots, such as \
         <code>auth.oauth.providers.github</code>.</p></section>\
         <form class=\"toolbar\" method=\"get\" action=\"{base}/config\" role=\"search\">\
         <label class=\"sr-only\" for=\"config-filter\">Keys containing</label>\
         <input id=\"config-filter\" name=\"q\" value=\"{filter}\" type=\"search\" placeholder=\"Keys containing, such as auth.oauth\">\
         <button class=\"btn\" type=\"submit\">Filter</button></form>\
         <div class=\"table-wrap\"><table><thead><tr><th>Key</th><th>Value</th><th>From</th><th></th></tr></thead>\
         <tbody>{rows}</tbody></table></div>\
         <section class=\"card\"><h2>Overrides as stored</h2>{raw}</section>",
        filter = Esc(filter),
    );
    let chrome = ctx.chrome(Section::Config, done);
    let status = if refusal.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok(html::respond(status, html::page("Config", &chrome, &body)))
}

/// The form's level; the project level is the config API's alone.
fn form_level(form: &PostForm) -> Result<Level, PageError> {
    match form.get("level") {
        Some("branch") => Ok(Level::Branch),
        Some("environment") => Ok(Level::Environment),
        _ => Err(PageError::bad_request(
            "Choose the branch or the environment level.",
        )),
    }
}

/// The form's key: one line of dotted names.
fn form_key(form: &PostForm) -> Result<String, PageError> {
    let key = form
        .get("key")
        .ok_or_else(|| PageError::bad_request("Enter the key to set, such as auth.allowSignUp."))?;
    if key.chars().count() > MAX_KEY_CHARS
        || key.split('.').any(str::is_empty)
        || key.chars().any(char::is_control)
    {
        return Err(PageError::bad_request(format!(
            "The key must be names joined by dots, such as auth.allowSignUp, in at most {MAX_KEY_CHARS} characters."
        )));
    }
    Ok(key.to_owned())
}

/// Applies `change` at `level` unless the project's file owns that level's
/// environment; answers with the page's redirect or its refusal.
async fn save(
    d: &Dashboard,
    project_id: &str,
    token: &str,
    level: Level,
    change: Change,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, project_id).await?;
    let pool = &d.state.pool;
    let locked =
        project_config::environment_locked(pool, d.state.settings.local_emulator, &ctx.project.id)
            .await?;
    if locked && level == Level::Environment {
        return render(d, &ctx, token, "", None, Some(EMULATOR_ENVIRONMENT_BLOCKED)).await;
    }
    project_config::apply(pool, &ctx.project.id, level, change).await?;
    d.state.clear_auth_cache();
    let done = if locked && level == Level::Branch {
        "config-saved-file"
    } else {
        "config-saved"
    };
    Ok(Redirect::to(&format!("{}/config?done={done}", ctx.base())).into_response())
}

/// `POST /projects/{id}/config`: sets one key at one level.
pub async fn set(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    csrf: axum::Extension<CsrfToken>,
    form: PostForm,
) -> Result<Response, PageError> {
    let key = form_key(&form)?;
    let level = form_level(&form)?;
    let text = form.raw("value").map(str::trim).unwrap_or_default();
    let value: Value = serde_json::from_str(text).map_err(|e| {
        PageError::bad_request(format!(
            "The value is not JSON ({e}). Write text in double quotes, such as \"hello\"; true, 42 and null are written as they are."
        ))
    })?;
    let mut patch = Map::new();
    patch.insert(key, value);
    let parsed = project_config::parse_override(level, &Value::Object(patch).to_string())?;
    save(&d, &project_id, csrf.value(), level, Change::Merge(parsed)).await
}

/// `POST /projects/{id}/config/reset`: removes one key (and what lies below
/// it) from one level's override.
pub async fn reset(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    csrf: axum::Extension<CsrfToken>,
    form: PostForm,
) -> Result<Response, PageError> {
    let key = form_key(&form)?;
    let level = form_level(&form)?;
    save(
        &d,
        &project_id,
        csrf.value(),
        level,
        Change::Reset(vec![key]),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn leaf_paths(value: Value) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        if let Value::Object(map) = value {
            leaves("", &map, &mut out);
        }
        out
    }

    #[test]
    fn each_value_comes_from_the_last_level_that_sets_it() {
        let levels = vec![
            (
                Level::Project,
                leaf_paths(json!({ "auth": { "allowSignUp": false } })),
            ),
            (
                Level::Branch,
                leaf_paths(
                    json!({ "auth.allowSignUp": true, "auth.password": { "allowSignIn": true } }),
                ),
            ),
            (
                Level::Environment,
                leaf_paths(
                    json!({ "auth.password.allowSignIn": null, "domains": { "allowLocalhost": true } }),
                ),
            ),
        ];
        assert_eq!(
            source_of("auth.allowSignUp", &levels),
            Source::Override(Level::Branch)
        );
        assert_eq!(
            source_of("auth.password.allowSignIn", &levels),
            Source::Default
        );
        assert_eq!(
            source_of("domains.allowLocalhost", &levels),
            Source::Override(Level::Environment)
        );
        assert_eq!(source_of("auth.otp.allowSignIn", &levels), Source::Default);
        // A prefix that is not a whole name does not count.
        assert_eq!(source_of("auth.allowSignUpX", &levels), Source::Default);
    }

    #[test]
    fn secrets_are_hidden_in_cells_and_in_stored_overrides() {
        let cell = value_cell("auth.oauth.providers.google.clientSecret", &json!("s3cr3t"));
        assert!(
            !cell.contains("s3cr3t") && cell.contains("6 characters"),
            "{cell}"
        );
        let map = json!({ "emails": { "server": { "password": "hunter2", "host": "smtp" } } })
            .as_object()
            .cloned()
            .unwrap_or_default();
        let shown = masked(&map);
        assert!(
            !shown.contains("hunter2") && shown.contains("smtp"),
            "{shown}"
        );
        assert!(value_cell("auth.allowSignUp", &json!(true)).contains("true"));
    }
}
