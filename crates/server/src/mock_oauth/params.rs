//! Request parameters from a query string, a form body or a JSON body, read
//! once into a map.
//!
//! OAuth rules apply to all of them (RFC 6749 §3.1): a parameter sent twice is
//! an error, and one sent with an empty value counts as absent. JSON bodies
//! (the test hooks') must be objects; their non-string values count as
//! absent. Bodies are read with a size and a time limit.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};

use crate::http::BODY_READ_TIMEOUT;

/// Largest body accepted, in bytes: OAuth forms and hook bodies are tiny.
pub(super) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Which body encodings an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Accept {
    /// `application/x-www-form-urlencoded` only (OAuth endpoints, the sign-in form).
    Form,
    /// A form or `application/json` (the test hooks).
    FormOrJson,
}

/// Why the parameters could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ParamsError {
    /// A parameter was sent more than once.
    #[error("the parameter {0:?} was sent more than once")]
    Repeated(String),
    /// The body is not valid JSON.
    #[error("the body is not valid JSON")]
    NotJson,
    /// The JSON body is not an object.
    #[error("the JSON body must be an object")]
    NotObject,
    /// The content type is not one the endpoint takes.
    #[error("unsupported content type {0:?}: send {1}")]
    ContentType(String, &'static str),
    /// The body is too large.
    #[error("the request body is larger than {} KiB", MAX_BODY_BYTES / 1024)]
    TooLarge,
    /// The body did not arrive in time.
    #[error("the request body did not arrive within {} s", BODY_READ_TIMEOUT.as_secs())]
    Timeout,
}

impl ParamsError {
    /// The HTTP status of this error.
    pub(super) fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::ContentType(..) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Repeated(_) | Self::NotJson | Self::NotObject => StatusCode::BAD_REQUEST,
        }
    }
}

/// Named parameters of one request.
#[derive(Clone, Default, PartialEq, Eq)]
pub(super) struct Params {
    values: HashMap<String, String>,
}

// Values include client secrets, codes and tokens: `Debug` names only the keys.
impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl Params {
    /// The parameters of a query string (none when there is no query).
    pub(super) fn from_query(query: Option<&str>) -> Result<Self, ParamsError> {
        Self::from_form(query.unwrap_or_default().as_bytes())
    }

    /// The parameters of a form-urlencoded text.
    pub(super) fn from_form(text: &[u8]) -> Result<Self, ParamsError> {
        Self::from_pairs(form_urlencoded::parse(text).into_owned())
    }

    /// The string fields of a JSON object.
    pub(super) fn from_json(text: &[u8]) -> Result<Self, ParamsError> {
        let value: serde_json::Value =
            serde_json::from_slice(text).map_err(|_| ParamsError::NotJson)?;
        let serde_json::Value::Object(object) = value else {
            return Err(ParamsError::NotObject);
        };
        // A JSON object cannot repeat a key once parsed (the last one wins).
        Self::from_pairs(object.into_iter().filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            _ => None,
        }))
    }

    /// Reads and parses a request body.
    pub(super) async fn from_body(
        headers: &HeaderMap,
        body: Body,
        accept: Accept,
    ) -> Result<Self, ParamsError> {
        let bytes = tokio::time::timeout(
            BODY_READ_TIMEOUT,
            axum::body::to_bytes(body, MAX_BODY_BYTES),
        )
        .await
        .map_err(|_| ParamsError::Timeout)?
        .map_err(|_| ParamsError::TooLarge)?;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .map(|v| {
                let v = String::from_utf8_lossy(v.as_bytes());
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        match (content_type.as_str(), accept) {
            // No content type: an empty body, or a client that forgot the
            // header on a form.
            ("" | "application/x-www-form-urlencoded", _) => Self::from_form(&bytes),
            ("application/json", Accept::FormOrJson) => Self::from_json(&bytes),
            (other, Accept::Form) => Err(ParamsError::ContentType(
                other.to_owned(),
                "application/x-www-form-urlencoded",
            )),
            (other, Accept::FormOrJson) => Err(ParamsError::ContentType(
                other.to_owned(),
                "application/json or application/x-www-form-urlencoded",
            )),
        }
    }

    fn from_pairs(pairs: impl Iterator<Item = (String, String)>) -> Result<Self, ParamsError> {
        let mut values = HashMap::new();
        for (name, value) in pairs {
            match values.entry(name) {
                Entry::Occupied(e) => return Err(ParamsError::Repeated(e.key().clone())),
                Entry::Vacant(e) => {
                    e.insert(value);
                }
            }
        }
        Ok(Self { values })
    }

    /// The value of `name`, unless it is absent or empty.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_absent_and_repeats_are_refused() {
        let p = Params::from_form(b"a=1&b=&c=x+y%21").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y!"));
        assert_eq!(p.get("d"), None);
        assert!(!format!("{p:?}").contains("x y!"), "Debug shows a value");
        assert_eq!(
            Params::from_form(b"a=1&a=2"),
            Err(ParamsError::Repeated("a".into()))
        );
    }

    #[test]
    fn json_bodies_keep_their_string_fields() {
        let p = Params::from_json(br#"{"token":"t","n":5,"o":{}}"#).unwrap();
        assert_eq!(p.get("token"), Some("t"));
        assert_eq!(p.get("n"), None);
        assert_eq!(Params::from_json(b"[1]"), Err(ParamsError::NotObject));
        assert_eq!(Params::from_json(b"{"), Err(ParamsError::NotJson));
    }

    #[tokio::test]
    async fn bodies_are_parsed_by_content_type() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        let p = Params::from_body(&headers, Body::from(r#"{"token":"t"}"#), Accept::FormOrJson)
            .await
            .unwrap();
        assert_eq!(p.get("token"), Some("t"));
        let e = Params::from_body(&headers, Body::from("{}"), Accept::Form)
            .await
            .unwrap_err();
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let huge = "a=".to_owned() + &"x".repeat(MAX_BODY_BYTES);
        let e = Params::from_body(&HeaderMap::new(), Body::from(huge), Accept::Form)
            .await
            .unwrap_err();
        assert_eq!(e, ParamsError::TooLarge);
    }
}
