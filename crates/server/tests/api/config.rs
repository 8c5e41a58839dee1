//! Project config (`/internal/config`): the rendered config, each level's
//! override (read, merge, replace, reset keys), the branch override's source,
//! how the levels layer, what each level may set, and the legacy `config`
//! object of `/internal/projects/current` on top of the overrides. Error texts
//! are Stack Auth's and are asserted exactly.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Request, Response, Session, TestApp, keys, sorted, wait_until};
use crate::projects::{PROPAGATION_LIMIT, key, owned_project, second_server};

const ALL_LEVELS: &str =
    "params.level must be one of the following values: project, branch, environment";
const RESETTABLE_LEVELS: &str =
    "params.level must be one of the following values: branch, environment";
const SERVER_BRANCH_ONLY: &str = "Server access can only manage branch config overrides.";
const SOURCE_REQUIRED: &str = "source is required for branch level config";
const INVALID_JSON: &str = "Invalid config JSON";
const NOT_AN_OBJECT: &str = "Config override must be a non-null object.";
const BAD_SOURCE: &str = "body.source is not matched by any of the provided schemas: it must be { type: \"pushed-from-github\", owner, repo, branch, commit_hash, config_file_path }, { type: \"pushed-from-unknown\" } or { type: \"unlinked\" }";
const PROVIDER_TYPES: &str = "google, github, microsoft, spotify, facebook, discord, gitlab, bitbucket, linkedin, apple, x, twitch";
const SUCCESS: &str = r#"{"success":true}"#;

/// The built-in email themes.
const LIGHT_THEME: &str = "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac";
const DARK_THEME: &str = "a0172b5d-cff0-463b-83bb-85124697373a";
/// An id of no built-in template.
const CUSTOM_TEMPLATE: &str = "5b3f0e7a-2c41-4d8e-9a6b-0f1e2d3c4b5a";

/// The apps, in the order the rendered config lists them.
const APPS: [&str; 18] = stack_server::config::schema::ALL_APPS;

/// Stack Auth's message for a key the level's schema does not have.
fn not_in_schema(key: &str, missing: &str) -> String {
    format!("The key \"{key}\" is not valid (nested object not found in schema: \"{missing}\").")
}

fn insufficient(actual: &str, allowed: &[&str]) -> String {
    let list: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    format!(
        "The x-stack-access-type header must be {}, but was '{actual}'.",
        list.join(" or ")
    )
}

/// A GitHub push source with every field set.
fn github_source(commit: &str) -> Value {
    json!({
        "type": "pushed-from-github",
        "owner": "acme",
        "repo": "shop",
        "branch": "main",
        "commit_hash": commit,
        "config_file_path": "stack.config.ts",
    })
}

/// A project owned by an internal user's team, driven through its own keys.
struct Project<'a> {
    app: &'a TestApp,
    id: String,
    keys: Value,
    owner: Session,
}

impl<'a> Project<'a> {
    async fn create(app: &'a TestApp) -> Self {
        let o = owned_project(app).await;
        Self {
            app,
            id: o.id,
            keys: o.keys,
            owner: o.owner,
        }
    }

    /// `req` with this project's key of `access`.
    fn with(&self, access: &str, req: Request) -> Request {
        let name = match access {
            "client" => "publishable_client_key",
            "server" => "secret_server_key",
            "admin" => "super_secret_admin_key",
            other => panic!("unknown access type {other}"),
        };
        req.with_key(access, &self.id, key(&self.keys, name))
    }

    /// A request below `/api/v1` with this project's key of `access`.
    fn req(&self, access: &str, method: Method, path: &str) -> Request {
        self.with(access, self.app.req(method, path))
    }

    async fn rendered_by(&self, app: &TestApp) -> Value {
        let r = self.with("admin", app.get("/internal/config")).send().await;
        r.assert_status(200);
        assert_eq!(keys(&r.body), sorted(&["config_string"]), "{}", r.text);
        serde_json::from_str(r.body["config_string"].as_str().unwrap()).unwrap()
    }

    /// The rendered config.
    async fn rendered(&self) -> Value {
        self.rendered_by(self.app).await
    }

    /// The stored override of `level`.
    async fn stored(&self, level: &str) -> Value {
        let r = self
            .req(
                "admin",
                Method::GET,
                &format!("/internal/config/override/{level}"),
            )
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(keys(&r.body), sorted(&["config_string"]), "{}", r.text);
        serde_json::from_str(r.body["config_string"].as_str().unwrap()).unwrap()
    }

    /// `PATCH` of `level` with `text` as the override, as `access`.
    async fn patch_text_as(&self, access: &str, level: &str, text: &str) -> Response {
        self.req(
            access,
            Method::PATCH,
            &format!("/internal/config/override/{level}"),
        )
        .json(json!({ "config_override_string": text }))
        .send()
        .await
    }

    async fn patch(&self, level: &str, config: Value) -> Response {
        self.patch_text_as("admin", level, &config.to_string())
            .await
    }

    /// A `PATCH` that must succeed.
    async fn merge(&self, level: &str, config: Value) {
        let r = self.patch(level, config.clone()).await;
        assert_eq!(r.status, 200, "PATCH {level} {config}: {}", r.text);
        assert_eq!(r.text, SUCCESS);
    }

    async fn put_as(
        &self,
        access: &str,
        level: &str,
        text: &str,
        source: Option<Value>,
    ) -> Response {
        let mut body = json!({ "config_string": text });
        if let Some(source) = source {
            body["source"] = source;
        }
        self.req(
            access,
            Method::PUT,
            &format!("/internal/config/override/{level}"),
        )
        .json(body)
        .send()
        .await
    }

    async fn put(&self, level: &str, config: Value, source: Option<Value>) -> Response {
        self.put_as("admin", level, &config.to_string(), source)
            .await
    }

    async fn reset_as(&self, access: &str, level: &str, keys: Value) -> Response {
        self.req(
            access,
            Method::POST,
            &format!("/internal/config/override/{level}/reset-keys"),
        )
        .json(json!({ "keys": keys }))
        .send()
        .await
    }

    /// A reset that must succeed.
    async fn reset(&self, level: &str, keys: Value) {
        let r = self.reset_as("admin", level, keys.clone()).await;
        assert_eq!(r.status, 200, "reset {level} {keys}: {}", r.text);
        assert_eq!(r.text, SUCCESS);
    }

    async fn source(&self) -> Value {
        let r = self
            .req("admin", Method::GET, "/internal/config/source")
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(keys(&r.body), sorted(&["source"]), "{}", r.text);
        r.body["source"].clone()
    }

    /// The legacy admin view's `config`.
    async fn legacy(&self) -> Value {
        let r = self
            .req("admin", Method::GET, "/internal/projects/current")
            .send()
            .await;
        r.assert_status(200);
        r.body["config"].clone()
    }

    async fn legacy_patch(&self, config: Value) -> Response {
        self.req("admin", Method::PATCH, "/internal/projects/current")
            .json(json!({ "config": config }))
            .send()
            .await
    }
}

#[tokio::test]
async fn the_rendered_config_is_for_admins_and_a_new_project_starts_from_the_creation_defaults() {
    let app = TestApp::spawn().await;
    let p = Project::create(&app).await;

    for access in ["client", "server"] {
        let r = p.req(access, Method::GET, "/internal/config").send().await;
        r.assert_error(
            401,
            "INSUFFICIENT_ACCESS_TYPE",
            &insufficient(access, &["admin"]),
        );
        assert_eq!(
            r.body["details"],
            json!({ "actual_access_type": access, "allowed_access_types": ["admin"] })
        );
    }
    // The dashboard's admin token sent with a lower access type is no better.
    app.get("/internal/config")
        .admin_token("client", &p.id, &p.owner.access)
        .send()
        .await
        .assert_error(
            401,
            "INSUFFICIENT_ACCESS_TYPE",
            &insufficient("client", &["admin"]),
        );
    let r = app
        .get("/internal/config")
        .admin_token("admin", &p.id, &p.owner.access)
        .send()
        .await;
    r.assert_status(200);
    app.get("/internal/config?x=1")
        .with_key("admin", &p.id, key(&p.keys, "super_secret_admin_key"))
        .send()
        .await
        .assert_schema_error(
            "GET",
            "/api/v1/internal/config",
            &["query contains unknown properties: x"],
        );

    let c = p.rendered().await;
    assert_eq!(
        keys(&c),
        sorted(&[
            "sourceOfTruth",
            "project",
            "rbac",
            "apiKeys",
            "apps",
            "teams",
            "users",
            "onboarding",
            "domains",
            "auth",
            "emails",
            "payments",
            "dbSync",
            "dataVault",
            "analytics",
            "customDashboards",
        ]),
        "{c}"
    );
    assert_eq!(
        c["auth"],
        json!({
            "allowSignUp": true,
            "password": { "allowSignIn": true },
            "otp": { "allowSignIn": false },
            "passkey": { "allowSignIn": false },
            "oauth": { "accountMergeStrategy": "link_method", "providers": {} },
            "signUpRules": {},
            "signUpRulesDefaultAction": "allow",
        })
    );
    assert_eq!(
        c["domains"],
        json!({ "allowLocalhost": true, "trustedDomains": {} })
    );
    assert_eq!(
        c["teams"],
        json!({ "allowClientTeamCreation": false, "createPersonalTeamOnSignUp": false })
    );
    assert_eq!(c["users"], json!({ "allowClientUserDeletion": false }));
    assert_eq!(c["sourceOfTruth"], json!({ "type": "hosted" }));
    assert_eq!(
        c["project"],
        json!({ "requirePublishableClientKey": false })
    );
    assert_eq!(
        c["apiKeys"],
        json!({ "enabled": { "team": false, "user": false } })
    );
    assert_eq!(
        c["onboarding"],
        json!({ "requireEmailVerification": false })
    );
    let installed = c["apps"]["installed"].as_object().unwrap();
    assert_eq!(installed.keys().collect::<Vec<_>>(), APPS, "app order");
    for (app_id, entry) in installed {
        let on = matches!(app_id.as_str(), "authentication" | "emails");
        assert_eq!(entry, &json!({ "enabled": on }), "apps.installed.{app_id}");
    }
    assert_eq!(
        c["rbac"]["defaultPermissions"],
        json!({ "teamCreator": { "team_admin": true }, "teamMember": { "team_member": true }, "signUp": {} })
    );
    assert_eq!(
        keys(&c["rbac"]["permissions"]),
        sorted(&["team_admin", "team_member"])
    );
    assert_eq!(
        c["rbac"]["permissions"]["team_member"],
        json!({
            "description": "Default permission for team members",
            "scope": "team",
            "containedPermissionIds": { "$read_members": true, "$invite_members": true },
        })
    );
    assert_eq!(
        c["emails"]["server"],
        json!({ "isShared": true, "provider": "smtp" })
    );
    assert_eq!(c["emails"]["selectedThemeId"], LIGHT_THEME);
    assert_eq!(c["emails"]["themes"].as_object().unwrap().len(), 3);
    assert_eq!(c["emails"]["templates"].as_object().unwrap().len(), 7);
    assert_eq!(
        c["emails"]["themes"][DARK_THEME]["displayName"],
        "Default Dark"
    );

    // What creation stored: the project and branch levels are empty, the
    // environment holds the creation defaults as flat keys.
    assert_eq!(p.stored("project").await, json!({}));
    assert_eq!(p.stored("branch").await, json!({}));
    let environment = p.stored("environment").await;
    assert_eq!(
        keys(&environment),
        sorted(&[
            "apps.installed.authentication.enabled",
            "apps.installed.emails.enabled",
            "auth.password.allowSignIn",
            "domains.allowLocalhost",
            "rbac.defaultPermissions.teamCreator",
            "rbac.defaultPermissions.teamMember",
            "rbac.permissions.team_admin",
            "rbac.permissions.team_member",
        ]),
        "{environment}"
    );
    assert_eq!(environment["domains.allowLocalhost"], true);
    assert_eq!(environment["auth.password.allowSignIn"], true);
    assert_eq!(p.source().await, json!({ "type": "unlinked" }));

    // The same routes answer below /api/latest.
    let r = p
        .with(
            "admin",
            app.root(Method::GET, "/api/latest/internal/config"),
        )
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(
        serde_json::from_str::<Value>(r.body["config_string"].as_str().unwrap()).unwrap(),
        c
    );
}

#[tokio::test]
async fn patch_merges_keys_put_replaces_the_level_and_null_falls_back_to_the_default() {
    let app = TestApp::spawn().await;
    let p = Project::create(&app).await;

    p.merge(
        "environment",
        json!({
            "teams.allowClientTeamCreation": true,
            "teams.createPersonalTeamOnSignUp": true,
            "users.allowClientUserDeletion": true,
        }),
    )
    .await;
    let c = p.rendered().await;
    assert_eq!(
        c["teams"],
        json!({ "allowClientTeamCreation": true, "createPersonalTeamOnSignUp": true })
    );
    assert_eq!(c["users"]["allowClientUserDeletion"], true);
    let stored = p.stored("environment").await;
    assert_eq!(stored["teams.allowClientTeamCreation"], true);
    assert_eq!(stored["users.allowClientUserDeletion"], true);

    // A key replaces every older key at or below it, however it is spelled.
    p.merge(
        "environment",
        json!({ "teams": { "allowClientTeamCreation": false } }),
    )
    .await;
    let stored = p.stored("environment").await;
    assert_eq!(stored["teams"], json!({ "allowClientTeamCreation": false }));
    assert!(
        stored.get("teams.allowClientTeamCreation").is_none(),
        "{stored}"
    );
    assert!(
        stored.get("teams.createPersonalTeamOnSignUp").is_none(),
        "{stored}"
    );
    assert_eq!(
        p.rendered().await["teams"],
        json!({ "allowClientTeamCreation": false, "createPersonalTeamOnSignUp": false })
    );
    // A deeper key leaves the older nested object; the deeper one wins.
    p.merge(
        "environment",
        json!({ "teams.createPersonalTeamOnSignUp": true }),
    )
    .await;
    let stored = p.stored("environment").await;
    assert_eq!(stored["teams"], json!({ "allowClientTeamCreation": false }));
    assert_eq!(stored["teams.createPersonalTeamOnSignUp"], true);
    assert_eq!(
        p.rendered().await["teams"],
        json!({ "allowClientTeamCreation": false, "createPersonalTeamOnSignUp": true })
    );

    // null is stored as null and renders as the default.
    p.merge(
        "environment",
        json!({ "users.allowClientUserDeletion": null }),
    )
    .await;
    let stored = p.stored("environment").await;
    assert_eq!(
        stored.get("users.allowClientUserDeletion"),
        Some(&Value::Null),
        "{stored}"
    );
    assert_eq!(
        p.rendered().await["users"]["allowClientUserDeletion"],
        false
    );
    // null on an object brings back all its defaults; the creation default of
    // auth.password.allowSignIn is an override, so it goes too.
    p.merge("environment", json!({ "auth": null })).await;
    let c = p.rendered().await;
    assert_eq!(c["auth"]["password"]["allowSignIn"], false);
    assert_eq!(c["auth"]["allowSignUp"], true);
    p.merge("environment", json!({ "auth.password.allowSignIn": true }))
        .await;

    // A PATCH of nothing changes nothing.
    let before = p.stored("environment").await;
    p.merge("environment", json!({})).await;
    assert_eq!(p.stored("environment").await, before);

    // Project level.
    p.merge(
        "project",
        json!({ "project.requirePublishableClientKey": true }),
    )
    .await;
    assert_eq!(
        p.stored("project").await,
        json!({ "project.requirePublishableClientKey": true })
    );
    assert_eq!(
        p.rendered().await["project"]["requirePublishableClientKey"],
        true
    );
    // ... which the auth layer obeys: a client without a publishable key is
    // now refused.
    let r = app
        .get("/projects/current")
        .access("client", &p.id)
        .send()
        .await;
    r.assert_known(401, "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT");
    p.merge(
        "project",
        json!({ "project.requirePublishableClientKey": null }),
    )
    .await;
    app.get("/projects/current")
        .access("client", &p.id)
        .send()
        .await
        .assert_status(200);

    // Branch level. The environment's `"auth": null` covers every branch
    // key below `auth`.
    p.merge("branch", json!({ "auth.otp.allowSignIn": true }))
        .await;
    assert_eq!(p.rendered().await["auth"]["otp"]["allowSignIn"], false);
    p.merge(
        "branch",
        json!({ "onboarding.requireEmailVerification": true }),
    )
    .await;
    assert_eq!(
        p.stored("branch").await,
        json!({ "auth.otp.allowSignIn": true, "onboarding.requireEmailVerification": true })
    );
    assert_eq!(
        p.rendered().await["onboarding"]["requireEmailVerification"],
        true
    );
    // PUT replaces the whole override.
    let r = p
        .put(
            "branch",
            json!({ "teams.allowClientTeamCreation": true }),
            Some(json!({ "type": "pushed-from-unknown" })),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.text, SUCCESS);
    assert_eq!(
        p.stored("branch").await,
        json!({ "teams.allowClientTeamCreation": true })
    );
    let c = p.rendered().await;
    assert_eq!(c["onboarding"]["requireEmailVerification"], false);
    // The environment's nested `teams` object covers the branch's flat key.
    assert_eq!(c["teams"]["allowClientTeamCreation"], false);
    p.put("branch", json!({}), Some(json!({ "type": "unlinked" })))
        .await
        .assert_status(200);
    assert_eq!(p.stored("branch").await, json!({}));

    // The branch needs a source, after the config itself is checked.
    p.put("branch", json!({ "auth.otp.allowSignIn": true }), None)
        .await
        .assert_plain(400, SOURCE_REQUIRED);
    p.put_as("admin", "branch", "{not json", None)
        .await
        .assert_plain(400, INVALID_JSON);
    p.put_as(
        "admin",
        "branch",
        "{not json",
        Some(json!({ "type": "unlinked" })),
    )
    .await
    .assert_plain(400, INVALID_JSON);
    p.put("branch", json!({ "nope": true }), None)
        .await
        .assert_plain(400, &not_in_schema("nope", "nope"));
    p.patch_text_as("admin", "environment", "{\"a\": ")
        .await
        .assert_plain(400, INVALID_JSON);
    p.patch_text_as("admin", "branch", "")
        .await
        .assert_plain(400, INVALID_JSON);
    assert_eq!(p.stored("branch").await, json!({}));

    // The environment needs no source; PUT {} empties it.
    p.put("environment", json!({}), None)
        .await
        .assert_status(200);
    assert_eq!(p.stored("environment").await, json!({}));
    let c = p.rendered().await;
    assert_eq!(c["auth"]["password"]["allowSignIn"], false);
    assert_eq!(c["domains"]["allowLocalhost"], false);
    assert_eq!(
        c["teams"],
        json!({ "allowClientTeamCreation": false, "createPersonalTeamOnSignUp": false })
    );

    // Missing fields.
    p.req(
        "admin",
        Method::PATCH,
        "/internal/config/override/environment",
    )
    .json(json!({}))
    .send()
    .await
    .assert_schema_error(
        "PATCH",
        "/api/v1/internal/config/override/environment",
        &["body.config_override_string must be defined"],
    );
    p.req("admin", Method::PUT, "/internal/config/override/branch")
        .json(json!({ "config_override_string": "{}" }))
        .send()
        .await
        .assert_schema_error(
            "PUT",
            "/api/v1/internal/config/override/branch",
            &[
                "body.config_string must be defined",
                "body contains unknown properties: config_override_string",
            ],
        );
}

#[tokio::test]
async fn each_level_takes_only_its_own_keys_with_the_types_and_choices_of_the_schema() {
    let app = TestApp::spawn().await;
    let p = Project::create(&app).await;
    let environment_before = p.stored("environment").await;

    let refused: Vec<(&str, Value, String)> = vec![
        ("environment", json!({ "x": true }), not_in_schema("x", "x")),
        (
            "environment",
            json!({ "nonExistentField": 1 }),
            not_in_schema("nonExistentField", "nonExistentField"),
        ),
        (
            "branch",
            json!({ "domains.trustedDomains.main": { "baseUrl": "https://app.example.com" } }),
            not_in_schema("domains.trustedDomains.main", "domains.trustedDomains"),
        ),
        (
            "branch",
            json!({ "domains.allowLocalhost": true }),
            not_in_schema("domains.allowLocalhost", "domains.allowLocalhost"),
        ),
        (
            "branch",
            json!({ "emails.server": { "isShared": false } }),
            not_in_schema("emails.server", "emails.server"),
        ),
        (
            "branch",
            json!({ "project.requirePublishableClientKey": true }),
            not_in_schema("project.requirePublishableClientKey", "project"),
        ),
        (
            "environment",
            json!({ "project.requirePublishableClientKey": true }),
            not_in_schema("project.requirePublishableClientKey", "project"),
        ),
        (
            "project",
            json!({ "teams.allowClientTeamCreation": true }),
            not_in_schema("teams.allowClientTeamCreation", "teams"),
        ),
        (
            "project",
            json!({ "teams": { "allowClientTeamCreation": true } }),
            not_in_schema("teams", "teams"),
        ),
        (
            "branch",
            json!({ "auth.oauth.providers.google": { "type": "google", "isShared": true, "clientId": "id" } }),
            "auth.oauth.providers.google contains unknown properties: isShared, clientId"
                .to_owned(),
        ),
        (
            "branch",
            json!({ "auth.oauth.providers.my-provider.type": "github" }),
            not_in_schema(
                "auth.oauth.providers.my-provider.type",
                "auth.oauth.providers.my-provider",
            ),
        ),
        (
            "branch",
            json!({ "apps.installed.chess.enabled": true }),
            not_in_schema("apps.installed.chess.enabled", "apps.installed.chess"),
        ),
        (
            "environment",
            json!({ "emails.templates.welcome": { "displayName": "Welcome" } }),
            not_in_schema("emails.templates.welcome", "emails.templates.welcome"),
        ),
        (
            "environment",
            json!({ "emails.templates": { "welcome": { "displayName": "Welcome" } } }),
            "emails.templates.welcome must be a valid UUID".to_owned(),
        ),
        (
            "environment",
            json!({ "auth.password.allowSignIn": "yes" }),
            "auth.password.allowSignIn must be a `boolean` type, but the final value was: `\"yes\"`."
                .to_owned(),
        ),
        (
            "branch",
            json!({ "teams": { "allowClientTeamCreation": 1 } }),
            "teams.allowClientTeamCreation must be a `boolean` type, but the final value was: `1`."
                .to_owned(),
        ),
        (
            "environment",
            json!({ "emails.server.port": "587" }),
            "emails.server.port must be a `number` type, but the final value was: `\"587\"`."
                .to_owned(),
        ),
        (
            "environment",
            json!({ "auth.oauth.providers.invalid": { "type": "myspace" } }),
            format!("auth.oauth.providers.invalid.type must be one of the following values: {PROVIDER_TYPES}"),
        ),
        (
            "branch",
            json!({ "auth.oauth.accountMergeStrategy": "merge" }),
            "auth.oauth.accountMergeStrategy must be one of the following values: link_method, raise_error, allow_duplicates"
                .to_owned(),
        ),
        (
            "environment",
            json!({ "emails.server.provider": "sendgrid" }),
            "emails.server.provider must be one of the following values: resend, smtp, managed"
                .to_owned(),
        ),
        (
            "branch",
            json!({ "teams": { "unknownSetting": true } }),
            "teams contains unknown properties: unknownSetting".to_owned(),
        ),
        (
            "branch",
            json!({ "teams": { "allowClientTeamCreation.x": true } }),
            "Key allowClientTeamCreation.x contains a dot, which is not allowed in config override."
                .to_owned(),
        ),
        (
            "environment",
            json!({ "-teams": true }),
            "Invalid config format: All keys of override must consist of only alphanumeric characters, dots, underscores, colons, dollar signs, or hyphens and start with a character other than a hyphen (found: -teams)"
                .to_owned(),
        ),
        (
            "branch",
            json!({ "teams..allowClientTeamCreation": true }),
            "Invalid config format: All keys of override must consist of only alphanumeric characters, dots, underscores, colons, dollar signs, or hyphens and start with a character other than a hyphen (found: teams..allowClientTeamCreation)"
                .to_owned(),
        ),
        ("environment", json!([]), NOT_AN_OBJECT.to_owned()),
        ("branch", json!(null), NOT_AN_OBJECT.to_owned()),
        ("project", json!("teams"), NOT_AN_OBJECT.to_owned()),
    ];
    for (level, config, message) in &refused {
        let r = p.patch(level, config.clone()).await;
        assert_eq!(r.status, 400, "PATCH {level} {config}: {}", r.text);
        assert_eq!(&r.text, message, "PATCH {level} {config}");
        r.assert_plain_kind();
    }
    // A union lists why each of its shapes failed.
    let r = p
        .patch("project", json!({ "sourceOfTruth": { "type": "mysql" } }))
        .await;
    r.assert_status(400);
    assert!(
        r.text
            .starts_with("sourceOfTruth is not matched by any of the provided schemas:"),
        "{}",
        r.text
    );
    // PUT checks the same way.
    p.put(
        "branch",
        json!({ "emails.server.isShared": false }),
        Some(json!({ "type": "unlinked" })),
    )
    .await
    .assert_plain(
        400,
        &not_in_schema("emails.server.isShared", "emails.server"),
    );
    p.patch(
        "environment",
        json!({ "teams": { "allowClientTeamCreation": "a\u{0}b" } }),
    )
    .await
    .assert_plain(
        400,
        "Config keys and strings cannot contain NUL characters.",
    );
    // Nothing refused was stored.
    assert_eq!(p.stored("environment").await, environment_before);
    assert_eq!(p.stored("branch").await, json!({}));
    assert_eq!(p.stored("project").await, json!({}));

    // Accepted: every branch key is an environment key too, a provider with
    // only the branch's fields is fine at the branch, and a whole
    // `sourceOfTruth` at the branch is an old spelling that is dropped.
    p.merge(
        "branch",
        json!({ "auth.oauth.providers.my_provider": { "type": "github", "allowSignIn": true, "allowConnectedAccounts": true } }),
    )
    .await;
    assert_eq!(
        p.rendered().await["auth"]["oauth"]["providers"]["my_provider"],
        json!({ "type": "github", "isShared": true, "allowSignIn": true, "allowConnectedAccounts": true })
    );
    p.merge(
        "environment",
        json!({ "rbac.permissions.read_reports": { "description": "Reads reports", "scope": "project" }, "apps.installed.api-keys": { "enabled": true } }),
    )
    .await;
    p.merge("branch", json!({ "sourceOfTruth": { "type": "hosted" } }))
        .await;
    assert_eq!(
        p.stored("branch").await,
        json!({ "auth.oauth.providers.my_provider": { "type": "github", "allowSignIn": true, "allowConnectedAccounts": true } })
    );
    p.merge(
        "project",
        json!({ "sourceOfTruth": { "type": "postgres", "connectionString": "postgres://db.example/app" } }),
    )
    .await;
    assert_eq!(
        p.rendered().await["sourceOfTruth"],
        json!({ "type": "postgres", "connectionString": "postgres://db.example/app" })
    );

    // Bad levels, whatever the method; reset-keys has no project level.
    let bad = "/internal/config/override/invalid-level";
    p.req("admin", Method::GET, bad)
        .send()
        .await
        .assert_schema_error("GET", &format!("/api/v1{bad}"), &[ALL_LEVELS]);
    p.req("admin", Method::PATCH, bad)
        .json(json!({ "config_override_string": "{}" }))
        .send()
        .await
        .assert_schema_error("PATCH", &format!("/api/v1{bad}"), &[ALL_LEVELS]);
    p.req("admin", Method::PATCH, bad)
        .json(json!({}))
        .send()
        .await
        .assert_schema_error(
            "PATCH",
            &format!("/api/v1{bad}"),
            &[ALL_LEVELS, "body.config_override_string must be defined"],
        );
    p.req("admin", Method::PUT, bad)
        .json(json!({ "config_string": "{}" }))
        .send()
        .await
        .assert_schema_error("PUT", &format!("/api/v1{bad}"), &[ALL_LEVELS]);
    for level in ["project", "invalid-level"] {
        let path = format!("/internal/config/override/{level}/reset-keys");
        p.req("admin", Method::POST, &path)
            .json(json!({ "keys": [] }))
            .send()
            .await
            .assert_schema_error("POST", &format!("/api/v1{path}"), &[RESETTABLE_LEVELS]);
    }

    // Server keys reach only the branch; clients reach nothing.
    let server_get = |level: &str| {
        p.req(
            "server",
            Method::GET,
            &format!("/internal/config/override/{level}"),
        )
        .send()
    };
    server_get("branch").await.assert_status(200);
    for level in ["project", "environment"] {
        server_get(level)
            .await
            .assert_plain(403, SERVER_BRANCH_ONLY);
        // The access check comes before the JSON is read.
        p.patch_text_as("server", level, "{not json")
            .await
            .assert_plain(403, SERVER_BRANCH_ONLY);
        p.put_as("server", level, "{}", None)
            .await
            .assert_plain(403, SERVER_BRANCH_ONLY);
    }
    // ... and the level check before the access check.
    p.req(
        "server",
        Method::GET,
        "/internal/config/override/invalid-level",
    )
    .send()
    .await
    .assert_schema_error(
        "GET",
        "/api/v1/internal/config/override/invalid-level",
        &[ALL_LEVELS],
    );
    let r = p
        .patch_text_as(
            "server",
            "branch",
            r#"{"teams.allowClientTeamCreation": true}"#,
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.text, SUCCESS);
    p.put_as(
        "server",
        "branch",
        r#"{"teams.allowClientTeamCreation": true}"#,
        Some(json!({ "type": "pushed-from-unknown" })),
    )
    .await
    .assert_status(200);
    assert_eq!(
        p.stored("branch").await,
        json!({ "teams.allowClientTeamCreation": true })
    );
    for method in [Method::GET, Method::PATCH, Method::PUT] {
        let r = p
            .req("client", method.clone(), "/internal/config/override/branch")
            .json(json!({ "config_override_string": "{}", "config_string": "{}" }))
            .send()
            .await;
        r.assert_error(
            401,
            "INSUFFICIENT_ACCESS_TYPE",
            &insufficient("client", &["server", "admin"]),
        );
    }

    // The /api/latest prefix takes the same requests and names itself in
    // schema errors.
    let r = p
        .with(
            "admin",
            app.root(
                Method::PATCH,
                "/api/latest/internal/config/override/environment",
            ),
        )
        .json(json!({ "config_override_string": r#"{"users.allowClientUserDeletion": true}"# }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(p.rendered().await["users"]["allowClientUserDeletion"], true);
    p.with(
        "admin",
        app.root(Method::GET, "/api/latest/internal/config/override/nope"),
    )
    .send()
    .await
    .assert_schema_error(
        "GET",
        "/api/latest/internal/config/override/nope",
        &[ALL_LEVELS],
    );
}

#[tokio::test]
async fn later_levels_win_and_record_entries_are_added_replaced_and_removed() {
    let app = TestApp::spawn().await;
    let p = Project::create(&app).await;

    // The environment wins over the branch, key by key.
    p.merge(
        "branch",
        json!({ "teams.allowClientTeamCreation": true, "auth.otp.allowSignIn": true }),
    )
    .await;
    p.merge(
        "environment",
        json!({ "teams.allowClientTeamCreation": false, "users.allowClientUserDeletion": true }),
    )
    .await;
    let c = p.rendered().await;
    assert_eq!(c["teams"]["allowClientTeamCreation"], false);
    assert_eq!(c["auth"]["otp"]["allowSignIn"], true);
    assert_eq!(c["users"]["allowClientUserDeletion"], true);
    assert!(
        p.stored("environment")
            .await
            .get("auth.otp.allowSignIn")
            .is_none()
    );
    assert!(
        p.stored("branch")
            .await
            .get("users.allowClientUserDeletion")
            .is_none()
    );
    // An environment null is "back to the default", not "see the branch".
    p.merge(
        "environment",
        json!({ "teams.allowClientTeamCreation": null }),
    )
    .await;
    assert_eq!(
        p.rendered().await["teams"]["allowClientTeamCreation"],
        false
    );
    // Removing the environment's key lets the branch show through.
    p.reset("environment", json!(["teams.allowClientTeamCreation"]))
        .await;
    assert_eq!(p.rendered().await["teams"]["allowClientTeamCreation"], true);
    // A branch PUT keeps the environment and drops the old branch values.
    p.put(
        "branch",
        json!({ "auth.passkey.allowSignIn": true }),
        Some(json!({ "type": "unlinked" })),
    )
    .await
    .assert_status(200);
    let c = p.rendered().await;
    assert_eq!(c["auth"]["passkey"]["allowSignIn"], true);
    assert_eq!(c["auth"]["otp"]["allowSignIn"], false);
    assert_eq!(c["teams"]["allowClientTeamCreation"], false);
    assert_eq!(c["users"]["allowClientUserDeletion"], true);
    // The project level's keys are not the branch's, so the two never
    // compete through the API; the environment still wins over a branch PUT.
    p.merge("environment", json!({ "auth.passkey.allowSignIn": false }))
        .await;
    assert_eq!(p.rendered().await["auth"]["passkey"]["allowSignIn"], false);

    // OAuth providers: add (nested and dotted), replace, remove with null.
    p.merge(
        "environment",
        json!({ "auth.oauth.providers": { "google": { "type": "google", "isShared": false, "clientId": "google-id", "clientSecret": "google-secret", "allowSignIn": true } } }),
    )
    .await;
    p.merge(
        "environment",
        json!({ "auth.oauth.providers.github": { "type": "github", "isShared": true, "allowSignIn": true } }),
    )
    .await;
    assert_eq!(
        p.rendered().await["auth"]["oauth"]["providers"],
        json!({
            "google": { "type": "google", "isShared": false, "clientId": "google-id", "clientSecret": "google-secret", "allowSignIn": true, "allowConnectedAccounts": false },
            "github": { "type": "github", "isShared": true, "allowSignIn": true, "allowConnectedAccounts": false },
        })
    );
    let legacy = p.legacy().await;
    assert_eq!(
        legacy["oauth_providers"],
        json!([
            { "provider_config_id": "github", "id": "github", "type": "shared" },
            { "provider_config_id": "google", "id": "google", "type": "standard", "client_id": "google-id", "client_secret": "google-secret" },
        ])
    );
    assert_eq!(
        legacy["enabled_oauth_providers"],
        json!([{ "id": "github" }, { "id": "google" }])
    );
    // An entry given again replaces the whole entry.
    p.merge(
        "environment",
        json!({ "auth.oauth.providers.google": { "type": "google", "allowConnectedAccounts": true } }),
    )
    .await;
    p.merge(
        "environment",
        json!({ "auth.oauth.providers.github": null }),
    )
    .await;
    assert_eq!(
        p.rendered().await["auth"]["oauth"]["providers"],
        json!({ "google": { "type": "google", "isShared": true, "allowSignIn": false, "allowConnectedAccounts": true } })
    );
    // A provider without a type is left out of the rendered config.
    p.merge(
        "environment",
        json!({ "auth.oauth.providers.untyped": { "allowSignIn": true } }),
    )
    .await;
    assert_eq!(
        keys(&p.rendered().await["auth"]["oauth"]["providers"]),
        sorted(&["google"])
    );
    assert_eq!(p.legacy().await["oauth_providers"], json!([]));

    // Trusted domains: add, add, update one field; allowLocalhost stays.
    p.merge(
        "environment",
        json!({ "domains.trustedDomains.main": { "baseUrl": "https://app.example.com" } }),
    )
    .await;
    p.merge(
        "environment",
        json!({ "domains.trustedDomains.docs": { "baseUrl": "https://docs.example.com", "handlerPath": "/auth" } }),
    )
    .await;
    p.merge(
        "environment",
        json!({ "domains.trustedDomains.main.baseUrl": "https://www.example.com" }),
    )
    .await;
    let c = p.rendered().await;
    assert_eq!(
        c["domains"],
        json!({
            "allowLocalhost": true,
            "trustedDomains": {
                "main": { "baseUrl": "https://www.example.com", "handlerPath": "/handler" },
                "docs": { "baseUrl": "https://docs.example.com", "handlerPath": "/auth" },
            },
        })
    );
    assert_eq!(
        p.legacy().await["domains"],
        json!([
            { "domain": "https://docs.example.com", "handler_path": "/auth" },
            { "domain": "https://www.example.com", "handler_path": "/handler" },
        ])
    );
    // A dotted key into an entry that does not exist is accepted and has no
    // effect.
    p.merge(
        "environment",
        json!({ "domains.trustedDomains.ghost.baseUrl": "https://ghost.example.com" }),
    )
    .await;
    assert_eq!(
        keys(&p.rendered().await["domains"]["trustedDomains"]),
        sorted(&["docs", "main"])
    );
    // The nested spelling of `domains` replaces every older `domains.*` key,
    // allowLocalhost included.
    p.merge(
        "environment",
        json!({ "domains": { "trustedDomains": { "only": { "baseUrl": "https://only.example.com" } } } }),
    )
    .await;
    assert_eq!(
        p.rendered().await["domains"],
        json!({ "allowLocalhost": false, "trustedDomains": { "only": { "baseUrl": "https://only.example.com", "handlerPath": "/handler" } } })
    );

    // A custom template shows only while the project has its own mail server.
    let dedicated = json!({
        "isShared": false,
        "provider": "smtp",
        "host": "smtp.example.com",
        "port": 587,
        "username": "mailer",
        "password": "hunter2",
        "senderName": "Shop",
        "senderEmail": "noreply@example.com",
    });
    let mut mail = json!({ "emails.server": dedicated });
    mail[format!("emails.templates.{CUSTOM_TEMPLATE}")] =
        json!({ "displayName": "Welcome", "tsxSource": "export const x = 1;" });
    p.merge("environment", mail).await;
    let c = p.rendered().await;
    assert_eq!(c["emails"]["server"], dedicated);
    assert_eq!(
        c["emails"]["templates"][CUSTOM_TEMPLATE],
        json!({ "displayName": "Welcome", "tsxSource": "export const x = 1;" })
    );
    assert_eq!(c["emails"]["templates"].as_object().unwrap().len(), 8);
    assert_eq!(
        p.legacy().await["email_config"],
        json!({ "type": "standard", "host": "smtp.example.com", "port": 587, "username": "mailer", "password": "hunter2", "sender_name": "Shop", "sender_email": "noreply@example.com" })
    );
    p.merge("environment", json!({ "emails.server.isShared": true }))
        .await;
    let c = p.rendered().await;
    assert!(c["emails"]["templates"].get(CUSTOM_TEMPLATE).is_none());
    assert_eq!(c["emails"]["templates"].as_object().unwrap().len(), 7);
    assert_eq!(
        p.legacy().await["email_config"],
        json!({ "type": "shared" })
    );
    p.merge("environment", json!({ "emails.server.isShared": false }))
        .await;
    assert_eq!(
        p.rendered().await["emails"]["templates"][CUSTOM_TEMPLATE]["displayName"],
        "Welcome"
    );
}

#[tokio::test]
async fn reset_keys_removes_keys_and_everything_below_them() {
    let app = TestApp::spawn().await;
    let p = Project::create(&app).await;
    let creation = p.stored("environment").await;

    // Admins only; the branch and environment levels only; a list of strings.
    for access in ["client", "server"] {
        p.reset_as(access, "branch", json!([])).await.assert_error(
            401,
            "INSUFFICIENT_ACCESS_TYPE",
            &insufficient(access, &["admin"]),
        );
    }
    let path = "/internal/config/override/environment/reset-keys";
    for (body, problem) in [
        (json!({}), "body.keys must be defined"),
        (
            json!({ "keys": "teams" }),
            "body.keys must be an array of strings",
        ),
        (
            json!({ "keys": ["teams", 1] }),
            "body.keys must be an array of strings",
        ),
    ] {
        p.req("admin", Method::POST, path)
            .json(body)
            .send()
            .await
            .assert_schema_error("POST", &format!("/api/v1{path}"), &[problem]);
    }

    // Flat keys.
    p.merge(
        "environment",
        json!({
            "teams.allowClientTeamCreation": true,
            "teams.createPersonalTeamOnSignUp": true,
            "users.allowClientUserDeletion": true,
            "auth.otp.allowSignIn": true,
        }),
    )
    .await;
    p.reset("environment", json!(["teams.allowClientTeamCreation"]))
        .await;
    let stored = p.stored("environment").await;
    assert!(stored.get("teams.allowClientTeamCreation").is_none());
    assert_eq!(stored["teams.createPersonalTeamOnSignUp"], true);
    let c = p.rendered().await;
    assert_eq!(
        c["teams"],
        json!({ "allowClientTeamCreation": false, "createPersonalTeamOnSignUp": true })
    );
    // A parent takes its children with it.
    p.reset("environment", json!(["teams"])).await;
    let stored = p.stored("environment").await;
    assert!(stored.get("teams.createPersonalTeamOnSignUp").is_none());
    assert_eq!(stored["users.allowClientUserDeletion"], true);
    // Several at once; unknown keys and an empty list change nothing.
    p.reset(
        "environment",
        json!([
            "users.allowClientUserDeletion",
            "auth.otp.allowSignIn",
            "no.such.key"
        ]),
    )
    .await;
    assert_eq!(p.stored("environment").await, creation);
    p.reset("environment", json!([])).await;
    p.reset(
        "environment",
        json!(["nothing", "auth.password.allowSignIn.deeper"]),
    )
    .await;
    assert_eq!(p.stored("environment").await, creation);

    // Nested spellings: a key inside a stored object goes, and the rest of
    // the object stays; an object left empty goes too.
    p.merge(
        "environment",
        json!({
            "auth.oauth.providers": {
                "google": { "type": "google", "allowSignIn": true },
                "github": { "type": "github", "allowSignIn": true },
            },
            "teams": { "allowClientTeamCreation": true },
        }),
    )
    .await;
    p.reset("environment", json!(["auth.oauth.providers.google"]))
        .await;
    let stored = p.stored("environment").await;
    assert_eq!(
        stored["auth.oauth.providers"],
        json!({ "github": { "type": "github", "allowSignIn": true } })
    );
    assert_eq!(stored["teams"], json!({ "allowClientTeamCreation": true }));
    assert_eq!(
        keys(&p.rendered().await["auth"]["oauth"]["providers"]),
        sorted(&["github"])
    );
    p.reset("environment", json!(["teams.allowClientTeamCreation"]))
        .await;
    assert!(p.stored("environment").await.get("teams").is_none());

    // The branch level, whose source stays.
    p.put(
        "branch",
        json!({ "teams": { "allowClientTeamCreation": true, "createPersonalTeamOnSignUp": true }, "auth.otp.allowSignIn": true }),
        Some(github_source("abc123")),
    )
    .await
    .assert_status(200);
    p.reset("branch", json!(["teams.createPersonalTeamOnSignUp"]))
        .await;
    assert_eq!(
        p.stored("branch").await,
        json!({ "teams": { "allowClientTeamCreation": true }, "auth.otp.allowSignIn": true })
    );
    assert_eq!(p.source().await, github_source("abc123"));
    p.reset("branch", json!(["teams", "auth"])).await;
    assert_eq!(p.stored("branch").await, json!({}));
    assert_eq!(p.source().await, github_source("abc123"));
}

#[tokio::test]
async fn the_branch_source_is_set_by_put_kept_by_patch_and_unlinked_by_delete() {
    let app = TestApp::spawn().await;
    let p = Project::create(&app).await;
    let other = Project::create(&app).await;

    for access in ["client", "server"] {
        for method in [Method::GET, Method::DELETE] {
            p.req(access, method, "/internal/config/source")
                .send()
                .await
                .assert_error(
                    401,
                    "INSUFFICIENT_ACCESS_TYPE",
                    &insufficient(access, &["admin"]),
                );
        }
    }
    assert_eq!(p.source().await, json!({ "type": "unlinked" }));

    // Each kind of source is stored as given, and replaced by the next push.
    let unusual = json!({
        "type": "pushed-from-github",
        "owner": "",
        "repo": "émoji-🚀-repo",
        "branch": "feature/a b\"c",
        "commit_hash": "f".repeat(100),
        "config_file_path": format!("apps/{}/stack.config.ts", "d".repeat(500)),
    });
    for source in [
        github_source("0123456789abcdef"),
        unusual,
        json!({ "type": "pushed-from-unknown" }),
        json!({ "type": "unlinked" }),
        github_source("fedcba9876543210"),
    ] {
        p.put(
            "branch",
            json!({ "teams.allowClientTeamCreation": true }),
            Some(source.clone()),
        )
        .await
        .assert_status(200);
        assert_eq!(p.source().await, source);
    }
    // Projects do not share sources.
    assert_eq!(other.source().await, json!({ "type": "unlinked" }));

    // PATCH, reset-keys and environment writes keep it; a source sent with an
    // environment PUT is checked but not stored.
    p.merge("branch", json!({ "auth.otp.allowSignIn": true }))
        .await;
    p.merge("branch", json!({ "users.allowClientUserDeletion": true }))
        .await;
    p.reset("branch", json!(["users"])).await;
    p.put(
        "environment",
        json!({ "users.allowClientUserDeletion": true }),
        Some(json!({ "type": "pushed-from-unknown" })),
    )
    .await
    .assert_status(200);
    assert_eq!(p.source().await, github_source("fedcba9876543210"));
    // Pushing the same source again is fine.
    p.put(
        "branch",
        json!({ "teams.allowClientTeamCreation": true, "auth.otp.allowSignIn": true }),
        Some(github_source("fedcba9876543210")),
    )
    .await
    .assert_status(200);
    assert_eq!(p.source().await, github_source("fedcba9876543210"));

    // Bad sources are refused at every level, and nothing changes.
    let mut extra_field = github_source("abc");
    extra_field["pull_request"] = json!(7);
    let mut missing_field = github_source("abc");
    missing_field.as_object_mut().unwrap().remove("commit_hash");
    let mut not_a_string = github_source("abc");
    not_a_string["branch"] = json!(null);
    for source in [
        json!({ "type": "invalid-type" }),
        json!({ "type": "pushed-from-github" }),
        missing_field,
        not_a_string,
        extra_field,
        json!({ "type": "unlinked", "owner": "acme" }),
        json!("pushed-from-unknown"),
    ] {
        for level in ["branch", "environment"] {
            p.put(level, json!({}), Some(source.clone()))
                .await
                .assert_schema_error(
                    "PUT",
                    &format!("/api/v1/internal/config/override/{level}"),
                    &[BAD_SOURCE],
                );
        }
    }
    assert_eq!(p.source().await, github_source("fedcba9876543210"));
    let branch = p.stored("branch").await;
    assert_eq!(
        branch,
        json!({ "teams.allowClientTeamCreation": true, "auth.otp.allowSignIn": true })
    );

    // DELETE unlinks, keeps the config, and may be repeated.
    for _ in 0..2 {
        let r = p
            .req("admin", Method::DELETE, "/internal/config/source")
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(r.text, SUCCESS);
        assert_eq!(p.source().await, json!({ "type": "unlinked" }));
    }
    assert_eq!(p.stored("branch").await, branch);
    assert_eq!(p.rendered().await["auth"]["otp"]["allowSignIn"], true);
    p.req("admin", Method::DELETE, "/internal/config/source")
        .json(json!({ "keep": true }))
        .send()
        .await
        .assert_schema_error(
            "DELETE",
            "/api/v1/internal/config/source",
            &["body contains unknown properties: keep"],
        );
    // An unknown push after an unlink links again.
    p.put(
        "branch",
        json!({}),
        Some(json!({ "type": "pushed-from-unknown" })),
    )
    .await
    .assert_status(200);
    assert_eq!(p.source().await, json!({ "type": "pushed-from-unknown" }));
    p.req("admin", Method::DELETE, "/internal/config/source")
        .send()
        .await
        .assert_status(200);
    assert_eq!(p.source().await, json!({ "type": "unlinked" }));
}

#[tokio::test]
async fn a_config_change_through_one_server_is_read_at_once_on_another() {
    let a = TestApp::spawn().await;
    let p = Project::create(&a).await;
    let b = second_server(&a).await;

    // Both servers have the project cached before the change.
    assert_eq!(p.rendered_by(&b).await["auth"]["allowSignUp"], true);
    let sign_up = |app: &TestApp| {
        app.post("/auth/password/sign-up")
            .access("client", &p.id)
            .json(json!({ "email": app.email(), "password": "password123" }))
            .send()
    };
    sign_up(&b).await.assert_status(200);

    p.merge(
        "environment",
        json!({ "auth.allowSignUp": false, "teams.allowClientTeamCreation": true }),
    )
    .await;
    // The config routes read the database, so the other server answers with
    // the change at once.
    let c = p.rendered_by(&b).await;
    assert_eq!(c["auth"]["allowSignUp"], false);
    assert_eq!(c["teams"]["allowClientTeamCreation"], true);
    let r = p
        .with("admin", b.get("/internal/config/override/environment"))
        .send()
        .await;
    r.assert_status(200);
    let stored: Value = serde_json::from_str(r.body["config_string"].as_str().unwrap()).unwrap();
    assert_eq!(stored["auth.allowSignUp"], false);
    // The auth flows read a cached project, which the change notification
    // clears.
    wait_until(
        "sign-up to be refused on the other server",
        PROPAGATION_LIMIT,
        || async { sign_up(&b).await.status == 400 },
    )
    .await
    .unwrap();
    sign_up(&b).await.assert_known(400, "SIGN_UP_NOT_ENABLED");
    sign_up(&a).await.assert_known(400, "SIGN_UP_NOT_ENABLED");

    // And the other way round, with a reset and a source change.
    p.with(
        "admin",
        b.req(
            Method::POST,
            "/internal/config/override/environment/reset-keys",
        ),
    )
    .json(json!({ "keys": ["auth.allowSignUp"] }))
    .send()
    .await
    .assert_status(200);
    assert_eq!(p.rendered().await["auth"]["allowSignUp"], true);
    p.with(
        "admin",
        b.req(Method::PUT, "/internal/config/override/branch"),
    )
    .json(json!({ "config_string": "{}", "source": github_source("abc") }))
    .send()
    .await
    .assert_status(200);
    assert_eq!(p.source().await, github_source("abc"));
    wait_until(
        "sign-up to be allowed again on the first server",
        PROPAGATION_LIMIT,
        || async { sign_up(&a).await.status == 200 },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_legacy_project_config_is_written_to_the_environment_override() {
    let app = TestApp::spawn().await;
    let p = Project::create(&app).await;

    // Overrides show in the legacy view.
    p.merge("environment", json!({ "auth.otp.allowSignIn": true }))
        .await;
    let legacy = p.legacy().await;
    assert_eq!(legacy["magic_link_enabled"], true);
    assert_eq!(legacy["allow_localhost"], true);
    assert_eq!(legacy["email_theme"], LIGHT_THEME);

    // Legacy fields become flat environment keys.
    let r = p
        .legacy_patch(json!({ "sign_up_enabled": false, "allow_localhost": false }))
        .await;
    r.assert_status(200);
    assert_eq!(r.body["config"]["sign_up_enabled"], false);
    let stored = p.stored("environment").await;
    assert_eq!(stored["auth.allowSignUp"], false);
    assert_eq!(stored["domains.allowLocalhost"], false);
    assert_eq!(stored["auth.otp.allowSignIn"], true);
    assert_eq!(p.rendered().await["auth"]["allowSignUp"], false);

    // Domains replace the whole record and leave allowLocalhost alone, true
    // or false.
    for allow_localhost in [false, true] {
        p.legacy_patch(json!({ "allow_localhost": allow_localhost }))
            .await
            .assert_status(200);
        let r = p
            .legacy_patch(json!({ "domains": [
                { "domain": "https://b.example.com", "handler_path": "/handler" },
                { "domain": "http://a.example.com", "handler_path": "/auth" },
            ] }))
            .await;
        r.assert_status(200);
        assert_eq!(r.body["config"]["allow_localhost"], allow_localhost);
        assert_eq!(
            r.body["config"]["domains"],
            json!([
                { "domain": "http://a.example.com", "handler_path": "/auth" },
                { "domain": "https://b.example.com", "handler_path": "/handler" },
            ])
        );
        let c = p.rendered().await;
        assert_eq!(c["domains"]["allowLocalhost"], allow_localhost);
        let domains = c["domains"]["trustedDomains"].as_object().unwrap();
        assert_eq!(domains.len(), 2, "{domains:?}");
        for entry_id in domains.keys() {
            uuid::Uuid::parse_str(entry_id).unwrap();
        }
        let mut urls: Vec<&str> = domains
            .values()
            .map(|d| d["baseUrl"].as_str().unwrap())
            .collect();
        urls.sort_unstable();
        assert_eq!(urls, ["http://a.example.com", "https://b.example.com"]);
    }
    let r = p.legacy_patch(json!({ "domains": [] })).await;
    r.assert_status(200);
    assert_eq!(r.body["config"]["domains"], json!([]));
    assert_eq!(r.body["config"]["allow_localhost"], true);

    // Email themes: a built-in one is taken, an unknown one refused.
    let r = p.legacy_patch(json!({ "email_theme": DARK_THEME })).await;
    r.assert_status(200);
    assert_eq!(r.body["config"]["email_theme"], DARK_THEME);
    assert_eq!(p.rendered().await["emails"]["selectedThemeId"], DARK_THEME);
    for theme in ["not-a-theme", "00000000-0000-0000-0000-000000000000"] {
        p.legacy_patch(json!({ "email_theme": theme }))
            .await
            .assert_plain(400, "Invalid email theme");
    }
    assert_eq!(p.legacy().await["email_theme"], DARK_THEME);

    // Legacy API key flags leave the branch's installed apps alone.
    p.merge(
        "branch",
        json!({ "apps.installed.api-keys": { "enabled": true } }),
    )
    .await;
    assert_eq!(
        p.rendered().await["apps"]["installed"]["api-keys"],
        json!({ "enabled": true })
    );
    let r = p.legacy_patch(json!({ "allow_user_api_keys": true })).await;
    r.assert_status(200);
    assert_eq!(r.body["config"]["allow_user_api_keys"], true);
    assert_eq!(r.body["config"]["allow_team_api_keys"], false);
    let c = p.rendered().await;
    assert_eq!(
        c["apps"]["installed"]["api-keys"],
        json!({ "enabled": true })
    );
    assert_eq!(
        c["apiKeys"]["enabled"],
        json!({ "user": true, "team": false })
    );
    assert_eq!(
        p.stored("branch").await,
        json!({ "apps.installed.api-keys": { "enabled": true } })
    );

    // Legacy OAuth providers replace the whole provider record.
    p.merge(
        "environment",
        json!({ "auth.oauth.providers.gitlab": { "type": "gitlab", "allowSignIn": true } }),
    )
    .await;
    let r = p
        .legacy_patch(json!({ "oauth_providers": [{ "id": "github", "type": "shared" }] }))
        .await;
    r.assert_status(200);
    assert_eq!(
        keys(&p.rendered().await["auth"]["oauth"]["providers"]),
        sorted(&["github"])
    );
    assert_eq!(
        r.body["config"]["oauth_providers"],
        json!([{ "provider_config_id": "github", "id": "github", "type": "shared" }])
    );
}

#[tokio::test]
async fn an_emulator_project_refuses_environment_writes_but_takes_branch_ones() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/internal/local-emulator/project")
        .server()
        .json(json!({ "absolute_file_path": format!("/home/dev/app-{}/stack.config.ts", uuid::Uuid::new_v4().simple()) }))
        .send()
        .await;
    r.assert_status(200);
    let id = r.body["project_id"].as_str().unwrap().to_owned();
    let sak = r.body["super_secret_admin_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = |method: Method, path: &str| app.req(method, path).with_key("admin", &id, &sak);
    let blocked = stack_server::project_config::EMULATOR_ENVIRONMENT_BLOCKED;

    admin(Method::PUT, "/internal/config/override/environment")
        .json(json!({ "config_string": "{}" }))
        .send()
        .await
        .assert_plain(400, blocked);
    admin(
        Method::POST,
        "/internal/config/override/environment/reset-keys",
    )
    .json(json!({ "keys": ["teams"] }))
    .send()
    .await
    .assert_plain(400, blocked);
    // The block comes before the JSON is read.
    admin(Method::PATCH, "/internal/config/override/environment")
        .json(json!({ "config_override_string": "{not json" }))
        .send()
        .await
        .assert_plain(400, blocked);
    admin(Method::PATCH, "/internal/projects/current")
        .json(json!({ "config": { "sign_up_enabled": false } }))
        .send()
        .await
        .assert_plain(400, blocked);
    admin(Method::PATCH, "/internal/projects/current")
        .json(json!({ "display_name": "Renamed" }))
        .send()
        .await
        .assert_status(200);
    admin(Method::PATCH, "/internal/config/override/branch")
        .json(json!({ "config_override_string": r#"{"teams.allowClientTeamCreation": true}"# }))
        .send()
        .await
        .assert_status(200);
    let r = admin(Method::GET, "/internal/config").send().await;
    r.assert_status(200);
    let c: Value = serde_json::from_str(r.body["config_string"].as_str().unwrap()).unwrap();
    assert_eq!(c["teams"]["allowClientTeamCreation"], true);
    // Projects without a config file are not blocked, the internal one included.
    app.patch("/internal/config/override/environment")
        .admin()
        .json(json!({ "config_override_string": "{}" }))
        .send()
        .await
        .assert_status(200);
}

/// Only a key that is exactly `sourceOfTruth` is an old spelling the branch
/// and environment levels drop; a dotted key below it names a project-level
/// place and is refused like any other.
#[tokio::test]
async fn a_dotted_source_of_truth_key_is_refused_below_the_project_level() {
    let app = TestApp::spawn().await;
    let p = Project::create(&app).await;
    for level in ["branch", "environment"] {
        p.patch(level, json!({ "sourceOfTruth.type": "hosted" }))
            .await
            .assert_plain(400, &not_in_schema("sourceOfTruth.type", "sourceOfTruth"));
    }
}
