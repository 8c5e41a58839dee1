//! Users as a server manages them (spec §2.8, §3; facts §7): the server shape,
//! create/read/update/delete, passwords and hashes, sign-in email uniqueness,
//! primary-email semantics, restriction and anonymous upgrades. The client's
//! own view is in `users_me`, listing in `users_list`.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use crate::helpers::{Response, Session, TestApp, claims, keys, sorted};

pub(crate) const CLIENT_FIELDS: &[&str] = &[
    "id",
    "primary_email",
    "primary_email_verified",
    "display_name",
    "client_metadata",
    "client_read_only_metadata",
    "profile_image_url",
    "signed_up_at_millis",
    "has_password",
    "auth_with_email",
    "oauth_providers",
    "selected_team_id",
    "requires_totp_mfa",
    "otp_auth_enabled",
    "passkey_auth_enabled",
    "is_anonymous",
    "is_restricted",
    "restricted_reason",
    "restricted_by_admin",
    "restricted_by_admin_reason",
    "selected_team",
];
const SERVER_ONLY_FIELDS: &[&str] = &[
    "primary_email_auth_enabled",
    "server_metadata",
    "last_active_at_millis",
    "restricted_by_admin_private_details",
    "country_code",
    "risk_scores",
];
pub(crate) const CLIENT_TEAM_FIELDS: &[&str] = &[
    "id",
    "display_name",
    "profile_image_url",
    "client_metadata",
    "client_read_only_metadata",
];
pub(crate) const NO_USER: &str =
    "You have specified 'me' as a userId, but did not provide authentication for a user.";

fn server_fields() -> Vec<String> {
    let mut all: Vec<&str> = CLIENT_FIELDS.to_vec();
    all.extend_from_slice(SERVER_ONLY_FIELDS);
    sorted(&all)
}

fn server_team_fields() -> Vec<String> {
    let mut all: Vec<&str> = CLIENT_TEAM_FIELDS.to_vec();
    all.extend_from_slice(&["created_at_millis", "server_metadata"]);
    sorted(&all)
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn me(app: &TestApp, s: &Session) -> Response {
    let r = app.get("/users/me").client().user(s).send().await;
    r.assert_status(200);
    r
}

async fn patch_user(app: &TestApp, id: &str, body: Value) -> Response {
    app.patch(&format!("/users/{id}"))
        .server()
        .json(body)
        .send()
        .await
}

#[tokio::test]
async fn a_server_reads_the_user_in_exactly_the_server_shape() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "password123").await;
    for r in [
        app.get("/users/me").server().user(&s).send().await,
        app.get("/users/me").admin().user(&s).send().await,
        app.get(&format!("/users/{}", s.user_id))
            .server()
            .send()
            .await,
    ] {
        r.assert_status(200);
        let u = &r.body;
        assert_eq!(keys(u), server_fields(), "{u}");
        assert_eq!(u["primary_email_auth_enabled"], true);
        assert_eq!(u["server_metadata"], json!(null));
        assert_eq!(u["restricted_by_admin_private_details"], json!(null));
        assert_eq!(u["country_code"], json!(null));
        assert!(u["last_active_at_millis"].is_i64());
        assert_eq!(keys(&u["risk_scores"]), sorted(&["sign_up"]));
        assert_eq!(
            keys(&u["risk_scores"]["sign_up"]),
            sorted(&["bot", "free_trial_abuse"])
        );
        for score in ["bot", "free_trial_abuse"] {
            let v = u["risk_scores"]["sign_up"][score].as_i64().unwrap();
            assert!((0..=100).contains(&v), "{score} = {v}");
        }
        assert_eq!(keys(&u["selected_team"]), server_team_fields());
        assert!(u["selected_team"]["created_at_millis"].is_i64());
    }
}

#[tokio::test]
async fn the_server_deletes_a_user_and_with_it_its_sessions() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "password123").await;
    let r = app.delete("/users/me").server().user(&s).send().await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": true }));
    let r = app
        .get(&format!("/users/{}", s.user_id))
        .server()
        .send()
        .await;
    r.assert_error(404, "USER_NOT_FOUND", "User not found.")
        .assert_no_details();
    // The access token still parses but names no user.
    let r = app.get("/users/me").client().user(&s).send().await;
    r.assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    let r = app
        .post("/auth/sessions/current/refresh")
        .client()
        .header("x-stack-refresh-token", &s.refresh)
        .send()
        .await;
    r.assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
}

#[tokio::test]
async fn unknown_user_ids_are_user_not_found() {
    let app = TestApp::spawn().await;
    let path = "/users/0b9f7ad6-5d7e-4f43-9c55-6f7f0a4f2d10";
    for r in [
        app.get(path).server().send().await,
        app.patch(path)
            .server()
            .json(json!({ "display_name": "x" }))
            .send()
            .await,
        app.delete(path).server().send().await,
    ] {
        r.assert_error(404, "USER_NOT_FOUND", "User not found.")
            .assert_no_details();
    }
    let r = app.get(path).client().send().await;
    r.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
}

#[tokio::test]
async fn a_server_creates_users_with_201_and_the_server_shape() {
    let app = TestApp::spawn().await;
    let r = app.post("/users").server().json(json!({})).send().await;
    r.assert_status(201);
    let u = &r.body;
    assert_eq!(keys(u), server_fields(), "{u}");
    for (field, value) in [
        ("primary_email", json!(null)),
        ("primary_email_verified", json!(false)),
        ("primary_email_auth_enabled", json!(false)),
        ("auth_with_email", json!(false)),
        ("has_password", json!(false)),
        ("otp_auth_enabled", json!(false)),
        ("is_anonymous", json!(false)),
        ("is_restricted", json!(false)),
        ("server_metadata", json!(null)),
        (
            "risk_scores",
            json!({ "sign_up": { "bot": 0, "free_trial_abuse": 0 } }),
        ),
    ] {
        assert_eq!(u[field], value, "{field}");
    }
    // The internal project gives every new user a personal team, made after
    // Stack Auth builds the create response: only later reads show it.
    assert_eq!(u["selected_team"], json!(null));
    assert_eq!(u["selected_team_id"], json!(null));
    let team_name = |id: &Value| {
        let path = format!("/users/{}", id.as_str().unwrap());
        let app = &app;
        async move {
            let r = app.get(&path).server().send().await;
            r.assert_status(200);
            r.body["selected_team"]["display_name"].clone()
        }
    };
    assert_eq!(team_name(&u["id"]).await, "Personal Team");
    let email = app.email();
    let named = app.create_user(json!({ "display_name": "Ada" })).await;
    assert_eq!(team_name(&named["id"]).await, "Ada's Team");
    let mailed = app.create_user(json!({ "primary_email": email })).await;
    assert_eq!(team_name(&mailed["id"]).await, format!("{email}'s Team"));
    assert_eq!(mailed["primary_email_auth_enabled"], false);

    let r = app.post("/users").client().json(json!({})).send().await;
    r.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    let r = app
        .post("/users")
        .server()
        .json(json!({ "nickname": "x" }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/users",
        &["body contains unknown properties: nickname"],
    );
}

#[tokio::test]
async fn a_user_created_with_a_password_or_a_bcrypt_hash_can_sign_in() {
    let app = TestApp::spawn().await;
    let sign_in = |email: String, password: &'static str| {
        app.post("/auth/password/sign-in")
            .client()
            .json(json!({ "email": email, "password": password }))
            .send()
    };
    let email = app.email();
    let u = app
        .create_user(json!({
            "primary_email": email,
            "primary_email_auth_enabled": true,
            "password": "password123",
        }))
        .await;
    assert_eq!(u["has_password"], true);
    assert_eq!(u["auth_with_email"], true);
    let r = sign_in(email, "password123").await;
    r.assert_status(200);
    assert_eq!(r.body["user_id"], u["id"]);

    let hashes = [
        bcrypt::hash("hashed-secret-1", 10).unwrap(),
        bcrypt::hash_with_result("hashed-secret-1", 4)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoA),
        bcrypt::hash_with_result("hashed-secret-1", 4)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY),
    ];
    assert!(hashes[0].starts_with("$2b$10$"));
    for hash in hashes {
        let email = app.email();
        let u = app
            .create_user(json!({
                "primary_email": email,
                "primary_email_auth_enabled": true,
                "password_hash": hash,
            }))
            .await;
        assert_eq!(u["has_password"], true);
        let r = sign_in(email.clone(), "hashed-secret-1").await;
        r.assert_status(200);
        assert_eq!(r.body["user_id"], u["id"], "hash {hash}");
        sign_in(email, "hashed-secret-2")
            .await
            .assert_known(400, "EMAIL_PASSWORD_MISMATCH");
    }
    let r = app
        .post("/users")
        .server()
        .json(json!({ "primary_email": app.email(), "password_hash": "$argon2id$v=19$m=16,t=2,p=1$c2FsdA$aGFzaA" }))
        .send()
        .await;
    r.assert_status(400);
    r.assert_plain_kind();
}

#[tokio::test]
async fn a_password_and_a_password_hash_together_are_refused() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/users")
        .server()
        .json(json!({
            "primary_email": app.email(),
            "password": "password123",
            "password_hash": bcrypt::hash("password123", 4).unwrap(),
        }))
        .send()
        .await;
    r.assert_plain(
        400,
        "Cannot set both password and password_hash at the same time.",
    );
}

#[tokio::test]
async fn sign_in_emails_are_unique_but_other_emails_may_repeat() {
    let app = TestApp::spawn().await;
    let email = app.email();
    app.create_user(json!({ "primary_email": email, "primary_email_auth_enabled": true }))
        .await;
    let r = app
        .post("/users")
        .server()
        .json(json!({ "primary_email": email.to_uppercase(), "primary_email_auth_enabled": true }))
        .send()
        .await;
    r.assert_error(
        409,
        "USER_EMAIL_ALREADY_EXISTS",
        &format!("A user with email \"{email}\" already exists."),
    );
    assert_eq!(
        r.body["details"],
        json!({ "email": email, "would_work_if_email_was_verified": false })
    );
    // Without sign-in, the same email is fine.
    let twin = app.create_user(json!({ "primary_email": email })).await;
    assert_eq!(twin["primary_email"], email.as_str());
    // Until it is made a sign-in email.
    let r = patch_user(
        &app,
        &id_of(&twin),
        json!({ "primary_email_auth_enabled": true }),
    )
    .await;
    r.assert_known(409, "USER_EMAIL_ALREADY_EXISTS");
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .json(json!({ "email": email, "password": "password123" }))
        .send()
        .await;
    r.assert_known(409, "USER_EMAIL_ALREADY_EXISTS");

    let r = app
        .post("/users")
        .server()
        .json(json!({ "primary_email_auth_enabled": true }))
        .send()
        .await;
    r.assert_plain(
        400,
        "primary_email_auth_enabled cannot be true without primary_email",
    );
}

#[tokio::test]
async fn the_server_updates_metadata_that_clients_read_or_not() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "password123").await;
    let r = patch_user(
        &app,
        &s.user_id,
        json!({
            "server_metadata": { "plan": "pro" },
            "client_read_only_metadata": { "credits": 3 },
            "country_code": "de",
        }),
    )
    .await;
    r.assert_status(200);
    assert_eq!(keys(&r.body), server_fields());
    assert_eq!(r.body["server_metadata"], json!({ "plan": "pro" }));
    assert_eq!(r.body["client_read_only_metadata"], json!({ "credits": 3 }));
    assert_eq!(r.body["country_code"], "DE");
    let r = app
        .get(&format!("/users/{}", s.user_id))
        .server()
        .send()
        .await;
    assert_eq!(r.body["server_metadata"], json!({ "plan": "pro" }));
    let r = me(&app, &s).await;
    assert_eq!(r.body["client_read_only_metadata"], json!({ "credits": 3 }));
    assert!(r.body.get("server_metadata").is_none());
    assert!(
        !r.text.contains("\"pro\""),
        "server metadata leaked: {}",
        r.text
    );
}

#[tokio::test]
async fn a_new_primary_email_is_unverified_an_old_one_keeps_its_state_and_null_demotes() {
    let app = TestApp::spawn().await;
    let first = app.email();
    let second = app.email();
    let u = app
        .create_user(json!({ "primary_email": first, "primary_email_verified": true }))
        .await;
    let id = id_of(&u);
    assert_eq!(u["primary_email_verified"], true);

    let r = patch_user(&app, &id, json!({ "primary_email": second.to_uppercase() })).await;
    r.assert_status(200);
    assert_eq!(r.body["primary_email"], second.as_str());
    assert_eq!(r.body["primary_email_verified"], false);

    // Back to the first address: the user already owns it, verified.
    let r = patch_user(&app, &id, json!({ "primary_email": first })).await;
    r.assert_status(200);
    assert_eq!(r.body["primary_email"], first.as_str());
    assert_eq!(r.body["primary_email_verified"], true);

    let r = patch_user(&app, &id, json!({ "primary_email": null })).await;
    r.assert_status(200);
    assert_eq!(r.body["primary_email"], json!(null));
    assert_eq!(r.body["primary_email_verified"], false);
    assert_eq!(r.body["primary_email_auth_enabled"], false);

    let r = patch_user(&app, &id, json!({ "primary_email": "not-an-email" })).await;
    r.assert_schema_error(
        "PATCH",
        &format!("/api/v1/users/{id}"),
        &["body.primary_email must be a valid email"],
    );
}

#[tokio::test]
async fn restriction_details_need_the_restriction() {
    let app = TestApp::spawn().await;
    let u = app.create_user(json!({})).await;
    let id = id_of(&u);
    for body in [
        json!({ "restricted_by_admin_reason": "spam" }),
        json!({ "restricted_by_admin_private_details": "ticket 42" }),
        json!({ "restricted_by_admin": false, "restricted_by_admin_reason": "spam" }),
    ] {
        let r = patch_user(&app, &id, body.clone()).await;
        r.assert_status(400);
        r.assert_plain_kind();
        let r = app.post("/users").server().json(body).send().await;
        r.assert_status(400);
        r.assert_plain_kind();
    }
    let r = patch_user(
        &app,
        &id,
        json!({
            "restricted_by_admin": true,
            "restricted_by_admin_reason": "spam",
            "restricted_by_admin_private_details": "ticket 42",
        }),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["is_restricted"], true);
    assert_eq!(
        r.body["restricted_reason"],
        json!({ "type": "restricted_by_administrator" })
    );
    assert_eq!(r.body["restricted_by_admin_reason"], "spam");
    assert_eq!(r.body["restricted_by_admin_private_details"], "ticket 42");

    let s = app.session_for(&id).await;
    let r = app
        .get("/users/me")
        .client()
        .user(&s)
        .header("x-stack-allow-restricted-user", "true")
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["restricted_by_admin_reason"], "spam");
    assert!(!r.text.contains("ticket 42"), "private details leaked");

    let r = patch_user(&app, &id, json!({ "restricted_by_admin": false })).await;
    r.assert_status(200);
    assert_eq!(r.body["is_restricted"], false);
    assert_eq!(r.body["restricted_reason"], json!(null));
    assert_eq!(r.body["restricted_by_admin_reason"], json!(null));
    assert_eq!(r.body["restricted_by_admin_private_details"], json!(null));
}

#[tokio::test]
async fn the_server_upgrades_an_anonymous_user_but_never_makes_one() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous().await;
    let r = patch_user(&app, &anon.user_id, json!({ "is_anonymous": true })).await;
    r.assert_schema_error(
        "PATCH",
        &format!("/api/v1/users/{}", anon.user_id),
        &["body.is_anonymous must be one of the following values: false"],
    );
    let r = patch_user(&app, &anon.user_id, json!({ "is_anonymous": false })).await;
    r.assert_status(200);
    assert_eq!(r.body["is_anonymous"], false);
    assert_eq!(r.body["is_restricted"], false);
    assert_eq!(r.body["restricted_reason"], json!(null));
}

#[tokio::test]
async fn a_server_cannot_give_sign_in_methods_that_the_project_disabled() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up(&app.email(), "password123").await;
    let project = app
        .create_project(&owner, json!({ "credential_enabled": false }))
        .await;
    let id = project["id"].as_str().unwrap();
    assert_eq!(project["config"]["magic_link_enabled"], false);
    for body in [
        json!({ "primary_email": app.email(), "password": "password123" }),
        json!({ "primary_email": app.email(), "otp_auth_enabled": true }),
    ] {
        let r = app
            .post("/users")
            .admin_token("server", id, &owner.access)
            .json(body.clone())
            .send()
            .await;
        r.assert_status(400);
        r.assert_plain_kind();
    }
    let r = app
        .post("/users")
        .admin_token("server", id, &owner.access)
        .json(json!({ "primary_email": app.email() }))
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(
        r.body["selected_team"],
        json!(null),
        "no personal teams by default"
    );
}

#[tokio::test]
async fn a_project_that_requires_verified_emails_restricts_unverified_users() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up(&app.email(), "password123").await;
    let project = app
        .create_project(&owner, json!({ "require_email_verification": true }))
        .await;
    let id = project["id"].as_str().unwrap();
    let r = app
        .post("/auth/password/sign-up")
        .admin_token("client", id, &owner.access)
        .json(json!({ "email": app.email(), "password": "password123" }))
        .send()
        .await;
    r.assert_status(200);
    let s = Session::from(&r.body);
    let c = claims(&s.access);
    assert_eq!(c["aud"], format!("{id}:restricted"));
    assert_eq!(
        c["restricted_reason"],
        json!({ "type": "email_not_verified" })
    );
    let r = app
        .get("/users/me")
        .admin_token("client", id, &owner.access)
        .user(&s)
        .send()
        .await;
    r.assert_known(403, "RESTRICTED_USER_NOT_ALLOWED");
    assert_eq!(
        r.body["details"],
        json!({ "restricted_reason": { "type": "email_not_verified" } })
    );
    let listed = |query: &'static str| {
        app.get(&format!("/users{query}"))
            .admin_token("server", id, &owner.access)
            .send()
    };
    let r = listed("").await;
    assert_eq!(r.body["items"], json!([]), "{}", r.text);
    let r = listed("?include_restricted=true").await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.text);
    assert_eq!(r.body["items"][0]["is_restricted"], true);
    assert_eq!(
        r.body["items"][0]["restricted_reason"],
        json!({ "type": "email_not_verified" })
    );

    app.patch(&format!("/users/{}", s.user_id))
        .admin_token("server", id, &owner.access)
        .json(json!({ "primary_email_verified": true }))
        .send()
        .await
        .assert_status(200);
    let r = app
        .post("/auth/sessions/current/refresh")
        .admin_token("client", id, &owner.access)
        .header("x-stack-refresh-token", &s.refresh)
        .send()
        .await;
    r.assert_status(200);
    let c = claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], id);
    assert_eq!(c["is_restricted"], false);
    assert_eq!(listed("").await.body["items"].as_array().unwrap().len(), 1);
}

/// Stack Auth's rules for a user's primary email and image, as the server
/// routes see them: a verified flag needs an email, the email is checked as
/// loosely as Stack Auth's `emailSchema` does, an image is a URL, and an
/// imported bcrypt hash has at most 16 rounds.
#[tokio::test]
async fn primary_email_image_and_imported_hash_rules() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/users")
        .server()
        .json(json!({ "display_name": "No email" }))
        .send()
        .await;
    r.assert_status(201);
    let id = r.body["id"].as_str().unwrap().to_owned();
    patch_user(&app, &id, json!({ "primary_email_verified": true }))
        .await
        .assert_plain(
            400,
            "primary_email_verified cannot be true without primary_email",
        );
    patch_user(&app, &id, json!({ "primary_email_verified": false }))
        .await
        .assert_status(200);
    app.post("/users")
        .server()
        .json(json!({ "primary_email_verified": true }))
        .send()
        .await
        .assert_plain(
            400,
            "primary_email_verified cannot be true without primary_email",
        );

    // Older addresses without a dotted domain still belong to users.
    let r = app
        .post("/users")
        .server()
        .json(json!({ "primary_email": "invalid_email@gmai" }))
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(r.body["primary_email"], json!("invalid_email@gmai"));

    patch_user(&app, &id, json!({ "profile_image_url": "" }))
        .await
        .assert_schema_error(
            "PATCH",
            &format!("/api/v1/users/{id}"),
            &["body.profile_image_url is not a valid URL"],
        );

    let hash =
        |cost: u32| format!("$2a${cost}$VIhIOofSMqGdGlL4wzE//e.77dAQGqNtF/1dT7bqCrVtQuInWy2qi");
    app.post("/users")
        .server()
        .json(json!({ "primary_email": "slow-hash@example.com", "primary_email_auth_enabled": true, "password_hash": hash(17) }))
        .send()
        .await
        .assert_plain(
            400,
            "Invalid password hash. Make sure it's a supported algorithm in Modular Crypt Format.",
        );
}
