//! The dashboard's stylesheet, script and icon, built into the binary with
//! `include_str!`: the product has no build step for them and no files to
//! find at run time.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::PageError;

/// The whole look of the dashboard.
const CSS: &str = include_str!("static/dashboard.css");

/// The progressive enhancements: confirm dialogs, the project switcher,
/// copy buttons. Every page works without it.
const JS: &str = include_str!("static/dashboard.js");

/// The logo in the top bar and the tab.
const ICON: &str = include_str!("static/icon.svg");

/// `GET /static/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "dashboard.css" => ("text/css; charset=utf-8", CSS),
        "dashboard.js" => ("text/javascript; charset=utf-8", JS),
        "icon.svg" => ("image/svg+xml", ICON),
        _ => return PageError::not_found("There is no such file.").into_page(),
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
