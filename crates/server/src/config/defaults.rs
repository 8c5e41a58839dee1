//! The defaults that a rendered config is merged into: what `null` or a
//! missing key means for each property. A record (a map with free keys, such
//! as OAuth providers) has a default per entry, which fills in every entry the
//! config names; some records also have entries that exist by default (the
//! built-in email themes and templates, the apps).
//!
//! These are the schema's defaults, not those of a new project (a new project
//! turns password sign-in on through its overrides).

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::schema::{ALL_APPS, SUPPORTED_CURRENCIES};

/// A default value.
#[derive(Debug, Clone)]
pub enum Default {
    /// A property without a default (it stays absent).
    Absent,
    /// A plain value.
    Value(Value),
    /// An object with these properties.
    Object(Vec<(String, Default)>),
    /// A record: `entry` is the default of any entry the config names, and
    /// `builtin` are entries that exist without being named.
    Record {
        /// The default of each entry, given the entry's key.
        entry: fn(&str) -> Default,
        /// Entries present by default.
        builtin: Vec<(String, Default)>,
    },
}

impl Default {
    fn object(fields: Vec<(&str, Default)>) -> Self {
        Self::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn record(entry: fn(&str) -> Default) -> Self {
        Self::Record {
            entry,
            builtin: Vec::new(),
        }
    }

    fn is_object_like(&self) -> bool {
        matches!(self, Self::Object(_) | Self::Record { .. })
    }

    /// The default of the property `key`, and whether it came from a
    /// record's per-entry default.
    fn get(&self, key: &str) -> (Option<Default>, bool) {
        match self {
            Self::Object(fields) => (
                fields
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, d)| d.clone()),
                false,
            ),
            Self::Record { entry, builtin } => match builtin.iter().find(|(k, _)| k == key) {
                Some((_, d)) => (Some(d.clone()), false),
                None => (Some(entry(key)), true),
            },
            _ => (None, false),
        }
    }

    /// The value this default stands for on its own: records hold just their
    /// built-in entries, absent properties are left out.
    pub fn materialize(&self) -> Option<Value> {
        match self {
            Self::Absent => None,
            Self::Value(v) => Some(v.clone()),
            Self::Object(fields)
            | Self::Record {
                builtin: fields, ..
            } => Some(Value::Object(
                fields
                    .iter()
                    .filter_map(|(k, d)| Some((k.clone(), d.materialize()?)))
                    .collect(),
            )),
        }
    }
}

fn v(value: Value) -> Default {
    Default::Value(value)
}

/// `config` merged into `defaults`: every property the config sets wins,
/// every record entry it names gets that record's entry default under it,
/// and a `null` falls back to the default. Dotted keys stay dotted (a later
/// normalization places them).
pub fn apply(defaults: &Default, config: &Map<String, Value>) -> Map<String, Value> {
    let mut result = match defaults.materialize() {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    'keys: for (key, merge) in config {
        let merge_is_object = matches!(merge, Value::Object(_) | Value::Array(_));
        if !merge_is_object && !merge.is_null() {
            result.insert(key.clone(), merge.clone());
            continue;
        }
        let mut base = Some(defaults.clone());
        let mut from_entry_default = false;
        for part in key.split('.') {
            match &base {
                Some(b) if b.is_object_like() => {
                    let (next, from_entry) = b.get(part);
                    from_entry_default = from_entry;
                    base = next;
                }
                _ => {
                    result.insert(key.clone(), merge.clone());
                    continue 'keys;
                }
            }
        }
        let value = match base {
            _ if from_entry_default && merge.is_null() => Value::Null,
            Some(b) if b.is_object_like() => match merge {
                Value::Object(m) => Value::Object(apply(&b, m)),
                Value::Null => Value::Object(apply(&b, &Map::new())),
                other => other.clone(),
            },
            Some(b) if merge.is_null() => b.materialize().unwrap_or(Value::Null),
            _ => merge.clone(),
        };
        result.insert(key.clone(), value);
    }
    result
}

/// The id of the theme used when none is selected.
pub const DEFAULT_EMAIL_THEME_ID: &str = "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac";

/// The built-in email themes: id and name.
pub const EMAIL_THEMES: [(&str, &str); 3] = [
    (DEFAULT_EMAIL_THEME_ID, "Default Light"),
    ("a0172b5d-cff0-463b-83bb-85124697373a", "Default Dark"),
    ("c7e2d94f-8a1b-4e6d-b3f5-9d0a2e7c1b8f", "Default Colorful"),
];

/// The built-in email templates: id, name and the subject line the
/// emulator's own template source shows.
pub const EMAIL_TEMPLATES: [(&str, &str, &str); 7] = [
    (
        "e7d009ce-8d47-4528-b245-5bf119f2ffa3",
        "Email Verification",
        "Verify your email at {project.displayName}",
    ),
    (
        "a70fb3a4-56c1-4e42-af25-49d25603abd0",
        "Password Reset",
        "Reset your password at {project.displayName}",
    ),
    (
        "822687fe-8d0a-4467-a0d1-416b6e639478",
        "Magic Link/OTP",
        "Sign in to {project.displayName}: Your code is {variables.otp}",
    ),
    (
        "e84de395-2076-4831-9c19-8e9a96a868e4",
        "Team Invitation",
        "You have been invited to join {variables.teamDisplayName}",
    ),
    (
        "066dd73c-36da-4fd0-b6d6-ebf87683f8bc",
        "Sign In Invitation",
        "You have been invited to sign in to {project.displayName}",
    ),
    (
        "70372aee-0441-4d80-974c-2e858e40123a",
        "Payment Receipt",
        "Your receipt from {project.displayName}",
    ),
    (
        "f64b1afe-27ec-4a28-a277-7178f3261f9a",
        "Payment Failed",
        "Your payment to {project.displayName} failed",
    ),
];

/// The source of a built-in theme: a plain layout around the mail's body.
fn theme_source(name: &str) -> String {
    let (background, text) = match name {
        "Default Dark" => ("#111827", "#f9fafb"),
        "Default Colorful" => ("#eef2ff", "#1e1b4b"),
        _ => ("#ffffff", "#111827"),
    };
    format!(
        "import {{ Html, Body, Container }} from \"@react-email/components\";\n\n\
         // {name}: the mail's content on one centred column.\n\
         export function EmailTheme({{ children }}: {{ children: React.ReactNode }}) {{\n  \
         return (\n    <Html>\n      <Body style={{{{ background: \"{background}\", color: \"{text}\", fontFamily: \"sans-serif\" }}}}>\n        \
         <Container style={{{{ maxWidth: 600, padding: 24 }}}}>{{children}}</Container>\n      </Body>\n    </Html>\n  );\n}}\n"
    )
}

/// The source of a built-in template: its subject and one paragraph.
fn template_source(name: &str, subject: &str) -> String {
    let subject_expr = subject.replace('{', "${");
    format!(
        "import {{ Subject, NotificationCategory, Props }} from \"@stackframe/emails\";\n\n\
         // {name}, as the local emulator renders it.\n\
         export function EmailTemplate({{ user, project, variables }}: Props<any>) {{\n  \
         return (\n    <>\n      <Subject value={{`{subject_expr}`}} />\n      <NotificationCategory value=\"Transactional\" />\n      \
         <p>Hi{{user.displayName ? \", \" + user.displayName : \"\"}}!</p>\n    </>\n  );\n}}\n"
    )
}

/// The built-in themes as a config record.
pub fn builtin_themes() -> Vec<(String, Default)> {
    EMAIL_THEMES
        .iter()
        .map(|(id, name)| {
            (
                (*id).to_owned(),
                v(json!({ "displayName": name, "tsxSource": theme_source(name) })),
            )
        })
        .collect()
}

/// The built-in templates as a config record (rendered form).
pub fn builtin_templates_value() -> Value {
    Value::Object(
        EMAIL_TEMPLATES
            .iter()
            .map(|(id, name, subject)| {
                (
                    (*id).to_owned(),
                    json!({ "displayName": name, "tsxSource": template_source(name, subject) }),
                )
            })
            .collect(),
    )
}

fn builtin_templates() -> Vec<(String, Default)> {
    match builtin_templates_value() {
        Value::Object(map) => map.into_iter().map(|(k, t)| (k, v(t))).collect(),
        _ => Vec::new(),
    }
}

fn absent(keys: &[&str]) -> Vec<(String, Default)> {
    keys.iter()
        .map(|k| ((*k).to_owned(), Default::Absent))
        .collect()
}

fn provider_default(_: &str) -> Default {
    let mut fields = vec![
        ("isShared".to_owned(), v(json!(true))),
        ("allowSignIn".to_owned(), v(json!(false))),
        ("allowConnectedAccounts".to_owned(), v(json!(false))),
    ];
    fields.extend(absent(&[
        "type",
        "clientId",
        "clientSecret",
        "facebookConfigId",
        "microsoftTenantId",
        "appleBundles",
    ]));
    Default::Object(fields)
}

fn sign_up_rule_default(_: &str) -> Default {
    Default::object(vec![
        ("enabled", v(json!(false))),
        ("displayName", Default::Absent),
        ("priority", v(json!(0))),
        ("condition", Default::Absent),
        (
            "action",
            Default::object(vec![
                ("type", v(json!("allow"))),
                ("message", Default::Absent),
            ]),
        ),
    ])
}

fn permission_default(_: &str) -> Default {
    Default::object(vec![
        (
            "containedPermissionIds",
            Default::record(|_| Default::Absent),
        ),
        ("description", Default::Absent),
        ("scope", Default::Absent),
    ])
}

fn trusted_domain_default(_: &str) -> Default {
    Default::object(vec![
        ("baseUrl", Default::Absent),
        ("handlerPath", v(json!("/handler"))),
    ])
}

fn theme_default(_: &str) -> Default {
    Default::object(vec![
        ("displayName", v(json!("Unnamed Theme"))),
        (
            "tsxSource",
            v(json!(
                "Error: Theme config is missing TypeScript source code."
            )),
        ),
    ])
}

fn template_default(_: &str) -> Default {
    Default::object(vec![
        ("displayName", v(json!("Unnamed Template"))),
        (
            "tsxSource",
            v(json!(
                "Error: Template config is missing TypeScript source code."
            )),
        ),
        ("themeId", Default::Absent),
    ])
}

fn price_default(_: &str) -> Default {
    let mut fields: Vec<(String, Default)> = SUPPORTED_CURRENCIES
        .iter()
        .map(|c| ((*c).to_owned(), Default::Absent))
        .collect();
    fields.push(("interval".into(), Default::Absent));
    fields.push(("serverOnly".into(), v(json!(false))));
    fields.push(("freeTrial".into(), Default::Absent));
    Default::Object(fields)
}

fn included_item_default(_: &str) -> Default {
    Default::object(vec![
        ("quantity", v(json!(0))),
        ("repeat", v(json!("never"))),
        ("expires", v(json!("when-repeated"))),
    ])
}

fn product_default(key: &str) -> Default {
    Default::object(vec![
        ("displayName", v(json!(key))),
        ("productLineId", Default::Absent),
        ("customerType", v(json!("user"))),
        ("freeTrial", Default::Absent),
        ("serverOnly", v(json!(false))),
        ("stackable", Default::Absent),
        ("isAddOnTo", v(json!(false))),
        ("prices", Default::record(price_default)),
        ("includedItems", Default::record(included_item_default)),
    ])
}

fn query_default(_: &str) -> Default {
    Default::object(vec![
        ("displayName", v(json!("Unnamed Query"))),
        ("sqlQuery", v(json!(""))),
        ("description", Default::Absent),
    ])
}

/// The defaults of the complete (organization-level) config.
pub static COMPLETE: LazyLock<Default> = LazyLock::new(|| {
    let per_key_absent: fn(&str) -> Default = |_| Default::Absent;
    Default::object(vec![
        (
            "sourceOfTruth",
            Default::object(vec![
                ("type", v(json!("hosted"))),
                ("connectionStrings", Default::Absent),
                ("connectionString", Default::Absent),
            ]),
        ),
        (
            "project",
            Default::object(vec![("requirePublishableClientKey", v(json!(false)))]),
        ),
        (
            "rbac",
            Default::object(vec![
                ("permissions", Default::record(permission_default)),
                (
                    "defaultPermissions",
                    Default::object(vec![
                        ("teamCreator", Default::record(per_key_absent)),
                        ("teamMember", Default::record(per_key_absent)),
                        ("signUp", Default::record(per_key_absent)),
                    ]),
                ),
            ]),
        ),
        (
            "apiKeys",
            Default::object(vec![(
                "enabled",
                Default::object(vec![("team", v(json!(false))), ("user", v(json!(false)))]),
            )]),
        ),
        (
            "apps",
            Default::object(vec![(
                "installed",
                Default::Record {
                    entry: per_key_absent,
                    builtin: ALL_APPS
                        .iter()
                        .map(|id| ((*id).to_owned(), v(json!({ "enabled": false }))))
                        .collect(),
                },
            )]),
        ),
        (
            "teams",
            Default::object(vec![
                ("createPersonalTeamOnSignUp", v(json!(false))),
                ("allowClientTeamCreation", v(json!(false))),
            ]),
        ),
        (
            "users",
            Default::object(vec![("allowClientUserDeletion", v(json!(false)))]),
        ),
        (
            "onboarding",
            Default::object(vec![("requireEmailVerification", v(json!(false)))]),
        ),
        (
            "domains",
            Default::object(vec![
                ("allowLocalhost", v(json!(false))),
                ("trustedDomains", Default::record(trusted_domain_default)),
            ]),
        ),
        (
            "auth",
            Default::object(vec![
                ("allowSignUp", v(json!(true))),
                (
                    "password",
                    Default::object(vec![("allowSignIn", v(json!(false)))]),
                ),
                (
                    "otp",
                    Default::object(vec![("allowSignIn", v(json!(false)))]),
                ),
                (
                    "passkey",
                    Default::object(vec![("allowSignIn", v(json!(false)))]),
                ),
                (
                    "oauth",
                    Default::object(vec![
                        ("accountMergeStrategy", v(json!("link_method"))),
                        ("providers", Default::record(provider_default)),
                    ]),
                ),
                ("signUpRules", Default::record(sign_up_rule_default)),
                ("signUpRulesDefaultAction", v(json!("allow"))),
            ]),
        ),
        (
            "emails",
            Default::object(vec![
                (
                    "server",
                    Default::Object({
                        let mut f = vec![
                            ("isShared".to_owned(), v(json!(true))),
                            ("provider".to_owned(), v(json!("smtp"))),
                        ];
                        f.extend(absent(&[
                            "host",
                            "port",
                            "username",
                            "password",
                            "senderName",
                            "senderEmail",
                            "managedSubdomain",
                            "managedSenderLocalPart",
                        ]));
                        f
                    }),
                ),
                ("selectedThemeId", v(json!(DEFAULT_EMAIL_THEME_ID))),
                (
                    "themes",
                    Default::Record {
                        entry: theme_default,
                        builtin: builtin_themes(),
                    },
                ),
                (
                    "templates",
                    Default::Record {
                        entry: template_default,
                        builtin: builtin_templates(),
                    },
                ),
            ]),
        ),
        (
            "payments",
            Default::object(vec![
                ("blockNewPurchases", v(json!(false))),
                ("testMode", v(json!(true))),
                ("autoPay", Default::Absent),
                (
                    "productLines",
                    Default::record(|_| {
                        Default::object(vec![
                            ("displayName", Default::Absent),
                            ("customerType", Default::Absent),
                        ])
                    }),
                ),
                ("products", Default::record(product_default)),
                (
                    "items",
                    Default::record(|key| {
                        Default::object(vec![
                            ("displayName", v(json!(key))),
                            ("customerType", v(json!("user"))),
                        ])
                    }),
                ),
            ]),
        ),
        (
            "dbSync",
            Default::object(vec![(
                "externalDatabases",
                Default::record(|_| {
                    Default::object(vec![
                        ("type", Default::Absent),
                        ("connectionString", Default::Absent),
                    ])
                }),
            )]),
        ),
        (
            "dataVault",
            Default::object(vec![(
                "stores",
                Default::record(|_| {
                    Default::object(vec![("displayName", v(json!("Unnamed Vault")))])
                }),
            )]),
        ),
        (
            "analytics",
            Default::object(vec![(
                "queryFolders",
                Default::record(|_| {
                    Default::object(vec![
                        ("displayName", v(json!("Unnamed Folder"))),
                        ("sortOrder", v(json!(0))),
                        ("queries", Default::record(query_default)),
                    ])
                }),
            )]),
        ),
        (
            "customDashboards",
            Default::record(|_| {
                Default::object(vec![
                    ("displayName", v(json!("Unnamed Dashboard"))),
                    (
                        "tsxSource",
                        v(json!("Error: Dashboard config is missing source code.")),
                    ),
                ])
            }),
        ),
    ])
});

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn defaults_a() -> Default {
        Default::object(vec![("a", Default::object(vec![("b", v(json!(1)))]))])
    }

    #[test]
    fn set_values_win_and_null_falls_back() {
        let d = Default::object(vec![("a", v(json!(1)))]);
        assert_eq!(
            Value::Object(apply(&d, &obj(json!({"a": 2})))),
            json!({"a": 2})
        );
        assert_eq!(
            Value::Object(apply(&d, &obj(json!({"a": null})))),
            json!({"a": 1})
        );
        assert_eq!(
            Value::Object(apply(&defaults_a(), &obj(json!({"a": {"c": 2}})))),
            json!({"a": {"b": 1, "c": 2}})
        );
        assert_eq!(
            Value::Object(apply(&defaults_a(), &obj(json!({"a.b": null})))),
            json!({"a": {"b": 1}, "a.b": 1})
        );
        assert_eq!(
            Value::Object(apply(&defaults_a(), &obj(json!({"a.c": 2})))),
            json!({"a": {"b": 1}, "a.c": 2})
        );
    }

    #[test]
    fn record_entries_get_the_entry_default() {
        let d = Default::object(vec![(
            "a",
            Default::record(|key| Default::object(vec![("b", v(json!(key)))])),
        )]);
        assert_eq!(Value::Object(apply(&d, &obj(json!({})))), json!({"a": {}}));
        assert_eq!(
            Value::Object(apply(&d, &obj(json!({"a": {"c": {"d": 1}}})))),
            json!({"a": {"c": {"b": "c", "d": 1}}})
        );
        assert_eq!(
            Value::Object(apply(&d, &obj(json!({"a": {"c": null}})))),
            json!({"a": {"c": null}})
        );
        assert_eq!(
            Value::Object(apply(&d, &obj(json!({"a.x": {"d": 2}})))),
            json!({"a": {}, "a.x": {"b": "x", "d": 2}})
        );
        assert_eq!(
            Value::Object(apply(&d, &obj(json!({"a.x.d": 2})))),
            json!({"a": {}, "a.x.d": 2})
        );
    }

    #[test]
    fn builtin_entries_exist_without_being_named() {
        let rendered = apply(&COMPLETE, &Map::new());
        let themes = &rendered["emails"]["themes"];
        assert_eq!(themes.as_object().map(Map::len), Some(EMAIL_THEMES.len()));
        assert_eq!(
            rendered["apps"]["installed"]["teams"],
            json!({"enabled": false})
        );
        assert_eq!(rendered["auth"]["password"]["allowSignIn"], json!(false));
    }
}
