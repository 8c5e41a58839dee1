//! Every form [`crate::parse()`] refuses, with its exact message: the file,
//! the 1-based line and column, what was found and what to write instead.

use std::path::{Path, PathBuf};

use crate::{Language, ParseError, parse};

const PATH: &str = "/app/hexclave.config.ts";

/// Parses `source`, expecting [`ParseError::Unsupported`] at `line:column`
/// with exactly this problem and hint, and checks the rendered message.
#[track_caller]
fn refused(source: &str, line: u32, column: u32, problem: &str, hint: &str) {
    let error = match parse(source, Path::new(PATH)) {
        Ok(file) => panic!("accepted:\n{source}\nas {:?}", file.value()),
        Err(error) => error,
    };
    assert_eq!(
        error,
        ParseError::Unsupported {
            path: PathBuf::from(PATH),
            line,
            column,
            problem: problem.to_owned(),
            hint: hint.to_owned(),
        },
        "\n{source}"
    );
    assert_eq!(
        error.to_string(),
        format!("{PATH}:{line}:{column}: {problem}\nhint: {hint}")
    );
}

const CALL_HINT: &str = "write the value the call would return; only `defineHexclaveConfig(...)` or `defineStackConfig(...)` imported from a @hexclave/* or @stackframe/* package is understood, and only around the whole config";
const TOP_LEVEL_HINT: &str =
    "export an object, `export const config = { ... };`, or the string \"show-onboarding\"";
const VALUE_HINT: &str =
    "write the value itself: a string, number, boolean, null, array or object literal";
const KEY_HINT: &str = "write the key as a name or a quoted string, e.g. `\"my-key\": ...`";
const PROPERTY_HINT: &str = "write a plain `key: value` property";

#[test]
fn calls() {
    refused(
        "export const config = makeConfig();",
        1,
        23,
        "`makeConfig()` is a call; the emulator reads the config without running the file",
        CALL_HINT,
    );
    refused(
        "export const config = {\n  auth: load(\"auth\"),\n};",
        2,
        9,
        "`load(\"auth\")` is a call; the emulator reads the config without running the file",
        CALL_HINT,
    );
    refused(
        "export const config = { a: new Date() };",
        1,
        28,
        "`new Date()` is a call; the emulator reads the config without running the file",
        CALL_HINT,
    );
    refused(
        "export const config = { a: tag`x` };",
        1,
        28,
        "`tag`x`` is a call; the emulator reads the config without running the file",
        CALL_HINT,
    );
}

#[test]
fn a_wrapper_inside_the_config_is_a_call() {
    refused(
        "import { defineHexclaveConfig } from '@hexclave/js';\nexport const config = { a: defineHexclaveConfig({}) };",
        2,
        28,
        "`defineHexclaveConfig({})` is a call; the emulator reads the config without running the file",
        CALL_HINT,
    );
}

#[test]
fn wrappers_that_are_not_stack_auths() {
    refused(
        "export const config = defineHexclaveConfig({});",
        1,
        23,
        "`defineHexclaveConfig` is not imported in this file",
        "import it: `import { defineHexclaveConfig } from \"@hexclave/js\";`",
    );
    refused(
        "import { defineStackConfig } from './helpers';\nexport const config = defineStackConfig({});",
        2,
        23,
        "`defineStackConfig` is imported from \"./helpers\", not from a @hexclave/* or @stackframe/* package",
        "import it from the SDK: `import { defineStackConfig } from \"@hexclave/js\";`",
    );
    refused(
        "import type { defineHexclaveConfig } from '@hexclave/js';\nexport const config = defineHexclaveConfig({});",
        2,
        23,
        "`defineHexclaveConfig` is imported with `import type`, so it has no value",
        "import it from the SDK: `import { defineHexclaveConfig } from \"@hexclave/js\";`",
    );
    refused(
        "import * as sdk from 'my-sdk';\nexport const config = sdk.defineHexclaveConfig({});",
        2,
        23,
        "`sdk.defineHexclaveConfig` is imported from \"my-sdk\", not from a @hexclave/* or @stackframe/* package",
        "import it from the SDK: `import { defineHexclaveConfig } from \"@hexclave/js\";`",
    );
    // Another function from the SDK is just a call.
    refused(
        "import { makeConfig } from '@hexclave/js';\nexport const config = makeConfig({});",
        2,
        23,
        "`makeConfig({})` is a call; the emulator reads the config without running the file",
        CALL_HINT,
    );
}

#[test]
fn wrapper_arguments() {
    for (call, column) in [
        ("defineHexclaveConfig({}, {})", 23),
        ("defineHexclaveConfig()", 23),
        ("defineHexclaveConfig(...parts)", 23),
    ] {
        refused(
            &format!(
                "import {{ defineHexclaveConfig }} from '@hexclave/js';\nexport const config = {call};"
            ),
            2,
            column,
            "`defineHexclaveConfig(...)` must be given the config as its only argument",
            "write `defineHexclaveConfig({ ... })`",
        );
    }
}

#[test]
fn variables_and_imports() {
    refused(
        "const base = {};\nexport const config = { a: base };",
        2,
        28,
        "`base` refers to a variable, which is only known by running the file",
        "write the value itself here instead of `base`",
    );
    refused(
        "import welcome from './welcome.tsx' with { type: 'text' };\nexport const config = {\n  emails: { welcome: welcome },\n};",
        3,
        22,
        "`welcome` is imported from \"./welcome.tsx\"; the emulator reads the config without running the file, so imported values are not available",
        "write the value itself here instead of `welcome`",
    );
    refused(
        "export const config = base;",
        1,
        23,
        "`base` refers to a variable, which is only known by running the file",
        "write the value itself here instead of `base`",
    );
    refused(
        "export const config = { auth };",
        1,
        25,
        "the shorthand property `auth` refers to a variable, which is only known by running the file",
        "write the value itself: `auth: ...`",
    );
    refused(
        "export const config = { a: process.env.A };",
        1,
        28,
        "`process.env.A` is computed by running the file, which the emulator does not do",
        VALUE_HINT,
    );
    refused(
        "export const config = { a: import.meta.url };",
        1,
        28,
        "`import.meta.url` is computed by running the file, which the emulator does not do",
        VALUE_HINT,
    );
    refused(
        "export const config = { a: await import('./a') };",
        1,
        28,
        "`await import('./a')` is computed by running the file, which the emulator does not do",
        VALUE_HINT,
    );
}

#[test]
fn spreads() {
    refused(
        "export const config = { ...base, a: 1 };",
        1,
        25,
        "the spread `...base` copies values by running the file",
        "write the properties or elements out in full",
    );
    refused(
        "export const config = { a: [1, ...more] };",
        1,
        32,
        "the spread `...more` copies values by running the file",
        "write the properties or elements out in full",
    );
}

#[test]
fn keys_that_are_not_literal() {
    refused(
        "export const config = { [key]: 1 };",
        1,
        26,
        "the computed key `[key]` is only known by running the file",
        KEY_HINT,
    );
    refused(
        "export const config = { [\"a\"]: 1 };",
        1,
        26,
        "the computed key `[\"a\"]` is only known by running the file",
        KEY_HINT,
    );
    refused(
        "export const config = { __proto__: { a: 1 } };",
        1,
        25,
        "the key `__proto__` sets the object's prototype in JavaScript; it is not a config key",
        "remove this property",
    );
}

#[test]
fn code_in_objects() {
    refused(
        "export const config = { get a() { return 1; } };",
        1,
        25,
        "a getter is code, which the emulator does not run",
        PROPERTY_HINT,
    );
    refused(
        "export const config = { set a(v) {} };",
        1,
        25,
        "a setter is code, which the emulator does not run",
        PROPERTY_HINT,
    );
    refused(
        "export const config = { a() { return 1; } };",
        1,
        25,
        "a method is code, which the emulator does not run",
        PROPERTY_HINT,
    );
    for value in ["() => 1", "function () {}", "class {}"] {
        refused(
            &format!("export const config = {{ a: {value} }};"),
            1,
            28,
            "a function is code, which the emulator does not run",
            "config values are data: strings, numbers, booleans, null, arrays and objects",
        );
    }
}

#[test]
fn values_that_are_not_json() {
    refused(
        "export const config = { a: `id-${id}` };",
        1,
        34,
        "a template string with `${...}` in it is only known by running the file",
        "write a plain string here",
    );
    refused(
        "export const config = { a: [1, , 2] };",
        1,
        32,
        "this array has an empty slot (two commas in a row)",
        "remove the extra comma, or write `null` in the slot",
    );
    refused(
        "export const config = { a: 10n };",
        1,
        28,
        "the BigInt `10n` can't be stored as JSON",
        "write a plain number (without the `n`), or a string",
    );
    refused(
        "export const config = { a: /x+/g };",
        1,
        28,
        "the regular expression `/x+/g` can't be stored as JSON",
        "write it as a string",
    );
    for name in ["NaN", "Infinity"] {
        refused(
            &format!("export const config = {{ a: {name} }};"),
            1,
            28,
            &format!("`{name}` is not a JSON number"),
            "write a finite number, or `null`",
        );
    }
    refused(
        "export const config = { a: -1e999 };",
        1,
        28,
        "the number `-1e999` is too large to be stored",
        "write a smaller number, or the value as a string",
    );
    refused(
        "export const config = { a: \"\\uD800\" };",
        1,
        28,
        "this string holds half of a UTF-16 surrogate pair, which JSON text can't carry",
        "write the whole character, or both halves of the pair",
    );
}

#[test]
fn operators() {
    for (expression, column) in [
        ("!true", 28),
        ("+5", 28),
        ("typeof x", 28),
        ("-x", 28),
        ("void 0", 28),
    ] {
        refused(
            &format!("export const config = {{ a: {expression} }};"),
            1,
            column,
            &format!(
                "`{expression}` is computed by running the file, which the emulator does not do"
            ),
            "write the resulting value itself; only `-` before a number is understood",
        );
    }
    for expression in ["1 + 2", "a ? 1 : 2", "a || {}", "(1, 2)"] {
        let inner = expression.trim_start_matches('(');
        let column = if expression.starts_with('(') { 29 } else { 28 };
        refused(
            &format!("export const config = {{ a: {expression} }};"),
            1,
            column,
            &format!(
                "`{}` is computed by running the file, which the emulator does not do",
                inner.trim_end_matches(')')
            ),
            VALUE_HINT,
        );
    }
}

#[test]
fn a_config_that_is_not_an_object() {
    for (value, kind) in [
        ("[]", "an array"),
        ("1", "a number"),
        ("-1", "a number"),
        ("true", "a boolean"),
        ("null", "null"),
        ("undefined", "undefined"),
    ] {
        refused(
            &format!("export const config = {value};"),
            1,
            23,
            &format!("the config is {kind}, but Stack Auth needs an object"),
            TOP_LEVEL_HINT,
        );
    }
    refused(
        "export const config = 'hello';",
        1,
        23,
        "the config is the string `'hello'`; the only string Stack Auth accepts is \"show-onboarding\"",
        TOP_LEVEL_HINT,
    );
}

#[test]
fn exports_stack_auth_does_not_read() {
    refused(
        "const config = {};\nexport default config;",
        2,
        1,
        "this default export is not read: Stack Auth reads the named export `config`",
        "export the config by name: `export const config = { ... };`",
    );
    refused(
        "export = { a: 1 };",
        1,
        1,
        "this default export is not read: Stack Auth reads the named export `config`",
        "export the config by name: `export const config = { ... };`",
    );
    refused(
        "export { config } from './base.config';",
        1,
        10,
        "`config` is re-exported from \"./base.config\"; the emulator reads only this file",
        "move the config into this file: `export const config = { ... };`",
    );
    refused(
        "export * as config from './base.config';",
        1,
        1,
        "`config` is re-exported from \"./base.config\"; the emulator reads only this file",
        "move the config into this file: `export const config = { ... };`",
    );
    refused(
        "import { shared } from './shared';\nexport { shared as config };",
        2,
        10,
        "`config` is exported from `shared`, which is imported from \"./shared\"; the emulator reads only this file",
        "declare the config here: `export const config = { ... };`",
    );
    refused(
        "function make() { return {}; }\nexport { make as config };",
        2,
        10,
        "`config` is exported from `make`, which is not a variable declared at the top of this file",
        "declare the config here: `export const config = { ... };`",
    );
    refused(
        "export const config = {};\nexport { config as config };",
        2,
        10,
        "`config` is exported a second time here",
        "keep a single `config` export",
    );
}

#[test]
fn a_config_without_a_value() {
    refused(
        "export let config;",
        1,
        12,
        "`config` is declared without a value",
        "give it one: `export const config = { ... };`",
    );
    refused(
        "export declare const config: HexclaveConfig;",
        1,
        22,
        "`config` is declared without a value",
        "give it one: `export const config = { ... };`",
    );
}

#[test]
fn changing_the_config_after_declaring_it() {
    for (statement, column) in [
        ("config.auth = { allowSignUp: true };", 1),
        ("config[\"auth\"].x++;", 1),
        ("config.list.push(1);", 1),
        ("Object.assign(config, { a: 1 });", 1),
        ("delete config.auth;", 1),
        ("config?.list.push(1);", 1),
        ("(0, config.list).push(1);", 1),
    ] {
        let snippet = statement;
        refused(
            &format!("export const config = {{ auth: {{}}, list: [] }};\n{statement}"),
            2,
            column,
            &format!(
                "`{snippet}` changes the config after it is declared; the emulator reads the declaration without running the file"
            ),
            "put the change into the config literal itself",
        );
    }
    refused(
        "const base = {};\nexport { base as config };\nbase.a = 1;",
        3,
        1,
        "`base.a = 1;` changes the config after it is declared; the emulator reads the declaration without running the file",
        "put the change into the config literal itself",
    );
}

#[test]
fn no_config_export() {
    for source in [
        "export const settings = {};",
        "\"use strict\";",
        "export type config = {};",
    ] {
        let error = parse(source, Path::new(PATH)).unwrap_err();
        assert_eq!(
            error,
            ParseError::NoConfig {
                path: PathBuf::from(PATH)
            }
        );
        assert_eq!(
            error.to_string(),
            "/app/hexclave.config.ts: the file has no `config` export\nhint: Stack Auth reads the named export `config`: write `export const config = { ... };` (or `export const config = \"show-onboarding\";`)"
        );
    }
}

#[test]
fn syntax_errors_name_the_place_and_keep_oxcs_message() {
    let error = parse("export const config = {\n  a: 1,\n", Path::new(PATH)).unwrap_err();
    assert_eq!(
        error,
        ParseError::Syntax {
            path: PathBuf::from(PATH),
            line: 3,
            column: 1,
            message: "Expected `}` but found `EOF`".to_owned(),
            language: Language::TypeScript,
        }
    );
    assert_eq!(
        error.to_string(),
        "/app/hexclave.config.ts:3:1: syntax error: Expected `}` but found `EOF`\nhint: fix the syntax; the file is read as TypeScript because of its extension"
    );

    // Type annotations are TypeScript: a .js file with one doesn't parse.
    let error = parse(
        "export const config: HexclaveConfig = {};",
        Path::new("/app/hexclave.config.js"),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("/app/hexclave.config.js:1:14: syntax error: "),
        "{message}"
    );
    assert!(
        message.ends_with(
            "\nhint: fix the syntax; the file is read as JavaScript because of its extension"
        ),
        "{message}"
    );
}

#[test]
fn other_extensions() {
    for path in [
        "/app/hexclave.config.json",
        "/app/hexclave.config.tsx",
        "/app/config",
    ] {
        let error = parse("export const config = {};", Path::new(path)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{path}: a config file must be a .ts or .js file (or .mts, .cts, .mjs, .cjs)\nhint: rename it to hexclave.config.ts"
            )
        );
    }
}
