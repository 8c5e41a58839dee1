//! `/auth/password/*` (spec §2.4): sign-up, sign-in, update and set, with
//! every error they document.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, keys, sorted};

const SIGN_UP: &str = "/api/v1/auth/password/sign-up";
const SIGN_IN: &str = "/api/v1/auth/password/sign-in";
const MISMATCH: &str = "Wrong e-mail or password.";

async fn sign_in(app: &TestApp, email: &str, password: &str) -> crate::helpers::Response {
    app.post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": email, "password": password }))
        .send()
        .await
}

async fn refresh(app: &TestApp, s: &Session) -> crate::helpers::Response {
    app.post("/auth/sessions/current/refresh")
        .client()
        .header("x-stack-refresh-token", &s.refresh)
        .send()
        .await
}

/// A session of a project user made on a project through an admin access token.
async fn project_client(app: &TestApp, config: Value) -> (String, Session) {
    let owner = app.sign_up(&app.email(), "password123").await;
    let project = app.create_project(&owner, config).await;
    (project["id"].as_str().unwrap().to_owned(), owner)
}

#[tokio::test]
async fn sign_up_answers_exactly_tokens_and_the_user_id() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .json(json!({ "email": email, "password": "password123" }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(
        keys(&r.body),
        sorted(&["access_token", "refresh_token", "user_id"])
    );
    let s = Session::from(&r.body);
    uuid::Uuid::parse_str(&s.user_id).unwrap();
    let me = app.get("/users/me").client().user(&s).send().await;
    me.assert_status(200);
    assert_eq!(me.body["id"], s.user_id.as_str());
    assert_eq!(me.body["primary_email"], email.as_str());
    assert_eq!(me.body["primary_email_verified"], false);
    assert_eq!(me.body["has_password"], true);
    let server = app.get("/users/me").server().user(&s).send().await;
    assert_eq!(server.body["primary_email_auth_enabled"], true);
}

#[tokio::test]
async fn a_taken_email_is_a_conflict_whatever_its_case() {
    let app = TestApp::spawn().await;
    let email = app.email();
    app.sign_up(&email, "password123").await;
    for attempt in [email.clone(), email.to_uppercase()] {
        let r = app
            .post("/auth/password/sign-up")
            .client()
            .json(json!({ "email": attempt, "password": "password456" }))
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
    }
}

#[tokio::test]
async fn short_passwords_are_refused_with_the_minimum() {
    let app = TestApp::spawn().await;
    for password in ["short", "", "1234567"] {
        let r = app
            .post("/auth/password/sign-up")
            .client()
            .json(json!({ "email": app.email(), "password": password }))
            .send()
            .await;
        r.assert_error(
            400,
            "PASSWORD_TOO_SHORT",
            "Password too short. Minimum length is 8.",
        );
        assert_eq!(r.body["details"], json!({ "min_length": 8 }));
    }
}

#[tokio::test]
async fn emails_are_stored_lowercased_and_sign_in_ignores_case() {
    let app = TestApp::spawn().await;
    let local = uuid::Uuid::new_v4().simple().to_string();
    let mixed = format!("MiXeD-{local}@Example.COM");
    let lower = mixed.to_lowercase();
    let s = app.sign_up(&mixed, "password123").await;
    let me = app.get("/users/me").client().user(&s).send().await;
    assert_eq!(me.body["primary_email"], lower.as_str());
    for email in [&mixed, &lower, &mixed.to_uppercase()] {
        let r = sign_in(&app, email, "password123").await;
        r.assert_status(200);
        assert_eq!(
            r.body["user_id"],
            s.user_id.as_str(),
            "signing in as {email}"
        );
    }
}

#[tokio::test]
async fn an_invalid_email_fails_the_schema() {
    let app = TestApp::spawn().await;
    for email in [
        "not-an-email",
        "user@localhost",
        "user@example.c",
        "@example.com",
    ] {
        let r = app
            .post("/auth/password/sign-up")
            .client()
            .json(json!({ "email": email, "password": "password123" }))
            .send()
            .await;
        r.assert_error(
            400,
            "SCHEMA_ERROR",
            &format!(
                "Request validation failed on POST {SIGN_UP}:\n  - body.email must be a valid email"
            ),
        );
    }
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .json(json!({ "password": "password123" }))
        .send()
        .await;
    r.assert_schema_error("POST", SIGN_UP, &["body.email must be defined"]);
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .json(json!({ "email": app.email() }))
        .send()
        .await;
    r.assert_schema_error("POST", SIGN_UP, &["body.password must be defined"]);
}

#[tokio::test]
async fn an_untrusted_verification_callback_is_refused_before_the_password_rules() {
    let app = TestApp::spawn().await;
    for password in ["password123", "short"] {
        let r = app
            .post("/auth/password/sign-up")
            .client()
            .json(json!({
                "email": app.email(),
                "password": password,
                "verification_callback_url": "https://evil.example.com/handler/email-verification",
            }))
            .send()
            .await;
        r.assert_error(
            400,
            "REDIRECT_URL_NOT_WHITELISTED",
            "Redirect URL not whitelisted. Did you forget to add this domain to the trusted domains list on the Stack Auth dashboard?",
        )
        .assert_no_details();
    }
    // The internal project trusts localhost.
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .json(json!({
            "email": app.email(),
            "password": "password123",
            "verification_callback_url": "http://localhost:3000/handler/email-verification",
        }))
        .send()
        .await;
    r.assert_status(200);
}

#[tokio::test]
async fn a_malformed_verification_callback_fails_the_schema() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .json(json!({
            "email": app.email(),
            "password": "password123",
            "verification_callback_url": "notaurl",
        }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        SIGN_UP,
        &["body.verification_callback_url is not a valid URL"],
    );
}

#[tokio::test]
async fn bot_challenge_fields_are_accepted() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .json(json!({
            "email": app.email(),
            "password": "password123",
            "bot_challenge_token": "token-from-the-widget",
            "bot_challenge_phase": "invisible",
            "bot_challenge_unavailable": "true",
        }))
        .send()
        .await;
    r.assert_status(200);
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .json(json!({
            "email": app.email(),
            "password": "password123",
            "bot_challenge_phase": "loud",
        }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        SIGN_UP,
        &["body.bot_challenge_phase must be one of the following values: invisible, visible"],
    );
}

#[tokio::test]
async fn sign_up_and_password_switches_of_a_project_are_honoured_in_order() {
    let app = TestApp::spawn().await;
    let (no_sign_up, owner) = project_client(&app, json!({ "sign_up_enabled": false })).await;
    let r = app
        .post("/auth/password/sign-up")
        .admin_token("client", &no_sign_up, &owner.access)
        .json(json!({ "email": app.email(), "password": "password123" }))
        .send()
        .await;
    r.assert_error(
        400,
        "SIGN_UP_NOT_ENABLED",
        "Creation of new accounts is not enabled for this project. Please ask the project owner to enable it.",
    )
    .assert_no_details();
    // An untrusted callback is reported before the disabled sign-up.
    let r = app
        .post("/auth/password/sign-up")
        .admin_token("client", &no_sign_up, &owner.access)
        .json(json!({
            "email": app.email(),
            "password": "password123",
            "verification_callback_url": "https://evil.example.com/cb",
        }))
        .send()
        .await;
    r.assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");

    let project = app
        .create_project(&owner, json!({ "credential_enabled": false }))
        .await;
    let no_password = project["id"].as_str().unwrap();
    const DISABLED: &str = "Password authentication is not enabled for this project.";
    // Disabled passwords are reported before an untrusted callback.
    let r = app
        .post("/auth/password/sign-up")
        .admin_token("client", no_password, &owner.access)
        .json(json!({
            "email": app.email(),
            "password": "password123",
            "verification_callback_url": "https://evil.example.com/cb",
        }))
        .send()
        .await;
    r.assert_error(400, "PASSWORD_AUTHENTICATION_NOT_ENABLED", DISABLED);
    let r = app
        .post("/auth/password/sign-in")
        .admin_token("client", no_password, &owner.access)
        .json(json!({ "email": app.email(), "password": "password123" }))
        .send()
        .await;
    r.assert_error(400, "PASSWORD_AUTHENTICATION_NOT_ENABLED", DISABLED);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_are_the_same_mismatch() {
    let app = TestApp::spawn().await;
    let email = app.email();
    app.sign_up(&email, "password123").await;
    for (e, p) in [
        (email.as_str(), "password124"),
        ("nobody@example.com", "password123"),
    ] {
        let r = sign_in(&app, e, p).await;
        r.assert_error(400, "EMAIL_PASSWORD_MISMATCH", MISMATCH)
            .assert_no_details();
    }
    // A user without a password cannot sign in with one.
    let bare = app.email();
    app.create_user(json!({ "primary_email": bare, "primary_email_auth_enabled": true }))
        .await;
    sign_in(&app, &bare, "password123").await.assert_error(
        400,
        "EMAIL_PASSWORD_MISMATCH",
        MISMATCH,
    );
    // A password user whose email is not a sign-in email cannot sign in with it.
    let contact_only = app.email();
    app.create_user(json!({ "primary_email": contact_only, "password": "password123" }))
        .await;
    sign_in(&app, &contact_only, "password123")
        .await
        .assert_error(400, "EMAIL_PASSWORD_MISMATCH", MISMATCH);
}

#[tokio::test]
async fn sign_in_validates_its_body() {
    let app = TestApp::spawn().await;
    let r = sign_in(&app, "", "password123").await;
    r.assert_known(400, "SCHEMA_ERROR");
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .contains("\n  - body.email must not be empty"),
        "{}",
        r.text
    );
    let r = sign_in(&app, "not-an-email", "password123").await;
    r.assert_schema_error("POST", SIGN_IN, &["body.email must be a valid email"]);
    let r = app
        .post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": app.email() }))
        .send()
        .await;
    r.assert_schema_error("POST", SIGN_IN, &["body.password must be defined"]);
}

#[tokio::test]
async fn each_sign_in_opens_a_new_session() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let first = app.sign_up(&email, "password123").await;
    let a = Session::from(&sign_in(&app, &email, "password123").await.body);
    let b = Session::from(&sign_in(&app, &email, "password123").await.body);
    assert_eq!(a.user_id, first.user_id);
    let mut tokens = vec![&first.refresh, &a.refresh, &b.refresh];
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 3, "refresh tokens must differ");
    let r = app
        .get("/auth/sessions?user_id=me")
        .client()
        .user(&b)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 3, "{}", r.text);
}

#[tokio::test]
async fn update_checks_the_old_password_and_the_new_one() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let s = app.sign_up(&email, "password123").await;
    let update = |old: &str, new: &str| {
        app.post("/auth/password/update")
            .client()
            .user(&s)
            .json(json!({ "old_password": old, "new_password": new }))
            .send()
    };
    update("password999", "password456")
        .await
        .assert_error(
            400,
            "PASSWORD_CONFIRMATION_MISMATCH",
            "Passwords do not match.",
        )
        .assert_no_details();
    update("password123", "short")
        .await
        .assert_known(400, "PASSWORD_TOO_SHORT");
    let r = app
        .post("/auth/password/update")
        .client()
        .user(&s)
        .json(json!({ "new_password": "password456" }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/auth/password/update",
        &["body.old_password must be defined"],
    );
    // Nothing changed so far.
    sign_in(&app, &email, "password123")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn update_keeps_the_named_session_and_revokes_the_others() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let kept = app.sign_up(&email, "password123").await;
    let other = Session::from(&sign_in(&app, &email, "password123").await.body);
    let r = app
        .post("/auth/password/update")
        .client()
        .user(&kept)
        .header("x-stack-refresh-token", &kept.refresh)
        .json(json!({ "old_password": "password123", "new_password": "password456" }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": true }));
    refresh(&app, &kept).await.assert_status(200);
    refresh(&app, &other)
        .await
        .assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    sign_in(&app, &email, "password123")
        .await
        .assert_known(400, "EMAIL_PASSWORD_MISMATCH");
    sign_in(&app, &email, "password456")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn update_without_a_refresh_token_revokes_every_session() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let s = app.sign_up(&email, "password123").await;
    let r = app
        .post("/auth/password/update")
        .client()
        .user(&s)
        .json(json!({ "old_password": "password123", "new_password": "password456" }))
        .send()
        .await;
    r.assert_status(200);
    refresh(&app, &s)
        .await
        .assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
}

#[tokio::test]
async fn update_for_a_user_without_password_is_refused() {
    let app = TestApp::spawn().await;
    let user = app
        .create_user(json!({ "primary_email": app.email() }))
        .await;
    let s = app.session_for(user["id"].as_str().unwrap()).await;
    let r = app
        .post("/auth/password/update")
        .client()
        .user(&s)
        .json(json!({ "old_password": "password123", "new_password": "password456" }))
        .send()
        .await;
    r.assert_error(
        400,
        "USER_DOES_NOT_HAVE_PASSWORD",
        "This user does not have password authentication enabled.",
    )
    .assert_no_details();
}

#[tokio::test]
async fn set_gives_a_password_once() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let user = app
        .create_user(json!({ "primary_email": email, "primary_email_auth_enabled": true }))
        .await;
    assert_eq!(user["has_password"], false);
    let s = app.session_for(user["id"].as_str().unwrap()).await;
    let set = |password: &str| {
        app.post("/auth/password/set")
            .client()
            .user(&s)
            .json(json!({ "password": password }))
            .send()
    };
    set("short").await.assert_known(400, "PASSWORD_TOO_SHORT");
    let r = set("password123").await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": true }));
    let me = app.get("/users/me").client().user(&s).send().await;
    assert_eq!(me.body["has_password"], true);
    sign_in(&app, &email, "password123")
        .await
        .assert_status(200);
    set("password456")
        .await
        .assert_plain(400, "User already has a password set.");
    sign_in(&app, &email, "password123")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn set_and_update_need_a_user() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/auth/password/set")
        .client()
        .json(json!({ "password": "password123" }))
        .send()
        .await;
    r.assert_error(
        400,
        "SCHEMA_ERROR",
        "Request validation failed on POST /api/v1/auth/password/set:\n  - auth.user must be defined",
    );
    let r = app
        .post("/auth/password/update")
        .client()
        .json(json!({ "old_password": "password123", "new_password": "password456" }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/auth/password/update",
        &["auth.user must be defined"],
    );
}

#[tokio::test]
async fn signing_up_while_signed_in_makes_a_separate_user() {
    let app = TestApp::spawn().await;
    let first = app.sign_up(&app.email(), "password123").await;
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .user(&first)
        .json(json!({ "email": app.email(), "password": "password123" }))
        .send()
        .await;
    r.assert_status(200);
    assert_ne!(r.body["user_id"], first.user_id.as_str());
    let me = app.get("/users/me").client().user(&first).send().await;
    assert_eq!(me.body["id"], first.user_id.as_str());
}

#[tokio::test]
async fn an_anonymous_user_stays_anonymous_when_its_sign_up_fails() {
    let app = TestApp::spawn().await;
    let taken = app.email();
    app.sign_up(&taken, "password123").await;
    let anon = app.anonymous().await;
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .user(&anon)
        .allow_anonymous()
        .json(json!({ "email": taken, "password": "password123" }))
        .send()
        .await;
    r.assert_known(409, "USER_EMAIL_ALREADY_EXISTS");
    let me = app
        .get("/users/me")
        .client()
        .user(&anon)
        .allow_anonymous()
        .send()
        .await;
    me.assert_status(200);
    assert_eq!(me.body["is_anonymous"], true);
    assert_eq!(me.body["primary_email"], json!(null));
    assert_eq!(me.body["has_password"], false);
}
