//! A project's users (`/projects/{id}/users`): the table, with search by
//! email, name or id, order by sign-up date and cursor pages (the API's own
//! listing, [`crate::db::user_list`], so it stays fast with 100,000 users);
//! and creating a user.

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
    /// `oldest` for oldest first; newest first otherwise.
    order: Option<String>,
    /// First user of the page.
    cursor: Option<String>,
    /// `1` to include anonymous users.
    anonymous: Option<String>,
    /// The change just made.
    done: Option<String>,
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
    let oldest_first = p.order.as_deref() == Some("oldest");
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
        order: UserOrder::SignedUpAt,
        desc: !oldest_first,
        limit: PAGE_SIZE + 1,
    };
    let pool = &d.state.pool;
    let mut rows = user_list::list(pool, &ctx.project.id, &query).await?;
    let total = user_list::count(pool, &ctx.project.id, anonymous).await?;
    let page = usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
    let next = rows.get(page).map(|u| u.id.to_string());
    rows.truncate(page);

    let base = ctx.base();
    let order = if oldest_first { "oldest" } else { "" };
    let anon = if anonymous { "1" } else { "" };
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
            "<div class=\"table-wrap\"><table class=\"users\"><thead><tr><th>User</th>\
             <th class=\"hide-sm\">Sign-in methods</th><th class=\"hide-sm\">User ID</th><th>Signed up</th></tr></thead>\
             <tbody>{body}</tbody></table></div>"
        )
    };
    let mut pager = String::new();
    if cursor.is_some() {
        let first = html::query(&[("q", search), ("order", order), ("anonymous", anon)]);
        pager.push_str(&format!(
            "<a class=\"btn btn-small\" href=\"{base}/users{first}\">First page</a>"
        ));
    }
    if let Some(next) = &next {
        let href = html::query(&[
            ("q", search),
            ("order", order),
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
         <label class=\"sr-only\" for=\"user-order\">Order</label>\
         <select id=\"user-order\" name=\"order\"><option value=\"\">Newest first</option>\
         <option value=\"oldest\"{oldest}>Oldest first</option></select>\
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
        oldest = if oldest_first { " selected" } else { "" },
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
         <td class=\"date\">{signed_up}</td></tr>",
        initial = Esc(&initial(name, email)),
        methods = method_badges(u),
        id = Esc(&u.id.to_string()),
        signed_up = html::date_cell(&u.signed_up_at),
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
