//! The second sign-in factor, as Stack Auth runs it. A user with a TOTP
//! secret who passes a first factor (password, mail code or link, OAuth) gets
//! no tokens: the sign-in answers `MULTI_FACTOR_AUTHENTICATION_REQUIRED` with
//! an attempt code, and `POST /auth/mfa/sign-in` trades that code and the
//! current TOTP for them.
//!
//! An attempt code is a verification code ([`crate::verification`]) of kind
//! [`CodeKind::MfaAttempt`], stored hashed, valid for five minutes and good
//! for one sign-in. A wrong TOTP leaves it usable but counts an attempt, so a
//! code stops working after [`crate::verification::MAX_ATTEMPTS`] guesses.
//! Minting the tokens is left to the caller.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::totp;
use crate::db::users::{self, UserRecord};
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::verification::{self, CodeKind};

/// How long an attempt code stays valid (Stack Auth's `createMfaRequiredError`).
pub const ATTEMPT_CODE_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Who a passed second factor signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondFactorPassed {
    /// The user.
    pub user_id: Uuid,
    /// Whether the first factor had just created the user (the sign-in answer says so).
    pub is_new_user: bool,
}

/// Lets a sign-in that passed its first factor go on to tokens, unless `user`
/// has a TOTP secret: then it stores an attempt code and refuses.
///
/// # Errors
/// `MULTI_FACTOR_AUTHENTICATION_REQUIRED` with the attempt code in its
/// details, for a user with a TOTP secret; database and RNG failures.
pub async fn require_second_factor(
    pool: &PgPool,
    project_id: &str,
    user: &UserRecord,
    is_new_user: bool,
) -> Result<(), ApiError> {
    if !user.requires_totp_mfa {
        return Ok(());
    }
    let attempt_code = verification::create_unmailed(
        pool,
        project_id,
        CodeKind::MfaAttempt,
        json!({ "user_id": user.id, "is_new_user": is_new_user }),
        ATTEMPT_CODE_LIFETIME,
    )
    .await?;
    Err(ke::multi_factor_authentication_required(attempt_code.expose()).into())
}

/// Checks an attempt code and the TOTP of its user; uses the code up when
/// the TOTP is right.
///
/// # Errors
/// The verification-code errors of the attempt code, then `INVALID_TOTP_CODE`;
/// an internal error when the user is gone or no longer has a TOTP secret (as
/// in Stack Auth); database failures.
pub async fn pass_second_factor(
    pool: &PgPool,
    project_id: &str,
    attempt_code: &str,
    totp_code: &str,
) -> Result<SecondFactorPassed, ApiError> {
    let mut opened =
        verification::open(pool, project_id, CodeKind::MfaAttempt, attempt_code).await?;
    let data = &opened.accepted().data;
    let passed = match (opened.accepted().user_id(), data["is_new_user"].as_bool()) {
        (Ok(user_id), Some(is_new_user)) => SecondFactorPassed {
            user_id,
            is_new_user,
        },
        _ => {
            opened.leave().await?;
            return Err(ApiError::internal(
                "an MFA attempt code with malformed data",
            ));
        }
    };
    let secret = match users::totp_secret(opened.connection(), project_id, passed.user_id).await? {
        Some(secret) => secret,
        None => {
            opened.leave().await?;
            return Err(ApiError::internal(
                "the user of an MFA attempt code has no TOTP secret",
            ));
        }
    };
    let now = u64::try_from(Utc::now().timestamp()).unwrap_or_default();
    if !totp::verify(secret.expose(), totp_code, now) {
        opened.leave().await?;
        return Err(ke::invalid_totp_code().into());
    }
    opened.consume().await?;
    Ok(passed)
}
