//! The emulator's dashboard: the pages of Stack Auth's dashboard a developer
//! needs while building against the emulator (the projects; a project's
//! overview, users and one user, teams and one team with its members,
//! permissions and invitations, permission definitions, auth methods, API
//! keys and the mail sent to its users), served as HTML written in Rust on a
//! listener of its own (`--dashboard-listen`, default `127.0.0.1:8101`).
//!
//! There is no sign-in: the dashboard acts as the emulator's owner, who
//! administers every project. That makes it the most valuable port to a
//! hostile web page, so it answers only loopback `Host` names (DNS
//! rebinding, [`crate::host`]) and takes changes only from its own pages
//! ([`security`]: CSRF tokens, same-origin checks, a strict CSP, no CORS).
//!
//! Handlers call the server's domain and storage functions directly
//! ([`crate::accounts`], [`crate::db`]) with the same rules as the API; they
//! never call the API over HTTP. Pages are split by file (`projects.rs`,
//! `overview.rs`, `users.rs`, `user.rs` with `user_edit.rs`,
//! `user_permissions.rs` and `impersonate.rs` (and `user_path.rs`, the user a
//! path names), `teams.rs`, `team.rs` with `team_members.rs` and
//! `team_invitations.rs`, `permissions.rs`, `auth.rs` with
//! `auth_providers.rs` and its forms in `auth_forms.rs`, `keys.rs`,
//! `emails.rs`, `config.rs`, `emulator.rs`); [`html`] has the escaping
//! helpers, the layout and the cards pages share, `reveal.rs` the store of
//! secrets shown once, `assets.rs` the stylesheet and script built into the
//! binary. A page's module may use its forms' and parts' modules, never the
//! other way round. What it leaves out (for now): project settings, editing
//! a permission definition, team metadata and images.

mod assets;
mod auth;
mod auth_forms;
mod auth_providers;
mod config;
mod emails;
mod emulator;
pub mod html;
mod impersonate;
mod keys;
mod overview;
mod permissions;
mod projects;
mod reveal;
pub mod security;
mod team;
mod team_invitations;
mod team_members;
mod teams;
mod user;
mod user_edit;
mod user_path;
mod user_permissions;
mod users;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{from_fn, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::db::projects::{self as project_rows, Project, ProjectName};
use crate::error::ApiError;
use crate::host::AllowedHosts;
use crate::random::RngError;
use crate::state::AppState;
use html::{Chrome, Esc, Section};
use security::CsrfKey;

/// What the dashboard's handlers share: the server's state, this process's
/// CSRF key, and new key sets and impersonation sessions waiting to be shown
/// once.
#[derive(Clone, Debug)]
pub struct Dashboard {
    state: AppState,
    csrf: CsrfKey,
    reveals: reveal::Reveals<crate::db::keys::KeySet>,
    sessions: reveal::Reveals<impersonate::NewSession>,
}

impl Dashboard {
    /// The dashboard over `state`, with a fresh CSRF key.
    ///
    /// # Errors
    /// The OS RNG cannot be read.
    pub fn new(state: AppState) -> Result<Self, RngError> {
        Ok(Self {
            state,
            csrf: CsrfKey::generate()?,
            reveals: reveal::Reveals::default(),
            sessions: reveal::Reveals::default(),
        })
    }
}

/// The dashboard's router: its pages behind the `Host` guard of `hosts`
/// (loopback names only, unless told otherwise), the same-origin check and
/// the CSRF cookie, every answer with the security headers.
pub fn router(dashboard: Dashboard, hosts: AllowedHosts) -> Router {
    let key = dashboard.csrf.clone();
    let pages = Router::new()
        .route("/", get(projects::index))
        .route("/switch", get(projects::switch))
        .route("/emulator", get(emulator::show))
        .route("/projects", post(projects::create))
        .route("/projects/{project_id}", get(overview::show))
        .route("/projects/{project_id}/auth", get(auth::index))
        .route(
            "/projects/{project_id}/auth/methods",
            post(auth_forms::save_methods),
        )
        .route(
            "/projects/{project_id}/auth/providers",
            post(auth_forms::save_providers),
        )
        .route(
            "/projects/{project_id}/auth/providers/{provider_id}/keys",
            post(auth_forms::save_provider_keys),
        )
        .route(
            "/projects/{project_id}/auth/localhost",
            post(auth_forms::save_localhost),
        )
        .route(
            "/projects/{project_id}/auth/domains",
            post(auth_forms::add_domain),
        )
        .route(
            "/projects/{project_id}/auth/domains/{domain_id}/remove",
            post(auth_forms::remove_domain),
        )
        .route(
            "/projects/{project_id}/keys",
            get(keys::index).post(keys::create),
        )
        .route(
            "/projects/{project_id}/keys/created/{reveal_id}",
            get(keys::created),
        )
        .route(
            "/projects/{project_id}/keys/{key_id}/revoke",
            post(keys::revoke),
        )
        .route("/projects/{project_id}/delete", post(projects::delete))
        .route(
            "/projects/{project_id}/users",
            get(users::index).post(users::create),
        )
        .route("/projects/{project_id}/users/{user_id}", get(user::show))
        .route(
            "/projects/{project_id}/users/{user_id}/display-name",
            post(user::rename),
        )
        .route(
            "/projects/{project_id}/users/{user_id}/profile",
            post(user_edit::save_profile),
        )
        .route(
            "/projects/{project_id}/users/{user_id}/metadata",
            post(user_edit::save_metadata),
        )
        .route(
            "/projects/{project_id}/users/{user_id}/impersonate",
            post(impersonate::create),
        )
        .route(
            "/projects/{project_id}/users/{user_id}/impersonate/{reveal_id}",
            get(impersonate::show),
        )
        .route(
            "/projects/{project_id}/users/{user_id}/permissions",
            post(user_permissions::grant),
        )
        .route(
            "/projects/{project_id}/users/{user_id}/permissions/{permission_id}/revoke",
            post(user_permissions::revoke),
        )
        .route(
            "/projects/{project_id}/users/{user_id}/delete",
            post(user::delete),
        )
        .route(
            "/projects/{project_id}/users/{user_id}/sessions/{session_id}/revoke",
            post(user::revoke_session),
        )
        .route(
            "/projects/{project_id}/teams",
            get(teams::index).post(teams::create),
        )
        .route("/projects/{project_id}/teams/{team_id}", get(team::show))
        .route(
            "/projects/{project_id}/teams/{team_id}/display-name",
            post(team::rename),
        )
        .route(
            "/projects/{project_id}/teams/{team_id}/delete",
            post(team::delete),
        )
        .route(
            "/projects/{project_id}/teams/{team_id}/members",
            post(team_members::add),
        )
        .route(
            "/projects/{project_id}/teams/{team_id}/members/{user_id}/remove",
            post(team_members::remove),
        )
        .route(
            "/projects/{project_id}/teams/{team_id}/members/{user_id}/permissions",
            post(team_members::grant),
        )
        .route(
            "/projects/{project_id}/teams/{team_id}/members/{user_id}/permissions/{permission_id}/revoke",
            post(team_members::revoke),
        )
        .route(
            "/projects/{project_id}/teams/{team_id}/invitations",
            post(team_invitations::send),
        )
        .route(
            "/projects/{project_id}/teams/{team_id}/invitations/{invitation_id}/revoke",
            post(team_invitations::revoke),
        )
        .route(
            "/projects/{project_id}/permissions",
            get(permissions::index),
        )
        .route(
            "/projects/{project_id}/permissions/{scope}",
            post(permissions::create),
        )
        .route(
            "/projects/{project_id}/permissions/{scope}/{permission_id}/delete",
            post(permissions::delete),
        )
        .route("/projects/{project_id}/emails", get(emails::index))
        .route(
            "/projects/{project_id}/config",
            get(config::index).post(config::set),
        )
        .route("/projects/{project_id}/config/reset", post(config::reset))
        .route("/static/{file}", get(assets::serve))
        .fallback(not_found)
        .with_state(dashboard)
        .layer(from_fn(move |request: Request, next| {
            security::csrf_cookie(key.clone(), request, next)
        }))
        .layer(from_fn(security::same_origin_only));
    hosts
        .guard_router(pages)
        .layer(map_response(security::security_headers))
}

async fn not_found() -> PageError {
    PageError::not_found("There is no dashboard page at this address.")
}

/// A page that could not be shown, with the status and message it answers.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400: the form or query was not usable.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 403: the request was refused.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: no such page, project or user.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 410: what the page showed once is gone.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, message)
    }

    /// 500, with details only in the log (where the caller put them).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on the server; its log has the details.",
        )
    }

    /// The error as a page of its own.
    pub fn into_page(self) -> Response {
        let title = match self.status.canonical_reason() {
            Some(reason) => format!("{} {reason}", self.status.as_u16()),
            None => self.status.as_u16().to_string(),
        };
        let chrome = Chrome {
            projects: &[],
            current: None,
            section: Section::Projects,
            notice: None,
        };
        let body = format!(
            "<div class=\"page-head\"><h1>{}</h1></div><div class=\"card\"><p class=\"error-text\">{}</p>\
             <p><a class=\"btn\" href=\"/\">Back to the projects</a></p></div>",
            Esc(&title),
            Esc(&self.message)
        );
        html::respond(self.status, html::page(&title, &chrome, &body))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.into_page()
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        let status = |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
        match e {
            ApiError::Known(k) => Self::new(status(k.status), k.message),
            ApiError::Status { status: s, message } => Self::new(status(s), message),
            ApiError::DatabaseUnavailable(e) => {
                tracing::warn!(error = %e, "dashboard: the database is unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is unavailable; try again in a moment.",
                )
            }
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "dashboard request failed");
                Self::internal()
            }
        }
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::from(e).into()
    }
}

impl From<RngError> for PageError {
    fn from(e: RngError) -> Self {
        ApiError::from(e).into()
    }
}

/// A project page's project and the switcher's list.
struct ProjectContext {
    projects: Vec<ProjectName>,
    project: Project,
    name: ProjectName,
}

impl ProjectContext {
    /// Loads project `id`.
    async fn load(state: &AppState, id: &str) -> Result<Self, PageError> {
        let project = project_rows::find(&state.pool, id)
            .await?
            .ok_or_else(|| PageError::not_found(format!("There is no project {id}.")))?;
        let projects = project_rows::names(&state.pool).await?;
        let name = ProjectName {
            id: project.id.clone(),
            display_name: project.display_name.clone(),
        };
        Ok(Self {
            projects,
            project,
            name,
        })
    }

    /// The frame of a page about this project.
    fn chrome(&self, section: Section, notice: Option<&'static str>) -> Chrome<'_> {
        Chrome {
            projects: &self.projects,
            current: Some(&self.name),
            section,
            notice,
        }
    }

    /// The path of this project's pages.
    fn base(&self) -> String {
        format!("/projects/{}", html::seg(&self.project.id))
    }
}

/// The confirmation a page shows after a change (`?done=` of the redirect);
/// fixed texts, so a link cannot make the dashboard say anything else.
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "project-created" => "Project created.",
        "project-deleted" => "Project deleted.",
        "user-created" => "User created.",
        "user-deleted" => "User deleted.",
        "user-renamed" => "Display name saved.",
        "user-saved" => "Profile saved.",
        "metadata-saved" => "Metadata saved.",
        "permission-granted" => "Permission granted.",
        "permission-revoked" => "Permission revoked.",
        "session-revoked" => "Session revoked.",
        "team-created" => "Team created.",
        "team-renamed" => "Team name saved.",
        "team-deleted" => "Team deleted.",
        "member-added" => "Member added.",
        "member-removed" => "Member removed.",
        "invitation-sent" => "Invitation sent.",
        "invitation-revoked" => "Invitation revoked.",
        "permission-created" => "Permission created.",
        "permission-deleted" => "Permission deleted.",
        "auth-saved" => "Auth settings saved.",
        "keys-created" => "API key created.",
        "keys-revoked" => "API key revoked.",
        "config-saved" => "Config saved.",
        "config-saved-file" => "Config saved; the config sync writes it to the app's config file.",
        _ => return None,
    })
}

/// The second step of a deletion made without the page's script: a page
/// that repeats the form with `confirmed=yes`.
fn confirm_page(
    chrome: &Chrome<'_>,
    question: &str,
    action: &str,
    back: &str,
    token: &str,
) -> Response {
    let body = format!(
        "<div class=\"page-head\"><h1>Are you sure?</h1></div><div class=\"card danger\">\
         <p>{question}</p><form method=\"post\" action=\"{action}\" class=\"row\">{csrf}\
         <input type=\"hidden\" name=\"confirmed\" value=\"yes\">\
         <button class=\"btn btn-danger\" type=\"submit\">Delete</button>\
         <a class=\"btn btn-ghost\" href=\"{back}\">Cancel</a></form></div>",
        question = Esc(question),
        csrf = html::csrf_field(token),
    );
    html::respond(StatusCode::OK, html::page("Confirm", chrome, &body))
}
