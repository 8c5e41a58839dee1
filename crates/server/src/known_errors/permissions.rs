//! The known errors of teams and permissions.

use serde_json::json;

use super::{BAD, FORBIDDEN, NOT_FOUND, UNAUTHORIZED, known, quoted, with_details};
use crate::error::KnownError;

/// `TEAM_PERMISSION_REQUIRED`: the user lacks a permission a route needs.
pub fn team_permission_required(team_id: &str, user_id: &str, permission_id: &str) -> KnownError {
    with_details(
        known(
            "TEAM_PERMISSION_REQUIRED",
            UNAUTHORIZED,
            format!("User {user_id} does not have permission {permission_id} in team {team_id}."),
        ),
        json!({ "team_id": team_id, "user_id": user_id, "permission_id": permission_id }),
    )
}

/// `TEAM_PERMISSION_NOT_FOUND`: a revoke of a permission not directly granted.
pub fn team_permission_not_found(team_id: &str, user_id: &str, permission_id: &str) -> KnownError {
    with_details(
        known(
            "TEAM_PERMISSION_NOT_FOUND",
            UNAUTHORIZED,
            format!("User {user_id} does not have permission {permission_id} in team {team_id}."),
        ),
        json!({ "team_id": team_id, "user_id": user_id, "permission_id": permission_id }),
    )
}

/// `PERMISSION_NOT_FOUND`: no definition with this id (in any scope).
pub fn permission_not_found(permission_id: &str) -> KnownError {
    with_details(
        known(
            "PERMISSION_NOT_FOUND",
            NOT_FOUND,
            format!(
                "Permission {} not found. Make sure you created it on the dashboard.",
                quoted(permission_id)
            ),
        ),
        json!({ "permission_id": permission_id }),
    )
}

/// `WRONG_PERMISSION_SCOPE`: the definition exists, for the other scope.
pub fn wrong_permission_scope(
    permission_id: &str,
    expected_scope: &str,
    actual_scope: Option<&str>,
) -> KnownError {
    let actual = actual_scope.map_or_else(|| "null".to_owned(), quoted);
    with_details(
        known(
            "WRONG_PERMISSION_SCOPE",
            NOT_FOUND,
            format!(
                "Permission {} not found. (It was found for a different scope {actual}, but scope {} was expected.)",
                quoted(permission_id),
                quoted(expected_scope)
            ),
        ),
        json!({ "permission_id": permission_id, "expected_scope": expected_scope, "actual_scope": actual_scope }),
    )
}

/// `PERMISSION_ID_ALREADY_EXISTS`: a definition with this id exists already,
/// in either scope (team and project definitions share one namespace).
pub fn permission_id_already_exists(permission_id: &str) -> KnownError {
    with_details(
        known(
            "PERMISSION_ID_ALREADY_EXISTS",
            BAD,
            format!(
                "Permission with ID \"{permission_id}\" already exists. Choose a different ID."
            ),
        ),
        json!({ "permission_id": permission_id }),
    )
}

/// `CONTAINED_PERMISSION_NOT_FOUND`: a definition names a permission to
/// contain that its scope does not define.
pub fn contained_permission_not_found(permission_id: &str) -> KnownError {
    with_details(
        known(
            "CONTAINED_PERMISSION_NOT_FOUND",
            BAD,
            format!(
                "Contained permission with ID \"{permission_id}\" not found. Make sure you created it on the dashboard."
            ),
        ),
        json!({ "permission_id": permission_id }),
    )
}

/// `TEAM_MEMBERSHIP_ALREADY_EXISTS`.
pub fn team_membership_already_exists() -> KnownError {
    known(
        "TEAM_MEMBERSHIP_ALREADY_EXISTS",
        super::CONFLICT,
        "Team membership already exists.",
    )
}

/// `TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED`.
pub fn team_invitation_restricted_user_not_allowed(reason: &str) -> KnownError {
    with_details(
        known(
            "TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED",
            FORBIDDEN,
            format!(
                "Restricted users cannot accept team invitations. Reason: {reason}. Please complete the onboarding process before accepting team invitations."
            ),
        ),
        json!({ "restricted_reason": { "type": reason } }),
    )
}
