//! The one place that turns domain errors into HTTP responses.
//!
//! Known errors get a JSON body plus the `x-stack-known-error` header (the SDK
//! rebuilds them from `code` and `details`); plain status errors get a text
//! body; an unreachable database is a 503 that says so; anything unexpected is
//! a generic 500 whose details go to the log through [`InternalErrorDetail`],
//! never to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::{ApiError, KnownError};

/// Marker put on a 500 or 503 response so that the logging middleware can
/// record the cause next to the request id; the client never sees it.
#[derive(Clone, Debug)]
pub struct InternalErrorDetail(pub String);

/// The message a client gets when the database is down.
pub const DATABASE_UNAVAILABLE_MESSAGE: &str =
    "The database is unavailable. The server reconnects on its own; please try again in a moment.";

/// The content type of every JSON response.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The status of a domain error; a number outside HTTP's range would be a bug
/// in the error catalog, and answers 500.
fn status_of(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Known(e) => e.into_response(),
            Self::Status { status, message } => text_response(status_of(status), message),
            Self::DatabaseUnavailable(e) => {
                let mut response = text_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    DATABASE_UNAVAILABLE_MESSAGE,
                );
                response
                    .extensions_mut()
                    .insert(InternalErrorDetail(format!("database unavailable: {e}")));
                response
            }
            Self::Internal(e) => {
                let mut chain = e.to_string();
                let mut source = e.source();
                while let Some(cause) = source {
                    chain.push_str(": ");
                    chain.push_str(&cause.to_string());
                    source = cause.source();
                }
                let mut response = text_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong. Please make sure the data you entered is correct.",
                );
                response.extensions_mut().insert(InternalErrorDetail(chain));
                response
            }
        }
    }
}

impl IntoResponse for KnownError {
    fn into_response(self) -> Response {
        let mut body = serde_json::Map::new();
        body.insert("code".into(), Value::from(self.code));
        if let Some(details) = self.details {
            body.insert("details".into(), details);
        }
        body.insert("error".into(), Value::from(self.message));
        let text = serde_json::to_string_pretty(&Value::Object(body)).unwrap_or_default();
        let mut response = (status_of(self.status), text).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        );
        headers.insert("x-stack-known-error", HeaderValue::from_static(self.code));
        // SDK 2.8.10x reads the `x-hexclave-` name first.
        headers.insert(
            "x-hexclave-known-error",
            HeaderValue::from_static(self.code),
        );
        response
    }
}

/// A plain-text response with the given status.
pub(crate) fn text_response(status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = (status, message.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A JSON response with the given status.
pub fn json(status: StatusCode, value: &Value) -> Response {
    let mut response = (status, value.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    response
}

/// `200 {"items": [...], "is_paginated": false}`: every list this API
/// answers, unpaginated.
pub fn list_response(items: Vec<Value>) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "items": items, "is_paginated": false }),
    )
}

/// `200 {"success": true}`.
pub fn success() -> Response {
    json(StatusCode::OK, &serde_json::json!({ "success": true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn a_known_error_keeps_its_status_code_and_headers() {
        let response = ApiError::from(crate::known_errors::user_not_found()).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let headers = response.headers();
        assert_eq!(headers["x-stack-known-error"], "USER_NOT_FOUND");
        assert_eq!(headers["x-hexclave-known-error"], "USER_NOT_FOUND");
        assert_eq!(headers[header::CONTENT_TYPE], JSON_CONTENT_TYPE);
        let body: Value = serde_json::from_str(&body_of(response).await).unwrap_or_default();
        assert_eq!(body["code"], "USER_NOT_FOUND");
        assert_eq!(body["error"], "User not found.");
    }

    #[tokio::test]
    async fn a_status_error_is_plain_text() {
        let response = ApiError::forbidden("No.").into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert!(!response.headers().contains_key("x-stack-known-error"));
        assert_eq!(body_of(response).await, "No.");
    }

    #[tokio::test]
    async fn an_internal_error_hides_its_cause_from_the_client() {
        let response = ApiError::internal("the secret cause").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let detail = response.extensions().get::<InternalErrorDetail>().cloned();
        assert_eq!(detail.map(|d| d.0).as_deref(), Some("the secret cause"));
        assert!(!body_of(response).await.contains("secret"));
    }

    #[tokio::test]
    async fn an_unreachable_database_is_a_503_that_says_so() {
        let response = ApiError::from(sqlx::Error::PoolTimedOut).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body_of(response).await, DATABASE_UNAVAILABLE_MESSAGE);
    }
}
