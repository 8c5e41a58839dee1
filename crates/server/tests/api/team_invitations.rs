//! `/team-invitations` (Stack Auth's team invitations): sending one by mail,
//! listing and revoking pending ones, and accepting by code or by id, with
//! the verification-code rules they share and concurrent accepts.
//!
//! Users are internal-project users. Teams, memberships and grants are made
//! through the team, membership and permission routes; membership and grant
//! checks read the database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Request, Response, Session, TestApp, code_in_mail};

const CALLBACK: &str = "http://localhost:12345/some-callback-url";

/// A user of the internal project with a verified primary email, signed in.
async fn verified_user(app: &TestApp, email: &str) -> Session {
    let user = app
        .create_user(json!({ "primary_email": email, "primary_email_verified": true }))
        .await;
    app.session_for(user["id"].as_str().unwrap()).await
}

/// A signed-in user without an email address.
async fn plain_user(app: &TestApp) -> Session {
    let user = app.create_user(json!({})).await;
    app.session_for(user["id"].as_str().unwrap()).await
}

/// A team without members, made by the server.
async fn create_team(app: &TestApp, name: &str) -> Uuid {
    let r = app
        .post("/teams")
        .server()
        .json(json!({ "display_name": name }))
        .send()
        .await;
    r.assert_status(201);
    Uuid::parse_str(r.body["id"].as_str().unwrap()).unwrap()
}

/// Adds `user` to `team` (server) and leaves them exactly `permissions`
/// (in place of the `team_member` default).
async fn add_member(app: &TestApp, team: Uuid, user: &Session, permissions: &[&str]) {
    let user_id = &user.user_id;
    app.post(&format!("/team-memberships/{team}/{user_id}"))
        .server()
        .json(json!({}))
        .send()
        .await
        .assert_status(201);
    if !permissions.contains(&"team_member") {
        app.delete(&format!("/team-permissions/{team}/{user_id}/team_member"))
            .server()
            .send()
            .await
            .assert_status(200);
    }
    for p in permissions.iter().filter(|p| **p != "team_member") {
        app.post(&format!("/team-permissions/{team}/{user_id}/{p}"))
            .server()
            .json(json!({}))
            .send()
            .await
            .assert_status(201);
    }
}

async fn is_member(app: &TestApp, team: Uuid, user: &Session) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM team_members WHERE project_id = 'internal' AND team_id = $1 AND user_id = $2)",
    )
    .bind(team)
    .bind(Uuid::parse_str(&user.user_id).unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn grants(app: &TestApp, team: Uuid, user: &Session) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT permission_id FROM team_member_permissions
         WHERE project_id = 'internal' AND team_id = $1 AND user_id = $2 ORDER BY permission_id",
    )
    .bind(team)
    .bind(Uuid::parse_str(&user.user_id).unwrap())
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn invitation_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM verification_codes WHERE type = 'TEAM_INVITATION'")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Sends an invitation to `email` as the server (no user).
async fn server_send(app: &TestApp, team: Uuid, email: &str) -> Response {
    app.post("/team-invitations/send-code")
        .server()
        .json(json!({ "team_id": team, "email": email, "callback_url": CALLBACK }))
        .send()
        .await
}

/// Sends an invitation as the server and returns (its id, the code from the
/// `nth` mail to `email`).
async fn invite(app: &TestApp, team: Uuid, email: &str, nth: usize) -> (String, String) {
    let r = server_send(app, team, email).await;
    r.assert_status(200);
    let mail = app.wait_for_mail(email, nth).await;
    (
        r.body["id"].as_str().unwrap().to_owned(),
        code_in_mail(&mail),
    )
}

/// A client call of `/team-invitations/<route>` with `code`, as `user`.
fn code_request(app: &TestApp, route: &str, code: &str, user: Option<&Session>) -> Request {
    let r = app
        .post(&format!("/team-invitations/{route}"))
        .client()
        .allow_anonymous()
        .json(json!({ "code": code }));
    match user {
        Some(user) => r.user(user),
        None => r,
    }
}

async fn code_route(app: &TestApp, route: &str, code: &str, user: Option<&Session>) -> Response {
    code_request(app, route, code, user).send().await
}

/// Sends every request at once; the answers in the order they arrived.
async fn all_at_once(requests: Vec<Request>) -> Vec<Response> {
    let mut calls = tokio::task::JoinSet::new();
    for r in requests {
        calls.spawn(r.send());
    }
    calls.join_all().await
}

async fn list(app: &TestApp, query: &str, client_user: Option<&Session>) -> Response {
    let r = app.get(&format!("/team-invitations?{query}"));
    match client_user {
        Some(user) => r.client().user(user).send().await,
        None => r.server().send().await,
    }
}

#[tokio::test]
async fn a_member_with_invite_members_mails_an_invitation_and_its_code_joins_the_team() {
    let app = TestApp::spawn().await;
    let inviter = plain_user(&app).await;
    let team = create_team(&app, "Rocket Team").await;
    add_member(&app, team, &inviter, &["$invite_members"]).await;
    let email = app.email();

    let r = app
        .post("/team-invitations/send-code")
        .client()
        .user(&inviter)
        .json(json!({ "team_id": team, "email": email, "callback_url": CALLBACK }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["success"], true);
    let id = r.body["id"].as_str().unwrap().to_owned();
    Uuid::parse_str(&id).unwrap();

    let mail = app.wait_for_mail(&email, 1).await;
    assert_eq!(mail["subject"], "You have been invited to join Rocket Team");
    let code = code_in_mail(&mail);
    assert_eq!(code.len(), 45);
    assert!(code.chars().all(|c| c.is_ascii_alphanumeric()), "{code}");
    let text = mail["body"]["text"].as_str().unwrap();
    assert!(text.contains(&format!("{CALLBACK}?code={code}")), "{text}");

    let invitee = verified_user(&app, &email).await;
    let r = code_route(&app, "accept/check-code", &code, None).await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "is_code_valid": true }));
    let r = code_route(&app, "accept/details", &code, Some(&invitee)).await;
    r.assert_status(200);
    assert_eq!(
        r.body,
        json!({ "team_id": team, "team_display_name": "Rocket Team" })
    );
    assert!(!is_member(&app, team, &invitee).await);

    let r = code_route(&app, "accept", &code.to_uppercase(), Some(&invitee)).await;
    r.assert_status(200);
    assert_eq!(r.body, json!({}));
    assert!(is_member(&app, team, &invitee).await);
    assert_eq!(grants(&app, team, &invitee).await, ["team_member"]);
    // The new team is not selected: the personal team stays selected.
    let selected = app.selected_team(&invitee).await;
    assert_ne!(selected, team.to_string());

    code_route(&app, "accept", &code, Some(&invitee))
        .await
        .assert_error(
            409,
            "VERIFICATION_CODE_ALREADY_USED",
            "The verification link has already been used.",
        );
    code_route(&app, "accept/check-code", &code, None)
        .await
        .assert_known(409, "VERIFICATION_CODE_ALREADY_USED");
    let r = list(&app, &format!("team_id={team}"), None).await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "items": [], "is_paginated": false }));
}

#[tokio::test]
async fn sending_needs_invite_members_of_a_signed_in_client_and_nothing_of_a_server() {
    let app = TestApp::spawn().await;
    let member = plain_user(&app).await;
    let outsider = plain_user(&app).await;
    let team = create_team(&app, "New Team").await;
    add_member(&app, team, &member, &["$read_members"]).await;
    let body = json!({ "team_id": team, "email": app.email(), "callback_url": CALLBACK });
    let send = |user: Option<&Session>| {
        let mut r = app
            .post("/team-invitations/send-code")
            .client()
            .json(body.clone());
        if let Some(u) = user {
            r = r.user(u);
        }
        r.send()
    };

    send(None).await.assert_error(
        401,
        "USER_AUTHENTICATION_REQUIRED",
        "User authentication required for this endpoint.",
    );
    let r = send(Some(&member)).await;
    r.assert_error(
        401,
        "TEAM_PERMISSION_REQUIRED",
        &format!(
            "User {} does not have permission $invite_members in team {team}.",
            member.user_id
        ),
    );
    assert_eq!(
        r.body["details"],
        json!({ "team_id": team, "user_id": member.user_id, "permission_id": "$invite_members" })
    );
    send(Some(&outsider))
        .await
        .assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    assert_eq!(invitation_count(&app).await, 0);

    server_send(&app, team, &app.email())
        .await
        .assert_status(200);
    assert_eq!(invitation_count(&app).await, 1);
}

#[tokio::test]
async fn an_untrusted_callback_or_a_missing_team_makes_no_invitation() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "New Team").await;
    app.post("/team-invitations/send-code")
        .server()
        .json(json!({ "team_id": team, "email": app.email(), "callback_url": "https://malicious.com/callback" }))
        .send()
        .await
        .assert_error(
            400,
            "REDIRECT_URL_NOT_WHITELISTED",
            "Redirect URL not whitelisted. Did you forget to add this domain to the trusted domains list on the Stack Auth dashboard?",
        );
    let missing = Uuid::new_v4();
    let r = server_send(&app, missing, &app.email()).await;
    r.assert_error(404, "TEAM_NOT_FOUND", &format!("Team {missing} not found."));
    assert_eq!(invitation_count(&app).await, 0);
}

#[tokio::test]
async fn malformed_requests_are_schema_errors() {
    let app = TestApp::spawn().await;
    app.post("/team-invitations/send-code")
        .server()
        .json(json!({ "team_id": "nope", "email": "not-an-email", "extra": 1 }))
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/team-invitations/send-code",
            &[
                "body.team_id must be a valid UUID",
                "body.email must be a valid email",
                "body.callback_url must be defined",
                "body contains unknown properties: extra",
            ],
        );
    code_route(&app, "accept", "short", None)
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/team-invitations/accept",
            &["body.code must be exactly 45 characters"],
        );
    app.delete("/team-invitations/not-a-uuid?team_id=x")
        .server()
        .send()
        .await
        .assert_schema_error(
            "DELETE",
            "/api/v1/team-invitations/not-a-uuid",
            &[
                "params.id must be a valid UUID",
                "query.team_id must be a valid UUID",
            ],
        );
    let id = Uuid::new_v4();
    app.post(&format!("/team-invitations/{id}/accept"))
        .server()
        .send()
        .await
        .assert_schema_error(
            "POST",
            &format!("/api/v1/team-invitations/{id}/accept"),
            &["query.user_id must be defined"],
        );
}

#[tokio::test]
async fn codes_follow_the_verification_code_rules() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "New Team").await;
    let email = app.email();
    let (_, code) = invite(&app, team, &email, 1).await;
    let invitee = verified_user(&app, &email).await;

    let unknown = "a".repeat(45);
    code_route(&app, "accept", &unknown, Some(&invitee))
        .await
        .assert_error(
            404,
            "VERIFICATION_CODE_NOT_FOUND",
            "The verification code does not exist for this project.",
        );
    // A sign-in code is not an invitation.
    let other = app.email();
    app.post("/auth/otp/send-sign-in-code")
        .client()
        .json(json!({ "email": other, "callback_url": CALLBACK }))
        .send()
        .await
        .assert_status(200);
    let sign_in_code = code_in_mail(&app.wait_for_mail(&other, 1).await);
    code_route(&app, "accept", &sign_in_code, Some(&invitee))
        .await
        .assert_known(404, "VERIFICATION_CODE_NOT_FOUND");

    sqlx::query("UPDATE verification_codes SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    code_route(&app, "accept", &code, Some(&invitee))
        .await
        .assert_error(
            400,
            "VERIFICATION_CODE_EXPIRED",
            "The verification code has expired.",
        );
    assert!(!is_member(&app, team, &invitee).await);
}

#[tokio::test]
async fn twenty_attempts_at_a_nonce_use_up_the_code() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "New Team").await;
    let email = app.email();
    let (_, code) = invite(&app, team, &email, 1).await;
    for i in 0..20 {
        let guess = format!("{:06}{}", i, &code[6..]);
        if guess != code {
            code_route(&app, "accept/check-code", &guess, None).await;
        }
    }
    code_route(&app, "accept/check-code", &code, None)
        .await
        .assert_known(400, "VERIFICATION_CODE_MAX_ATTEMPTS_REACHED");
}

#[tokio::test]
async fn accepting_needs_an_unrestricted_signed_in_user_and_uses_the_code_up_anyway() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "New Team").await;
    let email = app.email();
    let (_, first) = invite(&app, team, &email, 1).await;
    let (_, second) = invite(&app, team, &email, 2).await;

    code_route(&app, "accept", &first, None).await.assert_error(
        401,
        "USER_AUTHENTICATION_REQUIRED",
        "User authentication required for this endpoint.",
    );
    code_route(&app, "accept", &first, None)
        .await
        .assert_known(409, "VERIFICATION_CODE_ALREADY_USED");

    let anonymous = app.anonymous().await;
    code_route(&app, "accept/details", &second, Some(&anonymous))
        .await
        .assert_known(403, "TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED");
    let r = code_route(&app, "accept", &second, Some(&anonymous)).await;
    r.assert_error(
        403,
        "TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED",
        "Restricted users cannot accept team invitations. Reason: anonymous. Please complete the onboarding process before accepting team invitations.",
    );
    assert_eq!(
        r.body["details"],
        json!({ "restricted_reason": { "type": "anonymous" } })
    );
    assert!(!is_member(&app, team, &anonymous).await);
    code_route(&app, "accept", &second, Some(&anonymous))
        .await
        .assert_known(409, "VERIFICATION_CODE_ALREADY_USED");
}

#[tokio::test]
async fn a_member_already_gets_a_success_that_changes_nothing() {
    let app = TestApp::spawn().await;
    let member = plain_user(&app).await;
    let team = create_team(&app, "New Team").await;
    add_member(&app, team, &member, &["$read_members"]).await;
    let (_, code) = invite(&app, team, &app.email(), 1).await;
    let r = code_route(&app, "accept", &code, Some(&member)).await;
    r.assert_status(200);
    assert_eq!(r.body, json!({}));
    assert_eq!(grants(&app, team, &member).await, ["$read_members"]);
    code_route(&app, "accept/check-code", &code, None)
        .await
        .assert_known(409, "VERIFICATION_CODE_ALREADY_USED");
}

#[tokio::test]
async fn of_concurrent_accepts_of_one_code_exactly_one_succeeds() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "New Team").await;
    let (_, code) = invite(&app, team, &app.email(), 1).await;
    let mut users = Vec::new();
    for _ in 0..6 {
        users.push(plain_user(&app).await);
    }
    let answers = all_at_once(
        users
            .iter()
            .map(|u| code_request(&app, "accept", &code, Some(u)))
            .collect(),
    )
    .await;
    let ok = answers.iter().filter(|r| r.status.as_u16() == 200).count();
    assert_eq!(ok, 1, "{answers:?}");
    for r in answers.iter().filter(|r| r.status.as_u16() != 200) {
        r.assert_known(409, "VERIFICATION_CODE_ALREADY_USED");
    }
    let members: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM team_members WHERE project_id = 'internal' AND team_id = $1",
    )
    .bind(team)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(members, 1);
}

#[tokio::test]
async fn concurrent_accepts_of_several_invitations_add_the_user_once() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "New Team").await;
    let email = app.email();
    let mut codes = Vec::new();
    for nth in 1..=6 {
        codes.push(invite(&app, team, &email, nth).await.1);
    }
    let invitee = verified_user(&app, &email).await;
    let answers = all_at_once(
        codes
            .iter()
            .map(|c| code_request(&app, "accept", c, Some(&invitee)))
            .collect(),
    )
    .await;
    for r in &answers {
        r.assert_status(200);
    }
    assert!(is_member(&app, team, &invitee).await);
    assert_eq!(grants(&app, team, &invitee).await, ["team_member"]);
}

#[tokio::test]
async fn a_team_lists_its_pending_invitations_to_the_server_and_to_members_who_may() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "New Team").await;
    let other = create_team(&app, "Other Team").await;
    let email = app.email();
    let (id, _) = invite(&app, team, &email, 1).await;
    invite(&app, other, &app.email(), 1).await;

    let r = list(&app, &format!("team_id={team}"), None).await;
    r.assert_status(200);
    assert_eq!(r.body["is_paginated"], false);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["team_id"], team.to_string());
    assert_eq!(item["team_display_name"], "New Team");
    assert_eq!(item["recipient_email"], email.as_str());
    let expires = item["expires_at_millis"].as_i64().unwrap();
    let week = 7 * 24 * 3600 * 1000;
    let now = chrono::Utc::now().timestamp_millis();
    assert!((expires - now - week).abs() < 60_000, "{expires}");

    let reader = plain_user(&app).await;
    add_member(&app, team, &reader, &["$read_members"]).await;
    let inviter = plain_user(&app).await;
    add_member(&app, team, &inviter, &["$invite_members"]).await;
    let both = plain_user(&app).await;
    add_member(&app, team, &both, &["team_member"]).await;
    let query = format!("team_id={team}");
    let r = list(&app, &query, Some(&reader)).await;
    r.assert_known(401, "TEAM_PERMISSION_REQUIRED");
    assert_eq!(r.body["details"]["permission_id"], "$invite_members");
    let r = list(&app, &query, Some(&inviter)).await;
    assert_eq!(r.body["details"]["permission_id"], "$read_members");
    let r = list(&app, &query, Some(&both)).await;
    r.assert_status(200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let outsider = plain_user(&app).await;
    list(&app, &query, Some(&outsider))
        .await
        .assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    app.get(&format!("/team-invitations?{query}"))
        .client()
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");

    let missing = Uuid::new_v4();
    list(&app, &format!("team_id={missing}"), None)
        .await
        .assert_known(404, "TEAM_NOT_FOUND");
    list(&app, &format!("team_id={team}&user_id=me"), Some(&both))
        .await
        .assert_plain(400, "Cannot specify both team_id and user_id");
    list(&app, "", None)
        .await
        .assert_plain(400, "Must specify either team_id or user_id");
}

#[tokio::test]
async fn a_user_sees_the_invitations_sent_to_their_verified_addresses() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "New Team").await;
    let gone = create_team(&app, "Deleted Team").await;
    let email = app.email();
    invite(&app, team, &email, 1).await;
    invite(&app, gone, &email, 2).await;
    app.delete(&format!("/teams/{gone}"))
        .server()
        .send()
        .await
        .assert_status(200);

    let invitee = verified_user(&app, &email).await;
    let r = list(&app, &format!("user_id={}", invitee.user_id), None).await;
    r.assert_status(200);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "the deleted team's invitation is left out");
    assert_eq!(items[0]["team_display_name"], "New Team");
    assert_eq!(items[0]["recipient_email"], email.as_str());
    let r = list(&app, "user_id=me", Some(&invitee)).await;
    r.assert_status(200);
    assert_eq!(r.body["items"], Value::Array(items.clone()));

    let unverified = app
        .create_user(json!({ "primary_email": email, "primary_email_verified": false }))
        .await;
    let r = list(
        &app,
        &format!("user_id={}", unverified["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(r.body, json!({ "items": [], "is_paginated": false }));
    let stranger = verified_user(&app, &app.email()).await;
    let r = list(&app, "user_id=me", Some(&stranger)).await;
    assert_eq!(r.body, json!({ "items": [], "is_paginated": false }));

    list(
        &app,
        &format!("user_id={}", invitee.user_id),
        Some(&stranger),
    )
    .await
    .assert_error(
        400,
        "CANNOT_GET_OWN_USER_WITHOUT_USER",
        "You have specified 'me' as a userId, but did not provide authentication for a user.",
    );
}

#[tokio::test]
async fn revoking_needs_remove_members_and_takes_the_invitation_away() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "New Team").await;
    let other = create_team(&app, "Other Team").await;
    let email = app.email();
    let (id, code) = invite(&app, team, &email, 1).await;
    let (other_id, _) = invite(&app, other, &app.email(), 1).await;
    let remover = plain_user(&app).await;
    add_member(&app, team, &remover, &["$remove_members"]).await;
    let member = plain_user(&app).await;
    add_member(&app, team, &member, &["team_member"]).await;

    let r = app
        .delete(&format!("/team-invitations/{id}?team_id={team}"))
        .client()
        .user(&member)
        .send()
        .await;
    r.assert_known(401, "TEAM_PERMISSION_REQUIRED");
    assert_eq!(r.body["details"]["permission_id"], "$remove_members");
    app.delete(&format!("/team-invitations/{id}"))
        .client()
        .user(&remover)
        .send()
        .await
        .assert_plain(400, "team_id is required for deleting a team invitation");
    // An invitation to another team is not this team's to revoke.
    let r = app
        .delete(&format!("/team-invitations/{other_id}?team_id={team}"))
        .client()
        .user(&remover)
        .send()
        .await;
    r.assert_status(200);
    let r = list(&app, &format!("team_id={other}"), None).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);

    let r = app
        .delete(&format!("/team-invitations/{id}?team_id={team}"))
        .client()
        .user(&remover)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": true }));
    let r = list(&app, &format!("team_id={team}"), None).await;
    assert_eq!(r.body["items"], json!([]));
    let invitee = verified_user(&app, &email).await;
    code_route(&app, "accept", &code, Some(&invitee))
        .await
        .assert_known(404, "VERIFICATION_CODE_NOT_FOUND");

    let missing = Uuid::new_v4();
    app.delete(&format!("/team-invitations/{id}?team_id={missing}"))
        .server()
        .send()
        .await
        .assert_known(404, "TEAM_NOT_FOUND");
}

#[tokio::test]
async fn accepting_by_id_needs_a_verified_matching_address() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "New Team").await;
    let email = app.email();
    let (id, _) = invite(&app, team, &email, 1).await;
    let invitee = verified_user(&app, &email).await;
    let stranger = verified_user(&app, &app.email()).await;
    let accept = |user_id: &str, as_user: Option<&Session>| {
        let r = app.post(&format!("/team-invitations/{id}/accept?user_id={user_id}"));
        match as_user {
            Some(u) => r.client().user(u).send(),
            None => r.server().send(),
        }
    };

    accept("me", Some(&stranger))
        .await
        .assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
    accept(&invitee.user_id, Some(&stranger))
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    accept(&stranger.user_id, None)
        .await
        .assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
    app.post(&format!("/team-invitations/{id}/accept?user_id=me"))
        .client()
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");

    let r = accept("me", Some(&invitee)).await;
    r.assert_status(200);
    assert_eq!(r.body, json!({}));
    assert!(is_member(&app, team, &invitee).await);
    assert_eq!(grants(&app, team, &invitee).await, ["team_member"]);
    let r = list(&app, "user_id=me", Some(&invitee)).await;
    assert_eq!(r.body["items"], json!([]));
    accept("me", Some(&invitee))
        .await
        .assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
}

#[tokio::test]
async fn of_concurrent_accepts_by_id_exactly_one_succeeds() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "New Team").await;
    let email = app.email();
    let (id, _) = invite(&app, team, &email, 1).await;
    let invitee = verified_user(&app, &email).await;
    let answers = all_at_once(
        (0..6)
            .map(|_| {
                app.post(&format!(
                    "/team-invitations/{id}/accept?user_id={}",
                    invitee.user_id
                ))
                .server()
            })
            .collect(),
    )
    .await;
    assert_eq!(
        answers.iter().filter(|r| r.status.as_u16() == 200).count(),
        1,
        "{answers:?}"
    );
    for r in answers.iter().filter(|r| r.status.as_u16() != 200) {
        r.assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
    }
    assert!(is_member(&app, team, &invitee).await);
}
