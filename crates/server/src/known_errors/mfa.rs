//! The known errors of the second sign-in factor (`/auth/mfa/sign-in`).
//! `MULTI_FACTOR_AUTHENTICATION_REQUIRED`, which the first factors answer,
//! and the attempt code's verification-code errors live in the parent module.

use super::{BAD, known};
use crate::error::KnownError;

/// `INVALID_TOTP_CODE`: the TOTP is not the one of the current 30-second step.
pub fn invalid_totp_code() -> KnownError {
    known(
        "INVALID_TOTP_CODE",
        BAD,
        "The TOTP code is invalid. Please try again.",
    )
}
