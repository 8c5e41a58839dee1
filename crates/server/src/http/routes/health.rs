//! `GET /health` (and `?db=1`, which also asks PostgreSQL).
//!
//! The answer is 200 `{"status": "ok"}` when every part checked works, and
//! otherwise 503 with `"status": "error"` and one key per part that is down:
//! `"mail_sender": "stopped"` when the task that delivers outbound mail has
//! ended (every mail is then dropped), and `"database"` with `?db=1`.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::http::json;
use crate::mail::outbound::MailerState;
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
    let mut problems = Map::new();
    if state.mailer.state() == MailerState::Stopped {
        problems.insert("mail_sender".into(), json!("stopped"));
    }
    if q.db.as_deref().is_some_and(|v| v == "1" || v == "true") {
        let check = crate::db::ping(&state.pool);
        match tokio::time::timeout(DB_CHECK_TIMEOUT, check).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                problems.insert("database".into(), json!("unavailable"));
                problems.insert("error".into(), json!(e.to_string()));
            }
            Err(_) => {
                problems.insert("database".into(), json!("timeout"));
            }
        }
    }
    if problems.is_empty() {
        return json(StatusCode::OK, &json!({ "status": "ok" }));
    }
    problems.insert("status".into(), json!("error"));
    json(StatusCode::SERVICE_UNAVAILABLE, &Value::Object(problems))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::outbound::{Mailer, SmtpUrl};
    use crate::state::ServeSettings;

    fn state_with(mailer: Mailer) -> AppState {
        // Never connected: without `?db=1` the handler does not query.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("a lazy pool");
        let settings = ServeSettings {
            default_public_api_url: "http://localhost:8102".into(),
            access_token_ttl: Duration::from_secs(600),
            local_emulator: false,
            mail: crate::state::MailSettings::default(),
            oauth: crate::state::OAuthSettings::default(),
            dashboard_listen: None,
        };
        AppState::new(pool, settings, mailer)
    }

    async fn body_of(response: Response) -> Value {
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("a body")
            .to_bytes();
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[tokio::test]
    async fn a_mail_sender_whose_task_died_is_reported() {
        let target = SmtpUrl::parse("smtp://127.0.0.1:9").expect("a URL");
        let from = "noreply@stack-emulator.localhost"
            .parse()
            .expect("an address");
        let (mailer, delivery) = Mailer::new(target, from);
        let state = state_with(mailer);
        let query = || Query(HealthQuery { db: None });

        let response = get(State(state.clone()), query()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_of(response).await, json!({ "status": "ok" }));

        let task = tokio::spawn(async move {
            let _delivery = delivery;
            panic!("the delivery task fails");
        });
        assert!(task.await.is_err_and(|e| e.is_panic()));
        let response = get(State(state), query()).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body_of(response).await,
            json!({ "status": "error", "mail_sender": "stopped" })
        );
    }

    #[tokio::test]
    async fn a_server_without_mail_is_healthy() {
        let response = get(
            State(state_with(Mailer::disabled())),
            Query(HealthQuery { db: None }),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}
