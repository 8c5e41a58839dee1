//! The known errors of OAuth sign-in and connected accounts.

use serde_json::json;

use super::{BAD, CONFLICT, known, with_details};
use crate::error::KnownError;

/// `INVALID_OAUTH_CLIENT_ID_OR_SECRET`, naming the client id that was given.
pub fn invalid_oauth_client(client_id: &str) -> KnownError {
    with_details(
        known(
            "INVALID_OAUTH_CLIENT_ID_OR_SECRET",
            BAD,
            "The OAuth client ID or secret is invalid. The client ID must be equal to the project ID (potentially with a hash and a branch ID), and the client secret must be a publishable client key.",
        ),
        json!({ "client_id": client_id }),
    )
}

/// `OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED`.
pub fn oauth_provider_not_found_or_not_enabled() -> KnownError {
    known(
        "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED",
        BAD,
        "The OAuth provider is not found or not enabled.",
    )
}

/// `OAUTH_EXTRA_SCOPE_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS`.
pub fn oauth_extra_scope_not_available_with_shared_keys() -> KnownError {
    known(
        "OAUTH_EXTRA_SCOPE_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS",
        BAD,
        "Extra scopes are not available with shared OAuth keys. Please add your own OAuth keys on the Stack dashboard to use extra scopes.",
    )
}

/// `OUTER_OAUTH_TIMEOUT`: the sign-in took longer than its ten minutes.
pub fn outer_oauth_timeout() -> KnownError {
    known(
        "OUTER_OAUTH_TIMEOUT",
        408,
        "The OAuth flow has timed out. Please sign in again.",
    )
}

/// `OAUTH_CONNECTION_ALREADY_CONNECTED_TO_ANOTHER_USER`.
pub fn oauth_connection_already_connected_to_another_user() -> KnownError {
    known(
        "OAUTH_CONNECTION_ALREADY_CONNECTED_TO_ANOTHER_USER",
        CONFLICT,
        "The OAuth connection is already connected to another user.",
    )
}

/// `OAUTH_CONNECTION_NOT_CONNECTED_TO_USER`.
pub fn oauth_connection_not_connected_to_user() -> KnownError {
    known(
        "OAUTH_CONNECTION_NOT_CONNECTED_TO_USER",
        BAD,
        "The OAuth connection is not connected to any user.",
    )
}

/// `OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE`.
pub fn oauth_connection_does_not_have_required_scope() -> KnownError {
    known(
        "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE",
        BAD,
        "The OAuth connection does not have the required scope.",
    )
}

/// `OAUTH_ACCESS_TOKEN_NOT_AVAILABLE`: the provider would not give a token.
pub fn oauth_access_token_not_available(provider: &str, details: &str) -> KnownError {
    with_details(
        known(
            "OAUTH_ACCESS_TOKEN_NOT_AVAILABLE",
            BAD,
            format!(
                "Failed to retrieve an OAuth access token for the connected account (provider: {provider}). {details}"
            ),
        ),
        json!({ "provider": provider, "details": details }),
    )
}

/// `OAUTH_PROVIDER_ACCESS_DENIED`: the user declined at the provider.
pub fn oauth_provider_access_denied() -> KnownError {
    known(
        "OAUTH_PROVIDER_ACCESS_DENIED",
        BAD,
        "The OAuth provider denied access to the user.",
    )
}

/// `OAUTH_PROVIDER_TEMPORARILY_UNAVAILABLE`: the provider did not answer.
pub fn oauth_provider_temporarily_unavailable() -> KnownError {
    known(
        "OAUTH_PROVIDER_TEMPORARILY_UNAVAILABLE",
        503,
        "The OAuth provider is temporarily unavailable. Please try signing in again.",
    )
}

/// `OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN`.
pub fn oauth_provider_account_id_already_used_for_sign_in() -> KnownError {
    known(
        "OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN",
        BAD,
        "A provider with the same account ID is already used for signing in.",
    )
}

/// `INVALID_SCOPE`: an OAuth scope Stack Auth does not know (only `legacy` is).
pub fn invalid_scope(scope: &str) -> KnownError {
    with_details(
        known(
            "INVALID_SCOPE",
            BAD,
            format!("The scope \"{scope}\" is not a valid OAuth scope for Stack."),
        ),
        json!({ "scope": scope }),
    )
}

/// `CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE` for an OAuth
/// sign-up whose email another user signs in with; `would_work_if_verified`
/// when linking would have been allowed had that user verified it.
pub fn email_used_by_someone_else(email: &str, would_work_if_verified: bool) -> KnownError {
    let tail = if would_work_if_verified {
        " but the email is not verified. Please login to your existing account with the method you used to sign up, and then verify your email to sign in with this login method."
    } else {
        "."
    };
    with_details(
        known(
            "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE",
            CONFLICT,
            format!(
                "This email \"({email})\" is already used for authentication by another account{tail}"
            ),
        ),
        json!({
            "type": "email",
            "contact_channel_value": email,
            "would_work_if_email_was_verified": would_work_if_verified,
        }),
    )
}

/// `APPLE_BUNDLE_ID_NOT_CONFIGURED`: native Apple sign-in without a Bundle ID.
pub fn apple_bundle_id_not_configured() -> KnownError {
    known(
        "APPLE_BUNDLE_ID_NOT_CONFIGURED",
        BAD,
        "Apple Sign In is enabled, but no Bundle IDs are configured. Please add your app's Bundle ID in the Stack Auth dashboard under OAuth Providers > Apple > Apple Bundle IDs.",
    )
}

/// `INVALID_APPLE_CREDENTIALS`: an Apple identity token that cannot be verified.
pub fn invalid_apple_credentials() -> KnownError {
    known(
        "INVALID_APPLE_CREDENTIALS",
        BAD,
        "The Apple Sign In credentials could not be verified. Please try signing in again.",
    )
}
