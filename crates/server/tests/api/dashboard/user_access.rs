//! Impersonating a user from their page (tokens shown once that work on
//! `/users/me`, the session listed as an impersonation) and granting and
//! revoking their project permissions as the API sees it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::{Value, json};

use super::users_edit::{between, new_user, unescape};
use super::{Dashboard, Page};
use crate::helpers::{Spawn, TestApp};

/// The `curl` command of an impersonation page as (URL, headers).
fn curl_parts(page: &Page) -> (String, Vec<(String, String)>) {
    let command = unescape(between(
        &page.body,
        "<pre id=\"impersonate-curl\">",
        "</pre>",
    ));
    let mut url = String::new();
    let mut headers = Vec::new();
    for line in command.lines() {
        let line = line.trim().trim_end_matches('\\').trim();
        let unquote = |s: &str| s.trim_matches(|c| c == '\'' || c == '"').to_owned();
        if let Some(rest) = line.strip_prefix("curl ") {
            url = unquote(rest);
        } else if let Some(rest) = line.strip_prefix("-H ") {
            let header = unquote(rest);
            let (k, v) = header.split_once(": ").unwrap();
            headers.push((k.to_owned(), v.to_owned()));
        } else {
            panic!("unexpected line {line:?} in {command}");
        }
    }
    (url, headers)
}

#[tokio::test]
async fn impersonation_shows_working_tokens_once() {
    let app = TestApp::spawn_with(Spawn {
        public_url_is_own_address: true,
        ..Spawn::default()
    })
    .await;
    let email = app.email();
    let id = new_user(&app, json!({ "primary_email": email })).await;
    let d = Dashboard::open(&app).await;
    let made = d
        .post(&format!("/projects/internal/users/{id}/impersonate"), &[])
        .await;
    made.assert_status(303);
    let reveal = made.location().to_owned();
    assert!(
        reveal.starts_with(&format!("/projects/internal/users/{id}/impersonate/")),
        "{reveal}"
    );
    let page = d.get(&reveal).await;
    page.assert_status(200);
    assert!(page.body.contains(&format!("Impersonating {email}")));

    let (url, headers) = curl_parts(&page);
    // The server's public API URL, which is this server's own address here.
    assert_eq!(
        url,
        format!("http://localhost:{}/api/v1/users/me", app.addr.port())
    );
    let mut me = app.http.get(&url);
    for (k, v) in &headers {
        me = me.header(k, v);
    }
    let me = me.send().await.unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["id"], id.as_str());
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "x-stack-access-type" && v == "client")
    );
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "x-stack-project-id" && v == "internal")
    );

    // The refresh token is the session's: it refreshes.
    let refresh = between(&page.body, "data-token=\"refresh_token\">", "</code>").to_owned();
    app.post("/auth/sessions/current/refresh")
        .client()
        .header("x-stack-refresh-token", &refresh)
        .send()
        .await
        .assert_status(200);

    let again = d.get(&reveal).await;
    again.assert_status(410);
    assert!(!again.body.contains(&refresh));

    let sessions = app
        .get(&format!("/auth/sessions?user_id={id}"))
        .admin()
        .send()
        .await;
    sessions.assert_status(200);
    let items = sessions.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["is_impersonation"], true);
    let user_page = d.get(&format!("/projects/internal/users/{id}")).await;
    assert!(
        user_page
            .body
            .contains("badge-amber\">impersonation</span>")
    );
    assert!(
        !headers
            .iter()
            .any(|(k, _)| k == "x-stack-publishable-client-key"),
        "the project takes clients without a key"
    );

    // A project that requires the publishable key: the command names it by a
    // variable, and the page says so.
    app.patch("/internal/config/override/project")
        .admin()
        .json(
            json!({ "config_override_string": "{\"project.requirePublishableClientKey\": true}" }),
        )
        .send()
        .await
        .assert_status(200);
    let made = d
        .post(&format!("/projects/internal/users/{id}/impersonate"), &[])
        .await;
    let page = d.get(made.location()).await;
    page.assert_status(200);
    assert!(
        page.body
            .contains("This project requires a publishable client key")
    );
    let (url, headers) = curl_parts(&page);
    assert!(headers.contains(&(
        "x-stack-publishable-client-key".to_owned(),
        "$STACK_PUBLISHABLE_CLIENT_KEY".to_owned()
    )));
    for (with_key, status) in [(true, 200), (false, 401)] {
        let mut me = app.http.get(&url);
        for (k, v) in &headers {
            if v == "$STACK_PUBLISHABLE_CLIENT_KEY" {
                if with_key {
                    me = me.header(k, &app.pck);
                }
            } else {
                me = me.header(k, v);
            }
        }
        assert_eq!(
            me.send().await.unwrap().status(),
            status,
            "key sent: {with_key}"
        );
    }
}

#[tokio::test]
async fn project_permissions_are_granted_and_revoked() {
    let app = TestApp::spawn().await;
    for (id, description) in [("read:reports", "Read <b>reports</b>"), ("billing", "")] {
        app.post("/project-permission-definitions")
            .admin()
            .json(json!({ "id": id, "description": description }))
            .send()
            .await
            .assert_status(201);
    }
    let id = new_user(&app, json!({ "primary_email": app.email() })).await;
    let d = Dashboard::open(&app).await;
    let here = format!("/projects/internal/users/{id}");
    let page = d.get(&here).await;
    assert!(
        page.body.contains(
            "<option value=\"read:reports\">read:reports (Read &lt;b&gt;reports&lt;/b&gt;)</option>"
        ),
        "{}",
        page.body
    );
    let held = || async {
        let r = app
            .get(&format!("/project-permissions?user_id={id}"))
            .server()
            .send()
            .await;
        r.assert_status(200);
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(held().await.is_empty());
    let granted = d
        .post(
            &format!("{here}/permissions"),
            &[("permission_id", "read:reports")],
        )
        .await;
    granted.assert_status(303);
    assert_eq!(
        granted.location(),
        format!("{here}?done=permission-granted")
    );
    assert_eq!(held().await, ["read:reports"]);
    let page = d.get(&here).await;
    assert!(page.body.contains(&format!(
        "action=\"{here}/permissions/read%3Areports/revoke\""
    )));
    assert!(
        !page.body.contains("<option value=\"read:reports\">"),
        "granted ones are not offered again"
    );

    let unknown = d
        .post(&format!("{here}/permissions"), &[("permission_id", "nope")])
        .await;
    unknown.assert_status(404);
    assert!(unknown.body.contains("nope"), "{}", unknown.body);

    d.post(&format!("{here}/permissions/read%3Areports/revoke"), &[])
        .await
        .assert_status(303);
    assert!(held().await.is_empty());
    d.post(&format!("{here}/permissions/read%3Areports/revoke"), &[])
        .await
        .assert_status(404);
}
