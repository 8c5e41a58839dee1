//! `/contact-channels` (spec §2.14): the CRUD routes, and email verification
//! by a mail that really arrives in the sink.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, code_in_mail, keys, sorted};

const CALLBACK: &str = "http://localhost:3000/handler/email-verification";

async fn channels_of(app: &TestApp, s: &Session) -> Vec<Value> {
    let r = app
        .get("/contact-channels?user_id=me")
        .client()
        .user(s)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["is_paginated"], false);
    r.body["items"].as_array().unwrap().clone()
}

async fn add(
    app: &TestApp,
    s: &Session,
    value: &str,
    used_for_auth: bool,
) -> crate::helpers::Response {
    app.post("/contact-channels")
        .client()
        .user(s)
        .json(json!({ "user_id": "me", "type": "email", "value": value, "used_for_auth": used_for_auth }))
        .send()
        .await
}

#[tokio::test]
async fn channels_are_created_listed_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let s = app.sign_up(&email, "password123").await;
    let list = channels_of(&app, &s).await;
    assert_eq!(list.len(), 1);
    assert_eq!(
        keys(&list[0]),
        sorted(&[
            "id",
            "user_id",
            "type",
            "value",
            "is_primary",
            "is_verified",
            "used_for_auth"
        ])
    );
    assert_eq!(list[0]["value"], email.as_str());
    assert_eq!(list[0]["is_primary"], true);
    assert_eq!(list[0]["used_for_auth"], true);

    let second = add(&app, &s, "Second@Example.com", false).await;
    second.assert_status(201);
    assert_eq!(second.body["value"], "second@example.com");
    assert_eq!(second.body["is_primary"], false);
    assert_eq!(second.body["is_verified"], false);
    let id = second.body["id"].as_str().unwrap().to_owned();
    add(&app, &s, "second@example.com", false)
        .await
        .assert_plain(400, "Contact channel already exists");

    let read = app
        .get(&format!("/contact-channels/me/{id}"))
        .client()
        .user(&s)
        .send()
        .await;
    assert_eq!(read.body, second.body);

    // Making it primary demotes the first; a new value is unverified.
    let made_primary = app
        .patch(&format!("/contact-channels/me/{id}"))
        .server()
        .json(json!({ "is_primary": true, "is_verified": true }))
        .send()
        .await;
    made_primary.assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    let user_path = format!("/contact-channels/{}/{id}", s.user_id);
    let made_primary = app
        .patch(&user_path)
        .server()
        .json(json!({ "is_primary": true, "is_verified": true }))
        .send()
        .await;
    made_primary.assert_status(200);
    assert_eq!(made_primary.body["is_primary"], true);
    assert_eq!(made_primary.body["is_verified"], true);
    let me = app.get("/users/me").client().user(&s).send().await;
    assert_eq!(me.body["primary_email"], "second@example.com");
    let renamed = app
        .patch(&format!("/contact-channels/me/{id}"))
        .client()
        .user(&s)
        .json(json!({ "value": "third@example.com" }))
        .send()
        .await;
    renamed.assert_status(200);
    assert_eq!(renamed.body["value"], "third@example.com");
    assert_eq!(renamed.body["is_verified"], false);

    let deleted = app
        .delete(&format!("/contact-channels/me/{id}"))
        .client()
        .user(&s)
        .send()
        .await;
    deleted.assert_status(200);
    assert_eq!(deleted.body, json!({ "success": true }));
    app.delete(&format!("/contact-channels/me/{id}"))
        .client()
        .user(&s)
        .send()
        .await
        .assert_plain(400, "Contact channel not found");
    app.patch(&format!("/contact-channels/me/{id}"))
        .client()
        .user(&s)
        .json(json!({ "is_primary": true }))
        .send()
        .await
        .assert_plain(400, "Contact channel not found");
    app.get(&format!("/contact-channels/me/{id}"))
        .client()
        .user(&s)
        .send()
        .await
        .assert_plain(404, "Contact channel not found.");
    let me = app.get("/users/me").client().user(&s).send().await;
    assert_eq!(
        me.body["primary_email"],
        Value::Null,
        "deleting the primary clears primary_email"
    );
}

#[tokio::test]
async fn an_address_used_for_sign_in_elsewhere_cannot_be_used_again() {
    let app = TestApp::spawn().await;
    let taken = app.email();
    app.sign_up(&taken, "password123").await;
    let s = app.sign_up(&app.email(), "password123").await;
    let r = add(&app, &s, &taken, true).await;
    r.assert_error(
        409,
        "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE",
        &format!("This email \"({taken})\" is already used for authentication by another account."),
    );
    assert_eq!(
        r.body["details"],
        json!({ "type": "email", "contact_channel_value": taken, "would_work_if_email_was_verified": false })
    );
    // Not for sign-in, it is fine; switching sign-in on then fails without the value.
    let added = add(&app, &s, &taken, false).await;
    added.assert_status(201);
    let id = added.body["id"].as_str().unwrap();
    app.patch(&format!("/contact-channels/me/{id}"))
        .client()
        .user(&s)
        .json(json!({ "used_for_auth": true }))
        .send()
        .await
        .assert_error(
            409,
            "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE",
            "This email  is already used for authentication by another account.",
        );
    // Renaming a sign-in address to one that someone else signs in with fails the same way.
    let own = channels_of(&app, &s).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.patch(&format!("/contact-channels/me/{own}"))
        .client()
        .user(&s)
        .json(json!({ "value": taken }))
        .send()
        .await
        .assert_known(409, "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE");
}

#[tokio::test]
async fn clients_only_reach_their_own_channels() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up(&app.email(), "password123").await;
    let bob = app.sign_up(&app.email(), "password123").await;
    let bobs = channels_of(&app, &bob).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&format!("/contact-channels?user_id={}", bob.user_id))
        .client()
        .user(&alice)
        .send()
        .await
        .assert_plain(
            403,
            "Client can only list contact channels for their own user.",
        );
    app.get(&format!("/contact-channels/{}/{bobs}", bob.user_id))
        .client()
        .user(&alice)
        .send()
        .await
        .assert_plain(
            403,
            "Client can only read contact channels for their own user.",
        );
    app.delete(&format!("/contact-channels/{}/{bobs}", bob.user_id))
        .client()
        .user(&alice)
        .send()
        .await
        .assert_plain(
            403,
            "Client can only delete contact channels for their own user.",
        );
    app.post("/contact-channels")
        .client()
        .user(&alice)
        .json(json!({ "user_id": bob.user_id, "type": "email", "value": "x@example.com", "used_for_auth": false }))
        .send()
        .await
        .assert_plain(403, "Client can only create contact channels for their own user.");
    app.post(&format!(
        "/contact-channels/{}/{bobs}/send-verification-code",
        bob.user_id
    ))
    .client()
    .user(&alice)
    .json(json!({ "callback_url": CALLBACK }))
    .send()
    .await
    .assert_plain(400, "Can only send verification code for your own user");
    // The server sees every user's channels.
    let all = app
        .get(&format!("/contact-channels?user_id={}", bob.user_id))
        .server()
        .send()
        .await;
    assert_eq!(all.body["items"][0]["id"], bobs.as_str());
    app.post("/contact-channels")
        .client()
        .user(&alice)
        .json(json!({ "user_id": "me", "type": "phone", "value": "x@example.com", "used_for_auth": false, "is_verified": true }))
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/contact-channels",
            &[
                "body.type must be one of the following values: email",
                "body contains unknown properties: is_verified",
            ],
        );
}

#[tokio::test]
async fn the_verification_mail_verifies_the_address_once() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let s = app.sign_up(&email, "password123").await;
    let channel = channels_of(&app, &s).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let send = |_: ()| {
        app.post(&format!(
            "/contact-channels/me/{channel}/send-verification-code"
        ))
        .client()
        .user(&s)
        .json(json!({ "callback_url": CALLBACK }))
        .send()
    };
    send(()).await.assert_status(200);
    let mail = app.wait_for_mail(&email, 1).await;
    assert_eq!(mail["subject"], "Verify your email at Stack Dashboard");
    let code = code_in_mail(&mail);

    let check = app
        .post("/contact-channels/verify/check-code")
        .client()
        .json(json!({ "code": code }))
        .send()
        .await;
    assert_eq!(check.body, json!({ "is_code_valid": true }));
    let verified = app
        .post("/contact-channels/verify")
        .client()
        .json(json!({ "code": code }))
        .send()
        .await;
    verified.assert_status(200);
    assert_eq!(verified.body, json!({ "success": true }));
    assert_eq!(channels_of(&app, &s).await[0]["is_verified"], true);
    let me = app.get("/users/me").client().user(&s).send().await;
    assert_eq!(me.body["primary_email_verified"], true);

    app.post("/contact-channels/verify")
        .client()
        .json(json!({ "code": code }))
        .send()
        .await
        .assert_known(409, "VERIFICATION_CODE_ALREADY_USED");
    send(()).await.assert_error(
        409,
        "EMAIL_ALREADY_VERIFIED",
        "The e-mail is already verified.",
    );
}

#[tokio::test]
async fn verification_errors_for_missing_users_channels_and_callbacks() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let s = app.sign_up(&email, "password123").await;
    let channel = channels_of(&app, &s).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let missing_user = uuid::Uuid::new_v4();
    app.post(&format!(
        "/contact-channels/{missing_user}/{channel}/send-verification-code"
    ))
    .server()
    .json(json!({ "callback_url": CALLBACK }))
    .send()
    .await
    .assert_error(
        400,
        "USER_ID_DOES_NOT_EXIST",
        &format!("The given user with the ID {missing_user} does not exist."),
    );
    app.post(&format!(
        "/contact-channels/me/{}/send-verification-code",
        uuid::Uuid::new_v4()
    ))
    .client()
    .user(&s)
    .json(json!({ "callback_url": CALLBACK }))
    .send()
    .await
    .assert_plain(404, "Contact channel not found");
    app.post(&format!(
        "/contact-channels/me/{channel}/send-verification-code"
    ))
    .client()
    .user(&s)
    .json(json!({ "callback_url": "https://evil.example.com/verify" }))
    .send()
    .await
    .assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");

    // A channel deleted after its mail was sent.
    app.post(&format!(
        "/contact-channels/me/{channel}/send-verification-code"
    ))
    .client()
    .user(&s)
    .json(json!({ "callback_url": CALLBACK }))
    .send()
    .await
    .assert_status(200);
    let code = code_in_mail(&app.wait_for_mail(&email, 1).await);
    app.delete(&format!("/contact-channels/me/{channel}"))
        .client()
        .user(&s)
        .send()
        .await
        .assert_status(200);
    app.post("/contact-channels/verify")
        .client()
        .json(json!({ "code": code }))
        .send()
        .await
        .assert_plain(
            400,
            "Contact channel not found. Was your contact channel deleted?",
        );
}

#[tokio::test]
async fn sign_up_with_a_callback_and_the_older_route_send_verification_mail() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .json(json!({ "email": email, "password": "password123", "verification_callback_url": CALLBACK }))
        .send()
        .await;
    r.assert_status(200);
    let s = Session::from(&r.body);
    let mail = app.wait_for_mail(&email, 1).await;
    assert_eq!(mail["subject"], "Verify your email at Stack Dashboard");

    let legacy = |address: String| {
        app.post("/contact-channels/send-verification-code")
            .client()
            .user(&s)
            .json(json!({ "email": address, "callback_url": CALLBACK }))
            .send()
    };
    legacy("other@example.com".into()).await.assert_error(
        400,
        "EMAIL_IS_NOT_PRIMARY_EMAIL",
        &format!(
            "The given e-mail (other@example.com) must equal the user's primary e-mail ({email})."
        ),
    );
    legacy(email.clone()).await.assert_status(200);
    let code = code_in_mail(&app.wait_for_mail(&email, 2).await);
    app.post("/contact-channels/verify")
        .client()
        .json(json!({ "code": code }))
        .send()
        .await
        .assert_status(200);
    legacy(email.clone())
        .await
        .assert_known(409, "EMAIL_ALREADY_VERIFIED");
}

#[tokio::test]
async fn racing_claims_of_one_sign_in_address_get_one_success_and_known_errors() {
    let app = TestApp::spawn().await;
    let mut s = Vec::new();
    for _ in 0..4 {
        s.push(app.sign_up(&app.email(), "password123").await);
    }
    let contested = app.email();
    for round in 0..5 {
        let value = format!("r{round}-{contested}");
        let (a, b, c, d) = tokio::join!(
            add(&app, &s[0], &value, true),
            add(&app, &s[1], &value, true),
            add(&app, &s[2], &value, true),
            add(&app, &s[3], &value, true),
        );
        let answers = [a, b, c, d];
        let created = answers.iter().filter(|r| r.status == 201).count();
        assert_eq!(created, 1, "round {round}: {created} users got the address");
        for r in answers.iter().filter(|r| r.status != 201) {
            r.assert_known(409, "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE");
        }
    }
}
