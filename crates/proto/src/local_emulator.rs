//! `POST /api/v1/internal/local-emulator/project`: the project (and keys) of
//! one app, keyed by the absolute path of its config file. The host CLI calls
//! it with the internal project's secret server key; the same path always
//! gets the same project.

use serde::{Deserialize, Serialize};

/// The route, below the API's base URL.
pub const PATH: &str = "/api/v1/internal/local-emulator/project";

/// The request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRequest {
    /// The app's config file, as an absolute path.
    pub absolute_file_path: String,
    /// The config the file exports, as JSON text: it becomes the project's
    /// branch override. Absent, the stored branch override stays (the
    /// server never reads the host's files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_config_override_string: Option<String>,
}

/// The answer: the project and its keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectAnswer {
    /// The project's id.
    pub project_id: String,
    /// `pck_…`.
    pub publishable_client_key: String,
    /// `ssk_…`.
    pub secret_server_key: String,
    /// `sak_…`.
    pub super_secret_admin_key: String,
    /// The project's branch config override, as a JSON text.
    pub branch_config_override_string: String,
    /// The sign-in methods the project's config turns on (`password`, `otp`,
    /// `passkey`, `oauth:<provider>`); empty means nobody can sign in. An
    /// addition of the emulator's: Stack Auth's answer does not have it.
    #[serde(default)]
    pub sign_in_methods: Vec<String>,
}

impl std::fmt::Debug for ProjectAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectAnswer")
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}
