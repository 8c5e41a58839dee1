//! Request header names of Stack Auth's API that both sides use.

/// The project a request addresses.
pub const PROJECT_ID: &str = "x-stack-project-id";
/// `client`, `server` or `admin`.
pub const ACCESS_TYPE: &str = "x-stack-access-type";
/// A project's publishable client key (`pck_…`).
pub const PUBLISHABLE_CLIENT_KEY: &str = "x-stack-publishable-client-key";
/// A project's secret server key (`ssk_…`).
pub const SECRET_SERVER_KEY: &str = "x-stack-secret-server-key";
/// A project's super secret admin key (`sak_…`).
pub const SUPER_SECRET_ADMIN_KEY: &str = "x-stack-super-secret-admin-key";
/// A user's access token.
pub const ACCESS_TOKEN: &str = "x-stack-access-token";
/// A user's refresh token.
pub const REFRESH_TOKEN: &str = "x-stack-refresh-token";
/// An admin access token (a dashboard user's, for another project).
pub const ADMIN_ACCESS_TOKEN: &str = "x-stack-admin-access-token";

/// The prefix of every header above.
pub const PREFIX: &str = "x-stack-";
/// The prefix newer SDKs (2.8.10x) send instead of [`PREFIX`]; the server
/// accepts both.
pub const ALTERNATE_PREFIX: &str = "x-hexclave-";
