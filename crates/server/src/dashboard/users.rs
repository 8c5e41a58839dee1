//! A project's users (`/projects/{id}/users`): the table, with search by
//! email, name or id, sorted by sign-up, last activity, display name or
//! primary email (the column headers are the sort links), and cursor pages
//! (the API's own listing, [`crate::db::user_list`], where each order reads
//! one index, so it stays fast with 100,000 users); and creating a user.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::html::{self, Esc, Section, seg};
use super::security::{CsrfToken, PostForm};
use super::{Dashboard, PageError, ProjectContext, notice};
use crate::accounts::{self, NewUser, normalize_email};
use crate::db::user_list::{self, ListQuery, UserOrder};
use crate::db::users::UserRecord;
use crate::password;
use crate::secret::Secret;
use crate::validate::{is_plausible_email, single_line};

/// Users per page.
const PAGE_SIZE: i64 = 50;

/// Longest display name, as the API allows.
pub const MAX_DISPLAY_NAME_CHARS: usize = 256;

/// The query of the users page.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    /// Search text.
    q: Option<String>,
    /// The sort column: `signed_up` (default), `last_active`, `name`, `email`.
    sort: Option<String>,
    /// `asc` or `desc`; each column has its own default.
    dir: Option<String>,
    /// `oldest`: sign-up, oldest first (the form of older links).
    order: Option<String>,
    /// First user of the page.
    cursor: Option<String>,
    /// `1` to include anonymous users.
    anonymous: Option<String>,
    /// The change just made.
    done: Option<String>,
}

/// A column the table can be sorted by: query value, the listing's order,
/// whether it starts descending.
const SORTS: [(&str, UserOrder, bool); 4] = [
    ("signed_up", UserOrder::SignedUpAt, true),
    ("last_active", UserOrder::LastActiveAt, true),
    ("name", UserOrder::DisplayName, false),
    ("email", UserOrder::PrimaryEmail, false),
];

/// The table's order as asked: column and direction.
#[derive(Debug, Clone, Copy)]
struct Sort {
    key: &'static str,
    order: UserOrder,
    desc: bool,
}

impl Sort {
    /// The order the query asks for; an unknown column is a 400.
    fn parse(p: &ListParams) -> Result<Self, PageError> {
        if p.sort.is_none() && p.order.as_deref() == Some("oldest") {
            return Ok(Self::of("signed_up", false).unwrap_or(DEFAULT_SORT));
        }
        let key = p
            .sort
            .as_deref()
            .filter(|k| !k.is_empty())
            .unwrap_or("signed_up");
        let desc = match p.dir.as_deref().filter(|d| !d.is_empty()) {
            None => None,
            Some("asc") => Some(false),
            Some("desc") => Some(true),
            Some(_) => {
                return Err(PageError::bad_request(
                    "The sort direction must be asc or desc.",
                ));
            }
        };
        let (key, order, starts_desc) = SORTS
            .iter()
            .find(|(k, _, _)| *k == key)
            .copied()
            .ok_or_else(|| {
                PageError::bad_request(
                    "The users can be sorted by signed_up, last_active, name or email.",
                )
            })?;
        Ok(Self {
            key,
            order,
            desc: desc.unwrap_or(starts_desc),
        })
    }

    fn of(key: &str, desc: bool) -> Option<Self> {
        SORTS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(key, order, _)| Self {
                key,
                order: *order,
                desc,
            })
    }

    fn dir(self) -> &'static str {
        if self.desc { "desc" } else { "asc" }
    }
}

const DEFAULT_SORT: Sort = Sort {
    key: "signed_up",
    order: UserOrder::SignedUpAt,
    desc: true,
};

/// A link that sorts the table by `key`: the other direction when it is
/// already sorted by it, else the column's first direction.
fn sort_link(label: &str, key: &str, current: Sort, link: &dyn Fn(Sort) -> String) -> String {
    let starts_desc = SORTS.iter().any(|(k, _, d)| *k == key && *d);
    let (next_desc, arrow) = if current.key == key {
        (!current.desc, if current.desc { " ↓" } else { " ↑" })
    } else {
        (starts_desc, "")
    };
    let href = Sort::of(key, next_desc).map(link).unwrap_or_default();
    format!("<a class=\"sort\" href=\"{href}\">{label}{arrow}</a>")
}

/// The `aria-sort` attribute of a header whose links sort by `keys`.
fn aria_sort(keys: &[&str], current: Sort) -> &'static str {
    match (keys.contains(&current.key), current.desc) {
        (false, _) => "",
        (true, true) => " aria-sort=\"descending\"",
        (true, false) => " aria-sort=\"ascending\"",
    }
}

/// `GET /projects/{id}/users`.
pub async fn index(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    Query(p): Query<ListParams>,
    csrf: axum::Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let search = p.q.as_deref().map(str::trim).unwrap_or_default();
    let sort = Sort::parse(&p)?;
    let anonymous = p.anonymous.as_deref() == Some("1");
    let cursor = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(
            Uuid::parse_str(c)
                .map_err(|_| PageError::bad_request("The page cursor is not valid."))?,
        ),
        None => None,
    };
    let pattern = (!search.is_empty()).then(|| user_list::escape_like(search));
    let query = ListQuery {
        cursor,
        search: pattern.as_deref(),
        team_id: None,
        include_anonymous: anonymous,
        only_anonymous: false,
        include_restricted: true,
        require_verified: false,
        order: sort.order,
        desc: sort.desc,
        limit: PAGE_SIZE + 1,
    };
    let pool = &d.state.pool;
    let mut rows = user_list::list(pool, &ctx.project.id, &query).await?;
    let total = user_list::count(pool, &ctx.project.id, anonymous).await?;
    let page = usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
    let next = rows.get(page).map(|u| u.id.to_string());
    rows.truncate(page);

    let base = ctx.base();
    let anon = if anonymous { "1" } else { "" };
    // Links keep the search and the anonymous filter; a new order starts on the first page.
    let link = |s: Sort| {
        let q = html::query(&[
            ("q", search),
            ("sort", s.key),
            ("dir", s.dir()),
            ("anonymous", anon),
        ]);
        format!("{base}/users{q}")
    };
    let table = if rows.is_empty() {
        let why = if search.is_empty() {
            "No users yet. Sign up in your app, or create one here."
        } else {
            "No user matches this search."
        };
        format!("<div class=\"empty\">{why}</div>")
    } else {
        let body: String = rows.iter().map(|u| row(&base, u)).collect();
        format!(
            "<div class=\"table-wrap\"><table class=\"users\"><thead><tr>\
             <th{user_aria}>User <span class=\"sort-by\">{name} · {email}</span></th>\
             <th class=\"hide-sm\">Sign-in methods</th><th class=\"hide-sm\">User ID</th>\
             <th{signed_up_aria}>{signed_up}</th><th class=\"hide-sm\"{active_aria}>{active}</th></tr></thead>\
             <tbody>{body}</tbody></table></div>",
            user_aria = aria_sort(&["name", "email"], sort),
            name = sort_link("name", "name", sort, &link),
            email = sort_link("email", "email", sort, &link),
            signed_up_aria = aria_sort(&["signed_up"], sort),
            signed_up = sort_link("Signed up", "signed_up", sort, &link),
            active_aria = aria_sort(&["last_active"], sort),
            active = sort_link("Last active", "last_active", sort, &link),
        )
    };
    let mut pager = String::new();
    if cursor.is_some() {
        pager.push_str(&format!(
            "<a class=\"btn btn-small\" href=\"{}\">First page</a>",
            link(sort)
        ));
    }
    if let Some(next) = &next {
        let href = html::query(&[
            ("q", search),
            ("sort", sort.key),
            ("dir", sort.dir()),
            ("anonymous", anon),
            ("cursor", next),
        ]);
        pager.push_str(&format!(
            "<a class=\"btn btn-small\" rel=\"next\" href=\"{base}/users{href}\">Next page</a>"
        ));
    }
    let body = format!(
        "<div class=\"page-head\"><div><h1>Users</h1><p class=\"muted\">{count} {noun}{anon_note}</p></div>{create}</div>\
         <form class=\"toolbar\" method=\"get\" action=\"{base}/users\" role=\"search\">\
         <label class=\"sr-only\" for=\"user-search\">Search</label>\
         <input id=\"user-search\" type=\"search\" name=\"q\" value=\"{q}\" placeholder=\"Search by email, name or user ID\">\
         <input type=\"hidden\" name=\"sort\" value=\"{sort_key}\"><input type=\"hidden\" name=\"dir\" value=\"{dir}\">\
         <label class=\"check\"><input type=\"checkbox\" name=\"anonymous\" value=\"1\"{anon_checked}> Anonymous</label>\
         <button class=\"btn\" type=\"submit\">Search</button></form>\
         {table}<div class=\"pager\">{pager}</div>",
        count = html::count(total),
        noun = if total == 1 { "user" } else { "users" },
        anon_note = if anonymous {
            " (anonymous included)"
        } else {
            ""
        },
        create = create_form(&base, csrf.value()),
        q = Esc(search),
        sort_key = sort.key,
        dir = sort.dir(),
        anon_checked = if anonymous { " checked" } else { "" },
    );
    let chrome = ctx.chrome(Section::Users, notice(p.done.as_deref()));
    Ok(html::respond(
        StatusCode::OK,
        html::page("Users", &chrome, &body),
    ))
}

/// The first letter of a name or address, for an avatar.
pub fn initial(name: Option<&str>, email: Option<&str>) -> String {
    name.or(email)
        .and_then(|s| s.chars().find(|c| c.is_alphanumeric()))
        .map_or_else(|| "?".to_owned(), |c| c.to_uppercase().collect())
}

/// The sign-in methods a user has, as small badges.
pub fn method_badges(u: &UserRecord) -> String {
    let mut out = String::new();
    if u.has_password {
        out.push_str("<span class=\"badge\">password</span>");
    }
    if u.otp_auth_enabled {
        out.push_str("<span class=\"badge\">magic link</span>");
    }
    if u.passkey_auth_enabled {
        out.push_str("<span class=\"badge\">passkey</span>");
    }
    if let Some(accounts) = u.oauth_providers.0.as_array() {
        for a in accounts {
            let id = a["id"].as_str().unwrap_or("oauth");
            out.push_str(&format!(
                "<span class=\"badge badge-blue\">{}</span>",
                Esc(id)
            ));
        }
    }
    if u.is_anonymous {
        out.push_str("<span class=\"badge badge-amber\">anonymous</span>");
    }
    if u.restricted_by_admin {
        out.push_str("<span class=\"badge badge-red\">restricted</span>");
    }
    out
}

fn row(base: &str, u: &UserRecord) -> String {
    let href = format!("{base}/users/{}", seg(&u.id.to_string()));
    let name = u.display_name.as_deref().filter(|n| !n.is_empty());
    let email = u.primary_email.as_deref();
    let verified = match (email, u.primary_email_verified) {
        (Some(_), Some(true)) => "<span class=\"dot ok\" title=\"verified\"></span>",
        (Some(_), _) => "<span class=\"dot\" title=\"not verified\"></span>",
        (None, _) => "",
    };
    // Without a display name the address is the name, with its dot beside it.
    let (first, second) = match name {
        Some(n) => (
            Esc(n).to_string(),
            format!(
                "<span class=\"email\">{}{verified}</span>",
                Esc(email.unwrap_or("no email"))
            ),
        ),
        None => (
            format!("{}{verified}", Esc(email.unwrap_or("(no name)"))),
            String::new(),
        ),
    };
    format!(
        "<tr><td><a class=\"user-cell\" href=\"{href}\"><span class=\"avatar\" aria-hidden=\"true\">{initial}</span>\
         <span><span class=\"name\">{first}</span>{second}</span></a></td>\
         <td class=\"hide-sm\"><span class=\"badges\">{methods}</span></td><td class=\"hide-sm\"><code class=\"small\">{id}</code></td>\
         <td class=\"date\">{signed_up}</td><td class=\"date hide-sm\">{active}</td></tr>",
        initial = Esc(&initial(name, email)),
        methods = method_badges(u),
        id = Esc(&u.id.to_string()),
        signed_up = html::date_cell(&u.signed_up_at),
        active = html::date_cell(&u.last_active_at),
    )
}

fn create_form(base: &str, token: &str) -> String {
    format!(
        "<details class=\"popover\"><summary class=\"btn btn-primary\">Create user</summary>\
         <form method=\"post\" action=\"{base}/users\" class=\"stack\">{csrf}\
         <label>Email<input type=\"email\" name=\"email\" required autocomplete=\"off\"></label>\
         <label>Display name <span class=\"muted\">(optional)</span><input name=\"display_name\" maxlength=\"{MAX_DISPLAY_NAME_CHARS}\" autocomplete=\"off\"></label>\
         <label>Password <span class=\"muted\">(optional)</span><input type=\"password\" name=\"password\" autocomplete=\"new-password\"></label>\
         <label class=\"check\"><input type=\"checkbox\" name=\"email_verified\" value=\"1\"> Email verified</label>\
         <button class=\"btn btn-primary\" type=\"submit\">Create user</button></form></details>",
        csrf = html::csrf_field(token),
    )
}

/// `POST /projects/{id}/users`: creates a user whose primary email signs in,
/// with the API's rules (a password needs password sign-in turned on and the
/// length rules; the email must be free), then opens the user's page.
pub async fn create(
    State(d): State<Dashboard>,
    Path(project_id): Path<String>,
    form: PostForm,
) -> Result<Redirect, PageError> {
    let ctx = ProjectContext::load(&d.state, &project_id).await?;
    let project = &ctx.project;
    let email = normalize_email(form.get("email").unwrap_or_default());
    if !is_plausible_email(&email) {
        return Err(PageError::bad_request("Enter a valid email address."));
    }
    let display_name = form.get("display_name").map(single_line);
    if display_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_DISPLAY_NAME_CHARS)
    {
        return Err(PageError::bad_request(format!(
            "A display name has at most {MAX_DISPLAY_NAME_CHARS} characters."
        )));
    }
    let password_hash = match form.raw("password") {
        Some(pw) => {
            if !project.config.credential_enabled {
                return Err(PageError::bad_request(
                    "Password authentication is not enabled for this project.",
                ));
            }
            password::check_rules(pw).map_err(crate::error::ApiError::from)?;
            Some(password::hash(Secret::new(pw.to_owned())).await?)
        }
        None => None,
    };
    let new = NewUser {
        display_name: display_name.filter(|n| !n.is_empty()),
        primary_email: Some(email),
        primary_email_verified: form.checked("email_verified"),
        primary_email_auth_enabled: true,
        password_hash,
        ..NewUser::default()
    };
    let id = accounts::create_user(&d.state.pool, project, new).await?;
    Ok(Redirect::to(&format!(
        "{}/users/{}?done=user-created",
        ctx.base(),
        seg(&id.to_string())
    )))
}
