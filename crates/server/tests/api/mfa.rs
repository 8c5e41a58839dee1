//! The second sign-in factor, as Stack Auth's e2e suite drives it
//! (`auth/mfa/sign-in.test.ts` and the "MFA is required" tests of the
//! password, OTP and OAuth sign-ins): a user with a TOTP secret gets
//! `MULTI_FACTOR_AUTHENTICATION_REQUIRED` with an attempt code from every
//! first factor, and `/auth/mfa/sign-in` trades that code and the current
//! TOTP for a session. The TOTP is computed here from the secret the test set.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use base64::Engine;
use serde_json::{Value, json};
use stack_server::accounts::totp;

use crate::helpers::{Response, Session, TestApp, code_in_mail, keys, sorted};
use crate::oauth::{self, Flow, PLAIN_VERIFIER};

const MFA_REQUIRED: &str = "Multi-factor authentication is required for this user.";
const INVALID_TOTP: &str = "The TOTP code is invalid. Please try again.";
const NOT_FOUND: &str = "The verification code does not exist for this project.";
const ALREADY_USED: &str = "The verification link has already been used.";
const EXPIRED: &str = "The verification code has expired.";
const MAX_ATTEMPTS: &str = "The verification code nonce has reached the maximum number of attempts. This code is not valid anymore.";
const PASSWORD: &str = "a-long-password-1";
const CALLBACK: &str = "http://localhost:3000/handler/magic-link-callback";
/// The unknown attempt code of Stack Auth's e2e test (45 characters).
const UNKNOWN_CODE: &str = "invalid-attempt-code-123123123123123123123123";

/// Sets a fresh random TOTP secret on the signed-in user, as `Auth.Mfa.setupTotpMfa`
/// does, and returns it.
async fn set_up_totp(app: &TestApp, session: &Session) -> [u8; 20] {
    let secret = stack_server::random::bytes::<20>().unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(secret);
    let r = app
        .patch("/users/me")
        .client()
        .user(session)
        .json(json!({ "totp_secret_base64": encoded }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["requires_totp_mfa"], true);
    secret
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn password_sign_in(app: &TestApp, email: &str) -> Response {
    app.post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
}

async fn mfa_sign_in(app: &TestApp, attempt_code: &str, totp_code: &str) -> Response {
    app.post("/auth/mfa/sign-in")
        .client()
        .json(json!({ "code": attempt_code, "type": "totp", "totp": totp_code }))
        .send()
        .await
}

/// Signs in with the TOTP of the current step. A step can end between
/// computing the code and the server checking it (Stack Auth's test retries
/// once for this): a refusal is retried once, and only if the step changed.
async fn mfa_sign_in_now(app: &TestApp, attempt_code: &str, secret: &[u8]) -> Response {
    let at = now_secs();
    let r = mfa_sign_in(app, attempt_code, &totp::code_at(secret, at)).await;
    if r.body["code"] == "INVALID_TOTP_CODE" && now_secs() / totp::STEP_SECS != at / totp::STEP_SECS
    {
        return mfa_sign_in(app, attempt_code, &totp::code_at(secret, now_secs())).await;
    }
    r
}

/// A TOTP that is not the current one (the code of a step an hour ago, unless
/// that happens to match, then the current code's neighbour).
fn wrong_totp(secret: &[u8]) -> String {
    let now = totp::code_at(secret, now_secs());
    let old = totp::code_at(secret, now_secs() - 3600);
    if old == now {
        format!("{:06}", (now.parse::<u32>().unwrap() + 1) % 1_000_000)
    } else {
        old
    }
}

/// Asserts Stack Auth's `MULTI_FACTOR_AUTHENTICATION_REQUIRED` answer and returns the attempt code.
#[track_caller]
fn attempt_code_of(r: &Response) -> String {
    r.assert_error(400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED", MFA_REQUIRED);
    assert_eq!(keys(&r.body), sorted(&["code", "details", "error"]));
    assert_eq!(keys(&r.body["details"]), sorted(&["attempt_code"]));
    let code = r.body["details"]["attempt_code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(code.len(), 45, "{code}");
    code
}

/// Asserts the sign-in answer of `/auth/mfa/sign-in` and that its tokens work.
async fn assert_signed_in(app: &TestApp, r: &Response, user_id: &str, is_new_user: bool) {
    r.assert_status(200);
    assert_eq!(
        keys(&r.body),
        sorted(&["access_token", "is_new_user", "refresh_token", "user_id"])
    );
    assert_eq!(r.body["user_id"], user_id);
    assert_eq!(r.body["is_new_user"], is_new_user);
    let session = Session::from(&r.body);
    let me = app.get("/users/me").client().user(&session).send().await;
    me.assert_status(200);
    assert_eq!(me.body["id"], user_id);
    assert_eq!(me.body["requires_totp_mfa"], true);
    let refreshed = app
        .post("/auth/sessions/current/refresh")
        .client()
        .header("x-stack-refresh-token", &session.refresh)
        .send()
        .await;
    refreshed.assert_status(200);
}

/// A password user with a TOTP secret: (email, user id, secret).
async fn totp_user(app: &TestApp) -> (String, String, [u8; 20]) {
    let email = app.email();
    let session = app.sign_up(&email, PASSWORD).await;
    let secret = set_up_totp(app, &session).await;
    (email, session.user_id, secret)
}

#[tokio::test]
async fn password_sign_in_asks_for_the_totp_and_the_attempt_code_then_signs_in() {
    let app = TestApp::spawn().await;
    let (email, user_id, secret) = totp_user(&app).await;
    let attempt = attempt_code_of(&password_sign_in(&app, &email).await);
    let r = mfa_sign_in_now(&app, &attempt, &secret).await;
    assert_signed_in(&app, &r, &user_id, false).await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_before_the_second_factor() {
    let app = TestApp::spawn().await;
    let (email, _, _) = totp_user(&app).await;
    let r = app
        .post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": email, "password": "not-the-password" }))
        .send()
        .await;
    r.assert_error(400, "EMAIL_PASSWORD_MISMATCH", "Wrong e-mail or password.");
}

#[tokio::test]
async fn a_wrong_totp_is_refused_and_the_attempt_code_stays_usable() {
    let app = TestApp::spawn().await;
    let (email, user_id, secret) = totp_user(&app).await;
    let attempt = attempt_code_of(&password_sign_in(&app, &email).await);
    for wrong in ["never-valid-totp".to_owned(), wrong_totp(&secret)] {
        let r = mfa_sign_in(&app, &attempt, &wrong).await;
        r.assert_error(400, "INVALID_TOTP_CODE", INVALID_TOTP)
            .assert_no_details();
    }
    let r = mfa_sign_in_now(&app, &attempt, &secret).await;
    assert_signed_in(&app, &r, &user_id, false).await;
}

#[tokio::test]
async fn an_attempt_code_signs_in_once_and_unknown_ones_are_not_found() {
    let app = TestApp::spawn().await;
    let (email, user_id, secret) = totp_user(&app).await;
    let attempt = attempt_code_of(&password_sign_in(&app, &email).await);
    let r = mfa_sign_in_now(&app, &attempt, &secret).await;
    assert_signed_in(&app, &r, &user_id, false).await;

    let again = mfa_sign_in_now(&app, &attempt, &secret).await;
    again.assert_error(409, "VERIFICATION_CODE_ALREADY_USED", ALREADY_USED);
    // Codes are lower case; upper case is the same code.
    let upper = mfa_sign_in_now(&app, &attempt.to_uppercase(), &secret).await;
    upper.assert_error(409, "VERIFICATION_CODE_ALREADY_USED", ALREADY_USED);

    let unknown = mfa_sign_in_now(&app, UNKNOWN_CODE, &secret).await;
    unknown
        .assert_error(404, "VERIFICATION_CODE_NOT_FOUND", NOT_FOUND)
        .assert_no_details();
}

#[tokio::test]
async fn attempt_codes_are_stored_hashed_and_expire_after_five_minutes() {
    let app = TestApp::spawn().await;
    let (email, _, secret) = totp_user(&app).await;
    let attempt = attempt_code_of(&password_sign_in(&app, &email).await);
    let (kind, lifetime, method, data): (String, f64, Value, Value) = sqlx::query_as(
        "SELECT type, EXTRACT(EPOCH FROM expires_at - created_at)::float8, method, data
         FROM verification_codes WHERE code_hash = encode(sha256($1::bytea), 'hex')",
    )
    .bind(attempt.as_bytes())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(kind, "MFA_ATTEMPT");
    assert!((lifetime - 300.0).abs() < 5.0, "lifetime {lifetime} s");
    assert_eq!(method, json!({}));
    assert_eq!(keys(&data), sorted(&["is_new_user", "user_id"]));
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM verification_codes v WHERE strpos(v::text, $1) > 0",
    )
    .bind(&attempt)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 0, "the attempt code itself is stored nowhere");

    sqlx::query("UPDATE verification_codes SET expires_at = now() - interval '1 second' WHERE type = 'MFA_ATTEMPT'")
        .execute(&app.pool)
        .await
        .unwrap();
    let r = mfa_sign_in_now(&app, &attempt, &secret).await;
    r.assert_error(400, "VERIFICATION_CODE_EXPIRED", EXPIRED);
}

#[tokio::test]
async fn an_attempt_code_stops_working_after_twenty_attempts() {
    let app = TestApp::spawn().await;
    let (email, _, secret) = totp_user(&app).await;
    let attempt = attempt_code_of(&password_sign_in(&app, &email).await);
    for _ in 0..20 {
        let r = mfa_sign_in(&app, &attempt, "000000x").await;
        r.assert_known(400, "INVALID_TOTP_CODE");
    }
    let r = mfa_sign_in_now(&app, &attempt, &secret).await;
    r.assert_error(400, "VERIFICATION_CODE_MAX_ATTEMPTS_REACHED", MAX_ATTEMPTS);
}

#[tokio::test]
async fn the_body_is_checked_as_stack_auth_does() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/auth/mfa/sign-in")
        .client()
        .json(json!({ "code": "short", "type": "sms" }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/auth/mfa/sign-in",
        &[
            "body.code must be exactly 45 characters",
            "body.type must be one of the following values: totp",
            "body.totp must be defined",
        ],
    );
    let r = app
        .post("/auth/mfa/sign-in")
        .client()
        .json(json!({ "code": UNKNOWN_CODE, "totp": "123456", "extra": 1 }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/auth/mfa/sign-in",
        &[
            "body.type must be defined",
            "body contains unknown properties: extra",
        ],
    );
    let r = app
        .post("/auth/mfa/sign-in")
        .json(json!({ "code": UNKNOWN_CODE, "type": "totp", "totp": "123456" }))
        .send()
        .await;
    r.assert_known(400, "ACCESS_TYPE_REQUIRED");
}

#[tokio::test]
async fn a_user_without_totp_signs_in_directly_also_after_removing_it() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let session = app.sign_up(&email, PASSWORD).await;
    password_sign_in(&app, &email).await.assert_status(200);

    set_up_totp(&app, &session).await;
    attempt_code_of(&password_sign_in(&app, &email).await);
    let r = app
        .patch("/users/me")
        .client()
        .user(&session)
        .json(json!({ "totp_secret_base64": null }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["requires_totp_mfa"], false);
    let r = password_sign_in(&app, &email).await;
    r.assert_status(200);
    assert_eq!(
        keys(&r.body),
        sorted(&["access_token", "refresh_token", "user_id"])
    );
}

/// Mails a sign-in code to `email` (the `nth` mail there) and returns the code.
async fn mailed_sign_in_code(app: &TestApp, email: &str, nth: usize) -> String {
    let r = app
        .post("/auth/otp/send-sign-in-code")
        .client()
        .json(json!({ "email": email, "callback_url": CALLBACK }))
        .send()
        .await;
    r.assert_status(200);
    code_in_mail(&app.wait_for_mail(email, nth).await)
}

async fn otp_sign_in(app: &TestApp, code: &str) -> Response {
    app.post("/auth/otp/sign-in")
        .client()
        .json(json!({ "code": code }))
        .send()
        .await
}

#[tokio::test]
async fn otp_sign_in_uses_up_its_code_and_asks_for_the_totp() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let first = otp_sign_in(&app, &mailed_sign_in_code(&app, &email, 1).await).await;
    first.assert_status(200);
    let session = Session::from(&first.body);
    let secret = set_up_totp(&app, &session).await;

    let code = mailed_sign_in_code(&app, &email, 2).await;
    let attempt = attempt_code_of(&otp_sign_in(&app, &code).await);
    otp_sign_in(&app, &code).await.assert_error(
        409,
        "VERIFICATION_CODE_ALREADY_USED",
        ALREADY_USED,
    );
    // The two kinds of code are not interchangeable.
    otp_sign_in(&app, &attempt)
        .await
        .assert_error(404, "VERIFICATION_CODE_NOT_FOUND", NOT_FOUND);

    let r = mfa_sign_in_now(&app, &attempt, &secret).await;
    assert_signed_in(&app, &r, &session.user_id, false).await;
}

#[tokio::test]
async fn the_oauth_code_grant_spends_the_code_and_asks_for_the_totp() {
    let app = oauth::spawn().await;
    let email = app.email();
    let first = Flow::new(&app).sign_in(&email).await;
    first.assert_status(200);
    let session = Session::from(&first.body);
    let me = app.get("/users/me").client().user(&session).send().await;
    let user_id = me.body["id"].as_str().unwrap().to_owned();
    let secret = set_up_totp(&app, &session).await;

    let code = Flow::new(&app).code(&email).await;
    let attempt = attempt_code_of(&oauth::exchange(&app, &code, PLAIN_VERIFIER).await);
    oauth::exchange(&app, &code, PLAIN_VERIFIER)
        .await
        .assert_error(
            400,
            "INVALID_AUTHORIZATION_CODE",
            "The given authorization code is invalid.",
        );

    // Stack Auth's OAuth sign-in never reports a new user after the second factor.
    let r = mfa_sign_in_now(&app, &attempt, &secret).await;
    assert_signed_in(&app, &r, &user_id, false).await;
}

#[tokio::test]
async fn a_new_oauth_user_without_totp_is_unaffected() {
    let app = oauth::spawn().await;
    let r = Flow::new(&app).sign_in(&app.email()).await;
    r.assert_status(200);
    assert_eq!(r.body["is_new_user"], true);
}
