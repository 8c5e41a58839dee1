//! Turning a config literal's syntax tree into JSON, and refusing what would
//! need the file to be run.
//!
//! The accepted forms follow Stack Auth's own static reader
//! (`parseHexclaveConfigFileContent` in `hexclave-config-file.ts` of
//! `@hexclave/shared`): string, number, boolean and `null` literals,
//! `-` before a number, arrays without holes or spreads, objects whose keys
//! are names, strings or numbers, `undefined`, and the TypeScript wrappers
//! `as`, `satisfies`, `<T>x` and `x!` at any depth. On top of that: parentheses
//! and template strings without `${}`. `undefined` becomes what
//! `JSON.stringify` makes of it, since the config crosses to the server as
//! JSON: an object property holding it is left out and an array element
//! becomes `null`. Objects follow JavaScript's rules for repeated keys and
//! key order (see [`js_object`]).
//!
//! Numbers are kept as integers when they are whole and within ±2^53 (the
//! integers a JavaScript number holds exactly), and as floats otherwise.

use std::collections::{HashMap, HashSet};

use oxc_ast::ast::{
    ArrayExpression, ArrayExpressionElement, Expression, ObjectExpression, ObjectPropertyKind,
    PropertyKey, PropertyKind, TemplateLiteral, UnaryOperator,
};
use oxc_span::{GetSpan, Span};
use serde_json::{Map, Number, Value};

use crate::imports::Imports;
use crate::json::js_number_to_string;
use crate::parse::{Context, ParseError};

/// The largest integer a JavaScript number (an f64) holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// What a config value expression evaluates to, where `None` is `undefined`.
pub(crate) fn value(
    context: &Context<'_>,
    imports: &Imports,
    expression: &Expression<'_>,
) -> Result<Option<Value>, ParseError> {
    let expression = strip_type_layers(expression);
    match expression {
        Expression::StringLiteral(literal) => {
            if literal.lone_surrogates {
                return Err(lone_surrogate(context, literal.span));
            }
            Ok(Some(Value::String(literal.value.as_str().to_owned())))
        }
        Expression::TemplateLiteral(template) => template_string(context, template).map(Some),
        Expression::NumericLiteral(literal) => {
            number(context, literal.span, literal.value).map(Some)
        }
        Expression::BooleanLiteral(literal) => Ok(Some(Value::Bool(literal.value))),
        Expression::NullLiteral(_) => Ok(Some(Value::Null)),
        Expression::UnaryExpression(unary) => {
            let argument = strip_parentheses(&unary.argument);
            match (unary.operator, argument) {
                (UnaryOperator::UnaryNegation, Expression::NumericLiteral(literal)) => {
                    number(context, unary.span, -literal.value).map(Some)
                }
                _ => Err(unsupported(context, expression)),
            }
        }
        Expression::Identifier(identifier) if identifier.name == "undefined" => Ok(None),
        Expression::ArrayExpression(array) => self::array(context, imports, array).map(Some),
        Expression::ObjectExpression(object) => {
            self::object(context, imports, object).map(|map| Some(Value::Object(map)))
        }
        other => Err(refusal(context, imports, other)),
    }
}

/// `expression` without parentheses and TypeScript-only wrappers around it
/// (`as`, `as const`, `satisfies`, `<T>x`, `x!`), which don't change its value.
pub(crate) fn strip_type_layers<'e, 'a>(mut expression: &'e Expression<'a>) -> &'e Expression<'a> {
    loop {
        expression = match expression {
            Expression::ParenthesizedExpression(inner) => &inner.expression,
            Expression::TSAsExpression(inner) => &inner.expression,
            Expression::TSSatisfiesExpression(inner) => &inner.expression,
            Expression::TSTypeAssertion(inner) => &inner.expression,
            Expression::TSNonNullExpression(inner) => &inner.expression,
            other => return other,
        };
    }
}

fn strip_parentheses<'e, 'a>(mut expression: &'e Expression<'a>) -> &'e Expression<'a> {
    while let Expression::ParenthesizedExpression(inner) = expression {
        expression = &inner.expression;
    }
    expression
}

/// The string value of a template without `${}` substitutions.
pub(crate) fn template_string(
    context: &Context<'_>,
    template: &TemplateLiteral<'_>,
) -> Result<Value, ParseError> {
    if let Some(substitution) = template.expressions.first() {
        return Err(context.error(
            substitution.span(),
            "a template string with `${...}` in it is only known by running the file".to_owned(),
            "write a plain string here".to_owned(),
        ));
    }
    let mut text = String::new();
    for element in &template.quasis {
        if element.lone_surrogates {
            return Err(lone_surrogate(context, template.span));
        }
        let Some(cooked) = &element.value.cooked else {
            return Err(context.error(
                element.span,
                "this template string has an invalid escape sequence".to_owned(),
                "fix the escape, or write a plain string".to_owned(),
            ));
        };
        text.push_str(cooked.as_str());
    }
    Ok(Value::String(text))
}

fn number(context: &Context<'_>, span: Span, value: f64) -> Result<Value, ParseError> {
    if !value.is_finite() {
        return Err(context.error(
            span,
            format!(
                "the number `{}` is too large to be stored",
                context.snippet(span)
            ),
            "write a smaller number, or the value as a string".to_owned(),
        ));
    }
    Ok(json_number(value))
}

/// A finite JavaScript number as JSON: an integer when whole and exact,
/// otherwise a float. `-0` becomes `0`, as `JSON.stringify` writes it.
pub(crate) fn json_number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() <= MAX_SAFE_INTEGER {
        // Whole and within ±2^53, so the cast is exact.
        return Value::from(value as i64);
    }
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn array(
    context: &Context<'_>,
    imports: &Imports,
    array: &ArrayExpression<'_>,
) -> Result<Value, ParseError> {
    let mut items = Vec::with_capacity(array.elements.len());
    for element in &array.elements {
        match element {
            ArrayExpressionElement::SpreadElement(spread) => {
                return Err(spread_error(context, spread.span));
            }
            ArrayExpressionElement::Elision(hole) => {
                return Err(context.error(
                    hole.span,
                    "this array has an empty slot (two commas in a row)".to_owned(),
                    "remove the extra comma, or write `null` in the slot".to_owned(),
                ));
            }
            other => {
                let Some(expression) = other.as_expression() else {
                    return Err(context.error(
                        other.span(),
                        "this array element is not a value".to_owned(),
                        GENERIC_HINT.to_owned(),
                    ));
                };
                items.push(value(context, imports, expression)?.unwrap_or(Value::Null));
            }
        }
    }
    Ok(Value::Array(items))
}

pub(crate) fn object(
    context: &Context<'_>,
    imports: &Imports,
    object: &ObjectExpression<'_>,
) -> Result<Map<String, Value>, ParseError> {
    let mut keys = Vec::with_capacity(object.properties.len());
    let mut values = Vec::with_capacity(object.properties.len());
    for property in &object.properties {
        let property = match property {
            ObjectPropertyKind::ObjectProperty(property) => property,
            ObjectPropertyKind::SpreadProperty(spread) => {
                return Err(spread_error(context, spread.span));
            }
        };
        if property.kind != PropertyKind::Init || property.method {
            let what = match property.kind {
                PropertyKind::Get => "a getter",
                PropertyKind::Set => "a setter",
                PropertyKind::Init => "a method",
            };
            return Err(context.error(
                property.span,
                format!("{what} is code, which the emulator does not run"),
                "write a plain `key: value` property".to_owned(),
            ));
        }
        if property.computed {
            return Err(context.error(
                property.key.span(),
                format!(
                    "the computed key `[{}]` is only known by running the file",
                    context.snippet(property.key.span())
                ),
                "write the key as a name or a quoted string, e.g. `\"my-key\": ...`".to_owned(),
            ));
        }
        let key = self::key(context, &property.key)?;
        if key == "__proto__" && !property.shorthand {
            return Err(context.error(
                property.key.span(),
                "the key `__proto__` sets the object's prototype in JavaScript; it is not a config key".to_owned(),
                "remove this property".to_owned(),
            ));
        }
        if property.shorthand {
            return Err(context.error(
                property.span,
                format!("the shorthand property `{key}` refers to a variable, which is only known by running the file"),
                format!("write the value itself: `{key}: ...`"),
            ));
        }
        values.push(value(context, imports, &property.value)?);
        keys.push(key);
    }
    Ok(js_object(keys, values))
}

/// The object JavaScript builds from these properties, as `JSON.stringify`
/// sees it: a repeated key keeps its first place and its last value, a key
/// whose value is `undefined` is left out, and array-index keys (`"0"`,
/// `"17"`) come first in numeric order, the rest in the order written
/// (ECMA-262 OrdinaryOwnPropertyKeys). The order only shows when serde_json's
/// `preserve_order` feature is on; otherwise the map sorts its keys.
pub(crate) fn js_object(keys: Vec<String>, mut values: Vec<Option<Value>>) -> Map<String, Value> {
    let mut last = HashMap::with_capacity(keys.len());
    for (index, key) in keys.iter().enumerate() {
        last.insert(key.as_str(), index);
    }
    let mut seen = HashSet::with_capacity(keys.len());
    let mut order: Vec<usize> = (0..keys.len())
        .filter(|&index| seen.insert(keys[index].as_str()))
        .collect();
    // Stable: keys that are not array indices keep the order written.
    order.sort_by_key(|&index| array_index(&keys[index]).map_or((1, 0), |number| (0, number)));
    let mut map = Map::new();
    for index in order {
        let key = &keys[index];
        let item = last
            .get(key.as_str())
            .and_then(|&at| values.get_mut(at))
            .and_then(Option::take);
        if let Some(item) = item {
            map.insert(key.clone(), item);
        }
    }
    map
}

/// The number an array-index key stands for: a canonical decimal integer
/// below 2^32 - 1 (`"0"`, `"42"`, not `"042"` or `"-1"`).
fn array_index(key: &str) -> Option<u32> {
    let canonical = key == "0" || (!key.starts_with('0') && !key.is_empty());
    if !canonical || !key.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    key.parse::<u32>().ok().filter(|&number| number != u32::MAX)
}

fn key(context: &Context<'_>, key: &PropertyKey<'_>) -> Result<String, ParseError> {
    match key {
        PropertyKey::StaticIdentifier(name) => Ok(name.name.as_str().to_owned()),
        PropertyKey::StringLiteral(literal) => {
            if literal.lone_surrogates {
                return Err(lone_surrogate(context, literal.span));
            }
            Ok(literal.value.as_str().to_owned())
        }
        PropertyKey::NumericLiteral(literal) => Ok(js_number_to_string(literal.value)),
        PropertyKey::TemplateLiteral(template) => match template_string(context, template)? {
            Value::String(text) => Ok(text),
            _ => Err(context.error(
                template.span,
                "unsupported key".to_owned(),
                KEY_HINT.to_owned(),
            )),
        },
        other => Err(context.error(
            other.span(),
            format!(
                "the key `{}` is not a name, a string or a number",
                context.snippet(other.span())
            ),
            KEY_HINT.to_owned(),
        )),
    }
}

const KEY_HINT: &str = "write the key as a name or a quoted string, e.g. `\"my-key\": ...`";

const GENERIC_HINT: &str =
    "write the value itself: a string, number, boolean, null, array or object literal";

fn spread_error(context: &Context<'_>, span: Span) -> ParseError {
    context.error(
        span,
        format!(
            "the spread `{}` copies values by running the file",
            context.snippet(span)
        ),
        "write the properties or elements out in full".to_owned(),
    )
}

fn lone_surrogate(context: &Context<'_>, span: Span) -> ParseError {
    context.error(
        span,
        "this string holds half of a UTF-16 surrogate pair, which JSON text can't carry".to_owned(),
        "write the whole character, or both halves of the pair".to_owned(),
    )
}

/// The error for an expression that is not a literal value, with a hint
/// for its kind.
pub(crate) fn refusal(
    context: &Context<'_>,
    imports: &Imports,
    expression: &Expression<'_>,
) -> ParseError {
    let span = expression.span();
    let snippet = context.snippet(span);
    match expression {
        Expression::Identifier(identifier) => {
            let name = identifier.name.as_str();
            if name == "NaN" || name == "Infinity" {
                return context.error(
                    span,
                    format!("`{name}` is not a JSON number"),
                    "write a finite number, or `null`".to_owned(),
                );
            }
            match imports.get(name) {
                Some(import) => context.error(
                    span,
                    format!(
                        "`{name}` is imported from \"{}\"; the emulator reads the config without running the file, so imported values are not available",
                        import.source
                    ),
                    format!("write the value itself here instead of `{name}`"),
                ),
                None => context.error(
                    span,
                    format!("`{name}` refers to a variable, which is only known by running the file"),
                    format!("write the value itself here instead of `{name}`"),
                ),
            }
        }
        Expression::CallExpression(_) | Expression::NewExpression(_) | Expression::TaggedTemplateExpression(_) => context.error(
            span,
            format!("`{snippet}` is a call; the emulator reads the config without running the file"),
            "write the value the call would return; only `defineHexclaveConfig(...)` or `defineStackConfig(...)` imported from a @hexclave/* or @stackframe/* package is understood, and only around the whole config".to_owned(),
        ),
        Expression::ArrowFunctionExpression(_) | Expression::FunctionExpression(_) | Expression::ClassExpression(_) => context.error(
            span,
            "a function is code, which the emulator does not run".to_owned(),
            "config values are data: strings, numbers, booleans, null, arrays and objects".to_owned(),
        ),
        Expression::BigIntLiteral(_) => context.error(
            span,
            format!("the BigInt `{snippet}` can't be stored as JSON"),
            "write a plain number (without the `n`), or a string".to_owned(),
        ),
        Expression::RegExpLiteral(_) => context.error(
            span,
            format!("the regular expression `{snippet}` can't be stored as JSON"),
            "write it as a string".to_owned(),
        ),
        Expression::ImportExpression(_) | Expression::ImportMeta(_) => context.error(
            span,
            format!("`{snippet}` reads another module, which the emulator does not do"),
            "write the value itself here".to_owned(),
        ),
        _ => context.error(
            span,
            format!("`{snippet}` is computed by running the file, which the emulator does not do"),
            GENERIC_HINT.to_owned(),
        ),
    }
}

fn unsupported(context: &Context<'_>, expression: &Expression<'_>) -> ParseError {
    let span = expression.span();
    context.error(
        span,
        format!(
            "`{}` is computed by running the file, which the emulator does not do",
            context.snippet(span)
        ),
        "write the resulting value itself; only `-` before a number is understood".to_owned(),
    )
}
