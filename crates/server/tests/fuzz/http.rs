//! Target: whole HTTP requests through the API application (`http::app`: the
//! router behind the `Host` check) and the mail sink's web router, in process
//! with tower's `oneshot`, the database unreachable.
//!
//! Everything a request carries is generated: the method, the path (a real
//! route with random segments, or any path), the query, the auth and other
//! headers, the content type and the body (any bytes, generated JSON, form
//! fields or text). So the body parsing, the header checks of authentication
//! and every validation that runs before the database is reached see arbitrary
//! input. No request may panic or answer 500, and a JSON answer must be JSON.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use bolero::{TypeGenerator, check};
use stack_server::host::AllowedHosts;
use tower::ServiceExt as _;

use crate::CI_TIME;
use crate::json::{Text, Tree};
use crate::offline::Offline;

/// API routes, `{}` standing for a path segment.
const API_ROUTES: &[&str] = &[
    "/",
    "/projects/current",
    "/projects/{}/.well-known/jwks.json",
    "/auth/password/sign-up",
    "/auth/password/sign-in",
    "/auth/password/update",
    "/auth/password/set",
    "/auth/password/send-reset-code",
    "/auth/password/reset",
    "/auth/password/reset/check-code",
    "/auth/otp/send-sign-in-code",
    "/auth/otp/sign-in",
    "/auth/otp/sign-in/check-code",
    "/contact-channels",
    "/contact-channels/send-verification-code",
    "/contact-channels/verify",
    "/contact-channels/verify/check-code",
    "/contact-channels/{}/{}",
    "/contact-channels/{}/{}/send-verification-code",
    "/auth/anonymous/sign-up",
    "/auth/oauth/token",
    "/auth/sessions",
    "/auth/sessions/current",
    "/auth/sessions/current/refresh",
    "/auth/sessions/{}",
    "/users",
    "/users/{}",
    "/internal/local-emulator/project",
    "/internal/projects",
    "/internal/projects/current",
    "/internal/config",
    "/internal/config/source",
    "/internal/config/override/{}",
    "/internal/config/override/{}/reset-keys",
    "/internal/api-keys",
    "/internal/api-keys/{}",
    "/nowhere/{}",
];

/// Mail sink routes.
const SINK_ROUTES: &[&str] = &[
    "/",
    "/health",
    "/m/{}",
    "/m/{}/{}",
    "/api/v1/mailboxes",
    "/api/v1/mailbox/{}",
    "/api/v1/mailbox/{}/{}",
    "/api/v1/mailbox/{}/{}/source",
    "/api/v1/messages",
];

/// Request headers the server reads.
const HEADERS: &[&str] = &[
    "x-stack-access-type",
    "x-stack-project-id",
    "x-stack-branch-id",
    "x-stack-publishable-client-key",
    "x-stack-secret-server-key",
    "x-stack-super-secret-admin-key",
    "x-stack-admin-access-token",
    "x-stack-access-token",
    "x-stack-refresh-token",
    "x-stack-allow-anonymous-user",
    "x-stack-allow-restricted-user",
    "x-stack-override-error-status",
    "x-hexclave-access-type",
    "x-hexclave-project-id",
    "x-hexclave-access-token",
    "accept",
    "authorization",
];

/// `Host` values: the loopback names the routers answer, and one they refuse.
const HOSTS: &[&str] = &[
    "localhost",
    "localhost:8102",
    "127.0.0.1:26701",
    "[::1]:80",
    "app.localhost",
    "evil.example",
];

/// Content types, exact and near misses.
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    " application/json ;",
    "application/x-www-form-urlencoded",
    "text/plain",
    "text/plain; charset=latin1",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "",
];

#[derive(Debug, Clone, TypeGenerator)]
enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Head,
    Other(String),
}

#[derive(Debug, Clone, TypeGenerator)]
enum Prefix {
    V1,
    Latest,
    None,
}

#[derive(Debug, Clone, TypeGenerator)]
enum Path {
    /// A route of the router under test, its `{}` filled from `segments`.
    Route {
        route: u8,
        prefix: Prefix,
        segments: Vec<Text>,
    },
    /// Any path (kept only when it makes a valid URI).
    Raw(String),
}

#[derive(Debug, Clone, TypeGenerator)]
enum HeaderNameG {
    Known(#[generator(0..HEADERS.len())] usize),
    Other(String),
}

#[derive(Debug, Clone, TypeGenerator)]
enum Host {
    Known(#[generator(0..HOSTS.len())] usize),
    Other(String),
}

#[derive(Debug, Clone, TypeGenerator)]
enum ContentType {
    Known(#[generator(0..CONTENT_TYPES.len())] usize),
    Other(String),
}

#[derive(Debug, Clone, TypeGenerator)]
enum BodyG {
    None,
    Bytes(Option<ContentType>, Vec<u8>),
    /// A generated object, as `application/json` unless another type is given.
    Object(Option<ContentType>, Tree),
    /// Any generated JSON value.
    Value(Option<ContentType>, Tree),
    /// Form fields, as `application/x-www-form-urlencoded`.
    Form(Vec<(Text, Text)>),
    /// A string, as `text/plain`.
    Text(String),
}

/// One request.
#[derive(Debug, Clone, TypeGenerator)]
struct Input {
    /// The mail sink's router instead of the API's.
    sink: bool,
    verb: Verb,
    path: Path,
    query: Vec<(Text, Text)>,
    host: Option<Host>,
    /// Headers; one that is not a valid header is left out.
    #[generator(Vec::produce().with().len(0usize..8))]
    headers: Vec<(HeaderNameG, Text)>,
    body: BodyG,
}

fn method(verb: &Verb) -> Option<Method> {
    Some(match verb {
        Verb::Get => Method::GET,
        Verb::Post => Method::POST,
        Verb::Put => Method::PUT,
        Verb::Patch => Method::PATCH,
        Verb::Delete => Method::DELETE,
        Verb::Options => Method::OPTIONS,
        Verb::Head => Method::HEAD,
        Verb::Other(name) => Method::from_bytes(name.as_bytes()).ok()?,
    })
}

fn encode(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

/// `raw` as a path: characters a URI cannot hold are percent-encoded, the rest
/// (`/`, `%`, `?`, `#`, `.` among them) kept, so that odd paths reach the router.
fn raw_path(raw: &str) -> String {
    let mut path = String::from("/");
    for c in raw.trim_start_matches('/').chars() {
        if c.is_ascii_graphic() && !"\"<>\\^`{|}".contains(c) {
            path.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                path.push_str(&format!("%{b:02X}"));
            }
        }
    }
    path
}

fn uri(input: &Input) -> String {
    let mut uri = match &input.path {
        Path::Route {
            route,
            prefix,
            segments,
        } => {
            let routes = if input.sink { SINK_ROUTES } else { API_ROUTES };
            let template = routes[usize::from(*route) % routes.len()];
            let mut segments = segments.iter();
            let mut path = String::new();
            for (i, piece) in template.split("{}").enumerate() {
                if i > 0 {
                    path.push_str(&encode(
                        &segments.next().map(Text::text).unwrap_or_default(),
                    ));
                }
                path.push_str(piece);
            }
            let prefix = match (input.sink, prefix) {
                (true, _) | (false, Prefix::None) => "",
                (false, Prefix::V1) => "/api/v1",
                (false, Prefix::Latest) => "/api/latest",
            };
            format!("{prefix}{path}")
        }
        Path::Raw(raw) => raw_path(raw),
    };
    if !input.query.is_empty() {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(input.query.iter().map(|(k, v)| (k.text(), v.text())))
            .finish();
        uri.push('?');
        uri.push_str(&query);
    }
    uri
}

fn content_type(given: Option<&ContentType>, default: &str) -> String {
    match given {
        None => default.to_owned(),
        Some(ContentType::Known(i)) => CONTENT_TYPES[*i].to_owned(),
        Some(ContentType::Other(s)) => s.clone(),
    }
}

/// The body's bytes and content type (`None`: no content-type header).
fn body(body: &BodyG) -> (Vec<u8>, Option<String>) {
    match body {
        BodyG::None => (Vec::new(), None),
        BodyG::Bytes(ct, bytes) => (
            bytes.clone(),
            ct.as_ref().map(|c| content_type(Some(c), "")),
        ),
        BodyG::Object(ct, tree) => (
            tree.object().to_string().into_bytes(),
            Some(content_type(ct.as_ref(), "application/json")),
        ),
        BodyG::Value(ct, tree) => (
            tree.value().to_string().into_bytes(),
            Some(content_type(ct.as_ref(), "application/json")),
        ),
        BodyG::Form(pairs) => {
            let form = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter().map(|(k, v)| (k.text(), v.text())))
                .finish();
            (
                form.into_bytes(),
                Some("application/x-www-form-urlencoded".to_owned()),
            )
        }
        BodyG::Text(text) => (text.clone().into_bytes(), Some("text/plain".to_owned())),
    }
}

/// The request, or `None` when the input is not a valid HTTP request (hyper
/// would refuse it before any router saw it).
fn request(input: &Input) -> Option<Request<Body>> {
    let mut builder = Request::builder()
        .method(method(&input.verb)?)
        .uri(uri(input));
    let host = input.host.as_ref().map(|h| match h {
        Host::Known(i) => HOSTS[*i].to_owned(),
        Host::Other(s) => s.clone(),
    });
    if let Some(value) = host.and_then(|h| HeaderValue::from_str(&h).ok()) {
        builder = builder.header(header::HOST, value);
    }
    for (name, value) in &input.headers {
        let name = match name {
            HeaderNameG::Known(i) => Some(HeaderName::from_static(HEADERS[*i])),
            HeaderNameG::Other(s) => HeaderName::from_bytes(s.as_bytes()).ok(),
        };
        if let (Some(name), Ok(value)) = (name, HeaderValue::from_str(&value.text())) {
            builder = builder.header(name, value);
        }
    }
    let (bytes, content_type) = body(&input.body);
    if let Some(ct) = content_type {
        builder = builder.header(header::CONTENT_TYPE, HeaderValue::from_str(&ct).ok()?);
    }
    builder.body(Body::from(bytes)).ok()
}

/// Sends one request and checks the answer.
async fn exchange(router: Router, request: Request<Body>) {
    let response = router.oneshot(request).await.unwrap_or_else(|e| match e {});
    let status = response.status();
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{response:?}");
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the response body");
    if is_json && !bytes.is_empty() {
        assert!(
            serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
            "{status}: a JSON answer that is not JSON: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

/// Both routers over one offline runtime.
struct Routers {
    offline: Offline,
    api: Router,
    sink: Router,
}

impl Routers {
    fn new() -> Self {
        let offline = Offline::new();
        // The application as served: the router behind the `Host` check.
        let api = stack_server::http::app(offline.state(), AllowedHosts::default());
        let sink = stack_server::mail::web::router(offline.pool());
        Self { offline, api, sink }
    }

    fn send(&self, input: &Input) {
        let Some(request) = request(input) else {
            return;
        };
        let router = if input.sink { &self.sink } else { &self.api };
        self.offline.block_on(exchange(router.clone(), request));
    }
}

#[test]
fn requests() {
    let routers = std::panic::AssertUnwindSafe(Routers::new());
    check!()
        .with_type::<Input>()
        .with_test_time(CI_TIME)
        .for_each(|input| routers.send(input));
}
