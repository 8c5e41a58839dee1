//! The one error type of the HTTP layer and its mapping to responses.
//!
//! Three kinds, as in Stack Auth: known errors (JSON body plus the
//! `x-stack-known-error` header; the SDK rebuilds them from `code` and
//! `details`), plain status errors (text body), and unexpected errors (a generic
//! 500 whose details go to the log, never to the client). A database that cannot
//! be reached is a 503 with a message that says so.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::random::RngError;

/// A Stack Auth known error: a stable code, a status and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownError {
    /// The stable code, e.g. `USER_NOT_FOUND`.
    pub code: &'static str,
    /// The HTTP status.
    pub status: StatusCode,
    /// The human-readable message.
    pub message: String,
    /// Structured details, when the error has any.
    pub details: Option<Value>,
}

/// Any error a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A known error with a code.
    #[error("{}: {}", .0.code, .0.message)]
    Known(KnownError),
    /// A plain error with a status and a text message.
    #[error("{status}: {message}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The message sent as the body.
        message: String,
    },
    /// PostgreSQL could not be reached.
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[source] sqlx::Error),
    /// Anything unexpected; the client sees only a request id.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// A plain status error with a text body.
    pub fn status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Status {
            status,
            message: message.into(),
        }
    }

    /// A 400 status error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::status(StatusCode::BAD_REQUEST, message)
    }

    /// An unexpected failure with a description for the log.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into().into())
    }

    /// The known-error code, if this is a known error.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::Known(e) => Some(e.code),
            _ => None,
        }
    }
}

impl From<KnownError> for ApiError {
    fn from(e: KnownError) -> Self {
        Self::Known(e)
    }
}

impl From<RngError> for ApiError {
    fn from(e: RngError) -> Self {
        Self::Internal(Box::new(e))
    }
}

impl From<crate::db::keys::InsertKeySetError> for ApiError {
    fn from(e: crate::db::keys::InsertKeySetError) -> Self {
        match e {
            crate::db::keys::InsertKeySetError::Rng(r) => r.into(),
            crate::db::keys::InsertKeySetError::Database(d) => d.into(),
        }
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        Self::Internal(Box::new(e))
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if is_connection_error(&e) {
            Self::DatabaseUnavailable(e)
        } else {
            Self::Internal(Box::new(e))
        }
    }
}

/// Whether a database error means "cannot reach PostgreSQL" rather than a bad query.
pub fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Class 08: connection exception; 57P01..57P03: shutdown / cannot connect now.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// Marker put on a 500 response so that the logging middleware can record the
/// cause next to the request id; the client never sees it.
#[derive(Clone, Debug)]
pub struct InternalErrorDetail(pub String);

/// The message a client gets when the database is down.
pub const DATABASE_UNAVAILABLE_MESSAGE: &str =
    "The database is unavailable. The server reconnects on its own; please try again in a moment.";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Known(e) => e.into_response(),
            Self::Status { status, message } => text_response(status, message),
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
        let mut response = (self.status, text).into_response();
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

/// The content type of every JSON response.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

fn text_response(status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = (status, message.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
