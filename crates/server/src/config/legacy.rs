//! The project `config` object of Stack Auth's older project API (the one
//! `/projects/current` and `/internal/projects` still speak), both ways: read
//! from a rendered config, and turned into an environment override when a
//! client writes it. Also the typed view the rest of the server reads.

use serde_json::{Map, Value, json};

use crate::db::projects::{DomainConfig, OAuthProviderConfig, PermissionRef, ProjectConfig};

fn flag(config: &Map<String, Value>, path: &[&str]) -> bool {
    at(config, path).and_then(Value::as_bool).unwrap_or(false)
}

fn at<'a>(config: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(config.get(*first)?, |v, k| v.get(*k))
}

fn entries<'a>(config: &'a Map<String, Value>, path: &[&str]) -> Vec<(&'a String, &'a Value)> {
    at(config, path)
        .and_then(Value::as_object)
        .map(|m| m.iter().collect())
        .unwrap_or_default()
}

/// The ids of the permissions of `scope` that the config defines, and for
/// teams the system permissions, which every project has: a default naming
/// `$update_team` is shown, as Stack Auth shows it.
fn permission_ids(config: &Map<String, Value>, scope: &str) -> Vec<String> {
    let system = crate::permissions::SYSTEM_TEAM_PERMISSIONS
        .iter()
        .filter(|_| scope == "team")
        .map(|(id, _)| (*id).to_owned());
    entries(config, &["rbac", "permissions"])
        .into_iter()
        .filter(|(_, p)| p.get("scope").and_then(Value::as_str) == Some(scope))
        .map(|(id, _)| id.clone())
        .chain(system)
        .collect()
}

fn default_permissions(
    config: &Map<String, Value>,
    which: &str,
    scope: &str,
) -> Vec<PermissionRef> {
    let defined = permission_ids(config, scope);
    let mut ids: Vec<String> = entries(config, &["rbac", "defaultPermissions", which])
        .into_iter()
        .filter(|(id, on)| on.as_bool() == Some(true) && defined.contains(id))
        .map(|(id, _)| id.clone())
        .collect();
    ids.sort_by(|a, b| crate::permissions::string_compare(a, b));
    ids.into_iter().map(|id| PermissionRef { id }).collect()
}

/// The typed view of a rendered config that the auth flows read.
pub fn view(config: &Map<String, Value>) -> ProjectConfig {
    let mut oauth_providers: Vec<OAuthProviderConfig> =
        entries(config, &["auth", "oauth", "providers"])
            .into_iter()
            .filter(|(_, p)| p.get("allowSignIn").and_then(Value::as_bool) == Some(true))
            .filter_map(|(key, p)| {
                let string = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
                Some(OAuthProviderConfig {
                    provider_config_id: key.clone(),
                    id: string("type")?,
                    kind: if p.get("isShared").and_then(Value::as_bool).unwrap_or(true) {
                        "shared".into()
                    } else {
                        "standard".into()
                    },
                    client_id: string("clientId"),
                    client_secret: string("clientSecret"),
                })
            })
            .collect();
    oauth_providers.sort_by(|a, b| a.id.cmp(&b.id));
    let mut domains: Vec<DomainConfig> = entries(config, &["domains", "trustedDomains"])
        .into_iter()
        .filter_map(|(_, d)| {
            Some(DomainConfig {
                domain: d.get("baseUrl")?.as_str()?.to_owned(),
                handler_path: d
                    .get("handlerPath")
                    .and_then(Value::as_str)
                    .unwrap_or("/handler")
                    .to_owned(),
            })
        })
        .collect();
    domains.sort_by(|a, b| a.domain.cmp(&b.domain));
    ProjectConfig {
        sign_up_enabled: flag(config, &["auth", "allowSignUp"]),
        credential_enabled: flag(config, &["auth", "password", "allowSignIn"]),
        magic_link_enabled: flag(config, &["auth", "otp", "allowSignIn"]),
        passkey_enabled: flag(config, &["auth", "passkey", "allowSignIn"]),
        client_team_creation_enabled: flag(config, &["teams", "allowClientTeamCreation"]),
        client_user_deletion_enabled: flag(config, &["users", "allowClientUserDeletion"]),
        allow_user_api_keys: flag(config, &["apiKeys", "enabled", "user"]),
        allow_team_api_keys: flag(config, &["apiKeys", "enabled", "team"]),
        allow_localhost: flag(config, &["domains", "allowLocalhost"]),
        create_team_on_sign_up: flag(config, &["teams", "createPersonalTeamOnSignUp"]),
        require_email_verification: flag(config, &["onboarding", "requireEmailVerification"]),
        require_publishable_client_key: flag(config, &["project", "requirePublishableClientKey"]),
        oauth_providers,
        domains,
        oauth_account_merge_strategy: at(config, &["auth", "oauth", "accountMergeStrategy"])
            .and_then(Value::as_str)
            .unwrap_or("link_method")
            .to_owned(),
        team_creator_default_permissions: default_permissions(config, "teamCreator", "team"),
        team_member_default_permissions: default_permissions(config, "teamMember", "team"),
        user_default_permissions: default_permissions(config, "signUp", "project"),
    }
}

/// The admin form of the legacy `config` object.
pub fn admin_json(config: &Map<String, Value>) -> Value {
    let c = view(config);
    let providers: Vec<Value> = entries(config, &["auth", "oauth", "providers"])
        .into_iter()
        .filter(|(_, p)| p.get("allowSignIn").and_then(Value::as_bool) == Some(true))
        .filter_map(|(key, p)| {
            let mut o = Map::new();
            o.insert("provider_config_id".into(), json!(key));
            o.insert("id".into(), p.get("type")?.clone());
            let shared = p.get("isShared").and_then(Value::as_bool).unwrap_or(true);
            o.insert(
                "type".into(),
                json!(if shared { "shared" } else { "standard" }),
            );
            for (from, to) in [
                ("clientId", "client_id"),
                ("clientSecret", "client_secret"),
                ("facebookConfigId", "facebook_config_id"),
                ("microsoftTenantId", "microsoft_tenant_id"),
            ] {
                if let Some(v) = p.get(from) {
                    o.insert(to.into(), v.clone());
                }
            }
            if let Some(Value::Object(bundles)) = p.get("appleBundles") {
                let ids: Vec<Value> = bundles
                    .values()
                    .filter_map(|b| b.get("bundleId").cloned())
                    .collect();
                o.insert("apple_bundle_ids".into(), Value::Array(ids));
            }
            Some(Value::Object(o))
        })
        .collect();
    let mut providers = providers;
    providers.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let enabled: Vec<Value> = providers.iter().map(|p| json!({ "id": p["id"] })).collect();
    let server = at(config, &["emails", "server"])
        .cloned()
        .unwrap_or(Value::Null);
    let email_config = if server["isShared"].as_bool().unwrap_or(true) {
        json!({ "type": "shared" })
    } else {
        let mut o = Map::new();
        o.insert("type".into(), json!("standard"));
        for (from, to) in [
            ("host", "host"),
            ("port", "port"),
            ("username", "username"),
            ("password", "password"),
            ("senderName", "sender_name"),
            ("senderEmail", "sender_email"),
        ] {
            if let Some(v) = server.get(from) {
                o.insert(to.into(), v.clone());
            }
        }
        Value::Object(o)
    };
    json!({
        "allow_localhost": c.allow_localhost,
        "client_team_creation_enabled": c.client_team_creation_enabled,
        "client_user_deletion_enabled": c.client_user_deletion_enabled,
        "sign_up_enabled": c.sign_up_enabled,
        "oauth_account_merge_strategy": c.oauth_account_merge_strategy,
        "create_team_on_sign_up": c.create_team_on_sign_up,
        "credential_enabled": c.credential_enabled,
        "magic_link_enabled": c.magic_link_enabled,
        "passkey_enabled": c.passkey_enabled,
        "oauth_providers": providers,
        "enabled_oauth_providers": enabled,
        "domains": c.domains.iter().map(|d| json!({ "domain": d.domain, "handler_path": d.handler_path })).collect::<Vec<_>>(),
        "email_config": email_config,
        "email_theme": at(config, &["emails", "selectedThemeId"]).cloned().unwrap_or(Value::Null),
        "team_creator_default_permissions": c.team_creator_default_permissions,
        "team_member_default_permissions": c.team_member_default_permissions,
        "user_default_permissions": c.user_default_permissions,
        "allow_user_api_keys": c.allow_user_api_keys,
        "allow_team_api_keys": c.allow_team_api_keys,
    })
}

/// The client form of the legacy `config` object.
pub fn client_json(config: &Map<String, Value>) -> Value {
    let c = view(config);
    let mut providers: Vec<Value> = c
        .oauth_providers
        .iter()
        .map(|o| json!({ "id": o.id }))
        .collect();
    providers.dedup();
    json!({
        "sign_up_enabled": c.sign_up_enabled,
        "credential_enabled": c.credential_enabled,
        "magic_link_enabled": c.magic_link_enabled,
        "passkey_enabled": c.passkey_enabled,
        "client_team_creation_enabled": c.client_team_creation_enabled,
        "client_user_deletion_enabled": c.client_user_deletion_enabled,
        "allow_user_api_keys": c.allow_user_api_keys,
        "allow_team_api_keys": c.allow_team_api_keys,
        "enabled_oauth_providers": providers,
        "domains": c.domains.iter().map(|d| json!({ "domain": d.domain, "handler_path": d.handler_path })).collect::<Vec<_>>(),
    })
}

/// The permissions a new project defines, and which ones new team members
/// and team creators get.
pub fn new_project_defaults() -> Map<String, Value> {
    let mut o = Map::new();
    o.insert(
        "rbac.permissions.team_member".into(),
        json!({
            "description": "Default permission for team members",
            "scope": "team",
            "containedPermissionIds": { "$read_members": true, "$invite_members": true },
        }),
    );
    o.insert(
        "rbac.permissions.team_admin".into(),
        json!({
            "description": "Default permission for team admins",
            "scope": "team",
            "containedPermissionIds": {
                "$update_team": true, "$delete_team": true, "$read_members": true,
                "$remove_members": true, "$invite_members": true, "$manage_api_keys": true,
            },
        }),
    );
    o.insert(
        "rbac.defaultPermissions.teamCreator".into(),
        json!({ "team_admin": true }),
    );
    o.insert(
        "rbac.defaultPermissions.teamMember".into(),
        json!({ "team_member": true }),
    );
    o.insert("auth.password.allowSignIn".into(), json!(true));
    o.insert("apps.installed.authentication.enabled".into(), json!(true));
    o.insert("apps.installed.emails.enabled".into(), json!(true));
    o
}

/// The legacy `config` fields a client wrote, as environment-level keys.
/// `config` has been checked by the route; `new_id` names new record entries
/// (trusted domains, Apple bundles).
///
/// # Errors
/// The RNG behind `new_id` failed.
pub fn to_override<E>(
    config: &Map<String, Value>,
    mut new_id: impl FnMut() -> Result<String, E>,
) -> Result<Map<String, Value>, E> {
    let mut o = Map::new();
    let copy = |o: &mut Map<String, Value>, from: &str, to: &str| {
        if let Some(v) = config.get(from).filter(|v| !v.is_null()) {
            o.insert(to.into(), v.clone());
        }
    };
    copy(&mut o, "sign_up_enabled", "auth.allowSignUp");
    copy(&mut o, "credential_enabled", "auth.password.allowSignIn");
    copy(&mut o, "magic_link_enabled", "auth.otp.allowSignIn");
    copy(&mut o, "passkey_enabled", "auth.passkey.allowSignIn");
    copy(
        &mut o,
        "oauth_account_merge_strategy",
        "auth.oauth.accountMergeStrategy",
    );
    if let Some(Value::Array(list)) = config.get("oauth_providers") {
        let mut providers = Map::new();
        for p in list {
            let Some(id) = p.get("id").and_then(Value::as_str) else {
                continue;
            };
            let mut entry = Map::new();
            entry.insert("type".into(), json!(id));
            entry.insert(
                "isShared".into(),
                json!(p.get("type").and_then(Value::as_str) == Some("shared")),
            );
            for (from, to) in [
                ("client_id", "clientId"),
                ("client_secret", "clientSecret"),
                ("facebook_config_id", "facebookConfigId"),
                ("microsoft_tenant_id", "microsoftTenantId"),
            ] {
                if let Some(v) = p.get(from).filter(|v| !v.is_null()) {
                    entry.insert(to.into(), v.clone());
                }
            }
            if let Some(Value::Array(ids)) = p.get("apple_bundle_ids") {
                let mut bundles = Map::new();
                for bundle in ids {
                    bundles.insert(new_id()?, json!({ "bundleId": bundle }));
                }
                entry.insert("appleBundles".into(), Value::Object(bundles));
            }
            entry.insert("allowSignIn".into(), json!(true));
            entry.insert("allowConnectedAccounts".into(), json!(true));
            providers.insert(id.to_owned(), Value::Object(entry));
        }
        o.insert("auth.oauth.providers".into(), Value::Object(providers));
    }
    copy(
        &mut o,
        "client_user_deletion_enabled",
        "users.allowClientUserDeletion",
    );
    copy(
        &mut o,
        "client_team_creation_enabled",
        "teams.allowClientTeamCreation",
    );
    copy(
        &mut o,
        "create_team_on_sign_up",
        "teams.createPersonalTeamOnSignUp",
    );
    copy(&mut o, "allow_localhost", "domains.allowLocalhost");
    if let Some(Value::Array(list)) = config.get("domains") {
        let mut domains = Map::new();
        for d in list {
            domains.insert(
                new_id()?,
                json!({ "baseUrl": d.get("domain"), "handlerPath": d.get("handler_path") }),
            );
        }
        o.insert("domains.trustedDomains".into(), Value::Object(domains));
    }
    copy(&mut o, "allow_user_api_keys", "apiKeys.enabled.user");
    copy(&mut o, "allow_team_api_keys", "apiKeys.enabled.team");
    if let Some(Value::Object(mail)) = config.get("email_config") {
        let mut server = Map::new();
        server.insert(
            "isShared".into(),
            json!(mail.get("type").and_then(Value::as_str) == Some("shared")),
        );
        for (from, to) in [
            ("host", "host"),
            ("port", "port"),
            ("username", "username"),
            ("password", "password"),
            ("sender_name", "senderName"),
            ("sender_email", "senderEmail"),
        ] {
            if let Some(v) = mail.get(from).filter(|v| !v.is_null()) {
                server.insert(to.into(), v.clone());
            }
        }
        server.insert("provider".into(), json!("smtp"));
        o.insert("emails.server".into(), Value::Object(server));
    }
    copy(&mut o, "email_theme", "emails.selectedThemeId");
    for (from, to) in [
        (
            "team_member_default_permissions",
            "rbac.defaultPermissions.teamMember",
        ),
        (
            "team_creator_default_permissions",
            "rbac.defaultPermissions.teamCreator",
        ),
        ("user_default_permissions", "rbac.defaultPermissions.signUp"),
    ] {
        if let Some(Value::Array(list)) = config.get(from) {
            let set: Map<String, Value> = list
                .iter()
                .filter_map(|p| p.get("id")?.as_str().map(|id| (id.to_owned(), json!(true))))
                .collect();
            o.insert(to.into(), Value::Object(set));
        }
    }
    copy(
        &mut o,
        "require_email_verification",
        "onboarding.requireEmailVerification",
    );
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, format};

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_legacy_body_round_trips_through_the_config() {
        let body = obj(json!({
            "credential_enabled": false,
            "magic_link_enabled": true,
            "allow_localhost": true,
            "oauth_providers": [{"id": "github", "type": "shared"}, {"id": "google", "type": "standard", "client_id": "id", "client_secret": "s"}],
            "domains": [{"domain": "https://app.example", "handler_path": "/auth"}],
            "team_member_default_permissions": [{"id": "team_member"}],
            "email_config": {"type": "standard", "host": "smtp.example", "port": 587, "username": "u", "password": "p", "sender_name": "App", "sender_email": "a@example.com"},
        }));
        let mut n = 0;
        let patch = to_override::<()>(&body, || {
            n += 1;
            Ok(format!("id-{n}"))
        });
        let environment =
            format::override_with(&new_project_defaults(), &patch.unwrap_or_default());
        let rendered = Overrides {
            environment,
            ..Overrides::default()
        }
        .render();
        let legacy = admin_json(&rendered);
        assert_eq!(legacy["credential_enabled"], json!(false));
        assert_eq!(legacy["magic_link_enabled"], json!(true));
        assert_eq!(
            legacy["domains"],
            json!([{"domain": "https://app.example", "handler_path": "/auth"}])
        );
        assert_eq!(
            legacy["oauth_providers"][0],
            json!({"provider_config_id": "github", "id": "github", "type": "shared"})
        );
        assert_eq!(legacy["oauth_providers"][1]["client_secret"], json!("s"));
        assert_eq!(
            legacy["team_member_default_permissions"],
            json!([{"id": "team_member"}])
        );
        assert_eq!(
            legacy["team_creator_default_permissions"],
            json!([{"id": "team_admin"}])
        );
        assert_eq!(
            legacy["email_config"]["sender_email"],
            json!("a@example.com")
        );
        assert_eq!(
            legacy["email_theme"],
            json!(crate::config::defaults::DEFAULT_EMAIL_THEME_ID)
        );
    }

    #[test]
    fn default_permissions_show_system_ids_and_hide_undefined_ones_in_stack_order() {
        let rendered = Overrides {
            environment: obj(json!({
                "rbac.permissions.a_b": {"scope": "team"},
                "rbac.permissions.ab": {"scope": "team"},
                "rbac.permissions.p": {"scope": "project"},
                "rbac.defaultPermissions.teamCreator": {
                    "a_b": true, "ab": true, "$update_team": true, "gone": true, "p": true,
                },
                "rbac.defaultPermissions.signUp": {"p": true, "$update_team": true},
            })),
            ..Overrides::default()
        }
        .render();
        let legacy = admin_json(&rendered);
        assert_eq!(
            legacy["team_creator_default_permissions"],
            json!([{"id": "$update_team"}, {"id": "ab"}, {"id": "a_b"}])
        );
        assert_eq!(legacy["user_default_permissions"], json!([{"id": "p"}]));
    }
}
