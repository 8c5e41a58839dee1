//! Target: project config on its own, without HTTP or a database: the schema
//! check of an override ([`schema::override_error`]), the layering and
//! rendering of three overrides ([`Overrides::render`]), merging and resetting
//! keys ([`format::override_with`], [`format::remove_keys`]), the route's own
//! parse of an override and the legacy view of a rendered config.
//!
//! Two kinds of input. *Valid* overrides are built from a table of real
//! schema paths and the kind of value each takes (booleans, fixed choices,
//! strings, numbers, record entries with ids the record accepts, `null`),
//! spelled with dotted keys, nested objects or a mix; they must pass the
//! schema of their level and render to a complete, normalized config that
//! renders to itself again. *Wild* JSON, whose keys come mostly from the
//! schema's names so that it reaches deep into rendering, must never panic:
//! it is refused or rendered, nothing else.

use bolero::{TypeGenerator, check};
use serde_json::{Map, Number, Value};
use stack_server::config::format::{self, OnMissingParent};
use stack_server::config::{Level, Overrides, legacy, migrate, render, schema};
use stack_server::error::ApiError;
use stack_server::project_config::parse_override;
use stack_server::validate::contains_nul;

use crate::CI_TIME;

const LEVELS: [Level; 3] = [Level::Project, Level::Branch, Level::Environment];

/// The top-level keys every rendered config has.
const RENDERED_KEYS: [&str; 16] = [
    "sourceOfTruth",
    "project",
    "rbac",
    "apiKeys",
    "apps",
    "teams",
    "users",
    "onboarding",
    "domains",
    "auth",
    "emails",
    "payments",
    "dbSync",
    "dataVault",
    "analytics",
    "customDashboards",
];

/// Record ids of each kind that the schema accepts.
const USER_IDS: &[&str] = &["main", "a", "x_1", "second-domain", "Z9", "p1", "_"];
const PERMISSION_IDS: &[&str] = &["google", "my_provider", "a:b", "$read_members", "x1"];
const CUSTOM_PERMISSION_IDS: &[&str] = &["team_member", "team_admin", "read:all", "p1"];
const UUIDS: &[&str] = &[
    "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac",
    "a0172b5d-cff0-463b-83bb-85124697373a",
    "e7d009ce-8d47-4528-b245-5bf119f2ffa3",
    "6f1b3c2e-8d4a-4e7b-9c1d-2a3b4c5d6e7f",
    "00000000-0000-0000-0000-000000000000",
];
/// Strings for string-typed settings, besides arbitrary ones.
const SAMPLE_TEXTS: &[&str] = &[
    "",
    "https://app.example.com",
    "/handler",
    "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac",
    "postgres://db.example/app",
    "10",
    "Display name",
];

/// The kind of id a record takes.
#[derive(Debug, Clone, Copy)]
enum Ids {
    User,
    Permission,
    CustomPermission,
    Uuid,
    App,
}

impl Ids {
    fn pick(self, n: u8) -> &'static str {
        let list: &[&str] = match self {
            Self::User => USER_IDS,
            Self::Permission => PERMISSION_IDS,
            Self::CustomPermission => CUSTOM_PERMISSION_IDS,
            Self::Uuid => UUIDS,
            Self::App => &schema::ALL_APPS,
        };
        list[usize::from(n) % list.len()]
    }
}

/// One segment of a schema path.
#[derive(Debug, Clone, Copy)]
enum Seg {
    /// A property name.
    Name(&'static str),
    /// A record entry.
    Id(Ids),
}

const fn n(name: &'static str) -> Seg {
    Seg::Name(name)
}

const fn id(kind: Ids) -> Seg {
    Seg::Id(kind)
}

/// The kind of value a path takes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Bool,
    Choice(&'static [&'static str]),
    Text,
    Num,
    /// A `[count, unit]` interval.
    Interval,
}

/// Which levels a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Project,
    /// The branch level, and so the environment level too.
    Branch,
    /// The environment level only.
    Environment,
}

impl At {
    fn allowed(self, level: Level) -> bool {
        matches!(
            (self, level),
            (Self::Project, Level::Project)
                | (Self::Branch, Level::Branch | Level::Environment)
                | (Self::Environment, Level::Environment)
        )
    }
}

/// A place in the schema and the values it takes.
struct Spec {
    path: &'static [Seg],
    kind: Kind,
    at: At,
}

const fn spec(at: At, path: &'static [Seg], kind: Kind) -> Spec {
    Spec { path, kind, at }
}

use At::{Branch as B, Environment as E, Project as P};
use Ids::{App, CustomPermission as CustomPerm, Permission as Perm, User, Uuid};
use Kind::{Bool, Interval, Num, Text};

const MERGE_STRATEGIES: &[&str] = &["link_method", "raise_error", "allow_duplicates"];
const RULE_ACTIONS: &[&str] = &["allow", "reject", "restrict", "log"];
const CUSTOMER_TYPES: &[&str] = &["user", "team", "custom"];

/// Real schema paths, per level.
const SPECS: &[Spec] = &[
    spec(P, &[n("project"), n("requirePublishableClientKey")], Bool),
    spec(
        P,
        &[n("sourceOfTruth"), n("type")],
        Kind::Choice(&["hosted", "neon", "postgres"]),
    ),
    spec(P, &[n("sourceOfTruth"), n("connectionString")], Text),
    spec(
        P,
        &[n("sourceOfTruth"), n("connectionStrings"), id(User)],
        Text,
    ),
    spec(B, &[n("auth"), n("allowSignUp")], Bool),
    spec(B, &[n("auth"), n("password"), n("allowSignIn")], Bool),
    spec(B, &[n("auth"), n("otp"), n("allowSignIn")], Bool),
    spec(B, &[n("auth"), n("passkey"), n("allowSignIn")], Bool),
    spec(
        B,
        &[n("auth"), n("oauth"), n("accountMergeStrategy")],
        Kind::Choice(MERGE_STRATEGIES),
    ),
    spec(
        B,
        &[n("auth"), n("oauth"), n("providers"), id(Perm), n("type")],
        Kind::Choice(&schema::OAUTH_PROVIDERS),
    ),
    spec(
        B,
        &[
            n("auth"),
            n("oauth"),
            n("providers"),
            id(Perm),
            n("allowSignIn"),
        ],
        Bool,
    ),
    spec(
        B,
        &[
            n("auth"),
            n("oauth"),
            n("providers"),
            id(Perm),
            n("allowConnectedAccounts"),
        ],
        Bool,
    ),
    spec(
        B,
        &[n("auth"), n("signUpRules"), id(User), n("enabled")],
        Bool,
    ),
    spec(
        B,
        &[n("auth"), n("signUpRules"), id(User), n("priority")],
        Num,
    ),
    spec(
        B,
        &[n("auth"), n("signUpRules"), id(User), n("condition")],
        Text,
    ),
    spec(
        B,
        &[
            n("auth"),
            n("signUpRules"),
            id(User),
            n("action"),
            n("type"),
        ],
        Kind::Choice(RULE_ACTIONS),
    ),
    spec(
        B,
        &[n("auth"), n("signUpRulesDefaultAction")],
        Kind::Choice(&["allow", "reject"]),
    ),
    spec(B, &[n("teams"), n("createPersonalTeamOnSignUp")], Bool),
    spec(B, &[n("teams"), n("allowClientTeamCreation")], Bool),
    spec(B, &[n("users"), n("allowClientUserDeletion")], Bool),
    spec(B, &[n("onboarding"), n("requireEmailVerification")], Bool),
    spec(B, &[n("apiKeys"), n("enabled"), n("team")], Bool),
    spec(B, &[n("apiKeys"), n("enabled"), n("user")], Bool),
    spec(B, &[n("apps"), n("installed"), id(App), n("enabled")], Bool),
    spec(
        B,
        &[
            n("rbac"),
            n("permissions"),
            id(CustomPerm),
            n("description"),
        ],
        Text,
    ),
    spec(
        B,
        &[n("rbac"), n("permissions"), id(CustomPerm), n("scope")],
        Kind::Choice(&["team", "project"]),
    ),
    spec(
        B,
        &[
            n("rbac"),
            n("permissions"),
            id(CustomPerm),
            n("containedPermissionIds"),
            id(Perm),
        ],
        Bool,
    ),
    spec(
        B,
        &[
            n("rbac"),
            n("defaultPermissions"),
            n("teamCreator"),
            id(Perm),
        ],
        Bool,
    ),
    spec(
        B,
        &[n("rbac"), n("defaultPermissions"), n("signUp"), id(Perm)],
        Bool,
    ),
    spec(B, &[n("emails"), n("selectedThemeId")], Text),
    spec(
        B,
        &[n("emails"), n("themes"), id(Uuid), n("displayName")],
        Text,
    ),
    spec(
        B,
        &[n("emails"), n("themes"), id(Uuid), n("tsxSource")],
        Text,
    ),
    spec(
        B,
        &[n("emails"), n("templates"), id(Uuid), n("displayName")],
        Text,
    ),
    spec(
        B,
        &[n("emails"), n("templates"), id(Uuid), n("themeId")],
        Text,
    ),
    spec(B, &[n("payments"), n("blockNewPurchases")], Bool),
    spec(B, &[n("payments"), n("autoPay"), n("interval")], Interval),
    spec(
        B,
        &[n("payments"), n("products"), id(User), n("displayName")],
        Text,
    ),
    spec(
        B,
        &[n("payments"), n("products"), id(User), n("customerType")],
        Kind::Choice(CUSTOMER_TYPES),
    ),
    spec(
        B,
        &[n("payments"), n("products"), id(User), n("serverOnly")],
        Bool,
    ),
    spec(
        B,
        &[n("payments"), n("products"), id(User), n("prices")],
        Kind::Choice(&["include-by-default"]),
    ),
    spec(
        B,
        &[
            n("payments"),
            n("products"),
            id(User),
            n("prices"),
            id(User),
            n("USD"),
        ],
        Text,
    ),
    spec(
        B,
        &[
            n("payments"),
            n("products"),
            id(User),
            n("prices"),
            id(User),
            n("interval"),
        ],
        Interval,
    ),
    spec(
        B,
        &[n("payments"), n("products"), id(User), n("isAddOnTo")],
        Bool,
    ),
    spec(
        B,
        &[
            n("payments"),
            n("products"),
            id(User),
            n("isAddOnTo"),
            id(User),
        ],
        Bool,
    ),
    spec(
        B,
        &[
            n("payments"),
            n("products"),
            id(User),
            n("includedItems"),
            id(User),
            n("quantity"),
        ],
        Num,
    ),
    spec(
        B,
        &[
            n("payments"),
            n("products"),
            id(User),
            n("includedItems"),
            id(User),
            n("expires"),
        ],
        Kind::Choice(&["never", "when-purchase-expires", "when-repeated"]),
    ),
    spec(
        B,
        &[n("payments"), n("items"), id(User), n("customerType")],
        Kind::Choice(CUSTOMER_TYPES),
    ),
    spec(
        B,
        &[n("dbSync"), n("externalDatabases"), id(User), n("type")],
        Kind::Choice(&["postgres"]),
    ),
    spec(
        B,
        &[
            n("dbSync"),
            n("externalDatabases"),
            id(User),
            n("connectionString"),
        ],
        Text,
    ),
    spec(
        B,
        &[n("dataVault"), n("stores"), id(User), n("displayName")],
        Text,
    ),
    spec(E, &[n("domains"), n("allowLocalhost")], Bool),
    spec(
        E,
        &[n("domains"), n("trustedDomains"), id(User), n("baseUrl")],
        Text,
    ),
    spec(
        E,
        &[
            n("domains"),
            n("trustedDomains"),
            id(User),
            n("handlerPath"),
        ],
        Text,
    ),
    spec(
        E,
        &[
            n("auth"),
            n("oauth"),
            n("providers"),
            id(Perm),
            n("isShared"),
        ],
        Bool,
    ),
    spec(
        E,
        &[
            n("auth"),
            n("oauth"),
            n("providers"),
            id(Perm),
            n("clientId"),
        ],
        Text,
    ),
    spec(
        E,
        &[
            n("auth"),
            n("oauth"),
            n("providers"),
            id(Perm),
            n("appleBundles"),
            id(User),
            n("bundleId"),
        ],
        Text,
    ),
    spec(E, &[n("emails"), n("server"), n("isShared")], Bool),
    spec(
        E,
        &[n("emails"), n("server"), n("provider")],
        Kind::Choice(&["resend", "smtp", "managed"]),
    ),
    spec(E, &[n("emails"), n("server"), n("host")], Text),
    spec(E, &[n("emails"), n("server"), n("port")], Num),
    spec(E, &[n("payments"), n("testMode")], Bool),
    spec(
        E,
        &[
            n("analytics"),
            n("queryFolders"),
            id(User),
            n("queries"),
            id(User),
            n("sqlQuery"),
        ],
        Text,
    ),
    spec(
        E,
        &[n("customDashboards"), id(Uuid), n("displayName")],
        Text,
    ),
];

/// One valid key and value: a spec, the ids of its record entries, the
/// value, and how the path is split between the key and nested objects.
#[derive(Debug, Clone, TypeGenerator)]
struct Entry {
    spec: u16,
    ids: (u8, u8, u8),
    choice: u8,
    number: i32,
    text: Option<String>,
    /// Below 32 (one in eight): the value is `null` at some depth instead.
    null: u8,
    /// How many leading segments form the key (taken modulo the path length).
    split: u8,
}

impl Entry {
    /// The spec among those that `level` allows.
    fn spec(&self, level: Level) -> &'static Spec {
        let allowed: Vec<&Spec> = SPECS.iter().filter(|s| s.at.allowed(level)).collect();
        allowed[usize::from(self.spec) % allowed.len()]
    }

    /// The path with its record ids filled in.
    fn path(&self, spec: &Spec) -> Vec<String> {
        let ids = [self.ids.0, self.ids.1, self.ids.2];
        let mut next_id = ids.iter().cycle();
        spec.path
            .iter()
            .map(|seg| match seg {
                Seg::Name(name) => (*name).to_owned(),
                Seg::Id(kind) => kind.pick(*next_id.next().unwrap_or(&0)).to_owned(),
            })
            .collect()
    }

    fn leaf(&self, kind: Kind) -> Value {
        let pick = usize::from(self.choice);
        match kind {
            Kind::Bool => Value::Bool(pick % 2 == 0),
            Kind::Choice(values) => Value::String(values[pick % values.len()].to_owned()),
            Kind::Text => Value::String(
                self.text
                    .clone()
                    .unwrap_or_else(|| SAMPLE_TEXTS[pick % SAMPLE_TEXTS.len()].to_owned()),
            ),
            Kind::Num if pick % 3 == 0 => {
                Number::from_f64(f64::from(self.number) / 4.0).map_or(Value::Null, Value::Number)
            }
            Kind::Num => Value::Number(self.number.into()),
            Kind::Interval => {
                let units = ["day", "week", "month", "year"];
                Value::Array(vec![
                    Value::Number(self.number.into()),
                    Value::String(units[pick % units.len()].to_owned()),
                ])
            }
        }
    }

    /// The key and value for `level`, given the path `segments` and leaf.
    fn spelled(&self, segments: &[String], leaf: Value) -> (String, Value) {
        let split = 1 + usize::from(self.split) % segments.len();
        let (key, below) = segments.split_at(split);
        let mut value = leaf;
        let mut below = below.to_vec();
        if self.null < 32 {
            // null replaces the value somewhere at or below the key.
            let depth = usize::from(self.null) % (below.len() + 1);
            below.truncate(depth);
            value = Value::Null;
        }
        for segment in below.iter().rev() {
            let mut map = Map::new();
            map.insert(segment.clone(), value);
            value = Value::Object(map);
        }
        (key.join("."), value)
    }

    fn build(&self, level: Level) -> (String, Value) {
        let spec = self.spec(level);
        let segments = self.path(spec);
        self.spelled(&segments, self.leaf(spec.kind))
    }
}

/// `value` merged into `into`: objects deeply, anything else replaced.
fn merge_into(into: &mut Value, value: Value) {
    match (into, value) {
        (Value::Object(target), Value::Object(source)) => {
            for (k, v) in source {
                match target.get_mut(&k) {
                    Some(existing) => merge_into(existing, v),
                    None => {
                        target.insert(k, v);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

/// A valid override of one level.
#[derive(Debug, Clone, TypeGenerator)]
struct Valid {
    #[generator(Vec::produce().with().len(0usize..10))]
    entries: Vec<Entry>,
}

impl Valid {
    fn build(&self, level: Level) -> Map<String, Value> {
        let mut map = Map::new();
        for entry in &self.entries {
            let (key, value) = entry.build(level);
            match map.get_mut(&key) {
                Some(existing) => merge_into(existing, value),
                None => {
                    map.insert(key, value);
                }
            }
        }
        map
    }
}

/// Valid overrides of all three levels.
#[derive(Debug, Clone, TypeGenerator)]
struct ValidLevels {
    project: Valid,
    branch: Valid,
    environment: Valid,
}

impl ValidLevels {
    fn overrides(&self) -> Overrides {
        Overrides {
            project: self.project.build(Level::Project),
            branch: self.branch.build(Level::Branch),
            environment: self.environment.build(Level::Environment),
        }
    }
}

/// Names the schema uses, a few ids, and awkward keys.
const SEGMENTS: &[&str] = &[
    "auth",
    "password",
    "otp",
    "allowSignIn",
    "allowSignUp",
    "oauth",
    "providers",
    "google",
    "type",
    "isShared",
    "signUpRules",
    "priority",
    "action",
    "teams",
    "allowClientTeamCreation",
    "users",
    "domains",
    "trustedDomains",
    "allowLocalhost",
    "baseUrl",
    "handlerPath",
    "emails",
    "server",
    "templates",
    "themes",
    "selectedThemeId",
    "payments",
    "products",
    "prices",
    "isAddOnTo",
    "includedItems",
    "items",
    "apps",
    "installed",
    "authentication",
    "enabled",
    "apiKeys",
    "rbac",
    "permissions",
    "defaultPermissions",
    "teamCreator",
    "containedPermissionIds",
    "sourceOfTruth",
    "connectionString",
    "connectionStrings",
    "project",
    "requirePublishableClientKey",
    "analytics",
    "queryFolders",
    "queries",
    "customDashboards",
    "dbSync",
    "dataVault",
    "stores",
    "workflows",
    "theme",
    "offers",
    "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac",
    "main",
    "0",
    "",
    "-a",
    "$x",
];

/// String values: the schema's choices and near misses.
const TEXTS: &[&str] = &[
    "",
    "google",
    "myspace",
    "hosted",
    "neon",
    "postgres",
    "link_method",
    "allow",
    "reject",
    "smtp",
    "managed",
    "include-by-default",
    "never",
    "month",
    "user",
    "team",
    "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac",
    "not-a-uuid",
    "https://app.example.com",
    "\u{0}",
];

/// A key: up to four schema names joined with dots, or any string.
#[derive(Debug, Clone, TypeGenerator)]
enum WildKey {
    Path(u8, u8, u8, u8),
    Other(String),
}

impl WildKey {
    fn text(&self) -> String {
        match self {
            Self::Path(count, a, b, c) => {
                let pick = |i: &u8| SEGMENTS[usize::from(*i) % SEGMENTS.len()];
                let parts = [pick(a), pick(b), pick(c)];
                parts[..1 + usize::from(*count) % 3].join(".")
            }
            Self::Other(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone, TypeGenerator)]
enum WildText {
    Known(#[generator(0..TEXTS.len())] usize),
    Other(String),
}

/// One node of a wild tree, in pre-order.
#[derive(Debug, Clone, TypeGenerator)]
enum WildNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(WildText),
    Array(#[generator(0..5)] u8),
    Object(#[generator(Vec::produce().with().len(0usize..6))] Vec<WildKey>),
}

/// How deep a wild tree may nest.
const MAX_DEPTH: usize = 7;

/// Any JSON object, keyed mostly by schema names.
#[derive(Debug, Clone, TypeGenerator)]
struct Wild {
    #[generator(Vec::produce().with().len(0usize..8))]
    keys: Vec<WildKey>,
    #[generator(Vec::produce().with().len(0usize..32))]
    nodes: Vec<WildNode>,
}

impl Wild {
    fn object(&self) -> Map<String, Value> {
        let mut nodes = self.nodes.iter();
        let mut map = Map::new();
        for key in &self.keys {
            map.insert(key.text(), build_wild(&mut nodes, 1));
        }
        map
    }
}

fn build_wild(nodes: &mut std::slice::Iter<'_, WildNode>, depth: usize) -> Value {
    let Some(node) = nodes.next() else {
        return Value::Null;
    };
    match node {
        WildNode::Null => Value::Null,
        WildNode::Bool(b) => Value::Bool(*b),
        WildNode::Int(i) => Value::Number((*i).into()),
        WildNode::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        WildNode::Text(WildText::Known(i)) => Value::String(TEXTS[*i].to_owned()),
        WildNode::Text(WildText::Other(s)) => Value::String(s.clone()),
        WildNode::Array(count) => {
            let mut items = Vec::new();
            for _ in 0..*count {
                if depth >= MAX_DEPTH || nodes.len() == 0 {
                    break;
                }
                items.push(build_wild(nodes, depth + 1));
            }
            Value::Array(items)
        }
        WildNode::Object(keys) => {
            let mut map = Map::new();
            for key in keys {
                if depth >= MAX_DEPTH || nodes.len() == 0 {
                    break;
                }
                map.insert(key.text(), build_wild(nodes, depth + 1));
            }
            Value::Object(map)
        }
    }
}

/// Where an override comes from in the wild targets.
#[derive(Debug, Clone, TypeGenerator)]
enum Source {
    Valid(Valid),
    Wild(Wild),
    /// Any bytes; what is not a JSON object counts as `{}`.
    Bytes(Vec<u8>),
}

impl Source {
    fn build(&self, level: Level) -> Map<String, Value> {
        match self {
            Self::Valid(valid) => valid.build(level),
            Self::Wild(wild) => wild.object(),
            Self::Bytes(bytes) => match serde_json::from_slice(bytes) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            },
        }
    }
}

/// Every dotted path a config spells, through dotted keys and nested
/// objects alike (arrays are not entered).
fn paths(config: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in config {
        out.push(key.clone());
        if let Value::Object(nested) = value {
            out.extend(paths(nested).into_iter().map(|p| format!("{key}.{p}")));
        }
    }
    out
}

fn is_same_or_below(path: &str, key: &str) -> bool {
    path == key
        || path
            .strip_prefix(key)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Whether a config is normalized: no dotted keys, no nulls.
fn normalized(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => items.iter().all(normalized),
        Value::Object(map) => map.iter().all(|(k, v)| !k.contains('.') && normalized(v)),
        _ => true,
    }
}

/// Renders and reads the legacy view: none of it may panic; rendering is a
/// pure function of the overrides.
fn render_checked(overrides: &Overrides) -> Map<String, Value> {
    let rendered = overrides.render();
    assert_eq!(overrides.render(), rendered, "rendering twice differs");
    let _ = legacy::view(&rendered);
    let _ = legacy::admin_json(&rendered);
    let _ = legacy::client_json(&rendered);
    rendered
}

#[test]
fn valid_overrides_pass_their_level_and_render_to_a_fixed_point() {
    check!()
        .with_type::<ValidLevels>()
        .with_test_time(CI_TIME)
        .for_each(|input| {
            let overrides = input.overrides();
            for level in LEVELS {
                let config = overrides.get(level);
                let value = Value::Object(config.clone());
                assert_eq!(
                    schema::override_error(level, &value),
                    None,
                    "{level:?} override {value}"
                );
                // What the route does with the same text: parse, migrate,
                // check. Text with NUL is refused before the schema.
                let parsed = parse_override(level, &value.to_string());
                if contains_nul(&value) {
                    assert!(parsed.is_err(), "NUL accepted in {value}");
                } else {
                    match parsed {
                        Ok(map) => assert_eq!(&map, config, "the route changed {value}"),
                        Err(e) => panic!("the route refused {level:?} {value}: {e}"),
                    }
                }
            }
            // Everything the branch may set, the environment may set too.
            let branch = Value::Object(overrides.branch.clone());
            assert_eq!(
                schema::override_error(Level::Environment, &branch),
                None,
                "branch override at the environment level: {branch}"
            );

            let rendered = render_checked(&overrides);
            for key in RENDERED_KEYS {
                assert!(
                    rendered.contains_key(key),
                    "{key} missing from {rendered:?}"
                );
            }
            let rendered_value = Value::Object(rendered.clone());
            assert!(
                normalized(&rendered_value),
                "not normalized: {rendered_value}"
            );
            assert_eq!(
                render(&rendered),
                rendered,
                "rendering a rendered config changes it"
            );
        });
}

/// Two overrides merged, then keys reset.
#[derive(Debug, Clone, TypeGenerator)]
struct MergeThenReset {
    base: Source,
    top: Source,
    #[generator(Vec::produce().with().len(0usize..4))]
    also_reset: Vec<WildKey>,
}

#[test]
fn resetting_the_keys_of_a_merge_leaves_none_of_them() {
    check!()
        .with_type::<MergeThenReset>()
        .with_test_time(CI_TIME)
        .for_each(|input| {
            let base = input.base.build(Level::Environment);
            let top = input.top.build(Level::Environment);
            let merged = format::override_with(&base, &top);
            for (key, value) in &top {
                assert_eq!(merged.get(key), Some(value), "{key} of the top override");
            }
            assert_eq!(
                format::override_with(&merged, &top),
                merged,
                "merging the same override twice differs"
            );

            let mut reset: Vec<String> = top.keys().cloned().collect();
            reset.extend(input.also_reset.iter().map(WildKey::text));
            let left = format::remove_keys(&merged, &reset);
            for path in paths(&left) {
                if let Some(key) = reset.iter().find(|k| is_same_or_below(&path, k)) {
                    panic!("{path} is left after resetting {key}: {left:?}");
                }
            }
            // Keys that neither lie on nor lead to a reset key stay as they were.
            for (key, value) in &merged {
                let touched = reset
                    .iter()
                    .any(|k| is_same_or_below(key, k) || is_same_or_below(k, key));
                if !touched {
                    assert_eq!(left.get(key), Some(value), "{key} changed");
                }
            }
            // Resetting nothing changes nothing.
            assert_eq!(format::remove_keys(&merged, &[]), merged);
        });
}

/// Any three overrides, and any text as the route would get it.
#[derive(Debug, Clone, TypeGenerator)]
struct WildLevels {
    project: Source,
    branch: Source,
    environment: Source,
    /// The body of a write: any bytes, or one of the overrides as JSON text.
    text: Source,
}

#[test]
fn any_json_is_refused_or_rendered_without_a_panic() {
    check!()
        .with_type::<WildLevels>()
        .with_test_time(CI_TIME)
        .for_each(|input| {
            let overrides = Overrides {
                project: input.project.build(Level::Project),
                branch: input.branch.build(Level::Branch),
                environment: input.environment.build(Level::Environment),
            };
            for level in LEVELS {
                let config = overrides.get(level);
                let _ = schema::override_error(level, &Value::Object(config.clone()));
                let _ = migrate::migrate(level, config);
                for on_missing in [
                    OnMissingParent::Fail,
                    OnMissingParent::Drop,
                    OnMissingParent::CreateEmpty,
                ] {
                    let _ = format::normalize(config, on_missing, &mut Vec::new());
                }
            }
            let rendered = render_checked(&overrides);
            let _ = render(&rendered);

            let text = match &input.text {
                Source::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                other => Value::Object(other.build(Level::Environment)).to_string(),
            };
            for level in LEVELS {
                match parse_override(level, &text) {
                    Ok(map) => assert_eq!(
                        schema::override_error(level, &Value::Object(map.clone())),
                        None,
                        "the route accepted what the schema refuses: {map:?}"
                    ),
                    Err(ApiError::Status { status: 400, .. }) => {}
                    Err(other) => panic!("not a plain 400: {other:?}"),
                }
            }
        });
}

/// Boolean settings and their defaults.
const SETTINGS: &[(&[&str], bool)] = &[
    (&["teams", "allowClientTeamCreation"], false),
    (&["auth", "allowSignUp"], true),
    (&["auth", "password", "allowSignIn"], false),
    (&["apiKeys", "enabled", "user"], false),
    (&["project", "requirePublishableClientKey"], false),
    (&["domains", "allowLocalhost"], false),
    (&["emails", "server", "isShared"], true),
    (&["onboarding", "requireEmailVerification"], false),
];

/// What one level says about the setting.
#[derive(Debug, Clone, TypeGenerator)]
enum Mention {
    Nothing,
    /// Sets it, with the key split after this many segments.
    Set(bool, u8),
    /// Sets it, or an object above it, to null.
    Null(u8, u8),
}

/// One level: what it says about the setting, and unrelated keys.
#[derive(Debug, Clone, TypeGenerator)]
struct LevelSays {
    mention: Mention,
    #[generator(Vec::produce().with().len(0usize..4))]
    noise: Vec<Entry>,
}

#[derive(Debug, Clone, TypeGenerator)]
struct Precedence {
    #[generator(0..SETTINGS.len())]
    setting: usize,
    project: LevelSays,
    branch: LevelSays,
    environment: LevelSays,
}

impl LevelSays {
    /// This level's override, and what it says (`Some(None)`: the default).
    fn build(&self, path: &[&str]) -> (Map<String, Value>, Option<Option<bool>>) {
        let mut map = Map::new();
        // Noise from other top-level objects, so it cannot cover the setting.
        for entry in &self.noise {
            let (key, value) = entry.build(Level::Environment);
            if key.split('.').next() != Some(path[0]) {
                map.insert(key, value);
            }
        }
        let segments: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        let (value, split, says) = match &self.mention {
            Mention::Nothing => return (map, None),
            Mention::Set(on, split) => (Value::Bool(*on), *split, Some(*on)),
            Mention::Null(split, _) => (Value::Null, *split, None),
        };
        let split = 1 + usize::from(split) % segments.len();
        let (key, below) = segments.split_at(split);
        let below = match &self.mention {
            Mention::Null(_, depth) => &below[..usize::from(*depth) % (below.len() + 1)],
            _ => below,
        };
        let nested = below.iter().rev().fold(value, |inner, segment| {
            let mut m = Map::new();
            m.insert(segment.clone(), inner);
            Value::Object(m)
        });
        map.insert(key.join("."), nested);
        (map, Some(says))
    }
}

#[test]
fn the_last_level_that_names_a_setting_decides_it() {
    check!()
        .with_type::<Precedence>()
        .with_test_time(CI_TIME)
        .for_each(|input| {
            let (path, default) = SETTINGS[input.setting];
            let (project, p) = input.project.build(path);
            let (branch, b) = input.branch.build(path);
            let (environment, e) = input.environment.build(path);
            let expected = [e, b, p]
                .into_iter()
                .flatten()
                .next()
                .flatten()
                .unwrap_or(default);
            let overrides = Overrides {
                project,
                branch,
                environment,
            };
            let rendered = Value::Object(overrides.render());
            let pointer = format!("/{}", path.join("/"));
            assert_eq!(
                rendered.pointer(&pointer),
                Some(&Value::Bool(expected)),
                "{pointer} of {overrides:?}"
            );
        });
}
