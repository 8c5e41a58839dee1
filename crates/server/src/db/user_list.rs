//! The paginated, searchable listing of a project's users.
//!
//! Every order is an index range read with a `(key, id)` cursor, so a page
//! costs the same at any depth: sign-up time (`users_signed_up`), last
//! activity (`users_last_active`), display name ignoring case
//! (`users_display_name`, migration 0009) and primary email ignoring case
//! (`contact_channels_value_lower`). Users without a name or email have no
//! key in those two orders; they come after every user who has one, by id,
//! in either direction, read by a second statement once the first runs out.
//!
//! A search (display name or any contact channel containing the text, or
//! the user id) takes one of two ways, chosen by how many users match
//! ([`search_candidates`]): a few (under [`FEW_MATCHES`]) are found through
//! the trigram indexes of migration 0010 and listed by id; many are found by
//! walking the order's index and testing each user, which soon has a page.
//! Either way a search at 100,000 users takes milliseconds, where testing
//! every user took 60–170 ms.

use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::users::{UserRecord, user_select};

/// The column a user listing is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOrder {
    /// Sign-up time.
    SignedUpAt,
    /// Last activity.
    LastActiveAt,
    /// Display name, ignoring case; users without one last.
    DisplayName,
    /// Primary email, ignoring case; users without one last.
    PrimaryEmail,
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

/// The users listing for one order key and direction, among the users that
/// `$only` (an `AND …` condition, or empty) keeps: a static statement whose
/// filters are all binds. `$cursor_col` is the key of the cursor user `c`;
/// `$id` is the user id column the order breaks ties with: `u.id`, or for
/// the primary email `pc.user_id`, which keeps the cursor condition on the
/// channel alone, where its index can serve it (with `u.id` PostgreSQL
/// checked the condition after the join, on every row before the cursor).
macro_rules! list_users {
    ($col:literal, $cursor_col:expr, $cmp:literal, $dir:literal) => {
        list_users!($col, "u.id", $cursor_col, $cmp, $dir, "")
    };
    ($col:literal, $id:literal, $cursor_col:expr, $cmp:literal, $dir:literal, $only:expr) => {
        concat!(
            user_select!(),
            "
         WHERE u.project_id = $1 ",
            $only,
            "
           AND ($2::uuid IS NULL OR (",
            $col,
            ", ",
            $id,
            ") ",
            $cmp,
            "
                (SELECT ",
            $cursor_col,
            ", c.id FROM users c WHERE c.project_id = $1 AND c.id = $2))
           AND ($3::text IS NULL
                OR ($10::uuid[] IS NOT NULL AND u.id = ANY($10))
                OR ($10::uuid[] IS NULL AND (u.display_name ILIKE '%' || $3 || '%' OR u.id::text = $3
                    OR (SELECT bool_or(cc.value ILIKE '%' || $3 || '%') FROM contact_channels cc
                        WHERE cc.project_id = u.project_id AND cc.user_id = u.id))))
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
            ", ",
            $id,
            " ",
            $dir,
            "
         LIMIT $9"
        )
    };
}

/// The primary email of the cursor user `c`, as the email order keys it.
macro_rules! primary_email_of_c {
    () => {
        "(SELECT lower(x.value) FROM contact_channels x WHERE x.project_id = c.project_id
            AND x.user_id = c.id AND x.type = 'email' AND x.is_primary)"
    };
}

/// Whether user `$2` has a display name.
const CURSOR_IS_NAMED: &str =
    "SELECT display_name IS NOT NULL FROM users WHERE project_id = $1 AND id = $2";

/// Users without a primary email. `NOT EXISTS` rather than `pc.value IS
/// NULL`: PostgreSQL estimates the anti-join well and walks the primary key
/// from the cursor (1–4 ms a page at 100,000 users) instead of joining every
/// channel (70 ms).
macro_rules! without_email {
    () => {
        "AND NOT EXISTS (SELECT 1 FROM contact_channels e WHERE e.project_id = u.project_id
            AND e.user_id = u.id AND e.type = 'email' AND e.is_primary)"
    };
}

/// Whether user `$2` has a primary email.
const CURSOR_HAS_EMAIL: &str = "SELECT EXISTS (SELECT 1 FROM contact_channels
    WHERE project_id = $1 AND user_id = $2 AND type = 'email' AND is_primary)";

/// Below this many matching users, a search lists them by id.
pub const FEW_MATCHES: usize = 2_000;

/// The users whose display name or a contact channel contains `pattern`
/// (escaped for `ILIKE`), plus the user whose id it is, when fewer than
/// [`FEW_MATCHES`] match; `None` when more do. Reads the trigram indexes
/// and stops at the limit, so either answer costs a few milliseconds.
async fn search_candidates(
    db: &PgPool,
    project_id: &str,
    pattern: &str,
) -> Result<Option<Vec<Uuid>>, sqlx::Error> {
    let limit = i64::try_from(FEW_MATCHES).unwrap_or(i64::MAX);
    let mut ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM users WHERE project_id = $1 AND display_name ILIKE '%' || $2 || '%'
         UNION ALL
         SELECT user_id FROM contact_channels WHERE project_id = $1 AND value ILIKE '%' || $2 || '%'
         LIMIT $3",
    )
    .bind(project_id)
    .bind(pattern)
    .bind(limit)
    .fetch_all(db)
    .await?;
    if ids.len() >= FEW_MATCHES {
        return Ok(None);
    }
    // An id has no wildcard characters, so its escaped form is itself.
    if let Ok(id) = Uuid::parse_str(pattern) {
        ids.push(id);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(Some(ids))
}

/// One page of a project's users.
///
/// # Errors
/// Database errors.
pub async fn list(
    db: &PgPool,
    project_id: &str,
    q: &ListQuery<'_>,
) -> Result<Vec<UserRecord>, sqlx::Error> {
    let candidates = match q.search {
        Some(pattern) => search_candidates(db, project_id, pattern).await?,
        None => None,
    };
    let q = &Listing {
        query: q,
        candidates: candidates.as_deref(),
    };
    let sql = match (q.query.order, q.query.desc) {
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
        (UserOrder::DisplayName, false) => {
            return Split {
                keyed: list_users!(
                    "lower(u.display_name)",
                    "u.id",
                    "lower(c.display_name)",
                    ">=",
                    "ASC",
                    "AND u.display_name IS NOT NULL"
                ),
                rest: list_users!(
                    "u.id",
                    "u.id",
                    "c.id",
                    ">=",
                    "ASC",
                    "AND u.display_name IS NULL"
                ),
                cursor_is_keyed: CURSOR_IS_NAMED,
            }
            .list(db, project_id, q)
            .await;
        }
        (UserOrder::DisplayName, true) => {
            return Split {
                keyed: list_users!(
                    "lower(u.display_name)",
                    "u.id",
                    "lower(c.display_name)",
                    "<=",
                    "DESC",
                    "AND u.display_name IS NOT NULL"
                ),
                rest: list_users!(
                    "u.id",
                    "u.id",
                    "c.id",
                    "<=",
                    "DESC",
                    "AND u.display_name IS NULL"
                ),
                cursor_is_keyed: CURSOR_IS_NAMED,
            }
            .list(db, project_id, q)
            .await;
        }
        (UserOrder::PrimaryEmail, false) => {
            return Split {
                keyed: list_users!(
                    "lower(pc.value)",
                    "pc.user_id",
                    primary_email_of_c!(),
                    ">=",
                    "ASC",
                    "AND pc.value IS NOT NULL"
                ),
                rest: list_users!("u.id", "u.id", "c.id", ">=", "ASC", without_email!()),
                cursor_is_keyed: CURSOR_HAS_EMAIL,
            }
            .list(db, project_id, q)
            .await;
        }
        (UserOrder::PrimaryEmail, true) => {
            return Split {
                keyed: list_users!(
                    "lower(pc.value)",
                    "pc.user_id",
                    primary_email_of_c!(),
                    "<=",
                    "DESC",
                    "AND pc.value IS NOT NULL"
                ),
                rest: list_users!("u.id", "u.id", "c.id", "<=", "DESC", without_email!()),
                cursor_is_keyed: CURSOR_HAS_EMAIL,
            }
            .list(db, project_id, q)
            .await;
        }
    };
    page(db, sql, project_id, q, q.query.cursor, q.query.limit).await
}

/// A page request with the search's candidates, when there are few.
struct Listing<'a> {
    query: &'a ListQuery<'a>,
    candidates: Option<&'a [Uuid]>,
}

/// An order whose key some users lack: the users with a key by it, then
/// the others by id.
struct Split {
    /// The users with a key, by key and id.
    keyed: &'static str,
    /// The users without one, by id.
    rest: &'static str,
    /// Whether the cursor user (`$2`) has a key.
    cursor_is_keyed: &'static str,
}

impl Split {
    async fn list(
        &self,
        db: &PgPool,
        project_id: &str,
        q: &Listing<'_>,
    ) -> Result<Vec<UserRecord>, sqlx::Error> {
        let cursor_is_keyed = match q.query.cursor {
            None => true,
            Some(id) => {
                let keyed: Option<bool> = sqlx::query_scalar(self.cursor_is_keyed)
                    .bind(project_id)
                    .bind(id)
                    .fetch_optional(db)
                    .await?;
                match keyed {
                    Some(keyed) => keyed,
                    // A cursor user who is gone: an empty page, as in the other orders.
                    None => return Ok(Vec::new()),
                }
            }
        };
        let mut rows = if cursor_is_keyed {
            page(db, self.keyed, project_id, q, q.query.cursor, q.query.limit).await?
        } else {
            Vec::new()
        };
        let short = q.query.limit - i64::try_from(rows.len()).unwrap_or(i64::MAX);
        if short > 0 {
            let cursor = if cursor_is_keyed {
                None
            } else {
                q.query.cursor
            };
            rows.extend(page(db, self.rest, project_id, q, cursor, short).await?);
        }
        Ok(rows)
    }
}

/// Runs one listing statement of [`list_users`] from `cursor`.
async fn page(
    db: &PgPool,
    sql: &'static str,
    project_id: &str,
    listing: &Listing<'_>,
    cursor: Option<Uuid>,
    limit: i64,
) -> Result<Vec<UserRecord>, sqlx::Error> {
    let q = listing.query;
    sqlx::query_as(sql)
        .bind(project_id)
        .bind(cursor)
        .bind(q.search)
        .bind(q.team_id)
        .bind(q.include_anonymous)
        .bind(q.only_anonymous)
        .bind(q.include_restricted)
        .bind(q.require_verified)
        .bind(limit)
        .bind(listing.candidates)
        // A search is planned for its own values each time: a plan made for
        // any values would test every user whichever way the search took.
        .persistent(q.search.is_none())
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
