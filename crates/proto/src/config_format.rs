//! The generic config format: a JSON object whose keys may use dot notation
//! (`"auth.password.allowSignIn": true`), whose `null` means "back to the
//! default", and which is layered by [`override_with`]. A *normalized* config
//! has neither dots in its keys nor nulls.

use serde_json::{Map, Value};

/// Why a config is not in the config format, or `None` when it is.
///
/// `name` is how the message calls the config (`override`, `config`).
pub fn invalid_reason(config: &Value, name: &str) -> Option<String> {
    let Value::Object(map) = config else {
        return Some(format!("{name} must be a non-null object"));
    };
    for (key, value) in map {
        if !is_valid_key(key) {
            return Some(format!(
                "All keys of {name} must consist of only alphanumeric characters, dots, underscores, colons, dollar signs, or hyphens and start with a character other than a hyphen (found: {key})"
            ));
        }
        if let Some(reason) = invalid_value_reason(value, &format!("{name}.{key}")) {
            return Some(reason);
        }
    }
    None
}

fn invalid_value_reason(value: &Value, name: &str) -> Option<String> {
    match value {
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let item_name = format!("{name}[{i}]");
            if item.is_null() {
                Some(format!(
                    "{item_name} is null; tuple elements cannot be null"
                ))
            } else {
                invalid_value_reason(item, &item_name)
            }
        }),
        Value::Object(_) => invalid_reason(value, name),
        _ => None,
    }
}

/// Whether `key` is a key or a dotted path of keys: segments of letters,
/// digits, `_`, `:`, `$` and `-`, none empty and none starting with `-`.
pub fn is_valid_key(key: &str) -> bool {
    key.split('.').all(|segment| {
        let mut chars = segment.chars();
        chars.next().is_some_and(|c| c != '-' && is_key_char(c)) && chars.all(is_key_char)
    })
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '$' | '-')
}

/// `base` overridden by `top`: every key of `top` replaces that key of
/// `base` and every dotted key below it (`a` drops `a.b`); other keys of
/// `base` stay.
pub fn override_with(base: &Map<String, Value>, top: &Map<String, Value>) -> Map<String, Value> {
    let mut result: Map<String, Value> = base
        .iter()
        .filter(|(k, _)| !top.keys().any(|key| is_same_or_below(k, key)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in top {
        result.insert(k.clone(), v.clone());
    }
    result
}

/// Whether the dotted path `key` is `parent` or lies below it.
fn is_same_or_below(key: &str, parent: &str) -> bool {
    key == parent
        || key
            .strip_prefix(parent)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// `config` without `keys` and everything below them, whether the config
/// spells a path with dots or with nested objects. An object left empty by
/// the removal goes too.
pub fn remove_keys(config: &Map<String, Value>, keys: &[String]) -> Map<String, Value> {
    let mut result = Map::new();
    for (key, value) in config {
        if keys.iter().any(|k| is_same_or_below(key, k)) {
            continue;
        }
        let inner: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(key.as_str())?.strip_prefix('.'))
            .map(str::to_owned)
            .collect();
        match value {
            Value::Object(nested) if !inner.is_empty() => {
                let cleaned = remove_keys(nested, &inner);
                if !cleaned.is_empty() {
                    result.insert(key.clone(), Value::Object(cleaned));
                }
            }
            _ => {
                result.insert(key.clone(), value.clone());
            }
        }
    }
    result
}

/// What [`normalize`] does with a dotted key whose parent is missing, null or
/// not an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMissingParent {
    /// Fail with a [`NormalizationError`].
    Fail,
    /// Drop the key (and record it when asked to).
    Drop,
    /// Make the missing parent an empty object (only for missing or null
    /// parents; a parent that is not an object still fails).
    CreateEmpty,
}

/// A dotted key that cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NormalizationError(pub String);

/// `config` with its dotted keys placed into nested objects (shallow keys
/// first) and its nulls removed. Keys dropped under
/// [`OnMissingParent::Drop`] are pushed to `dropped`.
///
/// # Errors
/// A dotted key whose parent cannot hold it, under [`OnMissingParent::Fail`]
/// (and [`OnMissingParent::CreateEmpty`] for a parent that is a value).
pub fn normalize(
    config: &Map<String, Value>,
    on_missing: OnMissingParent,
    dropped: &mut Vec<String>,
) -> Result<Map<String, Value>, NormalizationError> {
    let mut keys: Vec<&String> = config.keys().collect();
    keys.sort_by_key(|k| k.matches('.').count());
    let mut result = Value::Object(Map::new());
    'keys: for key in keys {
        let value = &config[key.as_str()];
        let mut segments: Vec<&str> = key.split('.').collect();
        let last = segments.pop().unwrap_or_default();
        let mut current = &mut result;
        for segment in segments {
            let present = child(current, segment).is_some_and(|v| !v.is_null());
            if !present {
                match on_missing {
                    OnMissingParent::Fail => {
                        return Err(NormalizationError(format!(
                            "Tried to use dot notation to access {}, but {} doesn't exist on the object (or is null).",
                            quote(key),
                            quote(segment)
                        )));
                    }
                    OnMissingParent::Drop => {
                        dropped.push(key.clone());
                        continue 'keys;
                    }
                    OnMissingParent::CreateEmpty => {
                        set_child(current, segment, Value::Object(Map::new()));
                    }
                }
            }
            let is_container = child(current, segment)
                .is_some_and(|v| matches!(v, Value::Object(_) | Value::Array(_)));
            if !is_container {
                if on_missing == OnMissingParent::Drop {
                    dropped.push(key.clone());
                    continue 'keys;
                }
                return Err(NormalizationError(format!(
                    "Tried to use dot notation to access {}, but {} is not an object.",
                    quote(key),
                    quote(segment)
                )));
            }
            let Some(next) = child_mut(current, segment) else {
                continue 'keys;
            };
            current = next;
        }
        if value.is_null() {
            remove_child(current, last);
        } else {
            let normalized = normalize_value(value, on_missing, dropped)?;
            set_child(current, last, normalized);
        }
    }
    match result {
        Value::Object(map) => Ok(map),
        _ => Ok(Map::new()),
    }
}

fn normalize_value(
    value: &Value,
    on_missing: OnMissingParent,
    dropped: &mut Vec<String>,
) -> Result<Value, NormalizationError> {
    match value {
        Value::Null => Err(NormalizationError(
            "Tried to normalize a null value".to_owned(),
        )),
        Value::Array(items) => items
            .iter()
            .map(|v| normalize_value(v, on_missing, dropped))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => normalize(map, on_missing, dropped).map(Value::Object),
        other => Ok(other.clone()),
    }
}

/// The JSON spelling of `s`, as the messages quote keys.
pub fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn child<'a>(container: &'a Value, key: &str) -> Option<&'a Value> {
    match container {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

fn child_mut<'a>(container: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    match container {
        Value::Object(map) => map.get_mut(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    }
}

fn set_child(container: &mut Value, key: &str, value: Value) {
    match container {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        Value::Array(items) => {
            if let Ok(i) = key.parse::<usize>() {
                if i < items.len() {
                    items[i] = value;
                } else if i == items.len() {
                    items.push(value);
                }
            }
        }
        _ => {}
    }
}

fn remove_child(container: &mut Value, key: &str) {
    if let Value::Object(map) = container {
        map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn an_override_replaces_a_key_and_the_dotted_keys_below_it() {
        let base = obj(json!({"a": 1, "b": 2, "c.d": 3, "c.e.f": 4, "c.g": 5, "k": 123}));
        let top = obj(json!({"a": 9, "c.d": 10, "c.e": null}));
        assert_eq!(
            Value::Object(override_with(&base, &top)),
            json!({"a": 9, "b": 2, "c.d": 10, "c.e": null, "c.g": 5, "k": 123})
        );
    }

    #[test]
    fn removing_keys_follows_dots_and_nesting() {
        let cases = [
            (json!({"a": 1, "b": 2}), keys(&["a"]), json!({"b": 2})),
            (
                json!({"a.b": 1, "a.b.c": 2, "a.d": 3}),
                keys(&["a.b"]),
                json!({"a.d": 3}),
            ),
            (json!({"a.b": 1, "a.c": 2}), keys(&["a"]), json!({})),
            (
                json!({"teams": {"allowClientTeamCreation": true, "createPersonalTeamOnSignUp": true}}),
                keys(&["teams.allowClientTeamCreation"]),
                json!({"teams": {"createPersonalTeamOnSignUp": true}}),
            ),
            (
                json!({"teams": {"allowClientTeamCreation": true}}),
                keys(&["teams.allowClientTeamCreation"]),
                json!({}),
            ),
            (
                json!({"teams": {"a.b.c": 1}}),
                keys(&["teams.a.b"]),
                json!({}),
            ),
            (
                json!({"a": "string"}),
                keys(&["a.b"]),
                json!({"a": "string"}),
            ),
            (
                json!({"a": [1, 2, 3]}),
                keys(&["a.0"]),
                json!({"a": [1, 2, 3]}),
            ),
        ];
        for (config, remove, expected) in cases {
            assert_eq!(
                Value::Object(remove_keys(&obj(config.clone()), &remove)),
                expected,
                "{config} - {remove:?}"
            );
        }
    }

    #[test]
    fn normalizing_places_dotted_keys_and_drops_nulls() {
        let config = obj(json!({
            "a": 9, "c": {}, "c.d": 10, "c.e": null, "c.g": 5,
            "h": [6, {"i": 7}, 8], "h.0": 11, "h.1": {"j": 12},
            "k": {"l": {}}, "k.l.m": 13
        }));
        let mut dropped = Vec::new();
        let normalized = normalize(&config, OnMissingParent::Drop, &mut dropped);
        assert_eq!(
            normalized.map(Value::Object),
            Ok(
                json!({"a": 9, "c": {"d": 10, "g": 5}, "h": [11, {"j": 12}, 8], "k": {"l": {"m": 13}}})
            )
        );
    }

    #[test]
    fn dotting_into_nothing_fails_or_drops_as_asked() {
        let mut dropped = Vec::new();
        assert_eq!(
            normalize(&obj(json!({"b.c": 2})), OnMissingParent::Fail, &mut dropped),
            Err(NormalizationError(
                "Tried to use dot notation to access \"b.c\", but \"b\" doesn't exist on the object (or is null).".into()
            ))
        );
        assert_eq!(
            normalize(
                &obj(json!({"b": 1, "b.c": 2})),
                OnMissingParent::Fail,
                &mut dropped
            ),
            Err(NormalizationError(
                "Tried to use dot notation to access \"b.c\", but \"b\" is not an object.".into()
            ))
        );
        assert_eq!(
            normalize(
                &obj(json!({"b": 1, "b.c": 2})),
                OnMissingParent::Drop,
                &mut dropped
            )
            .map(Value::Object),
            Ok(json!({"b": 1}))
        );
        assert_eq!(dropped, ["b.c"]);
        assert_eq!(
            normalize(
                &obj(json!({"b.c": 2})),
                OnMissingParent::CreateEmpty,
                &mut dropped
            )
            .map(Value::Object),
            Ok(json!({"b": {"c": 2}}))
        );
    }

    #[test]
    fn the_format_refuses_bad_keys_and_null_tuple_elements() {
        assert_eq!(
            invalid_reason(&json!({"a.b": 1, "c": {"d-e": [1]}}), "override"),
            None
        );
        assert_eq!(
            invalid_reason(&json!([]), "override").as_deref(),
            Some("override must be a non-null object")
        );
        assert!(
            invalid_reason(&json!({"-a": 1}), "override")
                .is_some_and(|m| m.contains("(found: -a)"))
        );
        assert!(invalid_reason(&json!({"a..b": 1}), "override").is_some());
        assert_eq!(
            invalid_reason(&json!({"a": [1, null]}), "override").as_deref(),
            Some("override.a[1] is null; tuple elements cannot be null")
        );
    }
}
