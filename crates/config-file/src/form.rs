//! The form a config file is written in, and writing a config back in it.
//!
//! A [`Form`] keeps the file's text around the config literal verbatim: the
//! imports, the `export const config: Type =` line, a `defineHexclaveConfig(`
//! wrapper, `as const` or `satisfies`, comments and any other statements.
//! [`render`] puts a new config literal between the two halves, so write-back
//! changes nothing but the config itself. For a new (or blank) file,
//! [`Form::stack_auth`] gives the form Stack Auth renders
//! (`renderConfigFileContent` in `config-rendering.ts` of `@hexclave/shared`):
//!
//! ```text
//! import type { HexclaveConfig } from "@hexclave/js/config";
//!
//! export const config: HexclaveConfig = { ... };
//! ```

use std::path::Path;

use oxc_span::SourceType;
use serde_json::Value;

use crate::json;
use crate::package::package_for;

/// The language a config file is parsed as, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `.ts`, `.mts`, `.cts`.
    TypeScript,
    /// `.js`, `.mjs`, `.cjs`.
    JavaScript,
}

impl Language {
    /// The language for `path`'s extension (compared without regard to
    /// case), or `None` for any other extension.
    ///
    /// Stack Auth discovers `.ts` and `.js` files and its emulator accepts
    /// paths ending in `.ts`, `.js`, `.mjs` or `.cjs` (`resolveConfigFilePath`
    /// in `@hexclave/shared-backend`); `.mts` and `.cts` are taken as
    /// TypeScript for symmetry. All are read as ES modules, as jiti does.
    pub fn from_path(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "ts" | "mts" | "cts" => Some(Self::TypeScript),
            "js" | "mjs" | "cjs" => Some(Self::JavaScript),
            _ => None,
        }
    }

    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::TypeScript => "TypeScript",
            Self::JavaScript => "JavaScript",
        }
    }

    pub(crate) fn source_type(self) -> SourceType {
        match self {
            Self::TypeScript => SourceType::ts().with_module(true),
            Self::JavaScript => SourceType::mjs(),
        }
    }
}

/// The identity functions Stack Auth exports for typing a config
/// (`config-authoring.ts` in `@hexclave/shared`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrapperFunction {
    /// `defineHexclaveConfig`, the current name.
    DefineHexclaveConfig,
    /// `defineStackConfig`, the deprecated name kept for older files.
    DefineStackConfig,
}

impl WrapperFunction {
    /// The function's exported name.
    pub fn name(self) -> &'static str {
        match self {
            Self::DefineHexclaveConfig => "defineHexclaveConfig",
            Self::DefineStackConfig => "defineStackConfig",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "defineHexclaveConfig" => Some(Self::DefineHexclaveConfig),
            "defineStackConfig" => Some(Self::DefineStackConfig),
            _ => None,
        }
    }
}

/// A `defineHexclaveConfig(...)` (or `defineStackConfig(...)`) call around
/// the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapper {
    function: WrapperFunction,
    callee: String,
    package: String,
}

impl Wrapper {
    pub(crate) fn new(function: WrapperFunction, callee: String, package: String) -> Self {
        Self {
            function,
            callee,
            package,
        }
    }

    /// Which of Stack Auth's functions is called.
    pub fn function(&self) -> WrapperFunction {
        self.function
    }

    /// The callee as written: the function's name, a local alias of it, or
    /// `namespace.defineHexclaveConfig`.
    pub fn callee(&self) -> &str {
        &self.callee
    }

    /// The module it is imported from, e.g. `@hexclave/next/config`.
    pub fn package(&self) -> &str {
        &self.package
    }
}

/// How a config file is written around its config literal: what
/// [`render`] needs to write a new config back the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    language: Language,
    /// The file's text up to the config literal.
    prefix: String,
    /// The file's text after the config literal.
    suffix: String,
    imports: Vec<String>,
    annotation: Option<String>,
    wrapper: Option<Wrapper>,
}

impl Form {
    /// Stack Auth's rendered form, importing the config type from `package`
    /// (see [`crate::package_for`]). `@hexclave/*` packages are imported
    /// through their `/config` entry point and `@stackframe/*` ones from
    /// their root, as Stack Auth does. JavaScript files get the export alone:
    /// type imports and annotations are TypeScript-only.
    pub fn stack_auth(package: &str, language: Language) -> Self {
        match language {
            Language::TypeScript => {
                let specifier = if package.starts_with("@hexclave/") {
                    format!("{package}/config")
                } else {
                    package.to_owned()
                };
                let import = format!(
                    "import type {{ HexclaveConfig }} from {};",
                    json::pretty(&Value::String(specifier))
                );
                Self {
                    language,
                    prefix: format!("{import}\n\nexport const config: HexclaveConfig = "),
                    suffix: ";\n".to_owned(),
                    imports: vec![import],
                    annotation: Some("HexclaveConfig".to_owned()),
                    wrapper: None,
                }
            }
            Language::JavaScript => Self {
                language,
                prefix: "export const config = ".to_owned(),
                suffix: ";\n".to_owned(),
                imports: Vec::new(),
                annotation: None,
                wrapper: None,
            },
        }
    }

    /// The form for a file that doesn't exist yet (or is blank) at `path`:
    /// [`Form::stack_auth`] with the package from [`crate::package_for`] and
    /// the language from the extension (TypeScript when it says nothing).
    /// Reads at most one `package.json`.
    pub fn for_new_file(path: &Path) -> Self {
        let language = Language::from_path(path).unwrap_or(Language::TypeScript);
        Self::stack_auth(package_for(path), language)
    }

    pub(crate) fn parsed(
        language: Language,
        prefix: String,
        suffix: String,
        imports: Vec<String>,
        annotation: Option<String>,
        wrapper: Option<Wrapper>,
    ) -> Self {
        Self {
            language,
            prefix,
            suffix,
            imports,
            annotation,
            wrapper,
        }
    }

    /// The language the file is written in.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The file's import declarations, verbatim, in order.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// The type annotation on the config variable, verbatim without its
    /// colon (e.g. `HexclaveConfig`), if there is one.
    pub fn annotation(&self) -> Option<&str> {
        self.annotation.as_deref()
    }

    /// The `defineHexclaveConfig(...)`-style wrapper, if there is one.
    pub fn wrapper(&self) -> Option<&Wrapper> {
        self.wrapper.as_ref()
    }
}

/// The text of a config file holding `config`, written in `form`.
///
/// The config is written as `JSON.stringify(config, null, 2)` does, which is
/// how Stack Auth renders it. Objects' keys come out in the map's order: the
/// order [`crate::parse()`] read them in when serde_json's `preserve_order`
/// feature is on (as in this workspace), sorted when it is off. `config` should be an object or the string `"show-onboarding"`:
/// anything else is written too, but [`crate::parse()`] will refuse it. A key
/// named `__proto__` can't be written back (JavaScript reads it as the
/// object's prototype), and integers beyond ±2^53 come back rounded, as they
/// would in JavaScript. Dotted keys are written as given, not normalised.
///
/// ```
/// use stack_config_file::{Form, Language, render};
///
/// let form = Form::stack_auth("@hexclave/next", Language::TypeScript);
/// let text = render(&serde_json::json!({"auth": {"allowSignUp": true}}), &form);
/// assert_eq!(
///     text,
///     "import type { HexclaveConfig } from \"@hexclave/next/config\";\n\
///      \n\
///      export const config: HexclaveConfig = {\n  \"auth\": {\n    \"allowSignUp\": true\n  }\n};\n"
/// );
/// ```
pub fn render(config: &Value, form: &Form) -> String {
    let literal = json::pretty(config);
    let mut out = String::with_capacity(form.prefix.len() + literal.len() + form.suffix.len());
    out.push_str(&form.prefix);
    out.push_str(&literal);
    out.push_str(&form.suffix);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stack_auth_form_matches_stack_auths_renderer() {
        let text = render(
            &json!({"payments": {"items": {"todos": {"displayName": "Todo Slots"}}}}),
            &Form::stack_auth("@hexclave/js", Language::TypeScript),
        );
        assert_eq!(
            text,
            "import type { HexclaveConfig } from \"@hexclave/js/config\";\n\nexport const config: HexclaveConfig = {\n  \"payments\": {\n    \"items\": {\n      \"todos\": {\n        \"displayName\": \"Todo Slots\"\n      }\n    }\n  }\n};\n"
        );
    }

    #[test]
    fn legacy_packages_are_imported_from_their_root() {
        let form = Form::stack_auth("@stackframe/stack", Language::TypeScript);
        assert_eq!(
            form.imports(),
            ["import type { HexclaveConfig } from \"@stackframe/stack\";"]
        );
        assert_eq!(form.annotation(), Some("HexclaveConfig"));
        assert_eq!(form.wrapper(), None);
    }

    #[test]
    fn javascript_form_has_no_types() {
        let text = render(
            &json!({}),
            &Form::stack_auth("@hexclave/js", Language::JavaScript),
        );
        assert_eq!(text, "export const config = {};\n");
    }

    #[test]
    fn language_comes_from_the_extension() {
        assert_eq!(
            Language::from_path(Path::new("a/x.ts")),
            Some(Language::TypeScript)
        );
        assert_eq!(
            Language::from_path(Path::new("x.MTS")),
            Some(Language::TypeScript)
        );
        assert_eq!(
            Language::from_path(Path::new("x.cjs")),
            Some(Language::JavaScript)
        );
        assert_eq!(
            Language::from_path(Path::new("x.js")),
            Some(Language::JavaScript)
        );
        assert_eq!(Language::from_path(Path::new("x.json")), None);
        assert_eq!(Language::from_path(Path::new("x.tsx")), None);
        assert_eq!(Language::from_path(Path::new("config")), None);
    }
}
