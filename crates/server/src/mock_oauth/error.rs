//! The mock's error answers: OAuth JSON errors (`{error, error_description}`,
//! RFC 6749 §5.2) for the API endpoints, and HTML pages for the browser-facing
//! ones, which never redirect to a URI that was not validated.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::page;
use super::params::ParamsError;

/// An OAuth error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: Cow<'static, str>,
    challenge: Option<HeaderValue>,
}

impl OAuthError {
    /// An error with any status and code.
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            challenge: None,
        }
    }

    /// 400 `invalid_request`: a parameter is missing, repeated or malformed.
    pub(super) fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 400 `invalid_grant`: a code or refresh token is not (or no longer) good.
    pub(super) fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    /// 401 `invalid_client`, with the Basic challenge when the client used
    /// HTTP Basic (RFC 6749 §5.2).
    pub(super) fn invalid_client(description: impl Into<Cow<'static, str>>, basic: bool) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description);
        if basic {
            error.challenge = Some(super::clients::basic_challenge());
        }
        error
    }

    /// 401 for a bearer token that is missing (`code` is then only in the
    /// body) or not good (RFC 6750 §3).
    pub(super) fn bearer(missing: bool, description: impl Into<Cow<'static, str>>) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description);
        error.challenge = Some(HeaderValue::from_static(if missing {
            "Bearer realm=\"mock-oauth\""
        } else {
            "Bearer realm=\"mock-oauth\", error=\"invalid_token\""
        }));
        error
    }

    /// 500 with a generic message (the kernel RNG failed).
    pub(super) fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the mock could not read the OS random number generator",
        )
    }

    /// The HTTP status.
    #[cfg(test)]
    pub(super) fn status(&self) -> StatusCode {
        self.status
    }

    /// The OAuth error code.
    #[cfg(test)]
    pub(super) fn code(&self) -> &'static str {
        self.code
    }
}

impl From<ParamsError> for OAuthError {
    fn from(e: ParamsError) -> Self {
        Self::new(e.status(), "invalid_request", e.to_string())
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// An error shown to the person in the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PageError {
    status: StatusCode,
    title: &'static str,
    message: Cow<'static, str>,
}

impl PageError {
    /// 400 with a title and an explanation.
    pub(super) fn bad_request(title: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            title,
            message: message.into(),
        }
    }

    /// 410: the interaction is unknown, finished or expired.
    pub(super) fn gone() -> Self {
        Self {
            status: StatusCode::GONE,
            title: "Session not found or expired",
            message: "This sign-in has finished or expired (after 10 minutes). \
                      Go back to the app and start signing in again."
                .into(),
        }
    }

    /// 500 (the kernel RNG failed).
    pub(super) fn server_error() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Something went wrong",
            message: "The mock could not read the OS random number generator.".into(),
        }
    }
}

impl From<ParamsError> for PageError {
    fn from(e: ParamsError) -> Self {
        Self {
            status: e.status(),
            title: "Bad request",
            message: e.to_string().into(),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        page::html(self.status, |nonce| {
            page::error_page(self.title, &self.message, nonce)
        })
    }
}
