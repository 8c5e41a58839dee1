//! `/team-invitations`: send an invitation by mail, list and revoke pending
//! ones, and accept one by its code or by its id (rules in
//! [`crate::team_invitations`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::auth::ANY;
use crate::error::ApiError;
use crate::http::routes::{accept_code, check_code, send_mail, user_id_or_me, uuid_param};
use crate::http::{Req, json, list_response, success};
use crate::state::AppState;
use crate::team_invitations::{self as invitations, Invitation};
use crate::validate::Fields;
use crate::verification::CodeKind;

/// The API object of an invitation (the same for every access type).
fn invitation_json(i: &Invitation) -> Value {
    json!({
        "id": i.id,
        "team_id": i.team_id,
        "team_display_name": i.team_display_name,
        "expires_at_millis": i.expires_at.timestamp_millis(),
        "recipient_email": i.recipient_email,
    })
}

/// `POST /team-invitations/send-code`: mails an invitation to join a team.
///
/// # Errors
/// `SCHEMA_ERROR`, then those of [`invitations::send`].
pub async fn send_code(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::body(req.body.clone());
    let team_given = f.map_has("team_id");
    let team_id = f.opt_uuid("team_id");
    if !team_given {
        f.error("team_id", "must be defined");
    }
    let email = f.req_loose_email("email");
    let callback = f.req_url("callback_url");
    f.finish(&req.line)?;
    let (Some(team_id), Some(callback)) = (team_id, callback) else {
        return Err(ApiError::internal("validated fields are missing"));
    };
    let sent = invitations::send(&state.pool, auth, team_id, &email, &callback).await?;
    let mail = invitations::mail(&sent.team_display_name, sent.link.as_str());
    send_mail(&state, &auth.project, &email, mail);
    Ok(json(
        StatusCode::OK,
        &json!({ "success": true, "id": sent.id }),
    ))
}

/// `GET /team-invitations?team_id=` or `?user_id=`: pending invitations of a
/// team, or those sent to a user's verified addresses.
///
/// # Errors
/// `SCHEMA_ERROR`, `CANNOT_GET_OWN_USER_WITHOUT_USER` (`me` without a user),
/// a plain 400 for both or neither parameter, then those of
/// [`invitations::list_for_team`] and [`invitations::list_for_user`].
pub async fn list(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::query(&req.query);
    let team_id = f.opt_uuid("team_id");
    let user_raw = f.opt_string("user_id", None);
    f.finish(&req.line)?;
    let user_id = user_raw
        .map(|raw| user_id_or_me(&raw, "query", auth, &req.line))
        .transpose()?;
    let items = match (team_id, user_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "Cannot specify both team_id and user_id",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "Must specify either team_id or user_id",
            ));
        }
        (Some(team_id), None) => invitations::list_for_team(&state.pool, auth, team_id).await?,
        (None, Some(user_id)) => invitations::list_for_user(&state.pool, auth, user_id).await?,
    };
    let items: Vec<Value> = items.iter().map(invitation_json).collect();
    Ok(list_response(items))
}

/// `DELETE /team-invitations/{id}?team_id=`: revokes an invitation.
///
/// # Errors
/// `SCHEMA_ERROR`, a plain 400 without `team_id`, then those of
/// [`invitations::revoke`].
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::query(&req.query);
    let id = uuid_param(&mut f, "id", &id);
    let team_id = f.opt_uuid("team_id");
    // The list's query schema, which Stack Auth shares with delete; unused here.
    let _ = f.opt_string("user_id", None);
    f.finish(&req.line)?;
    let team_id = team_id.ok_or_else(|| {
        ApiError::bad_request("team_id is required for deleting a team invitation")
    })?;
    invitations::revoke(&state.pool, auth, team_id, id).await?;
    Ok(success())
}

/// `POST /team-invitations/accept`: joins the team of an invitation code
/// (used up first, whatever follows); `200 {}`, also for a member already.
///
/// # Errors
/// The verification-code errors (§2.0), then those of [`invitations::accept`].
pub async fn accept(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let (auth, accepted) = accept_code(&state, &req, CodeKind::TeamInvitation, true).await?;
    invitations::accept(&state.pool, &auth.project, auth.user.as_ref(), &accepted).await?;
    Ok(json(StatusCode::OK, &json!({})))
}

/// `POST /team-invitations/accept/details`: the team of an invitation code,
/// without using it.
///
/// # Errors
/// The verification-code errors (§2.0), then those of [`invitations::details`].
pub async fn accept_details(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let (auth, accepted) = accept_code(&state, &req, CodeKind::TeamInvitation, false).await?;
    let (team_id, name) =
        invitations::details(&state.pool, &auth.project, auth.user.as_ref(), &accepted).await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "team_id": team_id, "team_display_name": name }),
    ))
}

/// `POST /team-invitations/accept/check-code`: whether an invitation code would work.
///
/// # Errors
/// The verification-code errors (§2.0).
pub async fn accept_check_code(
    State(state): State<AppState>,
    req: Req,
) -> Result<Response, ApiError> {
    check_code(&state, &req, CodeKind::TeamInvitation).await
}

/// `POST /team-invitations/{id}/accept?user_id=`: accepts an invitation sent
/// to a verified address of the user; `200 {}`.
///
/// # Errors
/// `SCHEMA_ERROR`, `CANNOT_GET_OWN_USER_WITHOUT_USER` (`me` without a user),
/// then those of [`invitations::accept_by_id`].
pub async fn accept_by_id(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut f = Fields::query(&req.query);
    let id = uuid_param(&mut f, "id", &id);
    let user_raw = f.req_string("user_id", None);
    f.finish(&req.line)?;
    let user_id = user_id_or_me(&user_raw, "query", auth, &req.line)?;
    invitations::accept_by_id(&state.pool, auth, id, user_id).await?;
    Ok(json(StatusCode::OK, &json!({})))
}
