//! Which `Host` headers a listener answers: the defence against DNS rebinding.
//!
//! A web page on any site can make the developer's browser send requests to
//! `localhost`; with DNS rebinding (a name of the attacker's that first points
//! at the attacker's server, then at 127.0.0.1) it can also read the answers,
//! because the browser then treats the emulator as the attacker's own origin.
//! Such requests carry the attacker's name in `Host`, so a listener that
//! answers only loopback names, and the names it was told it is reachable at,
//! gives them nothing.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Router, middleware};

/// The `Host` values a listener answers besides loopback names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    /// Extra host names (lower case, without port); `*` in the list allows any.
    /// Shared, because the guard holds a copy per request.
    names: Arc<[String]>,
}

impl AllowedHosts {
    /// Loopback names, plus `names` (host names or URLs; `*` allows every host).
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names = names
            .into_iter()
            .filter_map(|n| {
                let n = n.as_ref().trim();
                let host = url::Url::parse(n)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_else(|| host_without_port(n).to_owned());
                (!host.is_empty()).then(|| host.to_ascii_lowercase())
            })
            .collect::<Vec<_>>()
            .into();
        Self { names }
    }

    /// `router` behind this guard.
    pub fn guard_router<S>(self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router.layer(middleware::from_fn(move |request, next| {
            self.clone().guard(request, next)
        }))
    }

    /// The extra names, as given (lower case, without port).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether a request with this `Host` header (none: a client that is not
    /// a browser) is answered.
    pub fn allows(&self, host_header: Option<&str>) -> bool {
        let Some(value) = host_header else {
            return true;
        };
        let host = host_without_port(value.trim()).to_ascii_lowercase();
        is_loopback_name(&host) || self.names.iter().any(|n| n == "*" || *n == host)
    }

    /// The guard as axum middleware: 421 with a short explanation for a
    /// `Host` this listener does not answer.
    pub async fn guard(self, request: Request, next: Next) -> Response {
        let host = request
            .headers()
            .get(header::HOST)
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        if self.allows(host) {
            return next.run(request).await;
        }
        let mut response = (
            StatusCode::MISDIRECTED_REQUEST,
            "This server answers only requests addressed to localhost, 127.0.0.1 or [::1] \
             (and the names it is started with): the Host header named another one. \
             Use http://localhost:PORT, or start stack-server with --allowed-host NAME.\n",
        )
            .into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

/// The host part of a `Host` header value: `[::1]:80` → `[::1]`, `a:1` → `a`.
fn host_without_port(value: &str) -> &str {
    if value.starts_with('[') {
        return value.find(']').map_or(value, |end| &value[..=end]);
    }
    value.rsplit_once(':').map_or(value, |(host, _)| host)
}

/// `localhost`, `*.localhost`, an IPv4 loopback address or `[::1]`.
pub fn is_loopback_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host == "localhost" || host == "[::1]" {
        return true;
    }
    if let Some(label) = host.strip_suffix(".localhost") {
        return !label.is_empty() && !label.ends_with('.');
    }
    host.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_with_any_port_are_answered() {
        let hosts = AllowedHosts::default();
        for ok in [
            "localhost",
            "localhost:26701",
            "LOCALHOST:1",
            "app.localhost:3000",
            "127.0.0.1:8102",
            "127.8.9.10",
            "[::1]:8102",
            "[::1]",
        ] {
            assert!(hosts.allows(Some(ok)), "{ok} should be answered");
        }
        assert!(hosts.allows(None));
    }

    #[test]
    fn other_names_are_refused_unless_allowed() {
        let hosts = AllowedHosts::default();
        for bad in [
            "attacker.example",
            "attacker.example:26701",
            "127.0.0.1.nip.io",
            "127.attacker.example",
            "localhost.attacker.example",
            "0.0.0.0:8102",
            "[::2]:80",
            "192.168.1.10:8102",
            "",
        ] {
            assert!(!hosts.allows(Some(bad)), "{bad} must be refused");
        }
        let hosts = AllowedHosts::new(["http://dev.example:8102", "box.lan"]);
        assert!(hosts.allows(Some("dev.example:8102")));
        assert!(hosts.allows(Some("BOX.lan:1")));
        assert!(!hosts.allows(Some("attacker.example")));
        assert!(AllowedHosts::new(["*"]).allows(Some("anything.example")));
    }
}
