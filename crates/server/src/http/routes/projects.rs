//! `GET /projects/current` and the project JSON shapes.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::auth::ANY;
use crate::db::projects::Project;
use crate::error::ApiError;
use crate::http::{Req, json};
use crate::validate::Fields;

/// The client view of a project.
pub fn client_json(p: &Project) -> Value {
    let c = &p.config;
    let mut providers: Vec<Value> = c
        .oauth_providers
        .iter()
        .map(|o| json!({ "id": o.id }))
        .collect();
    providers.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let mut domains: Vec<Value> = c
        .domains
        .iter()
        .map(|d| json!({ "domain": d.domain, "handler_path": d.handler_path }))
        .collect();
    domains.sort_by(|a, b| a["domain"].as_str().cmp(&b["domain"].as_str()));
    json!({
        "id": p.id,
        "display_name": p.display_name,
        "config": {
            "sign_up_enabled": c.sign_up_enabled,
            "credential_enabled": c.credential_enabled,
            "magic_link_enabled": c.magic_link_enabled,
            "passkey_enabled": c.passkey_enabled,
            "client_team_creation_enabled": c.client_team_creation_enabled,
            "client_user_deletion_enabled": c.client_user_deletion_enabled,
            "allow_user_api_keys": c.allow_user_api_keys,
            "allow_team_api_keys": c.allow_team_api_keys,
            "enabled_oauth_providers": providers,
            "domains": domains,
        }
    })
}

/// The admin view of a project.
pub fn admin_json(p: &Project) -> Value {
    let mut v = client_json(p);
    let c = &p.config;
    v["description"] = json!(p.description);
    v["created_at_millis"] = json!(p.created_at.timestamp_millis());
    v["is_production_mode"] = json!(p.is_production_mode);
    v["owner_team_id"] = json!(p.owner_team_id);
    v["onboarding_status"] = json!("completed");
    for logo in [
        "logo_url",
        "logo_full_url",
        "logo_dark_mode_url",
        "logo_full_dark_mode_url",
    ] {
        v[logo] = Value::Null;
    }
    let config = &mut v["config"];
    config["allow_localhost"] = json!(c.allow_localhost);
    config["create_team_on_sign_up"] = json!(c.create_team_on_sign_up);
    config["oauth_account_merge_strategy"] = json!(c.oauth_account_merge_strategy);
    config["team_creator_default_permissions"] = json!(c.team_creator_default_permissions);
    config["team_member_default_permissions"] = json!(c.team_member_default_permissions);
    config["user_default_permissions"] = json!(c.user_default_permissions);
    config["oauth_providers"] = json!(
        c.oauth_providers
            .iter()
            .map(|o| json!({
                "provider_config_id": o.id,
                "id": o.id,
                "type": o.kind,
                "client_id": o.client_id,
                "client_secret": o.client_secret,
            }))
            .collect::<Vec<_>>()
    );
    config["email_config"] = json!({ "type": "shared" });
    v
}

/// Handles `GET /projects/current`.
///
/// # Errors
/// Authentication and query errors.
pub async fn current(req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    Fields::query(&req.query).finish(&req.line)?;
    Ok(json(StatusCode::OK, &client_json(&auth.project)))
}
