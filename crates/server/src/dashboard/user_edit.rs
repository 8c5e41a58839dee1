//! Changing a user from their page: the profile form (primary email and
//! whether it is verified and signs in, profile image URL, country,
//! restriction) and the metadata form (client, client read-only and server
//! metadata as JSON). Each builds the body `PATCH /users/{id}` would get with
//! server access and goes through that route's own reading and checks
//! ([`users_route::server_patch`]) and [`accounts::update_user`], so the
//! forms take exactly what the API takes and refuse it with the API's
//! message. The display name keeps its own form in `user.rs`.

use axum::extract::{Path, State};
use axum::response::Redirect;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::html::{self, Esc};
use super::security::PostForm;
use super::user_path::{back_to_user, user_id};
use super::{Dashboard, PageError, ProjectContext};
use crate::accounts;
use crate::db::users::UserRecord;
use crate::http::MAX_BODY_BYTES;
use crate::http::routes::users as users_route;
use crate::validate::RequestLine;

/// The metadata fields: form and API field, label, the record's value.
type MetadataField = (
    &'static str,
    &'static str,
    fn(&UserRecord) -> Option<&Value>,
);

const METADATA: [MetadataField; 3] = [
    ("client_metadata", "Client metadata", |u| {
        u.client_metadata.as_ref().map(|j| &j.0)
    }),
    (
        "client_read_only_metadata",
        "Client read-only metadata",
        |u| u.client_read_only_metadata.as_ref().map(|j| &j.0),
    ),
    ("server_metadata", "Server metadata", |u| {
        u.server_metadata.as_ref().map(|j| &j.0)
    }),
];

fn checked(on: bool) -> &'static str {
    if on { " checked" } else { "" }
}

/// The card with the profile form, filled with the user's values.
pub fn profile_form(u: &UserRecord, here: &str, token: &str) -> String {
    let text = |name: &str, label: &str, value: Option<&str>, kind: &str| {
        format!(
            "<label>{label}<input type=\"{kind}\" name=\"{name}\" value=\"{}\" autocomplete=\"off\"></label>",
            Esc(value.unwrap_or_default())
        )
    };
    let check = |name: &str, label: &str, on: bool| {
        format!(
            "<label class=\"check\"><input type=\"checkbox\" name=\"{name}\" value=\"1\"{}> {label}</label>",
            checked(on)
        )
    };
    format!(
        "<section class=\"card\"><h2>Edit profile</h2>\
         <p class=\"muted\">Saved through the same checks as <code>PATCH /users/{{id}}</code>; \
         an empty field clears the value.</p>\
         <form method=\"post\" action=\"{here}/profile\" class=\"stack\" id=\"profile-form\">{csrf}\
         {email}<div class=\"row\">{verified}{auth}</div>{image}{country}\
         {restricted}{reason}{details}\
         <div class=\"row\"><button class=\"btn\" type=\"submit\">Save profile</button></div></form></section>",
        csrf = html::csrf_field(token),
        email = text(
            "primary_email",
            "Primary email",
            u.primary_email.as_deref(),
            "email"
        ),
        verified = check(
            "primary_email_verified",
            "Verified",
            u.primary_email_verified == Some(true)
        ),
        auth = check(
            "primary_email_auth_enabled",
            "Signs in with this email",
            u.primary_email_auth_enabled == Some(true)
        ),
        image = text(
            "profile_image_url",
            "Profile image URL",
            u.profile_image_url.as_deref(),
            "url"
        ),
        country = text(
            "country_code",
            "Country code (ISO 3166-1 alpha-2)",
            u.country_code.as_deref(),
            "text"
        ),
        restricted = check(
            "restricted_by_admin",
            "Restricted by an administrator",
            u.restricted_by_admin
        ),
        reason = text(
            "restricted_by_admin_reason",
            "Restriction reason, shown to the user (only when restricted)",
            u.restricted_by_admin_reason.as_deref(),
            "text"
        ),
        details = text(
            "restricted_by_admin_private_details",
            "Private restriction details (only when restricted)",
            u.restricted_by_admin_private_details.as_deref(),
            "text"
        ),
    )
}

/// The card with the three metadata documents, each editable as JSON.
pub fn metadata_form(u: &UserRecord, here: &str, token: &str) -> String {
    let fields: String = METADATA
        .iter()
        .map(|(name, label, value)| {
            let text = value(u)
                .and_then(|v| serde_json::to_string_pretty(v).ok())
                .unwrap_or_default();
            format!(
                "<label>{label}<textarea name=\"{name}\" rows=\"8\" spellcheck=\"false\" \
                 data-json>{}</textarea></label>",
                Esc(&text)
            )
        })
        .collect();
    format!(
        "<section class=\"card\"><h2>Metadata</h2>\
         <p class=\"muted\">JSON, saved as <code>PATCH /users/{{id}}</code> saves it; an empty box clears it.</p>\
         <form method=\"post\" action=\"{here}/metadata\" class=\"stack\" id=\"metadata-form\">{csrf}\
         <div class=\"meta-grid\">{fields}</div>\
         <div class=\"row\"><button class=\"btn\" type=\"submit\">Save metadata</button></div></form></section>",
        csrf = html::csrf_field(token),
    )
}

/// A form's text field as the API body's value: `null` when empty.
fn text_or_null(form: &PostForm, name: &str) -> Value {
    form.get(name)
        .map_or(Value::Null, |v| Value::String(v.to_owned()))
}

/// `POST …/users/{user_id}/profile`.
pub async fn save_profile(
    State(d): State<Dashboard>,
    Path((project_id, raw_user)): Path<(String, String)>,
    form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let id = user_id(&raw_user)?;
    let mut body = Map::new();
    for name in [
        "primary_email",
        "profile_image_url",
        "country_code",
        "restricted_by_admin_reason",
        "restricted_by_admin_private_details",
    ] {
        body.insert(name.to_owned(), text_or_null(&form, name));
    }
    for name in [
        "primary_email_verified",
        "primary_email_auth_enabled",
        "restricted_by_admin",
    ] {
        body.insert(name.to_owned(), Value::Bool(form.checked(name)));
    }
    apply(&d, &ctx, id, Value::Object(body)).await?;
    Ok(back_to_user(&ctx, id, "user-saved"))
}

/// `POST …/users/{user_id}/metadata`: all three documents, or none when one
/// is not JSON or the whole is larger than the API takes.
pub async fn save_metadata(
    State(d): State<Dashboard>,
    Path((project_id, raw_user)): Path<(String, String)>,
    form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let id = user_id(&raw_user)?;
    let mut body = Map::new();
    for (name, label, _) in METADATA {
        body.insert(name.to_owned(), parse_json(label, form.raw(name))?);
    }
    let body = Value::Object(body);
    let size = serde_json::to_vec(&body).map_or(usize::MAX, |b| b.len());
    if size > MAX_BODY_BYTES {
        return Err(PageError::bad_request(format!(
            "The metadata is {} bytes as JSON; the API takes at most {} bytes in one request. \
             Nothing was saved; make it smaller and save again.",
            html::count(i64::try_from(size).unwrap_or(i64::MAX)),
            html::count(i64::try_from(MAX_BODY_BYTES).unwrap_or(i64::MAX)),
        )));
    }
    apply(&d, &ctx, id, body).await?;
    Ok(back_to_user(&ctx, id, "metadata-saved"))
}

/// One metadata box as JSON: `null` when empty.
fn parse_json(label: &str, text: Option<&str>) -> Result<Value, PageError> {
    // Parsed as sent (JSON allows the surrounding whitespace), so the
    // error's line and column are those of the box.
    match text.filter(|t| !t.trim().is_empty()) {
        None => Ok(Value::Null),
        Some(t) => serde_json::from_str(t).map_err(|e| {
            PageError::bad_request(format!(
                "{label} is not valid JSON: {e}. Nothing was saved; correct it and save again."
            ))
        }),
    }
}

/// Reads `body` as `PATCH /users/{id}` does and applies it.
async fn apply(
    d: &Dashboard,
    ctx: &ProjectContext,
    id: Uuid,
    body: Value,
) -> Result<(), PageError> {
    let line = RequestLine {
        method: "PATCH".to_owned(),
        path: format!("/api/v1/users/{id}"),
    };
    let patch = users_route::server_patch(&ctx.project, body, &line).await?;
    accounts::update_user(&d.state.pool, &ctx.project, id, patch).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_metadata_is_null_and_bad_json_names_the_box_and_the_place() {
        assert_eq!(parse_json("Server metadata", None).ok(), Some(Value::Null));
        assert_eq!(
            parse_json("Server metadata", Some("  \n")).ok(),
            Some(Value::Null)
        );
        assert_eq!(
            parse_json("Server metadata", Some("{\"a\": [1]}")).ok(),
            Some(serde_json::json!({"a": [1]}))
        );
        let e = format!(
            "{:?}",
            parse_json("Server metadata", Some("{\"a\": }")).err()
        );
        assert!(
            e.contains("Server metadata is not valid JSON: expected value at line 1 column 7."),
            "{e}"
        );
    }
}
