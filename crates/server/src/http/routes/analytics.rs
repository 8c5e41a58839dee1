//! `POST /analytics/events/batch`: the page views and clicks that
//! @stackframe/js captures and uploads by default. A project without the
//! analytics app answers `ANALYTICS_NOT_ENABLED`, as Stack Auth does (the
//! SDK then stops sending); one with it stores the events
//! ([`crate::db::analytics`]) and answers how many.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::ANY;
use crate::config::at;
use crate::db::analytics::{self, BatchOrigin};
use crate::error::ApiError;
use crate::http::{Req, json};
use crate::known_errors as ke;
use crate::state::AppState;
use crate::validate::{Fields, Patch};

/// Most events in one batch.
const MAX_EVENTS: usize = 500;
/// The event types the SDK captures.
const EVENT_TYPES: [&str; 2] = ["$page-view", "$click"];

/// `POST /analytics/events/batch`.
///
/// # Errors
/// `SCHEMA_ERROR`; `ANALYTICS_NOT_ENABLED`; `USER_AUTHENTICATION_REQUIRED`;
/// 400 when the access token names no session.
pub async fn upload_batch(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body);
    let segment = versioned_uuid(&mut f, "session_replay_segment_id");
    let batch = versioned_uuid(&mut f, "batch_id");
    match f.opt_i64("sent_at_ms") {
        None if !f.map_has("sent_at_ms") => f.error("sent_at_ms", "must be defined"),
        Some(ms) if ms < 0 => f.error("sent_at_ms", "must be greater than or equal to 0"),
        _ => {}
    }
    let events = events(&mut f);
    f.finish(&req.line)?;

    let enabled = at(&auth.project.rendered, "apps.installed.analytics.enabled");
    if enabled != Some(&Value::Bool(true)) {
        return Err(ke::analytics_not_enabled().into());
    }
    let user = auth
        .user
        .as_ref()
        .ok_or_else(ke::user_authentication_required)?;
    let refresh_token_id = auth
        .refresh_token_id
        .ok_or_else(|| ApiError::bad_request("A refresh token is required for analytics events"))?;
    let origin = BatchOrigin {
        user_id: user.id,
        refresh_token_id,
        session_replay_segment_id: segment.unwrap_or_default(),
        batch_id: batch.unwrap_or_default(),
    };
    let inserted =
        analytics::insert_events(&state.pool, &auth.project.id, origin, &Value::Array(events))
            .await?;
    Ok(json(StatusCode::OK, &json!({ "inserted": inserted })))
}

/// A required id in Stack Auth's UUID form (version 1 to 8, RFC variant);
/// anything else is `Invalid {key}`, Stack Auth's message.
fn versioned_uuid(f: &mut Fields, key: &str) -> Option<Uuid> {
    if !f.map_has(key) {
        f.req_string(key, None);
        return None;
    }
    let raw = f.opt_string(key, None).unwrap_or_default();
    let parsed = Uuid::parse_str(&raw).ok().filter(|id| {
        raw.len() == 36
            && (1..=8).contains(&id.get_version_num())
            && matches!(id.get_variant(), uuid::Variant::RFC4122)
    });
    if parsed.is_none() {
        f.error_line(&format!("Invalid {key}"));
    }
    parsed
}

/// The checked events, each as `{event_type, event_at_ms, data}`.
fn events(f: &mut Fields) -> Vec<Value> {
    let Some(items) = f.object_items("events") else {
        if !f.map_has("events") {
            f.error("events", "must be defined");
        }
        return Vec::new();
    };
    if items.is_empty() {
        f.error("events", "field must have at least 1 items");
    } else if items.len() > MAX_EVENTS {
        f.error(
            "events",
            &format!("field must have less than or equal to {MAX_EVENTS} items"),
        );
    }
    let mut events = Vec::with_capacity(items.len());
    for mut item in items {
        let event_type = item.opt_one_of("event_type", &EVENT_TYPES);
        if event_type.is_none() && !item.map_has("event_type") {
            item.error("event_type", "must be defined");
        }
        let at_ms = item.opt_i64("event_at_ms");
        match at_ms {
            None if !item.map_has("event_at_ms") => item.error("event_at_ms", "must be defined"),
            Some(ms) if ms < 0 => item.error("event_at_ms", "must be greater than or equal to 0"),
            _ => {}
        }
        let data = match item.json("data") {
            Patch::Absent => {
                if !item.map_has("data") {
                    item.error("data", "must be defined");
                }
                Value::Null
            }
            Patch::Null => Value::Null,
            Patch::Set(v) => v,
        };
        events.push(json!({ "event_type": event_type, "event_at_ms": at_ms, "data": data }));
        item.finish_into(f);
    }
    events
}
