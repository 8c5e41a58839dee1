//! The OpenID Provider metadata (OpenID Connect Discovery 1.0) and the JWKS.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::MockOAuth;

/// `GET /.well-known/openid-configuration`.
pub(super) async fn configuration(State(mock): State<MockOAuth>) -> Json<Value> {
    let issuer = mock.issuer();
    let client_auth = ["client_secret_basic", "client_secret_post"];
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/me"),
        "jwks_uri": format!("{issuer}/jwks"),
        "revocation_endpoint": format!("{issuer}/token/revocation"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "scopes_supported": ["openid", "email", "profile", "offline_access"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "nonce",
            "email", "email_verified", "name", "picture"
        ],
        "token_endpoint_auth_methods_supported": client_auth,
        "revocation_endpoint_auth_methods_supported": client_auth,
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    }))
}

/// `GET /jwks`.
pub(super) async fn jwks(State(mock): State<MockOAuth>) -> Json<Value> {
    Json(json!({ "keys": [mock.key().jwk()] }))
}
