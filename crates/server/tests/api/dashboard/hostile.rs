//! The dashboard against hostile requests: text from users is escaped, a
//! foreign `Host` gets nothing, and a form post without the right CSRF token
//! or from another origin changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use super::{COOKIE, Dashboard, assert_security_headers, user_count, user_id_of};
use crate::helpers::TestApp;
use serde_json::json;

#[tokio::test]
async fn text_from_users_is_escaped() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let user = app.sign_up(&email, "correct horse battery").await;
    app.patch(&format!("/users/{}", user.user_id))
        .server()
        .json(json!({ "display_name": "<script>alert(1)</script>\"'&" }))
        .send()
        .await
        .assert_status(200);
    let d = Dashboard::open(&app).await;
    for path in [
        "/projects/internal/users".to_owned(),
        format!("/projects/internal/users/{}", user.user_id),
    ] {
        let page = d.get(&path).await;
        assert!(!page.body.contains("<script>alert"), "{path}");
        assert!(
            page.body
                .contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_foreign_host_gets_nothing() {
    let app = TestApp::spawn().await;
    let d = Dashboard::open(&app).await;
    let before = user_count(&app, "internal").await;
    let page = d
        .send(
            d.http
                .get(format!("{}/projects/internal/users", d.base))
                .header("host", "evil.example"),
        )
        .await;
    page.assert_status(421);
    assert!(!page.body.contains("admin@"), "{}", page.body);
    assert_security_headers(&page);
    let token = d.token.clone();
    d.post_with(
        "/projects/internal/users",
        &[("csrf", &token), ("email", "rebound@example.com")],
        Some(&token),
        &[("host", "evil.example:8101")],
    )
    .await
    .assert_status(421);
    assert_eq!(user_count(&app, "internal").await, before);
}

#[tokio::test]
async fn posts_without_the_right_csrf_token_change_nothing() {
    let app = TestApp::spawn().await;
    let d = Dashboard::open(&app).await;
    let before = user_count(&app, "internal").await;
    let path = "/projects/internal/users";
    let email = ("email", "csrf@example.com");
    let token = d.token.as_str();
    // A token this process did not sign (another dashboard's, or made up).
    let (nonce, _) = token.split_once('.').unwrap();
    let forged = format!("{nonce}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    for (fields, cookie) in [
        (vec![email], Some(token)),
        (vec![("csrf", "wrong"), email], Some(token)),
        (vec![("csrf", token), email], None),
        (
            vec![("csrf", forged.as_str()), email],
            Some(forged.as_str()),
        ),
    ] {
        let page = d.post_with(path, &fields, cookie, &[]).await;
        page.assert_status(403);
        assert!(page.body.contains("Reload the page"), "{}", page.body);
        assert_security_headers(&page);
    }
    // A form that is not URL-encoded (a cross-site `enctype="text/plain"` form, say).
    let plain = d
        .send(
            d.http
                .post(format!("{}{path}", d.base))
                .header("content-type", "text/plain")
                .header("cookie", format!("{COOKIE}={token}"))
                .body(format!("csrf={token}&email=csrf@example.com")),
        )
        .await;
    plain.assert_status(400);
    assert_eq!(user_count(&app, "internal").await, before);
    assert_eq!(user_id_of(&app, "csrf@example.com").await, None);
}

#[tokio::test]
async fn posts_from_another_origin_change_nothing() {
    let app = TestApp::spawn().await;
    let d = Dashboard::open(&app).await;
    let before = user_count(&app, "internal").await;
    let token = d.token.as_str();
    let fields = [("csrf", token), ("email", "origin@example.com")];
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "http://localhost:3000")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
    ] {
        let page = d
            .post_with("/projects/internal/users", &fields, Some(token), &headers)
            .await;
        page.assert_status(403);
        assert!(
            page.body.contains("This request was refused because"),
            "{headers:?}: {}",
            page.body
        );
    }
    let create = d
        .post_with(
            "/projects",
            &[("csrf", token), ("display_name", "x")],
            Some(token),
            &[("origin", "https://evil.example")],
        )
        .await;
    create.assert_status(403);
    assert_eq!(user_count(&app, "internal").await, before);
    let projects: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(projects, 1);
}
