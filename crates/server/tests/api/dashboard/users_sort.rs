//! The users table's orders (display name, primary email, last active,
//! signed up; each way): the rows follow the order across a page boundary
//! (the cursor), and the headers are the sort links.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::json;

use super::{Dashboard, Page};
use crate::helpers::TestApp;

/// The user ids of a users page, in order, and its next-page link.
fn rows(page: &Page) -> (Vec<String>, Option<String>) {
    page.assert_status(200);
    let ids = page
        .body
        .split("class=\"user-cell\" href=\"/projects/internal/users/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    let next = page.next_link();
    (ids, next)
}

/// Users with and without names and emails, names repeated and in mixed
/// case; keys of one length, so any collation orders them alike.
async fn varied_users(app: &TestApp) {
    for i in 0..56_usize {
        let mut body = json!({});
        if i % 5 != 0 {
            body["primary_email"] = json!(format!("m{:02}x@example.com", (i * 37) % 56));
        }
        match i % 4 {
            0 => {}
            1 => body["display_name"] = json!(format!("Name{:02}", 55 - i)),
            2 => body["display_name"] = json!("Same"),
            _ => body["display_name"] = json!(format!("name{i:02}")),
        }
        app.post("/users")
            .server()
            .json(body)
            .send()
            .await
            .assert_status(201);
    }
    // Distinct activity times, a few of them shared (ties go by id).
    sqlx::query(
        "UPDATE users SET last_active_at = now() - (((hashtext(id::text) & 7)) * interval '1 hour')
         WHERE project_id = 'internal'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
}

/// Ids ordered by an optional key, users without one after the others by
/// id; `desc` reverses both parts.
fn keyed_order(mut users: Vec<(Option<String>, String)>, desc: bool) -> Vec<String> {
    users.sort_by(|a, b| match (&a.0, &b.0) {
        (Some(x), Some(y)) => x.cmp(y).then(a.1.cmp(&b.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    let split = users
        .iter()
        .position(|u| u.0.is_none())
        .unwrap_or(users.len());
    let (mut keyed, mut rest): (Vec<_>, Vec<_>) =
        (users[..split].to_vec(), users[split..].to_vec());
    if desc {
        keyed.reverse();
        rest.reverse();
    }
    keyed.into_iter().chain(rest).map(|u| u.1).collect()
}

#[tokio::test]
async fn every_sort_order_holds_across_a_page_boundary() {
    let app = TestApp::spawn().await;
    varied_users(&app).await;
    let all: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT u.id::text, u.display_name, c.value FROM users u LEFT JOIN contact_channels c
           ON c.project_id = u.project_id AND c.user_id = u.id AND c.type = 'email' AND c.is_primary
         WHERE u.project_id = 'internal'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(all.len(), 57, "56 and the admin");
    let by_time = |column: &str, desc: bool| {
        let dir = if desc { "DESC" } else { "ASC" };
        let pool = app.pool.clone();
        let sql = format!(
            "SELECT id::text FROM users WHERE project_id = 'internal' ORDER BY {column} {dir}, id {dir}"
        );
        async move {
            sqlx::query_scalar::<_, String>(&sql)
                .fetch_all(&pool)
                .await
                .unwrap()
        }
    };
    let names: Vec<_> = all
        .iter()
        .map(|(id, name, _)| (name.as_ref().map(|n| n.to_lowercase()), id.clone()))
        .collect();
    let emails: Vec<_> = all
        .iter()
        .map(|(id, _, email)| (email.as_ref().map(|e| e.to_lowercase()), id.clone()))
        .collect();
    let cases = [
        ("name", "asc", keyed_order(names.clone(), false)),
        ("name", "desc", keyed_order(names, true)),
        ("email", "asc", keyed_order(emails.clone(), false)),
        ("email", "desc", keyed_order(emails, true)),
        ("last_active", "asc", by_time("last_active_at", false).await),
        ("last_active", "desc", by_time("last_active_at", true).await),
        ("signed_up", "asc", by_time("signed_up_at", false).await),
        ("signed_up", "desc", by_time("signed_up_at", true).await),
    ];
    let d = Dashboard::open(&app).await;
    for (sort, dir, expected) in cases {
        let first = d
            .get(&format!("/projects/internal/users?sort={sort}&dir={dir}"))
            .await;
        let aria = if dir == "asc" {
            "ascending"
        } else {
            "descending"
        };
        assert_eq!(
            first.body.matches(&format!("aria-sort=\"{aria}\"")).count(),
            1,
            "{sort} {dir}: one sorted header"
        );
        let (mut ids, next) = rows(&first);
        assert_eq!(ids.len(), 50, "{sort} {dir}");
        let next = next.unwrap_or_else(|| panic!("{sort} {dir}: a next page"));
        assert!(next.contains(&format!("sort={sort}&dir={dir}")), "{next}");
        let (more, last) = rows(&d.get(&next).await);
        assert_eq!(last, None, "{sort} {dir}");
        ids.extend(more);
        assert_eq!(ids, expected, "{sort} {dir}");
    }
    // The header of the sorted column flips its direction; another starts with its own.
    let page = d.get("/projects/internal/users?sort=name&dir=asc").await;
    assert!(
        page.body
            .contains("href=\"/projects/internal/users?sort=name&amp;dir=desc\"")
    );
    assert!(
        page.body
            .contains("href=\"/projects/internal/users?sort=signed_up&amp;dir=desc\"")
    );
    d.get("/projects/internal/users?sort=password")
        .await
        .assert_status(400);
}
