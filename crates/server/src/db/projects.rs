//! Projects and their config overrides.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Map;
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

use crate::config::migrate::migrate;
use crate::config::{Level, Overrides, legacy};

/// The id of the project that owns every other project (the dashboard's own).
pub const INTERNAL_PROJECT_ID: &str = "internal";

/// The team of the internal project that owns projects made by the local emulator.
pub const EMULATOR_OWNER_TEAM_ID: Uuid = Uuid::from_u128(0x5a0c858b_d9e9_49d4_9943_8ce385d86428);

/// An OAuth provider enabled for a project.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OAuthProviderConfig {
    /// The provider's key in the config (`auth.oauth.providers.<key>`).
    pub provider_config_id: String,
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

/// The typed view of a project's rendered config that the auth flows read,
/// in the shape of Stack Auth's legacy project `config` object
/// ([`crate::config::legacy::view`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
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
    /// `auth.oauth.providers` that allow sign-in, by type.
    pub oauth_providers: Vec<OAuthProviderConfig>,
    /// `domains.trustedDomains`, by base URL.
    pub domains: Vec<DomainConfig>,
    /// `auth.oauth.accountMergeStrategy`.
    pub oauth_account_merge_strategy: String,
    /// `rbac.defaultPermissions.teamCreator` (defined team permissions only).
    pub team_creator_default_permissions: Vec<PermissionRef>,
    /// `rbac.defaultPermissions.teamMember` (defined team permissions only).
    pub team_member_default_permissions: Vec<PermissionRef>,
    /// `rbac.defaultPermissions.signUp` (defined project permissions only).
    pub user_default_permissions: Vec<PermissionRef>,
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
    /// The config overrides, as stored.
    pub overrides: Overrides,
    /// Where the branch override came from (`{"type": "unlinked"}` unless a
    /// client said otherwise).
    pub branch_source: serde_json::Value,
    /// The rendered config.
    pub rendered: Arc<Map<String, serde_json::Value>>,
    /// The typed view of [`Self::rendered`].
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
    project_override: Json<serde_json::Value>,
    branch_override: Json<serde_json::Value>,
    branch_source: Json<serde_json::Value>,
    environment_override: Json<serde_json::Value>,
    created_at: DateTime<Utc>,
}

/// A stored override as a map, migrated to today's keys; anything but an
/// object (which the server never writes) reads as empty.
fn stored(level: Level, value: serde_json::Value) -> Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => migrate(level, &map),
        _ => Map::new(),
    }
}

impl From<ProjectRow> for Project {
    fn from(row: ProjectRow) -> Self {
        let overrides = Overrides {
            project: stored(Level::Project, row.project_override.0),
            branch: stored(Level::Branch, row.branch_override.0),
            environment: stored(Level::Environment, row.environment_override.0),
        };
        let rendered = overrides.render();
        let config = legacy::view(&rendered);
        Self {
            id: row.id,
            display_name: row.display_name,
            description: row.description,
            is_production_mode: row.is_production_mode,
            owner_team_id: row.owner_team_id,
            overrides,
            branch_source: row.branch_source.0,
            rendered: Arc::new(rendered),
            config,
            created_at: row.created_at,
        }
    }
}

/// The columns of a row, as a macro so that statements built on it stay
/// static strings.
macro_rules! project_columns {
    () => {
        "id, display_name, description, is_production_mode, owner_team_id, project_override, \
         branch_override, branch_source, environment_override, created_at"
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
    /// The config overrides.
    pub overrides: Overrides,
}

/// Inserts a project.
///
/// # Errors
/// Database errors (a duplicate id among them).
pub async fn insert(db: impl PgExecutor<'_>, p: &NewProject) -> Result<Project, sqlx::Error> {
    let row: ProjectRow = sqlx::query_as(concat!(
        "INSERT INTO projects (id, display_name, description, is_production_mode, owner_team_id,
             project_override, branch_override, environment_override)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
        project_columns!()
    ))
    .bind(&p.id)
    .bind(&p.display_name)
    .bind(&p.description)
    .bind(p.is_production_mode)
    .bind(p.owner_team_id)
    .bind(Json(&p.overrides.project))
    .bind(Json(&p.overrides.branch))
    .bind(Json(&p.overrides.environment))
    .fetch_one(db)
    .await?;
    Ok(row.into())
}

/// Replaces a project's editable fields and its overrides.
///
/// # Errors
/// Database errors.
pub async fn update(
    db: impl PgExecutor<'_>,
    p: &NewProject,
) -> Result<Option<Project>, sqlx::Error> {
    let row: Option<ProjectRow> = sqlx::query_as(concat!(
        "UPDATE projects SET display_name = $2, description = $3, is_production_mode = $4,
                owner_team_id = $5, project_override = $6, branch_override = $7,
                environment_override = $8
         WHERE id = $1 RETURNING ",
        project_columns!()
    ))
    .bind(&p.id)
    .bind(&p.display_name)
    .bind(&p.description)
    .bind(p.is_production_mode)
    .bind(p.owner_team_id)
    .bind(Json(&p.overrides.project))
    .bind(Json(&p.overrides.branch))
    .bind(Json(&p.overrides.environment))
    .fetch_optional(db)
    .await?;
    Ok(row.map(Project::from))
}

/// Loads a project's row for a config change: locked until the
/// transaction ends, so that two changes to one override do not lose
/// either.
///
/// # Errors
/// Database errors.
pub async fn find_for_update(
    db: impl PgExecutor<'_>,
    id: &str,
) -> Result<Option<Project>, sqlx::Error> {
    let row: Option<ProjectRow> = sqlx::query_as(concat!(
        "SELECT ",
        project_columns!(),
        " FROM projects WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Project::from))
}

/// Stores one level's override (and, for the branch, its source when
/// given).
///
/// # Errors
/// Database errors.
pub async fn set_override(
    db: impl PgExecutor<'_>,
    id: &str,
    level: Level,
    config: &Map<String, serde_json::Value>,
    source: Option<&serde_json::Value>,
) -> Result<(), sqlx::Error> {
    let statement = match level {
        Level::Project => "UPDATE projects SET project_override = $2 WHERE id = $1",
        Level::Branch => {
            "UPDATE projects SET branch_override = $2,
                    branch_source = COALESCE($3, branch_source) WHERE id = $1"
        }
        Level::Environment => "UPDATE projects SET environment_override = $2 WHERE id = $1",
    };
    sqlx::query(statement)
        .bind(id)
        .bind(Json(config))
        .bind(source.map(Json))
        .execute(db)
        .await?;
    Ok(())
}

/// Sets where the branch override came from.
///
/// # Errors
/// Database errors.
pub async fn set_branch_source(
    db: impl PgExecutor<'_>,
    id: &str,
    source: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE projects SET branch_source = $2 WHERE id = $1")
        .bind(id)
        .bind(Json(source))
        .execute(db)
        .await?;
    Ok(())
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

/// A project's id and name (the dashboard's project switcher).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProjectName {
    /// `internal` or a UUID.
    pub id: String,
    /// The name shown to users.
    pub display_name: String,
}

/// Every project's id and name: the internal project first, then oldest first.
///
/// # Errors
/// Database errors.
pub async fn names(db: impl PgExecutor<'_>) -> Result<Vec<ProjectName>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, display_name FROM projects ORDER BY (id = 'internal') DESC, created_at, id",
    )
    .fetch_all(db)
    .await
}

/// A project as the dashboard's project list shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectSummary {
    /// `internal` or a UUID.
    pub id: String,
    /// The name shown to users.
    pub display_name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Users who are not anonymous.
    pub user_count: i64,
    /// The app's config file, for a project the local emulator made for one.
    pub config_file: Option<String>,
}

/// Every project with its user count and config file, in the order of [`names`].
///
/// # Errors
/// Database errors.
pub async fn summaries(db: impl PgExecutor<'_>) -> Result<Vec<ProjectSummary>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id, p.display_name, p.created_at,
                (SELECT count(*) FROM users u WHERE u.project_id = p.id AND NOT u.is_anonymous)
                    AS user_count,
                (SELECT min(l.absolute_file_path) FROM local_emulator_projects l
                 WHERE l.project_id = p.id) AS config_file
         FROM projects p ORDER BY (p.id = 'internal') DESC, p.created_at, p.id",
    )
    .fetch_all(db)
    .await
}
