//! JSON text exactly as JavaScript's `JSON.stringify(value, null, 2)` writes
//! it, which is how Stack Auth renders the config into the file
//! (`renderConfigFileContent` in `config-rendering.ts` of `@hexclave/shared`),
//! and JavaScript's number-to-string, which also names numeric object keys.
//!
//! A hand-written printer rather than `serde_json::to_string_pretty`: that one
//! returns a `Result` even for a `Value`, and writes floats in Rust's form
//! (`1e21`) where JavaScript writes `1e+21`.

use serde_json::Value;

/// `JSON.stringify(value, null, 2)`.
pub(crate) fn pretty(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0);
    out
}

fn write_value(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_value(out, item, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            out.push('{');
            for (index, (key, item)) in map.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item, depth + 1);
            }
            newline(out, depth);
            out.push('}');
        }
    }
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_number(out: &mut String, number: &serde_json::Number) {
    if let Some(integer) = number.as_i64() {
        out.push_str(&integer.to_string());
    } else if let Some(integer) = number.as_u64() {
        out.push_str(&integer.to_string());
    } else if let Some(float) = number.as_f64() {
        out.push_str(&js_number_to_string(float));
    } else {
        // Only reachable with serde_json's arbitrary_precision feature, whose
        // numbers are already JSON text.
        out.push_str(&number.to_string());
    }
}

/// The escapes `JSON.stringify` uses: `"` and `\`, the short forms for
/// control characters that have one, `\u00XX` for the others. Everything else
/// (including U+2028 and U+2029, which JavaScript strings allow) is written
/// as is.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            control if u32::from(control) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(control)));
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

/// JavaScript's `Number.prototype.toString()` for a number (ECMA-262
/// Number::toString): the shortest digits that read back as the same number,
/// plain up to 21 integer digits, with an exponent beyond that or below 1e-6.
pub(crate) fn js_number_to_string(number: f64) -> String {
    if number.is_nan() {
        return "NaN".to_owned();
    }
    if number == 0.0 {
        return "0".to_owned();
    }
    if number.is_infinite() {
        return if number > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .to_owned();
    }
    let sign = if number < 0.0 { "-" } else { "" };
    // Rust's `{:e}` gives the shortest round-trip digits, as `d.ddde±x`.
    let scientific = format!("{:e}", number.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let digit_count = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    // `point` is where the decimal point goes, counted in digits from the left.
    let point = exponent + 1;
    let body = if digit_count <= point && point <= 21 {
        format!(
            "{digits}{}",
            "0".repeat(usize::try_from(point - digit_count).unwrap_or(0))
        )
    } else if 0 < point && point <= 21 {
        let split = usize::try_from(point).unwrap_or(0);
        let (whole, fraction) = digits.split_at_checked(split).unwrap_or((&digits, ""));
        format!("{whole}.{fraction}")
    } else if -6 < point && point <= 0 {
        format!(
            "0.{}{digits}",
            "0".repeat(usize::try_from(-point).unwrap_or(0))
        )
    } else {
        let exponent_sign = if point > 0 { "+" } else { "-" };
        let (first, rest) = digits.split_at_checked(1).unwrap_or((&digits, ""));
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        format!("{first}{fraction}e{exponent_sign}{}", (point - 1).abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        let cases = [
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (123456.789, "123456.789"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (1e20, "100000000000000000000"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (-0.0, "0"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ];
        for (number, expected) in cases {
            assert_eq!(js_number_to_string(number), expected, "{number:?}");
        }
    }

    #[test]
    fn pretty_matches_json_stringify_with_two_spaces() {
        let value = json!({
            "a": [],
            "b": {},
            "c": [1, "x", null, true, {"d": 2.5}],
            "e\n\"": "\u{1}\t\u{2028}",
        });
        assert_eq!(
            pretty(&value),
            "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    1,\n    \"x\",\n    null,\n    true,\n    {\n      \"d\": 2.5\n    }\n  ],\n  \"e\\n\\\"\": \"\\u0001\\t\u{2028}\"\n}"
        );
        assert_eq!(pretty(&json!({})), "{}");
        assert_eq!(pretty(&json!("show-onboarding")), "\"show-onboarding\"");
    }
}
