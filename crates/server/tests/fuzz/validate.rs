//! Target: the validation layer on its own. A body (generated JSON, any bytes
//! read as JSON, or query pairs) goes through a generated sequence of
//! [`Fields`] accessors, nested objects included, then `finish`, the way route
//! handlers use it. No input may panic, and `finish` must fail whenever an
//! accessor recorded a problem, with a `SCHEMA_ERROR` naming the request.

use bolero::{TypeGenerator, check};
use stack_server::error::ApiError;
use stack_server::validate::{Fields, RequestLine, is_plausible_email, is_valid_email};

use crate::CI_TIME;
use crate::json::{Key, Text, Tree};

/// What the fields are read from.
#[derive(Debug, Clone, TypeGenerator)]
enum Source {
    /// A generated object, as most bodies are.
    Object(Tree),
    /// Any generated value (arrays, strings, null as the whole body).
    Value(Tree),
    /// No body at all.
    Absent,
    /// Any bytes; what does not parse as JSON reads as no body.
    Bytes(Vec<u8>),
    /// Query pairs.
    Query(Vec<(Text, Text)>),
}

/// One call a handler could make.
#[derive(Debug, Clone, TypeGenerator)]
enum Op {
    OptString(Key, Option<u8>),
    ReqString(Key, Option<u8>),
    ReqNonemptyString(Key, Option<u8>),
    NullableString(Key, Option<u8>),
    ReqEmail(Key),
    NullableEmail(Key),
    OptUrl(Key),
    ReqUrl(Key),
    ReqBool(Key),
    ReqExactString(Key, u8),
    ReqLooseEmail(Key),
    OptBool(Key),
    OptI64(Key),
    Json(Key),
    OptUuid(Key),
    OptOneOf(Key, Vec<Text>),
    MapHas(Key),
    Error(Key, Text),
    ErrorLine(Text),
    AllowUnknown,
    /// Descend into a nested object (as `body.config` is read).
    Enter(Key),
    /// Finish the nested object into its parent.
    Leave,
    /// The email checks on their own.
    Email(Text),
}

/// A body and the calls made on it.
#[derive(Debug, Clone, TypeGenerator)]
struct Input {
    source: Source,
    #[generator(Vec::produce().with().len(0usize..24))]
    ops: Vec<Op>,
}

fn request_line() -> RequestLine {
    RequestLine {
        method: "POST".to_owned(),
        path: "/api/v1/fuzz".to_owned(),
    }
}

fn fields_of(source: &Source) -> Fields {
    match source {
        Source::Object(tree) => Fields::body(Some(tree.object())),
        Source::Value(tree) => Fields::body(Some(tree.value())),
        Source::Absent => Fields::body(None),
        Source::Bytes(bytes) => Fields::body(serde_json::from_slice(bytes).ok()),
        Source::Query(pairs) => {
            let pairs: Vec<(String, String)> =
                pairs.iter().map(|(k, v)| (k.text(), v.text())).collect();
            Fields::query(&pairs)
        }
    }
}

fn max(len: Option<u8>) -> Option<usize> {
    len.map(usize::from)
}

fn apply(f: &mut Fields, op: &Op) {
    match op {
        Op::OptString(k, m) => {
            let _ = f.opt_string(&k.text(), max(*m));
        }
        Op::ReqString(k, m) => {
            let _ = f.req_string(&k.text(), max(*m));
        }
        Op::ReqNonemptyString(k, m) => {
            let _ = f.req_nonempty_string(&k.text(), max(*m));
        }
        Op::NullableString(k, m) => {
            let _ = f.nullable_string(&k.text(), max(*m));
        }
        Op::ReqEmail(k) => {
            let _ = f.req_email(&k.text());
        }
        Op::NullableEmail(k) => {
            let _ = f.nullable_email(&k.text());
        }
        Op::OptUrl(k) => {
            let _ = f.opt_url(&k.text());
        }
        Op::ReqUrl(k) => {
            let _ = f.req_url(&k.text());
        }
        Op::ReqBool(k) => {
            let _ = f.req_bool(&k.text());
        }
        Op::ReqExactString(k, len) => {
            let _ = f.req_exact_string(&k.text(), usize::from(*len));
        }
        Op::ReqLooseEmail(k) => {
            let _ = f.req_loose_email(&k.text());
        }
        Op::OptBool(k) => {
            let _ = f.opt_bool(&k.text());
        }
        Op::OptI64(k) => {
            let _ = f.opt_i64(&k.text());
        }
        Op::Json(k) => {
            let _ = f.json(&k.text());
        }
        Op::OptUuid(k) => {
            let _ = f.opt_uuid(&k.text());
        }
        Op::OptOneOf(k, allowed) => {
            let allowed: Vec<String> = allowed.iter().map(Text::text).collect();
            let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
            let _ = f.opt_one_of(&k.text(), &allowed);
        }
        Op::MapHas(k) => {
            let _ = f.map_has(&k.text());
        }
        Op::Error(k, problem) => f.error(&k.text(), &problem.text()),
        Op::ErrorLine(line) => f.error_line(&line.text()),
        Op::Email(text) => check_email(&text.text()),
        // Handled by `run`, which owns the stack of nested objects.
        Op::AllowUnknown | Op::Enter(_) | Op::Leave => {}
    }
}

fn check_email(email: &str) {
    if is_valid_email(email) {
        assert!(email.contains('@') && email.len() <= 256, "{email:?}");
    }
    if is_plausible_email(email) {
        assert!(email.contains('@'), "{email:?}");
    }
}

/// Runs the calls; nested objects are a stack, finished into their parents.
fn run(input: &Input) {
    let mut stack = vec![fields_of(&input.source)];
    for op in &input.ops {
        match op {
            Op::Enter(key) => {
                if let Some(nested) = stack.last_mut().and_then(|top| top.object(&key.text())) {
                    stack.push(nested);
                }
            }
            Op::Leave => {
                if stack.len() > 1
                    && let (Some(nested), Some(parent)) = (stack.pop(), stack.last_mut())
                {
                    nested.finish_into(parent);
                }
            }
            Op::AllowUnknown => {
                if let Some(top) = stack.pop() {
                    stack.push(top.allow_unknown());
                }
            }
            other => {
                if let Some(top) = stack.last_mut() {
                    apply(top, other);
                }
            }
        }
    }
    while stack.len() > 1 {
        if let (Some(nested), Some(parent)) = (stack.pop(), stack.last_mut()) {
            nested.finish_into(parent);
        }
    }
    let Some(root) = stack.pop() else { return };
    let had_errors = root.has_errors();
    let line = request_line();
    match root.finish(&line) {
        Ok(()) => assert!(!had_errors, "finish passed although a problem was recorded"),
        Err(ApiError::Known(e)) => {
            assert_eq!(e.code, "SCHEMA_ERROR");
            assert!(
                e.message
                    .starts_with("Request validation failed on POST /api/v1/fuzz:"),
                "{}",
                e.message
            );
        }
        Err(other) => panic!("finish failed with something other than SCHEMA_ERROR: {other:?}"),
    }
}

#[test]
fn accessors() {
    check!()
        .with_type::<Input>()
        .with_test_time(CI_TIME)
        .for_each(run);
}

#[test]
fn read_code() {
    check!()
        .with_type::<Source>()
        .with_test_time(CI_TIME)
        .for_each(|source| {
            let body = match source {
                Source::Object(tree) => Some(tree.object()),
                Source::Value(tree) => Some(tree.value()),
                Source::Absent | Source::Query(_) => None,
                Source::Bytes(bytes) => serde_json::from_slice(bytes).ok(),
            };
            if let Ok(code) = stack_server::http::routes::read_code(body, &request_line()) {
                assert_eq!(
                    code.chars().count(),
                    stack_server::verification::CODE_LENGTH
                );
            }
        });
}
