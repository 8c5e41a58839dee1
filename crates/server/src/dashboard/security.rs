//! What keeps a web page on another origin from using the dashboard, which
//! acts as the emulator's owner without any sign-in: CSRF tokens, the
//! same-origin check of every state-changing request, and the response
//! headers. The `Host` check against DNS rebinding is [`crate::host`]'s.
//!
//! Every page the developer's browser opens can send requests to
//! `localhost`, so the dashboard trusts a state-changing request only when
//! all of these hold:
//!
//! - it is a `POST` whose `Sec-Fetch-Site` (when sent) is `same-origin` and
//!   whose `Origin` (when sent) is the dashboard's own (`http://` and the
//!   `Host` header), or `null` next to `same-origin` (see `cross_origin`).
//!   Current browsers send `Sec-Fetch-Site` on every request; a client that
//!   sends neither header is not a browser, and no page can make it act;
//! - its form field `csrf` equals the `stack_dashboard_csrf` cookie, and that
//!   cookie was issued by this process: the token is a random nonce and an
//!   HMAC-SHA-256 of it under a key drawn from the OS RNG at start-up. Cookies
//!   are shared by every port of `localhost`, so a page on another local port
//!   could set the cookie (but not forge a token this process accepts), and
//!   a local server on another port receives it (but its pages fail the
//!   origin check). The cookie is `HttpOnly` and `SameSite=Strict`.
//!
//! Every response carries a strict Content-Security-Policy (no inline script
//! or style, nothing from elsewhere, no framing), `X-Frame-Options: DENY`,
//! `Referrer-Policy: no-referrer`, `nosniff` and `Cache-Control: no-store`,
//! and no CORS header, so no other origin can read an answer.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest as _, Sha256};

use super::PageError;
use crate::random::{self, RngError};
use crate::secret::Secret;

/// Name of the cookie that holds the CSRF token.
pub const CSRF_COOKIE: &str = "stack_dashboard_csrf";

/// Name of the form field that must repeat the cookie's token.
pub const CSRF_FIELD: &str = "csrf";

/// The dashboard's Content-Security-Policy: its own stylesheet and script
/// only (so no inline `style` attributes or event handlers either), images
/// from itself or `data:`, forms only to itself, never framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Random bytes of a token's nonce.
const NONCE_BYTES: usize = 18;

/// The key that signs CSRF tokens, drawn once per process.
#[derive(Clone, Debug)]
pub struct CsrfKey(Arc<Secret<[u8; 32]>>);

impl CsrfKey {
    /// A fresh key from the OS RNG.
    ///
    /// # Errors
    /// The OS RNG cannot be read.
    pub fn generate() -> Result<Self, RngError> {
        Ok(Self(Arc::new(Secret::new(random::bytes::<32>()?))))
    }

    /// A new token: a random nonce and its MAC, both base64url.
    fn issue(&self) -> Result<String, RngError> {
        let nonce = random::bytes::<NONCE_BYTES>()?;
        let mac = hmac_sha256(self.0.expose(), &nonce);
        Ok(format!("{}.{}", B64.encode(nonce), B64.encode(mac)))
    }

    /// Whether `token` was issued by [`Self::issue`] with this key.
    fn verify(&self, token: &str) -> bool {
        let Some((nonce, mac)) = token.split_once('.') else {
            return false;
        };
        let (Ok(nonce), Ok(mac)) = (B64.decode(nonce), B64.decode(mac)) else {
            return false;
        };
        nonce.len() == NONCE_BYTES && constant_time_eq(&hmac_sha256(self.0.expose(), &nonce), &mac)
    }
}

/// HMAC-SHA-256 (RFC 2104) with a key of at most one block.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut padded = [0u8; BLOCK];
    let key_len = key.len().min(BLOCK);
    padded[..key_len].copy_from_slice(&key[..key_len]);
    let inner = Sha256::new()
        .chain_update(padded.map(|b| b ^ 0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(padded.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The CSRF token of a request: the cookie's, when this process issued it,
/// otherwise a new one (which the response then sets).
#[derive(Clone, Debug)]
pub struct CsrfToken {
    value: String,
    from_cookie: bool,
}

impl CsrfToken {
    /// The token, for a form's hidden `csrf` field.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Middleware: puts the request's [`CsrfToken`] into its extensions and, when
/// the token is new, sets the cookie on the response.
pub async fn csrf_cookie(key: CsrfKey, mut request: Request, next: Next) -> Response {
    let known = cookie(request.headers(), CSRF_COOKIE)
        .filter(|t| key.verify(t))
        .map(str::to_owned);
    let token = match known {
        Some(value) => CsrfToken {
            value,
            from_cookie: true,
        },
        None => match key.issue() {
            Ok(value) => CsrfToken {
                value,
                from_cookie: false,
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot make a CSRF token");
                return PageError::internal().into_page();
            }
        },
    };
    let fresh = (!token.from_cookie).then(|| token.value.clone());
    request.extensions_mut().insert(token);
    let mut response = next.run(request).await;
    if let Some(value) = fresh {
        let cookie = format!("{CSRF_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// Why a state-changing request came from elsewhere, if it did.
///
/// `Sec-Fetch-Site` is set by the browser alone, so when present it decides.
/// With it saying `same-origin`, an `Origin` of `null` is the dashboard's own
/// form: under `Referrer-Policy: no-referrer` browsers send `null` instead of
/// the origin on every form POST (Fetch, "serializing a request origin").
/// Without it (an older browser, or not a browser), `Origin` must be absent
/// or the dashboard's own.
fn cross_origin(headers: &HeaderMap) -> Option<&'static str> {
    let site = headers.get("sec-fetch-site");
    if let Some(site) = site
        && site.as_bytes() != b"same-origin"
    {
        return Some("Sec-Fetch-Site says it came from another site or origin");
    }
    let origin = headers.get(header::ORIGIN)?;
    if site.is_some() && origin.as_bytes() == b"null" {
        return None;
    }
    let own = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| format!("http://{}", host.to_ascii_lowercase()));
    let same = origin
        .to_str()
        .ok()
        .zip(own)
        .is_some_and(|(o, own)| o.eq_ignore_ascii_case(&own));
    (!same).then_some("its Origin is not this dashboard")
}

/// Middleware: refuses (403) every request but `GET` and `HEAD` that a
/// browser sent from another origin.
pub async fn same_origin_only(request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    if !safe && let Some(why) = cross_origin(request.headers()) {
        return PageError::forbidden(format!(
            "This request was refused because {why}. The dashboard takes changes only from its own pages."
        ))
        .into_page();
    }
    next.run(request).await
}

/// Middleware body: the headers every response carries.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Largest form a dashboard page sends: the metadata form carries up to the
/// API's largest body ([`crate::http::MAX_BODY_BYTES`]) of JSON, which URL
/// encoding can make three times as long.
const MAX_FORM_BYTES: usize = 3 * crate::http::MAX_BODY_BYTES + 64 * 1024;

/// The fields of a form POST whose `csrf` field matched the cookie: the only
/// way a handler gets a form, so no state-changing handler can skip the check.
#[derive(Debug)]
pub struct PostForm {
    pairs: Vec<(String, String)>,
}

impl PostForm {
    /// The first value of field `name`, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The first value of field `name` as sent (a password keeps its
    /// spaces); `None` when absent or empty.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value of field `name` (a group of checkboxes), trimmed, blank
    /// ones left out.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Whether checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether the form carries the second-step confirmation of a deletion.
    pub fn confirmed(&self) -> bool {
        self.get("confirmed") == Some("yes")
    }
}

impl<S: Send + Sync> FromRequest<S> for PostForm {
    type Rejection = PageError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, PageError> {
        let token = request.extensions().get::<CsrfToken>().cloned();
        let mut types = request.headers().get_all(header::CONTENT_TYPE).iter();
        let is_form = match (types.next(), types.next()) {
            (Some(v), None) => v
                .to_str()
                .is_ok_and(|v| v.starts_with("application/x-www-form-urlencoded")),
            _ => false,
        };
        if !is_form {
            return Err(PageError::bad_request(
                "The dashboard takes only HTML form posts (application/x-www-form-urlencoded).",
            ));
        }
        let body = axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| PageError::bad_request("The form is too large."))?;
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        let sent = pairs
            .iter()
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.as_str());
        let valid = match (&token, sent) {
            (Some(t), Some(sent)) => {
                t.from_cookie && constant_time_eq(t.value.as_bytes(), sent.as_bytes())
            }
            _ => false,
        };
        if !valid {
            return Err(PageError::forbidden(
                "The form's security token is missing or out of date (the dashboard was restarted, \
                 or the form came from another page). Reload the page and try again.",
            ));
        }
        Ok(Self { pairs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn only_tokens_of_this_key_verify() {
        let key = CsrfKey::generate().expect("the OS RNG");
        let other = CsrfKey::generate().expect("the OS RNG");
        let token = key.issue().expect("the OS RNG");
        assert!(key.verify(&token));
        assert!(!other.verify(&token));
        let (nonce, _) = token.split_once('.').unwrap_or_default();
        assert!(!key.verify(&format!("{nonce}.AAAA")));
        assert!(!key.verify(""));
        assert!(!key.verify("no-dot"));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn only_the_own_origin_may_change_anything() {
        let host = ("host", "localhost:8101");
        assert_eq!(cross_origin(&headers(&[host])), None);
        assert_eq!(
            cross_origin(&headers(&[
                host,
                ("origin", "http://localhost:8101"),
                ("sec-fetch-site", "same-origin"),
            ])),
            None
        );
        assert_eq!(
            cross_origin(&headers(&[
                host,
                ("origin", "null"),
                ("sec-fetch-site", "same-origin"),
            ])),
            None,
            "the own form under Referrer-Policy: no-referrer"
        );
        for bad in [
            vec![host, ("origin", "https://evil.example")],
            vec![host, ("origin", "http://localhost:3000")],
            vec![host, ("origin", "null")],
            vec![host, ("sec-fetch-site", "same-site")],
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![host, ("origin", "null"), ("sec-fetch-site", "cross-site")],
            vec![
                host,
                ("origin", "http://localhost:3000"),
                ("sec-fetch-site", "same-origin"),
            ],
            vec![("origin", "http://localhost:8101")],
        ] {
            assert!(cross_origin(&headers(&bad)).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let map = headers(&[("cookie", "a=1; stack_dashboard_csrf=tok ; b=2")]);
        assert_eq!(cookie(&map, CSRF_COOKIE), Some("tok"));
        assert_eq!(cookie(&headers(&[("cookie", "x=1")]), CSRF_COOKIE), None);
    }
}
