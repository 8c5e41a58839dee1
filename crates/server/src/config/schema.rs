//! The shape of Stack Auth's project config, per override level, and the
//! check that an override fits it.
//!
//! An override is checked key by key, as Stack Auth checks it: each (possibly
//! dotted) key must name a place in the level's schema, and its value must
//! have the type found there. Values may be `null` anywhere (back to the
//! default); string choices are enforced, finer rules (lengths, patterns of
//! values) are not, since a later level may still change the value.

use std::sync::LazyLock;

use serde_json::Value;

use super::Level;
use super::format::{self, quote};

/// The apps that can be installed, in the order the dashboard lists them.
pub const ALL_APPS: [&str; 18] = [
    "authentication",
    "fraud-protection",
    "onboarding",
    "teams",
    "rbac",
    "api-keys",
    "payments",
    "emails",
    "email-api",
    "data-vault",
    "webhooks",
    "tv-mode",
    "launch-checklist",
    "catalyst",
    "neon",
    "convex",
    "vercel",
    "analytics",
];

/// The OAuth provider types.
pub const OAUTH_PROVIDERS: [&str; 12] = [
    "google",
    "github",
    "microsoft",
    "spotify",
    "facebook",
    "discord",
    "gitlab",
    "bitbucket",
    "linkedin",
    "apple",
    "x",
    "twitch",
];

/// The currencies a price can be given in.
pub const SUPPORTED_CURRENCIES: [&str; 7] = ["USD", "EUR", "GBP", "JPY", "INR", "AUD", "CAD"];

/// Which keys a record takes.
#[derive(Debug, Clone, Copy)]
pub enum Key {
    /// Any key.
    Any,
    /// A permission id, optionally starting with `$`: `[a-z0-9_:]+`.
    Permission,
    /// A custom permission id: `[a-z0-9_:]+`.
    CustomPermission,
    /// A user-chosen id: letters, digits, `_` and `-`, not starting with
    /// `-`, at most 63 characters.
    UserId,
    /// A UUID.
    Uuid,
    /// One of these values.
    OneOf(&'static [&'static str]),
}

impl Key {
    /// Whether `key` is a key of this kind.
    pub fn accepts(self, key: &str) -> bool {
        let permission = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':')
        };
        match self {
            Self::Any => true,
            Self::Permission => permission(key.strip_prefix('$').unwrap_or(key)),
            Self::CustomPermission => permission(key),
            Self::UserId => {
                key.len() <= 63
                    && key.chars().next().is_some_and(|c| c != '-')
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            }
            Self::Uuid => is_uuid(key),
            Self::OneOf(values) => values.contains(&key),
        }
    }

    /// What a value of this kind must look like, when the check of a nested
    /// value enforces it (only UUIDs and fixed choices are enforced there).
    fn nested_rule(self) -> Option<String> {
        match self {
            Self::Uuid => Some("must be a valid UUID".to_owned()),
            Self::OneOf(values) => Some(format!(
                "must be one of the following values: {}",
                values.join(", ")
            )),
            _ => None,
        }
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A place in the schema.
#[derive(Debug, Clone)]
pub enum Node {
    /// A string, optionally one of fixed values.
    Str(Option<&'static [&'static str]>),
    /// A string holding a UUID.
    Uuid,
    /// A number.
    Num,
    /// A boolean.
    Bool,
    /// Anything.
    Mixed,
    /// An object with these properties.
    Object(Vec<(&'static str, Node)>),
    /// A map from keys of one kind to values of one shape.
    Record(Key, Box<Node>),
    /// One of these shapes.
    Union(Vec<Node>),
    /// A fixed-length array.
    Tuple(Vec<Node>),
    /// A property set at an earlier level that this level can no longer
    /// change.
    Closed(Box<Node>),
}

fn obj(fields: Vec<(&'static str, Node)>) -> Node {
    Node::Object(fields)
}

fn rec(key: Key, value: Node) -> Node {
    Node::Record(key, Box::new(value))
}

fn one_of(values: &'static [&'static str]) -> Node {
    Node::Str(Some(values))
}

fn string() -> Node {
    Node::Str(None)
}

impl Node {
    fn open(&self) -> &Node {
        match self {
            Self::Closed(inner) => inner.open(),
            other => other,
        }
    }

    /// Whether the schema has a place `key` directly below this one.
    pub fn has_nested(&self, key: &str) -> bool {
        match self.open() {
            Self::Object(fields) => fields.iter().any(|(k, _)| *k == key),
            Self::Record(kind, _) => kind.accepts(key),
            Self::Union(items) => items.iter().any(|n| n.has_nested(key)),
            _ => false,
        }
    }

    /// The place `key` directly below this one.
    pub fn nested(&self, key: &str) -> Option<Node> {
        match self.open() {
            Self::Object(fields) => fields
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, n)| n.clone()),
            Self::Record(kind, value) => kind.accepts(key).then(|| (**value).clone()),
            Self::Union(items) => {
                let found: Vec<Node> = items.iter().filter_map(|n| n.nested(key)).collect();
                (!found.is_empty()).then_some(Node::Union(found))
            }
            _ => None,
        }
    }
}

fn day_interval() -> Node {
    Node::Tuple(vec![Node::Num, one_of(&["day", "week", "month", "year"])])
}

fn customer_type() -> Node {
    one_of(&["user", "team", "custom"])
}

fn product() -> Node {
    let mut price: Vec<(&'static str, Node)> = SUPPORTED_CURRENCIES
        .iter()
        .map(|c| (*c, string()))
        .collect();
    price.extend([
        ("interval", day_interval()),
        ("serverOnly", Node::Bool),
        ("freeTrial", day_interval()),
    ]);
    obj(vec![
        ("displayName", string()),
        ("productLineId", string()),
        (
            "isAddOnTo",
            Node::Union(vec![Node::Bool, rec(Key::UserId, Node::Bool)]),
        ),
        ("customerType", customer_type()),
        ("freeTrial", day_interval()),
        ("serverOnly", Node::Bool),
        ("stackable", Node::Bool),
        (
            "prices",
            Node::Union(vec![
                one_of(&["include-by-default"]),
                rec(Key::UserId, obj(price)),
            ]),
        ),
        (
            "includedItems",
            rec(
                Key::UserId,
                obj(vec![
                    ("quantity", Node::Num),
                    (
                        "repeat",
                        Node::Union(vec![day_interval(), one_of(&["never"])]),
                    ),
                    (
                        "expires",
                        one_of(&["never", "when-purchase-expires", "when-repeated"]),
                    ),
                ]),
            ),
        ),
    ])
}

fn project_fields() -> Vec<(&'static str, Node)> {
    vec![
        (
            "sourceOfTruth",
            Node::Union(vec![
                obj(vec![("type", one_of(&["hosted"]))]),
                obj(vec![
                    ("type", one_of(&["neon"])),
                    ("connectionStrings", rec(Key::UserId, string())),
                ]),
                obj(vec![
                    ("type", one_of(&["postgres"])),
                    ("connectionString", string()),
                ]),
            ]),
        ),
        (
            "project",
            obj(vec![("requirePublishableClientKey", Node::Bool)]),
        ),
    ]
}

/// The schema of a level's override.
fn level_schema(level: Level) -> Node {
    if level == Level::Project {
        return obj(project_fields());
    }
    let env = level == Level::Environment;
    let mut fields: Vec<(&'static str, Node)> = project_fields()
        .into_iter()
        .map(|(k, n)| (k, Node::Closed(Box::new(n))))
        .collect();
    let permission_set = || rec(Key::Permission, Node::Bool);
    fields.push((
        "rbac",
        obj(vec![
            (
                "permissions",
                rec(
                    Key::CustomPermission,
                    obj(vec![
                        ("description", string()),
                        ("scope", one_of(&["team", "project"])),
                        ("containedPermissionIds", permission_set()),
                    ]),
                ),
            ),
            (
                "defaultPermissions",
                obj(vec![
                    ("teamCreator", permission_set()),
                    ("teamMember", permission_set()),
                    ("signUp", permission_set()),
                ]),
            ),
        ]),
    ));
    fields.push((
        "teams",
        obj(vec![
            ("createPersonalTeamOnSignUp", Node::Bool),
            ("allowClientTeamCreation", Node::Bool),
        ]),
    ));
    fields.push(("users", obj(vec![("allowClientUserDeletion", Node::Bool)])));
    fields.push((
        "onboarding",
        obj(vec![("requireEmailVerification", Node::Bool)]),
    ));
    fields.push((
        "apiKeys",
        obj(vec![(
            "enabled",
            obj(vec![("team", Node::Bool), ("user", Node::Bool)]),
        )]),
    ));
    fields.push((
        "apps",
        obj(vec![(
            "installed",
            rec(Key::OneOf(&ALL_APPS), obj(vec![("enabled", Node::Bool)])),
        )]),
    ));
    let mut domains = Vec::new();
    if env {
        domains.push(("allowLocalhost", Node::Bool));
        domains.push((
            "trustedDomains",
            rec(
                Key::UserId,
                obj(vec![("baseUrl", string()), ("handlerPath", string())]),
            ),
        ));
    }
    fields.push(("domains", obj(domains)));
    let mut provider = vec![
        ("type", one_of(&OAUTH_PROVIDERS)),
        ("allowSignIn", Node::Bool),
        ("allowConnectedAccounts", Node::Bool),
    ];
    if env {
        provider.extend([
            ("isShared", Node::Bool),
            ("clientId", string()),
            ("clientSecret", string()),
            ("facebookConfigId", string()),
            ("microsoftTenantId", string()),
            (
                "appleBundles",
                rec(Key::UserId, obj(vec![("bundleId", string())])),
            ),
        ]);
    }
    let sign_in = || obj(vec![("allowSignIn", Node::Bool)]);
    fields.push((
        "auth",
        obj(vec![
            ("allowSignUp", Node::Bool),
            ("password", sign_in()),
            ("otp", sign_in()),
            ("passkey", sign_in()),
            (
                "oauth",
                obj(vec![
                    (
                        "accountMergeStrategy",
                        one_of(&["link_method", "raise_error", "allow_duplicates"]),
                    ),
                    ("providers", rec(Key::Permission, obj(provider))),
                ]),
            ),
            (
                "signUpRules",
                rec(
                    Key::UserId,
                    obj(vec![
                        ("enabled", Node::Bool),
                        ("displayName", string()),
                        ("priority", Node::Num),
                        ("condition", string()),
                        (
                            "action",
                            obj(vec![
                                ("type", one_of(&["allow", "reject", "restrict", "log"])),
                                ("message", string()),
                            ]),
                        ),
                    ]),
                ),
            ),
            ("signUpRulesDefaultAction", one_of(&["allow", "reject"])),
        ]),
    ));
    let source = || obj(vec![("displayName", string()), ("tsxSource", string())]);
    let mut emails = vec![
        ("selectedThemeId", string()),
        ("themes", rec(Key::Uuid, source())),
        (
            "templates",
            rec(
                Key::Uuid,
                obj(vec![
                    ("displayName", string()),
                    ("tsxSource", string()),
                    ("themeId", Node::Mixed),
                ]),
            ),
        ),
    ];
    if env {
        emails.push((
            "server",
            obj(vec![
                ("isShared", Node::Bool),
                ("provider", one_of(&["resend", "smtp", "managed"])),
                ("host", string()),
                ("port", Node::Num),
                ("username", string()),
                ("password", string()),
                ("senderName", string()),
                ("senderEmail", string()),
                ("managedSubdomain", string()),
                ("managedSenderLocalPart", string()),
            ]),
        ));
    }
    fields.push(("emails", obj(emails)));
    let named = || {
        obj(vec![
            ("displayName", string()),
            ("customerType", customer_type()),
        ])
    };
    let mut payments = vec![
        ("blockNewPurchases", Node::Bool),
        ("autoPay", obj(vec![("interval", day_interval())])),
        ("productLines", rec(Key::UserId, named())),
        ("products", rec(Key::UserId, product())),
        ("items", rec(Key::UserId, named())),
    ];
    if env {
        payments.push(("testMode", Node::Bool));
    }
    fields.push(("payments", obj(payments)));
    fields.push((
        "dbSync",
        obj(vec![(
            "externalDatabases",
            rec(
                Key::UserId,
                obj(vec![
                    ("type", one_of(&["postgres"])),
                    ("connectionString", string()),
                ]),
            ),
        )]),
    ));
    fields.push((
        "dataVault",
        obj(vec![(
            "stores",
            rec(Key::UserId, obj(vec![("displayName", string())])),
        )]),
    ));
    if env {
        fields.push((
            "analytics",
            obj(vec![(
                "queryFolders",
                rec(
                    Key::UserId,
                    obj(vec![
                        ("displayName", string()),
                        ("sortOrder", Node::Num),
                        (
                            "queries",
                            rec(
                                Key::UserId,
                                obj(vec![
                                    ("displayName", string()),
                                    ("sqlQuery", string()),
                                    ("description", string()),
                                ]),
                            ),
                        ),
                    ]),
                ),
            )]),
        ));
        fields.push(("customDashboards", rec(Key::Uuid, source())));
    }
    obj(fields)
}

static SCHEMAS: LazyLock<[Node; 3]> = LazyLock::new(|| {
    [
        level_schema(Level::Project),
        level_schema(Level::Branch),
        level_schema(Level::Environment),
    ]
});

/// The schema of `level`'s override.
pub fn of(level: Level) -> &'static Node {
    &SCHEMAS[level as usize]
}

/// Why `config_override` is not a valid override for `level`, in Stack
/// Auth's words, or `None` when it is.
pub fn override_error(level: Level, config_override: &Value) -> Option<String> {
    let Value::Object(map) = config_override else {
        return Some("Config override must be a non-null object.".to_owned());
    };
    for value in map.values() {
        if let Some(key) = dotted_key_below(value) {
            return Some(format!(
                "Key {key} contains a dot, which is not allowed in config override."
            ));
        }
    }
    if let Some(reason) = format::invalid_reason(config_override, "override") {
        return Some(format!("Invalid config format: {reason}"));
    }
    let schema = of(level);
    for (key, value) in map {
        let Some(node) = sub_schema(schema, key) else {
            let parts: Vec<&str> = key.split('.').collect();
            let prefix = (1..=parts.len())
                .map(|n| parts[..n].join("."))
                .find(|p| sub_schema(schema, p).is_none())
                .unwrap_or_else(|| key.clone());
            return Some(format!(
                "The key {} is not valid (nested object not found in schema: {}).",
                quote(key),
                quote(&prefix)
            ));
        };
        if let Err(message) = check(&node, value, key) {
            return Some(message);
        }
    }
    None
}

fn dotted_key_below(value: &Value) -> Option<&str> {
    match value {
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('.') {
                Some(k.as_str())
            } else {
                dotted_key_below(v)
            }
        }),
        Value::Array(items) => items.iter().find_map(dotted_key_below),
        _ => None,
    }
}

/// The place a dotted key names, unless a level before this one owns it.
fn sub_schema(schema: &Node, key: &str) -> Option<Node> {
    let mut node = schema.clone();
    for part in key.split('.') {
        if !node.has_nested(part) {
            return None;
        }
        let next = node.nested(part)?;
        if matches!(next, Node::Closed(_)) {
            return None;
        }
        node = next;
    }
    Some(node)
}

/// How a value reads in a message: strings quoted, nested values as JSON
/// with their leaves spelled out as strings.
fn print_value(value: &Value) -> String {
    fn spelled(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), spelled(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(spelled).collect()),
            other => Value::String(print_value(other)),
        }
    }
    match value {
        Value::String(s) => format!("\"{s}\""),
        Value::Object(_) | Value::Array(_) => {
            serde_json::to_string_pretty(&spelled(value)).unwrap_or_default()
        }
        other => other.to_string(),
    }
}

fn type_error(path: &str, kind: &str, value: &Value) -> String {
    format!(
        "{path} must be a `{kind}` type, but the final value was: `{}`.",
        print_value(value)
    )
}

/// Checks `value` against `node` as an override value: `null` anywhere,
/// types and fixed choices enforced, unknown properties refused.
fn check(node: &Node, value: &Value, path: &str) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    match node.open() {
        Node::Str(choices) => {
            let Value::String(s) = value else {
                return Err(type_error(path, "string", value));
            };
            match choices {
                Some(values) if !values.contains(&s.as_str()) => Err(format!(
                    "{path} must be one of the following values: {}",
                    values.join(", ")
                )),
                _ => Ok(()),
            }
        }
        Node::Uuid => match value {
            Value::String(s) if is_uuid(s) => Ok(()),
            Value::String(_) => Err(format!("{path} must be a valid UUID")),
            _ => Err(type_error(path, "string", value)),
        },
        Node::Num if value.is_number() => Ok(()),
        Node::Num => Err(type_error(path, "number", value)),
        Node::Bool if value.is_boolean() => Ok(()),
        Node::Bool => Err(type_error(path, "boolean", value)),
        Node::Mixed => Ok(()),
        Node::Object(fields) => {
            let Value::Object(map) = value else {
                return Err(type_error(path, "object", value));
            };
            let unknown: Vec<&str> = map
                .keys()
                .filter(|k| !fields.iter().any(|(f, _)| f == k))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                let label = if path.is_empty() { "Object" } else { path };
                return Err(format!(
                    "{label} contains unknown properties: {}",
                    unknown.join(", ")
                ));
            }
            for (name, field) in fields {
                if let Some(v) = map.get(*name) {
                    check(field, v, &join(path, name))?;
                }
            }
            Ok(())
        }
        Node::Record(kind, entry) => {
            let Value::Object(map) = value else {
                return Err(type_error(path, "object", value));
            };
            for (key, v) in map {
                if let Some(rule) = kind.nested_rule().filter(|_| !kind.accepts(key)) {
                    return Err(format!("{} {rule}", join(path, key)));
                }
                check(entry, v, &join(path, key))?;
            }
            Ok(())
        }
        Node::Tuple(items) => {
            let Value::Array(values) = value else {
                return Err(type_error(path, "tuple", value));
            };
            if values.len() != items.len() {
                return Err(format!("{path} must have exactly {} elements", items.len()));
            }
            for (i, (item, v)) in items.iter().zip(values).enumerate() {
                check(item, v, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Node::Union(items) => check_union(items, value, path),
        Node::Closed(inner) => check(inner, value, path),
    }
}

/// A union as an override sees it: its non-object shapes, and one object
/// whose properties are those of all its object shapes.
fn check_union(items: &[Node], value: &Value, path: &str) -> Result<(), String> {
    let mut variants: Vec<Node> = Vec::new();
    let mut merged: Vec<(&'static str, Vec<Node>)> = Vec::new();
    for item in items {
        match item.open() {
            Node::Object(fields) => {
                for (name, node) in fields {
                    match merged.iter_mut().find(|(n, _)| n == name) {
                        Some((_, nodes)) => nodes.push(node.clone()),
                        None => merged.push((name, vec![node.clone()])),
                    }
                }
            }
            other => variants.push(other.clone()),
        }
    }
    if items.iter().any(|i| matches!(i.open(), Node::Object(_))) {
        variants.push(Node::Object(
            merged
                .into_iter()
                .map(|(name, nodes)| (name, Node::Union(nodes)))
                .collect(),
        ));
    }
    let mut errors = Vec::new();
    for variant in &variants {
        match check(variant, value, path) {
            Ok(()) => return Ok(()),
            Err(e) => errors.push(e),
        }
    }
    let mut message = format!("{path} is not matched by any of the provided schemas:");
    for (i, e) in errors.iter().enumerate() {
        message.push_str(&format!(
            "\n  Schema {i}:\n    {}",
            e.replace('\n', "\n    ")
        ));
    }
    Err(message)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn error(level: Level, v: Value) -> Option<String> {
        override_error(level, &v)
    }

    #[test]
    fn valid_overrides_pass_at_their_level() {
        for (level, v) in [
            (
                Level::Project,
                json!({"sourceOfTruth": {"type": "postgres", "connectionString": "postgres://x"}}),
            ),
            (
                Level::Branch,
                json!({"auth.password.allowSignIn": true, "teams": {"allowClientTeamCreation": null}}),
            ),
            (
                Level::Branch,
                json!({"rbac.permissions.my_perm": {"description": "hello", "scope": "team"}}),
            ),
            (
                Level::Environment,
                json!({"domains.trustedDomains.my-domain": {"baseUrl": "https://example.com", "handlerPath": "/handler"}}),
            ),
            (
                Level::Environment,
                json!({"auth.oauth.providers.google": {"type": "google", "isShared": true, "allowSignIn": true}}),
            ),
            (
                Level::Environment,
                json!({"payments.products.p1": {"customerType": "user", "prices": "include-by-default", "isAddOnTo": false}}),
            ),
            (
                Level::Environment,
                json!({"payments.products.p1.prices": {"monthly": {"USD": "10", "interval": [1, "month"]}}}),
            ),
        ] {
            assert_eq!(error(level, v.clone()), None, "{v}");
        }
    }

    #[test]
    fn keys_outside_the_level_are_refused_with_the_first_missing_prefix() {
        assert_eq!(
            error(Level::Branch, json!({"domains.allowLocalhost": true})).as_deref(),
            Some(
                "The key \"domains.allowLocalhost\" is not valid (nested object not found in schema: \"domains.allowLocalhost\")."
            )
        );
        assert_eq!(
            error(
                Level::Branch,
                json!({"project.requirePublishableClientKey": true})
            )
            .as_deref(),
            Some(
                "The key \"project.requirePublishableClientKey\" is not valid (nested object not found in schema: \"project\")."
            )
        );
        assert_eq!(
            error(
                Level::Environment,
                json!({"emails.themes.my_theme.displayName": "x"})
            )
            .as_deref(),
            Some(
                "The key \"emails.themes.my_theme.displayName\" is not valid (nested object not found in schema: \"emails.themes.my_theme\")."
            )
        );
        assert_eq!(
            error(Level::Project, json!({"auth": {}})).as_deref(),
            Some("The key \"auth\" is not valid (nested object not found in schema: \"auth\").")
        );
    }

    #[test]
    fn wrong_types_choices_and_properties_are_named() {
        assert_eq!(
            error(Level::Branch, json!({"auth.password.allowSignIn": "yes"})).as_deref(),
            Some(
                "auth.password.allowSignIn must be a `boolean` type, but the final value was: `\"yes\"`."
            )
        );
        assert_eq!(
            error(
                Level::Branch,
                json!({"auth": {"oauth": {"accountMergeStrategy": "merge"}}})
            )
            .as_deref(),
            Some(
                "auth.oauth.accountMergeStrategy must be one of the following values: link_method, raise_error, allow_duplicates"
            )
        );
        assert_eq!(
            error(Level::Branch, json!({"teams": {"nope": true}})).as_deref(),
            Some("teams contains unknown properties: nope")
        );
        assert_eq!(
            error(Level::Branch, json!({"teams": {"a.b": true}})).as_deref(),
            Some("Key a.b contains a dot, which is not allowed in config override.")
        );
        assert_eq!(
            error(Level::Branch, json!([])).as_deref(),
            Some("Config override must be a non-null object.")
        );
    }

    #[test]
    fn a_union_lists_why_each_shape_failed() {
        let message = error(Level::Project, json!({"sourceOfTruth": {"type": "mysql"}}));
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m
                    .starts_with("sourceOfTruth is not matched by any of the provided schemas:")),
            "{message:?}"
        );
    }
}
