//! The user object as the API shows it, in its client and server shapes.

use serde_json::{Value, json};

use crate::db::projects::ProjectConfig;
use crate::db::users::{TeamRecord, UserRecord};

/// Which shape of an object to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// What a browser may see.
    Client,
    /// What a trusted backend may see.
    Server,
}

/// Why a user is restricted, if they are (first match wins, as in Stack Auth).
pub fn restriction(user: &UserRecord, config: &ProjectConfig) -> Option<&'static str> {
    if user.is_anonymous {
        Some("anonymous")
    } else if config.require_email_verification && !user.primary_email_verified.unwrap_or(false) {
        Some("email_not_verified")
    } else if user.restricted_by_admin {
        Some("restricted_by_administrator")
    } else {
        None
    }
}

fn json_or_null(v: &Option<sqlx::types::Json<Value>>) -> Value {
    v.as_ref().map(|j| j.0.clone()).unwrap_or(Value::Null)
}

/// Renders a team in the given shape.
pub fn team_json(team: &TeamRecord, view: View) -> Value {
    let mut obj = json!({
        "id": team.id,
        "display_name": team.display_name,
        "profile_image_url": team.profile_image_url,
        "client_metadata": team.client_metadata,
        "client_read_only_metadata": team.client_read_only_metadata,
    });
    if view == View::Server {
        obj["created_at_millis"] = json!(team.created_at.timestamp_millis());
        obj["server_metadata"] = json!(team.server_metadata);
    }
    obj
}

/// Renders a user in the given shape.
pub fn user_json(user: &UserRecord, config: &ProjectConfig, view: View) -> Value {
    let restricted = restriction(user, config);
    let mut obj = json!({
        "id": user.id,
        "primary_email": user.primary_email,
        "primary_email_verified": user.primary_email_verified.unwrap_or(false),
        "display_name": user.display_name,
        "client_metadata": json_or_null(&user.client_metadata),
        "client_read_only_metadata": json_or_null(&user.client_read_only_metadata),
        "profile_image_url": user.profile_image_url,
        "signed_up_at_millis": user.signed_up_at.timestamp_millis(),
        "has_password": user.has_password,
        "auth_with_email": user.has_password || user.otp_auth_enabled,
        "oauth_providers": user.oauth_providers.0.clone(),
        "selected_team_id": user.team_id,
        "selected_team": user.selected_team().map(|t| team_json(&t, view)),
        "requires_totp_mfa": user.requires_totp_mfa,
        "otp_auth_enabled": user.otp_auth_enabled,
        "passkey_auth_enabled": user.passkey_auth_enabled,
        "is_anonymous": user.is_anonymous,
        "is_restricted": restricted.is_some(),
        "restricted_reason": restricted.map(|r| json!({ "type": r })),
        "restricted_by_admin": user.restricted_by_admin,
        "restricted_by_admin_reason": user.restricted_by_admin_reason,
    });
    if view == View::Server {
        obj["primary_email_auth_enabled"] = json!(user.primary_email_auth_enabled.unwrap_or(false));
        obj["server_metadata"] = json_or_null(&user.server_metadata);
        obj["last_active_at_millis"] = json!(user.last_active_at.timestamp_millis());
        obj["restricted_by_admin_private_details"] =
            json!(user.restricted_by_admin_private_details);
        obj["country_code"] = json!(user.country_code);
        obj["risk_scores"] = json!({
            "sign_up": {
                "bot": user.risk_score_bot,
                "free_trial_abuse": user.risk_score_free_trial_abuse,
            }
        });
    }
    obj
}
