//! Directly granted permissions: per team member (`team_member_permissions`)
//! and per user (`user_permissions`). What a grant implies is the domain's
//! business ([`crate::permissions`]).
//!
//! The two tables take the same operations; each has its own static
//! statements, which [`Holder`] (or the [`Scope`]) chooses between. A team
//! statement binds the project, the team and the user, a project one the
//! project and the user; the permission id and the rest follow.

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, PgExecutor, Postgres};
use uuid::Uuid;

use crate::permissions::Scope;

/// Who holds a direct grant: a grant row's key without its permission id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Holder {
    /// A member of a team (`team_member_permissions`).
    Member {
        /// The team.
        team_id: Uuid,
        /// The member.
        user_id: Uuid,
    },
    /// A user, across the project (`user_permissions`).
    User(Uuid),
}

impl Holder {
    /// The scope of the permissions this holder is granted.
    pub fn scope(self) -> Scope {
        match self {
            Self::Member { .. } => Scope::Team,
            Self::User(_) => Scope::Project,
        }
    }

    /// The user who holds the grant.
    pub fn user_id(self) -> Uuid {
        match self {
            Self::Member { user_id, .. } | Self::User(user_id) => user_id,
        }
    }
}

/// One statement per table of grants.
struct PerTable {
    /// On `team_member_permissions`: `$2` team, `$3` user.
    member: &'static str,
    /// On `user_permissions`: `$2` user.
    user: &'static str,
}

/// `statements`' statement for `holder`, with the project and the holder bound.
fn for_holder<'q>(
    statements: &PerTable,
    project_id: &'q str,
    holder: Holder,
) -> Query<'q, Postgres, PgArguments> {
    match holder {
        Holder::Member { team_id, user_id } => sqlx::query(statements.member)
            .bind(project_id)
            .bind(team_id)
            .bind(user_id),
        Holder::User(user_id) => sqlx::query(statements.user).bind(project_id).bind(user_id),
    }
}

const GRANT: PerTable = PerTable {
    member: "INSERT INTO team_member_permissions (project_id, team_id, user_id, permission_id)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    user: "INSERT INTO user_permissions (project_id, user_id, permission_id)
         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
};

const REVOKE: PerTable = PerTable {
    member: "DELETE FROM team_member_permissions
         WHERE project_id = $1 AND team_id = $2 AND user_id = $3 AND permission_id = $4",
    user: "DELETE FROM user_permissions WHERE project_id = $1 AND user_id = $2 AND permission_id = $3",
};

/// The permission ids granted directly to `user_id` in `team_id`, sorted.
///
/// # Errors
/// Database errors.
pub async fn team_grants(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT permission_id FROM team_member_permissions
         WHERE project_id = $1 AND team_id = $2 AND user_id = $3 ORDER BY permission_id",
    )
    .bind(project_id)
    .bind(team_id)
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Grants `permission_id` to a team member or a user (nothing happens when
/// it is granted already).
///
/// # Errors
/// Database errors (a missing membership or user among them).
pub async fn grant(
    db: impl PgExecutor<'_>,
    project_id: &str,
    holder: Holder,
    permission_id: &str,
) -> Result<(), sqlx::Error> {
    for_holder(&GRANT, project_id, holder)
        .bind(permission_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Revokes a direct grant; false when there was none.
///
/// # Errors
/// Database errors.
pub async fn revoke(
    db: impl PgExecutor<'_>,
    project_id: &str,
    holder: Holder,
    permission_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = for_holder(&REVOKE, project_id, holder)
        .bind(permission_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Whether `user_id` is a member of `team_id`.
///
/// # Errors
/// Database errors.
pub async fn is_member(
    db: impl PgExecutor<'_>,
    project_id: &str,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let statement = "SELECT EXISTS (SELECT 1 FROM team_members WHERE project_id = $1 AND team_id = $2 AND user_id = $3)";
    super::exists_with_ids(db, statement, project_id, &[team_id, user_id]).await
}

/// Whether a grant failed because the membership or user it belongs to is
/// gone (a foreign-key violation), e.g. removed while the grant was made.
pub fn is_missing_owner(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23503"))
}

/// One directly granted permission.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GrantRow {
    /// The member or user.
    pub user_id: Uuid,
    /// The team, for a team grant (project grant rows have no such column).
    #[sqlx(default)]
    pub team_id: Option<Uuid>,
    /// The permission granted.
    pub permission_id: String,
}

impl GrantRow {
    /// Who holds the grant.
    pub fn holder(&self) -> Holder {
        match self.team_id {
            Some(team_id) => Holder::Member {
                team_id,
                user_id: self.user_id,
            },
            None => Holder::User(self.user_id),
        }
    }
}

/// Which direct grants a list reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantsOf {
    /// Team grants, of one team when given.
    Teams(Option<Uuid>),
    /// Project grants.
    Project,
}

impl GrantsOf {
    /// The scope of the permissions listed.
    pub fn scope(self) -> Scope {
        match self {
            Self::Teams(_) => Scope::Team,
            Self::Project => Scope::Project,
        }
    }
}

/// The direct grants of a project of one kind, narrowed to a user and a
/// permission id when given.
///
/// # Errors
/// Database errors.
pub async fn list_grants(
    db: impl PgExecutor<'_>,
    project_id: &str,
    of: GrantsOf,
    user_id: Option<Uuid>,
    permission_id: Option<&str>,
) -> Result<Vec<GrantRow>, sqlx::Error> {
    let query = match of {
        GrantsOf::Teams(team_id) => sqlx::query_as(
            "SELECT user_id, team_id, permission_id FROM team_member_permissions
         WHERE project_id = $1
           AND ($2::uuid IS NULL OR team_id = $2)
           AND ($3::uuid IS NULL OR user_id = $3)
           AND ($4::text IS NULL OR permission_id = $4)",
        )
        .bind(project_id)
        .bind(team_id),
        GrantsOf::Project => sqlx::query_as(
            "SELECT user_id, permission_id FROM user_permissions
         WHERE project_id = $1
           AND ($2::uuid IS NULL OR user_id = $2)
           AND ($3::text IS NULL OR permission_id = $3)",
        )
        .bind(project_id),
    };
    query.bind(user_id).bind(permission_id).fetch_all(db).await
}

/// The statements that move every grant of `$2` to `$3` in the project `$1`,
/// in order: a holder who already has `$3` keeps that one grant.
const RENAME: [&str; 4] = [
    "DELETE FROM team_member_permissions o
         WHERE o.project_id = $1 AND o.permission_id = $2
           AND EXISTS (SELECT 1 FROM team_member_permissions n
                       WHERE n.project_id = o.project_id AND n.team_id = o.team_id
                         AND n.user_id = o.user_id AND n.permission_id = $3)",
    "UPDATE team_member_permissions SET permission_id = $3
         WHERE project_id = $1 AND permission_id = $2",
    "DELETE FROM user_permissions o
         WHERE o.project_id = $1 AND o.permission_id = $2
           AND EXISTS (SELECT 1 FROM user_permissions n
                       WHERE n.project_id = o.project_id AND n.user_id = o.user_id
                         AND n.permission_id = $3)",
    "UPDATE user_permissions SET permission_id = $3
         WHERE project_id = $1 AND permission_id = $2",
];

/// Moves every grant of `old_id`, team and project ones, to `new_id` (a
/// definition was renamed). A holder who already has `new_id` keeps that
/// one grant.
///
/// # Errors
/// Database errors.
pub async fn rename_grants(
    db: &mut PgConnection,
    project_id: &str,
    old_id: &str,
    new_id: &str,
) -> Result<(), sqlx::Error> {
    for statement in RENAME {
        sqlx::query(statement)
            .bind(project_id)
            .bind(old_id)
            .bind(new_id)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

/// Deletes every grant of `permission_id` of `scope` in the project.
///
/// # Errors
/// Database errors.
pub async fn delete_grants_of(
    db: impl PgExecutor<'_>,
    scope: Scope,
    project_id: &str,
    permission_id: &str,
) -> Result<(), sqlx::Error> {
    let statement = match scope {
        Scope::Team => {
            "DELETE FROM team_member_permissions WHERE project_id = $1 AND permission_id = $2"
        }
        Scope::Project => {
            "DELETE FROM user_permissions WHERE project_id = $1 AND permission_id = $2"
        }
    };
    sqlx::query(statement)
        .bind(project_id)
        .bind(permission_id)
        .execute(db)
        .await?;
    Ok(())
}
