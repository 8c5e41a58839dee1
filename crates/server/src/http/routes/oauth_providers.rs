//! `/oauth-providers` and `/oauth-providers/{user_id}/{provider_id}`: a
//! user's accounts at OAuth providers (Stack Auth's OAuth-provider CRUD).
//! The server adds accounts; clients read, list, change and remove their
//! own user's. The rules are in [`crate::oauth::connected`]; this file
//! validates input and renders accounts.
//!
//! An account object leaves out `email` when the account has none, and the
//! client view leaves out `account_id`. Every operation accepts the query
//! `user_id` (`me` or a UUID); only the list uses it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use super::teams::{
    UserRef, finish_body, opt_non_null_string, opt_user_field, problems, resolve_opt, take_body,
    user_param,
};
use super::uuid_param;
use crate::auth::{ANY, AccessType, Auth, SERVER_OR_ADMIN};
use crate::error::ApiError;
use crate::http::{Req, json, list_response, success};
use crate::oauth::connected::{self, Account, AccountPatch, Caller, NewAccount};
use crate::state::AppState;
use crate::validate::{Fields, is_plausible_email};

/// Who calls, as [`connected`] needs it.
pub(crate) fn caller(auth: &Auth) -> Caller {
    match auth.access {
        AccessType::Client => Caller::Client(auth.user.as_ref().map(|u| u.id)),
        AccessType::Server | AccessType::Admin => Caller::Trusted,
    }
}

fn render(account: &Account, access: AccessType) -> Value {
    let mut v = json!({
        "user_id": account.user_id,
        "id": account.id,
        "provider_config_id": account.provider_config_id,
        "type": account.provider_type,
        "allow_sign_in": account.allow_sign_in,
        "allow_connected_accounts": account.allow_connected_accounts,
    });
    if let Some(email) = &account.email {
        v["email"] = json!(email);
    }
    if access != AccessType::Client {
        v["account_id"] = json!(account.account_id);
    }
    v
}

/// The query of every operation: `user_id`, the list's filter.
fn read_query(req: &Req, problems: &mut Fields) -> Option<UserRef> {
    let mut q = Fields::query(&req.query);
    let user = opt_user_field(&mut q, "user_id");
    q.finish_into(problems);
    user
}

/// Adds the `{user_id}/{provider_id}` path and the query to `problems` and
/// reports them; returns the path's user and account id. A `me` is
/// resolved in the path, then in the query.
///
/// # Errors
/// `SCHEMA_ERROR`, then `CANNOT_GET_OWN_USER_WITHOUT_USER`.
fn finish_one(
    req: &Req,
    auth: &Auth,
    raw: &(String, String),
    mut problems: Fields,
) -> Result<(Uuid, Uuid), ApiError> {
    let user = user_param(&mut problems, &raw.0);
    let id = uuid_param(&mut problems, "provider_id", &raw.1);
    let query_user = read_query(req, &mut problems);
    problems.finish(&req.line)?;
    let user_id = user.resolve(auth)?;
    resolve_opt(query_user, auth)?;
    Ok((user_id, id))
}

/// A `me`-or-UUID field that must be present.
fn req_user_field(f: &mut Fields, key: &str) -> Option<UserRef> {
    let had_errors = f.has_errors();
    let user = opt_user_field(f, key);
    if user.is_none() && f.has_errors() == had_errors {
        f.error(key, "must be defined");
    }
    user
}

/// `email`, if sent: a string yup's `email()` accepts (or empty, which it
/// lets through).
fn email_field(f: &mut Fields) -> Option<String> {
    let email = opt_non_null_string(f, "email");
    if let Some(e) = &email
        && !e.is_empty()
        && !is_plausible_email(e)
    {
        f.error("email", "must be a valid email");
    }
    email
}

/// `GET /oauth-providers?user_id=`: the accounts of one user (a client's
/// own only), or of every user for the server; oldest first.
///
/// # Errors
/// Schema errors and those of [`connected::list_accounts`].
pub async fn list(State(state): State<AppState>, req: Req) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let mut problems = problems();
    let user = read_query(&req, &mut problems);
    problems.finish(&req.line)?;
    let user_id = resolve_opt(user, auth)?;
    let accounts =
        connected::list_accounts(&state.pool, &auth.project, caller(auth), user_id).await?;
    Ok(list_response(
        accounts.iter().map(|a| render(a, auth.access)).collect(),
    ))
}

/// `POST /oauth-providers` (server and admin): adds an account, `201`.
///
/// # Errors
/// Access and schema errors, and those of [`connected::create_account`].
pub async fn create(State(state): State<AppState>, mut req: Req) -> Result<Response, ApiError> {
    let (mut f, sent) = take_body(&mut req);
    let auth = req.auth.require(SERVER_OR_ADMIN)?;
    let mut problems = problems();
    let user = req_user_field(&mut f, "user_id");
    let provider_config_id = f.req_string("provider_config_id", None);
    let email = email_field(&mut f);
    let allow_sign_in = f.req_bool("allow_sign_in");
    let allow_connected_accounts = f.req_bool("allow_connected_accounts");
    let account_id = f.req_string("account_id", None);
    finish_body(f, sent, &mut problems);
    let query_user = read_query(&req, &mut problems);
    problems.finish(&req.line)?;
    let user_id = match user {
        Some(user) => user.resolve(auth)?,
        None => {
            return Err(ApiError::internal(
                "user_id passed validation without a value",
            ));
        }
    };
    resolve_opt(query_user, auth)?;
    let new = NewAccount {
        user_id,
        provider_config_id,
        account_id,
        email,
        allow_sign_in,
        allow_connected_accounts,
    };
    let account = connected::create_account(&state.pool, &auth.project, new).await?;
    Ok(json(StatusCode::CREATED, &render(&account, auth.access)))
}

/// `GET /oauth-providers/{user_id}/{provider_id}`: one account.
///
/// # Errors
/// Schema errors and those of [`connected::read_account`].
pub async fn read(
    State(state): State<AppState>,
    Path(raw): Path<(String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let (user_id, id) = finish_one(&req, auth, &raw, problems())?;
    let account =
        connected::read_account(&state.pool, &auth.project, caller(auth), user_id, id).await?;
    Ok(json(StatusCode::OK, &render(&account, auth.access)))
}

/// `PATCH /oauth-providers/{user_id}/{provider_id}`: changes the flags
/// (and, for the server, `email` and `account_id`).
///
/// # Errors
/// Schema errors and those of [`connected::update_account`].
pub async fn update(
    State(state): State<AppState>,
    Path(raw): Path<(String, String)>,
    mut req: Req,
) -> Result<Response, ApiError> {
    let (mut f, sent) = take_body(&mut req);
    let auth = req.auth.require(ANY)?;
    let mut problems = problems();
    let allow_sign_in = f.opt_bool("allow_sign_in");
    let allow_connected_accounts = f.opt_bool("allow_connected_accounts");
    // A client's body has only the two flags; anything else is unknown.
    let (email, account_id) = match auth.access {
        AccessType::Client => (None, None),
        AccessType::Server | AccessType::Admin => (
            email_field(&mut f),
            opt_non_null_string(&mut f, "account_id"),
        ),
    };
    finish_body(f, sent, &mut problems);
    let (user_id, id) = finish_one(&req, auth, &raw, problems)?;
    let patch = AccountPatch {
        allow_sign_in,
        allow_connected_accounts,
        email,
        account_id,
    };
    let account =
        connected::update_account(&state.pool, &auth.project, caller(auth), user_id, id, patch)
            .await?;
    Ok(json(StatusCode::OK, &render(&account, auth.access)))
}

/// `DELETE /oauth-providers/{user_id}/{provider_id}`: removes an account
/// and its tokens; `200 {"success": true}`.
///
/// # Errors
/// Schema errors and those of [`connected::delete_account`].
pub async fn delete(
    State(state): State<AppState>,
    Path(raw): Path<(String, String)>,
    req: Req,
) -> Result<Response, ApiError> {
    let auth = req.auth.require(ANY)?;
    let (user_id, id) = finish_one(&req, auth, &raw, problems())?;
    connected::delete_account(&state.pool, &auth.project, caller(auth), user_id, id).await?;
    Ok(success())
}
