//! The dashboard over HTTP: its pages show what the API holds, its forms
//! change it, and nothing but its own pages can change anything (a foreign
//! `Host`, a missing or wrong CSRF token, another `Origin`: [`hostile`]). The browser test
//! of the same things is `sdk::the_dashboard_works_in_a_real_browser`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::helpers::TestApp;

mod config;
mod hostile;
mod pages;
mod teams;
mod user_access;
mod users_edit;
mod users_sort;

pub const COOKIE: &str = "stack_dashboard_csrf";

/// One answer of the dashboard.
pub struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The page's `rel="next"` link, unescaped, if it has one.
    fn next_link(&self) -> Option<String> {
        self.body
            .split("rel=\"next\" href=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(|href| href.replace("&amp;", "&"))
    }

    #[track_caller]
    fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self
    }
}

/// A browser-like session with the dashboard: the CSRF cookie it was given
/// (which is also the token its forms carry), no automatic redirects.
pub struct Dashboard {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Dashboard {
    async fn open(app: &TestApp) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http
            .get(format!("{}/", app.dashboard_base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let cookie = r
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(COOKIE))
            .expect("the first page sets the CSRF cookie")
            .to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let token = cookie
            .split(';')
            .next()
            .and_then(|kv| kv.split_once('='))
            .map(|(_, v)| v.to_owned())
            .unwrap();
        let body = r.text().await.unwrap();
        assert!(body.contains(&format!("name=\"csrf\" value=\"{token}\"")));
        Self {
            base: app.dashboard_base.clone(),
            http,
            token,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let r = request.send().await.expect("the dashboard answers");
        Page {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap_or_default(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .header("cookie", format!("{COOKIE}={}", self.token)),
        )
        .await
    }

    /// A form post as the dashboard's own page sends it.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all = vec![("csrf", self.token.as_str())];
        all.extend_from_slice(fields);
        self.post_with(path, &all, Some(&self.token), &[("origin", &self.base)])
            .await
    }

    /// A form post with exactly these fields, cookie and extra headers.
    async fn post_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        cookie: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = cookie {
            request = request.header("cookie", format!("{COOKIE}={c}"));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        self.send(request).await
    }
}

/// A project for the app config file at `path`, as the local emulator makes
/// it: its id and admin key.
pub async fn config_file_project(app: &TestApp, path: &str) -> (String, String) {
    let r = app
        .post("/internal/local-emulator/project")
        .server()
        .json(json!({ "absolute_file_path": path }))
        .send()
        .await;
    r.assert_status(200);
    let key = |name: &str| r.body[name].as_str().unwrap().to_owned();
    (key("project_id"), key("super_secret_admin_key"))
}

pub async fn user_count(app: &TestApp, project: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE project_id = $1")
        .bind(project)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

pub async fn user_id_of(app: &TestApp, email: &str) -> Option<String> {
    sqlx::query_scalar(
        "SELECT user_id::text FROM contact_channels WHERE project_id = 'internal' AND value = $1",
    )
    .bind(email)
    .fetch_optional(&app.pool)
    .await
    .unwrap()
}

#[track_caller]
pub fn assert_security_headers(page: &Page) {
    let h = |name: &str| page.headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(
        h("content-security-policy"),
        Some(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
    );
    assert_eq!(h("x-frame-options"), Some("DENY"));
    assert_eq!(h("referrer-policy"), Some("no-referrer"));
    assert_eq!(h("x-content-type-options"), Some("nosniff"));
    assert_eq!(h("cache-control"), Some("no-store"));
    assert!(
        page.headers
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "no CORS headers: {:?}",
        page.headers
    );
}

#[tokio::test]
async fn every_page_shows_the_users_data_with_the_security_headers() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let user = app.sign_up(&email, "correct horse battery").await;
    app.patch(&format!("/users/{}", user.user_id))
        .server()
        .json(json!({ "display_name": "Ada Lovelace", "client_metadata": { "plan": "pro" } }))
        .send()
        .await
        .assert_status(200);
    app.post("/auth/password/send-reset-code")
        .client()
        .json(json!({ "email": email, "callback_url": "http://localhost:3000/reset" }))
        .send()
        .await
        .assert_status(200);
    app.wait_for_mail(&email, 1).await;
    let d = Dashboard::open(&app).await;

    let projects = d.get("/").await;
    projects.assert_status(200);
    assert!(projects.body.contains("Stack Dashboard"));
    let users = d.get("/projects/internal/users").await;
    users.assert_status(200);
    assert!(users.body.contains(&email) && users.body.contains("Ada Lovelace"));
    let one = d
        .get(&format!("/projects/internal/users/{}", user.user_id))
        .await;
    one.assert_status(200);
    assert!(one.body.contains(&email));
    assert!(
        one.body.contains("&quot;plan&quot;: &quot;pro&quot;"),
        "metadata as JSON"
    );
    assert!(
        one.body.contains("/revoke"),
        "the sign-up's session is listed"
    );
    let mails = d.get("/projects/internal/emails").await;
    mails.assert_status(200);
    assert!(mails.body.contains("Reset your password") && mails.body.contains(&email));
    for page in [&projects, &users, &one, &mails] {
        assert_security_headers(page);
    }
    for path in [
        "/static/dashboard.css",
        "/static/dashboard.js",
        "/no/such/page",
    ] {
        assert_security_headers(&d.get(path).await);
    }
    d.get("/projects/no-such-project/users")
        .await
        .assert_status(404);
    d.get("/projects/internal/users/not-a-uuid")
        .await
        .assert_status(404);
}

#[tokio::test]
async fn users_are_created_renamed_and_deleted_through_the_forms() {
    let app = TestApp::spawn().await;
    let d = Dashboard::open(&app).await;
    let email = app.email();
    let created = d
        .post(
            "/projects/internal/users",
            &[
                ("email", &email),
                ("display_name", "Grace Hopper"),
                ("password", "correct horse battery"),
                ("email_verified", "1"),
            ],
        )
        .await;
    created.assert_status(303);
    let id = user_id_of(&app, &email).await.expect("the user exists");
    assert_eq!(
        created.location(),
        format!("/projects/internal/users/{id}?done=user-created")
    );
    // The new user signs in with the password, as one made through the API would.
    app.post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": email, "password": "correct horse battery" }))
        .send()
        .await
        .assert_status(200);
    let shown = d.get(created.location()).await;
    assert!(shown.body.contains("User created.") && shown.body.contains("Grace Hopper"));

    d.post(
        &format!("/projects/internal/users/{id}/display-name"),
        &[("display_name", "Rear Admiral Hopper")],
    )
    .await
    .assert_status(303);
    let r = app.get(&format!("/users/{id}")).server().send().await;
    assert_eq!(r.body["display_name"], "Rear Admiral Hopper");
    assert_eq!(r.body["primary_email_verified"], true);

    d.post("/projects/internal/users", &[("email", &email)])
        .await
        .assert_status(409);

    let delete = format!("/projects/internal/users/{id}/delete");
    let ask = d.post(&delete, &[]).await;
    ask.assert_status(200);
    assert!(ask.body.contains("Are you sure?") && ask.body.contains("value=\"yes\""));
    assert!(
        user_id_of(&app, &email).await.is_some(),
        "asking deletes nothing"
    );
    let gone = d.post(&delete, &[("confirmed", "yes")]).await;
    gone.assert_status(303);
    assert_eq!(
        gone.location(),
        "/projects/internal/users?done=user-deleted"
    );
    assert_eq!(user_id_of(&app, &email).await, None);
}

#[tokio::test]
async fn a_session_is_revoked_through_the_form() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let user = app.sign_up(&email, "correct horse battery").await;
    let d = Dashboard::open(&app).await;
    let session: String = sqlx::query_scalar(
        "SELECT id::text FROM refresh_tokens WHERE project_id = 'internal' AND user_id = $1::uuid",
    )
    .bind(&user.user_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let path = format!(
        "/projects/internal/users/{}/sessions/{session}/revoke",
        user.user_id
    );
    d.post(&path, &[]).await.assert_status(303);
    app.post("/auth/sessions/current/refresh")
        .client()
        .header("x-stack-refresh-token", &user.refresh)
        .send()
        .await
        .assert_status(401);
    d.post(&path, &[]).await.assert_status(404);
}

#[tokio::test]
async fn projects_are_created_and_deleted_but_not_the_internal_one() {
    let app = TestApp::spawn().await;
    let d = Dashboard::open(&app).await;
    let created = d.post("/projects", &[("display_name", "Shop")]).await;
    created.assert_status(303);
    let id: String = sqlx::query_scalar("SELECT id FROM projects WHERE display_name = 'Shop'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        created.location(),
        format!("/projects/{id}?done=project-created")
    );
    let list = d.get("/").await;
    assert!(list.body.contains("Shop") && list.body.contains(&id));
    d.post("/projects/internal/delete", &[("confirmed", "yes")])
        .await
        .assert_status(400);
    d.post(&format!("/projects/{id}/delete"), &[("confirmed", "yes")])
        .await
        .assert_status(303);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 1);
}

#[tokio::test]
async fn the_user_list_searches_and_pages() {
    let app = TestApp::spawn().await;
    for i in 0..55 {
        app.post("/users")
            .server()
            .json(json!({ "primary_email": format!("page-{i:02}@example.com") }))
            .send()
            .await
            .assert_status(201);
    }
    let d = Dashboard::open(&app).await;
    let first = d.get("/projects/internal/users").await;
    assert!(first.body.contains("56 users"), "55 and the admin");
    assert!(first.body.contains("page-54@example.com"), "newest first");
    assert!(!first.body.contains("page-04@example.com"));
    let next = first.next_link().expect("a next page link");
    let second = d.get(&next).await;
    second.assert_status(200);
    assert!(second.body.contains("page-00@example.com"));
    assert!(!second.body.contains("page-54@example.com"));
    assert!(!second.body.contains("rel=\"next\""));
    let found = d.get("/projects/internal/users?q=PAGE-07").await;
    assert!(found.body.contains("page-07@example.com"));
    assert!(!found.body.contains("page-08@example.com"));
    let oldest = d.get("/projects/internal/users?order=oldest").await;
    let admin_at = oldest.body.find("admin@").unwrap();
    assert!(admin_at < oldest.body.find("page-00@").unwrap());
}

#[tokio::test]
async fn the_emails_page_filters_by_the_projects_users() {
    let app = TestApp::spawn().await;
    let user = app.email();
    app.post("/users")
        .server()
        .json(json!({ "primary_email": user, "primary_email_verified": true, "primary_email_auth_enabled": true }))
        .send()
        .await
        .assert_status(201);
    let stranger = app.email();
    for email in [&user, &stranger] {
        app.post("/auth/otp/send-sign-in-code")
            .client()
            .json(json!({ "email": email, "callback_url": "http://localhost:3000/cb" }))
            .send()
            .await
            .assert_status(200);
        app.wait_for_mail(email, 1).await;
    }
    let d = Dashboard::open(&app).await;
    let mine = d.get("/projects/internal/emails").await;
    assert!(mine.body.contains(&user) && !mine.body.contains(&stranger));
    let all = d.get("/projects/internal/emails?scope=all").await;
    assert!(all.body.contains(&user) && all.body.contains(&stranger));
}
