//! Teams, team memberships and team member profiles as Stack Auth has them:
//! every route under each access type, the permission each client operation
//! needs, the known errors, personal teams made at sign-up, and the selected
//! team of a user.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use crate::helpers::{Request, Response, Session, TestApp, claims, keys, sorted};
use crate::projects::{create_keys, key};

const CLIENT_TEAM: &[&str] = &[
    "id",
    "display_name",
    "profile_image_url",
    "client_metadata",
    "client_read_only_metadata",
];
const SERVER_TEAM_EXTRAS: &[&str] = &["created_at_millis", "server_metadata"];
const CLIENT_PROFILE: &[&str] = &["team_id", "user_id", "display_name", "profile_image_url"];
const A_GIF: &str = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==";
const MISSING: &str = "12345678-1234-4234-9234-123456789012";
const NO_USER: &str =
    "You have specified 'me' as a userId, but did not provide authentication for a user.";

fn server_team() -> Vec<String> {
    let mut all = CLIENT_TEAM.to_vec();
    all.extend_from_slice(SERVER_TEAM_EXTRAS);
    sorted(&all)
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// A server-created team of the internal project.
async fn create_team(app: &TestApp, body: Value) -> Value {
    let r = app.post("/teams").server().json(body).send().await;
    r.assert_status(201);
    r.body
}

/// A user of the internal project (made by the server) and a session of theirs.
async fn user(app: &TestApp, display_name: &str) -> Session {
    let u = app
        .create_user(json!({ "display_name": display_name }))
        .await;
    app.session_for(&id(&u)).await
}

async fn add_member(app: &TestApp, team: &str, user: &str) -> Response {
    app.post(&format!("/team-memberships/{team}/{user}"))
        .server()
        .json(json!({}))
        .send()
        .await
}

/// The permissions granted directly to a member.
async fn grants(app: &TestApp, team: &str, user: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT permission_id FROM team_member_permissions
         WHERE team_id = $1::uuid AND user_id = $2::uuid ORDER BY permission_id",
    )
    .bind(team)
    .bind(user)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn revoke_all(app: &TestApp, team: &str, user: &str) {
    sqlx::query(
        "DELETE FROM team_member_permissions WHERE team_id = $1::uuid AND user_id = $2::uuid",
    )
    .bind(team)
    .bind(user)
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn grant(app: &TestApp, team: &str, user: &str, permission: &str) {
    sqlx::query(
        "INSERT INTO team_member_permissions (project_id, team_id, user_id, permission_id)
         VALUES ('internal', $1::uuid, $2::uuid, $3)",
    )
    .bind(team)
    .bind(user)
    .bind(permission)
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn team_ids_of(app: &TestApp, who: &Session) -> Vec<String> {
    let r = app.get("/teams?user_id=me").client().user(who).send().await;
    r.assert_status(200);
    r.body["items"].as_array().unwrap().iter().map(id).collect()
}

async fn me(app: &TestApp, who: &Session, server: bool) -> Value {
    let req = app.get("/users/me").user(who);
    let req = if server { req.server() } else { req.client() };
    let r = req.send().await;
    r.assert_status(200);
    r.body
}

#[track_caller]
fn assert_permission_required(r: &Response, team: &str, user: &str, permission: &str) {
    r.assert_error(
        401,
        "TEAM_PERMISSION_REQUIRED",
        &format!("User {user} does not have permission {permission} in team {team}."),
    );
    assert_eq!(
        r.body["details"],
        json!({ "team_id": team, "user_id": user, "permission_id": permission })
    );
}

#[track_caller]
fn assert_not_a_member(r: &Response, team: &str, user: &str) {
    r.assert_error(
        404,
        "TEAM_MEMBERSHIP_NOT_FOUND",
        &format!("User {user} is not found in team {team}."),
    );
    assert_eq!(
        r.body["details"],
        json!({ "team_id": team, "user_id": user })
    );
}

#[track_caller]
fn assert_team_not_found(r: &Response, team: &str) {
    r.assert_error(404, "TEAM_NOT_FOUND", &format!("Team {team} not found."));
    assert_eq!(r.body["details"], json!({ "team_id": team }));
}

// ---------------------------------------------------------------------------
// Teams

#[tokio::test]
async fn the_server_creates_reads_lists_updates_and_deletes_teams() {
    let app = TestApp::spawn().await;
    for access in ["server", "admin"] {
        let with = |r: Request| {
            if access == "server" {
                r.server()
            } else {
                r.admin()
            }
        };
        let r = with(app.post("/teams"))
            .json(json!({ "display_name": "New Team" }))
            .send()
            .await;
        r.assert_status(201);
        let team = r.body.clone();
        assert_eq!(keys(&team), server_team(), "{team}");
        assert_eq!(team["display_name"], "New Team");
        for field in [
            "profile_image_url",
            "client_metadata",
            "client_read_only_metadata",
            "server_metadata",
        ] {
            assert_eq!(team[field], json!(null), "{field}");
        }
        assert!(team["created_at_millis"].is_i64());
        let t = id(&team);
        // Without a creator, the team has no members.
        let r = with(app.get(&format!("/team-member-profiles?team_id={t}")))
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(r.body["items"], json!([]));

        let r = with(app.get(&format!("/teams/{t}"))).send().await;
        r.assert_status(200);
        assert_eq!(r.body, team);

        let r = with(app.patch(&format!("/teams/{t}")))
            .json(json!({
                "display_name": "",
                "client_metadata": { "a": 1 },
                "client_read_only_metadata": [1, 2],
                "server_metadata": "s",
                "profile_image_url": "https://example.com/t.png",
            }))
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(r.body["display_name"], "");
        assert_eq!(r.body["client_metadata"], json!({ "a": 1 }));
        assert_eq!(r.body["client_read_only_metadata"], json!([1, 2]));
        assert_eq!(r.body["server_metadata"], "s");
        assert_eq!(r.body["profile_image_url"], "https://example.com/t.png");
        assert_eq!(r.body["created_at_millis"], team["created_at_millis"]);
        // Omitted fields stay; null clears.
        let r = with(app.patch(&format!("/teams/{t}")))
            .json(json!({ "client_metadata": null, "profile_image_url": null }))
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(r.body["client_metadata"], json!(null));
        assert_eq!(r.body["profile_image_url"], json!(null));
        assert_eq!(r.body["server_metadata"], "s");

        let r = with(app.get("/teams")).send().await;
        r.assert_status(200);
        assert_eq!(r.body["is_paginated"], false);
        assert!(r.body.get("pagination").is_none());
        let listed: Vec<String> = r.body["items"].as_array().unwrap().iter().map(id).collect();
        assert!(listed.contains(&t));

        let r = with(app.delete(&format!("/teams/{t}")))
            .json(json!({ "display_name": "any body is ignored" }))
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(r.body, json!({ "success": true }));
        for r in [
            with(app.get(&format!("/teams/{t}"))).send().await,
            with(app.patch(&format!("/teams/{t}")))
                .json(json!({}))
                .send()
                .await,
            with(app.delete(&format!("/teams/{t}"))).send().await,
        ] {
            assert_team_not_found(&r, &t);
        }
    }
}

#[tokio::test]
async fn teams_are_listed_oldest_first_and_filtered_by_member() {
    let app = TestApp::spawn().await;
    let s = user(&app, "Lister").await;
    let personal = app.selected_team(&s).await;
    let a = id(&create_team(
        &app,
        json!({ "display_name": "A", "creator_user_id": s.user_id }),
    )
    .await);
    let b = id(&create_team(&app, json!({ "display_name": "B" })).await);
    add_member(&app, &b, &s.user_id).await.assert_status(201);
    let _other = create_team(&app, json!({ "display_name": "Other" })).await;
    assert_eq!(
        team_ids_of(&app, &s).await,
        vec![personal.clone(), a.clone(), b.clone()]
    );
    for path in [
        format!("/teams?user_id={}", s.user_id),
        "/teams?user_id=me".to_owned(),
    ] {
        let r = app.get(&path).server().user(&s).send().await;
        r.assert_status(200);
        let got: Vec<String> = r.body["items"].as_array().unwrap().iter().map(id).collect();
        assert_eq!(got, vec![personal.clone(), a.clone(), b.clone()]);
        assert_eq!(keys(&r.body["items"][0]), server_team());
    }
    // The server filter does not check that the user exists.
    let r = app
        .get(&format!("/teams?user_id={MISSING}"))
        .server()
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["items"], json!([]));
}

#[tokio::test]
async fn clients_list_only_their_own_teams() {
    let app = TestApp::spawn().await;
    let s = user(&app, "Client").await;
    let other = user(&app, "Other").await;
    let r = app.get("/teams").client().user(&s).send().await;
    r.assert_plain(
        403,
        "Client can only list teams for their own user. user_id must be either \"me\" or the ID of the current user",
    );
    let r = app
        .get(&format!("/teams?user_id={}", other.user_id))
        .client()
        .user(&s)
        .send()
        .await;
    r.assert_status(403);
    let r = app
        .get(&format!("/teams?user_id={}", s.user_id))
        .client()
        .user(&s)
        .send()
        .await;
    r.assert_status(200);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(keys(&items[0]), sorted(CLIENT_TEAM));
    for path in ["/teams", "/teams?user_id=me"] {
        let r = app.get(path).client().send().await;
        r.assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER", NO_USER);
    }
    let r = app
        .get("/teams?user_id=nope")
        .client()
        .user(&s)
        .send()
        .await;
    r.assert_schema_error(
        "GET",
        "/api/v1/teams",
        &["query.user_id must be a valid UUID"],
    );
    let r = app.get("/teams?extra=1").server().send().await;
    r.assert_schema_error(
        "GET",
        "/api/v1/teams",
        &["query contains unknown properties: extra"],
    );
}

#[tokio::test]
async fn a_client_creates_a_team_as_its_creator_without_selecting_it() {
    let app = TestApp::spawn().await;
    let s = user(&app, "Creator").await;
    let personal = app.selected_team(&s).await;
    for creator in [None, Some("me".to_owned()), Some(s.user_id.clone())] {
        let mut body = json!({ "display_name": "Mine", "client_metadata": { "k": "v" } });
        if let Some(c) = &creator {
            body["creator_user_id"] = json!(c);
        }
        let r = app.post("/teams").client().user(&s).json(body).send().await;
        r.assert_status(201);
        assert_eq!(keys(&r.body), sorted(CLIENT_TEAM), "{}", r.body);
        assert_eq!(r.body["client_metadata"], json!({ "k": "v" }));
        let t = id(&r.body);
        // The creator gets the `teamCreator` defaults (`team_admin`), and can read it.
        assert_eq!(grants(&app, &t, &s.user_id).await, vec!["team_admin"]);
        let r = app
            .get(&format!("/teams/{t}"))
            .client()
            .user(&s)
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(keys(&r.body), sorted(CLIENT_TEAM));
    }
    assert_eq!(team_ids_of(&app, &s).await.len(), 4);
    assert_eq!(
        app.selected_team(&s).await,
        personal,
        "creating a team does not select it"
    );

    // The creator must be the caller, and a signed-in one.
    let other = user(&app, "Other").await;
    let r = app
        .post("/teams")
        .client()
        .user(&s)
        .json(json!({ "display_name": "X", "creator_user_id": other.user_id }))
        .send()
        .await;
    r.assert_plain(
        403,
        "You cannot create a team as a user that is not yourself. Make sure you set the creator_user_id to 'me'.",
    );
    let r = app
        .post("/teams")
        .client()
        .json(json!({ "display_name": "X", "creator_user_id": s.user_id }))
        .send()
        .await;
    r.assert_error(
        401,
        "USER_AUTHENTICATION_REQUIRED",
        "User authentication required for this endpoint.",
    );
    let r = app
        .post("/teams")
        .client()
        .json(json!({ "display_name": "X", "creator_user_id": "me" }))
        .send()
        .await;
    r.assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER", NO_USER);
    // A client may send only a base64 image.
    let r = app
        .post("/teams")
        .client()
        .user(&s)
        .json(json!({ "display_name": "X", "profile_image_url": "https://example.com/a.png" }))
        .send()
        .await;
    r.assert_plain(400, "Invalid profile image URL");
    let r = app
        .post("/teams")
        .client()
        .user(&s)
        .json(json!({ "display_name": "X", "profile_image_url": A_GIF }))
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(
        r.body["profile_image_url"], A_GIF,
        "data URLs are kept as given"
    );
    // Server-only fields are unknown to clients.
    let r = app
        .post("/teams")
        .client()
        .user(&s)
        .json(json!({ "display_name": "X", "server_metadata": 1 }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/teams",
        &["body contains unknown properties: server_metadata"],
    );
}

#[tokio::test]
async fn team_creation_checks_the_creator_in_stack_auths_order() {
    let app = TestApp::spawn().await;
    let s = user(&app, "Someone").await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM teams")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let before = count().await;
    let r = app
        .post("/teams")
        .server()
        .json(json!({ "display_name": "New Team", "creator_user_id": MISSING }))
        .send()
        .await;
    r.assert_error(404, "USER_NOT_FOUND", "User not found.")
        .assert_no_details();
    assert_eq!(count().await, before, "the team insert is rolled back");

    let r = app
        .post("/teams?add_current_user=false")
        .server()
        .json(json!({ "display_name": "X", "creator_user_id": s.user_id }))
        .send()
        .await;
    r.assert_plain(
        400,
        "Cannot use both creator_user_id and add_current_user. add_current_user is deprecated, please only use creator_user_id in the body.",
    );
    let r = app
        .post("/teams?add_current_user=true")
        .server()
        .json(json!({ "display_name": "X" }))
        .send()
        .await;
    r.assert_plain(
        401,
        "You must be logged in to create a team with the current user as a member.",
    );
    let r = app
        .post("/teams?add_current_user=true")
        .server()
        .user(&s)
        .json(json!({ "display_name": "Added" }))
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(
        grants(&app, &id(&r.body), &s.user_id).await,
        vec!["team_admin"]
    );
    let r = app
        .post("/teams?add_current_user=maybe")
        .server()
        .json(json!({ "display_name": "X" }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/teams",
        &["query.add_current_user must be one of the following values: true, false"],
    );
    let r = app.post("/teams").server().json(json!({})).send().await;
    r.assert_schema_error(
        "POST",
        "/api/v1/teams",
        &["body.display_name must be defined"],
    );
    let r = app.post("/teams").server().send().await;
    r.assert_schema_error("POST", "/api/v1/teams", &["body must be defined"]);
    // Server images: http(s) URLs and image data URLs; nothing else.
    for (url, status) in [
        ("https://example.com/a.png", 201),
        (A_GIF, 201),
        ("ftp://example.com/a.png", 400),
        ("data:image/png;base64,SGVsbG8=", 400),
    ] {
        let r = app
            .post("/teams")
            .server()
            .json(json!({ "display_name": "Img", "profile_image_url": url }))
            .send()
            .await;
        r.assert_status(status);
        if status == 201 {
            assert_eq!(r.body["profile_image_url"], url);
        } else {
            r.assert_plain_kind();
        }
    }
    for (url, problem) in [
        ("not a url", "body.profile_image_url contains spaces"),
        ("nope", "body.profile_image_url is not a valid URL"),
    ] {
        let r = app
            .post("/teams")
            .server()
            .json(json!({ "display_name": "Img", "profile_image_url": url }))
            .send()
            .await;
        r.assert_schema_error("POST", "/api/v1/teams", &[problem]);
    }
}

#[tokio::test]
async fn client_team_creation_follows_the_project_setting() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up(&app.email(), "password123").await;
    let project = app
        .create_project(&owner, json!({ "client_team_creation_enabled": false }))
        .await;
    let pid = id(&project);
    let set = create_keys(&app, &owner, &pid, json!({})).await.body;
    let pck = key(&set, "publishable_client_key").to_owned();
    let ssk = key(&set, "secret_server_key").to_owned();
    let r = app
        .post("/users")
        .with_key("server", &pid, &ssk)
        .json(json!({}))
        .send()
        .await;
    r.assert_status(201);
    let uid = id(&r.body);
    let r = app
        .post("/auth/sessions")
        .with_key("server", &pid, &ssk)
        .json(json!({ "user_id": uid }))
        .send()
        .await;
    r.assert_status(200);
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    let r = app
        .post("/teams")
        .with_key("client", &pid, &pck)
        .header("x-stack-access-token", &access)
        .json(json!({ "display_name": "No" }))
        .send()
        .await;
    r.assert_plain(403, "Client team creation is disabled for this project");
    // Servers are not bound by it; a new project gives no personal team.
    let r = app
        .get("/teams?user_id=me")
        .with_key("client", &pid, &pck)
        .header("x-stack-access-token", &access)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["items"], json!([]));
    let r = app
        .post("/teams")
        .with_key("server", &pid, &ssk)
        .json(json!({ "display_name": "Yes", "creator_user_id": uid }))
        .send()
        .await;
    r.assert_status(201);
}

#[tokio::test]
async fn clients_read_only_teams_they_belong_to() {
    let app = TestApp::spawn().await;
    let s = user(&app, "Reader").await;
    let t = id(&create_team(&app, json!({ "display_name": "Theirs" })).await);
    let r = app
        .get(&format!("/teams/{t}"))
        .client()
        .user(&s)
        .send()
        .await;
    assert_not_a_member(&r, &t, &s.user_id);
    // A missing team is "not a member" for a client, "not found" for a server.
    let r = app
        .get(&format!("/teams/{MISSING}"))
        .client()
        .user(&s)
        .send()
        .await;
    assert_not_a_member(&r, MISSING, &s.user_id);
    let r = app.get(&format!("/teams/{MISSING}")).server().send().await;
    assert_team_not_found(&r, MISSING);
    let r = app.get(&format!("/teams/{t}")).server().send().await;
    r.assert_status(200);
    assert_eq!(keys(&r.body), server_team());
    for r in [
        app.get(&format!("/teams/{t}")).client().send().await,
        app.patch(&format!("/teams/{t}"))
            .client()
            .json(json!({}))
            .send()
            .await,
        app.delete(&format!("/teams/{t}")).client().send().await,
    ] {
        r.assert_known(401, "USER_AUTHENTICATION_REQUIRED");
    }
    let r = app
        .get("/teams/me?team_id=x")
        .client()
        .user(&s)
        .send()
        .await;
    r.assert_schema_error(
        "GET",
        "/api/v1/teams/me",
        &[
            "params.team_id must be a valid UUID",
            "query contains unknown properties: team_id",
        ],
    );
    // Params come before query in the message.
    assert!(r.body["error"].as_str().unwrap().ends_with(
        "params.team_id must be a valid UUID\n  - query contains unknown properties: team_id"
    ));
}

#[tokio::test]
async fn client_updates_need_update_team_and_deletes_need_delete_team() {
    let app = TestApp::spawn().await;
    let member = user(&app, "Member").await;
    let t = id(&create_team(&app, json!({ "display_name": "T" })).await);
    add_member(&app, &t, &member.user_id)
        .await
        .assert_status(201);
    let patch = |who: &Session, body: Value| {
        app.patch(&format!("/teams/{t}"))
            .client()
            .user(who)
            .json(body)
    };
    let r = patch(&member, json!({ "display_name": "Renamed" }))
        .send()
        .await;
    assert_permission_required(&r, &t, &member.user_id, "$update_team");
    let r = app
        .delete(&format!("/teams/{t}"))
        .client()
        .user(&member)
        .send()
        .await;
    assert_permission_required(&r, &t, &member.user_id, "$delete_team");
    let outsider = user(&app, "Outsider").await;
    let r = patch(&outsider, json!({ "display_name": "Renamed" }))
        .send()
        .await;
    assert_not_a_member(&r, &t, &outsider.user_id);

    grant(&app, &t, &member.user_id, "$update_team").await;
    let r = patch(
        &member,
        json!({ "display_name": "Renamed", "client_metadata": { "x": 1 } }),
    )
    .send()
    .await;
    r.assert_status(200);
    assert_eq!(keys(&r.body), sorted(CLIENT_TEAM));
    assert_eq!(r.body["display_name"], "Renamed");
    let r = patch(&member, json!({ "display_name": "" })).send().await;
    r.assert_status(200);
    assert_eq!(r.body["display_name"], "");
    let r = patch(
        &member,
        json!({ "client_read_only_metadata": { "test": "test-value" } }),
    )
    .send()
    .await;
    r.assert_schema_error(
        "PATCH",
        &format!("/api/v1/teams/{t}"),
        &["body contains unknown properties: client_read_only_metadata"],
    );
    let r = patch(&member, json!({ "display_name": null })).send().await;
    r.assert_schema_error(
        "PATCH",
        &format!("/api/v1/teams/{t}"),
        &["body.display_name cannot be null"],
    );
    let r = patch(
        &member,
        json!({ "profile_image_url": "https://example.com/a.png" }),
    )
    .send()
    .await;
    r.assert_plain(400, "Invalid profile image URL");
    let r = patch(&member, json!({ "profile_image_url": A_GIF }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["profile_image_url"], A_GIF);
    // A server sets what clients may only read; clients then see it.
    let r = app
        .patch(&format!("/teams/{t}"))
        .server()
        .json(json!({ "client_read_only_metadata": { "test": "test-value" } }))
        .send()
        .await;
    r.assert_status(200);
    let r = app
        .get(&format!("/teams/{t}"))
        .client()
        .user(&member)
        .send()
        .await;
    assert_eq!(
        r.body["client_read_only_metadata"],
        json!({ "test": "test-value" })
    );

    grant(&app, &t, &member.user_id, "$delete_team").await;
    let r = app
        .delete(&format!("/teams/{t}"))
        .client()
        .user(&member)
        .json(json!({ "display_name": "ignored" }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": true }));
}

#[tokio::test]
async fn contained_permissions_count_for_team_operations() {
    let app = TestApp::spawn().await;
    // The creator holds `team_admin`, which contains `$update_team` and `$delete_team`.
    let s = user(&app, "Admin").await;
    let t = id(&create_team(
        &app,
        json!({ "display_name": "T", "creator_user_id": s.user_id }),
    )
    .await);
    let r = app
        .patch(&format!("/teams/{t}"))
        .client()
        .user(&s)
        .json(json!({ "display_name": "Mine" }))
        .send()
        .await;
    r.assert_status(200);
    let r = app
        .delete(&format!("/teams/{t}"))
        .client()
        .user(&s)
        .send()
        .await;
    r.assert_status(200);
}

// ---------------------------------------------------------------------------
// Selected team

#[tokio::test]
async fn deleting_or_leaving_the_selected_team_clears_the_selection() {
    let app = TestApp::spawn().await;
    let s = user(&app, "Selector").await;
    let personal = app.selected_team(&s).await;
    let t = id(&create_team(
        &app,
        json!({ "display_name": "Work", "creator_user_id": s.user_id }),
    )
    .await);
    let u = app
        .patch("/users/me")
        .client()
        .user(&s)
        .json(json!({ "selected_team_id": t }))
        .send()
        .await;
    u.assert_status(200);
    assert_eq!(u.body["selected_team_id"], t.as_str());
    assert_eq!(keys(&u.body["selected_team"]), sorted(CLIENT_TEAM));
    assert_eq!(u.body["selected_team"]["display_name"], "Work");
    let server_view = me(&app, &s, true).await;
    assert_eq!(keys(&server_view["selected_team"]), server_team());
    // A fresh token carries the selection.
    let fresh = app.session_for(&s.user_id).await;
    assert_eq!(claims(&fresh.access)["selected_team_id"], t.as_str());

    // Deleting the team clears the selection; nothing else is selected.
    app.delete(&format!("/teams/{t}"))
        .server()
        .send()
        .await
        .assert_status(200);
    let after = me(&app, &s, false).await;
    assert_eq!(after["selected_team_id"], json!(null));
    assert_eq!(after["selected_team"], json!(null));

    // Leaving the selected team clears it too.
    let u = app
        .patch("/users/me")
        .client()
        .user(&s)
        .json(json!({ "selected_team_id": personal }))
        .send()
        .await;
    assert_eq!(u.body["selected_team_id"], personal.as_str());
    let r = app
        .delete(&format!("/team-memberships/{personal}/me"))
        .client()
        .user(&s)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(me(&app, &s, false).await["selected_team"], json!(null));
    let r = app
        .patch("/users/me")
        .client()
        .user(&s)
        .json(json!({ "selected_team_id": personal }))
        .send()
        .await;
    assert_not_a_member(&r, &personal, &s.user_id);
}

#[tokio::test]
async fn the_server_selects_teams_for_a_user_and_checks_membership() {
    let app = TestApp::spawn().await;
    let s = user(&app, "Picked").await;
    let t = id(&create_team(&app, json!({ "display_name": "T" })).await);
    let path = format!("/users/{}", s.user_id);
    let r = app
        .patch(&path)
        .server()
        .json(json!({ "selected_team_id": t }))
        .send()
        .await;
    assert_not_a_member(&r, &t, &s.user_id);
    add_member(&app, &t, &s.user_id).await.assert_status(201);
    assert_ne!(
        me(&app, &s, false).await["selected_team_id"],
        t.as_str(),
        "adding does not select"
    );
    let r = app
        .patch(&path)
        .server()
        .json(json!({ "selected_team_id": t }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["selected_team"]["id"], t.as_str());
    assert_eq!(keys(&r.body["selected_team"]), server_team());
    let r = app
        .patch(&format!("/users/{MISSING}"))
        .server()
        .json(json!({ "selected_team_id": t }))
        .send()
        .await;
    r.assert_known(404, "USER_NOT_FOUND");
}

// ---------------------------------------------------------------------------
// Memberships

#[tokio::test]
async fn the_server_adds_members_with_the_member_defaults() {
    let app = TestApp::spawn().await;
    let s = user(&app, "Joiner").await;
    let personal = app.selected_team(&s).await;
    let t = id(&create_team(&app, json!({ "display_name": "T" })).await);
    let r = add_member(&app, &t, &s.user_id).await;
    r.assert_status(201);
    assert_eq!(r.body, json!({ "team_id": t, "user_id": s.user_id }));
    assert_eq!(grants(&app, &t, &s.user_id).await, vec!["team_member"]);
    assert_eq!(
        app.selected_team(&s).await,
        personal,
        "adding a member does not select the team"
    );
    let r = add_member(&app, &t, &s.user_id).await;
    r.assert_error(
        409,
        "TEAM_MEMBERSHIP_ALREADY_EXISTS",
        "Team membership already exists.",
    );
    let r = add_member(&app, &t, MISSING).await;
    r.assert_error(404, "USER_NOT_FOUND", "User not found.");
    let r = add_member(&app, MISSING, &s.user_id).await;
    assert_team_not_found(&r, MISSING);
    // Admin access works too; `me` is the signed-in user.
    let t2 = id(&create_team(&app, json!({ "display_name": "T2" })).await);
    let r = app
        .post(&format!("/team-memberships/{t2}/me"))
        .admin()
        .user(&s)
        .json(json!({}))
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(r.body["user_id"], s.user_id.as_str());
    let r = app
        .post(&format!("/team-memberships/{t2}/me"))
        .server()
        .json(json!({}))
        .send()
        .await;
    r.assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER", NO_USER);
    let r = app
        .post(&format!("/team-memberships/{t}/{}", s.user_id))
        .server()
        .json(json!({ "extra": 1 }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        &format!("/api/v1/team-memberships/{t}/{}", s.user_id),
        &["body contains unknown properties: extra"],
    );
    let r = app
        .post(&format!("/team-memberships/{t}/nope"))
        .server()
        .json(json!({}))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        &format!("/api/v1/team-memberships/{t}/nope"),
        &["params.user_id must be a valid UUID"],
    );
    // Only servers and admins add members.
    let r = app
        .post(&format!("/team-memberships/{t}/{}", s.user_id))
        .client()
        .user(&s)
        .json(json!({}))
        .send()
        .await;
    r.assert_error(
        401,
        "INSUFFICIENT_ACCESS_TYPE",
        "The x-stack-access-type header must be 'server' or 'admin', but was 'client'.",
    );
    assert_eq!(
        r.body["details"],
        json!({ "actual_access_type": "client", "allowed_access_types": ["server", "admin"] })
    );
}

#[tokio::test]
async fn concurrent_adds_of_one_member_give_one_201_and_one_409() {
    let app = TestApp::spawn().await;
    for round in 0..8 {
        let s = user(&app, &format!("Racer {round}")).await;
        let t = id(&create_team(&app, json!({ "display_name": "Race" })).await);
        let (a, b) = tokio::join!(
            add_member(&app, &t, &s.user_id),
            add_member(&app, &t, &s.user_id)
        );
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [201, 409],
            "round {round}: {} / {}",
            a.text,
            b.text
        );
        let conflict = if a.status == 409 { &a } else { &b };
        conflict.assert_known(409, "TEAM_MEMBERSHIP_ALREADY_EXISTS");
        assert_eq!(grants(&app, &t, &s.user_id).await, vec!["team_member"]);
    }
}

#[tokio::test]
async fn members_leave_and_removing_others_needs_remove_members() {
    let app = TestApp::spawn().await;
    let creator = user(&app, "Creator").await;
    let a = user(&app, "A").await;
    let b = user(&app, "B").await;
    let t = id(&create_team(
        &app,
        json!({ "display_name": "T", "creator_user_id": creator.user_id }),
    )
    .await);
    for m in [&a, &b] {
        add_member(&app, &t, &m.user_id).await.assert_status(201);
    }
    let remove = |who: &Session, target: &str| {
        app.delete(&format!("/team-memberships/{t}/{target}"))
            .client()
            .user(who)
    };
    let r = remove(&a, &b.user_id).send().await;
    assert_permission_required(&r, &t, &a.user_id, "$remove_members");
    let outsider = user(&app, "Outsider").await;
    let r = remove(&outsider, &b.user_id).send().await;
    assert_not_a_member(&r, &t, &outsider.user_id);
    grant(&app, &t, &a.user_id, "$remove_members").await;
    let r = remove(&a, &b.user_id).send().await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": true }));
    assert_eq!(
        grants(&app, &t, &b.user_id).await,
        Vec::<String>::new(),
        "permissions go with the membership"
    );
    let r = remove(&a, &b.user_id).send().await;
    assert_not_a_member(&r, &t, &b.user_id);
    let r = remove(&a, MISSING).send().await;
    r.assert_error(404, "USER_NOT_FOUND", "User not found.");
    // Anyone may leave, the creator too; the team stays.
    let r = remove(&creator, "me").send().await;
    r.assert_status(200);
    let r = remove(&a, "me").send().await;
    r.assert_status(200);
    let r = app.get(&format!("/teams/{t}")).server().send().await;
    r.assert_status(200);
    let r = app
        .delete(&format!("/team-memberships/{t}/{}", a.user_id))
        .client()
        .send()
        .await;
    r.assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER", NO_USER);
    // The server removes anyone, with no permission needed.
    add_member(&app, &t, &b.user_id).await.assert_status(201);
    for access in ["server", "admin"] {
        let req = app.delete(&format!("/team-memberships/{t}/{}", b.user_id));
        let req = if access == "server" {
            req.server()
        } else {
            req.admin()
        };
        let r = req.send().await;
        if access == "server" {
            r.assert_status(200);
        } else {
            assert_not_a_member(&r, &t, &b.user_id);
        }
    }
    let r = app
        .delete(&format!("/team-memberships/{MISSING}/{}", b.user_id))
        .server()
        .send()
        .await;
    assert_not_a_member(&r, MISSING, &b.user_id);
}

#[tokio::test]
async fn the_server_lists_the_members_of_a_team_as_users() {
    let app = TestApp::spawn().await;
    let a = user(&app, "Alpha").await;
    let b = user(&app, "Beta").await;
    let t = id(&create_team(
        &app,
        json!({ "display_name": "T", "creator_user_id": a.user_id }),
    )
    .await);
    add_member(&app, &t, &b.user_id).await.assert_status(201);
    let r = app
        .get(&format!("/users?team_id={t}"))
        .server()
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["is_paginated"], true);
    let ids: Vec<String> = r.body["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, vec![a.user_id.clone(), b.user_id.clone()]);
    app.delete(&format!("/users/{}", b.user_id))
        .server()
        .send()
        .await
        .assert_status(200);
    let r = app
        .get(&format!("/users?team_id={t}"))
        .server()
        .send()
        .await;
    let ids: Vec<String> = r.body["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, vec![a.user_id.clone()]);
}

// ---------------------------------------------------------------------------
// Member profiles

/// A team made by `creator` with two more members, in that order.
async fn three_member_team(app: &TestApp) -> (String, Session, Session, Session) {
    let creator = user(app, "User 3 (team creator)").await;
    let one = user(app, "User 1").await;
    let two = user(app, "User 2").await;
    let t = id(&create_team(
        app,
        json!({ "display_name": "T", "creator_user_id": creator.user_id }),
    )
    .await);
    for m in [&one, &two] {
        add_member(app, &t, &m.user_id).await.assert_status(201);
    }
    (t, creator, one, two)
}

#[tokio::test]
async fn clients_list_profiles_of_their_team_with_read_members() {
    let app = TestApp::spawn().await;
    let (t, creator, one, two) = three_member_team(&app).await;
    let list = |who: &Session, query: String| {
        app.get(&format!("/team-member-profiles{query}"))
            .client()
            .user(who)
    };
    let r = list(&one, String::new()).send().await;
    r.assert_plain(400, "team_id is required for access type client");
    let r = app
        .get(&format!("/team-member-profiles?team_id={t}"))
        .client()
        .send()
        .await;
    r.assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER", NO_USER);
    revoke_all(&app, &t, &one.user_id).await;
    let r = list(&one, format!("?team_id={t}")).send().await;
    assert_permission_required(&r, &t, &one.user_id, "$read_members");
    // Listing only yourself needs no permission.
    let r = list(&one, format!("?team_id={t}&user_id=me")).send().await;
    r.assert_status(200);
    assert_eq!(
        r.body,
        json!({ "is_paginated": false, "items": [{
            "team_id": t, "user_id": one.user_id, "display_name": "User 1", "profile_image_url": null,
        }]})
    );
    let outsider = user(&app, "Outsider").await;
    let r = list(&outsider, format!("?team_id={t}&user_id=me"))
        .send()
        .await;
    assert_not_a_member(&r, &t, &outsider.user_id);

    grant(&app, &t, &one.user_id, "$read_members").await;
    let r = list(&one, format!("?team_id={t}")).send().await;
    r.assert_status(200);
    let items = r.body["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|p| p["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["User 3 (team creator)", "User 1", "User 2"],
        "in the order members joined"
    );
    assert_eq!(keys(&items[0]), sorted(CLIENT_PROFILE));
    assert_eq!(items[0]["user_id"], creator.user_id.as_str());
    assert_eq!(items[2]["user_id"], two.user_id.as_str());
}

#[tokio::test]
async fn profiles_fall_back_to_the_user_until_they_are_set() {
    let app = TestApp::spawn().await;
    let (t, _creator, one, two) = three_member_team(&app).await;
    let path = |u: &Session| format!("/team-member-profiles/{t}/{}", u.user_id);
    let r = app
        .patch(&format!("/team-member-profiles/{t}/me"))
        .client()
        .user(&one)
        .json(json!({ "display_name": "Team name", "profile_image_url": A_GIF }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(keys(&r.body), sorted(CLIENT_PROFILE));
    assert_eq!(r.body["display_name"], "Team name");
    assert_eq!(r.body["profile_image_url"], A_GIF);
    // A later change of the user's own name does not override the profile...
    app.patch(&format!("/users/{}", one.user_id))
        .server()
        .json(json!({ "display_name": "Renamed user" }))
        .send()
        .await
        .assert_status(200);
    let r = app.get(&path(&one)).client().user(&one).send().await;
    assert_eq!(r.body["display_name"], "Team name");
    // ...but shows through where the profile has no name of its own.
    app.patch(&format!("/users/{}", two.user_id))
        .server()
        .json(json!({ "display_name": "User 2 Updated", "profile_image_url": "https://example.com/2.png" }))
        .send()
        .await
        .assert_status(200);
    let r = app.get(&path(&two)).client().user(&one).send().await;
    r.assert_status(200);
    assert_eq!(r.body["display_name"], "User 2 Updated");
    assert_eq!(r.body["profile_image_url"], "https://example.com/2.png");
    // Only your own profile, for clients.
    let r = app
        .patch(&path(&two))
        .client()
        .user(&one)
        .json(json!({ "display_name": "Hijack" }))
        .send()
        .await;
    r.assert_plain(403, "Cannot update another user's profile");
    // Removing the profile image falls back to the user's again.
    let r = app
        .patch(&path(&one))
        .server()
        .json(json!({ "profile_image_url": null }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["profile_image_url"], json!(null));
    let r = app
        .patch(&path(&one))
        .server()
        .json(json!({ "display_name": null }))
        .send()
        .await;
    r.assert_schema_error(
        "PATCH",
        &format!("/api/v1/team-member-profiles/{t}/{}", one.user_id),
        &["body.display_name cannot be null"],
    );
    let r = app
        .patch(&path(&one))
        .server()
        .json(json!({ "profile_image_url": "ftp://example.com/a.png" }))
        .send()
        .await;
    r.assert_plain(400, "Invalid profile image URL");
}

#[tokio::test]
async fn reading_profiles_follows_stack_auths_checks() {
    let app = TestApp::spawn().await;
    let (t, creator, one, _two) = three_member_team(&app).await;
    revoke_all(&app, &t, &one.user_id).await;
    let r = app
        .get(&format!("/team-member-profiles/{t}/{}", creator.user_id))
        .client()
        .user(&one)
        .send()
        .await;
    assert_permission_required(&r, &t, &one.user_id, "$read_members");
    let r = app
        .get(&format!("/team-member-profiles/{t}/me"))
        .client()
        .user(&one)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["display_name"], "User 1");
    // The server shape has the member's server user object.
    let r = app
        .get(&format!("/team-member-profiles/{t}/{}", one.user_id))
        .server()
        .send()
        .await;
    r.assert_status(200);
    let mut fields = CLIENT_PROFILE.to_vec();
    fields.push("user");
    assert_eq!(keys(&r.body), sorted(&fields));
    assert_eq!(r.body["user"]["id"], one.user_id.as_str());
    assert!(r.body["user"]["server_metadata"].is_null());
    assert!(r.body["user"]["last_active_at_millis"].is_i64());
    // A missing team is a missing membership, even for the server.
    let r = app
        .get(&format!("/team-member-profiles/{MISSING}/{}", one.user_id))
        .server()
        .send()
        .await;
    assert_not_a_member(&r, MISSING, &one.user_id);
    let r = app
        .get(&format!("/team-member-profiles/{t}/{MISSING}"))
        .server()
        .send()
        .await;
    r.assert_known(404, "USER_NOT_FOUND");
    // Server lists: optional filters, each checked to exist.
    let r = app
        .get(&format!("/team-member-profiles?team_id={MISSING}"))
        .server()
        .send()
        .await;
    assert_team_not_found(&r, MISSING);
    let r = app
        .get(&format!("/team-member-profiles?user_id={MISSING}"))
        .server()
        .send()
        .await;
    r.assert_known(404, "USER_NOT_FOUND");
    let r = app
        .get(&format!("/team-member-profiles?user_id={}", one.user_id))
        .admin()
        .send()
        .await;
    r.assert_status(200);
    let teams: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["team_id"].as_str().unwrap())
        .collect();
    assert_eq!(teams.len(), 2, "the personal team and T");
    assert!(teams.contains(&t.as_str()));
}

// ---------------------------------------------------------------------------
// Personal teams

#[tokio::test]
async fn every_sign_up_gets_a_selected_personal_team_named_after_the_user() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let s = app.sign_up(&email, "password123").await;
    let u = me(&app, &s, false).await;
    assert_eq!(
        u["selected_team"]["display_name"],
        format!("{email}'s Team")
    );
    let t = u["selected_team_id"].as_str().unwrap().to_owned();
    assert_eq!(
        grants(&app, &t, &s.user_id).await,
        vec!["team_admin"],
        "teamCreator defaults"
    );

    let anon = app.anonymous().await;
    let r = app
        .get("/users/me")
        .client()
        .allow_anonymous()
        .user(&anon)
        .send()
        .await;
    assert_eq!(r.body["selected_team"]["display_name"], "Personal Team");

    // The server's create response predates the personal team.
    let r = app
        .post("/users")
        .server()
        .json(json!({ "display_name": "Test User" }))
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(r.body["selected_team"], json!(null));
    assert_eq!(r.body["selected_team_id"], json!(null));
    let r = app
        .get(&format!("/users/{}", id(&r.body)))
        .server()
        .send()
        .await;
    assert_eq!(r.body["selected_team"]["display_name"], "Test User's Team");
}

#[tokio::test]
async fn an_upgraded_anonymous_user_keeps_a_renamed_personal_team() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous().await;
    let r = app
        .get("/users/me")
        .client()
        .allow_anonymous()
        .user(&anon)
        .send()
        .await;
    let team = r.body["selected_team_id"].as_str().unwrap().to_owned();
    let email = format!("preserved-{}@example.com", uuid::Uuid::new_v4().simple());
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .allow_anonymous()
        .user(&anon)
        .json(json!({ "email": email, "password": "password123" }))
        .send()
        .await;
    r.assert_status(200);
    let s = Session::from(&r.body);
    let u = me(&app, &s, false).await;
    assert_eq!(u["selected_team_id"], team.as_str(), "the same team");
    assert_eq!(
        u["selected_team"]["display_name"],
        format!("{email}'s Team")
    );

    // An upgrade without a name or an email keeps `Personal Team`.
    let anon = app.anonymous().await;
    let r = app
        .patch(&format!("/users/{}", anon.user_id))
        .server()
        .json(json!({ "is_anonymous": false }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["selected_team"]["display_name"], "Personal Team");
    // With a name, only teams named exactly `Personal Team` are renamed.
    let anon = app.anonymous().await;
    let other = id(&create_team(
        &app,
        json!({ "display_name": "Personal Team!", "creator_user_id": anon.user_id }),
    )
    .await);
    let r = app
        .patch(&format!("/users/{}", anon.user_id))
        .server()
        .json(json!({ "is_anonymous": false, "display_name": "Ada" }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["selected_team"]["display_name"], "Ada's Team");
    let r = app.get(&format!("/teams/{other}")).server().send().await;
    assert_eq!(r.body["display_name"], "Personal Team!");
}

#[tokio::test]
async fn projects_without_personal_teams_give_none() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up(&app.email(), "password123").await;
    let project = app.create_project(&owner, json!({})).await;
    let pid = id(&project);
    let set = create_keys(&app, &owner, &pid, json!({})).await.body;
    let ssk = key(&set, "secret_server_key").to_owned();
    let r = app
        .post("/users")
        .with_key("server", &pid, &ssk)
        .json(json!({ "display_name": "Nobody" }))
        .send()
        .await;
    r.assert_status(201);
    let r = app
        .get(&format!("/teams?user_id={}", id(&r.body)))
        .with_key("server", &pid, &ssk)
        .send()
        .await;
    assert_eq!(r.body["items"], json!([]));
}
