//! Access tokens and the JWKS (spec §1.6, §2.2): the exact claim set, issuer
//! and audience per user class, lifetime, key ids, and a signature check
//! against the published keys with an independent ES256 implementation.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::{Value, json};

use crate::helpers::{TOKEN_TTL, TestApp, claims, jwt_part, keys, sorted};

const CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "iat",
    "exp",
    "project_id",
    "branch_id",
    "refresh_token_id",
    "role",
    "name",
    "email",
    "email_verified",
    "selected_team_id",
    "signed_up_at",
    "is_anonymous",
    "is_restricted",
    "restricted_reason",
    "requires_totp_mfa",
];

async fn jwks(app: &TestApp, query: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/projects/internal/.well-known/jwks.json{query}"))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    assert_eq!(keys(&r.body), sorted(&["keys"]));
    r.body["keys"].as_array().unwrap().clone()
}

fn kids(keys: &[Value]) -> Vec<String> {
    keys.iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether `token` carries a valid ES256 signature by the JWK with its `kid`.
fn signed_by(token: &str, jwks: &[Value]) -> bool {
    let header = jwt_part(token, 0);
    let Some(jwk) = jwks.iter().find(|k| k["kid"] == header["kid"]) else {
        return false;
    };
    let coordinate = |name: &str| B64.decode(jwk[name].as_str().unwrap()).unwrap();
    let (x, y) = (coordinate("x"), coordinate("y"));
    assert_eq!((x.len(), y.len()), (32, 32), "P-256 coordinates: {jwk}");
    let point = p256::EncodedPoint::from_affine_coordinates(
        p256::FieldBytes::from_slice(&x),
        p256::FieldBytes::from_slice(&y),
        false,
    );
    let key = VerifyingKey::from_encoded_point(&point).expect("the JWK is a P-256 point");
    let (input, signature) = token.rsplit_once('.').unwrap();
    let Ok(signature) = Signature::from_slice(&B64.decode(signature).unwrap()) else {
        return false;
    };
    key.verify(input.as_bytes(), &signature).is_ok()
}

#[tokio::test]
async fn a_sign_up_token_carries_exactly_the_documented_claims() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let before = chrono::Utc::now().timestamp();
    let s = app.sign_up(&email, "password123").await;
    let after = chrono::Utc::now().timestamp();

    let header = jwt_part(&s.access, 0);
    assert_eq!(keys(&header), sorted(&["alg", "kid"]));
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"].as_str().unwrap().len(), 12);

    let c = claims(&s.access);
    assert_eq!(keys(&c), sorted(CLAIMS), "claims: {c}");
    let me = app.get("/users/me").server().user(&s).send().await;
    me.assert_status(200);
    let sessions = app
        .get("/auth/sessions?user_id=me")
        .client()
        .user(&s)
        .send()
        .await;
    let session_id = sessions.body["items"][0]["id"].clone();
    assert_eq!(c["sub"], s.user_id.as_str());
    assert_eq!(c["iss"], "http://localhost:8102/api/v1/projects/internal");
    assert_eq!(c["aud"], "internal");
    assert_eq!(c["project_id"], "internal");
    assert_eq!(c["branch_id"], "main");
    assert_eq!(c["refresh_token_id"], session_id);
    assert_eq!(c["role"], "authenticated");
    assert_eq!(c["name"], json!(null));
    assert_eq!(c["email"], email.as_str());
    assert_eq!(c["email_verified"], false);
    assert_eq!(c["selected_team_id"], me.body["selected_team_id"]);
    assert!(c["selected_team_id"].is_string());
    assert_eq!(
        c["signed_up_at"].as_i64().unwrap(),
        me.body["signed_up_at_millis"].as_i64().unwrap() / 1000
    );
    assert_eq!(c["is_anonymous"], false);
    assert_eq!(c["is_restricted"], false);
    assert_eq!(c["restricted_reason"], json!(null));
    assert_eq!(c["requires_totp_mfa"], false);
    let iat = c["iat"].as_i64().unwrap();
    assert!(
        (before..=after).contains(&iat),
        "iat {iat} not in [{before}, {after}]"
    );
    assert_eq!(
        c["exp"].as_i64().unwrap() - iat,
        i64::try_from(TOKEN_TTL.as_secs()).unwrap()
    );
}

#[tokio::test]
async fn claims_follow_the_user_on_refresh() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "password123").await;
    app.patch("/users/me")
        .server()
        .user(&s)
        .json(json!({ "display_name": "Ada", "primary_email_verified": true }))
        .send()
        .await
        .assert_status(200);
    let r = app
        .post("/auth/sessions/current/refresh")
        .client()
        .header("x-stack-refresh-token", &s.refresh)
        .send()
        .await;
    r.assert_status(200);
    let c = claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(c["name"], "Ada");
    assert_eq!(c["email_verified"], true);
    assert_eq!(keys(&c), sorted(CLAIMS));
}

#[tokio::test]
async fn anonymous_tokens_have_their_own_audience_and_issuer() {
    let app = TestApp::spawn().await;
    let r = app.post("/auth/anonymous/sign-up").client().send().await;
    r.assert_status(200);
    assert_eq!(
        keys(&r.body),
        sorted(&["access_token", "refresh_token", "user_id"])
    );
    let token = r.body["access_token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(keys(&c), sorted(CLAIMS));
    assert_eq!(c["aud"], "internal:anon");
    assert_eq!(
        c["iss"],
        "http://localhost:8102/api/v1/projects-anonymous-users/internal"
    );
    assert_eq!(c["project_id"], "internal");
    assert_eq!(c["sub"], r.body["user_id"]);
    assert_eq!(c["is_anonymous"], true);
    assert_eq!(c["is_restricted"], true);
    assert_eq!(c["restricted_reason"], json!({ "type": "anonymous" }));
    assert_eq!(c["email"], json!(null));

    // Signed by one of the anonymous audience's keys, not by a normal key.
    let all = jwks(&app, "?include_anonymous=true").await;
    let normal = jwks(&app, "").await;
    assert!(signed_by(token, &all));
    assert!(!signed_by(token, &normal));
}

#[tokio::test]
async fn restricted_tokens_have_their_own_audience_and_issuer() {
    let app = TestApp::spawn().await;
    let user = app
        .create_user(json!({ "restricted_by_admin": true, "restricted_by_admin_reason": "spam" }))
        .await;
    let s = app.session_for(user["id"].as_str().unwrap()).await;
    let c = claims(&s.access);
    assert_eq!(keys(&c), sorted(CLAIMS));
    assert_eq!(c["aud"], "internal:restricted");
    assert_eq!(
        c["iss"],
        "http://localhost:8102/api/v1/projects-restricted-users/internal"
    );
    assert_eq!(c["is_anonymous"], false);
    assert_eq!(c["is_restricted"], true);
    assert_eq!(
        c["restricted_reason"],
        json!({ "type": "restricted_by_administrator" })
    );
    let restricted = jwks(&app, "?include_restricted=true").await;
    assert!(signed_by(&s.access, &restricted));
    assert!(!signed_by(&s.access, &jwks(&app, "").await));
}

#[tokio::test]
async fn the_jwks_lists_two_keys_per_audience_class() {
    let app = TestApp::spawn().await;
    let normal = jwks(&app, "").await;
    let restricted = jwks(&app, "?include_restricted=true").await;
    let anonymous = jwks(&app, "?include_anonymous=true").await;
    let both = jwks(&app, "?include_restricted=true&include_anonymous=true").await;
    let explicit_false = jwks(&app, "?include_restricted=false&include_anonymous=false").await;
    for (set, n) in [
        (&normal, 2),
        (&restricted, 4),
        (&anonymous, 6),
        (&both, 6),
        (&explicit_false, 2),
    ] {
        let mut k = kids(set);
        assert_eq!(k.len(), n);
        k.sort();
        k.dedup();
        assert_eq!(k.len(), n, "key ids must be distinct: {set:?}");
        for key in set.iter() {
            assert_eq!(keys(key), sorted(&["kty", "alg", "crv", "kid", "x", "y"]));
            assert_eq!(key["kty"], "EC");
            assert_eq!(key["alg"], "ES256");
            assert_eq!(key["crv"], "P-256");
            assert_eq!(key["kid"].as_str().unwrap().len(), 12);
        }
    }
    // Each larger set extends the smaller one.
    for kid in kids(&normal) {
        assert!(kids(&restricted).contains(&kid));
    }
    for kid in kids(&restricted) {
        assert!(kids(&anonymous).contains(&kid));
    }
    // The same keys on every call.
    assert_eq!(kids(&jwks(&app, "").await), kids(&normal));
}

#[tokio::test]
async fn a_token_verifies_against_the_jwks_and_a_changed_one_does_not() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "password123").await;
    let published = jwks(&app, "").await;
    assert!(kids(&published).contains(&jwt_part(&s.access, 0)["kid"].as_str().unwrap().to_owned()));
    assert!(
        signed_by(&s.access, &published),
        "signature does not verify"
    );
    // Another payload under the same signature.
    let parts: Vec<&str> = s.access.split('.').collect();
    let mut c = claims(&s.access);
    c["sub"] = json!("00000000-0000-4000-8000-000000000000");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(serde_json::to_vec(&c).unwrap()),
        parts[2]
    );
    assert!(!signed_by(&forged, &published));
    let r = app
        .get("/users/me")
        .client()
        .header("x-stack-access-token", &forged)
        .send()
        .await;
    r.assert_known(401, "UNPARSABLE_ACCESS_TOKEN");
}

#[tokio::test]
async fn the_jwks_of_an_unknown_project_is_a_plain_404() {
    let app = TestApp::spawn().await;
    let r = app
        .get("/projects/no-such-project/.well-known/jwks.json")
        .send()
        .await;
    r.assert_plain(404, "Project not found");
}

#[tokio::test]
async fn the_jwks_query_is_validated() {
    let app = TestApp::spawn().await;
    let path = "/api/v1/projects/internal/.well-known/jwks.json";
    let r = app
        .get("/projects/internal/.well-known/jwks.json?foo=1")
        .send()
        .await;
    r.assert_schema_error("GET", path, &["query contains unknown properties: foo"]);
    let r = app
        .get("/projects/internal/.well-known/jwks.json?include_anonymous=yes")
        .send()
        .await;
    r.assert_known(400, "SCHEMA_ERROR");
}

#[tokio::test]
async fn two_sign_ups_yield_different_users_and_tokens() {
    let app = TestApp::spawn().await;
    let a = app.sign_up(&app.email(), "password123").await;
    let b = app.sign_up(&app.email(), "password123").await;
    assert_ne!(a.user_id, b.user_id);
    assert_ne!(a.refresh, b.refresh);
    assert_ne!(a.access, b.access);
    assert_ne!(
        claims(&a.access)["refresh_token_id"],
        claims(&b.access)["refresh_token_id"]
    );
    for token in [&a.refresh, &b.refresh] {
        assert_eq!(token.len(), 45, "refresh token {token}");
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()),
            "refresh token {token}"
        );
    }
}

#[tokio::test]
async fn a_project_has_its_own_audience_and_keys() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up(&app.email(), "password123").await;
    let project = app.create_project(&owner, json!({})).await;
    let id = project["id"].as_str().unwrap();
    let r = app
        .post("/auth/password/sign-up")
        .admin_token("client", id, &owner.access)
        .json(json!({ "email": app.email(), "password": "password123" }))
        .send()
        .await;
    r.assert_status(200);
    let token = r.body["access_token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(c["aud"], id);
    assert_eq!(c["project_id"], id);
    assert_eq!(
        c["iss"],
        format!("http://localhost:8102/api/v1/projects/{id}")
    );
    let r = app
        .get(&format!("/projects/{id}/.well-known/jwks.json"))
        .send()
        .await;
    r.assert_status(200);
    let project_keys = r.body["keys"].as_array().unwrap().clone();
    assert!(signed_by(token, &project_keys));
    assert!(!signed_by(token, &jwks(&app, "").await));
}
