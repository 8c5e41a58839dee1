//! `GET /api/v1`: a greeting that also shows how the request authenticated.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::auth::AccessType;
use crate::error::ApiError;
use crate::http::Req;
use crate::validate::Fields;

/// Handles `GET /api/v1`.
///
/// # Errors
/// Unknown query parameters.
pub async fn get(req: Req) -> Result<Response, ApiError> {
    Fields::query(&req.query).finish(&req.line)?;
    let mut text = "Welcome to the Stack API endpoint! Please refer to the documentation at https://docs.stack-auth.com.\n\nAuthentication: ".to_owned();
    match &req.auth.0 {
        None => text.push_str("None"),
        Some(auth) => {
            let kind = match auth.access {
                AccessType::Client => "Client",
                AccessType::Server => "Server",
                AccessType::Admin => "Admin",
            };
            let user = auth
                .user
                .as_ref()
                .map(|u| u.primary_email.clone().unwrap_or_else(|| u.id.to_string()))
                .unwrap_or_else(|| "None".into());
            text.push_str(&format!(
                "{kind}\n  Project: {}\n  User: {user}",
                auth.project.id
            ));
        }
    }
    Ok((
        StatusCode::OK,
        [("content-type", "text/plain; charset=utf-8")],
        text,
    )
        .into_response())
}
