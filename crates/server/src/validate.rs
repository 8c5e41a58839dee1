//! Request validation with Stack Auth's error texts.
//!
//! Handlers read their body or query through [`Fields`]: each accessor records a
//! problem instead of failing at once, and [`Fields::finish`] turns all problems
//! into one `SCHEMA_ERROR` whose lines read like the yup messages that Stack
//! Auth's clients and tests expect (`body.email must be defined`, `body contains
//! unknown properties: extra`). Required accessors return a placeholder when the
//! field is bad; `finish` then fails, so the placeholder is never used.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::ApiError;
use crate::known_errors;
pub use crate::known_errors::RequestLine;

/// A value that may be absent, explicitly `null`, or set (for PATCH bodies).
#[derive(Debug, Clone, PartialEq)]
pub enum Patch<T> {
    /// The field was not sent: keep the current value.
    Absent,
    /// The field was `null`: clear the value.
    Null,
    /// The field was sent with a value.
    Set(T),
}

impl<T> Patch<T> {
    /// Whether the field was sent at all.
    pub fn is_present(&self) -> bool {
        !matches!(self, Self::Absent)
    }
}

/// The fields of a body or query object being validated.
#[derive(Debug)]
pub struct Fields {
    scope: String,
    map: Map<String, Value>,
    used: Vec<String>,
    errors: Vec<String>,
    allow_unknown: bool,
}

impl Fields {
    /// The fields of a JSON body (`None` when the request had no body).
    pub fn body(body: Option<Value>) -> Self {
        let mut errors = Vec::new();
        let map = match body {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                errors.push(type_error("body", "object", &other));
                Map::new()
            }
        };
        Self {
            scope: "body".to_owned(),
            map,
            used: Vec::new(),
            errors,
            allow_unknown: false,
        }
    }

    /// The fields of a query string; every value is a string.
    pub fn query(pairs: &[(String, String)]) -> Self {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        Self {
            scope: "query".to_owned(),
            map,
            used: Vec::new(),
            errors: Vec::new(),
            allow_unknown: false,
        }
    }

    /// The fields of a nested object of this one (e.g. `body.config`), if present.
    /// Its problems are reported by its own [`Fields::finish_into`].
    pub fn object(&mut self, key: &str) -> Option<Fields> {
        match self.take(key) {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(Self {
                scope: self.path(key),
                map,
                used: Vec::new(),
                errors: Vec::new(),
                allow_unknown: false,
            }),
            Some(other) => {
                let message = type_error(&self.path(key), "object", &other);
                self.errors.push(message);
                None
            }
        }
    }

    /// The items of an array of objects (e.g. `body.config.domains`), each
    /// with its own scope (`…domains[0]`), if the array is present. Each
    /// item's problems are reported by its own [`Fields::finish_into`].
    pub fn object_items(&mut self, key: &str) -> Option<Vec<Fields>> {
        match self.take(key) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let scope = self.path(key);
                let mut fields = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::Object(map) => fields.push(Self {
                            scope: format!("{scope}[{i}]"),
                            map,
                            used: Vec::new(),
                            errors: Vec::new(),
                            allow_unknown: false,
                        }),
                        other => {
                            let message = type_error(&format!("{scope}[{i}]"), "object", &other);
                            self.errors.push(message);
                        }
                    }
                }
                Some(fields)
            }
            Some(other) => {
                let message = type_error(&self.path(key), "array", &other);
                self.errors.push(message);
                None
            }
        }
    }

    /// Moves a nested object's problems (unknown properties included) into its parent.
    pub fn finish_into(mut self, parent: &mut Fields) {
        self.push_unknown();
        parent.errors.append(&mut self.errors);
    }

    fn push_unknown(&mut self) {
        if self.allow_unknown {
            return;
        }
        let unknown: Vec<&str> = self
            .map
            .keys()
            .filter(|k| !self.used.iter().any(|u| u == *k))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let message = format!(
                "{} contains unknown properties: {}",
                self.scope,
                unknown.join(", ")
            );
            self.errors.push(message);
        }
    }

    /// Accept properties that no accessor asked for.
    pub fn allow_unknown(mut self) -> Self {
        self.allow_unknown = true;
        self
    }

    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.scope)
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.used.push(key.to_owned());
        self.map.get(key).cloned()
    }

    /// Records a problem with a field (for checks the accessors don't cover).
    pub fn error(&mut self, key: &str, problem: &str) {
        let message = format!("{} {problem}", self.path(key));
        self.errors.push(message);
    }

    /// Whether the object has this property at all.
    pub fn map_has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Records a problem outside this object (e.g. `auth.user must be defined`).
    pub fn error_line(&mut self, line: &str) {
        self.errors.push(line.to_owned());
    }

    /// A string that may be absent or null.
    pub fn opt_string(&mut self, key: &str, max_len: Option<usize>) -> Option<String> {
        match self.nullable_string(key, max_len) {
            Patch::Set(s) => Some(s),
            Patch::Absent | Patch::Null => None,
        }
    }

    /// A string that must be present.
    pub fn req_string(&mut self, key: &str, max_len: Option<usize>) -> String {
        match self.take(key) {
            None | Some(Value::Null) => {
                let message = format!("{} must be defined", self.path(key));
                self.errors.push(message);
                String::new()
            }
            Some(_) => self.opt_string(key, max_len).unwrap_or_default(),
        }
    }

    /// A non-empty string that must be present.
    pub fn req_nonempty_string(&mut self, key: &str, max_len: Option<usize>) -> String {
        let value = self.req_string(key, max_len);
        if self.map.get(key).is_some_and(|v| v.as_str() == Some("")) {
            self.error(key, "must not be empty");
        }
        value
    }

    /// A string for a PATCH: absent, null or set.
    pub fn nullable_string(&mut self, key: &str, max_len: Option<usize>) -> Patch<String> {
        match self.take(key) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            // PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
            Some(Value::String(s)) if s.contains('\0') => {
                self.error(key, "must not contain NUL characters");
                Patch::Absent
            }
            Some(Value::String(s)) => {
                if let Some(max) = max_len
                    && s.chars().count() > max
                {
                    self.error(key, &format!("must be at most {max} characters"));
                }
                Patch::Set(s)
            }
            // yup casts scalars to strings; objects and arrays stay wrong.
            Some(scalar @ (Value::Number(_) | Value::Bool(_))) => {
                self.map
                    .insert(key.to_owned(), Value::String(scalar.to_string()));
                self.nullable_string(key, max_len)
            }
            Some(other) => {
                let message = type_error(&self.path(key), "string", &other);
                self.errors.push(message);
                Patch::Absent
            }
        }
    }

    /// An email address that must be present (strict: a dotted domain, at most 256 characters).
    pub fn req_email(&mut self, key: &str) -> String {
        let value = self.req_string(key, None);
        if self.map.get(key).is_some_and(Value::is_string) && !is_valid_email(&value) {
            self.error(key, "must be a valid email");
        }
        value
    }

    /// An email for a PATCH.
    pub fn nullable_email(&mut self, key: &str) -> Patch<String> {
        let value = self.nullable_string(key, None);
        if let Patch::Set(email) = &value
            && !is_valid_email(email)
        {
            self.error(key, "must be a valid email");
        }
        value
    }

    /// An email for a PATCH, checked loosely as yup's `email()` does (a
    /// user's primary email: addresses the strict sign-up rule refuses, such
    /// as ones without a dotted domain, still belong to existing users).
    pub fn nullable_loose_email(&mut self, key: &str) -> Patch<String> {
        let value = self.nullable_string(key, None);
        if let Patch::Set(email) = &value
            && !is_plausible_email(email)
        {
            self.error(key, "must be a valid email");
        }
        value
    }

    /// A URL for a PATCH, kept as sent (Stack Auth's `urlSchema` messages:
    /// an empty string is not a URL either).
    pub fn nullable_url_text(&mut self, key: &str) -> Patch<String> {
        let value = self.nullable_string(key, None);
        if let Patch::Set(text) = &value {
            if text.chars().any(char::is_whitespace) {
                self.error(key, "contains spaces");
            }
            if url::Url::parse(text).is_err() {
                self.error(key, "is not a valid URL");
            }
        }
        value
    }

    /// An absolute URL, if present (Stack Auth's `urlSchema` messages).
    pub fn opt_url(&mut self, key: &str) -> Option<url::Url> {
        let raw = self.opt_string(key, None)?;
        if raw.chars().any(char::is_whitespace) {
            self.error(key, "contains spaces");
            if url::Url::parse(&raw).is_err() {
                self.error(key, "is not a valid URL");
            }
            return None;
        }
        match url::Url::parse(&raw) {
            Ok(url) => Some(url),
            Err(_) => {
                self.error(key, "is not a valid URL");
                None
            }
        }
    }

    /// An absolute URL that must be present.
    pub fn req_url(&mut self, key: &str) -> Option<url::Url> {
        if matches!(self.map.get(key), None | Some(Value::Null)) {
            self.take(key);
            let message = format!("{} must be defined", self.path(key));
            self.errors.push(message);
            return None;
        }
        self.opt_url(key)
    }

    /// A boolean that must be present.
    pub fn req_bool(&mut self, key: &str) -> bool {
        if matches!(self.map.get(key), None | Some(Value::Null)) {
            self.take(key);
            let message = format!("{} must be defined", self.path(key));
            self.errors.push(message);
            return false;
        }
        self.opt_bool(key).unwrap_or_default()
    }

    /// A string of exactly `len` characters that must be present (a verification code).
    pub fn req_exact_string(&mut self, key: &str, len: usize) -> String {
        let value = self.req_string(key, None);
        if self.map.get(key).is_some_and(Value::is_string) && value.chars().count() != len {
            self.error(key, &format!("must be exactly {len} characters"));
        }
        value
    }

    /// A non-empty email that must be present, checked loosely as yup's
    /// `email()` does (sign-in accepts what sign-up's stricter rule may not).
    pub fn req_loose_email(&mut self, key: &str) -> String {
        let value = self.req_nonempty_string(key, None);
        if !value.is_empty() && !is_plausible_email(&value) {
            self.error(key, "must be a valid email");
        }
        value
    }

    /// A boolean, if present (query values accept `"true"` and `"false"`).
    pub fn opt_bool(&mut self, key: &str) -> Option<bool> {
        match self.take(key) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(b),
            Some(Value::String(s)) if self.scope == "query" => match s.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => {
                    self.error(key, "must be one of the following values: true, false");
                    None
                }
            },
            Some(other) => {
                let message = type_error(&self.path(key), "boolean", &other);
                self.errors.push(message);
                None
            }
        }
    }

    /// An integer, if present (query values are parsed).
    pub fn opt_i64(&mut self, key: &str) -> Option<i64> {
        match self.take(key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            Some(Value::String(s)) if self.scope == "query" => match s.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    let message = format!(
                        "{} must be a `number` type, but the final value was: `NaN` (cast from the value `\"{s}\"`).",
                        self.path(key)
                    );
                    self.errors.push(message);
                    None
                }
            },
            Some(other) => {
                let message = type_error(&self.path(key), "number", &other);
                self.errors.push(message);
                None
            }
        }
    }

    /// Any JSON value for a PATCH (metadata fields): absent, null or set.
    pub fn json(&mut self, key: &str) -> Patch<Value> {
        match self.take(key) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(v) if contains_nul(&v) => {
                self.error(key, "must not contain NUL characters");
                Patch::Absent
            }
            Some(v) => Patch::Set(v),
        }
    }

    /// A UUID, if present.
    pub fn opt_uuid(&mut self, key: &str) -> Option<Uuid> {
        let raw = self.opt_string(key, None)?;
        match Uuid::parse_str(&raw) {
            Ok(id) => Some(id),
            Err(_) => {
                self.error(key, "must be a valid UUID");
                None
            }
        }
    }

    /// One of a fixed set of strings, if present.
    pub fn opt_one_of(&mut self, key: &str, allowed: &[&str]) -> Option<String> {
        let value = self.opt_string(key, None)?;
        if allowed.contains(&value.as_str()) {
            Some(value)
        } else {
            self.error(
                key,
                &format!(
                    "must be one of the following values: {}",
                    allowed.join(", ")
                ),
            );
            None
        }
    }

    /// Whether any problem has been recorded so far.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Fails with one `SCHEMA_ERROR` listing every problem, unknown properties included.
    ///
    /// # Errors
    /// `SCHEMA_ERROR` when any field was bad or unknown.
    pub fn finish(mut self, request: &RequestLine) -> Result<(), ApiError> {
        self.push_unknown();
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(known_errors::schema_error(request, &self.errors).into())
        }
    }
}

/// Whether any string or key inside `v` holds NUL (which PostgreSQL's jsonb refuses).
pub fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// yup's message for a value of the wrong type.
fn type_error(path: &str, expected: &str, got: &Value) -> String {
    let shown = match got {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    format!("{path} must be a `{expected}` type, but the final value was: `{shown}`.")
}

/// `text` as one line for a display name: every control character (CR and LF
/// among them) and every run of whitespace becomes one space, and the ends are
/// trimmed. Stack Auth accepts any string as a project's display name, so names
/// are stored as sent; this is for where a name must stay on one line (a mail
/// header, a name derived from a folder).
pub fn single_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// yup's email check: one `@`, a local part of allowed characters, and a
/// domain of dot-separated labels (no dot required).
pub fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// Whether `email` is a plausible address with a dotted domain, at most 256 characters.
pub fn is_valid_email(email: &str) -> bool {
    if email.len() > 256 || email.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    !local.is_empty()
        && !host.is_empty()
        && tld.len() >= 2
        && !local.contains('@')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
        && !domain.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line() -> RequestLine {
        RequestLine {
            method: "POST".into(),
            path: "/api/v1/auth/password/sign-up".into(),
        }
    }

    fn schema_lines(result: Result<(), ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Known(e)) => {
                assert_eq!(e.code, "SCHEMA_ERROR");
                e.message.lines().skip(1).map(str::to_owned).collect()
            }
            other => panic!("expected a schema error, got {other:?}"),
        }
    }

    #[test]
    fn missing_bad_and_unknown_fields_are_all_reported() {
        let mut f = Fields::body(Some(json!({"password": [5], "extra": 1})));
        let _ = f.req_email("email");
        let _ = f.req_string("password", Some(70));
        assert_eq!(
            schema_lines(f.finish(&line())),
            vec![
                "  - body.email must be defined",
                "  - body.password must be a `string` type, but the final value was: `[5]`.",
                "  - body contains unknown properties: extra",
            ]
        );
    }

    #[test]
    fn valid_fields_pass() {
        let mut f = Fields::body(Some(json!({"email": "a@b.co", "password": "x"})));
        assert_eq!(f.req_email("email"), "a@b.co");
        assert_eq!(f.req_string("password", Some(70)), "x");
        assert!(f.finish(&line()).is_ok());
    }

    #[test]
    fn emails_must_have_a_dotted_domain() {
        assert!(is_valid_email("user@example.com"));
        assert!(!is_valid_email("user@localhost"));
        assert!(!is_valid_email("no-at-sign.com"));
        assert!(!is_valid_email("a b@example.com"));
    }

    #[test]
    fn single_line_turns_controls_and_whitespace_runs_into_one_space() {
        assert_eq!(single_line("My App"), "My App");
        assert_eq!(
            single_line(" Evil\r\nBcc: x@y.z\r\n\r\n\tbody\u{7}\u{85}end "),
            "Evil Bcc: x@y.z body end"
        );
        assert_eq!(single_line("a\u{2028}b\0c"), "a b c");
        assert_eq!(single_line("\r\n"), "");
    }

    #[test]
    fn patch_distinguishes_absent_null_and_set() {
        let mut f = Fields::body(Some(json!({"a": null, "b": "x"})));
        assert_eq!(f.nullable_string("a", None), Patch::Null);
        assert_eq!(f.nullable_string("b", None), Patch::Set("x".into()));
        assert_eq!(f.nullable_string("c", None), Patch::Absent);
    }

    #[test]
    fn query_booleans_are_strings() {
        let mut f = Fields::query(&[("desc".into(), "yes".into())]);
        assert_eq!(f.opt_bool("desc"), None);
        assert_eq!(
            schema_lines(f.finish(&line())),
            vec!["  - query.desc must be one of the following values: true, false"]
        );
    }
}
