//! `POST /analytics/events/batch`, which @stackframe/js calls by default:
//! refused with `ANALYTICS_NOT_ENABLED` until the project installs the
//! analytics app, then stored with the user and session that sent it; its
//! body checked with Stack Auth's messages; half a surrogate pair in the
//! events (JavaScript can send one) read as U+FFFD instead of refusing the
//! body.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::{Value, json};

use crate::helpers::TestApp;

const ROUTE: &str = "/analytics/events/batch";

fn batch(events: Value) -> Value {
    json!({
        "session_replay_segment_id": uuid::Uuid::new_v4().to_string(),
        "batch_id": uuid::Uuid::new_v4().to_string(),
        "sent_at_ms": 1_796_000_000_000_i64,
        "events": events,
    })
}

fn page_view(path: &str) -> Value {
    json!({ "event_type": "$page-view", "event_at_ms": 1_796_000_000_000_i64, "data": { "path": path } })
}

async fn enable_analytics(app: &TestApp) {
    app.patch("/internal/config/override/environment")
        .admin()
        .json(json!({ "config_override_string": r#"{"apps.installed.analytics.enabled": true}"# }))
        .send()
        .await
        .assert_status(200);
}

async fn stored(app: &TestApp) -> Vec<(String, String, Value)> {
    sqlx::query_as::<_, (String, String, sqlx::types::Json<Value>)>(
        "SELECT event_type, user_id::text, data FROM analytics_events ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(t, u, d)| (t, u, d.0))
    .collect()
}

#[tokio::test]
async fn a_batch_is_refused_until_analytics_is_installed_then_stored() {
    let app = TestApp::spawn().await;
    let session = app.sign_up(&app.email(), "correct horse battery").await;
    let body =
        batch(json!([page_view("/a"), { "event_type": "$click", "event_at_ms": 1, "data": null }]));
    app.post(ROUTE)
        .client()
        .user(&session)
        .json(body.clone())
        .send()
        .await
        .assert_error(
            400,
            "ANALYTICS_NOT_ENABLED",
            "Analytics is not enabled for this project.",
        );
    assert!(stored(&app).await.is_empty());

    enable_analytics(&app).await;
    app.post(ROUTE)
        .client()
        .json(body.clone())
        .send()
        .await
        .assert_known(401, "USER_AUTHENTICATION_REQUIRED");
    let r = app
        .post(ROUTE)
        .client()
        .user(&session)
        .json(body)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "inserted": 2 }));
    let rows = stored(&app).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0],
        (
            "$page-view".into(),
            session.user_id.clone(),
            json!({ "path": "/a" })
        )
    );
    assert_eq!(rows[1].0, "$click");
}

#[tokio::test]
async fn half_a_surrogate_pair_is_read_as_a_replacement_character() {
    let app = TestApp::spawn().await;
    enable_analytics(&app).await;
    let session = app.sign_up(&app.email(), "correct horse battery").await;
    let mut body = batch(json!([
        { "event_type": "$click", "event_at_ms": 5, "data": { "text": "SURROGATE" } }
    ]))
    .to_string();
    // What JSON.stringify writes for a string cut in the middle of an emoji.
    body = body.replace("SURROGATE", "Buy \\ud83d");
    let r = app
        .post(ROUTE)
        .client()
        .user(&session)
        .body("application/json", &body)
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(stored(&app).await[0].2, json!({ "text": "Buy \u{fffd}" }));
    // Malformed JSON is still refused.
    app.post(ROUTE)
        .client()
        .user(&session)
        .body("application/json", "{\"events\": [\\ud83d")
        .send()
        .await
        .assert_known(400, "BODY_PARSING_ERROR");
}

#[tokio::test]
async fn bad_batches_get_stack_auths_schema_errors() {
    let app = TestApp::spawn().await;
    enable_analytics(&app).await;
    let session = app.sign_up(&app.email(), "correct horse battery").await;
    let many: Vec<Value> = (0..501).map(|i| page_view(&format!("/{i}"))).collect();
    let mut bad_segment = batch(json!([page_view("/")]));
    bad_segment["session_replay_segment_id"] = "not-a-uuid".into();
    let mut bad_batch = batch(json!([page_view("/")]));
    bad_batch["batch_id"] = "00000000-0000-0000-0000-000000000000".into();
    for (body, line) in [
        (
            batch(json!([])),
            "body.events field must have at least 1 items",
        ),
        (
            batch(json!(many)),
            "body.events field must have less than or equal to 500 items",
        ),
        (bad_segment, "Invalid session_replay_segment_id"),
        (bad_batch, "Invalid batch_id"),
        (
            batch(json!([{ "event_type": "$invalid-type", "event_at_ms": 1, "data": {} }])),
            "body.events[0].event_type must be one of the following values: $page-view, $click",
        ),
        (
            batch(json!([{ "event_type": "$click", "event_at_ms": 1 }])),
            "body.events[0].data must be defined",
        ),
    ] {
        app.post(ROUTE)
            .client()
            .user(&session)
            .json(body)
            .send()
            .await
            .assert_schema_error("POST", "/api/v1/analytics/events/batch", &[line]);
    }
    assert!(stored(&app).await.is_empty());
}
