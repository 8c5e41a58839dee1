//! `GET /users` (spec §2.8): pagination with a cursor that opens the next
//! page, ordering, search, team filter, and which anonymous and restricted
//! users are listed.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use crate::helpers::{TestApp, keys, sorted};

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// Ids of the users listed by `GET /users?{query}`, and the next cursor.
async fn list(app: &TestApp, query: &str) -> (Vec<String>, Value) {
    let r = app.get(&format!("/users?{query}")).server().send().await;
    r.assert_status(200);
    assert_eq!(
        keys(&r.body),
        sorted(&["items", "is_paginated", "pagination"])
    );
    assert_eq!(r.body["is_paginated"], true);
    assert_eq!(keys(&r.body["pagination"]), sorted(&["next_cursor"]));
    let ids = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    (ids, r.body["pagination"]["next_cursor"].clone())
}

#[tokio::test]
async fn listing_users_pages_with_a_cursor_that_starts_the_next_page() {
    let app = TestApp::spawn().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut created = Vec::new();
    for i in 0..5 {
        let u = app
            .create_user(json!({ "primary_email": format!("{tag}-{i}@example.com") }))
            .await;
        created.push(id_of(&u));
    }
    let (all, cursor) = list(&app, &format!("query={tag}")).await;
    assert_eq!(all, created, "ascending sign-up order");
    assert_eq!(cursor, json!(null));

    let mut paged = Vec::new();
    let mut query = format!("query={tag}&limit=2");
    loop {
        let (ids, next) = list(&app, &query).await;
        assert!(ids.len() <= 2);
        paged.extend(ids);
        match next.as_str() {
            Some(c) => {
                let (ids, _) = list(&app, &format!("query={tag}&limit=2&cursor={c}")).await;
                assert_eq!(ids[0], c, "the cursor row opens the next page");
                query = format!("query={tag}&limit=2&cursor={c}");
            }
            None => break,
        }
    }
    assert_eq!(paged, created);

    let (desc, _) = list(&app, &format!("query={tag}&desc=true")).await;
    let mut reversed = created.clone();
    reversed.reverse();
    assert_eq!(desc, reversed);
    let (first, next) = list(&app, &format!("query={tag}&desc=true&limit=3")).await;
    assert_eq!(first, reversed[..3]);
    assert_eq!(next, json!(reversed[3]));
}

#[tokio::test]
async fn listing_users_searches_emails_names_and_ids() {
    let app = TestApp::spawn().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let a = app
        .create_user(json!({ "primary_email": format!("alpha-{tag}@example.com") }))
        .await;
    let b = app
        .create_user(json!({ "display_name": format!("Beta {tag}") }))
        .await;
    let (ids, _) = list(&app, &format!("query=ALPHA-{tag}")).await;
    assert_eq!(ids, vec![id_of(&a)]);
    let (ids, _) = list(&app, &format!("query=beta%20{tag}")).await;
    assert_eq!(ids, vec![id_of(&b)]);
    let (ids, _) = list(&app, &format!("query={tag}")).await;
    assert_eq!(ids.len(), 2);
    let (ids, _) = list(&app, &format!("query={}", id_of(&b))).await;
    assert_eq!(ids, vec![id_of(&b)]);
    // Members of a team.
    // The create response predates the personal team; a read shows it.
    let a_now = app
        .get(&format!("/users/{}", id_of(&a)))
        .server()
        .send()
        .await;
    let team = a_now.body["selected_team_id"].as_str().unwrap();
    let (ids, _) = list(&app, &format!("team_id={team}")).await;
    assert_eq!(ids, vec![id_of(&a)]);
    // `%` and `_` are literal characters, not patterns.
    let (ids, _) = list(&app, "query=%25").await;
    assert!(ids.is_empty(), "{ids:?}");
}

#[tokio::test]
async fn anonymous_users_are_listed_only_on_request() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous().await;
    let named = app.create_user(json!({})).await;
    let q = format!("query={}", anon.user_id);
    assert!(list(&app, &q).await.0.is_empty());
    assert_eq!(
        list(&app, &format!("{q}&include_anonymous=true")).await.0,
        vec![anon.user_id.clone()]
    );
    let r = app
        .get("/users?include_anonymous=true&only_anonymous=true")
        .server()
        .send()
        .await;
    r.assert_status(200);
    let items = r.body["items"].as_array().unwrap();
    assert!(
        items.iter().all(|u| u["is_anonymous"] == true),
        "{}",
        r.text
    );
    assert!(items.iter().any(|u| u["id"] == anon.user_id.as_str()));
    assert!(!items.iter().any(|u| u["id"] == named["id"]));
    let (all, _) = list(&app, "").await;
    assert!(all.contains(&id_of(&named)));
    assert!(!all.contains(&anon.user_id));

    let r = app.get("/users?only_anonymous=true").server().send().await;
    r.assert_plain(400, "only_anonymous=true requires include_anonymous=true");
}

#[tokio::test]
async fn restricted_users_are_listed_only_on_request() {
    let app = TestApp::spawn().await;
    let u = app
        .create_user(json!({ "restricted_by_admin": true }))
        .await;
    let q = format!("query={}", id_of(&u));
    assert!(list(&app, &q).await.0.is_empty());
    assert_eq!(
        list(&app, &format!("{q}&include_restricted=true")).await.0,
        vec![id_of(&u)]
    );
}

#[tokio::test]
async fn the_list_query_is_validated() {
    let app = TestApp::spawn().await;
    let r = app.get("/users?cursor=nope").server().send().await;
    r.assert_schema_error(
        "GET",
        "/api/v1/users",
        &["query.cursor must be a valid UUID"],
    );
    let r = app.get("/users?foo=1").server().send().await;
    r.assert_schema_error(
        "GET",
        "/api/v1/users",
        &["query contains unknown properties: foo"],
    );
    for bad in ["limit=0", "limit=abc", "desc=maybe", "order_by=email"] {
        let r = app.get(&format!("/users?{bad}")).server().send().await;
        r.assert_known(400, "SCHEMA_ERROR");
        let field = bad.split('=').next().unwrap();
        assert!(
            r.body["error"]
                .as_str()
                .unwrap()
                .contains(&format!("query.{field} ")),
            "{bad}: {}",
            r.text
        );
    }
}

/// A search with many matches walks the order's index; one with few lists
/// the matches by id. Both must list the same users, in the same order,
/// across pages.
#[tokio::test]
async fn a_search_lists_the_same_users_whether_it_matches_few_or_many() {
    let app = TestApp::spawn().await;
    let many = i32::try_from(stack_server::db::user_list::FEW_MATCHES + 100).unwrap();
    // User n signed up n seconds ago; all but every tenth has a name; every
    // one has a primary email, and one in three a second, non-primary one.
    sqlx::query(
        "INSERT INTO users (project_id, id, display_name, signed_up_at)
           SELECT 'internal', md5('many-' || n)::uuid,
                  CASE WHEN n % 10 <> 0 THEN 'Named person ' || n END, now() - make_interval(secs => n)
           FROM generate_series(1, $1) AS n",
    )
    .bind(many)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO contact_channels (project_id, id, user_id, type, value, is_primary)
           SELECT 'internal', md5('many-primary-' || n)::uuid, md5('many-' || n)::uuid, 'email',
                  'member-' || n || '@crowd.example', TRUE FROM generate_series(1, $1) AS n
           UNION ALL
           SELECT 'internal', md5('many-second-' || n)::uuid, md5('many-' || n)::uuid, 'email',
                  'other-' || n || '@elsewhere.example', NULL FROM generate_series(3, $1, 3) AS n",
    )
    .bind(many)
    .execute(&app.pool)
    .await
    .unwrap();
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT md5('many-' || n)::uuid::text FROM generate_series(0, $1) AS n ORDER BY n",
    )
    .bind(many)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let of = |ns: &[usize]| ns.iter().map(|&n| ids[n].clone()).collect::<Vec<_>>();
    let newest = "order_by=signed_up_at&desc=true";

    // Many: every user's email matches; newest first, page after page.
    let (first, next) = list(&app, &format!("{newest}&query=crowd.example&limit=100")).await;
    assert_eq!(first, of(&(1..=100).collect::<Vec<_>>()));
    let cursor = next.as_str().unwrap();
    let (second, _) = list(
        &app,
        &format!("{newest}&query=crowd.example&limit=100&cursor={cursor}"),
    )
    .await;
    assert_eq!(second, of(&(101..=200).collect::<Vec<_>>()));

    // Few (under the threshold, though many): the named users by name.
    let (named, next) = list(&app, &format!("{newest}&query=named%20PERSON&limit=12")).await;
    assert_eq!(named, of(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13]));
    let cursor = next.as_str().unwrap();
    let (named_next, _) = list(
        &app,
        &format!("{newest}&query=named%20PERSON&limit=3&cursor={cursor}"),
    )
    .await;
    assert_eq!(named_next, of(&[14, 15, 16]));

    // Few: by a fragment of an email, by a non-primary email, by id.
    let search = |q: String| {
        let app = &app;
        async move { list(app, &format!("{newest}&{q}")).await.0 }
    };
    assert_eq!(search("query=member-1234@".into()).await, of(&[1234]));
    assert_eq!(search("query=other-999@".into()).await, of(&[999]));
    assert_eq!(search(format!("query={}", ids[77])).await, of(&[77]));
    assert!(search("query=nobody-at-all".into()).await.is_empty());
    // Few across pages: member-100 and member-1000 to member-1009.
    let (page, next) = list(&app, &format!("{newest}&query=member-100&limit=5")).await;
    assert_eq!(page, of(&[100, 1000, 1001, 1002, 1003]));
    let cursor = next.as_str().unwrap();
    let (rest, _) = list(
        &app,
        &format!("{newest}&query=member-100&limit=50&cursor={cursor}"),
    )
    .await;
    assert_eq!(rest, of(&[1004, 1005, 1006, 1007, 1008, 1009]));
}
