//! The error every API operation returns, free of any transport.
//!
//! Four kinds, as in Stack Auth: known errors (a stable code, a status, a
//! message and details; the SDK rebuilds them from `code` and `details`),
//! plain status errors (a status and a text message), an unreachable database,
//! and unexpected errors whose details are for the log only. Statuses are plain
//! numbers because Stack Auth's API fixes them per error; `crate::http::error`
//! is the one place that turns these values into responses.

use serde_json::Value;

use crate::random::RngError;

/// A Stack Auth known error: a stable code, a status and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownError {
    /// The stable code, e.g. `USER_NOT_FOUND`.
    pub code: &'static str,
    /// The HTTP status Stack Auth answers with (e.g. 400).
    pub status: u16,
    /// The human-readable message.
    pub message: String,
    /// Structured details, when the error has any.
    pub details: Option<Value>,
}

/// Any error an API operation can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A known error with a code.
    #[error("{}: {}", .0.code, .0.message)]
    Known(KnownError),
    /// A plain error with a status and a text message.
    #[error("{status}: {message}")]
    Status {
        /// The HTTP status Stack Auth answers with (e.g. 404).
        status: u16,
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
    pub fn status(status: u16, message: impl Into<String>) -> Self {
        Self::Status {
            status,
            message: message.into(),
        }
    }

    /// A 400 status error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::status(400, message)
    }

    /// A 401 status error.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::status(401, message)
    }

    /// A 403 status error.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::status(403, message)
    }

    /// A 404 status error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::status(404, message)
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
        if crate::db::is_connection_error(&e) {
            Self::DatabaseUnavailable(e)
        } else {
            Self::Internal(Box::new(e))
        }
    }
}
