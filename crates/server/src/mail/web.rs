//! The mail sink's HTTP listener: a web page to read mail and a JSON API for
//! tests and scripts (modelled on Inbucket's), plus `GET /health`.
//!
//! Routes (a mailbox is a full, lower-cased recipient address):
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | HTML: the mailboxes |
//! | `GET /m/{mailbox}` | HTML: its messages, newest first (`?before=<id>` pages) |
//! | `GET /m/{mailbox}/{id}` | HTML: one message, text and HTML views |
//! | `GET /api/v1/mailboxes` | `[{"name", "count", "latest"}]` |
//! | `GET /api/v1/mailbox/{mailbox}?limit=&before=` | `{"items": [summary], "next_before": id or null}` |
//! | `GET /api/v1/mailbox/{mailbox}/{id}` | summary plus `"body": {"text", "html"}` |
//! | `GET /api/v1/mailbox/{mailbox}/{id}/source` | the raw message |
//! | `DELETE /api/v1/mailbox/{mailbox}/{id}` | `{"deleted": 1}` (404 when missing) |
//! | `DELETE /api/v1/mailbox/{mailbox}` | `{"deleted": n}` |
//! | `DELETE /api/v1/messages` | `{"deleted": n}`: every mailbox |
//!
//! HTML mail is never rendered into the page itself: it goes into an iframe's
//! `srcdoc` with an empty `sandbox` (no scripts, no forms, no same-origin), and
//! every page carries a restrictive Content-Security-Policy, which the iframe
//! inherits: nothing is loaded from elsewhere, not even the remote images of a
//! mail (a mail's tracking pixel must not tell anyone that it was read).
//!
//! The router answers only requests whose `Host` is a loopback name
//! (`localhost`, `*.localhost`, `127.x.y.z`, `[::1]`, any port) or one of the
//! names it is given (the host of the public mail URL); others get 421 from the
//! guard of [`crate::host`]. Without that check, a web page whose DNS name is
//! rebound to 127.0.0.1 would be same-origin with the sink in the developer's
//! browser and could read every sign-in code. Every response, refusals
//! included, carries `X-Content-Type-Options: nosniff`, so that a raw message
//! (`…/source`, served as text/plain) is never sniffed into HTML or script.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::db::is_connection_error;
use crate::db::mail::{self as store, MAX_PAGE, Summary};
use crate::host::AllowedHosts;
use crate::mail::templates::escape_html;

/// Messages per listing when the caller does not say.
const DEFAULT_PAGE: i64 = 50;

/// Policy of the web pages, inherited by the iframe that shows a mail's HTML:
/// inline styles, and images only from data: URLs (inline images of a mail) or
/// the sink itself; no scripts, no remote images, nothing else.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Headers every response of the sink carries.
async fn security_headers(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// What the sink's handlers share.
#[derive(Debug, Clone)]
pub struct WebState {
    pool: PgPool,
}

/// The sink's router, answering loopback names only.
pub fn router(pool: PgPool) -> Router {
    router_for(pool, AllowedHosts::default())
}

/// The sink's router, answering loopback names and the names in `hosts`.
pub fn router_for(pool: PgPool, hosts: AllowedHosts) -> Router {
    let router = Router::new()
        .route("/health", get(health))
        .route("/", get(index_page))
        .route("/m/{mailbox}", get(mailbox_page))
        .route("/m/{mailbox}/{id}", get(message_page))
        .route("/api/v1/mailboxes", get(list_mailboxes))
        .route(
            "/api/v1/mailbox/{mailbox}",
            get(list_messages).delete(purge_mailbox),
        )
        .route(
            "/api/v1/mailbox/{mailbox}/{id}",
            get(read_message).delete(delete_message),
        )
        .route("/api/v1/mailbox/{mailbox}/{id}/source", get(read_source))
        .route("/api/v1/messages", axum::routing::delete(purge_all))
        .with_state(WebState { pool });
    hosts
        .guard_router(router)
        .layer(map_response(security_headers))
}

/// An error of the sink's API: a status and a JSON `{"error": …}` body.
#[derive(Debug)]
struct SinkError {
    status: StatusCode,
    message: String,
}

impl SinkError {
    fn not_found(what: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!("{what} not found"),
        }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for SinkError {
    fn from(e: sqlx::Error) -> Self {
        if is_connection_error(&e) {
            Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "the database is unavailable".into(),
            }
        } else {
            tracing::error!(error = %e, "mail sink query failed");
            Self {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "internal error".into(),
            }
        }
    }
}

impl IntoResponse for SinkError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

async fn health() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// Paging parameters of a listing.
#[derive(Debug, Deserialize)]
struct Page {
    limit: Option<String>,
    before: Option<String>,
}

impl Page {
    fn parse(&self) -> Result<(i64, Option<i64>), SinkError> {
        let limit = match &self.limit {
            None => DEFAULT_PAGE,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ => {
                    return Err(SinkError::bad_request(format!(
                        "limit must be a whole number from 1 to {MAX_PAGE}"
                    )));
                }
            },
        };
        let before = match &self.before {
            None => None,
            Some(raw) => Some(
                raw.parse::<i64>()
                    .map_err(|_| SinkError::bad_request("before must be a message id"))?,
            ),
        };
        Ok((limit, before))
    }
}

fn parse_id(raw: &str) -> Result<i64, SinkError> {
    raw.parse()
        .map_err(|_| SinkError::bad_request("the message id must be a number"))
}

fn summary_json(s: &Summary) -> Value {
    json!({
        "id": s.id,
        "mailbox": s.mailbox,
        "from": s.sender,
        "to": s.recipients,
        "subject": s.subject,
        "date": s.received_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "size": s.size_bytes,
    })
}

/// One page of a mailbox and the cursor of the next (the last id, when the page is full).
async fn page_of(
    pool: &PgPool,
    mailbox: &str,
    page: &Page,
) -> Result<(Vec<Summary>, Option<i64>), SinkError> {
    let (limit, before) = page.parse()?;
    let items = store::list(pool, mailbox, before, limit).await?;
    let next = (i64::try_from(items.len()).unwrap_or(0) == limit)
        .then(|| items.last().map(|s| s.id))
        .flatten();
    Ok((items, next))
}

async fn list_mailboxes(State(state): State<WebState>) -> Result<Response, SinkError> {
    let boxes = store::mailboxes(&state.pool).await?;
    let items: Vec<Value> = boxes
        .iter()
        .map(|b| {
            json!({
                "name": b.mailbox,
                "count": b.count,
                "latest": b.latest.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            })
        })
        .collect();
    Ok(axum::Json(Value::Array(items)).into_response())
}

async fn list_messages(
    State(state): State<WebState>,
    Path(mailbox): Path<String>,
    Query(page): Query<Page>,
) -> Result<Response, SinkError> {
    let (items, next) = page_of(&state.pool, &mailbox, &page).await?;
    let items: Vec<Value> = items.iter().map(summary_json).collect();
    Ok(axum::Json(json!({ "items": items, "next_before": next })).into_response())
}

async fn read_message(
    State(state): State<WebState>,
    Path((mailbox, id)): Path<(String, String)>,
) -> Result<Response, SinkError> {
    let id = parse_id(&id)?;
    let message = store::get(&state.pool, &mailbox, id)
        .await?
        .ok_or_else(|| SinkError::not_found("message"))?;
    let mut value = summary_json(&message.summary);
    value["body"] = json!({ "text": message.text_body, "html": message.html_body });
    Ok(axum::Json(value).into_response())
}

async fn read_source(
    State(state): State<WebState>,
    Path((mailbox, id)): Path<(String, String)>,
) -> Result<Response, SinkError> {
    let id = parse_id(&id)?;
    let raw = store::source(&state.pool, &mailbox, id)
        .await?
        .ok_or_else(|| SinkError::not_found("message"))?;
    // text/plain, so that a browser shows the source instead of interpreting it.
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], raw).into_response())
}

async fn delete_message(
    State(state): State<WebState>,
    Path((mailbox, id)): Path<(String, String)>,
) -> Result<Response, SinkError> {
    let id = parse_id(&id)?;
    if !store::delete(&state.pool, &mailbox, id).await? {
        return Err(SinkError::not_found("message"));
    }
    Ok(axum::Json(json!({ "deleted": 1 })).into_response())
}

async fn purge_mailbox(
    State(state): State<WebState>,
    Path(mailbox): Path<String>,
) -> Result<Response, SinkError> {
    let deleted = store::purge_mailbox(&state.pool, &mailbox).await?;
    Ok(axum::Json(json!({ "deleted": deleted })).into_response())
}

async fn purge_all(State(state): State<WebState>) -> Result<Response, SinkError> {
    let deleted = store::purge_all(&state.pool).await?;
    Ok(axum::Json(json!({ "deleted": deleted })).into_response())
}

/// A complete page with the sink's security headers.
fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{} · mail sink</title><style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;width:100%}}td,th{{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd}}pre{{white-space:pre-wrap;background:#f6f6f6;padding:1em}}iframe{{width:100%;height:30em;border:1px solid #ccc}}</style></head><body>{body}</body></html>",
        escape_html(title)
    );
    let mut response = axum::response::Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A path segment for a mailbox name in a link.
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn index_page(State(state): State<WebState>) -> Result<Response, SinkError> {
    let boxes = store::mailboxes(&state.pool).await?;
    let rows: String = boxes
        .iter()
        .map(|b| {
            format!(
                "<tr><td><a href=\"/m/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                segment(&b.mailbox),
                escape_html(&b.mailbox),
                b.count,
                b.latest.format("%Y-%m-%d %H:%M:%S UTC"),
            )
        })
        .collect();
    let body = if boxes.is_empty() {
        "<h1>Mail sink</h1><p>No mail yet. Every mail the server sends shows up here.</p>"
            .to_owned()
    } else {
        format!(
            "<h1>Mail sink</h1><table><tr><th>mailbox</th><th>messages</th><th>latest</th></tr>{rows}</table>"
        )
    };
    Ok(page("Mailboxes", &body))
}

async fn mailbox_page(
    State(state): State<WebState>,
    Path(mailbox): Path<String>,
    Query(paging): Query<Page>,
) -> Result<Response, SinkError> {
    let (items, next) = page_of(&state.pool, &mailbox, &paging).await?;
    let rows: String = items
        .iter()
        .map(|m| {
            format!(
                "<tr><td><a href=\"/m/{}/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                segment(&m.mailbox),
                m.id,
                escape_html(if m.subject.is_empty() {
                    "(no subject)"
                } else {
                    &m.subject
                }),
                escape_html(&m.sender),
                m.received_at.format("%Y-%m-%d %H:%M:%S UTC"),
            )
        })
        .collect();
    let more = next
        .map(|id| {
            format!(
                "<p><a href=\"/m/{}?before={id}\">older</a></p>",
                segment(&mailbox)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<p><a href=\"/\">mailboxes</a></p><h1>{}</h1><table><tr><th>subject</th><th>from</th><th>received</th></tr>{rows}</table>{more}",
        escape_html(&store::mailbox_name(&mailbox))
    );
    Ok(page(&mailbox, &body))
}

async fn message_page(
    State(state): State<WebState>,
    Path((mailbox, id)): Path<(String, String)>,
) -> Result<Response, SinkError> {
    let id = parse_id(&id)?;
    let message = store::get(&state.pool, &mailbox, id)
        .await?
        .ok_or_else(|| SinkError::not_found("message"))?;
    let s = &message.summary;
    let text = message
        .text_body
        .as_deref()
        .map(|t| format!("<h2>Text</h2><pre>{}</pre>", escape_html(t)))
        .unwrap_or_default();
    // The mail's HTML goes, escaped, into srcdoc of an iframe sandboxed without
    // any permission: it renders, but cannot run scripts or reach this origin.
    let html = message
        .html_body
        .as_deref()
        .map(|h| {
            format!(
                "<h2>HTML</h2><iframe sandbox=\"\" referrerpolicy=\"no-referrer\" srcdoc=\"{}\"></iframe>",
                escape_html(h)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<p><a href=\"/\">mailboxes</a> · <a href=\"/m/{mb}\">{mailbox}</a> · <a href=\"/api/v1/mailbox/{mb}/{id}/source\">source</a></p><h1>{subject}</h1><table><tr><th>from</th><td>{from}</td></tr><tr><th>to</th><td>{to}</td></tr><tr><th>received</th><td>{date}</td></tr><tr><th>size</th><td>{size} bytes</td></tr></table>{text}{html}",
        mb = segment(&s.mailbox),
        mailbox = escape_html(&s.mailbox),
        subject = escape_html(&s.subject),
        from = escape_html(&s.sender),
        to = escape_html(&s.recipients.join(", ")),
        date = s.received_at.format("%Y-%m-%d %H:%M:%S UTC"),
        size = s.size_bytes,
    );
    Ok(page(&s.subject, &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn every_answer_is_nosniff() {
        // Never connected: the routes used here do not query.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("a lazy pool");
        for (path, status) in [
            ("/health", StatusCode::OK),
            ("/no/such/page", StatusCode::NOT_FOUND),
            ("/api/v1/mailbox/a@b.co/x", StatusCode::BAD_REQUEST),
        ] {
            let request = axum::http::Request::builder()
                .uri(path)
                .body(axum::body::Body::empty())
                .expect("a request");
            let response = router(pool.clone())
                .oneshot(request)
                .await
                .expect("an answer");
            assert_eq!(response.status(), status, "{path}");
            assert_eq!(
                response.headers().get(header::X_CONTENT_TYPE_OPTIONS),
                Some(&HeaderValue::from_static("nosniff")),
                "{path}"
            );
        }
    }

    async fn status_for(router: Router, host: &str) -> StatusCode {
        let request = axum::http::Request::builder()
            .uri("/health")
            .header(header::HOST, host)
            .body(axum::body::Body::empty())
            .expect("a request");
        let response = router.oneshot(request).await.expect("an answer");
        assert_eq!(
            response.headers().get(header::X_CONTENT_TYPE_OPTIONS),
            Some(&HeaderValue::from_static("nosniff")),
            "{host}"
        );
        response.status()
    }

    #[tokio::test]
    async fn only_loopback_names_and_the_given_hosts_are_answered() {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("a lazy pool");
        let loopback = router(pool.clone());
        for host in [
            "localhost:8105",
            "mail.localhost",
            "127.1.2.3:80",
            "[::1]:26703",
        ] {
            assert_eq!(
                status_for(loopback.clone(), host).await,
                StatusCode::OK,
                "{host}"
            );
        }
        for host in ["rebound.example.com", "mail.example.test:8105", "10.0.2.15"] {
            assert_eq!(
                status_for(loopback.clone(), host).await,
                StatusCode::MISDIRECTED_REQUEST,
                "{host}"
            );
        }
        let public = router_for(pool, AllowedHosts::new(["http://mail.example.test:8105"]));
        assert_eq!(
            status_for(public.clone(), "mail.example.test:8105").await,
            StatusCode::OK
        );
        assert_eq!(
            status_for(public, "rebound.example.com").await,
            StatusCode::MISDIRECTED_REQUEST
        );
    }

    #[test]
    fn pages_load_no_remote_images() {
        let img = PAGE_CSP
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("img-src"))
            .expect("an img-src directive");
        assert_eq!(img, "img-src 'self' data:");
    }
}
