//! Every form [`crate::parse()`] accepts, and what it reads from each.

use std::path::Path;

use serde_json::{Value, json};

use crate::{ConfigFile, Language, WrapperFunction, parse, render};

const TS: &str = "/app/hexclave.config.ts";
const JS: &str = "/app/hexclave.config.js";

fn read(source: &str) -> ConfigFile {
    read_at(source, TS)
}

fn read_at(source: &str, path: &str) -> ConfigFile {
    match parse(source, Path::new(path)) {
        Ok(file) => file,
        Err(error) => panic!("refused:\n{source}\n{error}"),
    }
}

fn value(source: &str) -> Value {
    read(source).into_value()
}

#[test]
fn literals_of_every_kind() {
    let source = r#"
        export const config = {
          name: "shop",
          'single': 'quoted',
          "quoted-key": true,
          off: false,
          nothing: null,
          count: 3,
          negative: -2,
          negativeInParens: -(4),
          ratio: 1.5,
          exponent: 1e3,
          hex: 0x10,
          big: 1e21,
          minusZero: -0,
          escaped: "a\n\"b\" \u00e9 \u{1F600}",
          template: `plain \${not} text`,
        };
    "#;
    assert_eq!(
        value(source),
        json!({
            "name": "shop",
            "single": "quoted",
            "quoted-key": true,
            "off": false,
            "nothing": null,
            "count": 3,
            "negative": -2,
            "negativeInParens": -4,
            "ratio": 1.5,
            "exponent": 1000,
            "hex": 16,
            "big": 1e21,
            "minusZero": 0,
            "escaped": "a\n\"b\" é 😀",
            "template": "plain ${not} text",
        })
    );
}

#[test]
fn nested_objects_and_arrays() {
    assert_eq!(
        value("export const config = { a: { b: [1, [2, {c: []}], {}], }, d: [], };"),
        json!({"a": {"b": [1, [2, {"c": []}], {}]}, "d": []})
    );
}

#[test]
fn keys_may_be_names_strings_or_numbers() {
    assert_eq!(
        value(
            "export const config = { plain: 1, 'dash-ed': 2, \"dot.ted\": 3, 7: 4, 1.5: 5, 1e3: 6, 0x1F: 7, 1e21: 8, 0.0000001: 9 };"
        ),
        json!({
            "plain": 1,
            "dash-ed": 2,
            "dot.ted": 3,
            "7": 4,
            "1.5": 5,
            "1000": 6,
            "31": 7,
            "1e+21": 8,
            "1e-7": 9,
        })
    );
}

#[test]
fn a_repeated_key_keeps_its_last_value() {
    assert_eq!(
        value("export const config = { a: 1, a: 2 };"),
        json!({"a": 2})
    );
}

#[test]
fn keys_come_in_javascripts_order() {
    let file = value(
        "export const config = { b: 1, a: 2, 10: 3, \"2\": 4, \"02\": 5, b: 6, c: undefined };",
    );
    assert_eq!(file, json!({"b": 6, "a": 2, "10": 3, "2": 4, "02": 5}));
    let keys: Vec<&str> = file
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // The order shows only with serde_json's `preserve_order`; find out
    // which map this build has.
    let mut probe = serde_json::Map::new();
    probe.insert("b".to_owned(), Value::Null);
    probe.insert("a".to_owned(), Value::Null);
    if probe.keys().next().map(String::as_str) == Some("b") {
        assert_eq!(keys, ["2", "10", "b", "a", "02"]);
    } else {
        assert_eq!(keys, ["02", "10", "2", "a", "b"]);
    }
}

#[test]
fn undefined_becomes_what_json_stringify_makes_of_it() {
    assert_eq!(
        value(
            "export const config = { gone: undefined, kept: [1, undefined], a: 1, a: undefined };"
        ),
        json!({"kept": [1, null]})
    );
}

#[test]
fn type_annotation_and_type_import() {
    let file = read(
        "import type { StackConfig } from \"@stackframe/js\";\n\nexport const config: StackConfig = {\n  auth: { allowSignUp: true },\n};\n",
    );
    assert_eq!(file.value(), &json!({"auth": {"allowSignUp": true}}));
    let form = file.form().unwrap();
    assert_eq!(form.annotation(), Some("StackConfig"));
    assert_eq!(
        form.imports(),
        ["import type { StackConfig } from \"@stackframe/js\";"]
    );
    assert_eq!(form.wrapper(), None);
    assert_eq!(form.language(), Language::TypeScript);
}

#[test]
fn typescript_wrappers_at_any_depth() {
    assert_eq!(
        value(
            "export const config = ({ a: \"x\" as const, b: <number>5, c: (3)!, d: [1] satisfies number[] } as const) satisfies HexclaveConfig;"
        ),
        json!({"a": "x", "b": 5, "c": 3, "d": [1]})
    );
    assert_eq!(
        value("export const config = {} as const satisfies HexclaveConfig;"),
        json!({})
    );
    assert_eq!(
        value("export const config = <HexclaveConfig>{ a: 1 };"),
        json!({"a": 1})
    );
}

#[test]
fn let_and_var_are_read_like_const() {
    assert_eq!(value("export let config = { a: 1 };"), json!({"a": 1}));
    assert_eq!(value("export var config = { a: 1 };"), json!({"a": 1}));
    assert_eq!(
        value("export const other = 1, config = { a: 1 }, more = f();"),
        json!({"a": 1})
    );
}

#[test]
fn define_hexclave_config_imported_from_the_sdk() {
    let file = read(
        "import { defineHexclaveConfig } from \"@hexclave/next/config\";\n\nexport const config = defineHexclaveConfig({\n  auth: { allowSignUp: false },\n});\n",
    );
    assert_eq!(file.value(), &json!({"auth": {"allowSignUp": false}}));
    let wrapper = file.form().unwrap().wrapper().unwrap();
    assert_eq!(wrapper.function(), WrapperFunction::DefineHexclaveConfig);
    assert_eq!(wrapper.callee(), "defineHexclaveConfig");
    assert_eq!(wrapper.package(), "@hexclave/next/config");
}

#[test]
fn define_stack_config_aliases_namespaces_and_type_arguments() {
    let file = read(
        "import { defineStackConfig as define } from '@stackframe/stack';\nexport const config = define({ a: 1 });",
    );
    assert_eq!(file.value(), &json!({"a": 1}));
    let wrapper = file.form().unwrap().wrapper().unwrap();
    assert_eq!(wrapper.function(), WrapperFunction::DefineStackConfig);
    assert_eq!(wrapper.callee(), "define");

    let file = read(
        "import * as hexclave from '@hexclave/js';\nexport const config = (hexclave.defineHexclaveConfig<Whatever>({ a: [1] } as const)) satisfies X;",
    );
    assert_eq!(file.value(), &json!({"a": [1]}));
    assert_eq!(
        file.form().unwrap().wrapper().unwrap().callee(),
        "hexclave.defineHexclaveConfig"
    );
}

#[test]
fn show_onboarding_in_place_of_an_object() {
    for source in [
        "export const config = \"show-onboarding\";",
        "export const config = 'show-onboarding' as const;",
        "export const config = `show-onboarding`;",
        "import { defineHexclaveConfig } from '@hexclave/js';\nexport const config = defineHexclaveConfig(\"show-onboarding\");",
    ] {
        let file = read(source);
        assert!(file.is_show_onboarding(), "{source}");
        assert_eq!(file.value(), &json!("show-onboarding"));
    }
}

#[test]
fn a_local_variable_exported_as_config() {
    // The shape real projects use: a wrapped const, exported by name and as default.
    let source = "import { defineHexclaveConfig } from \"@hexclave/next/config\";\n\n// Kept at the repo root for agents.\nconst config = defineHexclaveConfig({\n  auth: { allowSignUp: true },\n});\n\nexport { config };\nexport default config;\n";
    let file = read(source);
    assert_eq!(file.value(), &json!({"auth": {"allowSignUp": true}}));
    assert!(file.form().unwrap().wrapper().is_some());

    assert_eq!(
        value("const settings = { a: 1 };\nexport { settings as config };"),
        json!({"a": 1})
    );
    assert_eq!(
        value("let c = { a: 1 };\nexport { c as \"config\" };"),
        json!({"a": 1})
    );
}

#[test]
fn blank_files_are_an_empty_config_without_a_form() {
    for source in ["", "   \n\t\n", "// nothing yet\n/* still nothing */\n"] {
        let file = read(source);
        assert_eq!(file.value(), &json!({}), "{source:?}");
        assert_eq!(file.form(), None);
    }
}

#[test]
fn javascript_files() {
    let file = read_at("export const config = { a: [1, 'two'] };\n", JS);
    assert_eq!(file.value(), &json!({"a": [1, "two"]}));
    assert_eq!(file.form().unwrap().language(), Language::JavaScript);
    for path in [
        "/app/stack.config.mjs",
        "/app/stack.config.cjs",
        "/app/c.mts",
        "/app/c.cts",
    ] {
        assert_eq!(
            read_at("export const config = {};", path).value(),
            &json!({})
        );
    }
}

#[test]
fn other_statements_are_ignored_and_kept_on_write_back() {
    let source = "#!/usr/bin/env node\n\"use strict\";\nimport { secret } from \"@hexclave/js\";\n\n// The project.\nexport const config = {\n  // sign-up is open\n  auth: { allowSignUp: true },\n};\n\n// Deployment, read by `hexclave deploy`, not by the emulator.\nexport const deployment = {\n  services: ({ isDev }) => ({ web: { env: { KEY: secret(\"k\") } } }),\n};\nexport type Unused = typeof config;\nexport default config;\n";
    let file = read(source);
    assert_eq!(file.value(), &json!({"auth": {"allowSignUp": true}}));
    let form = file.form().unwrap();
    assert_eq!(form.imports(), ["import { secret } from \"@hexclave/js\";"]);

    let changed = json!({"auth": {"allowSignUp": false}});
    let written = render(&changed, form);
    let expected = source.replace(
        "{\n  // sign-up is open\n  auth: { allowSignUp: true },\n}",
        "{\n  \"auth\": {\n    \"allowSignUp\": false\n  }\n}",
    );
    assert_eq!(written, expected);
    assert_eq!(read(&written).value(), &changed);
}

#[test]
fn a_type_only_export_named_config_is_not_the_config() {
    let file =
        read("type config = {};\nexport type { config };\nexport const config = { real: true };");
    assert_eq!(file.value(), &json!({"real": true}));
}

#[test]
fn two_hundred_keys() {
    let mut source = String::from(
        "import type { HexclaveConfig } from \"@hexclave/js/config\";\n\nexport const config: HexclaveConfig = {\n",
    );
    for index in 0..200 {
        source.push_str(&format!(
            "  key{index}: {{ enabled: {}, name: \"item {index}\", limit: {index}, ratio: {index}.5, tags: [\"a\", \"b\"] }},\n",
            index % 2 == 0
        ));
    }
    source.push_str("};\n");
    let file = read(&source);
    let map = file.value().as_object().unwrap();
    assert_eq!(map.len(), 200);
    assert_eq!(
        map["key137"],
        json!({"enabled": false, "name": "item 137", "limit": 137, "ratio": 137.5, "tags": ["a", "b"]})
    );
}
