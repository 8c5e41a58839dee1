//! The paginated, searchable listing of a project's users.

use sqlx::PgExecutor;
use uuid::Uuid;

use super::users::{UserRecord, user_select};

/// The column a user listing is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOrder {
    /// Sign-up time.
    SignedUpAt,
    /// Last activity.
    LastActiveAt,
}

/// A page request of [`list`].
#[derive(Debug)]
pub struct ListQuery<'a> {
    /// Start at this user (included), in the listing's order.
    pub cursor: Option<Uuid>,
    /// A display name, id or email fragment, already escaped for `ILIKE`.
    pub search: Option<&'a str>,
    /// Only members of this team.
    pub team_id: Option<Uuid>,
    /// Include anonymous users.
    pub include_anonymous: bool,
    /// Only anonymous users.
    pub only_anonymous: bool,
    /// Include restricted users (and, when the project requires it, unverified ones).
    pub include_restricted: bool,
    /// The project requires a verified primary email.
    pub require_verified: bool,
    /// Order column.
    pub order: UserOrder,
    /// Descending order.
    pub desc: bool,
    /// Most rows returned.
    pub limit: i64,
}

/// `s` with the `ILIKE` wildcards escaped, for [`ListQuery::search`].
pub fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The users listing for one order column and direction: a static statement
/// whose filters are all binds.
macro_rules! list_users {
    ($col:literal, $cursor_col:literal, $cmp:literal, $dir:literal) => {
        concat!(
            user_select!(),
            "
         WHERE u.project_id = $1
           AND ($2::uuid IS NULL OR (",
            $col,
            ", u.id) ",
            $cmp,
            "
                (SELECT ",
            $cursor_col,
            ", c.id FROM users c WHERE c.project_id = $1 AND c.id = $2))
           AND ($3::text IS NULL OR u.display_name ILIKE '%' || $3 || '%' OR u.id::text = $3
                OR EXISTS (SELECT 1 FROM contact_channels cc WHERE cc.project_id = u.project_id
                           AND cc.user_id = u.id AND cc.value ILIKE '%' || $3 || '%'))
           AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM team_members m WHERE m.project_id = u.project_id
                                            AND m.user_id = u.id AND m.team_id = $4))
           AND ($5 OR NOT u.is_anonymous)
           AND (NOT $6 OR u.is_anonymous)
           AND ($7 OR $5 OR (NOT u.restricted_by_admin
                AND (NOT $8 OR COALESCE(pc.is_verified, FALSE))))
         ORDER BY ",
            $col,
            " ",
            $dir,
            ", u.id ",
            $dir,
            "
         LIMIT $9"
        )
    };
}

/// One page of a project's users.
///
/// # Errors
/// Database errors.
pub async fn list(
    db: impl PgExecutor<'_>,
    project_id: &str,
    q: &ListQuery<'_>,
) -> Result<Vec<UserRecord>, sqlx::Error> {
    let sql = match (q.order, q.desc) {
        (UserOrder::SignedUpAt, false) => {
            list_users!("u.signed_up_at", "c.signed_up_at", ">=", "ASC")
        }
        (UserOrder::SignedUpAt, true) => {
            list_users!("u.signed_up_at", "c.signed_up_at", "<=", "DESC")
        }
        (UserOrder::LastActiveAt, false) => {
            list_users!("u.last_active_at", "c.last_active_at", ">=", "ASC")
        }
        (UserOrder::LastActiveAt, true) => {
            list_users!("u.last_active_at", "c.last_active_at", "<=", "DESC")
        }
    };
    sqlx::query_as(sql)
        .bind(project_id)
        .bind(q.cursor)
        .bind(q.search)
        .bind(q.team_id)
        .bind(q.include_anonymous)
        .bind(q.only_anonymous)
        .bind(q.include_restricted)
        .bind(q.require_verified)
        .bind(q.limit)
        .fetch_all(db)
        .await
}

/// How many users a project has; anonymous ones only when `include_anonymous`.
///
/// # Errors
/// Database errors.
pub async fn count(
    db: impl PgExecutor<'_>,
    project_id: &str,
    include_anonymous: bool,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE project_id = $1 AND ($2 OR NOT is_anonymous)",
    )
    .bind(project_id)
    .bind(include_anonymous)
    .fetch_one(db)
    .await
}
