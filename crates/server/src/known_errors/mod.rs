//! Stack Auth's known errors: codes, statuses, messages and details.
//!
//! The SDK rebuilds errors from `code` and `details`, and Stack Auth's test
//! suite compares messages verbatim, so each text here is part of the API.

mod api_keys;
mod mfa;
mod oauth;
mod permissions;

pub use api_keys::*;
pub use mfa::*;
pub use oauth::*;
pub use permissions::*;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::error::KnownError;

/// Method and path of the request, for the first line of a `SCHEMA_ERROR`.
#[derive(Debug, Clone)]
pub struct RequestLine {
    /// e.g. `POST`.
    pub method: String,
    /// The path as requested, e.g. `/api/v1/users/me`.
    pub path: String,
}

const AUTH_DOCS: &str = "For more information, see the docs on REST API authentication: https://docs.stack-auth.com/rest-api/overview#authentication";

fn known(code: &'static str, status: u16, message: impl Into<String>) -> KnownError {
    KnownError {
        code,
        status,
        message: message.into(),
        details: None,
    }
}

fn with_details(mut e: KnownError, details: Value) -> KnownError {
    e.details = Some(details);
    e
}

fn quoted(s: &str) -> String {
    Value::from(s).to_string()
}

const BAD: u16 = 400;
const UNAUTHORIZED: u16 = 401;
const FORBIDDEN: u16 = 403;
const NOT_FOUND: u16 = 404;
const CONFLICT: u16 = 409;

/// `BODY_PARSING_ERROR`.
pub fn body_parsing_error(message: impl Into<String>) -> KnownError {
    known("BODY_PARSING_ERROR", BAD, message)
}

/// `SCHEMA_ERROR` listing every problem.
pub fn schema_error(request: &RequestLine, problems: &[String]) -> KnownError {
    let mut message = format!(
        "Request validation failed on {} {}:",
        request.method, request.path
    );
    for problem in problems {
        message.push_str("\n  - ");
        message.push_str(&problem.replace('\n', "\n    "));
    }
    let details = json!({ "message": message });
    with_details(known("SCHEMA_ERROR", BAD, message), details)
}

/// `PROJECT_KEY_WITHOUT_ACCESS_TYPE`.
pub fn project_key_without_access_type() -> KnownError {
    known(
        "PROJECT_KEY_WITHOUT_ACCESS_TYPE",
        BAD,
        "Either an API key or an admin access token was provided, but the x-stack-access-type header is missing. Set it to 'client', 'server', or 'admin' as appropriate.",
    )
}

/// `INVALID_ACCESS_TYPE`.
pub fn invalid_access_type(access_type: &str) -> KnownError {
    known(
        "INVALID_ACCESS_TYPE",
        BAD,
        format!(
            "The x-stack-access-type header must be 'client', 'server', or 'admin', but was '{access_type}'."
        ),
    )
}

/// `ACCESS_TYPE_WITHOUT_PROJECT_ID`.
pub fn access_type_without_project_id(access_type: &str) -> KnownError {
    with_details(
        known(
            "ACCESS_TYPE_WITHOUT_PROJECT_ID",
            BAD,
            format!(
                "The x-stack-access-type header was '{access_type}', but the x-stack-project-id header was not provided.\n\n{AUTH_DOCS}"
            ),
        ),
        json!({ "request_type": access_type }),
    )
}

/// `ACCESS_TYPE_REQUIRED`.
pub fn access_type_required() -> KnownError {
    known(
        "ACCESS_TYPE_REQUIRED",
        BAD,
        format!(
            "You must specify an access level for this Stack project. Make sure project API keys are provided (eg. x-stack-publishable-client-key) and you set the x-stack-access-type header to 'client', 'server', or 'admin'.\n\n{AUTH_DOCS}"
        ),
    )
}

/// `INSUFFICIENT_ACCESS_TYPE`.
pub fn insufficient_access_type(actual: &str, allowed: &[&str]) -> KnownError {
    let list = allowed
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" or ");
    with_details(
        known(
            "INSUFFICIENT_ACCESS_TYPE",
            UNAUTHORIZED,
            format!("The x-stack-access-type header must be {list}, but was '{actual}'."),
        ),
        json!({ "actual_access_type": actual, "allowed_access_types": allowed }),
    )
}

/// `INVALID_PUBLISHABLE_CLIENT_KEY`.
pub fn invalid_publishable_client_key(project_id: &str) -> KnownError {
    invalid_key(
        "INVALID_PUBLISHABLE_CLIENT_KEY",
        "publishable key",
        project_id,
    )
}

/// `INVALID_SECRET_SERVER_KEY`.
pub fn invalid_secret_server_key(project_id: &str) -> KnownError {
    invalid_key("INVALID_SECRET_SERVER_KEY", "secret server key", project_id)
}

/// `INVALID_SUPER_SECRET_ADMIN_KEY`.
pub fn invalid_super_secret_admin_key(project_id: &str) -> KnownError {
    invalid_key(
        "INVALID_SUPER_SECRET_ADMIN_KEY",
        "super secret admin key",
        project_id,
    )
}

fn invalid_key(code: &'static str, what: &str, project_id: &str) -> KnownError {
    with_details(
        known(
            code,
            UNAUTHORIZED,
            format!(
                "The {what} is not valid for the project {}. Does the project and/or the key exist?",
                quoted(project_id)
            ),
        ),
        json!({ "project_id": project_id }),
    )
}

/// `UNPARSABLE_ADMIN_ACCESS_TOKEN`.
pub fn unparsable_admin_access_token() -> KnownError {
    known(
        "UNPARSABLE_ADMIN_ACCESS_TOKEN",
        UNAUTHORIZED,
        "Admin access token is not parsable.",
    )
}

/// `ADMIN_ACCESS_TOKEN_EXPIRED`.
pub fn admin_access_token_expired(expired_at: Option<DateTime<Utc>>) -> KnownError {
    let mut message = "Admin access token has expired. Please refresh it and try again.".to_owned();
    if let Some(at) = expired_at {
        message.push_str(&format!(" (The access token expired at {}.)", iso(at)));
    }
    with_details(
        known("ADMIN_ACCESS_TOKEN_EXPIRED", UNAUTHORIZED, message),
        json!({ "expired_at_millis": expired_at.map(|t| t.timestamp_millis()) }),
    )
}

/// `ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN`.
pub fn admin_access_token_is_not_admin() -> KnownError {
    known(
        "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN",
        UNAUTHORIZED,
        "Admin access token does not have the required permissions to access this project.",
    )
}

/// `PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT`.
pub fn publishable_client_key_required(project_id: &str) -> KnownError {
    with_details(
        known(
            "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT",
            UNAUTHORIZED,
            "Publishable client keys are required for this project. Create one in Project Keys, or disable this requirement there to allow keyless client access.",
        ),
        json!({ "project_id": project_id }),
    )
}

/// `SERVER_AUTHENTICATION_REQUIRED`.
pub fn server_authentication_required() -> KnownError {
    known(
        "SERVER_AUTHENTICATION_REQUIRED",
        UNAUTHORIZED,
        "The secret server key must be provided.",
    )
}

/// `ADMIN_AUTHENTICATION_REQUIRED`.
pub fn admin_authentication_required() -> KnownError {
    known(
        "ADMIN_AUTHENTICATION_REQUIRED",
        UNAUTHORIZED,
        "The super secret admin key must be provided.",
    )
}

/// `EXPECTED_INTERNAL_PROJECT`.
pub fn expected_internal_project() -> KnownError {
    known(
        "EXPECTED_INTERNAL_PROJECT",
        UNAUTHORIZED,
        "The project ID is expected to be internal.",
    )
}

/// `CANNOT_GET_OWN_USER_WITHOUT_USER`.
pub fn cannot_get_own_user_without_user() -> KnownError {
    known(
        "CANNOT_GET_OWN_USER_WITHOUT_USER",
        BAD,
        "You have specified 'me' as a userId, but did not provide authentication for a user.",
    )
}

/// `UNPARSABLE_ACCESS_TOKEN`.
pub fn unparsable_access_token() -> KnownError {
    known(
        "UNPARSABLE_ACCESS_TOKEN",
        UNAUTHORIZED,
        "Access token is not parsable.",
    )
}

/// What `ACCESS_TOKEN_EXPIRED` reports about the token.
#[derive(Debug, Default)]
pub struct ExpiredToken<'a> {
    /// When it expired.
    pub expired_at: Option<DateTime<Utc>>,
    /// Its project.
    pub project_id: Option<&'a str>,
    /// Its user.
    pub user_id: Option<&'a str>,
    /// Its session.
    pub refresh_token_id: Option<&'a str>,
}

/// `ACCESS_TOKEN_EXPIRED`.
pub fn access_token_expired(t: &ExpiredToken<'_>) -> KnownError {
    let mut message = "Access token has expired. Please refresh it and try again.".to_owned();
    if let Some(at) = t.expired_at {
        message.push_str(&format!(" (The access token expired at {}.)", iso(at)));
    }
    if let Some(p) = t.project_id {
        message.push_str(&format!(" Project ID: {p}."));
    }
    if let Some(u) = t.user_id {
        message.push_str(&format!(" User ID: {u}."));
    }
    if let Some(r) = t.refresh_token_id {
        message.push_str(&format!(" Refresh token ID: {r}."));
    }
    message.push_str("\n\nDebug info: Most likely, you fetched the access token before it expired (for example, in a server component, pre-rendered page, or on page load), but then didn't refresh it before it expired. If this is the case, and you're using the SDK, make sure you call getAccessToken() every time you need to use the access token. If you're not using the SDK, make sure you refresh the access token with the refresh endpoint.");
    with_details(
        known("ACCESS_TOKEN_EXPIRED", UNAUTHORIZED, message),
        json!({
            "expired_at_millis": t.expired_at.map(|at| at.timestamp_millis()),
            "project_id": t.project_id,
            "user_id": t.user_id,
            "refresh_token_id": t.refresh_token_id,
        }),
    )
}

/// `INVALID_PROJECT_FOR_ACCESS_TOKEN`.
pub fn invalid_project_for_access_token(expected: &str, actual: &str) -> KnownError {
    with_details(
        known(
            "INVALID_PROJECT_FOR_ACCESS_TOKEN",
            UNAUTHORIZED,
            format!(
                "Access token not valid for this project. Expected project ID {}, but the token is for project ID {}.",
                quoted(expected),
                quoted(actual)
            ),
        ),
        json!({ "expected_project_id": expected, "actual_project_id": actual }),
    )
}

/// `REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED`.
pub fn refresh_token_not_found_or_expired() -> KnownError {
    known(
        "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED",
        UNAUTHORIZED,
        "Refresh token not found for this project, or the session has expired/been revoked.",
    )
}

/// `CANNOT_DELETE_CURRENT_SESSION`.
pub fn cannot_delete_current_session() -> KnownError {
    known(
        "CANNOT_DELETE_CURRENT_SESSION",
        BAD,
        "Cannot delete the current session.",
    )
}

/// `USER_EMAIL_ALREADY_EXISTS`.
pub fn user_email_already_exists(email: &str, would_work_if_verified: bool) -> KnownError {
    let tail = if would_work_if_verified {
        " but the email is not verified. Please login to your existing account with the method you used to sign up, and then verify your email to sign in with this login method."
    } else {
        "."
    };
    with_details(
        known(
            "USER_EMAIL_ALREADY_EXISTS",
            CONFLICT,
            format!("A user with email {} already exists{tail}", quoted(email)),
        ),
        json!({ "email": email, "would_work_if_email_was_verified": would_work_if_verified }),
    )
}

/// `USER_ID_DOES_NOT_EXIST`.
pub fn user_id_does_not_exist(user_id: &str) -> KnownError {
    with_details(
        known(
            "USER_ID_DOES_NOT_EXIST",
            BAD,
            format!("The given user with the ID {user_id} does not exist."),
        ),
        json!({ "user_id": user_id }),
    )
}

/// `USER_NOT_FOUND`.
pub fn user_not_found() -> KnownError {
    known("USER_NOT_FOUND", NOT_FOUND, "User not found.")
}

/// `ANALYTICS_NOT_ENABLED`: the project has not installed the analytics app.
pub fn analytics_not_enabled() -> KnownError {
    known(
        "ANALYTICS_NOT_ENABLED",
        BAD,
        "Analytics is not enabled for this project.",
    )
}

/// `USER_AUTHENTICATION_REQUIRED`.
pub fn user_authentication_required() -> KnownError {
    known(
        "USER_AUTHENTICATION_REQUIRED",
        UNAUTHORIZED,
        "User authentication required for this endpoint.",
    )
}

/// `RESTRICTED_USER_NOT_ALLOWED`.
pub fn restricted_user_not_allowed(reason: &str) -> KnownError {
    with_details(
        known(
            "RESTRICTED_USER_NOT_ALLOWED",
            FORBIDDEN,
            format!(
                "The user in the access token is in restricted state. Reason: {reason}. Please pass the X-Stack-Allow-Restricted-User header if this is intended."
            ),
        ),
        json!({ "restricted_reason": { "type": reason } }),
    )
}

/// `ANONYMOUS_AUTHENTICATION_NOT_ALLOWED`.
pub fn anonymous_authentication_not_allowed() -> KnownError {
    known(
        "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED",
        UNAUTHORIZED,
        "X-Stack-Access-Token is for an anonymous user, but anonymous users are not enabled. Set the X-Stack-Allow-Anonymous-User header of this request to 'true' to allow anonymous users.",
    )
}

/// `CURRENT_PROJECT_NOT_FOUND`.
pub fn current_project_not_found(project_id: &str) -> KnownError {
    with_details(
        known(
            "CURRENT_PROJECT_NOT_FOUND",
            BAD,
            format!(
                "The current project with ID {project_id} was not found. Please check the value of the x-stack-project-id header."
            ),
        ),
        json!({ "project_id": project_id }),
    )
}

/// `PROJECT_NOT_FOUND`.
pub fn project_not_found(project_id: &str) -> KnownError {
    with_details(
        known(
            "PROJECT_NOT_FOUND",
            NOT_FOUND,
            format!("Project {project_id} not found or is not accessible with the current user."),
        ),
        json!({ "project_id": project_id }),
    )
}

/// `BRANCH_DOES_NOT_EXIST`.
pub fn branch_does_not_exist(branch_id: &str) -> KnownError {
    with_details(
        known(
            "BRANCH_DOES_NOT_EXIST",
            BAD,
            format!("The branch with ID {branch_id} does not exist."),
        ),
        json!({ "branch_id": branch_id }),
    )
}

/// `SIGN_UP_NOT_ENABLED`.
pub fn sign_up_not_enabled() -> KnownError {
    known(
        "SIGN_UP_NOT_ENABLED",
        BAD,
        "Creation of new accounts is not enabled for this project. Please ask the project owner to enable it.",
    )
}

/// `PASSWORD_AUTHENTICATION_NOT_ENABLED`.
pub fn password_authentication_not_enabled() -> KnownError {
    known(
        "PASSWORD_AUTHENTICATION_NOT_ENABLED",
        BAD,
        "Password authentication is not enabled for this project.",
    )
}

/// `EMAIL_PASSWORD_MISMATCH`.
pub fn email_password_mismatch() -> KnownError {
    known("EMAIL_PASSWORD_MISMATCH", BAD, "Wrong e-mail or password.")
}

/// `REDIRECT_URL_NOT_WHITELISTED`.
pub fn redirect_url_not_whitelisted() -> KnownError {
    known(
        "REDIRECT_URL_NOT_WHITELISTED",
        BAD,
        "Redirect URL not whitelisted. Did you forget to add this domain to the trusted domains list on the Stack Auth dashboard?",
    )
}

/// `PASSWORD_TOO_SHORT`.
pub fn password_too_short(min_length: usize) -> KnownError {
    with_details(
        known(
            "PASSWORD_TOO_SHORT",
            BAD,
            format!("Password too short. Minimum length is {min_length}."),
        ),
        json!({ "min_length": min_length }),
    )
}

/// `PASSWORD_TOO_LONG` (its detail key is camelCase in Stack Auth).
pub fn password_too_long(max_length: usize) -> KnownError {
    with_details(
        known(
            "PASSWORD_TOO_LONG",
            BAD,
            format!("Password too long. Maximum length is {max_length}."),
        ),
        json!({ "maxLength": max_length }),
    )
}

/// `USER_DOES_NOT_HAVE_PASSWORD`.
pub fn user_does_not_have_password() -> KnownError {
    known(
        "USER_DOES_NOT_HAVE_PASSWORD",
        BAD,
        "This user does not have password authentication enabled.",
    )
}

/// `PASSWORD_CONFIRMATION_MISMATCH`.
pub fn password_confirmation_mismatch() -> KnownError {
    known(
        "PASSWORD_CONFIRMATION_MISMATCH",
        BAD,
        "Passwords do not match.",
    )
}

/// `TEAM_MEMBERSHIP_NOT_FOUND`.
pub fn team_membership_not_found(team_id: &str, user_id: &str) -> KnownError {
    with_details(
        known(
            "TEAM_MEMBERSHIP_NOT_FOUND",
            NOT_FOUND,
            format!("User {user_id} is not found in team {team_id}."),
        ),
        json!({ "team_id": team_id, "user_id": user_id }),
    )
}

/// `TEAM_NOT_FOUND`.
pub fn team_not_found(team_id: &str) -> KnownError {
    with_details(
        known(
            "TEAM_NOT_FOUND",
            NOT_FOUND,
            format!("Team {team_id} not found."),
        ),
        json!({ "team_id": team_id }),
    )
}

/// `INVALID_OAUTH_CLIENT_ID_OR_SECRET` (the token route reports no client id).
pub fn invalid_oauth_client_id_or_secret() -> KnownError {
    with_details(
        known(
            "INVALID_OAUTH_CLIENT_ID_OR_SECRET",
            BAD,
            "The OAuth client ID or secret is invalid. The client ID must be equal to the project ID (potentially with a hash and a branch ID), and the client secret must be a publishable client key.",
        ),
        json!({ "client_id": null }),
    )
}

/// `INVALID_AUTHORIZATION_CODE`.
pub fn invalid_authorization_code() -> KnownError {
    known(
        "INVALID_AUTHORIZATION_CODE",
        BAD,
        "The given authorization code is invalid.",
    )
}

/// `MULTI_FACTOR_AUTHENTICATION_REQUIRED`.
pub fn multi_factor_authentication_required(attempt_code: &str) -> KnownError {
    with_details(
        known(
            "MULTI_FACTOR_AUTHENTICATION_REQUIRED",
            BAD,
            "Multi-factor authentication is required for this user.",
        ),
        json!({ "attempt_code": attempt_code }),
    )
}

/// `VERIFICATION_CODE_NOT_FOUND`.
pub fn verification_code_not_found() -> KnownError {
    known(
        "VERIFICATION_CODE_NOT_FOUND",
        NOT_FOUND,
        "The verification code does not exist for this project.",
    )
}

/// `VERIFICATION_CODE_EXPIRED`.
pub fn verification_code_expired() -> KnownError {
    known(
        "VERIFICATION_CODE_EXPIRED",
        BAD,
        "The verification code has expired.",
    )
}

/// `VERIFICATION_CODE_ALREADY_USED`.
pub fn verification_code_already_used() -> KnownError {
    known(
        "VERIFICATION_CODE_ALREADY_USED",
        CONFLICT,
        "The verification link has already been used.",
    )
}

/// `VERIFICATION_CODE_MAX_ATTEMPTS_REACHED`.
pub fn verification_code_max_attempts_reached() -> KnownError {
    known(
        "VERIFICATION_CODE_MAX_ATTEMPTS_REACHED",
        BAD,
        "The verification code nonce has reached the maximum number of attempts. This code is not valid anymore.",
    )
}

/// `EMAIL_ALREADY_VERIFIED`.
pub fn email_already_verified() -> KnownError {
    known(
        "EMAIL_ALREADY_VERIFIED",
        CONFLICT,
        "The e-mail is already verified.",
    )
}

/// `EMAIL_IS_NOT_PRIMARY_EMAIL`.
pub fn email_is_not_primary_email(email: &str, primary_email: Option<&str>) -> KnownError {
    with_details(
        known(
            "EMAIL_IS_NOT_PRIMARY_EMAIL",
            BAD,
            format!(
                "The given e-mail ({email}) must equal the user's primary e-mail ({}).",
                primary_email.unwrap_or("null")
            ),
        ),
        json!({ "email": email, "primary_email": primary_email }),
    )
}

/// `CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE`.
pub fn contact_channel_already_used_for_auth_by_someone_else(
    kind: &str,
    value: Option<&str>,
) -> KnownError {
    let shown = value.map(|v| format!("\"({v})\"")).unwrap_or_default();
    with_details(
        known(
            "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE",
            CONFLICT,
            format!("This {kind} {shown} is already used for authentication by another account."),
        ),
        json!({
            "type": kind,
            "contact_channel_value": value,
            "would_work_if_email_was_verified": false,
        }),
    )
}

/// ISO-8601 with milliseconds and `Z`, as JavaScript's `toISOString`.
fn iso(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insufficient_access_type_lists_the_allowed_types() {
        let e = insufficient_access_type("client", &["server", "admin"]);
        assert_eq!(e.status, UNAUTHORIZED);
        assert_eq!(
            e.message,
            "The x-stack-access-type header must be 'server' or 'admin', but was 'client'."
        );
        assert_eq!(
            e.details,
            Some(
                json!({"actual_access_type": "client", "allowed_access_types": ["server", "admin"]})
            )
        );
    }

    #[test]
    fn key_errors_quote_the_project_id() {
        assert_eq!(
            invalid_publishable_client_key("internal").message,
            "The publishable key is not valid for the project \"internal\". Does the project and/or the key exist?"
        );
    }

    #[test]
    fn schema_errors_repeat_the_message_in_details() {
        let line = RequestLine {
            method: "GET".into(),
            path: "/api/v1".into(),
        };
        let e = schema_error(&line, &["query contains unknown properties: extra".into()]);
        let expected = "Request validation failed on GET /api/v1:\n  - query contains unknown properties: extra";
        assert_eq!(e.message, expected);
        assert_eq!(e.details, Some(json!({ "message": expected })));
    }

    #[test]
    fn expired_token_message_names_what_it_knows() {
        let at = DateTime::from_timestamp(1_738_374_988, 0).unwrap_or_default();
        let e = access_token_expired(&ExpiredToken {
            expired_at: Some(at),
            project_id: Some("internal"),
            user_id: None,
            refresh_token_id: None,
        });
        assert!(e.message.starts_with(
            "Access token has expired. Please refresh it and try again. (The access token expired at 2025-02-01T01:56:28.000Z.) Project ID: internal.\n\nDebug info:"
        ));
    }
}
