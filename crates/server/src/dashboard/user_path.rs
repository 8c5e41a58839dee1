//! A user named in a dashboard path (`…/users/{user_id}/…`): its id, the
//! user, and the way back to the user's page after a change. Shared by the
//! user page and its forms (`user.rs`, `user_edit.rs`, `impersonate.rs`,
//! `user_permissions.rs`).

use axum::response::Redirect;
use uuid::Uuid;

use super::html::seg;
use super::{Dashboard, PageError, ProjectContext};
use crate::db::users::{self, UserRecord};

/// A user id from the path; an id that is not a UUID names no user.
pub fn user_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| PageError::not_found(format!("There is no user {raw}.")))
}

/// The user, or 404.
pub async fn load(d: &Dashboard, project_id: &str, id: Uuid) -> Result<UserRecord, PageError> {
    users::find(&d.state.pool, project_id, id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("There is no user {id} in this project.")))
}

/// The user's page after a change, with the notice `done` (see [`notice`]).
pub fn back_to_user(ctx: &ProjectContext, id: Uuid, done: &str) -> Redirect {
    Redirect::to(&format!(
        "{}/users/{}?done={done}",
        ctx.base(),
        seg(&id.to_string())
    ))
}
