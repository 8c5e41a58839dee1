//! `/users` and `/users/{user_id}` (`me` included).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::{self, NewUser, UserPatch, normalize_email};
use crate::auth::{ANY, AccessType, Auth, SERVER_OR_ADMIN};
use crate::db::projects::Project;
use crate::db::user_list::{self, ListQuery, UserOrder};
use crate::db::users::{self, UserRecord};
use crate::error::ApiError;
use crate::http::routes::user_id_or_me;
use crate::http::{Req, json, success};
use crate::known_errors as ke;
use crate::password::{self, MAX_LENGTH};
use crate::secret::Secret;
use crate::state::AppState;
use crate::user_view::user_json;
use crate::validate::{Fields, Patch, RequestLine};

/// Largest page of users.
const MAX_PAGE: i64 = 1000;

/// Which access types may use `/users/{id}` with this id: `me` is open to clients.
fn allowed_for(raw_id: &str) -> &'static [AccessType] {
    if raw_id == "me" { ANY } else { SERVER_OR_ADMIN }
}

async fn load(state: &AppState, auth: &Auth, id: Uuid) -> Result<UserRecord, ApiError> {
    users::find(&state.pool, &auth.project.id, id)
        .await?
        .ok_or_else(|| ke::user_not_found().into())
}

fn render(auth: &Auth, user: &UserRecord) -> Value {
    user_json(user, &auth.project.config, auth.access.view())
}

/// `GET /users/{user_id}`.
///
/// # Errors
/// `USER_NOT_FOUND`, access errors.
pub async fn read(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(allowed_for(&raw_id))?;
    Fields::query(&req.query).finish(&req.line)?;
    let id = user_id_or_me(&raw_id, "params", auth, &req.line)?;
    // Authentication already loaded the signed-in user; reading them again would double the cost of `/users/me`.
    let user = match auth.user.as_ref().filter(|u| u.id == id) {
        Some(user) => user.clone(),
        None => load(&state, auth, id).await?,
    };
    Ok(json(StatusCode::OK, &render(auth, &user)))
}

/// `DELETE /users/{user_id}`.
///
/// # Errors
/// `USER_NOT_FOUND`; clients only when the project allows it.
pub async fn delete(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(allowed_for(&raw_id))?;
    Fields::body(req.body).finish(&req.line)?;
    let id = user_id_or_me(&raw_id, "params", auth, &req.line)?;
    if auth.access == AccessType::Client && !auth.project.config.client_user_deletion_enabled {
        return Err(ApiError::bad_request(
            "Client user deletion is not enabled for this project",
        ));
    }
    if !users::delete(&state.pool, &auth.project.id, id).await? {
        return Err(ke::user_not_found().into());
    }
    Ok(success())
}

/// `GET /users` (server): paginated, searchable, ordered by sign-up time.
///
/// # Errors
/// Schema errors, access errors.
pub async fn list(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let mut q = Fields::query(&req.query);
    let limit = q.opt_i64("limit");
    if limit.is_some_and(|l| l < 1) {
        q.error("limit", "must be greater than or equal to 1");
    }
    let cursor = q.opt_uuid("cursor");
    let order_by = q.opt_one_of("order_by", &["signed_up_at", "last_active_at"]);
    let desc = q.opt_bool("desc").unwrap_or(false);
    let search = q.opt_string("query", None);
    let team_id = q.opt_uuid("team_id");
    let include_restricted = q.opt_bool("include_restricted").unwrap_or(false);
    let include_anonymous = q.opt_bool("include_anonymous").unwrap_or(false);
    let only_anonymous = q.opt_bool("only_anonymous").unwrap_or(false);
    q.finish(&req.line)?;
    if only_anonymous && !include_anonymous {
        return Err(ApiError::bad_request(
            "only_anonymous=true requires include_anonymous=true",
        ));
    }
    let limit = limit.unwrap_or(MAX_PAGE).min(MAX_PAGE);
    let order = match order_by.as_deref() {
        Some("last_active_at") => UserOrder::LastActiveAt,
        _ => UserOrder::SignedUpAt,
    };
    let search = search.as_deref().map(user_list::escape_like);
    let query = ListQuery {
        cursor,
        search: search.as_deref(),
        team_id,
        include_anonymous,
        only_anonymous,
        include_restricted,
        require_verified: auth.project.config.require_email_verification,
        order,
        desc,
        limit: limit + 1,
    };
    let rows = user_list::list(&state.pool, &auth.project.id, &query).await?;
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = rows.get(page).map(|u| u.id);
    let items: Vec<Value> = rows.iter().take(page).map(|u| render(auth, u)).collect();
    Ok(json(
        StatusCode::OK,
        &json!({
            "items": items,
            "is_paginated": true,
            "pagination": { "next_cursor": next_cursor },
        }),
    ))
}

/// `POST /users` (server).
///
/// # Errors
/// Schema errors, `USER_EMAIL_ALREADY_EXISTS`, plain 400s for conflicting fields.
pub async fn create(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let mut f = Fields::body(req.body);
    let fields = read_server_fields(&mut f, false);
    let is_anonymous = f.opt_bool("is_anonymous").unwrap_or(false);
    if f.map_has("oauth_providers") {
        let _ = f.json("oauth_providers");
        f.error("oauth_providers", "is not supported by this server yet");
    }
    f.finish(&req.line)?;
    let project = &auth.project;
    let password_hash = resolve_password(project, &fields).await?;
    if fields.otp_auth_enabled == Some(true) && !project.config.magic_link_enabled {
        return Err(ApiError::bad_request(
            "OTP authentication is not enabled for this project.",
        ));
    }
    let email = match &fields.primary_email {
        Patch::Set(e) => Some(normalize_email(e)),
        _ => None,
    };
    if fields.primary_email_auth_enabled == Some(true) && email.is_none() {
        return Err(ApiError::bad_request(
            "primary_email_auth_enabled cannot be true without primary_email",
        ));
    }
    if fields.primary_email_verified == Some(true) && email.is_none() {
        return Err(ApiError::bad_request(
            "primary_email_verified cannot be true without primary_email",
        ));
    }
    let set = |p: &Patch<String>| match p {
        Patch::Set(s) => Some(s.clone()),
        _ => None,
    };
    let set_json = |p: &Patch<Value>| match p {
        Patch::Set(v) => Some(v.clone()),
        _ => None,
    };
    let new = NewUser {
        display_name: set(&fields.display_name),
        profile_image_url: set(&fields.profile_image_url),
        primary_email: email,
        primary_email_verified: fields.primary_email_verified.unwrap_or(false),
        primary_email_auth_enabled: fields.primary_email_auth_enabled.unwrap_or(false),
        password_hash: match password_hash {
            Patch::Set(h) => Some(h),
            _ => None,
        },
        otp_auth_enabled: fields.otp_auth_enabled.unwrap_or(false),
        passkey_auth_enabled: fields.passkey_auth_enabled.unwrap_or(false),
        totp_secret: match fields.totp_secret {
            Patch::Set(b) => Some(b),
            _ => None,
        },
        is_anonymous,
        client_metadata: set_json(&fields.client_metadata),
        client_read_only_metadata: set_json(&fields.client_read_only_metadata),
        server_metadata: set_json(&fields.server_metadata),
        restricted_by_admin: fields.restricted_by_admin.unwrap_or(false),
        restricted_by_admin_reason: set(&fields.restricted_by_admin_reason),
        restricted_by_admin_private_details: set(&fields.restricted_by_admin_private_details),
        country_code: set(&fields.country_code),
        risk_score_bot: fields.risk_scores.map_or(0, |r| r.0),
        risk_score_free_trial_abuse: fields.risk_scores.map_or(0, |r| r.1),
    };
    if !new.restricted_by_admin
        && (new.restricted_by_admin_reason.is_some()
            || new.restricted_by_admin_private_details.is_some())
    {
        return Err(ApiError::bad_request(
            "restricted_by_admin_reason and restricted_by_admin_private_details can only be set when restricted_by_admin is true.",
        ));
    }
    let user = accounts::create_user_as_created(&state.pool, project, new).await?;
    Ok(json(StatusCode::CREATED, &render(auth, &user)))
}

/// `PATCH /users/{user_id}`.
///
/// # Errors
/// Schema errors and the update errors of [`accounts::update_user`].
pub async fn update(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(allowed_for(&raw_id))?;
    let mut f = Fields::body(req.body);
    let client = auth.access == AccessType::Client;
    let fields = if client {
        read_client_fields(&mut f)
    } else {
        read_server_fields(&mut f, true)
    };
    f.finish(&req.line)?;
    let id = user_id_or_me(&raw_id, "params", auth, &req.line)?;
    let patch = checked_patch(&auth.project, fields, client).await?;
    accounts::update_user(&state.pool, &auth.project, id, patch).await?;
    let user = load(&state, auth, id).await?;
    Ok(json(StatusCode::OK, &render(auth, &user)))
}

/// A `PATCH /users/{user_id}` body as server access sends it, read and
/// checked as that route does, as the patch it would apply. The dashboard's
/// user forms go through this, so they take exactly what the API takes.
///
/// # Errors
/// `SCHEMA_ERROR` (its message names each bad field) and the plain 400s of
/// the route's checks.
pub async fn server_patch(
    project: &Project,
    body: Value,
    line: &RequestLine,
) -> Result<UserPatch, ApiError> {
    let mut f = Fields::body(Some(body));
    let fields = read_server_fields(&mut f, true);
    f.finish(line)?;
    checked_patch(project, fields, false).await
}

/// The checks of an update that go beyond each field's schema, then the
/// patch (a password hashed, the email normalised).
async fn checked_patch(
    project: &Project,
    mut fields: UserFields,
    client: bool,
) -> Result<UserPatch, ApiError> {
    if client {
        if let Patch::Set(url) = &fields.profile_image_url
            && !is_image_data_url(url)
        {
            return Err(ApiError::bad_request("Invalid profile image URL"));
        }
        if fields.passkey_auth_enabled == Some(true) {
            return Err(ApiError::bad_request(
                "Cannot enable passkey authentication without registering a passkey.",
            ));
        }
    }
    if fields.otp_auth_enabled == Some(true) && !project.config.magic_link_enabled {
        return Err(ApiError::bad_request(
            "OTP authentication is not enabled for this project.",
        ));
    }
    let password_hash = resolve_password(project, &fields).await?;
    if let Patch::Set(email) = &fields.primary_email {
        fields.primary_email = Patch::Set(normalize_email(email));
    }
    Ok(UserPatch {
        display_name: fields.display_name,
        profile_image_url: fields.profile_image_url,
        client_metadata: fields.client_metadata,
        client_read_only_metadata: fields.client_read_only_metadata,
        server_metadata: fields.server_metadata,
        primary_email: fields.primary_email,
        primary_email_verified: fields.primary_email_verified,
        primary_email_auth_enabled: fields.primary_email_auth_enabled,
        password_hash,
        otp_auth_enabled: fields.otp_auth_enabled,
        passkey_auth_enabled: fields.passkey_auth_enabled,
        totp_secret: fields.totp_secret,
        selected_team_id: fields.selected_team_id,
        is_anonymous: fields.is_anonymous,
        restricted_by_admin: fields.restricted_by_admin,
        restricted_by_admin_reason: fields.restricted_by_admin_reason,
        restricted_by_admin_private_details: fields.restricted_by_admin_private_details,
        country_code: fields.country_code,
        risk_scores: fields.risk_scores,
    })
}

/// Every field a create or update body may carry, as read from the request.
#[derive(Debug)]
struct UserFields {
    display_name: Patch<String>,
    profile_image_url: Patch<String>,
    client_metadata: Patch<Value>,
    client_read_only_metadata: Patch<Value>,
    server_metadata: Patch<Value>,
    primary_email: Patch<String>,
    primary_email_verified: Option<bool>,
    primary_email_auth_enabled: Option<bool>,
    password: Patch<String>,
    password_hash: Option<String>,
    otp_auth_enabled: Option<bool>,
    passkey_auth_enabled: Option<bool>,
    totp_secret: Patch<Vec<u8>>,
    selected_team_id: Patch<Uuid>,
    is_anonymous: Option<bool>,
    restricted_by_admin: Option<bool>,
    restricted_by_admin_reason: Patch<String>,
    restricted_by_admin_private_details: Patch<String>,
    country_code: Patch<String>,
    risk_scores: Option<(i32, i32)>,
}

fn read_client_fields(f: &mut Fields) -> UserFields {
    UserFields {
        display_name: f.nullable_string("display_name", Some(256)),
        profile_image_url: f.nullable_url_text("profile_image_url"),
        client_metadata: f.json("client_metadata"),
        client_read_only_metadata: Patch::Absent,
        server_metadata: Patch::Absent,
        primary_email: f.nullable_loose_email("primary_email"),
        primary_email_verified: None,
        primary_email_auth_enabled: None,
        password: Patch::Absent,
        password_hash: None,
        otp_auth_enabled: f.opt_bool("otp_auth_enabled"),
        passkey_auth_enabled: f.opt_bool("passkey_auth_enabled"),
        totp_secret: read_totp(f),
        selected_team_id: read_team(f),
        is_anonymous: None,
        restricted_by_admin: None,
        restricted_by_admin_reason: Patch::Absent,
        restricted_by_admin_private_details: Patch::Absent,
        country_code: Patch::Absent,
        risk_scores: None,
    }
}

fn read_server_fields(f: &mut Fields, update: bool) -> UserFields {
    let mut fields = read_client_fields(f);
    if !update {
        // Creating a user has no selected team yet.
        fields.selected_team_id = Patch::Absent;
    }
    fields.client_read_only_metadata = f.json("client_read_only_metadata");
    fields.server_metadata = f.json("server_metadata");
    fields.primary_email_verified = f.opt_bool("primary_email_verified");
    fields.primary_email_auth_enabled = f.opt_bool("primary_email_auth_enabled");
    fields.password = f.nullable_string("password", Some(MAX_LENGTH));
    fields.password_hash = f.opt_string("password_hash", None);
    if update {
        fields.is_anonymous = f.opt_bool("is_anonymous");
        if fields.is_anonymous == Some(true) {
            f.error("is_anonymous", "must be one of the following values: false");
        }
    }
    fields.restricted_by_admin = f.opt_bool("restricted_by_admin");
    fields.restricted_by_admin_reason = f.nullable_string("restricted_by_admin_reason", None);
    fields.restricted_by_admin_private_details =
        f.nullable_string("restricted_by_admin_private_details", None);
    fields.country_code = match f.nullable_string("country_code", None) {
        Patch::Set(code) if code.len() == 2 && code.chars().all(|c| c.is_ascii_alphabetic()) => {
            Patch::Set(code.to_ascii_uppercase())
        }
        Patch::Set(_) => {
            f.error(
                "country_code",
                "must be a valid ISO 3166-1 alpha-2 country code",
            );
            Patch::Absent
        }
        other => other,
    };
    fields.risk_scores = match f.json("risk_scores") {
        Patch::Set(v) => {
            let score = |k: &str| {
                v["sign_up"][k]
                    .as_i64()
                    .filter(|s| (0..=100).contains(s))
                    .and_then(|s| i32::try_from(s).ok())
            };
            match (score("bot"), score("free_trial_abuse")) {
                (Some(bot), Some(abuse)) => Some((bot, abuse)),
                _ => {
                    f.error("risk_scores", "must be { sign_up: { bot, free_trial_abuse } } with integers from 0 to 100");
                    None
                }
            }
        }
        _ => None,
    };
    fields
}

fn read_totp(f: &mut Fields) -> Patch<Vec<u8>> {
    match f.nullable_string("totp_secret_base64", None) {
        Patch::Set(s) => match base64::engine::general_purpose::STANDARD.decode(&s) {
            Ok(bytes) => Patch::Set(bytes),
            Err(_) => {
                f.error("totp_secret_base64", "is not valid base64");
                Patch::Absent
            }
        },
        Patch::Null => Patch::Null,
        Patch::Absent => Patch::Absent,
    }
}

fn read_team(f: &mut Fields) -> Patch<Uuid> {
    match f.nullable_string("selected_team_id", None) {
        Patch::Set(s) => match Uuid::parse_str(&s) {
            Ok(id) => Patch::Set(id),
            Err(_) => {
                f.error("selected_team_id", "must be a valid UUID");
                Patch::Absent
            }
        },
        Patch::Null => Patch::Null,
        Patch::Absent => Patch::Absent,
    }
}

/// Turns `password` / `password_hash` into the hash to store.
async fn resolve_password(
    project: &Project,
    fields: &UserFields,
) -> Result<Patch<Secret<String>>, ApiError> {
    let wants_password = matches!(fields.password, Patch::Set(_)) || fields.password_hash.is_some();
    if wants_password && !project.config.credential_enabled {
        return Err(ApiError::bad_request(
            "Password authentication is not enabled for this project.",
        ));
    }
    match (&fields.password, &fields.password_hash) {
        (Patch::Set(_), Some(_)) => Err(ApiError::bad_request(
            "Cannot set both password and password_hash at the same time.",
        )),
        (Patch::Set(pw), None) => {
            password::check_rules(pw)?;
            Ok(Patch::Set(password::hash(Secret::new(pw.clone())).await?))
        }
        (_, Some(hash)) => {
            if !password::is_supported_hash(hash) {
                return Err(ApiError::bad_request(
                    "Invalid password hash. Make sure it's a supported algorithm in Modular Crypt Format.",
                ));
            }
            Ok(Patch::Set(Secret::new(hash.clone())))
        }
        (Patch::Null, None) => Ok(Patch::Null),
        (Patch::Absent, None) => Ok(Patch::Absent),
    }
}

fn is_image_data_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("data:image/") else {
        return false;
    };
    let Some((kind, data)) = rest.split_once(";base64,") else {
        return false;
    };
    ["png", "jpg", "jpeg", "gif", "bmp", "webp"].contains(&kind)
        && base64::engine::general_purpose::STANDARD
            .decode(data)
            .is_ok()
}
