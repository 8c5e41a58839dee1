//! `GET /health` (and `?db=1`, which also asks PostgreSQL).

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::http::json;
use crate::state::AppState;

/// How long the database check may take before the answer is 503; a health
/// probe must answer quickly even when PostgreSQL hangs.
const DB_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Query of `/health`.
#[derive(Debug, Deserialize)]
pub struct HealthQuery {
    db: Option<String>,
}

/// Handles `GET /health`.
pub async fn get(State(state): State<AppState>, Query(q): Query<HealthQuery>) -> Response {
    if q.db.as_deref().is_some_and(|v| v == "1" || v == "true") {
        let check = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool);
        match tokio::time::timeout(DB_CHECK_TIMEOUT, check).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({ "status": "error", "database": "unavailable", "error": e.to_string() }),
                );
            }
            Err(_) => {
                return json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({ "status": "error", "database": "timeout" }),
                );
            }
        }
    }
    json(StatusCode::OK, &json!({ "status": "ok" }))
}
