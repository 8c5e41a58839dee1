//! The overview, auth methods and API keys pages: each shows the project's
//! real data, and its forms change what the API then does (through the same
//! config overrides and key sets), refusing posts without the CSRF token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::{Value, json};

use super::{Dashboard, config_file_project};
use crate::helpers::TestApp;

/// The internal project's rendered config, as the config API shows it.
async fn config(app: &TestApp) -> Value {
    let r = app.get("/internal/config").admin().send().await;
    r.assert_status(200);
    serde_json::from_str(r.body["config_string"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn the_overview_shows_users_sign_ups_and_sessions() {
    let app = TestApp::spawn().await;
    let ada = app.email();
    app.sign_up(&ada, "correct horse battery").await;
    let grace = app.email();
    app.sign_up(&grace, "correct horse battery").await;
    let d = Dashboard::open(&app).await;
    let page = d.get("/projects/internal").await;
    page.assert_status(200);
    let body = &page.body;
    assert!(body.contains("<h1>Overview</h1>"));
    assert!(
        body.contains(">Total users<") && body.contains(">3</a>"),
        "two and the admin: {body}"
    );
    assert!(body.contains("<svg") && body.contains("class=\"bar\""));
    assert!(body.contains(": 3 sign-ups</title>"), "today's bar: {body}");
    assert!(
        body.contains(&ada) && body.contains(&grace),
        "recently active"
    );
    assert!(
        body.find(&grace).unwrap() < body.find(&ada).unwrap(),
        "latest first"
    );
    assert!(body.contains("Active sessions"));
    // The switcher and the side navigation lead here first.
    let switched = d.get("/switch?project=internal").await;
    assert_eq!(switched.location(), "/projects/internal");
    let nav = body.split("<nav").nth(1).unwrap();
    let order: Vec<usize> = ["Overview", "Users", "Auth methods", "Emails", "API keys"]
        .iter()
        .map(|l| {
            nav.find(&format!(">{l}</a>"))
                .unwrap_or_else(|| panic!("{l} in the nav"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}

#[tokio::test]
async fn turning_password_sign_in_off_reaches_the_api() {
    let app = TestApp::spawn().await;
    let email = app.email();
    app.sign_up(&email, "correct horse battery").await;
    let d = Dashboard::open(&app).await;
    let page = d.get("/projects/internal/auth").await;
    page.assert_status(200);
    assert!(page.body.contains("name=\"password\" value=\"1\" checked"));
    assert!(page.body.contains("mock OAuth provider"));

    let saved = d
        .post(
            "/projects/internal/auth/methods",
            &[("otp", "1"), ("sign_up", "1")],
        )
        .await;
    saved.assert_status(303);
    assert_eq!(saved.location(), "/projects/internal/auth?done=auth-saved");
    app.post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": email, "password": "correct horse battery" }))
        .send()
        .await
        .assert_known(400, "PASSWORD_AUTHENTICATION_NOT_ENABLED");
    let c = config(&app).await;
    assert_eq!(c["auth"]["password"]["allowSignIn"], false);
    assert_eq!(c["auth"]["otp"]["allowSignIn"], true);
    assert_eq!(c["auth"]["passkey"]["allowSignIn"], false);
    let shown = d.get(saved.location()).await;
    assert!(shown.body.contains("Auth settings saved."));
    assert!(!shown.body.contains("name=\"password\" value=\"1\" checked"));

    d.post(
        "/projects/internal/auth/methods",
        &[("password", "1"), ("sign_up", "1")],
    )
    .await
    .assert_status(303);
    app.post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": email, "password": "correct horse battery" }))
        .send()
        .await
        .assert_status(200);
}

#[tokio::test]
async fn providers_and_domains_change_through_the_forms() {
    let app = TestApp::spawn().await;
    let d = Dashboard::open(&app).await;
    d.post(
        "/projects/internal/auth/providers",
        &[("provider_github", "1"), ("provider_google", "1")],
    )
    .await
    .assert_status(303);
    let c = config(&app).await;
    let providers = &c["auth"]["oauth"]["providers"];
    assert_eq!(providers["github"]["allowSignIn"], true);
    assert_eq!(providers["github"]["isShared"], true);
    assert_eq!(providers["google"]["allowSignIn"], true);
    d.post(
        "/projects/internal/auth/providers",
        &[("provider_google", "1")],
    )
    .await
    .assert_status(303);
    let c = config(&app).await;
    assert_eq!(
        c["auth"]["oauth"]["providers"]["github"]["allowSignIn"],
        false
    );
    let page = d.get("/projects/internal/auth").await;
    assert!(
        page.body
            .contains("name=\"provider_google\" value=\"1\" checked")
    );
    assert!(page.body.contains("shared keys"));

    d.post(
        "/projects/internal/auth/domains",
        &[
            ("base_url", "https://shop.example.com/"),
            ("handler_path", "/handler"),
        ],
    )
    .await
    .assert_status(303);
    let c = config(&app).await;
    let domains = c["domains"]["trustedDomains"].as_object().unwrap().clone();
    let (id, domain) = domains.iter().next().expect("the domain was added");
    assert_eq!(domain["baseUrl"], "https://shop.example.com");
    let page = d.get("/projects/internal/auth").await;
    assert!(page.body.contains("https://shop.example.com"));
    d.post(
        "/projects/internal/auth/domains",
        &[("base_url", "not a url")],
    )
    .await
    .assert_status(400);
    d.post(&format!("/projects/internal/auth/domains/{id}/remove"), &[])
        .await
        .assert_status(303);
    let c = config(&app).await;
    assert!(
        c["domains"]["trustedDomains"]
            .as_object()
            .is_none_or(|m| m.is_empty()),
        "{c}"
    );
    d.post("/projects/internal/auth/localhost", &[])
        .await
        .assert_status(303);
    assert_eq!(config(&app).await["domains"]["allowLocalhost"], false);
}

#[tokio::test]
async fn a_config_file_project_takes_branch_keys_and_refuses_environment_ones() {
    let app = TestApp::spawn().await;
    let (id, sak) = config_file_project(&app, "/home/dev/shop/stack.config.ts").await;
    let d = Dashboard::open(&app).await;
    let page = d.get(&format!("/projects/{id}/auth")).await;
    assert!(page.body.contains("/home/dev/shop/stack.config.ts"));
    assert!(page.body.contains("config file sync writes them"));

    d.post(
        &format!("/projects/{id}/auth/methods"),
        &[("password", "1"), ("otp", "1")],
    )
    .await
    .assert_status(303);
    let branch = app
        .get("/internal/config/override/branch")
        .with_key("admin", &id, &sak)
        .send()
        .await;
    let branch: Value =
        serde_json::from_str(branch.body["config_string"].as_str().unwrap()).unwrap();
    assert_eq!(branch["auth.otp.allowSignIn"], true, "{branch}");
    assert_eq!(branch["auth.allowSignUp"], false, "{branch}");

    let refused = d.post(&format!("/projects/{id}/auth/localhost"), &[]).await;
    refused.assert_status(400);
    assert!(
        refused
            .body
            .contains(stack_server::project_config::EMULATOR_ENVIRONMENT_BLOCKED)
    );
    assert!(
        refused.body.contains("<h1>Auth methods</h1>"),
        "a notice on the page"
    );
    let env = app
        .get("/internal/config/override/environment")
        .with_key("admin", &id, &sak)
        .send()
        .await;
    let env: Value = serde_json::from_str(env.body["config_string"].as_str().unwrap()).unwrap();
    assert_eq!(env["domains.allowLocalhost"], true, "unchanged: {env}");
}

/// The value of the new key named `field` on the creation page.
fn shown_key(body: &str, field: &str) -> String {
    body.split(&format!("data-key=\"{field}\">"))
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("{field} on the page: {body}"))
        .to_owned()
}

#[tokio::test]
async fn a_created_key_set_works_until_it_is_revoked() {
    let app = TestApp::spawn().await;
    let d = Dashboard::open(&app).await;
    let created = d
        .post(
            "/projects/internal/keys",
            &[
                ("description", "Backend"),
                ("expires_in", "30d"),
                ("publishable_client_key", "1"),
                ("secret_server_key", "1"),
            ],
        )
        .await;
    // Post, redirect, get: the keys are on a page that shows them once.
    created.assert_status(303);
    let reveal = created.location().to_owned();
    assert!(
        reveal.starts_with("/projects/internal/keys/created/"),
        "{reveal}"
    );
    let created = d.get(&reveal).await;
    created.assert_status(200);
    assert!(created.body.contains("API key created") && created.body.contains("data-copy=\"ssk_"));
    let again = d.get(&reveal).await;
    again.assert_status(410);
    assert!(
        !again.body.contains("ssk_"),
        "a refresh shows the keys again"
    );
    let ssk = shown_key(&created.body, "secret_server_key");
    assert!(ssk.starts_with("ssk_"));
    assert!(!created.body.contains("data-key=\"super_secret_admin_key\""));
    app.get("/users")
        .with_key("server", "internal", &ssk)
        .send()
        .await
        .assert_status(200);

    let list = d.get("/projects/internal/keys").await;
    list.assert_status(200);
    assert!(list.body.contains("Backend") && list.body.contains(&ssk[ssk.len() - 4..]));
    assert!(!list.body.contains(&ssk), "a key is shown only once");
    let set: String = sqlx::query_scalar(
        "SELECT id::text FROM api_key_sets WHERE project_id = 'internal' AND description = 'Backend'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let revoked = d
        .post(&format!("/projects/internal/keys/{set}/revoke"), &[])
        .await;
    revoked.assert_status(303);
    assert_eq!(
        revoked.location(),
        "/projects/internal/keys?done=keys-revoked"
    );
    app.get("/users")
        .with_key("server", "internal", &ssk)
        .send()
        .await
        .assert_known(401, "INVALID_SECRET_SERVER_KEY");
    assert!(d.get(revoked.location()).await.body.contains("revoked"));
    d.post(
        "/projects/internal/keys",
        &[("description", "None"), ("expires_in", "1d")],
    )
    .await
    .assert_status(400);
}

#[tokio::test]
async fn the_new_forms_refuse_posts_without_the_token() {
    let app = TestApp::spawn().await;
    let d = Dashboard::open(&app).await;
    let set: String = sqlx::query_scalar(
        "SELECT id::text FROM api_key_sets WHERE project_id = 'internal' LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let before = config(&app).await;
    let origin = [("origin", d.base.as_str())];
    for (path, fields) in [
        (
            "/projects/internal/auth/methods".to_owned(),
            vec![("otp", "1")],
        ),
        (
            "/projects/internal/auth/providers".to_owned(),
            vec![("provider_github", "1")],
        ),
        ("/projects/internal/auth/localhost".to_owned(), vec![]),
        (
            "/projects/internal/auth/domains".to_owned(),
            vec![("base_url", "https://evil.example")],
        ),
        (
            "/projects/internal/keys".to_owned(),
            vec![
                ("description", "Evil"),
                ("expires_in", "1d"),
                ("secret_server_key", "1"),
            ],
        ),
        (format!("/projects/internal/keys/{set}/revoke"), vec![]),
    ] {
        d.post_with(&path, &fields, Some(&d.token), &origin)
            .await
            .assert_status(403);
        let mut wrong = fields.clone();
        wrong.push(("csrf", "forged.token"));
        d.post_with(&path, &wrong, Some(&d.token), &origin)
            .await
            .assert_status(403);
    }
    assert_eq!(config(&app).await, before, "no config change");
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_key_sets WHERE project_id = 'internal' AND manually_revoked_at IS NULL",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(live, 1, "no key set made or revoked");
}

#[tokio::test]
async fn a_providers_own_keys_are_saved_and_its_secret_is_never_shown() {
    let app = TestApp::spawn().await;
    let d = Dashboard::open(&app).await;
    d.post(
        "/projects/internal/auth/providers",
        &[("provider_github", "1")],
    )
    .await
    .assert_status(303);
    let path = "/projects/internal/auth/providers/github/keys";
    let before = config(&app).await;
    for (fields, says) in [
        (vec![("keys", "own")], "client ID"),
        (
            vec![("keys", "own"), ("client_id", "my-client")],
            "client secret",
        ),
        (vec![("keys", "maybe")], "shared keys or own keys"),
    ] {
        let page = d.post(path, &fields).await;
        page.assert_status(400);
        assert!(page.body.contains(says), "{says}: {}", page.body);
    }
    assert_eq!(config(&app).await, before);
    d.post(
        "/projects/internal/auth/providers/nope/keys",
        &[("keys", "shared")],
    )
    .await
    .assert_status(404);

    d.post(
        path,
        &[
            ("keys", "own"),
            ("client_id", "my-client"),
            ("client_secret", "my-secret-123"),
        ],
    )
    .await
    .assert_status(303);
    let github = config(&app).await["auth"]["oauth"]["providers"]["github"].clone();
    assert_eq!(github["isShared"], false, "{github}");
    assert_eq!(github["clientId"], "my-client");
    assert_eq!(github["clientSecret"], "my-secret-123");
    let page = d.get("/projects/internal/auth").await;
    assert!(page.body.contains("value=\"my-client\""));
    assert!(
        !page.body.contains("my-secret-123"),
        "the secret is never shown"
    );

    // A blank secret keeps the stored one.
    d.post(path, &[("keys", "own"), ("client_id", "my-client-2")])
        .await
        .assert_status(303);
    let github = config(&app).await["auth"]["oauth"]["providers"]["github"].clone();
    assert_eq!(github["clientId"], "my-client-2");
    assert_eq!(github["clientSecret"], "my-secret-123");
    d.post(path, &[("keys", "shared")]).await.assert_status(303);
    let github = config(&app).await["auth"]["oauth"]["providers"]["github"].clone();
    assert_eq!(github["isShared"], true, "{github}");
}

#[tokio::test]
async fn the_auth_page_shows_who_is_signed_in_at_the_mock_provider() {
    let app = crate::oauth::spawn().await;
    let d = Dashboard::open(&app).await;
    let page = d.get("/projects/internal/auth").await;
    assert!(
        page.body
            .contains("0 signed-in accounts, 0 sign-ins in progress"),
        "{}",
        page.body
    );
    let email = app.email();
    crate::oauth::Flow::new(&app)
        .sign_in(&email)
        .await
        .assert_status(200);
    let page = d.get("/projects/internal/auth").await;
    assert!(
        page.body
            .contains("1 signed-in account, 0 sign-ins in progress"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!("</span> {email}</li>")),
        "{}",
        page.body
    );
}
