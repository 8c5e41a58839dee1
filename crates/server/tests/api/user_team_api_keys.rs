//! `/user-api-keys` and `/team-api-keys` (spec §2.16): the exact key format,
//! the feature gates, who may manage which keys, revocation, expiry, the
//! order of `/check`'s errors, and that a full key is shown once and then
//! never again (not in lists, not in the database, not in the logs).
//!
//! Teams and memberships are made in SQL, so that these tests do not depend
//! on the team routes.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::{Value, json};
use stack_server::api_keys::{self, KEY_LENGTH, KeyType, ParsedApiKey};
use uuid::Uuid;

use crate::helpers::{Request, Response, Session, TestApp, keys, sorted};
use crate::projects::create_keys;

/// A project of its own, with keys for every access type.
struct Project {
    app: TestApp,
    id: String,
    pck: String,
    ssk: String,
    sak: String,
}

const BOTH_ON: &str = r#"{"allow_user_api_keys": true, "allow_team_api_keys": true}"#;

async fn project(config: &str) -> Project {
    let app = TestApp::spawn().await;
    project_in(app, config).await
}

async fn project_in(app: TestApp, config: &str) -> Project {
    let owner = app.sign_up(&app.email(), "password123").await;
    let p = app
        .create_project(&owner, serde_json::from_str(config).unwrap())
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let k = create_keys(&app, &owner, &id, json!({})).await.body;
    let key = |name: &str| k[name].as_str().unwrap().to_owned();
    Project {
        pck: key("publishable_client_key"),
        ssk: key("secret_server_key"),
        sak: key("super_secret_admin_key"),
        id,
        app,
    }
}

impl Project {
    /// `r` with `access` (`client`, `server` or `admin`) to this project.
    fn with(&self, r: Request, access: &str) -> Request {
        let key = match access {
            "client" => &self.pck,
            "server" => &self.ssk,
            _ => &self.sak,
        };
        r.with_key(access, &self.id, key)
    }
    fn client(&self, r: Request) -> Request {
        self.with(r, "client")
    }
    fn server(&self, r: Request) -> Request {
        self.with(r, "server")
    }

    /// A new user of this project, signed in.
    async fn user(&self) -> Session {
        let r = self
            .server(self.app.post("/users"))
            .json(json!({ "display_name": "key owner" }))
            .send()
            .await;
        r.assert_status(201);
        let user_id = r.body["id"].as_str().unwrap().to_owned();
        let r = self
            .server(self.app.post("/auth/sessions"))
            .json(json!({ "user_id": user_id }))
            .send()
            .await;
        r.assert_status(200);
        Session {
            access: r.body["access_token"].as_str().unwrap().into(),
            refresh: r.body["refresh_token"].as_str().unwrap().into(),
            user_id,
        }
    }

    /// A team with `members`, each with these directly granted permissions.
    async fn team(&self, members: &[(&Session, &[&str])]) -> String {
        let team = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO teams (project_id, id, display_name) VALUES ($1, $2, 'keys team')",
        )
        .bind(&self.id)
        .bind(team)
        .execute(&self.app.pool)
        .await
        .unwrap();
        for (member, permissions) in members {
            let user = Uuid::parse_str(&member.user_id).unwrap();
            sqlx::query(
                "INSERT INTO team_members (project_id, team_id, user_id) VALUES ($1, $2, $3)",
            )
            .bind(&self.id)
            .bind(team)
            .bind(user)
            .execute(&self.app.pool)
            .await
            .unwrap();
            for permission in *permissions {
                sqlx::query(
                    "INSERT INTO team_member_permissions (project_id, team_id, user_id, permission_id)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&self.id)
                .bind(team)
                .bind(user)
                .bind(permission)
                .execute(&self.app.pool)
                .await
                .unwrap();
            }
        }
        team.to_string()
    }

    /// Creates a key with server access; `owner` is `("user_id", id)` or `("team_id", id)`.
    async fn key(&self, owner: (&str, &str), extra: Value) -> Value {
        let kind = if owner.0 == "user_id" { "user" } else { "team" };
        let mut body =
            json!({ owner.0: owner.1, "description": "a key", "expires_at_millis": null });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = self
            .server(self.app.post(&format!("/{kind}-api-keys")))
            .json(body)
            .send()
            .await;
        r.assert_status(200);
        r.body
    }

    async fn check(&self, kind: &str, key: &Value) -> Response {
        self.server(self.app.post(&format!("/{kind}-api-keys/check")))
            .json(json!({ "api_key": key["value"] }))
            .send()
            .await
    }
}

fn value(key: &Value) -> &str {
    key["value"].as_str().unwrap()
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

const HOUR_MILLIS: i64 = 3_600_000;

#[tokio::test]
async fn keys_have_stack_auths_exact_format_and_are_shown_in_full_only_once() {
    let p = project(BOTH_ON).await;
    let s = p.user().await;
    let r = p
        .client(p.app.post("/user-api-keys"))
        .user(&s)
        .json(json!({ "user_id": "me", "description": "my key", "expires_at_millis": null }))
        .send()
        .await;
    r.assert_status(200);
    let created = r.body.clone();
    assert_eq!(
        keys(&created),
        sorted(&[
            "id",
            "description",
            "is_public",
            "created_at_millis",
            "value",
            "type",
            "user_id"
        ]),
        "no null expiry or revocation: {created}"
    );
    assert_eq!(created["type"], "user");
    assert_eq!(created["user_id"], s.user_id.as_str());
    assert_eq!(created["is_public"], false);
    let full = value(&created).to_owned();
    let id = Uuid::parse_str(created["id"].as_str().unwrap()).unwrap();
    assert_eq!(full.len(), KEY_LENGTH);
    assert!(full.starts_with("sk_"), "{full}");
    assert_eq!(
        &full[48..],
        format!(
            "{}user1574ck4u7h{}",
            id.simple(),
            api_keys::checksum(&full[..94])
        )
    );
    assert_eq!(
        api_keys::parse(&full),
        Ok(ParsedApiKey {
            prefix: "sk".into(),
            id,
            key_type: KeyType::User,
            is_public: false,
            is_cloud_version: false,
        })
    );

    let public = p
        .key(("user_id", &s.user_id), json!({ "is_public": true }))
        .await;
    assert_eq!(public["is_public"], true);
    let parsed = api_keys::parse(value(&public)).unwrap();
    assert!(value(&public).starts_with("pk_") && parsed.is_public);
    assert_eq!(&value(&public)[80..94], "user3574ck4u7h");

    let team = p.team(&[]).await;
    let team_key = p.key(("team_id", &team), json!({})).await;
    assert_eq!(team_key["team_id"], team.as_str());
    assert_eq!(team_key["type"], "team");
    assert!(team_key.get("user_id").is_none());
    let parsed = api_keys::parse(value(&team_key)).unwrap();
    assert_eq!(parsed.key_type, KeyType::Team);
    assert_eq!(parsed.id.to_string(), team_key["id"].as_str().unwrap());

    // After creation only the last four characters are ever shown.
    let last_four = json!({ "last_four": &full[full.len() - 4..] });
    let list = p
        .client(p.app.get("/user-api-keys?user_id=me"))
        .user(&s)
        .send()
        .await;
    list.assert_status(200);
    assert_eq!(list.body["is_paginated"], false);
    let read = p
        .client(p.app.get(&format!("/user-api-keys/{id}")))
        .user(&s)
        .send()
        .await;
    read.assert_status(200);
    let patched = p
        .client(p.app.patch(&format!("/user-api-keys/{id}")))
        .user(&s)
        .json(json!({ "description": "renamed" }))
        .send()
        .await;
    patched.assert_status(200);
    let checked = p.check("user", &created).await;
    checked.assert_status(200);
    for r in [&list, &read, &patched, &checked] {
        assert!(!r.text.contains(&full), "the full key is shown: {}", r.text);
        assert!(!r.text.contains(&full[3..48]), "the random part is shown");
    }
    let mine = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == created["id"])
        .unwrap();
    let mut expected = created.clone();
    expected["value"] = last_four.clone();
    assert_eq!(mine, &expected);
    assert_eq!(read.body, expected);
    expected["description"] = json!("renamed");
    assert_eq!(patched.body, expected);
    assert_eq!(checked.body, expected);

    // The database keeps a digest and the last four characters, not the key.
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT row_to_json(k)::text FROM user_team_api_keys k")
            .fetch_all(&p.app.pool)
            .await
            .unwrap();
    assert_eq!(stored.len(), 3);
    for key in [&full, value(&public), value(&team_key)] {
        assert!(stored.iter().all(|row| !row.contains(&key[3..48])));
    }
    let digest: Vec<u8> =
        sqlx::query_scalar("SELECT key_sha256 FROM user_team_api_keys WHERE id = $1")
            .bind(id)
            .fetch_one(&p.app.pool)
            .await
            .unwrap();
    assert_eq!(digest, api_keys::sha256(&full));
}

#[tokio::test]
async fn each_kind_is_switched_on_by_its_own_setting() {
    const USER_OFF: &str = "User API keys are not enabled for this project.";
    const TEAM_OFF: &str = "Team API keys are not enabled for this project.";
    let p = project(r#"{"allow_team_api_keys": true}"#).await;
    let s = p.user().await;
    let id = Uuid::new_v4();
    let user_body = json!({ "user_id": "me", "description": "x", "expires_at_millis": null });
    let requests = [
        p.client(p.app.post("/user-api-keys"))
            .json(user_body.clone()),
        p.client(p.app.get("/user-api-keys?user_id=me")),
        p.client(p.app.get(&format!("/user-api-keys/{id}"))),
        p.client(p.app.patch(&format!("/user-api-keys/{id}")))
            .json(json!({ "revoked": true })),
        p.server(p.app.post("/user-api-keys/check"))
            .json(json!({ "api_key": "sk_x" })),
        p.with(p.app.post("/user-api-keys"), "admin")
            .json(json!({ "user_id": s.user_id, "description": "x", "expires_at_millis": null })),
    ];
    for r in requests {
        r.user(&s).send().await.assert_plain(400, USER_OFF);
    }
    // Team keys are on: a member with `$manage_api_keys` creates one.
    let team = p.team(&[(&s, &["team_admin"])]).await;
    let r = p
        .client(p.app.post("/team-api-keys"))
        .user(&s)
        .json(json!({ "team_id": team, "description": "works", "expires_at_millis": null }))
        .send()
        .await;
    r.assert_status(200);
    assert!(r.body.get("expires_at_millis").is_none());

    let p = project_in(TestApp::spawn().await, r#"{"allow_user_api_keys": true}"#).await;
    let s = p.user().await;
    let team = p.team(&[(&s, &["team_admin"])]).await;
    let requests = [
        p.client(p.app.post("/team-api-keys"))
            .json(json!({ "team_id": team, "description": "x", "expires_at_millis": null })),
        p.client(p.app.get(&format!("/team-api-keys?team_id={team}"))),
        p.client(p.app.get(&format!("/team-api-keys/{id}?team_id={team}"))),
        p.server(p.app.patch(&format!("/team-api-keys/{id}?team_id={team}")))
            .json(json!({ "revoked": true })),
        p.with(p.app.post("/team-api-keys/check"), "admin")
            .json(json!({ "api_key": "sk_x" })),
    ];
    for r in requests {
        r.user(&s).send().await.assert_plain(400, TEAM_OFF);
    }
    p.key(("user_id", &s.user_id), json!({})).await;

    // Both off, as in a new project: the gate comes before any lookup.
    let p = project_in(TestApp::spawn().await, "{}").await;
    p.server(p.app.get("/user-api-keys"))
        .send()
        .await
        .assert_plain(400, USER_OFF);
    p.server(p.app.post("/team-api-keys/check"))
        .json(json!({ "api_key": "sk_this_is_a_fake_api_key_123456789" }))
        .send()
        .await
        .assert_plain(400, TEAM_OFF);
}

#[tokio::test]
async fn every_route_answers_every_access_type() {
    let p = project(BOTH_ON).await;
    let s = p.user().await;
    let team = p.team(&[(&s, &["team_admin"])]).await;
    for access in ["client", "server", "admin"] {
        for (kind, owner_field, owner) in [
            ("user", "user_id", s.user_id.as_str()),
            ("team", "team_id", team.as_str()),
        ] {
            let owner_query = format!("{owner_field}={owner}");
            let r = p
                .with(p.app.post(&format!("/{kind}-api-keys")), access)
                .user(&s)
                .json(json!({ owner_field: owner, "description": access, "expires_at_millis": now_millis() + HOUR_MILLIS }))
                .send()
                .await;
            r.assert_status(200);
            let key = r.body.clone();
            assert_eq!(key["type"], kind);
            assert_eq!(key[owner_field], owner);
            let id = key["id"].as_str().unwrap();
            let r = p
                .with(
                    p.app.get(&format!("/{kind}-api-keys?{owner_query}")),
                    access,
                )
                .user(&s)
                .send()
                .await;
            r.assert_status(200);
            assert!(
                r.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["id"] == id)
            );
            let r = p
                .with(
                    p.app.get(&format!("/{kind}-api-keys/{id}?{owner_query}")),
                    access,
                )
                .user(&s)
                .send()
                .await;
            r.assert_status(200);
            assert_eq!(r.body["id"], id);
            let r = p
                .with(
                    p.app.patch(&format!("/{kind}-api-keys/{id}?{owner_query}")),
                    access,
                )
                .user(&s)
                .json(json!({ "revoked": true, "description": "gone" }))
                .send()
                .await;
            r.assert_status(200);
            assert_eq!(r.body["description"], "gone");
            assert!(r.body["manually_revoked_at_millis"].is_i64());
            let r = p
                .with(p.app.post(&format!("/{kind}-api-keys/check")), access)
                .user(&s)
                .json(json!({ "api_key": key["value"] }))
                .send()
                .await;
            if access == "client" {
                r.assert_error(
                    401,
                    "INSUFFICIENT_ACCESS_TYPE",
                    "The x-stack-access-type header must be 'server' or 'admin', but was 'client'.",
                );
            } else {
                r.assert_error(401, "API_KEY_REVOKED", "API key has been revoked.")
                    .assert_no_details();
            }
        }
    }
}

#[tokio::test]
async fn a_client_manages_only_its_own_users_keys() {
    const NOT_OWN: &str = "Client can only manage their own api keys";
    let p = project(BOTH_ON).await;
    let (one, two) = (p.user().await, p.user().await);
    let key = p.key(("user_id", &one.user_id), json!({})).await;
    let id = key["id"].as_str().unwrap();
    p.client(p.app.post("/user-api-keys"))
        .user(&two)
        .json(json!({ "user_id": one.user_id, "description": "x", "expires_at_millis": null }))
        .send()
        .await
        .assert_plain(403, NOT_OWN);
    p.client(
        p.app
            .get(&format!("/user-api-keys?user_id={}", one.user_id)),
    )
    .user(&two)
    .send()
    .await
    .assert_plain(403, NOT_OWN);
    // Read and update go by the key's owner, whatever the query says.
    p.client(
        p.app
            .get(&format!("/user-api-keys/{id}?user_id={}", two.user_id)),
    )
    .user(&two)
    .send()
    .await
    .assert_plain(403, NOT_OWN);
    p.client(p.app.patch(&format!("/user-api-keys/{id}?user_id=me")))
        .user(&two)
        .json(json!({ "description": "stolen", "revoked": true }))
        .send()
        .await
        .assert_plain(403, NOT_OWN);
    let r = p.check("user", &key).await;
    r.assert_status(200);
    assert_eq!(r.body["description"], "a key");
    assert!(r.body.get("manually_revoked_at_millis").is_none());
    // The owner reads it with or without `user_id`.
    for path in [
        format!("/user-api-keys/{id}"),
        format!("/user-api-keys/{id}?user_id={}", one.user_id),
        format!("/user-api-keys/{id}?user_id=me"),
    ] {
        p.client(p.app.get(&path))
            .user(&one)
            .send()
            .await
            .assert_status(200);
    }
    p.client(p.app.get(&format!(
        "/user-api-keys/{id}?user_id={}&team_id=some-team-id",
        one.user_id
    )))
    .user(&one)
    .send()
    .await
    .assert_schema_error(
        "GET",
        &format!("/api/v1/user-api-keys/{id}"),
        &["query contains unknown properties: team_id"],
    );
    for field in ["user_id", "team_id"] {
        p.client(
            p.app
                .patch(&format!("/user-api-keys/{id}?user_id={}", one.user_id)),
        )
        .user(&one)
        .json(json!({ "description": "Updated Description", field: "some-other-id" }))
        .send()
        .await
        .assert_schema_error(
            "PATCH",
            &format!("/api/v1/user-api-keys/{id}"),
            &[&format!("body contains unknown properties: {field}")],
        );
    }
    // Without a signed-in user.
    p.client(p.app.post("/user-api-keys"))
        .json(json!({ "user_id": one.user_id, "description": "x", "expires_at_millis": null }))
        .send()
        .await
        .assert_error(
            401,
            "USER_AUTHENTICATION_REQUIRED",
            "User authentication required for this endpoint.",
        );
    p.client(p.app.get(&format!("/user-api-keys/{id}")))
        .send()
        .await
        .assert_known(401, "USER_AUTHENTICATION_REQUIRED");
    p.client(p.app.get("/user-api-keys?user_id=me"))
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    // Stack Auth's handler, not its schema, asks for `user_id` on a list.
    p.client(p.app.get("/user-api-keys"))
        .user(&one)
        .send()
        .await
        .assert_error(400, "SCHEMA_ERROR", "user_id is required for user API keys");
}

#[tokio::test]
async fn server_and_admin_manage_any_key_and_name_missing_owners() {
    let p = project(BOTH_ON).await;
    let (one, two) = (p.user().await, p.user().await);
    // A server request with another user's session still acts for anyone.
    let r = p
        .server(p.app.post("/user-api-keys"))
        .user(&two)
        .json(json!({ "user_id": one.user_id, "description": "for one", "expires_at_millis": now_millis() + HOUR_MILLIS }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["user_id"], one.user_id.as_str());
    p.check("user", &r.body).await.assert_status(200);
    let r = p.server(p.app.get("/user-api-keys")).send().await;
    r.assert_error(400, "SCHEMA_ERROR", "user_id is required for user API keys");
    assert_eq!(
        r.body["details"],
        json!({ "message": "user_id is required for user API keys" })
    );
    let r = p
        .with(
            p.app
                .get(&format!("/user-api-keys?user_id={}", one.user_id)),
            "admin",
        )
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);

    let missing = Uuid::new_v4().to_string();
    p.server(p.app.post("/user-api-keys"))
        .json(json!({ "user_id": missing, "description": "x", "expires_at_millis": null }))
        .send()
        .await
        .assert_error(404, "USER_NOT_FOUND", "User not found.");
    for team in [missing.as_str(), "not-a-uuid"] {
        let r = p
            .server(p.app.post("/team-api-keys"))
            .json(json!({ "team_id": team, "description": "x", "expires_at_millis": null }))
            .send()
            .await;
        r.assert_error(404, "TEAM_NOT_FOUND", &format!("Team {team} not found."));
        assert_eq!(r.body["details"], json!({ "team_id": team }));
    }
    p.server(p.app.post("/user-api-keys"))
        .json(json!({ "user_id": "me", "description": "x", "expires_at_millis": null }))
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    p.server(p.app.post("/user-api-keys"))
        .json(json!({ "user_id": "nobody", "description": "x", "expires_at_millis": null }))
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/user-api-keys",
            &["body.user_id must be a valid UUID"],
        );
    p.server(p.app.post("/user-api-keys"))
        .json(json!({ "extra": 1, "is_public": "yes" }))
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/user-api-keys",
            &[
                "body.user_id must be defined",
                "body.description must be defined",
                "body.expires_at_millis must be defined",
                "body.is_public must be a `boolean` type, but the final value was: `\"yes\"`.",
                "body contains unknown properties: extra",
            ],
        );
}

#[tokio::test]
async fn team_keys_need_manage_api_keys_and_otherwise_do_not_exist() {
    let p = project(BOTH_ON).await;
    let (admin, direct, member, stranger) = (
        p.user().await,
        p.user().await,
        p.user().await,
        p.user().await,
    );
    // `team_admin` contains `$manage_api_keys`; `team_member` does not.
    let team = p
        .team(&[
            (&admin, &["team_admin"]),
            (&direct, &["$manage_api_keys"]),
            (&member, &["team_member"]),
        ])
        .await;
    let mut ids = Vec::new();
    for s in [&admin, &direct] {
        let r = p
            .client(p.app.post("/team-api-keys"))
            .user(s)
            .json(json!({ "team_id": team, "description": "team key", "expires_at_millis": null }))
            .send()
            .await;
        r.assert_status(200);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
        let r = p
            .client(p.app.get(&format!("/team-api-keys?team_id={team}")))
            .user(s)
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(r.body["items"].as_array().unwrap().len(), ids.len());
    }
    let id = &ids[0];
    let not_found = |r: Response| {
        r.assert_error(404, "API_KEY_NOT_FOUND", "API key not found.")
            .assert_no_details();
    };
    for s in [&member, &stranger] {
        for team_id in [team.as_str(), "not-a-uuid"] {
            not_found(
                p.client(p.app.post("/team-api-keys"))
                    .user(s)
                    .json(json!({ "team_id": team_id, "description": "x", "expires_at_millis": null }))
                    .send()
                    .await,
            );
        }
        not_found(
            p.client(p.app.get(&format!("/team-api-keys?team_id={team}")))
                .user(s)
                .send()
                .await,
        );
        not_found(
            p.client(p.app.get(&format!("/team-api-keys/{id}?team_id={team}")))
                .user(s)
                .send()
                .await,
        );
        not_found(
            p.client(p.app.patch(&format!("/team-api-keys/{id}?team_id={team}")))
                .user(s)
                .json(json!({ "revoked": true }))
                .send()
                .await,
        );
    }
    // A team that does not exist looks the same as one the user may not see.
    not_found(
        p.client(
            p.app
                .get(&format!("/team-api-keys?team_id={}", Uuid::new_v4())),
        )
        .user(&admin)
        .send()
        .await,
    );
    let r = p
        .client(p.app.get(&format!("/team-api-keys/{id}?team_id={team}")))
        .user(&direct)
        .send()
        .await;
    r.assert_status(200);
    assert!(r.body.get("manually_revoked_at_millis").is_none());
    // `team_id` is required on every team route, and must be a UUID.
    p.client(p.app.get("/team-api-keys"))
        .user(&admin)
        .send()
        .await
        .assert_schema_error(
            "GET",
            "/api/v1/team-api-keys",
            &["query.team_id must be defined"],
        );
    p.client(p.app.get(&format!("/team-api-keys/{id}?team_id=x")))
        .user(&admin)
        .send()
        .await
        .assert_schema_error(
            "GET",
            &format!("/api/v1/team-api-keys/{id}"),
            &["query.team_id must be a valid UUID"],
        );
    p.server(p.app.patch(&format!("/team-api-keys/{id}")))
        .json(json!({ "revoked": true }))
        .send()
        .await
        .assert_schema_error(
            "PATCH",
            &format!("/api/v1/team-api-keys/{id}"),
            &["query.team_id must be defined"],
        );
    p.server(p.app.post("/team-api-keys"))
        .json(json!({ "description": "x", "expires_at_millis": null }))
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/team-api-keys",
            &["body.team_id must be defined"],
        );
}

#[tokio::test]
async fn check_reports_errors_in_stack_auths_order() {
    let p = project(BOTH_ON).await;
    let s = p.user().await;
    let team = p.team(&[]).await;
    let not_found = |r: Response| {
        r.assert_error(404, "API_KEY_NOT_FOUND", "API key not found.");
    };
    not_found(
        p.server(p.app.post("/user-api-keys/check"))
            .json(json!({ "api_key": "sk_this_is_a_fake_api_key_123456789" }))
            .send()
            .await,
    );
    // A well-formed key with a correct checksum that was never issued.
    let forged = {
        let head = format!(
            "sk_{}{}user1574ck4u7h",
            "0".repeat(45),
            Uuid::new_v4().simple()
        );
        json!({ "value": format!("{head}{}", api_keys::checksum(&head)) })
    };
    assert!(api_keys::parse(value(&forged)).is_ok());
    not_found(p.check("user", &forged).await);

    let user_key = p.key(("user_id", &s.user_id), json!({})).await;
    let team_key = p.key(("team_id", &team), json!({})).await;
    let r = p.check("user", &team_key).await;
    r.assert_error(
        400,
        "WRONG_API_KEY_TYPE",
        "This endpoint is for user API keys, but a team API key was provided.",
    );
    assert_eq!(
        r.body["details"],
        json!({ "expected_type": "user", "actual_type": "team" })
    );
    let r = p.check("team", &user_key).await;
    r.assert_error(
        400,
        "WRONG_API_KEY_TYPE",
        "This endpoint is for team API keys, but a user API key was provided.",
    );
    assert_eq!(
        r.body["details"],
        json!({ "expected_type": "team", "actual_type": "user" })
    );
    let r = p.check("team", &team_key).await;
    r.assert_status(200);
    assert_eq!(r.body["team_id"], team.as_str());

    // Expired and revoked: revoked is reported first; the type before both.
    let expired = p
        .key(
            ("user_id", &s.user_id),
            json!({ "expires_at_millis": now_millis() - HOUR_MILLIS }),
        )
        .await;
    assert!(expired["expires_at_millis"].is_i64());
    p.check("user", &expired)
        .await
        .assert_error(401, "API_KEY_EXPIRED", "API key has expired.")
        .assert_no_details();
    p.server(p.app.patch(&format!(
        "/user-api-keys/{}",
        expired["id"].as_str().unwrap()
    )))
    .json(json!({ "revoked": true }))
    .send()
    .await
    .assert_status(200);
    p.check("user", &expired).await.assert_error(
        401,
        "API_KEY_REVOKED",
        "API key has been revoked.",
    );
    p.check("team", &expired)
        .await
        .assert_known(400, "WRONG_API_KEY_TYPE");

    // Keys belong to their project.
    let other = project_in(TestApp::spawn().await, BOTH_ON).await;
    not_found(other.check("user", &user_key).await);

    p.server(p.app.post("/user-api-keys/check"))
        .json(json!({}))
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/user-api-keys/check",
            &["body.api_key must be defined"],
        );
}

#[tokio::test]
async fn expiry_is_optional_and_a_past_time_is_accepted() {
    let p = project(BOTH_ON).await;
    let s = p.user().await;
    let future = now_millis() + HOUR_MILLIS;
    for (expires, shown) in [
        (json!(null), None),
        (json!(0), None),
        (json!(future), Some(future)),
    ] {
        let key = p
            .key(
                ("user_id", &s.user_id),
                json!({ "expires_at_millis": expires }),
            )
            .await;
        assert_eq!(key["expires_at_millis"].as_i64(), shown, "{key}");
        let r = p.check("user", &key).await;
        r.assert_status(200);
        assert_eq!(r.body["expires_at_millis"].as_i64(), shown);
    }
    p.server(p.app.post("/user-api-keys"))
        .json(json!({ "user_id": s.user_id, "description": "x" }))
        .send()
        .await
        .assert_schema_error(
            "POST",
            "/api/v1/user-api-keys",
            &["body.expires_at_millis must be defined"],
        );
}

#[tokio::test]
async fn lists_are_newest_first_and_keep_revoked_and_expired_keys() {
    let p = project(BOTH_ON).await;
    let s = p.user().await;
    let first = p
        .key(("user_id", &s.user_id), json!({ "description": "First" }))
        .await;
    let second = p
        .key(
            ("user_id", &s.user_id),
            json!({ "description": "Second", "expires_at_millis": now_millis() - 1 }),
        )
        .await;
    let third = p
        .key(("user_id", &s.user_id), json!({ "description": "Third" }))
        .await;
    p.client(
        p.app
            .patch(&format!("/user-api-keys/{}", third["id"].as_str().unwrap())),
    )
    .user(&s)
    .json(json!({ "revoked": true }))
    .send()
    .await
    .assert_status(200);
    // Another user's key is not listed.
    let other = p.user().await;
    p.key(("user_id", &other.user_id), json!({})).await;
    let r = p
        .client(p.app.get(&format!("/user-api-keys?user_id={}", s.user_id)))
        .user(&s)
        .send()
        .await;
    r.assert_status(200);
    let items = r.body["items"].as_array().unwrap();
    let descriptions: Vec<&str> = items
        .iter()
        .map(|k| k["description"].as_str().unwrap())
        .collect();
    assert_eq!(descriptions, ["Third", "Second", "First"]);
    assert!(items[0]["manually_revoked_at_millis"].is_i64());
    assert!(items[1]["expires_at_millis"].is_i64());
    assert_eq!(
        keys(&items[2]),
        keys(&{
            let mut k = first.clone();
            k["value"] = json!({});
            k
        })
    );
    for key in [&first, &second, &third] {
        assert!(!r.text.contains(value(key)));
    }
}

#[tokio::test]
async fn revoking_twice_or_at_once_keeps_the_first_time() {
    let p = project(BOTH_ON).await;
    let s = p.user().await;
    let key = p
        .key(("user_id", &s.user_id), json!({ "is_public": true }))
        .await;
    let path = format!(
        "/user-api-keys/{}?user_id={}",
        key["id"].as_str().unwrap(),
        s.user_id
    );
    let revoke = || {
        p.client(p.app.patch(&path))
            .user(&s)
            .json(json!({ "revoked": true }))
            .send()
    };
    // Two revocations racing: both succeed and report the same time.
    let (a, b) = tokio::join!(revoke(), revoke());
    a.assert_status(200);
    b.assert_status(200);
    let at = a.body["manually_revoked_at_millis"].as_i64().unwrap();
    assert_eq!(b.body["manually_revoked_at_millis"].as_i64(), Some(at));
    // Public keys are revoked like any other.
    assert_eq!(a.body["is_public"], true);
    let again = revoke().await;
    again.assert_status(200);
    assert_eq!(again.body, a.body);
    // A later change of description keeps the revocation; there is no way back.
    let r = p
        .client(p.app.patch(&path))
        .user(&s)
        .json(json!({ "description": "still revoked" }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["manually_revoked_at_millis"].as_i64(), Some(at));
    let route = format!("/api/v1/user-api-keys/{}", key["id"].as_str().unwrap());
    p.client(p.app.patch(&path))
        .user(&s)
        .json(json!({ "revoked": false, "description": null }))
        .send()
        .await
        .assert_schema_error(
            "PATCH",
            &route,
            &[
                "body.revoked must be one of the following values: true",
                "body.description cannot be null",
            ],
        );
    p.check("user", &key)
        .await
        .assert_error(401, "API_KEY_REVOKED", "API key has been revoked.");
}

#[tokio::test]
async fn ids_are_checked_and_a_key_of_the_other_kind_is_not_found() {
    let p = project(BOTH_ON).await;
    let s = p.user().await;
    let team = p.team(&[(&s, &["team_admin"])]).await;
    let team_key = p.key(("team_id", &team), json!({})).await;
    let user_key = p.key(("user_id", &s.user_id), json!({})).await;
    let (team_key_id, user_key_id) = (
        team_key["id"].as_str().unwrap(),
        user_key["id"].as_str().unwrap(),
    );
    for access in ["client", "server"] {
        for path in [
            format!("/user-api-keys/{team_key_id}"),
            format!("/user-api-keys/{}", Uuid::new_v4()),
            format!("/team-api-keys/{user_key_id}?team_id={team}"),
        ] {
            p.with(p.app.get(&path), access)
                .user(&s)
                .send()
                .await
                .assert_known(404, "API_KEY_NOT_FOUND");
            p.with(p.app.patch(&path), access)
                .user(&s)
                .json(json!({ "revoked": true }))
                .send()
                .await
                .assert_known(404, "API_KEY_NOT_FOUND");
        }
    }
    p.check("team", &team_key).await.assert_status(200);
    p.check("user", &user_key).await.assert_status(200);
    p.server(p.app.get("/user-api-keys/not-a-uuid"))
        .send()
        .await
        .assert_schema_error(
            "GET",
            "/api/v1/user-api-keys/not-a-uuid",
            &["params.api_key_id must be a valid UUID"],
        );
}

#[tokio::test]
async fn deleting_the_owner_deletes_its_keys() {
    let p = project(BOTH_ON).await;
    let s = p.user().await;
    let team = p.team(&[(&s, &["team_admin"])]).await;
    let user_key = p.key(("user_id", &s.user_id), json!({})).await;
    let team_key = p.key(("team_id", &team), json!({})).await;
    sqlx::query("DELETE FROM teams WHERE project_id = $1 AND id = $2")
        .bind(&p.id)
        .bind(Uuid::parse_str(&team).unwrap())
        .execute(&p.app.pool)
        .await
        .unwrap();
    p.check("team", &team_key)
        .await
        .assert_known(404, "API_KEY_NOT_FOUND");
    p.check("user", &user_key).await.assert_status(200);
    p.server(p.app.delete(&format!("/users/{}", s.user_id)))
        .send()
        .await
        .assert_status(200);
    p.check("user", &user_key)
        .await
        .assert_known(404, "API_KEY_NOT_FOUND");
}

/// A `stack-server serve` process on `database_url`, logging at debug level
/// into a buffer; killed when dropped.
struct LoggingServer {
    child: std::process::Child,
    base: String,
    log: Option<std::thread::JoinHandle<String>>,
}

impl LoggingServer {
    async fn start(database_url: String) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stack-server"))
            .args([
                "serve",
                "--no-mail-sink",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env("STACK_DATABASE_URL", database_url)
            .env("STACK_LOG", "debug")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Drain stderr as it comes, so a full pipe never blocks the server.
        let mut stderr = child.stderr.take().unwrap();
        let log = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        crate::helpers::wait_until(
            "the logging server to answer",
            Duration::from_secs(20),
            || {
                let health = http.get(format!("{base}/health")).send();
                async move { health.await.is_ok_and(|r| r.status().is_success()) }
            },
        )
        .await
        .unwrap();
        Self {
            child,
            base,
            log: Some(log),
        }
    }

    /// Everything it logged, once it has stopped.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log.take().unwrap().join().unwrap()
    }
}

impl Drop for LoggingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn no_key_is_ever_logged() {
    let p = project(BOTH_ON).await;
    let s = p.user().await;
    let team = p.team(&[(&s, &["team_admin"])]).await;
    let server = LoggingServer::start(p.app.database_url()).await;
    let send = |method: reqwest::Method, path: String, body: Value| {
        p.app
            .http
            .request(method, format!("{}/api/v1{path}", server.base))
            .header("x-stack-project-id", &p.id)
            .header("x-stack-access-type", "server")
            .header("x-stack-secret-server-key", &p.ssk)
            .json(&body)
            .send()
    };
    let mut created = Vec::new();
    for (kind, field, owner) in [("user", "user_id", &s.user_id), ("team", "team_id", &team)] {
        let other = if kind == "user" { "team" } else { "user" };
        let r = send(
            reqwest::Method::POST,
            format!("/{kind}-api-keys"),
            json!({ field: owner, "description": "logged?", "expires_at_millis": null }),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        let key: Value = r.json().await.unwrap();
        let full = json!({ "api_key": key["value"] });
        let id = key["id"].as_str().unwrap();
        for (method, path, body, status) in [
            (
                reqwest::Method::POST,
                format!("/{kind}-api-keys/check"),
                full.clone(),
                200,
            ),
            (
                reqwest::Method::GET,
                format!("/{kind}-api-keys?{field}={owner}"),
                json!(null),
                200,
            ),
            (
                reqwest::Method::PATCH,
                format!("/{kind}-api-keys/{id}?{field}={owner}"),
                json!({ "revoked": true }),
                200,
            ),
            (
                reqwest::Method::POST,
                format!("/{kind}-api-keys/check"),
                full.clone(),
                401,
            ),
            (
                reqwest::Method::POST,
                format!("/{other}-api-keys/check"),
                full.clone(),
                400,
            ),
        ] {
            let r = send(method, path, body).await.unwrap();
            assert_eq!(r.status(), status);
        }
        created.push(value(&key).to_owned());
    }
    let logs = server.stop();
    assert!(
        logs.contains("POST /api/v1/user-api-keys/check 200")
            && logs.contains("POST /api/v1/team-api-keys/check 401")
            && logs.contains("WRONG_API_KEY_TYPE"),
        "the server's request log is not as expected:\n{logs}"
    );
    for key in &created {
        assert!(
            !logs.contains(key.as_str()),
            "a full key was logged:\n{logs}"
        );
        assert!(
            !logs.contains(&key[3..48]),
            "a key's random part was logged"
        );
    }
}
