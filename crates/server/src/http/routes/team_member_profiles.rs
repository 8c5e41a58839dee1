//! `/team-member-profiles` and `/team-member-profiles/{team_id}/{user_id}`:
//! a member's name and image within a team. The server shape adds the
//! member's full server user object.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use super::teams::{
    UserRef, caller, finish_body, finish_member_request, image_url_field, opt_non_null_string,
    opt_user_field, problems, resolve_opt, take_body,
};
use crate::auth::{ANY, Auth};
use crate::error::ApiError;
use crate::http::{Req, json, list_response};
use crate::state::AppState;
use crate::teams::members::{self, MemberProfile, ProfilePatch};
use crate::user_view::{View, user_json};
use crate::validate::Fields;

fn render(auth: &Auth, profile: &MemberProfile) -> Value {
    let mut obj = json!({
        "team_id": profile.team_id,
        "user_id": profile.user.id,
        "display_name": profile.display_name,
        "profile_image_url": profile.profile_image_url,
    });
    let view = auth.access.view();
    if view == View::Server {
        obj["user"] = user_json(&profile.user, &auth.project.config, View::Server);
    }
    obj
}

/// The query of every profile operation: `team_id` and `user_id` (filters of the list).
struct ProfileQuery {
    team_id: Option<Uuid>,
    user_id: Option<UserRef>,
}

fn read_query(req: &Req, problems: &mut Fields) -> ProfileQuery {
    let mut q = Fields::query(&req.query);
    let user_id = opt_user_field(&mut q, "user_id");
    let team_id = q.opt_uuid("team_id");
    q.finish_into(problems);
    ProfileQuery { team_id, user_id }
}

/// The query of an operation on one profile: checked, and otherwise
/// ignored but for a `me` in `user_id`.
fn query_user(req: &Req, problems: &mut Fields) -> Option<UserRef> {
    read_query(req, problems).user_id
}

/// `GET /team-member-profiles`.
///
/// # Errors
/// Schema errors and those of [`members::list_profiles`].
pub async fn list(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut problems = problems();
    let query = read_query(&req, &mut problems);
    problems.finish(&req.line)?;
    let user_id = resolve_opt(query.user_id, auth)?;
    let profiles = members::list_profiles(
        &state.pool,
        &auth.project,
        caller(auth),
        query.team_id,
        user_id,
    )
    .await?;
    let items: Vec<Value> = profiles.iter().map(|p| render(auth, p)).collect();
    Ok(list_response(items))
}

/// `GET /team-member-profiles/{team_id}/{user_id}`.
///
/// # Errors
/// Schema errors and those of [`members::read_profile`].
pub async fn read(
    State(state): State<AppState>,
    Path(raw): Path<(String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let (team_id, user_id) = finish_member_request(&req, auth, &raw, problems(), query_user)?;
    let profile =
        members::read_profile(&state.pool, &auth.project, caller(auth), team_id, user_id).await?;
    Ok(json(StatusCode::OK, &render(auth, &profile)))
}

/// `PATCH /team-member-profiles/{team_id}/{user_id}` (the same body for every access type).
///
/// # Errors
/// Schema errors and those of [`members::update_profile`].
pub async fn update(
    State(state): State<AppState>,
    Path(raw): Path<(String, String)>,
    mut req: Req,
) -> Result<Response, ApiError> {
    let (mut f, sent) = take_body(&mut req);
    let auth = req.auth.require(ANY)?;
    let mut problems = problems();
    let display_name = opt_non_null_string(&mut f, "display_name");
    let profile_image_url = image_url_field(&mut f, "profile_image_url");
    finish_body(f, sent, &mut problems);
    let (team_id, user_id) = finish_member_request(&req, auth, &raw, problems, query_user)?;
    let patch = ProfilePatch {
        display_name,
        profile_image_url,
    };
    let profile = members::update_profile(
        &state.pool,
        &auth.project,
        caller(auth),
        team_id,
        user_id,
        patch,
    )
    .await?;
    Ok(json(StatusCode::OK, &render(auth, &profile)))
}
