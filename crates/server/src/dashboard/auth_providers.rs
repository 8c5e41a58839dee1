//! The OAuth providers on a project's auth methods page: which provider
//! types sign in, each provider's keys (shared, or its own client ID and
//! secret), and what the emulator's mock provider holds. Changes go through
//! [`super::auth`]'s merge into the config override, with its rules for a
//! config-file project.

use serde_json::{Map, Value};

use super::Dashboard;
use super::html::{self, Esc, checkbox, seg};
use crate::config::at;
use crate::config::schema::OAUTH_PROVIDERS;

/// The project's providers of each type: (config id, provider).
pub(super) fn providers_of<'a>(
    config: &'a Map<String, Value>,
    kind: &str,
) -> Vec<(&'a String, &'a Value)> {
    at(config, "auth.oauth.providers")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter(|(_, p)| p["type"] == kind).collect())
        .unwrap_or_default()
}

pub(super) async fn card(
    d: &Dashboard,
    base: &str,
    config: &Map<String, Value>,
    token: &str,
) -> String {
    let rows: String = OAUTH_PROVIDERS
        .iter()
        .map(|kind| {
            let found = providers_of(config, kind);
            let on = found.iter().any(|(_, p)| p["allowSignIn"] == true);
            let keys = match found.first() {
                None => "",
                Some((_, p)) if p["isShared"] == false => {
                    "<span class=\"badge badge-blue\">own keys</span>"
                }
                Some(_) => "<span class=\"badge\">shared keys</span>",
            };
            format!(
                "<li>{}<span class=\"badges\">{keys}</span></li>",
                checkbox(&format!("provider_{kind}"), kind, on)
            )
        })
        .collect();
    let key_forms: String = OAUTH_PROVIDERS
        .iter()
        .flat_map(|kind| providers_of(config, kind))
        .map(|(id, p)| provider_keys_form(base, id, p, token))
        .collect();
    let key_forms = if key_forms.is_empty() {
        String::new()
    } else {
        format!(
            "<h3>Provider keys</h3><p class=\"muted small\">Shared keys work at once; a provider's own client ID and \
             secret are what production needs. The mock provider takes either.</p>{key_forms}"
        )
    };
    let browser_url = match d.state.runtime().await {
        Ok(rt) => d.state.settings.oauth.browser_url(&rt),
        Err(_) => None,
    };
    let mock = match browser_url {
        Some(url) => format!(
            "Every provider is answered offline by the emulator's mock OAuth provider at <code>{}</code>: its \
             sign-in page takes any email address, whatever keys the project has.",
            Esc(&url)
        ),
        None => {
            "This server runs without the mock OAuth provider, so OAuth sign-in is not available."
                .to_owned()
        }
    };
    let mock_state = d
        .state
        .mock_oauth_summary()
        .map(|m| mock_state(&m))
        .unwrap_or_default();
    format!(
        "<section class=\"card\"><h2>OAuth providers</h2><p class=\"muted small\">{mock}</p>{mock_state}\
         <form method=\"post\" action=\"{base}/auth/providers\" class=\"stack\">{csrf}\
         <ul class=\"providers\">{rows}</ul>\
         <button class=\"btn btn-primary\" type=\"submit\">Save</button></form>{key_forms}</section>",
        csrf = html::csrf_field(token),
    )
}

/// What the mock provider holds: the accounts signed in to each provider
/// (shared by every project of this emulator) and the sign-ins in progress.
fn mock_state(m: &crate::mock_oauth::MockSummary) -> String {
    let accounts: String = m
        .accounts
        .iter()
        .map(|(provider, login)| {
            format!(
                "<li><span class=\"badge\">{}</span> {}</li>",
                Esc(provider),
                Esc(login)
            )
        })
        .collect();
    let accounts = if accounts.is_empty() {
        "<p class=\"muted small\">No account is signed in at the mock yet.</p>".to_owned()
    } else {
        format!("<ul class=\"mock-accounts\">{accounts}</ul>")
    };
    format!(
        "<details class=\"mock-state\"><summary>Mock provider: {n} signed-in account{s}, {p} sign-in{ps} in progress</summary>\
         {accounts}<p class=\"muted small\">Shared by every project of this emulator; kept in memory (a snapshot keeps it, a cold boot empties it).</p></details>",
        n = m.accounts.len(),
        s = if m.accounts.len() == 1 { "" } else { "s" },
        p = m.sign_ins_in_progress,
        ps = if m.sign_ins_in_progress == 1 { "" } else { "s" },
    )
}

/// The form for one provider's keys: shared, or its own client ID and
/// secret (a secret left blank keeps the stored one, which is never shown).
fn provider_keys_form(base: &str, id: &str, p: &Value, token: &str) -> String {
    let kind = p["type"].as_str().unwrap_or(id);
    let shared = p["isShared"] != false;
    let text = |key: &str| p[key].as_str().unwrap_or_default().to_owned();
    let has_secret = !text("clientSecret").is_empty();
    let extra = match kind {
        "microsoft" => format!(
            "<label>Tenant ID (optional)<input name=\"microsoft_tenant_id\" value=\"{}\" autocomplete=\"off\"></label>",
            Esc(&text("microsoftTenantId"))
        ),
        "facebook" => format!(
            "<label>Configuration ID (optional)<input name=\"facebook_config_id\" value=\"{}\" autocomplete=\"off\"></label>",
            Esc(&text("facebookConfigId"))
        ),
        _ => String::new(),
    };
    format!(
        "<details class=\"provider-keys\"><summary>{kind_label} <span class=\"muted small\">{which}</span></summary>\
         <form method=\"post\" action=\"{base}/auth/providers/{sid}/keys\" class=\"stack\">{csrf}\
         <label class=\"check\"><input type=\"radio\" name=\"keys\" value=\"shared\"{shared_on}> Shared keys</label>\
         <label class=\"check\"><input type=\"radio\" name=\"keys\" value=\"own\"{own_on}> Own keys</label>\
         <label>Client ID<input name=\"client_id\" value=\"{client_id}\" autocomplete=\"off\"></label>\
         <label>Client secret<input name=\"client_secret\" type=\"password\" autocomplete=\"new-password\" placeholder=\"{secret_hint}\"></label>\
         {extra}<button class=\"btn\" type=\"submit\">Save keys</button></form></details>",
        kind_label = Esc(kind),
        which = if shared { "shared keys" } else { "own keys" },
        sid = seg(id),
        csrf = html::csrf_field(token),
        shared_on = if shared { " checked" } else { "" },
        own_on = if shared { "" } else { " checked" },
        client_id = Esc(&text("clientId")),
        secret_hint = if has_secret {
            "stored; leave blank to keep it"
        } else {
            "none stored"
        },
    )
}
