//! `/teams` and `/teams/{team_id}`, plus the request parsing the three team
//! resources share (path ids, `me`, image URLs, who calls).
//!
//! Schema problems are reported as Stack Auth's CRUD handler orders them:
//! body, then path parameters, then query, in one `SCHEMA_ERROR`; a `me`
//! without a signed-in user is refused after that.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use uuid::Uuid;

use super::uuid_param;
use crate::auth::{ANY, AccessType, Auth};
use crate::db::teams::TeamRecord;
use crate::error::ApiError;
use crate::http::{Req, json, list_response, success};
use crate::state::AppState;
use crate::teams::{self, Caller, CreateTeam, TeamPatch, image};
use crate::user_view::team_json;
use crate::validate::{Fields, Patch};

/// Who calls, as the team domain needs it.
pub(crate) fn caller(auth: &Auth) -> Caller {
    Caller {
        client: auth.access == AccessType::Client,
        user: auth.user.as_ref().map(|u| u.id),
    }
}

/// A user id as a request gives it: `me` or a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserRef {
    /// The signed-in user.
    Me,
    /// That user.
    Id(Uuid),
}

impl UserRef {
    /// The id, `me` resolved to the signed-in user.
    ///
    /// # Errors
    /// `CANNOT_GET_OWN_USER_WITHOUT_USER` for `me` without a user.
    pub(crate) fn resolve(self, auth: &Auth) -> Result<Uuid, ApiError> {
        match self {
            Self::Me => Ok(auth.me()?.id),
            Self::Id(id) => Ok(id),
        }
    }
}

/// Parses a `user_id` path parameter: `me` or a UUID.
pub(crate) fn user_param(problems: &mut Fields, raw: &str) -> UserRef {
    if raw == "me" {
        UserRef::Me
    } else {
        UserRef::Id(uuid_param(problems, "user_id", raw))
    }
}

/// Adds a `{team_id}/{user_id}` path to `problems`, then the query that
/// `read_query` checks (returning the user it names, if any), and reports
/// them; returns the path's team and user. A `me` is resolved in the path,
/// then in the query (even where the query is otherwise ignored).
///
/// # Errors
/// `SCHEMA_ERROR`, then `CANNOT_GET_OWN_USER_WITHOUT_USER`.
pub(crate) fn finish_member_request(
    req: &Req,
    auth: &Auth,
    raw: &(String, String),
    mut problems: Fields,
    read_query: impl FnOnce(&Req, &mut Fields) -> Option<UserRef>,
) -> Result<(Uuid, Uuid), ApiError> {
    let team_id = uuid_param(&mut problems, "team_id", &raw.0);
    let user = user_param(&mut problems, &raw.1);
    let query_user = read_query(req, &mut problems);
    problems.finish(&req.line)?;
    let user_id = user.resolve(auth)?;
    resolve_opt(query_user, auth)?;
    Ok((team_id, user_id))
}

/// An optional `me`-or-UUID field of a body or query.
pub(crate) fn opt_user_field(f: &mut Fields, key: &str) -> Option<UserRef> {
    match f.opt_string(key, None)?.as_str() {
        "me" => Some(UserRef::Me),
        raw => match Uuid::parse_str(raw) {
            Ok(id) => Some(UserRef::Id(id)),
            Err(_) => {
                f.error(key, "must be a valid UUID");
                None
            }
        },
    }
}

/// Resolves an optional `me`-or-UUID value.
pub(crate) fn resolve_opt(user: Option<UserRef>, auth: &Auth) -> Result<Option<Uuid>, ApiError> {
    user.map(|u| u.resolve(auth)).transpose()
}

/// An image URL field for a PATCH (Stack Auth's `urlSchema`, at most
/// 1,000,000 characters; whether the URL is acceptable as an image is
/// [`image`]'s business).
pub(crate) fn image_url_field(f: &mut Fields, key: &str) -> Patch<String> {
    let value = f.nullable_string(key, Some(image::MAX_IMAGE_BYTES));
    if let Patch::Set(url) = &value {
        if url.contains(' ') {
            f.error(key, "contains spaces");
            return Patch::Absent;
        }
        if url::Url::parse(url).is_err() {
            f.error(key, "is not a valid URL");
            return Patch::Absent;
        }
    }
    value
}

/// A string field that may be absent but not null.
pub(crate) fn opt_non_null_string(f: &mut Fields, key: &str) -> Option<String> {
    match f.nullable_string(key, None) {
        Patch::Set(s) => Some(s),
        Patch::Null => {
            f.error(key, "cannot be null");
            None
        }
        Patch::Absent => None,
    }
}

/// The query every team operation accepts: `user_id` (a filter of the
/// list) and the deprecated `add_current_user` (used by create).
struct TeamQuery {
    user_id: Option<UserRef>,
    add_current_user: Option<bool>,
}

fn read_query(req: &Req, problems: &mut Fields) -> TeamQuery {
    let mut q = Fields::query(&req.query);
    let user_id = opt_user_field(&mut q, "user_id");
    let add_current_user = q
        .opt_one_of("add_current_user", &["true", "false"])
        .map(|v| v == "true");
    q.finish_into(problems);
    TeamQuery {
        user_id,
        add_current_user,
    }
}

fn render(auth: &Auth, team: &TeamRecord) -> Value {
    team_json(team, auth.access.view())
}

/// An empty collector for the schema problems of a whole request (body,
/// path parameters, query), reported together by its `finish`.
pub(crate) fn problems() -> Fields {
    Fields::query(&[])
}

/// The body of a request, moved out of it, and whether one was sent.
pub(crate) fn take_body(req: &mut Req) -> (Fields, bool) {
    let body = req.body.take();
    let sent = body.is_some();
    (Fields::body(body), sent)
}

/// Moves the problems of a body that must be an object into `problems`: only
/// `body must be defined` when there was no body (its fields are then not
/// looked at, as in yup).
pub(crate) fn finish_body(f: Fields, sent: bool, problems: &mut Fields) {
    if sent {
        f.finish_into(problems);
    } else {
        problems.error_line("body must be defined");
    }
}

/// The metadata fields of a team body.
struct MetadataFields {
    client: Patch<Value>,
    client_read_only: Patch<Value>,
    server: Patch<Value>,
}

/// Reads the metadata fields of a create or update body; a client's body
/// may carry only `client_metadata` (the other two are not read, so they
/// count as unknown fields).
fn metadata_fields(f: &mut Fields, trusted: bool) -> MetadataFields {
    let client = f.json("client_metadata");
    let (client_read_only, server) = if trusted {
        (
            f.json("client_read_only_metadata"),
            f.json("server_metadata"),
        )
    } else {
        (Patch::Absent, Patch::Absent)
    };
    MetadataFields {
        client,
        client_read_only,
        server,
    }
}

/// `GET /teams`.
///
/// # Errors
/// Schema errors and those of [`teams::list_teams`].
pub async fn list(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut problems = problems();
    let query = read_query(&req, &mut problems);
    problems.finish(&req.line)?;
    let user_id = resolve_opt(query.user_id, auth)?;
    let items = teams::list_teams(&state.pool, &auth.project, caller(auth), user_id).await?;
    let items: Vec<Value> = items.iter().map(|t| render(auth, t)).collect();
    Ok(list_response(items))
}

/// `POST /teams`.
///
/// # Errors
/// Schema errors and those of [`teams::create_team`].
pub async fn create(State(state): State<AppState>, mut req: Req) -> Result<Response, ApiError> {
    let (mut f, sent) = take_body(&mut req);
    let auth = req.auth.require(ANY)?;
    let trusted = auth.access != AccessType::Client;
    let mut problems = problems();
    let display_name = f.req_string("display_name", None);
    let profile_image_url = image_url_field(&mut f, "profile_image_url");
    let metadata = metadata_fields(&mut f, trusted);
    let creator = opt_user_field(&mut f, "creator_user_id");
    finish_body(f, sent, &mut problems);
    let query = read_query(&req, &mut problems);
    problems.finish(&req.line)?;
    let set = |p: Patch<Value>| match p {
        Patch::Set(v) => Some(v),
        Patch::Null | Patch::Absent => None,
    };
    let new = CreateTeam {
        display_name,
        profile_image_url: match profile_image_url {
            Patch::Set(url) => Some(url),
            Patch::Null | Patch::Absent => None,
        },
        client_metadata: set(metadata.client),
        client_read_only_metadata: set(metadata.client_read_only),
        server_metadata: set(metadata.server),
        creator_user_id: resolve_opt(creator, auth)?,
        add_current_user: query.add_current_user,
    };
    resolve_opt(query.user_id, auth)?;
    let team = teams::create_team(&state.pool, &auth.project, caller(auth), new).await?;
    Ok(json(StatusCode::CREATED, &render(auth, &team)))
}

/// Adds the path and query of an operation on one team to `problems` and
/// reports them; returns the path's team. The query is Stack Auth's shared
/// one: checked, and otherwise ignored.
///
/// # Errors
/// `SCHEMA_ERROR`; `CANNOT_GET_OWN_USER_WITHOUT_USER` for a query `me`
/// without a user, refused even though the query is ignored.
fn finish_one_team(
    req: &Req,
    auth: &Auth,
    raw_id: &str,
    mut problems: Fields,
) -> Result<Uuid, ApiError> {
    let team_id = uuid_param(&mut problems, "team_id", raw_id);
    let query = read_query(req, &mut problems);
    problems.finish(&req.line)?;
    resolve_opt(query.user_id, auth)?;
    Ok(team_id)
}

/// `GET /teams/{team_id}`.
///
/// # Errors
/// Schema errors and those of [`teams::read_team`].
pub async fn read(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let team_id = finish_one_team(&req, auth, &raw_id, problems())?;
    let team = teams::read_team(&state.pool, &auth.project, caller(auth), team_id).await?;
    Ok(json(StatusCode::OK, &render(auth, &team)))
}

/// `PATCH /teams/{team_id}`.
///
/// # Errors
/// Schema errors and those of [`teams::update_team`].
pub async fn update(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    mut req: Req,
) -> Result<Response, ApiError> {
    let (mut f, sent) = take_body(&mut req);
    let auth = req.auth.require(ANY)?;
    let trusted = auth.access != AccessType::Client;
    let mut problems = problems();
    let display_name = opt_non_null_string(&mut f, "display_name");
    let profile_image_url = image_url_field(&mut f, "profile_image_url");
    let metadata = metadata_fields(&mut f, trusted);
    finish_body(f, sent, &mut problems);
    let team_id = finish_one_team(&req, auth, &raw_id, problems)?;
    let patch = TeamPatch {
        display_name,
        profile_image_url,
        client_metadata: metadata.client,
        client_read_only_metadata: metadata.client_read_only,
        server_metadata: metadata.server,
    };
    let team = teams::update_team(&state.pool, &auth.project, caller(auth), team_id, patch).await?;
    Ok(json(StatusCode::OK, &render(auth, &team)))
}

/// `DELETE /teams/{team_id}` (any body is accepted and ignored, as in Stack Auth).
///
/// # Errors
/// Schema errors and those of [`teams::delete_team`].
pub async fn delete(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let team_id = finish_one_team(&req, auth, &raw_id, problems())?;
    teams::delete_team(&state.pool, &auth.project, caller(auth), team_id).await?;
    Ok(success())
}
