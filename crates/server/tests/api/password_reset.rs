//! `/auth/password/send-reset-code` and `/auth/password/reset` (spec §2.4):
//! the reset mail arrives in the sink and its code sets a new password.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::json;

use crate::helpers::{TestApp, code_in_mail};

const CALLBACK: &str = "http://localhost:3000/handler/password-reset";
const MAYBE: &str = "maybe, only if user with e-mail exists";

async fn send_reset(app: &TestApp, email: &str, callback: &str) -> crate::helpers::Response {
    app.post("/auth/password/send-reset-code")
        .client()
        .json(json!({ "email": email, "callback_url": callback }))
        .send()
        .await
}

async fn reset(app: &TestApp, code: &str, password: &str) -> crate::helpers::Response {
    app.post("/auth/password/reset")
        .client()
        .json(json!({ "code": code, "password": password }))
        .send()
        .await
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> crate::helpers::Response {
    app.post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": email, "password": password }))
        .send()
        .await
}

#[tokio::test]
async fn the_reset_mail_sets_a_new_password_and_ends_every_session() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let session = app.sign_up(&email, "old-password").await;
    let r = send_reset(&app, &email, CALLBACK).await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": MAYBE }));
    let mail = app.wait_for_mail(&email, 1).await;
    assert_eq!(mail["subject"], "Reset your password at Stack Dashboard");
    let code = code_in_mail(&mail);
    assert!(
        mail["body"]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("{CALLBACK}?code={code}"))
    );

    let check = app
        .post("/auth/password/reset/check-code")
        .client()
        .json(json!({ "code": code }))
        .send()
        .await;
    assert_eq!(check.body, json!({ "is_code_valid": true }));

    let r = reset(&app, &code, "new-password").await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": true }));
    sign_in(&app, &email, "old-password")
        .await
        .assert_known(400, "EMAIL_PASSWORD_MISMATCH");
    sign_in(&app, &email, "new-password")
        .await
        .assert_status(200);
    app.post("/auth/sessions/current/refresh")
        .client()
        .header("x-stack-refresh-token", &session.refresh)
        .send()
        .await
        .assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");

    reset(&app, &code, "third-password").await.assert_error(
        409,
        "VERIFICATION_CODE_ALREADY_USED",
        "The verification link has already been used.",
    );
}

#[tokio::test]
async fn a_rejected_password_uses_up_the_code_as_in_stack_auth() {
    let app = TestApp::spawn().await;
    let email = app.email();
    app.sign_up(&email, "old-password").await;
    // A bad code is named before a bad password: the code is checked first.
    reset(&app, &"b".repeat(45), "short")
        .await
        .assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
    send_reset(&app, &email, CALLBACK).await.assert_status(200);
    let code = code_in_mail(&app.wait_for_mail(&email, 1).await);
    reset(&app, &code, "short").await.assert_error(
        400,
        "PASSWORD_TOO_SHORT",
        "Password too short. Minimum length is 8.",
    );
    reset(&app, &code, "long-enough")
        .await
        .assert_known(409, "VERIFICATION_CODE_ALREADY_USED");
    // The old password still works: nothing but the code changed.
    sign_in(&app, &email, "old-password")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn an_unknown_address_gets_the_same_answer_and_no_mail() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let started = std::time::Instant::now();
    let r = send_reset(&app, &email, CALLBACK).await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": MAYBE }));
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "an unknown address waits like Stack Auth does"
    );
    assert!(app.mailbox(&email).await.is_empty());
}

#[tokio::test]
async fn bad_codes_and_untrusted_callbacks_get_their_exact_errors() {
    let app = TestApp::spawn().await;
    let email = app.email();
    app.sign_up(&email, "old-password").await;
    send_reset(&app, &email, "https://evil.example.com/reset")
        .await
        .assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");
    reset(&app, &"b".repeat(45), "new-password")
        .await
        .assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
    app.post("/auth/password/reset")
        .client()
        .json(json!({ "code": "b".repeat(45) }))
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/auth/password/reset",
            &["body.password must be defined"],
        );
    app.post("/auth/password/send-reset-code")
        .client()
        .json(json!({ "email": email, "callback_url": "not a url" }))
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/auth/password/send-reset-code",
            &[
                "body.callback_url contains spaces",
                "body.callback_url is not a valid URL",
            ],
        );
    send_reset(&app, &email, CALLBACK).await.assert_status(200);
    let code = code_in_mail(&app.wait_for_mail(&email, 1).await);
    sqlx::query("UPDATE verification_codes SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    reset(&app, &code, "new-password")
        .await
        .assert_known(400, "VERIFICATION_CODE_EXPIRED");
}
