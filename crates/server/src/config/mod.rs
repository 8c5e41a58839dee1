//! A project's configuration, as Stack Auth layers it: a JSON tree with
//! defaults ([`defaults`]), overridden at the project, branch and environment
//! levels, in that order ([`format::override_with`]). Overrides may use dotted
//! keys and `null` ("back to the default"); each level may only set the keys
//! its schema has ([`schema`]). The *rendered* config is the defaults with all
//! overrides applied, normalized and tidied ([`render`]); the rest of the
//! server reads it through the typed view in [`legacy`].

pub mod defaults;
pub use stack_proto::config_format as format;
pub mod legacy;
pub mod migrate;
pub mod schema;

use serde_json::{Map, Value, json};

/// An override level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Project-wide settings (`sourceOfTruth`, `project.*`).
    Project = 0,
    /// What an app's config file holds: sign-in methods, teams, RBAC, …
    Branch = 1,
    /// Per-deployment settings and secrets: domains, OAuth credentials, the
    /// mail server.
    Environment = 2,
}

impl Level {
    /// The level named in a URL.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "project" => Some(Self::Project),
            "branch" => Some(Self::Branch),
            "environment" => Some(Self::Environment),
            _ => None,
        }
    }
}

/// The three overrides of one project (on its one branch, `main`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// The project-level override.
    pub project: Map<String, Value>,
    /// The branch-level override.
    pub branch: Map<String, Value>,
    /// The environment-level override.
    pub environment: Map<String, Value>,
}

impl Overrides {
    /// The override of `level`.
    pub fn get(&self, level: Level) -> &Map<String, Value> {
        match level {
            Level::Project => &self.project,
            Level::Branch => &self.branch,
            Level::Environment => &self.environment,
        }
    }

    /// The override of `level`, to change.
    pub fn get_mut(&mut self, level: Level) -> &mut Map<String, Value> {
        match level {
            Level::Project => &mut self.project,
            Level::Branch => &mut self.branch,
            Level::Environment => &mut self.environment,
        }
    }

    /// The overrides applied in order, before defaults.
    pub fn incomplete(&self) -> Map<String, Value> {
        let branch = format::override_with(&self.project, &self.branch);
        format::override_with(&branch, &self.environment)
    }

    /// The complete config: defaults, overrides, normalized and tidied.
    pub fn render(&self) -> Map<String, Value> {
        render(&self.incomplete())
    }
}

/// The value at a dotted path (`auth.password.allowSignIn`) of a rendered config.
pub fn at<'a>(config: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let first = config.get(parts.next()?)?;
    parts.try_fold(first, |v, k| v.get(k))
}

/// The complete config of an incomplete one (the overrides applied).
pub fn render(incomplete: &Map<String, Value>) -> Map<String, Value> {
    let with_defaults = defaults::apply(&defaults::COMPLETE, incomplete);
    let mut dropped = Vec::new();
    // Dropping keys that dot into nothing cannot fail.
    let normalized = format::normalize(&with_defaults, format::OnMissingParent::Drop, &mut dropped)
        .unwrap_or_default();
    tidy(normalized)
}

/// The last step of rendering: only the source-of-truth fields its type has,
/// providers without a type left out, sign-up rules by priority, a selected
/// theme that exists, the built-in templates while the shared mail server is
/// in use, prices and add-ons in their full form, apps in their list order.
fn tidy(mut config: Map<String, Value>) -> Map<String, Value> {
    let source = config.get("sourceOfTruth").cloned().unwrap_or(Value::Null);
    let tidy_source = match source["type"].as_str() {
        Some("neon") if source["connectionStrings"].is_object() => {
            json!({ "type": "neon", "connectionStrings": source["connectionStrings"] })
        }
        Some("postgres") if source["connectionString"].is_string() => {
            json!({ "type": "postgres", "connectionString": source["connectionString"] })
        }
        _ => json!({ "type": "hosted" }),
    };
    config.insert("sourceOfTruth".into(), tidy_source);

    if let Some(providers) = config
        .get_mut("auth")
        .and_then(|a| a.get_mut("oauth"))
        .and_then(|o| o.get_mut("providers"))
        .and_then(Value::as_object_mut)
    {
        providers.retain(|_, p| p.get("type").is_some_and(|t| !t.is_null()));
    }
    if let Some(rules) = config
        .get_mut("auth")
        .and_then(|a| a.get_mut("signUpRules"))
        .and_then(Value::as_object_mut)
    {
        let mut entries: Vec<(String, Value)> = std::mem::take(rules).into_iter().collect();
        entries.sort_by(|(ka, a), (kb, b)| {
            let pa = a["priority"].as_f64().unwrap_or(0.0);
            let pb = b["priority"].as_f64().unwrap_or(0.0);
            pb.total_cmp(&pa).then_with(|| ka.cmp(kb))
        });
        rules.extend(entries);
    }
    if let Some(emails) = config.get_mut("emails").and_then(Value::as_object_mut) {
        let selected = emails
            .get("selectedThemeId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let exists = emails
            .get("themes")
            .and_then(Value::as_object)
            .is_some_and(|t| t.contains_key(&selected));
        if !exists {
            emails.insert(
                "selectedThemeId".into(),
                json!(defaults::DEFAULT_EMAIL_THEME_ID),
            );
        }
        let shared = emails["server"]["isShared"].as_bool().unwrap_or(true);
        if shared {
            emails.insert("templates".into(), defaults::builtin_templates_value());
        }
    }
    if let Some(products) = config
        .get_mut("payments")
        .and_then(|p| p.get_mut("products"))
        .and_then(Value::as_object_mut)
    {
        for product in products.values_mut() {
            if let Some(add_on) = product.get_mut("isAddOnTo")
                && let Value::Object(map) = add_on
            {
                let keys: Map<String, Value> =
                    map.keys().map(|k| (k.clone(), Value::Bool(true))).collect();
                *add_on = Value::Object(keys);
            }
            if let Some(Value::Object(prices)) = product.get_mut("prices") {
                for price in prices.values_mut() {
                    if let Value::Object(p) = price {
                        p.entry("serverOnly").or_insert(Value::Bool(false));
                    }
                }
            }
        }
    }
    if let Some(installed) = config
        .get_mut("apps")
        .and_then(|a| a.get_mut("installed"))
        .and_then(Value::as_object_mut)
    {
        let position = |k: &str| {
            schema::ALL_APPS
                .iter()
                .position(|a| *a == k)
                .unwrap_or(usize::MAX)
        };
        let mut entries: Vec<(String, Value)> = std::mem::take(installed).into_iter().collect();
        entries.sort_by_key(|(k, _)| position(k));
        installed.extend(entries);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn an_empty_config_enables_no_sign_in_method() {
        let config = Overrides::default().render();
        assert_eq!(config["auth"]["password"]["allowSignIn"], json!(false));
        assert_eq!(config["auth"]["otp"]["allowSignIn"], json!(false));
        assert_eq!(config["auth"]["allowSignUp"], json!(true));
        assert_eq!(config["sourceOfTruth"], json!({"type": "hosted"}));
        assert_eq!(
            config["domains"],
            json!({"allowLocalhost": false, "trustedDomains": {}})
        );
    }

    #[test]
    fn later_levels_win_and_null_restores_the_default() {
        let overrides = Overrides {
            project: obj(json!({"project.requirePublishableClientKey": true})),
            branch: obj(
                json!({"auth": {"password": {"allowSignIn": true}}, "teams.allowClientTeamCreation": true}),
            ),
            environment: obj(
                json!({"teams.allowClientTeamCreation": null, "domains.trustedDomains.a": {"baseUrl": "https://a.example"}}),
            ),
        };
        let config = overrides.render();
        assert_eq!(
            config["project"]["requirePublishableClientKey"],
            json!(true)
        );
        assert_eq!(config["auth"]["password"]["allowSignIn"], json!(true));
        assert_eq!(config["teams"]["allowClientTeamCreation"], json!(false));
        assert_eq!(
            config["domains"]["trustedDomains"]["a"],
            json!({"baseUrl": "https://a.example", "handlerPath": "/handler"})
        );
    }

    #[test]
    fn providers_need_a_type_and_rules_sort_by_priority() {
        let overrides = Overrides {
            environment: obj(json!({
                "auth.oauth.providers": {"g": {"type": "google", "allowSignIn": true}, "untyped": {"allowSignIn": true}},
                "auth.signUpRules": {"b": {"priority": 1}, "a": {"priority": 1}, "c": {"priority": 5}},
            })),
            ..Overrides::default()
        };
        let config = overrides.render();
        let providers = config["auth"]["oauth"]["providers"]
            .as_object()
            .map(|p| p.keys().cloned().collect::<Vec<_>>());
        assert_eq!(providers, Some(vec!["g".to_owned()]));
        assert_eq!(
            config["auth"]["oauth"]["providers"]["g"]["isShared"],
            json!(true)
        );
        let order: Vec<String> = config["auth"]["signUpRules"]
            .as_object()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(order, ["c", "a", "b"]);
    }
}
