//! The user page's profile and metadata forms: each changes what
//! `GET /users/{id}` then reports and refuses what `PATCH /users/{id}`
//! refuses, with its message and nothing changed; values in the forms are
//! escaped, and none of the user page's new forms takes a post without the
//! CSRF token. Impersonation and permissions are in [`super::user_access`],
//! the users table's orders in [`super::users_sort`].

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::{Value, json};

use super::Dashboard;
use crate::helpers::TestApp;

/// A user made through the server API, with their id.
pub async fn new_user(app: &TestApp, body: Value) -> String {
    app.create_user(body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The user as `GET /users/{id}` with server keys reports them.
pub async fn api_user(app: &TestApp, id: &str) -> Value {
    let r = app.get(&format!("/users/{id}")).server().send().await;
    r.assert_status(200);
    r.body
}

/// Text of a page with the HTML escapes undone (for values the page shows).
pub fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The text between `start` and the next `end` after it.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} in {text}"))
        + start.len();
    let len = text[from..].find(end).unwrap();
    &text[from..from + len]
}

const PROFILE: [(&str, &str); 8] = [
    ("primary_email", "New.Address@Example.com"),
    ("primary_email_verified", "1"),
    ("primary_email_auth_enabled", "1"),
    ("profile_image_url", "https://images.example.com/a.png"),
    ("country_code", "de"),
    ("restricted_by_admin", "1"),
    ("restricted_by_admin_reason", "Spam"),
    ("restricted_by_admin_private_details", "Sent 500 invites"),
];

#[tokio::test]
async fn the_profile_form_saves_through_the_apis_update() {
    let app = TestApp::spawn().await;
    let id = new_user(&app, json!({ "primary_email": app.email() })).await;
    let d = Dashboard::open(&app).await;
    let path = format!("/projects/internal/users/{id}/profile");
    let saved = d.post(&path, &PROFILE).await;
    saved.assert_status(303);
    assert_eq!(
        saved.location(),
        format!("/projects/internal/users/{id}?done=user-saved")
    );
    let user = api_user(&app, &id).await;
    assert_eq!(user["primary_email"], "new.address@example.com");
    assert_eq!(user["primary_email_verified"], true);
    assert_eq!(user["primary_email_auth_enabled"], true);
    assert_eq!(
        user["profile_image_url"],
        "https://images.example.com/a.png"
    );
    assert_eq!(user["country_code"], "DE");
    assert_eq!(user["restricted_by_admin"], true);
    assert_eq!(user["restricted_by_admin_reason"], "Spam");
    assert_eq!(
        user["restricted_by_admin_private_details"],
        "Sent 500 invites"
    );
    let page = d
        .get(&format!("/projects/internal/users/{id}?done=user-saved"))
        .await;
    assert!(page.body.contains("Profile saved."));
    assert!(
        page.body.contains("name=\"country_code\" value=\"DE\""),
        "the form shows the saved values"
    );

    // Refused as the API refuses it, with its message; nothing changes.
    let mut bad = PROFILE;
    bad[0].1 = "not an email";
    bad[4].1 = "Germany";
    let refused = d.post(&path, &bad).await;
    refused.assert_status(400);
    let message = unescape(&refused.body);
    assert!(
        message.contains(&format!(
            "Request validation failed on PATCH /api/v1/users/{id}:"
        )) && message.contains("body.primary_email must be a valid email")
            && message
                .contains("body.country_code must be a valid ISO 3166-1 alpha-2 country code"),
        "{message}"
    );
    let mut unrestricted: Vec<(&str, &str)> = PROFILE.to_vec();
    unrestricted.retain(|(k, _)| *k != "restricted_by_admin");
    let refused = d.post(&path, &unrestricted).await;
    refused.assert_status(400);
    assert!(
        unescape(&refused.body).contains(
            "restricted_by_admin_reason and restricted_by_admin_private_details can only be set when restricted_by_admin is true."
        ),
        "{}",
        refused.body
    );
    assert_eq!(api_user(&app, &id).await, user, "nothing changed");

    // Empty fields clear, unticked boxes turn off.
    d.post(&path, &[("primary_email", ""), ("profile_image_url", "")])
        .await
        .assert_status(303);
    let cleared = api_user(&app, &id).await;
    assert_eq!(cleared["primary_email"], Value::Null);
    assert_eq!(cleared["profile_image_url"], Value::Null);
    assert_eq!(cleared["restricted_by_admin"], false);
    assert_eq!(cleared["restricted_by_admin_reason"], Value::Null);
}

#[tokio::test]
async fn metadata_is_saved_as_json_and_bad_json_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = new_user(
        &app,
        json!({ "primary_email": app.email(), "server_metadata": { "plan": "free" } }),
    )
    .await;
    let d = Dashboard::open(&app).await;
    let page = d.get(&format!("/projects/internal/users/{id}")).await;
    assert!(
        page.body.contains(
            "name=\"server_metadata\" rows=\"8\" spellcheck=\"false\" data-json>{\n  &quot;plan&quot;: &quot;free&quot;\n}</textarea>"
        ),
        "the current value, pretty: {}",
        page.body
    );
    let path = format!("/projects/internal/users/{id}/metadata");
    d.post(
        &path,
        &[
            ("client_metadata", r#"{"theme": "dark", "n": [1, 2]}"#),
            ("client_read_only_metadata", "  42 "),
            ("server_metadata", r#"{"plan": "pro"}"#),
        ],
    )
    .await
    .assert_status(303);
    let user = api_user(&app, &id).await;
    assert_eq!(
        user["client_metadata"],
        json!({ "theme": "dark", "n": [1, 2] })
    );
    assert_eq!(user["client_read_only_metadata"], json!(42));
    assert_eq!(user["server_metadata"], json!({ "plan": "pro" }));

    let refused = d
        .post(
            &path,
            &[
                ("client_metadata", r#"{"theme": "light"}"#),
                ("client_read_only_metadata", "42"),
                ("server_metadata", "{\"plan\": \"pro\",\n \"x\": }"),
            ],
        )
        .await;
    refused.assert_status(400);
    assert!(
        refused.body.contains(
            "Server metadata is not valid JSON: expected value at line 2 column 7. Nothing was saved"
        ),
        "{}",
        refused.body
    );
    // NUL is refused by the API's own rule for these fields.
    let refused = d
        .post(&path, &[("client_metadata", r#"{"a": "\u0000"}"#)])
        .await;
    refused.assert_status(400);
    assert!(
        refused
            .body
            .contains("body.client_metadata must not contain NUL characters"),
        "{}",
        refused.body
    );
    assert_eq!(api_user(&app, &id).await, user, "nothing changed");

    // An empty box clears its document.
    d.post(
        &path,
        &[
            ("client_metadata", ""),
            ("server_metadata", r#"{"plan": "pro"}"#),
        ],
    )
    .await
    .assert_status(303);
    let user = api_user(&app, &id).await;
    assert_eq!(user["client_metadata"], Value::Null);
    assert_eq!(user["client_read_only_metadata"], Value::Null);
    assert_eq!(user["server_metadata"], json!({ "plan": "pro" }));
}

#[tokio::test]
async fn hostile_values_are_escaped_in_the_forms() {
    let app = TestApp::spawn().await;
    let hostile = "</textarea><script>alert(1)</script>\"'&";
    let id = new_user(
        &app,
        json!({
            "primary_email": app.email(),
            "client_metadata": { "x": hostile },
            "restricted_by_admin": true,
            "restricted_by_admin_reason": hostile,
            "profile_image_url": "https://example.com/\"><script>alert(2)</script>",
        }),
    )
    .await;
    let d = Dashboard::open(&app).await;
    let page = d.get(&format!("/projects/internal/users/{id}")).await;
    page.assert_status(200);
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(!page.body.contains("</textarea><script>"));
    assert!(page.body.contains(
        "value=\"&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;\""
    ));
    assert!(page.body.contains("&quot;x&quot;: &quot;&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;\\&quot;&#39;&amp;&quot;"));
    // A hostile value sent through a form is escaped on the error page too.
    let refused = d
        .post(
            &format!("/projects/internal/users/{id}/metadata"),
            &[("server_metadata", "<script>alert(3)</script>")],
        )
        .await;
    refused.assert_status(400);
    assert!(!refused.body.contains("<script>alert(3)"));
}

#[tokio::test]
async fn the_new_forms_refuse_posts_without_the_csrf_token() {
    let app = TestApp::spawn().await;
    app.post("/project-permission-definitions")
        .admin()
        .json(json!({ "id": "billing" }))
        .send()
        .await
        .assert_status(201);
    let id = new_user(
        &app,
        json!({ "primary_email": app.email(), "server_metadata": { "plan": "free" } }),
    )
    .await;
    app.post(&format!("/project-permissions/{id}/billing"))
        .server()
        .json(json!({}))
        .send()
        .await
        .assert_status(201);
    let before = api_user(&app, &id).await;
    let d = Dashboard::open(&app).await;
    let here = format!("/projects/internal/users/{id}");
    let origin = [("origin", d.base.as_str())];
    for (path, fields) in [
        (
            format!("{here}/profile"),
            vec![("primary_email", "x@example.com")],
        ),
        (format!("{here}/metadata"), vec![("server_metadata", "{}")]),
        (format!("{here}/impersonate"), vec![]),
        (
            format!("{here}/permissions"),
            vec![("permission_id", "billing")],
        ),
        (format!("{here}/permissions/billing/revoke"), vec![]),
    ] {
        // No token at all, and a token that is not the cookie's.
        d.post_with(&path, &fields, Some(&d.token), &origin)
            .await
            .assert_status(403);
        let mut forged = vec![("csrf", "forged")];
        forged.extend(fields.iter().copied());
        d.post_with(&path, &forged, Some(&d.token), &origin)
            .await
            .assert_status(403);
    }
    assert_eq!(api_user(&app, &id).await, before);
    let sessions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens WHERE project_id = 'internal' AND user_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(sessions, 0, "no impersonation session");
    let r = app
        .get(&format!("/project-permissions?user_id={id}"))
        .server()
        .send()
        .await;
    assert_eq!(
        r.body["items"].as_array().unwrap().len(),
        1,
        "still granted"
    );
}
