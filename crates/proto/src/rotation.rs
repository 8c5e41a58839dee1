//! The rotation document: what makes a resumed snapshot this install's own.
//!
//! The host makes it from the install's secrets (kept on the host, mode
//! 0600) at every new session and hands it to the running server, which
//! validates every field, applies it in one transaction and confirms it
//! through its own API before it reports success.

use serde::{Deserialize, Serialize};

/// The format version of [`RotationDocument`] this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// A rotation as sent: secrets as plain strings, which the server validates.
///
/// Its `Debug` form names no secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationDocument {
    /// Must be [`FORMAT_VERSION`].
    pub format: u32,
    /// New keys of the internal project.
    pub internal_project_keys: InternalProjectKeys,
    /// New token-signing secret: base64url of at least 32 random bytes.
    pub token_signing_secret: String,
    /// New cron secret: at least 32 letters or digits.
    pub cron_secret: String,
    /// New password of the database role the server uses, if it uses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_password: Option<String>,
    /// The URLs at which the host reaches this session's services.
    pub public_urls: PublicUrls,
    /// The host's clock, in milliseconds since the epoch.
    pub now_unix_millis: i64,
}

impl std::fmt::Debug for RotationDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotationDocument")
            .field("format", &self.format)
            .field("public_urls", &self.public_urls)
            .field("now_unix_millis", &self.now_unix_millis)
            .finish_non_exhaustive()
    }
}

/// The internal project's three keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalProjectKeys {
    /// `pck_…`.
    pub publishable_client_key: String,
    /// `ssk_…`.
    pub secret_server_key: String,
    /// `sak_…`.
    pub super_secret_admin_key: String,
}

impl std::fmt::Debug for InternalProjectKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InternalProjectKeys([redacted])")
    }
}

/// Where the host reaches the session's services (each a base URL such as
/// `http://localhost:26701`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicUrls {
    /// The API: the issuer of access tokens and the base of mail links.
    pub api: String,
    /// The dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
    /// The mail sink's web page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// The mock OAuth provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<String>,
}

/// How a rotation went, as the server measured it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RotationReport {
    /// The database transaction, in milliseconds.
    pub apply_ms: f64,
    /// From the commit until the running server answered with the new keys.
    pub confirm_ms: f64,
    /// The server's steps in order: name and milliseconds.
    pub steps_ms: Vec<(String, f64)>,
}
