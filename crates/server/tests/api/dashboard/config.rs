//! The config page: each value of the effective config with the level it
//! comes from, a form that sets or resets one key as the config API does
//! (what the API then reports follows), and a config-file project whose
//! branch level is the file and whose environment level is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::{Value, json};

use super::{Dashboard, config_file_project};
use crate::helpers::TestApp;

/// The internal project's rendered config, as the config API shows it.
async fn rendered(app: &TestApp) -> Value {
    let r = app.get("/internal/config").admin().send().await;
    r.assert_status(200);
    serde_json::from_str(r.body["config_string"].as_str().unwrap()).unwrap()
}

/// The table row of `key` on the config page.
fn row<'a>(body: &'a str, key: &str) -> &'a str {
    let start = body
        .find(&format!("<tr><td><code>{key}</code></td>"))
        .unwrap_or_else(|| panic!("no row for {key}"));
    let rest = &body[start..];
    &rest[..rest.find("</tr>").unwrap()]
}

async fn patch_environment(app: &TestApp, patch: Value) {
    app.patch("/internal/config/override/environment")
        .admin()
        .json(json!({ "config_override_string": patch.to_string() }))
        .send()
        .await
        .assert_status(200);
}

#[tokio::test]
async fn each_value_shows_where_it_comes_from_and_the_form_sets_and_resets_it() {
    let app = TestApp::spawn().await;
    patch_environment(&app, json!({ "users.allowClientUserDeletion": true })).await;
    let d = Dashboard::open(&app).await;
    let page = d.get("/projects/internal/config").await;
    page.assert_status(200);
    assert!(row(&page.body, "users.allowClientUserDeletion").contains(">environment<"));
    assert!(row(&page.body, "auth.passkey.allowSignIn").contains(">default<"));

    let saved = d
        .post(
            "/projects/internal/config",
            &[
                ("key", "auth.passkey.allowSignIn"),
                ("value", "true"),
                ("level", "environment"),
            ],
        )
        .await;
    saved.assert_status(303);
    assert_eq!(
        saved.location(),
        "/projects/internal/config?done=config-saved"
    );
    assert_eq!(rendered(&app).await["auth"]["passkey"]["allowSignIn"], true);
    let page = d.get("/projects/internal/config?q=passkey").await;
    assert!(row(&page.body, "auth.passkey.allowSignIn").contains(">environment<"));
    assert!(
        !page
            .body
            .contains("<code>users.allowClientUserDeletion</code>"),
        "the filter leaves other keys out"
    );

    d.post(
        "/projects/internal/config/reset",
        &[
            ("key", "auth.passkey.allowSignIn"),
            ("level", "environment"),
        ],
    )
    .await
    .assert_status(303);
    assert_eq!(
        rendered(&app).await["auth"]["passkey"]["allowSignIn"],
        false
    );
    let page = d.get("/projects/internal/config").await;
    assert!(row(&page.body, "auth.passkey.allowSignIn").contains(">default<"));
}

#[tokio::test]
async fn bad_input_is_named_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let before = rendered(&app).await;
    let d = Dashboard::open(&app).await;
    for (fields, says) in [
        (
            [
                ("key", "auth.allowSignUp"),
                ("value", "yes please"),
                ("level", "environment"),
            ],
            "The value is not JSON",
        ),
        (
            [
                ("key", "auth.noSuchSetting"),
                ("value", "true"),
                ("level", "environment"),
            ],
            "noSuchSetting",
        ),
        (
            [
                ("key", "auth..allowSignUp"),
                ("value", "true"),
                ("level", "environment"),
            ],
            "names joined by dots",
        ),
        (
            [
                ("key", "auth.allowSignUp"),
                ("value", "true"),
                ("level", "project"),
            ],
            "branch or the environment",
        ),
    ] {
        let page = d.post("/projects/internal/config", &fields).await;
        page.assert_status(400);
        assert!(page.body.contains(says), "{says}: {}", page.body);
    }
    assert_eq!(rendered(&app).await, before);
    // Without the page's token, nothing is taken.
    let refused = d
        .post_with(
            "/projects/internal/config",
            &[
                ("key", "auth.allowSignUp"),
                ("value", "false"),
                ("level", "environment"),
            ],
            None,
            &[("origin", &d.base)],
        )
        .await;
    refused.assert_status(403);
    assert_eq!(rendered(&app).await, before);
}

#[tokio::test]
async fn secrets_and_markup_in_the_config_are_not_printed_as_they_are() {
    let app = TestApp::spawn().await;
    patch_environment(
        &app,
        json!({
            "auth.oauth.providers.google": {
                "type": "google", "isShared": false, "allowSignIn": true,
                "clientId": "<b>id</b>", "clientSecret": "very-secret-value"
            }
        }),
    )
    .await;
    let d = Dashboard::open(&app).await;
    let page = d.get("/projects/internal/config").await;
    page.assert_status(200);
    assert!(!page.body.contains("very-secret-value"), "{}", page.body);
    assert!(row(&page.body, "auth.oauth.providers.google.clientSecret").contains("17 characters"));
    assert!(page.body.contains("&lt;b&gt;id&lt;/b&gt;") && !page.body.contains("<b>id</b>"));
}

#[tokio::test]
async fn a_config_file_projects_branch_is_the_file_and_its_environment_is_refused() {
    let app = TestApp::spawn().await;
    let (id, sak) = config_file_project(&app, "/home/dev/shop/stack.config.ts").await;
    let override_of = |level: &'static str| {
        let (app, id, sak) = (&app, id.clone(), sak.clone());
        async move {
            let r = app
                .get(&format!("/internal/config/override/{level}"))
                .with_key("admin", &id, &sak)
                .send()
                .await;
            serde_json::from_str::<Value>(r.body["config_string"].as_str().unwrap()).unwrap()
        }
    };
    let d = Dashboard::open(&app).await;
    let page = d.get(&format!("/projects/{id}/config")).await;
    assert!(page.body.contains("/home/dev/shop/stack.config.ts"));
    assert!(page.body.contains("written back to the file"));

    let saved = d
        .post(
            &format!("/projects/{id}/config"),
            &[
                ("key", "auth.allowSignUp"),
                ("value", "false"),
                ("level", "branch"),
            ],
        )
        .await;
    saved.assert_status(303);
    assert!(saved.location().ends_with("done=config-saved-file"));
    assert_eq!(override_of("branch").await["auth.allowSignUp"], false);
    let page = d.get(&format!("/projects/{id}/config")).await;
    assert!(row(&page.body, "auth.allowSignUp").contains("branch (config file)"));

    let env_before = override_of("environment").await;
    let refused = d
        .post(
            &format!("/projects/{id}/config"),
            &[
                ("key", "domains.allowLocalhost"),
                ("value", "false"),
                ("level", "environment"),
            ],
        )
        .await;
    refused.assert_status(400);
    assert!(
        refused
            .body
            .contains(stack_server::project_config::EMULATOR_ENVIRONMENT_BLOCKED)
    );
    assert_eq!(override_of("environment").await, env_before);
}
