//! The mock's HTML: the sign-in page and the error page.
//!
//! Pages are self-contained (the emulator runs offline: no CDN, no web fonts,
//! no remote images) and every interpolated value is HTML-escaped. Previously
//! used accounts are kept in the browser's `localStorage` and drawn with DOM
//! calls (`textContent`), never as HTML. Each response carries a
//! Content-Security-Policy that allows only the page's own inline style and
//! script, by a per-response nonce.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::mail::templates::escape_html as escape;

/// The sign-in page's content.
#[derive(Debug, Clone, Default)]
pub(super) struct SignIn<'a> {
    /// The interaction's uid.
    pub uid: &'a str,
    /// The client id (provider).
    pub client_id: &'a str,
    /// The provider's display name.
    pub provider: &'a str,
    /// Host (and port) of the app's redirect URI.
    pub app: &'a str,
    /// Why the last attempt was refused.
    pub error: Option<&'a str>,
    /// The values of the last attempt, to fill in again.
    pub login: &'a str,
    /// See `login`.
    pub name: &'a str,
    /// See `login`.
    pub picture: &'a str,
}

/// An HTML response: `render` gets the CSP nonce and returns the page.
pub(super) fn html(status: StatusCode, render: impl FnOnce(&str) -> String) -> Response {
    let Ok(nonce) = crate::random::bytes::<16>().map(|b| B64.encode(b)) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The mock could not read the OS random number generator.",
        )
            .into_response();
    };
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; \
         img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
    );
    let mut response = (status, render(&nonce)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// The sign-in page.
pub(super) fn sign_in_page(view: &SignIn<'_>, nonce: &str) -> String {
    let uid = escape(view.uid);
    let provider = escape(view.provider);
    let mark = escape(&view.provider.chars().next().unwrap_or('?').to_string());
    let app = escape(view.app);
    let client_id = escape(view.client_id);
    let login = escape(view.login);
    let name = escape(view.name);
    let picture = escape(view.picture);
    let error = view
        .error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    // The script forgets an account the server just refused.
    let rejected = if view.error.is_some() {
        login.as_str()
    } else {
        ""
    };
    let nonce = escape(nonce);
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Mock OAuth sign-in</title>
<style nonce="{nonce}">{CSS}</style>
</head>
<body>
<main>
<div class="card">
<div class="badge" title="client_id: {client_id}"><span class="mark" aria-hidden="true">{mark}</span>Mock {provider}</div>
<h1>Sign in with {provider}</h1>
<p class="lead">to continue to <strong>{app}</strong></p>
{error}
<section id="previous" class="previous" hidden>
<h2>Previously used accounts</h2>
<ul id="accounts" class="accounts"></ul>
<div class="divider">or use another account</div>
</section>
<form id="sign-in" method="post" action="/interaction/{uid}/login" data-rejected="{rejected}" autocomplete="on">
<label for="login">E-mail</label>
<input id="login" name="login" type="email" required autofocus maxlength="256" placeholder="ada@example.com" value="{login}">
<label for="name">Display name <span class="optional">(optional)</span></label>
<input id="name" name="name" type="text" maxlength="256" placeholder="Ada Lovelace" value="{name}">
<label for="picture">Avatar URL <span class="optional">(optional)</span></label>
<input id="picture" name="picture" type="url" maxlength="2048" placeholder="https://example.com/avatar.png" value="{picture}">
<button class="primary" type="submit">Sign in</button>
</form>
<p class="note">This is the Stack emulator's offline mock of {provider}. It accepts any e-mail address without a password, and nothing leaves this machine.</p>
</div>
<footer><a href="/interaction/{uid}/abort">Cancel and return to the app</a></footer>
</main>
<script nonce="{nonce}">{SCRIPT}</script>
</body>
</html>
"#
    )
}

/// A page that explains an error.
pub(super) fn error_page(title: &str, message: &str, nonce: &str) -> String {
    let title = escape(title);
    let message = escape(message);
    let nonce = escape(nonce);
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title} · Mock OAuth</title>
<style nonce="{nonce}">{CSS}</style>
</head>
<body>
<main>
<div class="card">
<div class="badge"><span class="mark" aria-hidden="true">!</span>Mock OAuth</div>
<h1>{title}</h1>
<p class="lead">{message}</p>
</div>
</main>
</body>
</html>
"#
    )
}

const CSS: &str = r#"
:root{color-scheme:light dark;--bg:#f4f5f7;--card:#fff;--text:#16181d;--muted:#5f6672;--border:#dde0e6;--accent:#16181d;--accent-text:#fff;--focus:#3b82f6;--error-bg:#fdecec;--error:#a4262c}
@media (prefers-color-scheme:dark){:root{--bg:#0f1115;--card:#181b21;--text:#e8eaee;--muted:#9aa1ad;--border:#2b3039;--accent:#e8eaee;--accent-text:#111318;--error-bg:#3a1d1f;--error:#ffa3a3}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:24px 16px;background:var(--bg);color:var(--text);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{width:100%;max-width:400px}
.card{background:var(--card);border:1px solid var(--border);border-radius:14px;padding:28px;box-shadow:0 1px 2px rgba(0,0,0,.04),0 8px 24px rgba(0,0,0,.06)}
.card>:last-child{margin-bottom:0}
.badge{display:inline-flex;align-items:center;gap:8px;font-size:13px;color:var(--muted);border:1px solid var(--border);border-radius:999px;padding:3px 10px 3px 3px}
.mark{width:22px;height:22px;border-radius:50%;background:var(--accent);color:var(--accent-text);display:grid;place-items:center;font-weight:600;font-size:12px}
h1{font-size:22px;line-height:1.3;margin:18px 0 2px;letter-spacing:-.01em}
.lead{color:var(--muted);margin:0 0 20px;overflow-wrap:anywhere}
.lead strong{color:var(--text);font-weight:600}
label{display:block;font-weight:500;font-size:14px;margin:14px 0 6px}
.optional{color:var(--muted);font-weight:400}
input{width:100%;padding:10px 12px;font:inherit;color:inherit;background:transparent;border:1px solid var(--border);border-radius:8px}
input::placeholder{color:var(--muted);opacity:.7}
input:focus{outline:2px solid var(--focus);outline-offset:-1px;border-color:transparent}
button{font:inherit;color:inherit;cursor:pointer}
.primary{margin-top:22px;width:100%;padding:11px;border:0;border-radius:8px;background:var(--accent);color:var(--accent-text);font-weight:600}
.primary:hover{opacity:.9}
.primary:focus-visible,.account:focus-visible,.forget:focus-visible{outline:2px solid var(--focus);outline-offset:2px}
.note{margin:22px 0 0;padding:12px 14px;border-radius:8px;background:var(--bg);color:var(--muted);font-size:13px}
.error{margin:0 0 16px;padding:10px 14px;border-radius:8px;background:var(--error-bg);color:var(--error);font-size:14px}
.previous h2{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);margin:0 0 8px;font-weight:600}
.accounts{list-style:none;margin:0;padding:0;display:grid;gap:8px}
.accounts li{display:flex;align-items:stretch;border:1px solid var(--border);border-radius:10px;transition:border-color .15s}
.accounts li:hover{border-color:var(--muted)}
.account{flex:1;display:flex;align-items:center;gap:12px;padding:10px 12px;background:none;border:0;text-align:left;min-width:0;border-radius:10px}
.avatar{flex:none;width:34px;height:34px;border-radius:50%;display:grid;place-items:center;background:var(--bg);border:1px solid var(--border);font-weight:600}
.who{display:flex;flex-direction:column;min-width:0}
.who span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.who .secondary{color:var(--muted);font-size:13px}
.forget{flex:none;background:none;border:0;color:var(--muted);font-size:18px;padding:0 14px;border-radius:0 10px 10px 0}
.forget:hover{color:var(--text)}
.divider{display:flex;align-items:center;gap:12px;color:var(--muted);font-size:13px;margin:20px 0 2px}
.divider::before,.divider::after{content:"";flex:1;border-top:1px solid var(--border)}
footer{text-align:center;margin-top:16px;font-size:13px}
footer a{color:var(--muted)}
"#;

/// Keeps the accounts used on this browser (at most eight, newest first) and
/// shows them as cards that sign in with one click.
const SCRIPT: &str = r#"
(function () {
  "use strict";
  var KEY = "stack-emulator.mock-oauth.accounts";
  var form = document.getElementById("sign-in");
  var section = document.getElementById("previous");
  var list = document.getElementById("accounts");
  if (!form || !section || !list) return;
  var fields = form.elements;
  function text(value) { return typeof value === "string" ? value : ""; }
  function load() {
    try {
      var parsed = JSON.parse(localStorage.getItem(KEY) || "[]");
      if (!Array.isArray(parsed)) return [];
      return parsed.filter(function (a) { return a && text(a.login) !== ""; });
    } catch (e) { return []; }
  }
  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(accounts.slice(0, 8))); } catch (e) { /* storage is off */ }
  }
  var accounts = load();
  var rejected = form.getAttribute("data-rejected") || "";
  if (rejected) {
    accounts = accounts.filter(function (a) { return a.login !== rejected; });
    save();
  }
  var submitted = false;
  function signInAs(account) {
    fields.login.value = text(account.login);
    fields.name.value = text(account.name);
    fields.picture.value = text(account.picture);
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }
  function card(account, index) {
    var item = document.createElement("li");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "account";
    var label = text(account.name) || text(account.login);
    var avatar = document.createElement("span");
    avatar.className = "avatar";
    avatar.setAttribute("aria-hidden", "true");
    avatar.textContent = (Array.from(label)[0] || "?").toUpperCase();
    var who = document.createElement("span");
    who.className = "who";
    var primary = document.createElement("span");
    primary.textContent = label;
    who.appendChild(primary);
    if (text(account.name)) {
      var secondary = document.createElement("span");
      secondary.className = "secondary";
      secondary.textContent = text(account.login);
      who.appendChild(secondary);
    }
    button.appendChild(avatar);
    button.appendChild(who);
    button.addEventListener("click", function () { signInAs(account); });
    var forget = document.createElement("button");
    forget.type = "button";
    forget.className = "forget";
    forget.title = "Forget this account";
    forget.setAttribute("aria-label", "Forget " + text(account.login));
    forget.textContent = "\u00d7";
    forget.addEventListener("click", function () {
      accounts.splice(index, 1);
      save();
      render();
    });
    item.appendChild(button);
    item.appendChild(forget);
    return item;
  }
  function render() {
    list.textContent = "";
    accounts.forEach(function (account, index) { list.appendChild(card(account, index)); });
    section.hidden = accounts.length === 0;
  }
  form.addEventListener("submit", function (event) {
    if (submitted) { event.preventDefault(); return; }
    var login = fields.login.value.trim();
    if (!login) return;
    submitted = true;
    var entry = { login: login, name: fields.name.value.trim(), picture: fields.picture.value.trim() };
    accounts = [entry].concat(accounts.filter(function (a) { return a.login !== login; }));
    save();
  });
  render();
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolated_values_are_escaped() {
        let hostile = r#""><script>alert(1)</script>"#;
        let page = sign_in_page(
            &SignIn {
                uid: "uid",
                client_id: "spotify",
                provider: "Spotify",
                app: "<b>evil</b>",
                error: Some(hostile),
                login: hostile,
                name: "O'Brien & co",
                picture: "",
            },
            "nonce",
        );
        assert!(!page.contains("<script>alert(1)"), "{page}");
        assert!(!page.contains("<b>evil"));
        assert!(page.contains("&lt;b&gt;evil&lt;/b&gt;"));
        assert!(page.contains(r#"value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;""#));
        assert!(page.contains("O&#39;Brien &amp; co"));
        // The refused login is handed to the script only as an attribute.
        assert!(page.contains(r#"data-rejected="&quot;&gt;&lt;script&gt;"#));
        let error = error_page("<t>", "<m>", "n");
        assert!(error.contains("&lt;t&gt;") && error.contains("&lt;m&gt;"));
        assert!(!error.contains("<t>") && !error.contains("<m>"));
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        let page = sign_in_page(&SignIn::default(), "n");
        assert!(page.contains("<title>Mock OAuth sign-in</title>"));
        for external in ["<link", "src=", "@import", "url(", "cdn"] {
            assert!(!page.contains(external), "the page refers to {external}");
        }
    }
}
