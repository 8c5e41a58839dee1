//! Reading a config file's text into its config and the form it is
//! written in.
//!
//! Stack Auth runs the file and takes the named export `config`
//! (`evalConfigFileContent` in `config-eval.ts` of `@hexclave/shared`): an
//! object, or the string `"show-onboarding"`; a blank file is `{}`. Here the
//! file is parsed instead, the export found in
//! the syntax tree ([`crate::export`]), the layers around its value stripped
//! (parentheses, `as const`, `satisfies T`, and one `defineHexclaveConfig`
//! or `defineStackConfig` call, see [`crate::imports`]) and the literal read
//! ([`crate::evaluate`]). A file holding only whitespace and comments is `{}`.

use std::path::{Path, PathBuf};

use oxc_allocator::Allocator;
use oxc_ast::ast::{Argument, Expression, Program, UnaryOperator};
use oxc_parser::Parser;
use oxc_span::{GetSpan, Span};
use serde_json::{Map, Value};

use crate::evaluate;
use crate::export::{check_not_changed, find_config};
use crate::form::{Form, Language, Wrapper};
use crate::imports::{Imports, collect_imports, wrapper_of};
use crate::location::Location;

/// The string Stack Auth accepts in place of a config object: the project
/// shows its onboarding instead of a config.
pub const SHOW_ONBOARDING: &str = "show-onboarding";

/// The most characters of source quoted in an error message.
const SNIPPET_CHARS: usize = 60;

/// A config file as read: its config and how it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFile {
    value: Value,
    form: Option<Form>,
}

impl ConfigFile {
    /// The config: a JSON object, or the string [`SHOW_ONBOARDING`].
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The config, taken out.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// Whether the file says `"show-onboarding"` instead of a config.
    pub fn is_show_onboarding(&self) -> bool {
        self.value.as_str() == Some(SHOW_ONBOARDING)
    }

    /// How the file is written, for [`crate::render`]; `None` for a blank
    /// file, which has no form to keep: use [`Form::for_new_file`] then.
    pub fn form(&self) -> Option<&Form> {
        self.form.as_ref()
    }
}

/// Why a config file's text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The file's extension says neither TypeScript nor JavaScript.
    #[error(
        "{}: a config file must be a .ts or .js file (or .mts, .cts, .mjs, .cjs)\nhint: rename it to hexclave.config.ts",
        path.display()
    )]
    UnsupportedExtension {
        /// The file.
        path: PathBuf,
    },
    /// The text doesn't parse.
    #[error("{}:{line}:{column}: syntax error: {message}\nhint: fix the syntax; the file is read as {language} because of its extension", path.display(), language = language.name())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: u32,
        /// 1-based column (in characters) of the error.
        column: u32,
        /// The parser's message.
        message: String,
        /// What the file was parsed as.
        language: Language,
    },
    /// The file parses, but has no `config` export.
    #[error(
        "{}: the file has no `config` export\nhint: Stack Auth reads the named export `config`: write `export const config = {{ ... }};` (or `export const config = \"show-onboarding\";`)",
        path.display()
    )]
    NoConfig {
        /// The file.
        path: PathBuf,
    },
    /// Something the emulator can't read without running the file, or that
    /// Stack Auth would not accept.
    #[error("{}:{line}:{column}: {problem}\nhint: {hint}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// 1-based line of the construct.
        line: u32,
        /// 1-based column (in characters) of the construct.
        column: u32,
        /// What was found and why it can't be read.
        problem: String,
        /// What to write instead.
        hint: String,
    },
}

/// Reads a config file's text; `path` decides the language (by extension)
/// and names the file in errors. No file system access.
///
/// Cost, measured in a release build on this project's 2-core AMD EPYC
/// machines: a 200-key, 18 KB config (each key an object of five fields)
/// takes about 0.4 ms on average, 2.8 ms at worst over 1000 runs; oxc's
/// parse is about 0.12 ms of that.
///
/// # Errors
///
/// [`ParseError::UnsupportedExtension`] for a file that is neither
/// TypeScript nor JavaScript, [`ParseError::Syntax`] when it doesn't parse,
/// [`ParseError::NoConfig`] when it has no `config` export, and
/// [`ParseError::Unsupported`] for a config that isn't a literal (see the
/// module docs for what is accepted) or isn't an object or
/// `"show-onboarding"`.
pub fn parse(source: &str, path: &Path) -> Result<ConfigFile, ParseError> {
    let language = Language::from_path(path).ok_or_else(|| ParseError::UnsupportedExtension {
        path: path.to_owned(),
    })?;
    let context = Context { source, path };
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, language.source_type()).parse();
    let first_error = parsed.diagnostics.errors().next();
    // A parser that gave up always says why; the fallback keeps an empty
    // program from an aborted parse from passing for a blank file.
    if first_error.is_some() || parsed.panicked {
        let offset = first_error
            .and_then(|error| error.labels.first())
            .map_or(0, |label| label.offset());
        let location = Location::of(source, offset);
        return Err(ParseError::Syntax {
            path: path.to_owned(),
            line: location.line,
            column: location.column,
            message: first_error.map_or_else(
                || "the parser stopped".to_owned(),
                |error| error.message.to_string(),
            ),
            language,
        });
    }
    let program = &parsed.program;
    if program.body.is_empty() && program.directives.is_empty() {
        return Ok(ConfigFile {
            value: Value::Object(Map::new()),
            form: None,
        });
    }
    read_program(&context, language, program)
}

/// The file being read, for positions and snippets in errors.
pub(crate) struct Context<'s> {
    source: &'s str,
    path: &'s Path,
}

impl Context<'_> {
    /// A [`ParseError::Unsupported`] at the start of `span`.
    pub(crate) fn error(&self, span: Span, problem: String, hint: String) -> ParseError {
        let location = Location::of(self.source, span.start);
        ParseError::Unsupported {
            path: self.path.to_owned(),
            line: location.line,
            column: location.column,
            problem,
            hint,
        }
    }

    /// The source text of `span`, on one line and shortened for a message.
    pub(crate) fn snippet(&self, span: Span) -> String {
        let text = self.text(span);
        let mut words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if words.chars().count() > SNIPPET_CHARS {
            words = words.chars().take(SNIPPET_CHARS - 1).collect::<String>() + "…";
        }
        words
    }

    /// A [`ParseError::NoConfig`] for this file.
    pub(crate) fn no_config(&self) -> ParseError {
        ParseError::NoConfig {
            path: self.path.to_owned(),
        }
    }

    /// The source text of `span`, verbatim.
    pub(crate) fn text(&self, span: Span) -> &str {
        let start = usize::try_from(span.start).unwrap_or(usize::MAX);
        let end = usize::try_from(span.end).unwrap_or(usize::MAX);
        self.source.get(start..end).unwrap_or_default()
    }

    fn before(&self, offset: u32) -> &str {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        self.source.get(..offset).unwrap_or(self.source)
    }

    fn after(&self, offset: u32) -> &str {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        self.source.get(offset..).unwrap_or_default()
    }
}

fn read_program(
    context: &Context<'_>,
    language: Language,
    program: &Program<'_>,
) -> Result<ConfigFile, ParseError> {
    let (imports, import_texts) = collect_imports(context, program);
    let declaration = find_config(context, &imports, program)?;
    check_not_changed(context, program, &declaration.local)?;
    let Some(init) = &declaration.declarator.init else {
        return Err(context.error(
            declaration.declarator.span,
            "`config` is declared without a value".to_owned(),
            "give it one: `export const config = { ... };`".to_owned(),
        ));
    };
    let (core, wrapper) = unwrap_config(context, &imports, init)?;
    let value = top_level_value(context, &imports, core)?;
    let annotation = declaration
        .declarator
        .type_annotation
        .as_ref()
        .map(|annotation| context.text(annotation.type_annotation.span()).to_owned());
    let form = Form::parsed(
        language,
        context.before(core.span().start).to_owned(),
        context.after(core.span().end).to_owned(),
        import_texts,
        annotation,
        wrapper,
    );
    Ok(ConfigFile {
        value,
        form: Some(form),
    })
}

/// Strips the layers around the config's value (parentheses, TypeScript
/// wrappers, one `defineHexclaveConfig(...)`) down to the literal itself.
fn unwrap_config<'e, 'a>(
    context: &Context<'_>,
    imports: &Imports,
    init: &'e Expression<'a>,
) -> Result<(&'e Expression<'a>, Option<Wrapper>), ParseError> {
    let outer = evaluate::strip_type_layers(init);
    let Expression::CallExpression(call) = outer else {
        return Ok((outer, None));
    };
    let Some(wrapper) = wrapper_of(context, imports, &call.callee)? else {
        return Ok((outer, None));
    };
    let argument = match call.arguments.as_slice() {
        [Argument::SpreadElement(_)] | [] | [_, _, ..] => {
            return Err(context.error(
                call.span,
                format!(
                    "`{}(...)` must be given the config as its only argument",
                    wrapper.callee()
                ),
                format!("write `{}({{ ... }})`", wrapper.callee()),
            ));
        }
        [argument] => argument.as_expression(),
    };
    match argument {
        Some(argument) => Ok((evaluate::strip_type_layers(argument), Some(wrapper))),
        None => Err(evaluate::refusal(context, imports, outer)),
    }
}

/// The config's value: an object, or the string `"show-onboarding"`.
fn top_level_value(
    context: &Context<'_>,
    imports: &Imports,
    core: &Expression<'_>,
) -> Result<Value, ParseError> {
    let kind = match core {
        Expression::ObjectExpression(object) => {
            return evaluate::object(context, imports, object).map(Value::Object);
        }
        Expression::StringLiteral(_) | Expression::TemplateLiteral(_) => {
            let text = evaluate::value(context, imports, core)?;
            return match text {
                Some(Value::String(text)) if text == SHOW_ONBOARDING => Ok(Value::String(text)),
                _ => Err(context.error(
                    core.span(),
                    format!(
                        "the config is the string `{}`; the only string Stack Auth accepts is \"{SHOW_ONBOARDING}\"",
                        context.snippet(core.span())
                    ),
                    TOP_LEVEL_HINT.to_owned(),
                )),
            };
        }
        Expression::ArrayExpression(_) => "an array",
        Expression::NumericLiteral(_) => "a number",
        Expression::UnaryExpression(unary)
            if unary.operator == UnaryOperator::UnaryNegation
                && matches!(
                    evaluate::strip_type_layers(&unary.argument),
                    Expression::NumericLiteral(_)
                ) =>
        {
            "a number"
        }
        Expression::BooleanLiteral(_) => "a boolean",
        Expression::NullLiteral(_) => "null",
        Expression::Identifier(identifier) if identifier.name == "undefined" => "undefined",
        other => return Err(evaluate::refusal(context, imports, other)),
    };
    Err(context.error(
        core.span(),
        format!("the config is {kind}, but Stack Auth needs an object"),
        TOP_LEVEL_HINT.to_owned(),
    ))
}

const TOP_LEVEL_HINT: &str =
    "export an object, `export const config = { ... };`, or the string \"show-onboarding\"";
