//! The per-request extractor: the request line, query, body and
//! authentication of a call, parsed once before a handler runs.

use std::borrow::Cow;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, OriginalUri, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::auth::{self, Credentials, MaybeAuth};
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::state::AppState;
use crate::validate::RequestLine;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1_000_000;

/// Time for a client to send a whole request body once its head arrived; a
/// body that trickles in slower is answered with 408 and its connection closed.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A non-empty `x-stack-…` request header, also accepted under the `x-hexclave-…`
/// prefix that newer SDKs (2.8.10x) send instead.
///
/// A header sent more than once reads as its values joined with `", "`, as
/// Stack Auth sees it (Node joins repeated headers): such a value matches no
/// key, token or access type, so the request is refused with the error that
/// header's check gives, never decided by whichever copy came first.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    let lookup = |n: &str| -> Option<Cow<'a, str>> {
        let mut values = headers.get_all(n).iter();
        let first = values.next()?;
        let rest: Vec<_> = values.collect();
        let value = if rest.is_empty() {
            Cow::Borrowed(first.to_str().ok()?)
        } else {
            let mut joined = first.to_str().ok()?.to_owned();
            for v in rest {
                joined.push_str(", ");
                joined.push_str(v.to_str().ok()?);
            }
            Cow::Owned(joined)
        };
        (!value.is_empty()).then_some(value)
    };
    lookup(name).or_else(|| {
        let rest = name.strip_prefix("x-stack-")?;
        lookup(&format!("x-hexclave-{rest}"))
    })
}

/// The credentials of a request, read from its Stack Auth headers.
pub fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    let get = |name: &str| header(headers, name);
    Credentials {
        access_type: get("x-stack-access-type"),
        project_id: get("x-stack-project-id"),
        branch_id: get("x-stack-branch-id"),
        publishable_client_key: get("x-stack-publishable-client-key"),
        secret_server_key: get("x-stack-secret-server-key"),
        super_secret_admin_key: get("x-stack-super-secret-admin-key"),
        admin_access_token: get("x-stack-admin-access-token"),
        access_token: get("x-stack-access-token"),
        allow_anonymous_user: get("x-stack-allow-anonymous-user").as_deref() == Some("true"),
        allow_restricted_user: get("x-stack-allow-restricted-user").as_deref() == Some("true"),
    }
}

/// One parsed request: its line, query, body and authentication.
///
/// Parsing follows Stack Auth's order: the body first (so a malformed body is
/// reported even on an unknown path), then the auth headers.
#[derive(Debug)]
pub struct Req {
    /// Method and path, for error messages.
    pub line: RequestLine,
    /// Query pairs in order.
    pub query: Vec<(String, String)>,
    /// The parsed body, if there was one.
    pub body: Option<Value>,
    /// The authentication outcome.
    pub auth: MaybeAuth,
    /// The raw headers, for the few routes that read more.
    pub headers: HeaderMap,
}

impl FromRequest<AppState> for Req {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        // Inside nested routers the URI lost its `/api/v1` prefix; messages show the original.
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |o| o.path().to_owned());
        let line = RequestLine {
            method: parts.method.to_string(),
            path,
        };
        let query: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let body = if parts.method == Method::GET || parts.method == Method::HEAD {
            None
        } else {
            parse_body(&parts.headers, body)
                .await
                .map_err(IntoResponse::into_response)?
        };
        let auth = auth::authenticate(state, &credentials(&parts.headers))
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            line,
            query,
            body,
            auth,
            headers: parts.headers,
        })
    }
}

async fn parse_body(headers: &HeaderMap, body: Body) -> Result<Option<Value>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let read = tokio::time::timeout(
        BODY_READ_TIMEOUT,
        axum::body::to_bytes(body, MAX_BODY_BYTES),
    );
    let bytes = read
        .await
        .map_err(|_| {
            ApiError::status(
                StatusCode::REQUEST_TIMEOUT.as_u16(),
                format!(
                    "The request body did not arrive within {} s",
                    BODY_READ_TIMEOUT.as_secs()
                ),
            )
        })?
        .map_err(|_| {
            ApiError::status(
                StatusCode::PAYLOAD_TOO_LARGE.as_u16(),
                format!("Request body too large (max {MAX_BODY_BYTES} bytes)"),
            )
        })?;
    match content_type.as_str() {
        "" if bytes.is_empty() => Ok(None),
        "" => Err(ke::body_parsing_error("Unknown content type in request body: ").into()),
        "application/json" => serde_json::from_slice(&bytes)
            .or_else(|e| match without_lone_surrogates(&bytes) {
                // JavaScript strings may hold half of a surrogate pair, which
                // JSON.stringify writes as a lone `\uD83D`; Node reads it, serde
                // does not. Stack Auth's handlers see U+FFFD there, and so do ours.
                Some(repaired) => serde_json::from_slice(&repaired),
                None => Err(e),
            })
            .map(Some)
            .map_err(|_| ke::body_parsing_error("Invalid JSON in request body").into()),
        "application/x-www-form-urlencoded" => {
            let map: serde_json::Map<String, Value> = form_urlencoded::parse(&bytes)
                .into_owned()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            Ok(Some(Value::Object(map)))
        }
        "text/plain" => String::from_utf8(bytes.to_vec())
            .map(|s| Some(Value::String(s)))
            .map_err(|_| ke::body_parsing_error("Request body cannot be parsed as UTF-8").into()),
        other => Err(ke::body_parsing_error(format!(
            "Unknown content type in request body: {other}"
        ))
        .into()),
    }
}

/// `json` with each `\uXXXX` escape of half a surrogate pair (a high one
/// not followed by a low one, or a low one alone) replaced by `\uFFFD`;
/// `None` when there is none.
fn without_lone_surrogates(json: &[u8]) -> Option<Vec<u8>> {
    let escape_at = |i: usize| -> Option<u16> {
        let hex = json.get(i + 2..i + 6)?;
        if json.get(i) != Some(&b'\\') || json.get(i + 1) != Some(&b'u') {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let mut out = Vec::with_capacity(json.len());
    let mut changed = false;
    let mut i = 0;
    while i < json.len() {
        if json[i] != b'\\' {
            out.push(json[i]);
            i += 1;
            continue;
        }
        match escape_at(i) {
            // A whole pair: both escapes stay.
            Some(0xD800..=0xDBFF)
                if escape_at(i + 6).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) =>
            {
                out.extend_from_slice(&json[i..i + 12]);
                i += 12;
            }
            Some(0xD800..=0xDFFF) => {
                out.extend_from_slice(b"\\uFFFD");
                changed = true;
                i += 6;
            }
            // Any other escape, `\\` included, is copied whole, so that its
            // second character is never read as the start of another.
            _ => {
                out.extend_from_slice(json.get(i..i + 2).unwrap_or(&json[i..]));
                i += 2;
            }
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod surrogate_tests {
    use super::without_lone_surrogates;

    #[test]
    fn only_halves_of_surrogate_pairs_are_replaced() {
        let repaired = |s: &str| {
            without_lone_surrogates(s.as_bytes()).map(|b| String::from_utf8(b).unwrap_or_default())
        };
        assert_eq!(
            repaired(r#"{"t":"a\ud83d"}"#).as_deref(),
            Some(r#"{"t":"a\uFFFD"}"#)
        );
        assert_eq!(
            repaired(r#"["\ude00x"]"#).as_deref(),
            Some(r#"["\uFFFDx"]"#)
        );
        // A whole pair, other escapes and an escaped backslash before `u` stay.
        assert_eq!(repaired(r#"["\ud83d\ude00", "\n\u00e9"]"#), None);
        assert_eq!(repaired(r#"["\\ud83d"]"#), None);
        let value: serde_json::Value = serde_json::from_slice(
            &without_lone_surrogates(br#"{"t":"\ud83d!"}"#).unwrap_or_default(),
        )
        .unwrap_or_default();
        assert_eq!(value["t"], "\u{fffd}!");
    }
}
