//! Round trips: what [`crate::render`] writes, [`crate::parse()`] reads back as
//! the same config in the same form, for hand-picked values and for values
//! from a small deterministic generator (a property test without a property
//! testing library).

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::evaluate::{js_object, json_number};
use crate::{Form, Language, parse, render};

const TS: &str = "/app/hexclave.config.ts";
const JS: &str = "/app/hexclave.config.js";

/// Forms to write into: Stack Auth's own, and hand-written files in the
/// shapes [`crate::parse()`] accepts, each with `path` for its language.
fn forms() -> Vec<(Form, &'static str)> {
    let written = [
        (
            "import { defineHexclaveConfig } from \"@hexclave/next\";\n\nexport const config = defineHexclaveConfig({\n  a: 1,\n});\n",
            TS,
        ),
        (
            "// header\nimport type { StackConfig } from '@stackframe/stack'\nexport let config: StackConfig = ({ a: 1 } as const) satisfies StackConfig // trailing\nexport const deployment = { services: () => ({}) }\n",
            TS,
        ),
        (
            "import * as sdk from \"@stackframe/js\";\nconst c = sdk.defineStackConfig(<StackConfig>{});\nexport { c as config };\nexport default c;\n",
            TS,
        ),
        ("export const config = \"show-onboarding\";", TS),
        ("export var config = {}\n", JS),
    ];
    let mut forms = vec![
        (Form::stack_auth("@hexclave/js", Language::TypeScript), TS),
        (
            Form::stack_auth("@stackframe/react", Language::TypeScript),
            TS,
        ),
        (Form::stack_auth("@hexclave/js", Language::JavaScript), JS),
    ];
    for (source, path) in written {
        let form = parse(source, Path::new(path))
            .unwrap()
            .form()
            .cloned()
            .unwrap();
        forms.push((form, path));
    }
    forms
}

/// Renders `value` in every form and checks it reads back unchanged, and in
/// the same form.
#[track_caller]
fn assert_round_trips(value: &Value) {
    for (form, path) in forms() {
        let text = render(value, &form);
        let file = match parse(&text, Path::new(path)) {
            Ok(file) => file,
            Err(error) => panic!("{error}\nin:\n{text}"),
        };
        assert_eq!(file.value(), value, "\n{text}");
        assert_eq!(file.form(), Some(&form), "\n{text}");
        // Writing the read config again gives the same text.
        assert_eq!(render(file.value(), &form), text);
    }
}

#[test]
fn hand_picked_values() {
    for value in [
        json!({}),
        json!("show-onboarding"),
        json!({"auth": {"allowSignUp": true, "oauth": {"providers": {"google": {"type": "google"}}}}}),
        // Written in JavaScript's key order: array indices first.
        json!({"1": [], "a.b.c": 1, "": "", "01": {}, "1.5": null, "$": "`${x}`", "'\"\\": "\u{0}\u{1f}\u{7f}"}),
        json!({"numbers": [0, -1, 1.5, -2.25, 1e21, 1e-7, 9007199254740991_i64, -9007199254740991_i64, 1e300, 5e-324]}),
        json!({"text": "line\nbreak\ttab\r\u{8}\u{c} é 😀 \u{2028}\u{2029} </script>"}),
        json!({"deep": [[[[{"x": [[]]}]]]]}),
    ] {
        assert_round_trips(&value);
    }
}

/// SplitMix64: a tiny, well-mixed deterministic generator.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[usize::try_from(self.below(items.len() as u64)).unwrap()]
    }

    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            "0",
            "9",
            " ",
            "-",
            ".",
            "_",
            "$",
            "{",
            "}",
            "`",
            "'",
            "\"",
            "\\",
            "\n",
            "\r",
            "\t",
            "\u{0}",
            "\u{1f}",
            "\u{7f}",
            "é",
            "漢",
            "😀",
            "\u{2028}",
            "\u{2029}",
            "${",
            "*/",
            "//",
            "auth",
            "show-onboarding",
        ];
        let length = self.below(8);
        (0..length).map(|_| *self.pick(PIECES)).collect()
    }

    fn number(&mut self) -> Value {
        match self.below(5) {
            0 => json_number(self.below(2001) as f64 - 1000.0),
            1 => json_number(
                (self.next() >> 11) as f64 * if self.below(2) == 0 { 1.0 } else { -1.0 },
            ),
            2 => json_number((self.below(2_000_001) as f64 - 1_000_000.0) / 1000.0),
            3 => {
                // Any finite f64, from its bits: subnormals, huge exponents.
                let float = f64::from_bits(self.next());
                if float.is_finite() {
                    json_number(float)
                } else {
                    json!(0)
                }
            }
            _ => json_number(
                f64::from(u32::try_from(self.below(1000)).unwrap())
                    * 10f64.powi(i32::try_from(self.below(60)).unwrap() - 30),
            ),
        }
    }

    fn value(&mut self, depth: u32) -> Value {
        let leaf = depth == 0 || self.below(3) == 0;
        match (leaf, self.below(if leaf { 4 } else { 2 })) {
            (true, 0) => Value::Null,
            (true, 1) => Value::Bool(self.below(2) == 0),
            (true, 2) => self.number(),
            (true, _) => Value::String(self.string()),
            (false, 0) => {
                let length = self.below(5);
                Value::Array((0..length).map(|_| self.value(depth - 1)).collect())
            }
            (false, _) => Value::Object(self.object(depth - 1)),
        }
    }

    /// An object in the order JavaScript would hold its keys, so that
    /// writing it and reading it back keeps the order too.
    fn object(&mut self, depth: u32) -> Map<String, Value> {
        let length = self.below(6);
        let (keys, values): (Vec<String>, Vec<Option<Value>>) = (0..length)
            .map(|_| (self.string(), Some(self.value(depth))))
            // `__proto__` can't be written back (see `render`'s docs).
            .filter(|(key, _)| key != "__proto__")
            .unzip();
        js_object(keys, values)
    }
}

#[test]
fn generated_values_round_trip() {
    let mut random = Random(0x5EED_C0FF_EE00_0001);
    for _ in 0..300 {
        let value = Value::Object(random.object(4));
        assert_round_trips(&value);
    }
}

#[test]
fn the_generator_covers_what_it_should() {
    // A guard against a generator that quietly stops generating: floats,
    // large and negative integers, nesting and awkward strings all appear.
    let mut random = Random(0x5EED_C0FF_EE00_0001);
    let text: String = (0..300)
        .map(|_| crate::json::pretty(&Value::Object(random.object(4))))
        .collect();
    for needle in ["e-", "e+", "\\n", "\\u0000", "😀", "[\n", "{\n", "-", "."] {
        assert!(text.contains(needle), "no {needle:?} in generated values");
    }
}
