//! Generated JSON: a flat list of nodes that [`Tree`] assembles into a bounded
//! tree. Keys and strings come mostly from the names and values the server's
//! routes read, so that random inputs get past "unknown property" into the
//! checks behind it; the rest are arbitrary strings.

use bolero::TypeGenerator;
use serde_json::{Map, Number, Value};

/// Field names the routes read, and a few awkward ones.
pub const KEYS: &[&str] = &[
    "email",
    "password",
    "code",
    "display_name",
    "primary_email",
    "primary_email_verified",
    "primary_email_auth_enabled",
    "verification_callback_url",
    "callback_url",
    "client_metadata",
    "server_metadata",
    "client_read_only_metadata",
    "profile_image_url",
    "selected_team_id",
    "is_anonymous",
    "old_password",
    "new_password",
    "password_hash",
    "user_id",
    "contact_channel_id",
    "value",
    "type",
    "used_for_auth",
    "is_verified",
    "is_primary",
    "config",
    "description",
    "domains",
    "oauth_providers",
    "grant_type",
    "refresh_token",
    "client_id",
    "client_secret",
    "expires_in_millis",
    "expires_at_millis",
    "is_impersonation",
    "team_id",
    "limit",
    "cursor",
    "order_by",
    "desc",
    "query",
    "include_anonymous",
    "bot_challenge_token",
    "bot_challenge_phase",
    "bot_challenge_unavailable",
    "totp_secret_base64",
    "otp_auth_enabled",
    "passkey_auth_enabled",
    "is_production_mode",
    "owner_team_id",
    "has_publishable_client_key",
    "has_secret_server_key",
    "has_super_secret_admin_key",
    "restricted_by_admin",
    "restricted_by_admin_reason",
    "",
    "__proto__",
    "a.b",
    "email\u{0}",
];

/// Values the routes and headers compare against, and near misses.
pub const TEXTS: &[&str] = &[
    "",
    " ",
    "a@b.co",
    "user@example.com",
    "user@localhost",
    "a@@b.co",
    " a@b.co",
    "ü@bücher.de",
    "http://localhost:3000/callback",
    "https://example.com/a?b=c#d",
    "javascript:alert(1)",
    "http://[::1]:80/",
    "http://a b/",
    "not a url",
    "00000000-0000-0000-0000-000000000000",
    "6f1b3c2e-8d4a-4e7b-9c1d-2a3b4c5d6e7f",
    "me",
    "123456",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghi",
    "true",
    "false",
    "1",
    "-1",
    "9223372036854775808",
    "1e400",
    "null",
    "email",
    "invisible",
    "visible",
    "signed_up_at",
    "last_active_at",
    "internal",
    "main",
    "client",
    "server",
    "admin",
    "refresh_token",
    "authorization_code",
    "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    "Bearer x",
    "text/html",
    "application/json",
    "\u{0}",
    "a\r\nb",
    "%00",
    "../..",
];

/// A key: a known field name, or any string.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Key {
    /// One of [`KEYS`].
    Known(#[generator(0..KEYS.len())] usize),
    /// Anything.
    Other(String),
}

impl Key {
    /// The key's text.
    pub fn text(&self) -> String {
        match self {
            Self::Known(i) => KEYS[*i].to_owned(),
            Self::Other(s) => s.clone(),
        }
    }
}

/// A string value: a known one, or any string.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Text {
    /// One of [`TEXTS`].
    Known(#[generator(0..TEXTS.len())] usize),
    /// One of [`KEYS`] (field names show up as values too, e.g. `order_by`).
    Key(#[generator(0..KEYS.len())] usize),
    /// Anything.
    Other(String),
}

impl Text {
    /// The text.
    pub fn text(&self) -> String {
        match self {
            Self::Known(i) => TEXTS[*i].to_owned(),
            Self::Key(i) => KEYS[*i].to_owned(),
            Self::Other(s) => s.clone(),
        }
    }
}

/// One node of a tree, in pre-order.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Node {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (`null` when not finite).
    Float(f64),
    /// A string.
    Text(Text),
    /// An array of up to this many of the following nodes.
    Array(#[generator(0..5)] u8),
    /// An object with these keys, valued by the following nodes.
    Object(#[generator(Vec::produce().with().len(0usize..6))] Vec<Key>),
}

/// How deep a generated tree may nest (deeper JSON comes from the raw-byte inputs).
const MAX_DEPTH: usize = 6;

/// A JSON value built from a flat list of nodes.
#[derive(Debug, Clone, TypeGenerator)]
pub struct Tree {
    /// The keys of the root object (see [`Tree::object`]).
    #[generator(Vec::produce().with().len(0usize..8))]
    keys: Vec<Key>,
    /// The values, in pre-order.
    #[generator(Vec::produce().with().len(0usize..24))]
    nodes: Vec<Node>,
}

impl Tree {
    /// An object with the root keys, valued by the nodes in turn.
    pub fn object(&self) -> Value {
        let mut nodes = self.nodes.iter();
        let mut map = Map::new();
        for key in &self.keys {
            map.insert(key.text(), build(&mut nodes, 1));
        }
        Value::Object(map)
    }

    /// Any value: the first node and its children.
    pub fn value(&self) -> Value {
        build(&mut self.nodes.iter(), 0)
    }
}

fn build(nodes: &mut std::slice::Iter<'_, Node>, depth: usize) -> Value {
    let Some(node) = nodes.next() else {
        return Value::Null;
    };
    match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => Value::Number((*i).into()),
        Node::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Node::Text(t) => Value::String(t.text()),
        Node::Array(n) => {
            let mut items = Vec::new();
            for _ in 0..*n {
                if depth >= MAX_DEPTH || nodes.len() == 0 {
                    break;
                }
                items.push(build(nodes, depth + 1));
            }
            Value::Array(items)
        }
        Node::Object(keys) => {
            let mut map = Map::new();
            for key in keys {
                if depth >= MAX_DEPTH || nodes.len() == 0 {
                    break;
                }
                map.insert(key.text(), build(nodes, depth + 1));
            }
            Value::Object(map)
        }
    }
}
