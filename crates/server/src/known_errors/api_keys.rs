//! The known errors of user and team API keys. In Stack Auth the four key
//! errors share the parent `API_KEY_NOT_VALID`; the code and header sent are
//! the specific one's.

use serde_json::json;

use super::{BAD, NOT_FOUND, UNAUTHORIZED, known, with_details};
use crate::error::KnownError;

/// `API_KEY_NOT_FOUND`: no such key, or (for a client) a team whose keys the
/// user may not manage, so that the team's existence does not leak.
pub fn api_key_not_found() -> KnownError {
    known("API_KEY_NOT_FOUND", NOT_FOUND, "API key not found.")
}

/// `API_KEY_EXPIRED`.
pub fn api_key_expired() -> KnownError {
    known("API_KEY_EXPIRED", UNAUTHORIZED, "API key has expired.")
}

/// `API_KEY_REVOKED`.
pub fn api_key_revoked() -> KnownError {
    known("API_KEY_REVOKED", UNAUTHORIZED, "API key has been revoked.")
}

/// `WRONG_API_KEY_TYPE`: a user key checked as a team key, or the reverse.
pub fn wrong_api_key_type(expected_type: &str, actual_type: &str) -> KnownError {
    with_details(
        known(
            "WRONG_API_KEY_TYPE",
            BAD,
            format!(
                "This endpoint is for {expected_type} API keys, but a {actual_type} API key was provided."
            ),
        ),
        json!({ "expected_type": expected_type, "actual_type": actual_type }),
    )
}

/// `SCHEMA_ERROR` with a bare message, as a handler (not the request
/// validation) raises it, e.g. `user_id is required for user API keys`.
pub fn bare_schema_error(message: &str) -> KnownError {
    with_details(
        known("SCHEMA_ERROR", BAD, message),
        json!({ "message": message }),
    )
}
