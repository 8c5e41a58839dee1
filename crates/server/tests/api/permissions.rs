//! Permissions (spec §2.11): the definition routes of both scopes, the grant
//! routes, recursive lists over a deep tree, Stack Auth's order, renames and
//! deletes, the access rules and known errors, concurrent writes, sign-up
//! defaults and the local emulator's branch-level writes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Response, Session, TestApp};

const TEAM_DEFS: &str = "/team-permission-definitions";
const PROJECT_DEFS: &str = "/project-permission-definitions";

/// A member of a team in the internal project: a user made by the server
/// API, with the personal team it gets (as its creator, so `team_admin`).
struct Member {
    user_id: String,
    team_id: String,
    session: Session,
}

async fn member(app: &TestApp) -> Member {
    let user = app
        .create_user(json!({ "primary_email": app.email() }))
        .await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    let session = app.session_for(&user_id).await;
    let team_id = app.selected_team(&session).await;
    Member {
        user_id,
        team_id,
        session,
    }
}

/// Adds `user_id` to `team_id` as a plain member (no grants): the membership
/// routes are not this module's subject.
async fn join(app: &TestApp, team_id: &str, user_id: &str) {
    sqlx::query(
        "INSERT INTO team_members (project_id, team_id, user_id) VALUES ('internal', $1::uuid, $2::uuid)",
    )
    .bind(team_id)
    .bind(user_id)
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn define(app: &TestApp, path: &str, body: Value) -> Response {
    app.post(path).admin().json(body).send().await
}

async fn define_ok(app: &TestApp, path: &str, id: &str, contained: &[&str]) {
    define(
        app,
        path,
        json!({ "id": id, "contained_permission_ids": contained }),
    )
    .await
    .assert_status(201);
}

async fn items(r: Response) -> Vec<Value> {
    r.assert_status(200);
    assert_eq!(r.body["is_paginated"], false, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

async fn definitions(app: &TestApp, path: &str) -> Vec<Value> {
    items(app.get(path).admin().send().await).await
}

fn ids(list: &[Value]) -> Vec<&str> {
    list.iter().map(|v| v["id"].as_str().unwrap()).collect()
}

async fn team_list(app: &TestApp, query: &str) -> Vec<Value> {
    items(
        app.get(&format!("/team-permissions?{query}"))
            .server()
            .send()
            .await,
    )
    .await
}

async fn project_list(app: &TestApp, query: &str) -> Vec<Value> {
    items(
        app.get(&format!("/project-permissions?{query}"))
            .server()
            .send()
            .await,
    )
    .await
}

async fn grant_team(app: &TestApp, m: &Member, id: &str) -> Response {
    app.post(&format!(
        "/team-permissions/{}/{}/{id}",
        m.team_id, m.user_id
    ))
    .server()
    .json(json!({}))
    .send()
    .await
}

async fn grant_project(app: &TestApp, user_id: &str, id: &str) -> Response {
    app.post(&format!("/project-permissions/{user_id}/{id}"))
        .server()
        .json(json!({}))
        .send()
        .await
}

#[tokio::test]
async fn team_definitions_list_the_system_permissions_and_change_as_stack_auth_does() {
    let app = TestApp::spawn().await;
    let list = definitions(&app, TEAM_DEFS).await;
    assert_eq!(
        json!(list),
        json!([
            { "id": "$delete_team", "description": "Delete the team", "contained_permission_ids": [] },
            { "id": "$invite_members", "description": "Invite other users to the team", "contained_permission_ids": [] },
            { "id": "$manage_api_keys", "description": "Create and manage API keys for the team", "contained_permission_ids": [] },
            { "id": "$read_members", "description": "Read and list the other members of the team", "contained_permission_ids": [] },
            { "id": "$remove_members", "description": "Remove other members from the team", "contained_permission_ids": [] },
            { "id": "$update_team", "description": "Update the team information", "contained_permission_ids": [] },
            { "id": "team_admin", "description": "Default permission for team admins", "contained_permission_ids": [
                "$delete_team", "$invite_members", "$manage_api_keys", "$read_members", "$remove_members", "$update_team",
            ] },
            { "id": "team_member", "description": "Default permission for team members", "contained_permission_ids": ["$invite_members", "$read_members"] },
        ])
    );

    let r = define(&app, TEAM_DEFS, json!({ "id": "p1", "description": "one" })).await;
    r.assert_status(201);
    assert_eq!(
        r.body,
        json!({ "id": "p1", "description": "one", "contained_permission_ids": [] })
    );
    let r = define(
        &app,
        TEAM_DEFS,
        json!({ "id": "p2", "contained_permission_ids": ["p1", "$read_members"] }),
    )
    .await;
    r.assert_status(201);
    assert_eq!(
        r.body,
        json!({ "id": "p2", "contained_permission_ids": ["$read_members", "p1"] })
    );

    // PATCH replaces: the description it leaves out is gone.
    let r = app
        .patch(&format!("{TEAM_DEFS}/p2"))
        .admin()
        .json(json!({ "id": "p3", "contained_permission_ids": ["p1", "$update_team"] }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(
        r.body,
        json!({ "id": "p3", "contained_permission_ids": ["$update_team", "p1"] })
    );
    let r = app
        .patch(&format!("{TEAM_DEFS}/p1"))
        .admin()
        .json(json!({}))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(
        r.body,
        json!({ "id": "p1", "contained_permission_ids": [] })
    );

    let list = definitions(&app, TEAM_DEFS).await;
    assert_eq!(ids(&list)[6..], ["p1", "p3", "team_admin", "team_member"]);

    let r = app.delete(&format!("{TEAM_DEFS}/p1")).admin().send().await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "success": true }));
    let list = definitions(&app, TEAM_DEFS).await;
    let p3 = list.iter().find(|d| d["id"] == "p3").unwrap();
    assert_eq!(p3["contained_permission_ids"], json!(["$update_team"]));
    assert!(list.iter().all(|d| d["id"] != "p1"));
}

#[tokio::test]
async fn project_definitions_have_no_system_permissions_and_deletes_remove_references() {
    let app = TestApp::spawn().await;
    assert!(definitions(&app, PROJECT_DEFS).await.is_empty());
    define_ok(&app, PROJECT_DEFS, "p1", &[]).await;
    define_ok(&app, PROJECT_DEFS, "p2", &["p1"]).await;
    define_ok(&app, PROJECT_DEFS, "p3", &["p2"]).await;
    let list = definitions(&app, PROJECT_DEFS).await;
    assert_eq!(ids(&list), ["p1", "p2", "p3"]);
    app.delete(&format!("{PROJECT_DEFS}/p1"))
        .admin()
        .send()
        .await
        .assert_status(200);
    assert_eq!(
        json!(definitions(&app, PROJECT_DEFS).await),
        json!([
            { "id": "p2", "contained_permission_ids": [] },
            { "id": "p3", "contained_permission_ids": ["p2"] },
        ])
    );
    // The team list is unchanged by project definitions.
    assert_eq!(definitions(&app, TEAM_DEFS).await.len(), 8);
}

#[tokio::test]
async fn definition_errors_come_in_stack_auths_order() {
    let app = TestApp::spawn().await;
    define_ok(&app, TEAM_DEFS, "t1", &[]).await;
    define_ok(&app, PROJECT_DEFS, "p1", &[]).await;

    // One namespace for both scopes; the existing-id check comes first.
    for (path, id) in [
        (TEAM_DEFS, "t1"),
        (PROJECT_DEFS, "t1"),
        (TEAM_DEFS, "p1"),
        (PROJECT_DEFS, "p1"),
    ] {
        let r = define(
            &app,
            path,
            json!({ "id": id, "contained_permission_ids": ["missing"] }),
        )
        .await;
        r.assert_known(400, "PERMISSION_ID_ALREADY_EXISTS");
        assert_eq!(
            r.body["error"],
            format!("Permission with ID \"{id}\" already exists. Choose a different ID.")
        );
        assert_eq!(r.body["details"], json!({ "permission_id": id }));
    }

    // Contained ids must be defined in the same scope; system ones are team-only.
    for (path, contained) in [
        (TEAM_DEFS, "missing"),
        (TEAM_DEFS, "p1"),
        (PROJECT_DEFS, "t1"),
        (PROJECT_DEFS, "$read_members"),
        (TEAM_DEFS, "self_ref"),
    ] {
        let r = define(
            &app,
            path,
            json!({ "id": "self_ref", "contained_permission_ids": [contained] }),
        )
        .await;
        r.assert_known(400, "CONTAINED_PERMISSION_NOT_FOUND");
        assert_eq!(r.body["details"], json!({ "permission_id": contained }));
    }
    let r = define(
        &app,
        TEAM_DEFS,
        json!({ "id": "x", "contained_permission_ids": ["t1", "nope", "other"] }),
    )
    .await;
    r.assert_known(400, "CONTAINED_PERMISSION_NOT_FOUND");
    assert_eq!(
        r.body["error"],
        "Contained permission with ID \"nope\" not found. Make sure you created it on the dashboard."
    );
    assert_eq!(r.body["details"], json!({ "permission_id": "nope" }));

    // PATCH: missing, then rename collision, then contained ids.
    let r = app
        .patch(&format!("{TEAM_DEFS}/nope"))
        .admin()
        .json(json!({ "id": "t1", "contained_permission_ids": ["missing"] }))
        .send()
        .await;
    r.assert_known(404, "PERMISSION_NOT_FOUND");
    assert_eq!(
        r.body["error"],
        "Permission \"nope\" not found. Make sure you created it on the dashboard."
    );
    define_ok(&app, TEAM_DEFS, "t2", &[]).await;
    app.patch(&format!("{TEAM_DEFS}/t2"))
        .admin()
        .json(json!({ "id": "t1", "contained_permission_ids": ["missing"] }))
        .send()
        .await
        .assert_known(400, "PERMISSION_ID_ALREADY_EXISTS");
    app.patch(&format!("{TEAM_DEFS}/t2"))
        .admin()
        .json(json!({ "id": "t2", "contained_permission_ids": ["p1"] }))
        .send()
        .await
        .assert_known(400, "CONTAINED_PERMISSION_NOT_FOUND");
    // System permissions are not config entries: neither changed nor deleted.
    for method in [Method::PATCH, Method::DELETE] {
        app.req(method, &format!("{TEAM_DEFS}/$update_team"))
            .admin()
            .json(json!({}))
            .send()
            .await
            .assert_known(404, "PERMISSION_NOT_FOUND");
    }
    // A delete checks the scope; a PATCH does not (it moves the definition).
    app.delete(&format!("{TEAM_DEFS}/p1"))
        .admin()
        .send()
        .await
        .assert_known(404, "PERMISSION_NOT_FOUND");
    app.delete(&format!("{PROJECT_DEFS}/t1"))
        .admin()
        .send()
        .await
        .assert_known(404, "PERMISSION_NOT_FOUND");
    app.patch(&format!("{TEAM_DEFS}/p1"))
        .admin()
        .json(json!({ "description": "now a team one" }))
        .send()
        .await
        .assert_status(200);
    assert!(definitions(&app, PROJECT_DEFS).await.is_empty());
    assert!(
        ids(&definitions(&app, TEAM_DEFS).await).contains(&"p1"),
        "p1 moved to the team scope"
    );
}

#[tokio::test]
async fn definition_requests_are_checked_with_stack_auths_messages() {
    let app = TestApp::spawn().await;
    let r = define(&app, TEAM_DEFS, json!({ "id": "$update_team" })).await;
    r.assert_known(400, "SCHEMA_ERROR");
    assert_eq!(
        r.body["error"],
        "Request validation failed on POST /api/v1/team-permission-definitions:\n  - Only lowercase letters, numbers, \":\", \"_\" are allowed"
    );
    let r = define(
        &app,
        TEAM_DEFS,
        json!({ "id": "ok", "contained_permission_ids": ["$nope", 5], "extra": 1 }),
    )
    .await;
    r.assert_known(400, "SCHEMA_ERROR");
    let text = r.body["error"].as_str().unwrap();
    assert!(text.contains("\n  - Invalid system permission"), "{text}");
    assert!(
        text.contains("body.contained_permission_ids[1] must be a `string` type"),
        "{text}"
    );
    assert!(
        text.contains("body contains unknown properties: extra"),
        "{text}"
    );
    let r = define(&app, TEAM_DEFS, json!({ "description": "no id" })).await;
    r.assert_known(400, "SCHEMA_ERROR");
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .contains("body.id must be defined")
    );
    let r = app.post(TEAM_DEFS).admin().send().await;
    r.assert_known(400, "SCHEMA_ERROR");
    assert_eq!(
        r.body["error"],
        "Request validation failed on POST /api/v1/team-permission-definitions:\n  - body must be defined"
    );
    let r = app
        .patch(&format!("{PROJECT_DEFS}/Bad-Id"))
        .admin()
        .json(json!({}))
        .send()
        .await;
    r.assert_known(400, "SCHEMA_ERROR");
    assert_eq!(
        r.body["error"],
        "Request validation failed on PATCH /api/v1/project-permission-definitions/Bad-Id:\n  - Only lowercase letters, numbers, \":\", \"_\" and optional \"$\" at the beginning are allowed"
    );
    app.get(&format!("{TEAM_DEFS}?x=1"))
        .admin()
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    // An empty description counts as none.
    let r = define(&app, PROJECT_DEFS, json!({ "id": "d", "description": "" })).await;
    r.assert_status(201);
    assert_eq!(r.body, json!({ "id": "d", "contained_permission_ids": [] }));
}

#[tokio::test]
async fn only_admins_reach_definitions_and_only_servers_grant() {
    let app = TestApp::spawn().await;
    let m = member(&app).await;
    for path in [TEAM_DEFS, PROJECT_DEFS] {
        for access in ["client", "server"] {
            let with = |r: crate::helpers::Request| match access {
                "client" => r.client().user(&m.session),
                _ => r.server(),
            };
            with(app.get(path))
                .send()
                .await
                .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
            with(app.post(path))
                .json(json!({ "id": "x" }))
                .send()
                .await
                .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
            with(app.patch(&format!("{path}/team_admin")))
                .json(json!({}))
                .send()
                .await
                .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
            with(app.delete(&format!("{path}/team_admin")))
                .send()
                .await
                .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
        }
    }
    let team_path = format!(
        "/team-permissions/{}/{}/$read_members",
        m.team_id, m.user_id
    );
    let project_path = format!("/project-permissions/{}/p", m.user_id);
    for path in [&team_path, &project_path] {
        for method in [Method::POST, Method::DELETE] {
            app.req(method, path)
                .client()
                .user(&m.session)
                .json(json!({}))
                .send()
                .await
                .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
        }
    }
    // Admins may do what servers may.
    app.post(&team_path)
        .admin()
        .json(json!({}))
        .send()
        .await
        .assert_status(201);
    items(
        app.get("/team-permissions?recursive=true")
            .admin()
            .send()
            .await,
    )
    .await;
    app.delete(&team_path)
        .admin()
        .send()
        .await
        .assert_status(200);
}

#[tokio::test]
async fn clients_list_only_their_own_permissions() {
    let app = TestApp::spawn().await;
    let me = member(&app).await;
    let other = member(&app).await;
    let forbidden = r#"Client can only list permissions for their own user. user_id must be either "me" or the ID of the current user"#;
    for route in ["/team-permissions", "/project-permissions"] {
        app.get(route)
            .client()
            .user(&me.session)
            .send()
            .await
            .assert_plain(403, forbidden);
        app.get(&format!("{route}?user_id={}", other.user_id))
            .client()
            .user(&me.session)
            .send()
            .await
            .assert_plain(403, forbidden);
        app.get(&format!("{route}?user_id=me"))
            .client()
            .send()
            .await
            .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        app.get(route)
            .client()
            .send()
            .await
            .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        app.get(&format!("{route}?user_id=me"))
            .server()
            .send()
            .await
            .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        for user in ["me", me.user_id.as_str()] {
            items(
                app.get(&format!("{route}?user_id={user}"))
                    .client()
                    .user(&me.session)
                    .send()
                    .await,
            )
            .await;
        }
    }
    // No membership check for clients: another team's list is just empty.
    let mine = items(
        app.get(&format!(
            "/team-permissions?user_id=me&team_id={}",
            me.team_id
        ))
        .client()
        .user(&me.session)
        .send()
        .await,
    )
    .await;
    assert_eq!(
        json!(mine),
        json!([{ "id": "team_admin", "user_id": me.user_id, "team_id": me.team_id }])
    );
    let theirs = items(
        app.get(&format!(
            "/team-permissions?user_id=me&team_id={}",
            other.team_id
        ))
        .client()
        .user(&me.session)
        .send()
        .await,
    )
    .await;
    assert!(theirs.is_empty());
    // Query checks.
    for query in [
        "team_id=nope",
        "user_id=nope",
        "recursive=yes",
        "permission_id=$nope",
        "extra=1",
    ] {
        app.get(&format!("/team-permissions?{query}"))
            .server()
            .send()
            .await
            .assert_known(400, "SCHEMA_ERROR");
    }
    app.get("/project-permissions?team_id=x")
        .server()
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
}

#[tokio::test]
async fn team_grants_are_idempotent_checked_and_revoked_only_when_direct() {
    let app = TestApp::spawn().await;
    let m = member(&app).await;
    let outsider = member(&app).await;
    define_ok(&app, PROJECT_DEFS, "proj", &[]).await;

    for _ in 0..2 {
        let r = grant_team(&app, &m, "$update_team").await;
        r.assert_status(201);
        assert_eq!(
            r.body,
            json!({ "id": "$update_team", "user_id": m.user_id, "team_id": m.team_id })
        );
    }
    let list = team_list(
        &app,
        &format!("team_id={}&user_id={}", m.team_id, m.user_id),
    )
    .await;
    assert_eq!(ids(&list), ["$update_team", "team_admin"]);

    let r = grant_team(&app, &m, "does_not_exist").await;
    r.assert_known(404, "PERMISSION_NOT_FOUND");
    assert_eq!(
        r.body["details"],
        json!({ "permission_id": "does_not_exist" })
    );
    let r = grant_team(&app, &m, "proj").await;
    r.assert_known(404, "WRONG_PERMISSION_SCOPE");
    assert_eq!(
        r.body["error"],
        "Permission \"proj\" not found. (It was found for a different scope \"project\", but scope \"team\" was expected.)"
    );
    assert_eq!(
        r.body["details"],
        json!({ "permission_id": "proj", "expected_scope": "team", "actual_scope": "project" })
    );

    // The membership is checked before the permission: user first, then team.
    let not_member = Member {
        user_id: outsider.user_id.clone(),
        team_id: m.team_id.clone(),
        session: outsider.session.clone(),
    };
    let r = grant_team(&app, &not_member, "does_not_exist").await;
    r.assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    assert_eq!(
        r.body["details"],
        json!({ "team_id": m.team_id, "user_id": outsider.user_id })
    );
    let no_team = Member {
        team_id: uuid::Uuid::new_v4().to_string(),
        ..not_member
    };
    grant_team(&app, &no_team, "$update_team")
        .await
        .assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    let ghost = Member {
        user_id: uuid::Uuid::new_v4().to_string(),
        team_id: m.team_id.clone(),
        session: m.session.clone(),
    };
    grant_team(&app, &ghost, "$update_team")
        .await
        .assert_known(404, "USER_NOT_FOUND");
    app.post(&format!(
        "/team-permissions/not-a-uuid/{}/$update_team",
        m.user_id
    ))
    .server()
    .json(json!({}))
    .send()
    .await
    .assert_known(400, "SCHEMA_ERROR");
    app.post(&format!("/team-permissions/{}/me/$update_team", m.team_id))
        .server()
        .json(json!({}))
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    let r = app
        .post(&format!(
            "/team-permissions/{}/{}/$update_team",
            m.team_id, m.user_id
        ))
        .server()
        .send()
        .await;
    r.assert_known(400, "SCHEMA_ERROR");
    assert!(r.text.contains("body must be defined"), "{}", r.text);

    // Revoke: direct grants only.
    let path = |id: &str| format!("/team-permissions/{}/{}/{id}", m.team_id, m.user_id);
    let r = app.delete(&path("$read_members")).server().send().await;
    r.assert_known(401, "TEAM_PERMISSION_NOT_FOUND");
    assert_eq!(
        r.body["error"],
        format!(
            "User {} does not have permission $read_members in team {}.",
            m.user_id, m.team_id
        )
    );
    app.delete(&path("$update_team"))
        .server()
        .send()
        .await
        .assert_status(200);
    app.delete(&path("$update_team"))
        .server()
        .send()
        .await
        .assert_known(401, "TEAM_PERMISSION_NOT_FOUND");
    app.delete(&format!(
        "/team-permissions/{}/{}/team_admin",
        m.team_id, outsider.user_id
    ))
    .server()
    .send()
    .await
    .assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    let list = team_list(&app, &format!("user_id={}", m.user_id)).await;
    assert_eq!(ids(&list), ["team_admin"]);
}

#[tokio::test]
async fn project_grants_are_idempotent_checked_and_revoked_only_when_direct() {
    let app = TestApp::spawn().await;
    let m = member(&app).await;
    define_ok(&app, PROJECT_DEFS, "child", &[]).await;
    define_ok(&app, PROJECT_DEFS, "parent", &["child"]).await;
    define_ok(&app, TEAM_DEFS, "t1", &[]).await;

    assert!(
        items(
            app.get("/project-permissions?user_id=me")
                .client()
                .user(&m.session)
                .send()
                .await
        )
        .await
        .is_empty()
    );
    for _ in 0..2 {
        let r = grant_project(&app, &m.user_id, "parent").await;
        r.assert_status(201);
        assert_eq!(r.body, json!({ "id": "parent", "user_id": m.user_id }));
    }
    let list = items(
        app.get("/project-permissions?user_id=me")
            .client()
            .user(&m.session)
            .send()
            .await,
    )
    .await;
    assert_eq!(
        json!(list),
        json!([{ "id": "parent", "user_id": m.user_id }])
    );
    let list = project_list(&app, &format!("user_id={}&recursive=true", m.user_id)).await;
    assert_eq!(ids(&list), ["child", "parent"]);

    grant_project(&app, &m.user_id, "does_not_exist")
        .await
        .assert_known(404, "PERMISSION_NOT_FOUND");
    grant_project(&app, &m.user_id, "$update_team")
        .await
        .assert_known(404, "PERMISSION_NOT_FOUND");
    let r = grant_project(&app, &m.user_id, "t1").await;
    r.assert_known(404, "WRONG_PERMISSION_SCOPE");
    assert_eq!(
        r.body["details"],
        json!({ "permission_id": "t1", "expected_scope": "project", "actual_scope": "team" })
    );
    let ghost = uuid::Uuid::new_v4().to_string();
    grant_project(&app, &ghost, "parent")
        .await
        .assert_known(404, "USER_NOT_FOUND");
    app.delete(&format!("/project-permissions/{ghost}/parent"))
        .server()
        .send()
        .await
        .assert_known(404, "USER_NOT_FOUND");

    let path = |id: &str| format!("/project-permissions/{}/{id}", m.user_id);
    app.delete(&path("child"))
        .server()
        .send()
        .await
        .assert_known(404, "PERMISSION_NOT_FOUND");
    app.delete(&path("parent"))
        .server()
        .send()
        .await
        .assert_status(200);
    app.delete(&path("parent"))
        .server()
        .send()
        .await
        .assert_known(404, "PERMISSION_NOT_FOUND");
    assert!(project_list(&app, "").await.is_empty());
}

/// Team definitions l1 ⊇ {l2a, l2b}, l2a ⊇ l3, l2b ⊇ {l3, $read_members},
/// l3 ⊇ l4, l4 ⊇ l5.
async fn five_levels(app: &TestApp, path: &str) {
    define_ok(app, path, "l5", &[]).await;
    define_ok(app, path, "l4", &["l5"]).await;
    define_ok(app, path, "l3", &["l4"]).await;
    define_ok(app, path, "l2a", &["l3"]).await;
    define_ok(app, path, "l2b", &["l3", "$read_members"]).await;
    define_ok(app, path, "l1", &["l2a", "l2b"]).await;
}

#[tokio::test]
async fn recursive_lists_expand_a_five_level_tree_and_filter_after_expanding() {
    let app = TestApp::spawn().await;
    let m = member(&app).await;
    let other = member(&app).await;
    five_levels(&app, TEAM_DEFS).await;
    // The project tree needs other ids: one namespace.
    assert_eq!(
        define(&app, PROJECT_DEFS, json!({ "id": "l1" }))
            .await
            .status,
        400
    );
    define_ok(&app, PROJECT_DEFS, "q5", &[]).await;
    define_ok(&app, PROJECT_DEFS, "q4", &["q5"]).await;
    define_ok(&app, PROJECT_DEFS, "q3", &["q4"]).await;
    define_ok(&app, PROJECT_DEFS, "q2", &["q3"]).await;
    define_ok(&app, PROJECT_DEFS, "q1", &["q2"]).await;

    grant_team(&app, &m, "l1").await.assert_status(201);
    let q = format!("team_id={}&user_id={}", m.team_id, m.user_id);
    assert_eq!(ids(&team_list(&app, &q).await), ["l1", "team_admin"]);
    assert_eq!(
        ids(&team_list(&app, &format!("{q}&recursive=false")).await),
        ["l1", "team_admin"]
    );
    assert_eq!(
        ids(&team_list(&app, &format!("{q}&recursive=true")).await),
        [
            "$delete_team",
            "$invite_members",
            "$manage_api_keys",
            "$read_members",
            "$remove_members",
            "$update_team",
            "l1",
            "l2a",
            "l2b",
            "l3",
            "l4",
            "l5",
            "team_admin",
        ]
    );
    // The filter applies after the expansion: holders through containment.
    let holders = team_list(&app, "permission_id=l5&recursive=true").await;
    assert_eq!(
        json!(holders),
        json!([{ "id": "l5", "user_id": m.user_id, "team_id": m.team_id }])
    );
    assert!(team_list(&app, "permission_id=l5").await.is_empty());
    // The seeded users of the internal project hold it too; ours are two.
    let readers: Vec<Value> = team_list(&app, "permission_id=$read_members&recursive=true")
        .await
        .into_iter()
        .filter(|g| g["user_id"] == m.user_id.as_str() || g["user_id"] == other.user_id.as_str())
        .collect();
    assert_eq!(readers.len(), 2, "both creators, through team_admin");

    // A cycle ends the walk.
    app.patch(&format!("{TEAM_DEFS}/l5"))
        .admin()
        .json(json!({ "contained_permission_ids": ["l1"] }))
        .send()
        .await
        .assert_status(200);
    assert_eq!(
        team_list(&app, &format!("{q}&recursive=true")).await.len(),
        13
    );

    grant_project(&app, &other.user_id, "q1")
        .await
        .assert_status(201);
    grant_project(&app, &m.user_id, "q3")
        .await
        .assert_status(201);
    let all = project_list(&app, "recursive=true").await;
    let mut expected: Vec<(String, &str)> = ["q1", "q2", "q3", "q4", "q5"]
        .into_iter()
        .map(|id| (other.user_id.clone(), id))
        .chain(
            ["q3", "q4", "q5"]
                .into_iter()
                .map(|id| (m.user_id.clone(), id)),
        )
        .collect();
    // By user, then (a stable sort keeps it) by id.
    expected.sort_by(|x, y| x.0.cmp(&y.0));
    let got: Vec<(String, &str)> = all
        .iter()
        .map(|g| {
            (
                g["user_id"].as_str().unwrap().to_owned(),
                g["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    let q3_holders = project_list(&app, "permission_id=q3&recursive=true").await;
    assert_eq!(q3_holders.len(), 2);
}

#[tokio::test]
async fn lists_use_stack_auths_string_order() {
    let app = TestApp::spawn().await;
    let a = member(&app).await;
    let b = member(&app).await;
    join(&app, &a.team_id, &b.user_id).await;
    for id in ["a_b", "ab", "a:b", "a0"] {
        define_ok(&app, TEAM_DEFS, id, &[]).await;
        grant_team(&app, &a, id).await.assert_status(201);
        let in_a = Member {
            user_id: b.user_id.clone(),
            team_id: a.team_id.clone(),
            session: b.session.clone(),
        };
        grant_team(&app, &in_a, id).await.assert_status(201);
    }
    // The internal project's seeded users have teams too: leave them out.
    let list = team_list(&app, "").await;
    let got: Vec<(String, String, String)> = list
        .iter()
        .filter(|g| g["user_id"] == a.user_id.as_str() || g["user_id"] == b.user_id.as_str())
        .map(|g| {
            (
                g["team_id"].as_str().unwrap().to_owned(),
                g["user_id"].as_str().unwrap().to_owned(),
                g["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let order = ["a0", "a:b", "ab", "a_b"];
    let row = |t: &str, u: &str, id: &str| (t.to_owned(), u.to_owned(), id.to_owned());
    let mut expected: Vec<(String, String, String)> = order
        .iter()
        .chain(["team_admin"].iter())
        .map(|id| row(&a.team_id, &a.user_id, id))
        .chain(order.iter().map(|id| row(&a.team_id, &b.user_id, id)))
        .chain([row(&b.team_id, &b.user_id, "team_admin")])
        .collect();
    // By team, then user; a stable sort keeps the ids in Stack Auth's order.
    expected.sort_by(|x, y| x.0.cmp(&y.0).then_with(|| x.1.cmp(&y.1)));
    assert_eq!(got, expected);
    let defs = definitions(&app, TEAM_DEFS).await;
    assert_eq!(
        ids(&defs)[6..],
        ["a0", "a:b", "ab", "a_b", "team_admin", "team_member"]
    );
}

#[tokio::test]
async fn renames_move_grants_and_references_and_deletes_remove_them() {
    let app = TestApp::spawn().await;
    let m = member(&app).await;
    define_ok(&app, TEAM_DEFS, "old", &[]).await;
    define_ok(&app, TEAM_DEFS, "holder", &["old"]).await;
    define_ok(&app, PROJECT_DEFS, "p_old", &[]).await;
    define_ok(&app, PROJECT_DEFS, "p_holder", &["p_old"]).await;
    grant_team(&app, &m, "old").await.assert_status(201);
    grant_project(&app, &m.user_id, "p_old")
        .await
        .assert_status(201);

    app.patch(&format!("{TEAM_DEFS}/old"))
        .admin()
        .json(json!({ "id": "new", "description": "renamed" }))
        .send()
        .await
        .assert_status(200);
    app.patch(&format!("{PROJECT_DEFS}/p_old"))
        .admin()
        .json(json!({ "id": "p_new" }))
        .send()
        .await
        .assert_status(200);
    let q = format!("user_id={}", m.user_id);
    assert_eq!(ids(&team_list(&app, &q).await), ["new", "team_admin"]);
    assert_eq!(ids(&project_list(&app, &q).await), ["p_new"]);
    let defs = definitions(&app, TEAM_DEFS).await;
    let holder = defs.iter().find(|d| d["id"] == "holder").unwrap();
    assert_eq!(holder["contained_permission_ids"], json!(["new"]));
    let defs = definitions(&app, PROJECT_DEFS).await;
    let holder = defs.iter().find(|d| d["id"] == "p_holder").unwrap();
    assert_eq!(holder["contained_permission_ids"], json!(["p_new"]));
    let rows: i64 = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM team_member_permissions WHERE permission_id IN ('old', 'p_old')
         UNION ALL SELECT count(*) FROM user_permissions WHERE permission_id IN ('old', 'p_old')",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .sum();
    assert_eq!(rows, 0);

    // A delete revokes the grants: a definition made again with the same id
    // is held by nobody.
    app.delete(&format!("{TEAM_DEFS}/new"))
        .admin()
        .send()
        .await
        .assert_status(200);
    app.delete(&format!("{PROJECT_DEFS}/p_new"))
        .admin()
        .send()
        .await
        .assert_status(200);
    define_ok(&app, TEAM_DEFS, "new", &[]).await;
    define_ok(&app, PROJECT_DEFS, "p_new", &[]).await;
    assert_eq!(ids(&team_list(&app, &q).await), ["team_admin"]);
    assert!(project_list(&app, &q).await.is_empty());
    let defs = definitions(&app, TEAM_DEFS).await;
    let holder = defs.iter().find(|d| d["id"] == "holder").unwrap();
    assert_eq!(holder["contained_permission_ids"], json!([]));
}

/// Sends `requests` at once; the answers in the same order.
async fn all_at_once(requests: Vec<crate::helpers::Request>) -> Vec<Response> {
    let mut set = tokio::task::JoinSet::new();
    for (i, r) in requests.into_iter().enumerate() {
        set.spawn(async move { (i, r.send().await) });
    }
    let mut out = set.join_all().await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

fn grant_team_request(app: &TestApp, m: &Member, id: &str) -> crate::helpers::Request {
    app.post(&format!(
        "/team-permissions/{}/{}/{id}",
        m.team_id, m.user_id
    ))
    .server()
    .json(json!({}))
}

#[tokio::test]
async fn concurrent_grants_and_definition_writes_all_land() {
    let app = TestApp::spawn().await;
    let m = member(&app).await;
    define_ok(&app, PROJECT_DEFS, "p", &[]).await;
    let team_grants = (0..8)
        .map(|_| grant_team_request(&app, &m, "$update_team"))
        .collect();
    for r in all_at_once(team_grants).await {
        r.assert_status(201);
    }
    let project_grants = (0..8)
        .map(|_| {
            app.post(&format!("/project-permissions/{}/p", m.user_id))
                .server()
                .json(json!({}))
        })
        .collect();
    for r in all_at_once(project_grants).await {
        r.assert_status(201);
    }
    let q = format!("user_id={}", m.user_id);
    assert_eq!(
        ids(&team_list(&app, &q).await),
        ["$update_team", "team_admin"]
    );
    assert_eq!(ids(&project_list(&app, &q).await), ["p"]);

    // Each write decides on the config as stored under a row lock: none is lost.
    let creates = (0..8)
        .map(|i| {
            app.post(if i % 2 == 0 { TEAM_DEFS } else { PROJECT_DEFS })
                .admin()
                .json(json!({ "id": format!("c{i}") }))
        })
        .collect();
    for r in all_at_once(creates).await {
        r.assert_status(201);
    }
    let same = (0..4)
        .map(|_| app.post(TEAM_DEFS).admin().json(json!({ "id": "same" })))
        .collect();
    let statuses: Vec<u16> = all_at_once(same)
        .await
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(ids(&definitions(&app, TEAM_DEFS).await).len(), 8 + 4 + 1);
    assert_eq!(ids(&definitions(&app, PROJECT_DEFS).await).len(), 1 + 4);
}

#[tokio::test]
async fn sign_up_defaults_are_granted_and_legacy_defaults_show_system_ids() {
    let app = TestApp::spawn().await;
    define_ok(&app, PROJECT_DEFS, "test", &[]).await;
    let r = app
        .patch("/internal/projects/current")
        .admin()
        .json(json!({ "config": {
            "user_default_permissions": [{ "id": "test" }],
            "team_creator_default_permissions": [{ "id": "team_admin" }, { "id": "$update_team" }],
        } }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(
        r.body["config"]["team_creator_default_permissions"],
        json!([{ "id": "$update_team" }, { "id": "team_admin" }])
    );
    assert_eq!(
        r.body["config"]["user_default_permissions"],
        json!([{ "id": "test" }])
    );
    let m = member(&app).await;
    let list = items(
        app.get(&format!("/project-permissions?user_id={}", m.user_id))
            .client()
            .user(&m.session)
            .send()
            .await,
    )
    .await;
    assert_eq!(json!(list), json!([{ "id": "test", "user_id": m.user_id }]));
    // A deleted definition is hidden from the defaults it stays in.
    app.delete(&format!("{PROJECT_DEFS}/test"))
        .admin()
        .send()
        .await
        .assert_status(200);
    let r = app.get("/internal/projects/current").admin().send().await;
    assert_eq!(r.body["config"]["user_default_permissions"], json!([]));
}

#[tokio::test]
async fn an_emulator_projects_definitions_are_written_to_its_branch_override() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/internal/local-emulator/project")
        .server()
        .json(json!({
            "absolute_file_path": format!("/home/dev/app-{}/stack.config.ts", uuid::Uuid::new_v4().simple()),
            "branch_config_override_string": r#"{"rbac":{"permissions":{"reader":{"scope":"team","containedPermissionIds":{}}},"defaultPermissions":{"teamCreator":{"reader":true}}}}"#,
        }))
        .send()
        .await;
    r.assert_status(200);
    let id = r.body["project_id"].as_str().unwrap().to_owned();
    let sak = r.body["super_secret_admin_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = |method: Method, path: &str| app.req(method, path).with_key("admin", &id, &sak);
    let r = admin(Method::POST, TEAM_DEFS)
        .json(json!({ "id": "writer", "contained_permission_ids": ["reader"] }))
        .send()
        .await;
    r.assert_status(201);
    admin(Method::PATCH, &format!("{TEAM_DEFS}/reader"))
        .json(json!({ "id": "viewer" }))
        .send()
        .await
        .assert_status(200);
    let branch = admin(Method::GET, "/internal/config/override/branch")
        .send()
        .await;
    branch.assert_status(200);
    let branch: Value =
        serde_json::from_str(branch.body["config_string"].as_str().unwrap()).unwrap();
    assert_eq!(
        branch["rbac.permissions"],
        json!({
            "viewer": { "scope": "team", "containedPermissionIds": {} },
            "writer": { "scope": "team", "containedPermissionIds": { "viewer": true } },
        })
    );
    assert!(
        branch["rbac"].get("permissions").is_none(),
        "the nested spelling went: {branch}"
    );
    assert_eq!(
        branch["rbac"]["defaultPermissions"],
        json!({ "teamCreator": { "reader": true } })
    );
    let env = admin(Method::GET, "/internal/config/override/environment")
        .send()
        .await;
    let env: Value = serde_json::from_str(env.body["config_string"].as_str().unwrap()).unwrap();
    assert!(
        env.as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("rbac")),
        "{env}"
    );
    let list = admin(Method::GET, TEAM_DEFS).send().await;
    assert_eq!(ids(&items(list).await)[6..], ["viewer", "writer"]);
}
