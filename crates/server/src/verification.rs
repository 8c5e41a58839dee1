//! Verification codes, Stack Auth's shared mechanism behind sign-in codes and
//! magic links, password resets, email verification, team invitations and the
//! attempt codes of a sign-in that waits for its second factor.
//!
//! A code is 45 lower-case Crockford base-32 characters from the OS RNG. Only
//! SHA-256 hashes are stored: one of the whole code, one of its last 39
//! characters (the nonce a sign-in-code request returns). Each attempt at a code
//! counts against every code with that nonce, so guessing the six-character
//! one-time code runs out after [`MAX_ATTEMPTS`] tries. The emailed link is the
//! caller's callback URL with `code=<code>` appended; codes handed over in an
//! answer instead ([`create_unmailed`]) have no address and no link.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use url::Url;

use crate::db::verification_codes::{self as db, NewCodeRow};
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::random;
use crate::secret::Secret;

/// Length of a code.
pub const CODE_LENGTH: usize = 45;

/// Characters of a sign-in code shown as the one-time code in the mail.
pub const OTP_LENGTH: usize = 6;

/// Attempts after which a code (and every code with its nonce) stops working.
pub const MAX_ATTEMPTS: i32 = 20;

/// How long a code stays valid (Stack Auth's default).
pub const CODE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// Sign-in code and magic link.
    OneTimePassword,
    /// Password reset.
    PasswordReset,
    /// Contact channel (email) verification.
    ContactChannelVerification,
    /// An invitation to join a team.
    TeamInvitation,
    /// The attempt code of a sign-in that waits for its second factor.
    /// Stack Auth files these under its one-time-password kind; a kind of
    /// their own keeps a mailed sign-in code from being taken for an attempt
    /// code, and the other way round.
    MfaAttempt,
}

impl CodeKind {
    /// The stored name, as Stack Auth spells it (`MFA_ATTEMPT` is ours).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneTimePassword => "ONE_TIME_PASSWORD",
            Self::PasswordReset => "PASSWORD_RESET",
            Self::ContactChannelVerification => "CONTACT_CHANNEL_VERIFICATION",
            Self::TeamInvitation => "TEAM_INVITATION",
            Self::MfaAttempt => "MFA_ATTEMPT",
        }
    }
}

/// A freshly created code and the link that carries it.
#[derive(Debug)]
pub struct IssuedCode {
    /// The stored row's id (a team invitation's id).
    pub id: uuid::Uuid,
    /// The code (lower case).
    pub code: Secret<String>,
    /// The callback URL with `code` appended.
    pub link: Url,
}

impl IssuedCode {
    /// The one-time code a sign-in mail shows: the first six characters, upper-cased.
    pub fn otp(&self) -> String {
        self.code.expose()[..OTP_LENGTH].to_uppercase()
    }

    /// The nonce a sign-in-code request returns: the rest of the code.
    pub fn nonce(&self) -> String {
        self.code.expose()[OTP_LENGTH..].to_owned()
    }
}

/// A code that was accepted: where it was sent and what it was for.
#[derive(Debug)]
pub struct AcceptedCode {
    /// The address the code was sent to.
    pub email: String,
    /// The purpose data stored with it.
    pub data: Value,
}

impl AcceptedCode {
    /// The user the code was issued for (codes that act on an account store it).
    ///
    /// # Errors
    /// An internal error when the code's data holds no user id.
    pub fn user_id(&self) -> Result<uuid::Uuid, ApiError> {
        self.data["user_id"]
            .as_str()
            .and_then(|id| uuid::Uuid::parse_str(id).ok())
            .ok_or_else(|| ApiError::internal("a verification code without a user id"))
    }
}

fn sha256_hex(s: &str) -> String {
    format!("{:x}", Sha256::digest(s.as_bytes()))
}

/// `callback` with `code=<code>` appended to its query.
pub fn link_with_code(callback: &Url, code: &str) -> Url {
    let mut link = callback.clone();
    link.query_pairs_mut().append_pair("code", code);
    link
}

/// Creates and stores a code sent to `email` for `kind`, with `data`.
///
/// # Errors
/// Database and RNG failures.
pub async fn create(
    pool: &PgPool,
    project_id: &str,
    kind: CodeKind,
    email: &str,
    data: Value,
    callback: &Url,
) -> Result<IssuedCode, ApiError> {
    let new = NewCode {
        kind,
        method: json!({ "email": email }),
        data,
        callback: Some(callback),
        lifetime: CODE_LIFETIME,
    };
    let (id, code) = insert(pool, project_id, &new).await?;
    let link = link_with_code(callback, code.expose());
    Ok(IssuedCode { id, code, link })
}

/// Creates and stores a code of `kind` that the caller hands over in an
/// answer rather than by mail: no address, no link, valid for `lifetime`.
///
/// # Errors
/// Database and RNG failures.
pub async fn create_unmailed(
    pool: &PgPool,
    project_id: &str,
    kind: CodeKind,
    data: Value,
    lifetime: Duration,
) -> Result<Secret<String>, ApiError> {
    let new = NewCode {
        kind,
        method: json!({}),
        data,
        callback: None,
        lifetime,
    };
    let (_, code) = insert(pool, project_id, &new).await?;
    Ok(code)
}

/// What [`insert`] stores besides the code it draws.
struct NewCode<'a> {
    kind: CodeKind,
    method: Value,
    data: Value,
    callback: Option<&'a Url>,
    lifetime: Duration,
}

/// Draws a code and stores its hashes with `new`; the row id and the code.
async fn insert(
    pool: &PgPool,
    project_id: &str,
    new: &NewCode<'_>,
) -> Result<(uuid::Uuid, Secret<String>), ApiError> {
    let code = random::token()?;
    let id = random::uuid()?;
    let expires_at =
        Utc::now() + chrono::Duration::from_std(new.lifetime).unwrap_or(chrono::Duration::days(7));
    db::insert(
        pool,
        &NewCodeRow {
            project_id,
            id,
            kind: new.kind.as_str(),
            code_hash: &sha256_hex(&code),
            nonce_hash: &sha256_hex(&code[OTP_LENGTH..]),
            method: &new.method,
            data: &new.data,
            redirect_url: new.callback.map(Url::as_str),
            expires_at,
        },
    )
    .await?;
    Ok((id, Secret::new(code)))
}

/// Checks a code of `kind` and, when `consume` is set, marks it used.
///
/// The attempt is counted whatever the outcome, and committed before any error
/// is returned, so failed guesses use up the nonce's attempts.
///
/// # Errors
/// As [`open`]; database failures.
pub async fn check(
    pool: &PgPool,
    project_id: &str,
    kind: CodeKind,
    raw_code: &str,
    consume: bool,
) -> Result<AcceptedCode, ApiError> {
    let opened = open(pool, project_id, kind, raw_code).await?;
    if consume {
        opened.consume().await
    } else {
        opened.leave().await
    }
}

/// A code that passed the checks of [`open`], its row locked and its attempt
/// counted (neither committed yet), waiting for the caller to use it up
/// ([`OpenCode::consume`]) or leave it usable ([`OpenCode::leave`]), for a
/// route that checks more than the code before it uses it (Stack Auth's
/// `validate` step). Dropping it rolls the attempt back.
pub struct OpenCode {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    project_id: String,
    id: uuid::Uuid,
    accepted: AcceptedCode,
}

impl std::fmt::Debug for OpenCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenCode")
            .field("project_id", &self.project_id)
            .field("id", &self.id)
            .field("accepted", &self.accepted)
            .finish_non_exhaustive()
    }
}

impl OpenCode {
    /// Where the code was sent and what it is for.
    pub fn accepted(&self) -> &AcceptedCode {
        &self.accepted
    }

    /// The transaction that holds the code's lock, for the reads of the
    /// caller's further checks (one connection per request, not two).
    pub fn connection(&mut self) -> &mut sqlx::PgConnection {
        &mut self.tx
    }

    /// Marks the code used and commits the attempt.
    ///
    /// # Errors
    /// Database failures.
    pub async fn consume(mut self) -> Result<AcceptedCode, ApiError> {
        db::mark_used(&mut *self.tx, &self.project_id, self.id).await?;
        self.tx.commit().await?;
        Ok(self.accepted)
    }

    /// Commits the attempt and leaves the code usable.
    ///
    /// # Errors
    /// Database failures.
    pub async fn leave(self) -> Result<AcceptedCode, ApiError> {
        self.tx.commit().await?;
        Ok(self.accepted)
    }
}

/// Checks a code of `kind` and counts the attempt; on success the code is
/// open for the caller to use up or leave.
///
/// The attempt is counted whatever the outcome, and committed before any error
/// is returned, so failed guesses use up the nonce's attempts.
///
/// # Errors
/// `VERIFICATION_CODE_NOT_FOUND`, `VERIFICATION_CODE_EXPIRED`,
/// `VERIFICATION_CODE_ALREADY_USED`, `VERIFICATION_CODE_MAX_ATTEMPTS_REACHED`
/// (checked in that order); database failures.
pub async fn open(
    pool: &PgPool,
    project_id: &str,
    kind: CodeKind,
    raw_code: &str,
) -> Result<OpenCode, ApiError> {
    let code = raw_code.to_lowercase();
    let nonce = code.get(OTP_LENGTH..).unwrap_or_default();
    let mut tx = pool.begin().await?;
    let found =
        db::find_for_update(&mut *tx, project_id, kind.as_str(), &sha256_hex(&code)).await?;
    db::count_attempt(&mut *tx, project_id, &sha256_hex(nonce)).await?;
    let refusal = match &found {
        None => Some(ke::verification_code_not_found()),
        Some(c) if c.expires_at < Utc::now() => Some(ke::verification_code_expired()),
        Some(c) if c.used_at.is_some() => Some(ke::verification_code_already_used()),
        Some(c) if c.attempt_count >= MAX_ATTEMPTS => {
            Some(ke::verification_code_max_attempts_reached())
        }
        Some(_) => None,
    };
    match found.filter(|_| refusal.is_none()) {
        Some(c) => Ok(OpenCode {
            tx,
            project_id: project_id.to_owned(),
            id: c.id,
            accepted: AcceptedCode {
                email: c.method.0["email"].as_str().unwrap_or_default().to_owned(),
                data: c.data.0,
            },
        }),
        None => {
            tx.commit().await?;
            Err(refusal
                .unwrap_or_else(ke::verification_code_not_found)
                .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_callback_query_and_add_the_code() {
        let callback =
            Url::parse("http://localhost:3000/handler/magic-link-callback?after=%2Fhome").unwrap();
        let link = link_with_code(&callback, "abc");
        assert_eq!(
            link.as_str(),
            "http://localhost:3000/handler/magic-link-callback?after=%2Fhome&code=abc"
        );
    }

    #[test]
    fn otp_and_nonce_split_the_code() {
        let issued = IssuedCode {
            id: uuid::Uuid::nil(),
            code: Secret::new("abcdef".to_owned() + &"x".repeat(39)),
            link: Url::parse("http://localhost/").unwrap(),
        };
        assert_eq!(issued.otp(), "ABCDEF");
        assert_eq!(issued.nonce().len(), 39);
    }
}
