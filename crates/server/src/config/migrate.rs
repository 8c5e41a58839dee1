//! Old spellings of config keys, brought to today's, as Stack Auth migrates
//! stored overrides: a file or a stored override written for an older schema
//! still applies.

use serde_json::{Map, Value};

use super::Level;

/// `config` with old keys renamed and dropped keys removed, for `level`.
pub fn migrate(level: Level, config: &Map<String, Value>) -> Map<String, Value> {
    if level == Level::Project {
        return config.clone();
    }
    let removed = |path: &[&str]| -> bool {
        let joined = path.join(".");
        matches!(
            joined.as_str(),
            "emails.themeList"
                | "emails.templateList"
                | "sourceOfTruth"
                | "payments.stripeAccountId"
                | "payments.stripeAccountSetupComplete"
        ) || (path.len() == 4
            && path[0] == "payments"
            && path[1] == "items"
            && path[3] == "default")
            || path.first() == Some(&"workflows")
            || (path.len() >= 3
                && path[0] == "apps"
                && path[1] == "installed"
                && path[2] == "workflows")
    };
    let renamed = |path: &[&str]| -> Option<&'static str> {
        match path {
            ["emails", "theme"] => Some("selectedThemeId"),
            ["payments", "offers"] => Some("products"),
            ["payments", "groups"] | ["payments", "catalogs"] => Some("productLines"),
            ["payments", "products", _, "groupId"] | ["payments", "products", _, "catalogId"] => {
                Some("productLineId")
            }
            _ => None,
        }
    };
    let mut result = rewrite(config, &[], &removed, &renamed);
    if level == Level::Environment
        && matches!(
            peek_path(&result, &["domains", "trustedDomains"]),
            Some(Value::Array(_))
        )
        && let Some(Value::Array(list)) = take_path(&mut result, &["domains", "trustedDomains"])
    {
        let record: Map<String, Value> = list
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect();
        put_path(
            &mut result,
            &["domains", "trustedDomains"],
            Value::Object(record),
        );
    }
    result
}

type PathTest<'a> = &'a dyn Fn(&[&str]) -> bool;
type PathRename<'a> = &'a dyn Fn(&[&str]) -> Option<&'static str>;

fn rewrite(
    config: &Map<String, Value>,
    prefix: &[String],
    removed: PathTest<'_>,
    renamed: PathRename<'_>,
) -> Map<String, Value> {
    let mut result = Map::new();
    for (key, value) in config {
        // Renames apply to every prefix of a dotted key, removals to the
        // whole path only (`sourceOfTruth` goes, `sourceOfTruth.type` stays
        // for the schema check to refuse), as Stack Auth migrates.
        let mut path: Vec<String> = prefix.to_vec();
        let mut own: Vec<String> = Vec::new();
        for segment in key.split('.') {
            path.push(segment.to_owned());
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            if let Some(name) = renamed(&refs) {
                path.pop();
                path.push(name.to_owned());
            }
            own.push(path.last().cloned().unwrap_or_default());
        }
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        if removed(&refs) {
            continue;
        }
        let value = match value {
            Value::Object(map) => Value::Object(rewrite(map, &path, removed, renamed)),
            other => other.clone(),
        };
        result.insert(own.join("."), value);
    }
    result
}

fn peek_path<'a>(config: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    if let Some(v) = config.get(&path.join(".")) {
        return Some(v);
    }
    let (first, rest) = path.split_first()?;
    match config.get(*first) {
        Some(Value::Object(inner)) if !rest.is_empty() => peek_path(inner, rest),
        _ => None,
    }
}

fn take_path(config: &mut Map<String, Value>, path: &[&str]) -> Option<Value> {
    let dotted = path.join(".");
    if let Some(v) = config.remove(&dotted) {
        return Some(v);
    }
    let (first, rest) = path.split_first()?;
    match config.get_mut(*first) {
        Some(Value::Object(inner)) if !rest.is_empty() => take_path(inner, rest),
        _ => None,
    }
}

fn put_path(config: &mut Map<String, Value>, path: &[&str], value: Value) {
    match path.split_first() {
        Some((first, [])) => {
            config.insert((*first).to_owned(), value);
        }
        Some((first, rest)) => {
            if let Some(Value::Object(inner)) = config.get_mut(*first) {
                put_path(inner, rest, value);
            } else {
                config.insert(path.join("."), value);
            }
        }
        None => {}
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

    #[test]
    fn old_keys_take_their_new_names() {
        let old = obj(
            json!({"emails.theme": "x", "emails": {"themeList": {}}, "payments": {"offers": {"p": {"groupId": "g"}}}}),
        );
        assert_eq!(
            Value::Object(migrate(Level::Branch, &old)),
            json!({"emails.selectedThemeId": "x", "emails": {}, "payments": {"products": {"p": {"productLineId": "g"}}}})
        );
    }

    #[test]
    fn removals_match_the_whole_path_and_renames_every_prefix() {
        let old = obj(
            json!({"sourceOfTruth": {"type": "hosted"}, "sourceOfTruth.type": "hosted", "emails.theme.x": 1}),
        );
        assert_eq!(
            Value::Object(migrate(Level::Branch, &old)),
            json!({"sourceOfTruth.type": "hosted", "emails.selectedThemeId.x": 1})
        );
    }

    #[test]
    fn a_record_of_trusted_domains_stays() {
        let record = obj(
            json!({"domains.trustedDomains": {"a": {"baseUrl": "https://a"}}, "domains": {"trustedDomains": {"b": {}}}}),
        );
        assert_eq!(migrate(Level::Environment, &record), record);
    }

    #[test]
    fn an_array_of_trusted_domains_becomes_a_record() {
        let old = obj(json!({"domains": {"trustedDomains": [{"baseUrl": "https://a"}]}}));
        assert_eq!(
            Value::Object(migrate(Level::Environment, &old)),
            json!({"domains": {"trustedDomains": {"0": {"baseUrl": "https://a"}}}})
        );
        let flat = obj(json!({"domains.trustedDomains": [{"baseUrl": "https://a"}]}));
        assert_eq!(
            Value::Object(migrate(Level::Environment, &flat)),
            json!({"domains.trustedDomains": {"0": {"baseUrl": "https://a"}}})
        );
    }
}
