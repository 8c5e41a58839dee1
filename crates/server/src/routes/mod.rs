//! One module per API resource. Handlers validate input with
//! [`crate::validate::Fields`], call the domain code, and render JSON.

pub mod anonymous;
pub mod health;
pub mod internal_api_keys;
pub mod internal_projects;
pub mod jwks;
pub mod local_emulator;
pub mod oauth_token;
pub mod password;
pub mod projects;
pub mod root;
pub mod sessions;
pub mod users;

use uuid::Uuid;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::validate::RequestLine;

/// Resolves a `user_id` path or query value: `me` or a UUID.
///
/// # Errors
/// `CANNOT_GET_OWN_USER_WITHOUT_USER` for `me` without a user, `SCHEMA_ERROR` for a bad UUID.
pub fn user_id_or_me(
    raw: &str,
    scope: &str,
    auth: &Auth,
    line: &RequestLine,
) -> Result<Uuid, ApiError> {
    if raw == "me" {
        return Ok(auth.me()?.id);
    }
    Uuid::parse_str(raw).map_err(|_| {
        ke::schema_error(line, &[format!("{scope}.user_id must be a valid UUID")]).into()
    })
}
