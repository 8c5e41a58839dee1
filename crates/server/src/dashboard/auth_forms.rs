//! The forms of a project's auth methods page: the sign-in switches,
//! the OAuth providers and their keys, `allowLocalhost` and the trusted
//! domains. Each is a merge into the project's config override, checked and
//! applied as `PATCH /internal/config/override/environment` does
//! ([`crate::project_config`]); for a project that an app's config file
//! defines, sign-in keys go to the branch override (which the config sync
//! writes to the file) and environment-only keys are refused with Stack
//! Auth's local-emulator message, shown on the page.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value, json};

use super::auth::{METHODS, render};
use super::auth_providers::providers_of;
use super::security::{CsrfToken, PostForm};
use super::{Dashboard, PageError, ProjectContext};
use crate::config::schema::OAUTH_PROVIDERS;
use crate::config::{Level, at};
use crate::project_config::{self, Change, EMULATOR_ENVIRONMENT_BLOCKED};
use crate::random;

/// What a change may touch: keys every level takes, or environment-only ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keys {
    Branch,
    EnvironmentOnly,
}

/// The project a form changes, with whether an app's config file owns its
/// config (local emulator): read once per request.
struct Target {
    ctx: ProjectContext,
    locked: bool,
}

impl Target {
    async fn load(d: &Dashboard, project_id: &str) -> Result<Self, PageError> {
        let ctx = ProjectContext::load(&d.state, project_id).await?;
        let locked = project_config::environment_locked(
            &d.state.pool,
            d.state.settings.local_emulator,
            &ctx.project.id,
        )
        .await?;
        Ok(Self { ctx, locked })
    }
}

/// Merges `patch` into the project's override as the config API does: the
/// environment override, or for a config-file project the branch override
/// (environment-only keys refused). `Ok(None)` when applied, `Ok(Some(msg))`
/// when refused.
async fn merge(
    d: &Dashboard,
    target: &Target,
    keys: Keys,
    patch: Map<String, Value>,
) -> Result<Option<&'static str>, PageError> {
    let level = match (target.locked, keys) {
        (true, Keys::EnvironmentOnly) => return Ok(Some(EMULATOR_ENVIRONMENT_BLOCKED)),
        (true, Keys::Branch) => Level::Branch,
        (false, _) => Level::Environment,
    };
    let parsed = project_config::parse_override(level, &Value::Object(patch).to_string())?;
    let project_id = &target.ctx.project.id;
    project_config::apply(&d.state.pool, project_id, level, Change::Merge(parsed)).await?;
    d.state.clear_auth_cache();
    Ok(None)
}

/// Applies a change and answers: back to the page with a confirmation, or
/// the page with the refusal.
async fn change(
    d: &Dashboard,
    target: &Target,
    token: &str,
    keys: Keys,
    patch: Map<String, Value>,
) -> Result<Response, PageError> {
    let ctx = &target.ctx;
    if patch.is_empty() {
        return Ok(Redirect::to(&format!("{}/auth?done=auth-saved", ctx.base())).into_response());
    }
    match merge(d, target, keys, patch).await? {
        None => Ok(Redirect::to(&format!("{}/auth?done=auth-saved", ctx.base())).into_response()),
        Some(refusal) => render(d, ctx, token, None, Some(refusal)).await,
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
    let target = Target::load(&d, &project_id).await?;
    change(&d, &target, csrf.value(), Keys::Branch, patch).await
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
    let target = Target::load(&d, &project_id).await?;
    change(&d, &target, csrf.value(), Keys::EnvironmentOnly, patch).await
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
    let target = Target::load(&d, &project_id).await?;
    change(&d, &target, csrf.value(), Keys::EnvironmentOnly, patch).await
}

/// `POST /projects/{id}/auth/domains/{domain_id}/remove`: removes a trusted
/// domain.
pub async fn remove_domain(
    State(d): State<Dashboard>,
    Path((project_id, domain_id)): Path<(String, String)>,
    csrf: axum::Extension<CsrfToken>,
    _form: PostForm,
) -> Result<Response, PageError> {
    let target = Target::load(&d, &project_id).await?;
    let key = format!("domains.trustedDomains.{domain_id}");
    if at(&target.ctx.project.rendered, &key).is_none() || domain_id.contains('.') {
        return Err(PageError::not_found("There is no such trusted domain."));
    }
    let mut patch = Map::new();
    patch.insert(key, Value::Null);
    change(&d, &target, csrf.value(), Keys::EnvironmentOnly, patch).await
}

/// `POST /projects/{id}/auth/providers`: which provider types sign in. A
/// type turned on for the first time gets a provider with the shared keys.
pub async fn save_providers(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    csrf: axum::Extension<CsrfToken>,
    form: PostForm,
) -> Result<Response, PageError> {
    let target = Target::load(&d, &project_id).await?;
    let config = &target.ctx.project.rendered;
    let mut patch = Map::new();
    for kind in OAUTH_PROVIDERS {
        let wanted = form.checked(&format!("provider_{kind}"));
        let found = providers_of(config, kind);
        if found.is_empty() {
            if wanted {
                let mut provider = json!({ "type": kind, "allowSignIn": true });
                if !target.locked {
                    provider["isShared"] = json!(true);
                }
                patch.insert(format!("auth.oauth.providers.{kind}"), provider);
            }
            continue;
        }
        for (id, p) in found {
            if (p["allowSignIn"] == true) != wanted {
                patch.insert(
                    format!("auth.oauth.providers.{id}.allowSignIn"),
                    json!(wanted),
                );
            }
        }
    }
    change(&d, &target, csrf.value(), Keys::Branch, patch).await
}

/// `POST /projects/{id}/auth/providers/{provider_id}/keys`: a provider's
/// keys, shared or its own (environment settings, as in Stack Auth).
pub async fn save_provider_keys(
    State(d): State<Dashboard>,
    Path((project_id, provider_id)): Path<(String, String)>,
    csrf: axum::Extension<CsrfToken>,
    form: PostForm,
) -> Result<Response, PageError> {
    let target = Target::load(&d, &project_id).await?;
    let key = format!("auth.oauth.providers.{provider_id}");
    let stored = match at(&target.ctx.project.rendered, &key) {
        Some(p) if !provider_id.contains('.') => p.clone(),
        _ => return Err(PageError::not_found("There is no such OAuth provider.")),
    };
    let mut patch = Map::new();
    match form.get("keys") {
        Some("shared") => {
            patch.insert(format!("{key}.isShared"), json!(true));
        }
        Some("own") => {
            let client_id = form.get("client_id").ok_or_else(|| {
                PageError::bad_request("Own keys need the client ID the provider gave your app.")
            })?;
            let secret = form.get("client_secret");
            if secret.is_none()
                && stored["clientSecret"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty()
            {
                return Err(PageError::bad_request(
                    "Own keys need the client secret the provider gave your app.",
                ));
            }
            patch.insert(format!("{key}.isShared"), json!(false));
            patch.insert(format!("{key}.clientId"), json!(client_id));
            if let Some(secret) = secret {
                patch.insert(format!("{key}.clientSecret"), json!(secret));
            }
            for (field, config_key) in [
                ("microsoft_tenant_id", "microsoftTenantId"),
                ("facebook_config_id", "facebookConfigId"),
            ] {
                if let Some(value) = form.get(field) {
                    patch.insert(format!("{key}.{config_key}"), json!(value));
                }
            }
        }
        _ => return Err(PageError::bad_request("Choose shared keys or own keys.")),
    }
    change(&d, &target, csrf.value(), Keys::EnvironmentOnly, patch).await
}
