//! Projects, their configuration and their API key sets.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

/// The id of the project that owns every other project (the dashboard's own).
pub const INTERNAL_PROJECT_ID: &str = "internal";

/// The team of the internal project that owns projects made by the local emulator.
pub const EMULATOR_OWNER_TEAM_ID: Uuid = Uuid::from_u128(0x5a0c858b_d9e9_49d4_9943_8ce385d86428);

/// An OAuth provider enabled for a project.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OAuthProviderConfig {
    /// The provider type, e.g. `github`.
    pub id: String,
    /// `shared` (the emulator's mock provider) or `standard` (own credentials).
    #[serde(rename = "type")]
    pub kind: String,
    /// The client id, for `standard` providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The client secret, for `standard` providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// A trusted domain for redirects.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DomainConfig {
    /// The base URL, e.g. `https://app.example.com`.
    pub domain: String,
    /// The handler path below it, e.g. `/handler`.
    pub handler_path: String,
}

/// A permission reference, as in `team_member_default_permissions`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PermissionRef {
    /// The permission id.
    pub id: String,
}

/// A project's configuration, stored in the shape of Stack Auth's project `config` object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ProjectConfig {
    /// `auth.allowSignUp`.
    pub sign_up_enabled: bool,
    /// `auth.password.allowSignIn`.
    pub credential_enabled: bool,
    /// `auth.otp.allowSignIn`.
    pub magic_link_enabled: bool,
    /// `auth.passkey.allowSignIn`.
    pub passkey_enabled: bool,
    /// `teams.allowClientTeamCreation`.
    pub client_team_creation_enabled: bool,
    /// `users.allowClientUserDeletion`.
    pub client_user_deletion_enabled: bool,
    /// `apiKeys.enabled.user`.
    pub allow_user_api_keys: bool,
    /// `apiKeys.enabled.team`.
    pub allow_team_api_keys: bool,
    /// `domains.allowLocalhost`.
    pub allow_localhost: bool,
    /// `teams.createPersonalTeamOnSignUp`.
    pub create_team_on_sign_up: bool,
    /// `onboarding.requireEmailVerification`.
    pub require_email_verification: bool,
    /// `project.requirePublishableClientKey`.
    pub require_publishable_client_key: bool,
    /// `auth.oauth.providers`.
    pub oauth_providers: Vec<OAuthProviderConfig>,
    /// `domains.trustedDomains`.
    pub domains: Vec<DomainConfig>,
    /// `auth.oauth.accountMergeStrategy`.
    pub oauth_account_merge_strategy: String,
    /// `rbac.defaultPermissions.teamCreator`.
    pub team_creator_default_permissions: Vec<PermissionRef>,
    /// `rbac.defaultPermissions.teamMember`.
    pub team_member_default_permissions: Vec<PermissionRef>,
    /// `rbac.defaultPermissions.signUp`.
    pub user_default_permissions: Vec<PermissionRef>,
}

impl Default for ProjectConfig {
    fn default() -> Self {
        Self {
            sign_up_enabled: true,
            credential_enabled: true,
            magic_link_enabled: false,
            passkey_enabled: false,
            client_team_creation_enabled: false,
            client_user_deletion_enabled: false,
            allow_user_api_keys: false,
            allow_team_api_keys: false,
            allow_localhost: true,
            create_team_on_sign_up: false,
            require_email_verification: false,
            require_publishable_client_key: false,
            oauth_providers: Vec::new(),
            domains: Vec::new(),
            oauth_account_merge_strategy: "link_method".into(),
            team_creator_default_permissions: vec![PermissionRef {
                id: "team_admin".into(),
            }],
            team_member_default_permissions: vec![PermissionRef {
                id: "team_member".into(),
            }],
            user_default_permissions: Vec::new(),
        }
    }
}

/// A project row.
#[derive(Debug, Clone)]
pub struct Project {
    /// `internal` or a UUID.
    pub id: String,
    /// The name shown to users (and in email subjects).
    pub display_name: String,
    /// A free-form description.
    pub description: String,
    /// Whether the project is in production mode.
    pub is_production_mode: bool,
    /// The internal-project team that owns this project.
    pub owner_team_id: Option<Uuid>,
    /// The configuration.
    pub config: ProjectConfig,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ProjectRow {
    id: String,
    display_name: String,
    description: String,
    is_production_mode: bool,
    owner_team_id: Option<Uuid>,
    config: sqlx::types::Json<serde_json::Value>,
    created_at: DateTime<Utc>,
}

impl From<ProjectRow> for Project {
    fn from(row: ProjectRow) -> Self {
        // A config that no longer parses (an older shape) falls back to defaults
        // field by field thanks to `serde(default)`; a wholly broken one to defaults.
        let config = serde_json::from_value(row.config.0).unwrap_or_default();
        Self {
            id: row.id,
            display_name: row.display_name,
            description: row.description,
            is_production_mode: row.is_production_mode,
            owner_team_id: row.owner_team_id,
            config,
            created_at: row.created_at,
        }
    }
}

/// The columns of a row, as a macro so that statements built on it stay
/// static strings.
macro_rules! project_columns {
    () => {
        "id, display_name, description, is_production_mode, owner_team_id, config, created_at"
    };
}

/// Loads a project by id.
///
/// # Errors
/// Database errors.
pub async fn find(db: impl PgExecutor<'_>, id: &str) -> Result<Option<Project>, sqlx::Error> {
    let row: Option<ProjectRow> = sqlx::query_as(concat!(
        "SELECT ",
        project_columns!(),
        " FROM projects WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Project::from))
}

/// Lists the projects owned by any of `team_ids`, oldest first.
///
/// # Errors
/// Database errors.
pub async fn list_owned_by(
    db: impl PgExecutor<'_>,
    team_ids: &[Uuid],
) -> Result<Vec<Project>, sqlx::Error> {
    let rows: Vec<ProjectRow> = sqlx::query_as(concat!(
        "SELECT ",
        project_columns!(),
        " FROM projects WHERE owner_team_id = ANY($1) ORDER BY created_at, id"
    ))
    .bind(team_ids)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Project::from).collect())
}

/// The fields of a new or updated project.
#[derive(Debug, Clone)]
pub struct NewProject {
    /// `internal` or a UUID.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Production mode.
    pub is_production_mode: bool,
    /// Owning team in the internal project.
    pub owner_team_id: Option<Uuid>,
    /// Configuration.
    pub config: ProjectConfig,
}

/// Inserts a project.
///
/// # Errors
/// Database errors (a duplicate id among them).
pub async fn insert(db: impl PgExecutor<'_>, p: &NewProject) -> Result<Project, sqlx::Error> {
    let row: ProjectRow = sqlx::query_as(concat!("INSERT INTO projects (id, display_name, description, is_production_mode, owner_team_id, config)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ", project_columns!()))
    .bind(&p.id)
    .bind(&p.display_name)
    .bind(&p.description)
    .bind(p.is_production_mode)
    .bind(p.owner_team_id)
    .bind(sqlx::types::Json(&p.config))
    .fetch_one(db)
    .await?;
    Ok(row.into())
}

/// Replaces a project's editable fields.
///
/// # Errors
/// Database errors.
pub async fn update(
    db: impl PgExecutor<'_>,
    p: &NewProject,
) -> Result<Option<Project>, sqlx::Error> {
    let row: Option<ProjectRow> = sqlx::query_as(concat!(
        "UPDATE projects SET display_name = $2, description = $3, is_production_mode = $4,
                owner_team_id = $5, config = $6
         WHERE id = $1 RETURNING ",
        project_columns!()
    ))
    .bind(&p.id)
    .bind(&p.display_name)
    .bind(&p.description)
    .bind(p.is_production_mode)
    .bind(p.owner_team_id)
    .bind(sqlx::types::Json(&p.config))
    .fetch_optional(db)
    .await?;
    Ok(row.map(Project::from))
}

/// Deletes a project and everything in it.
///
/// # Errors
/// Database errors.
pub async fn delete(db: impl PgExecutor<'_>, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
