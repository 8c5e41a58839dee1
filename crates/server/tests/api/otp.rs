//! `/auth/otp/*` (spec §2.5) and the verification-code rules (§2.0) they share:
//! the sign-in mail really arrives in the sink, and its code or link signs in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::json;

use crate::helpers::{TestApp, code_in_mail};

const CALLBACK: &str = "http://localhost:3000/handler/magic-link-callback";

async fn send_code(app: &TestApp, email: &str) -> crate::helpers::Response {
    app.post("/auth/otp/send-sign-in-code")
        .client()
        .json(json!({ "email": email, "callback_url": CALLBACK }))
        .send()
        .await
}

async fn sign_in(app: &TestApp, code: &str) -> crate::helpers::Response {
    app.post("/auth/otp/sign-in")
        .client()
        .json(json!({ "code": code }))
        .send()
        .await
}

/// Sends a sign-in code to `email` and returns (nonce, full code from the mail, mail).
async fn mailed_code(
    app: &TestApp,
    email: &str,
    nth: usize,
) -> (String, String, serde_json::Value) {
    let r = send_code(app, email).await;
    r.assert_status(200);
    let nonce = r.body["nonce"].as_str().unwrap().to_owned();
    let mail = app.wait_for_mail(email, nth).await;
    (nonce, code_in_mail(&mail), mail)
}

#[tokio::test]
async fn the_magic_link_from_the_mail_signs_up_a_new_verified_user() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let (nonce, code, mail) = mailed_code(&app, &email, 1).await;
    assert_eq!(nonce.len(), 39);
    assert_eq!(code.len(), 45);
    assert_eq!(
        &code[6..],
        nonce,
        "the nonce is the code without its first six characters"
    );
    let otp = code[..6].to_uppercase();
    assert_eq!(
        mail["subject"],
        format!("Sign in to Stack Dashboard: Your code is {otp}")
    );
    assert_eq!(mail["from"], "noreply@stack-emulator.localhost");
    let text = mail["body"]["text"].as_str().unwrap();
    assert!(text.contains(&format!("{CALLBACK}?code={code}")), "{text}");
    // The HTML part has the code alone in a paragraph, where Stack Auth's
    // template puts it (its tests and apps read it from `>ABC123</p>`).
    assert!(
        mail["body"]["html"]
            .as_str()
            .unwrap()
            .contains(&format!(">{otp}</p>"))
    );

    let r = sign_in(&app, &code).await;
    r.assert_status(200);
    assert_eq!(r.body["is_new_user"], true);
    let session = crate::helpers::Session::from(&r.body);
    let me = app.get("/users/me").client().user(&session).send().await;
    me.assert_status(200);
    assert_eq!(me.body["primary_email"], email.as_str());
    assert_eq!(me.body["primary_email_verified"], true);
    assert_eq!(me.body["otp_auth_enabled"], true);
    assert_eq!(me.body["has_password"], false);
}

#[tokio::test]
async fn the_typed_code_plus_nonce_signs_in_the_same_user_again() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let (_, first, _) = mailed_code(&app, &email, 1).await;
    let user_id = sign_in(&app, &first).await.body["user_id"].clone();

    let (nonce, code, mail) = mailed_code(&app, &email, 2).await;
    let subject = mail["subject"].as_str().unwrap();
    let typed = subject.rsplit(' ').next().unwrap();
    assert_eq!(typed, code[..6].to_uppercase());
    // What a user types: the six characters from the subject (any case) and the nonce.
    let r = sign_in(&app, &format!("{typed}{nonce}")).await;
    r.assert_status(200);
    assert_eq!(r.body["is_new_user"], false);
    assert_eq!(r.body["user_id"], user_id);
}

#[tokio::test]
async fn used_unknown_and_expired_codes_get_their_exact_errors() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let (_, code, _) = mailed_code(&app, &email, 1).await;
    sign_in(&app, &code).await.assert_status(200);
    sign_in(&app, &code).await.assert_error(
        409,
        "VERIFICATION_CODE_ALREADY_USED",
        "The verification link has already been used.",
    );

    let unknown = "a".repeat(45);
    sign_in(&app, &unknown)
        .await
        .assert_error(
            404,
            "VERIFICATION_CODE_NOT_FOUND",
            "The verification code does not exist for this project.",
        )
        .assert_no_details();

    let (_, code, _) = mailed_code(&app, &email, 2).await;
    sqlx::query("UPDATE verification_codes SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    sign_in(&app, &code).await.assert_error(
        400,
        "VERIFICATION_CODE_EXPIRED",
        "The verification code has expired.",
    );
}

#[tokio::test]
async fn wrong_guesses_use_up_the_nonce_and_then_the_right_code_fails_too() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let (nonce, code, _) = mailed_code(&app, &email, 1).await;
    let wrong = if code.starts_with("000000") {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..20 {
        sign_in(&app, &format!("{wrong}{nonce}"))
            .await
            .assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
    }
    sign_in(&app, &code).await.assert_error(
        400,
        "VERIFICATION_CODE_MAX_ATTEMPTS_REACHED",
        "The verification code nonce has reached the maximum number of attempts. This code is not valid anymore.",
    );
}

#[tokio::test]
async fn check_code_answers_without_using_the_code() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let (_, code, _) = mailed_code(&app, &email, 1).await;
    for _ in 0..2 {
        let r = app
            .post("/auth/otp/sign-in/check-code")
            .client()
            .json(json!({ "code": code }))
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(r.body, json!({ "is_code_valid": true }));
    }
    sign_in(&app, &code).await.assert_status(200);
    app.post("/auth/otp/sign-in/check-code")
        .client()
        .json(json!({ "code": code }))
        .send()
        .await
        .assert_known(409, "VERIFICATION_CODE_ALREADY_USED");
}

#[tokio::test]
async fn a_code_of_another_kind_is_not_found() {
    let app = TestApp::spawn().await;
    let email = app.email();
    app.sign_up(&email, "password123").await;
    let r = app
        .post("/auth/password/send-reset-code")
        .client()
        .json(json!({ "email": email, "callback_url": CALLBACK }))
        .send()
        .await;
    r.assert_status(200);
    let reset_code = code_in_mail(&app.wait_for_mail(&email, 1).await);
    sign_in(&app, &reset_code)
        .await
        .assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
}

#[tokio::test]
async fn bad_requests_are_refused_before_any_mail_is_sent() {
    let app = TestApp::spawn().await;
    let email = app.email();
    app.post("/auth/otp/send-sign-in-code")
        .client()
        .json(json!({ "email": email, "callback_url": "https://evil.example.com/cb" }))
        .send()
        .await
        .assert_error(
            400,
            "REDIRECT_URL_NOT_WHITELISTED",
            "Redirect URL not whitelisted. Did you forget to add this domain to the trusted domains list on the Stack Auth dashboard?",
        );
    app.post("/auth/otp/send-sign-in-code")
        .client()
        .json(json!({ "email": email }))
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/auth/otp/send-sign-in-code",
            &["body.callback_url must be defined"],
        );
    app.post("/auth/otp/sign-in")
        .client()
        .json(json!({ "code": "short" }))
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/auth/otp/sign-in",
            &["body.code must be exactly 45 characters"],
        );
    app.post("/auth/otp/sign-in")
        .json(json!({ "code": "a".repeat(45) }))
        .send()
        .await
        .assert_known(400, "ACCESS_TYPE_REQUIRED");
    assert!(app.mailbox(&email).await.is_empty());
}

#[tokio::test]
async fn an_unverified_password_account_cannot_take_a_sign_in_code() {
    let app = TestApp::spawn().await;
    let email = app.email();
    app.sign_up(&email, "password123").await;
    let r = send_code(&app, &email).await;
    r.assert_error(
        409,
        "USER_EMAIL_ALREADY_EXISTS",
        &format!("A user with email \"{email}\" already exists but the email is not verified. Please login to your existing account with the method you used to sign up, and then verify your email to sign in with this login method."),
    );
    assert_eq!(
        r.body["details"],
        json!({ "email": email, "would_work_if_email_was_verified": true })
    );
}

#[tokio::test]
async fn a_verified_password_account_signs_in_by_code_and_gains_otp() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let user = app
        .create_user(json!({
            "primary_email": email,
            "primary_email_verified": true,
            "primary_email_auth_enabled": true,
        }))
        .await;
    assert_eq!(user["otp_auth_enabled"], false);
    let (_, code, _) = mailed_code(&app, &email, 1).await;
    let r = sign_in(&app, &code).await;
    r.assert_status(200);
    assert_eq!(r.body["user_id"], user["id"]);
    assert_eq!(r.body["is_new_user"], false);
    let read = app
        .get(&format!("/users/{}", user["id"].as_str().unwrap()))
        .server()
        .send()
        .await;
    assert_eq!(read.body["otp_auth_enabled"], true);
}

#[tokio::test]
async fn an_anonymous_user_who_signs_in_by_code_keeps_their_id() {
    let app = TestApp::spawn().await;
    let anonymous = app.anonymous().await;
    let email = app.email();
    let (_, code, _) = mailed_code(&app, &email, 1).await;
    let r = app
        .post("/auth/otp/sign-in")
        .client()
        .allow_anonymous()
        .user(&anonymous)
        .json(json!({ "code": code }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["is_new_user"], true);
    assert_eq!(r.body["user_id"], anonymous.user_id.as_str());
}

#[tokio::test]
async fn otp_sign_in_can_be_switched_off() {
    let app = TestApp::spawn().await;
    app.patch("/internal/projects/current")
        .admin()
        .json(json!({ "config": { "magic_link_enabled": false } }))
        .send()
        .await
        .assert_status(200);
    send_code(&app, &app.email())
        .await
        .assert_plain(403, "OTP sign-in is not enabled for this project");
}
