//! The mock's clients: which client ids exist, how a client authenticates at
//! the token and revocation endpoints, and which redirect URIs it may use.
//!
//! Every provider id is a confidential client with the secret
//! [`MOCK_CLIENT_SECRET`], authenticated with `client_secret_basic` or
//! `client_secret_post` (RFC 6749 §2.3.1). Its only redirect URIs are the
//! Stack Auth API's OAuth callbacks for that provider.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use url::Url;

use super::error::OAuthError;
use super::params::Params;
use super::{MOCK_CLIENT_SECRET, PROVIDER_IDS, SetupError};

/// Path of Stack Auth's OAuth callback below the API base URL, without the
/// client id.
const CALLBACK_PATH: &str = "/api/v1/auth/oauth/callback/";

/// Standard base64 with or without padding, as HTTP Basic clients send it.
const BASIC: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A known client id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ClientId(&'static str);

impl ClientId {
    /// The client named `id`, if the mock knows it.
    pub(super) fn parse(id: &str) -> Option<Self> {
        PROVIDER_IDS
            .iter()
            .find(|known| **known == id)
            .map(|k| Self(k))
    }

    /// The client id.
    pub(super) fn as_str(self) -> &'static str {
        self.0
    }

    /// The provider's name as people write it.
    pub(super) fn display_name(self) -> &'static str {
        match self.0 {
            "github" => "GitHub",
            "facebook" => "Facebook",
            "google" => "Google",
            "microsoft" => "Microsoft",
            "spotify" => "Spotify",
            "discord" => "Discord",
            "gitlab" => "GitLab",
            "bitbucket" => "Bitbucket",
            "x" => "X",
            other => other,
        }
    }
}

/// The issuer as given, checked: an http(s) URL with no path, query or
/// fragment, returned without a trailing slash.
pub(super) fn parse_issuer(issuer: &str) -> Result<String, SetupError> {
    let error = || SetupError::Issuer {
        url: issuer.to_owned(),
    };
    let trimmed = issuer.trim().trim_end_matches('/');
    let url = Url::parse(trimmed).map_err(|_| error())?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    if !plain {
        return Err(error());
    }
    Ok(trimmed.to_owned())
}

/// The API base URLs whose callbacks are accepted.
#[derive(Debug)]
pub(super) struct Callbacks {
    bases: Vec<Url>,
}

impl Callbacks {
    /// Parses the base URLs.
    pub(super) fn parse(urls: &[String]) -> Result<Self, SetupError> {
        if urls.is_empty() {
            return Err(SetupError::NoApiBaseUrl);
        }
        let bases = urls
            .iter()
            .map(|raw| {
                Url::parse(raw.trim())
                    .ok()
                    .filter(|u| {
                        matches!(u.scheme(), "http" | "https")
                            && u.host_str().is_some()
                            && u.query().is_none()
                            && u.fragment().is_none()
                    })
                    .ok_or_else(|| SetupError::ApiBaseUrl { url: raw.clone() })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { bases })
    }

    /// The redirect URI, parsed, if it is `client`'s callback below one of
    /// the bases: same scheme, host (`localhost` and `127.0.0.1` alike),
    /// port and path; no query, fragment or user info.
    pub(super) fn allowed(&self, client: ClientId, redirect_uri: &str) -> Option<Url> {
        let url = Url::parse(redirect_uri).ok()?;
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return None;
        }
        self.bases
            .iter()
            .any(|base| is_callback_of(base, client, &url))
            .then_some(url)
    }

    /// The callback URLs `client` may use, for error messages.
    pub(super) fn expected(&self, client: ClientId) -> Vec<String> {
        self.bases
            .iter()
            .map(|base| {
                let mut url = base.clone();
                url.set_path(&callback_path(base, client));
                url.to_string()
            })
            .collect()
    }
}

fn callback_path(base: &Url, client: ClientId) -> String {
    format!(
        "{}{CALLBACK_PATH}{}",
        base.path().trim_end_matches('/'),
        client.as_str()
    )
}

fn is_callback_of(base: &Url, client: ClientId, url: &Url) -> bool {
    let path = callback_path(base, client);
    base.scheme() == url.scheme()
        && same_host(base.host_str(), url.host_str())
        && base.port_or_known_default() == url.port_or_known_default()
        && url.path() == path
}

fn same_host(a: Option<&str>, b: Option<&str>) -> bool {
    let canonical = |h: &str| -> String {
        let h = h.to_ascii_lowercase();
        if h == "127.0.0.1" {
            "localhost".to_owned()
        } else {
            h
        }
    };
    match (a, b) {
        (Some(a), Some(b)) => canonical(a) == canonical(b),
        _ => false,
    }
}

/// The client that authenticated the request, by HTTP Basic or by
/// `client_id` and `client_secret` in the body (only one of the two).
pub(super) fn authenticate(headers: &HeaderMap, params: &Params) -> Result<ClientId, OAuthError> {
    let basic = basic_credentials(headers)?;
    let in_body = params.get("client_secret").is_some();
    let (id, secret, method) = match basic {
        Some(_) if in_body => {
            return Err(OAuthError::invalid_request(
                "the client authenticated twice (HTTP Basic and client_secret in the body); use one method",
            ));
        }
        Some((id, secret)) => {
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the one in the Authorization header",
                ));
            }
            (id, secret, Method::Basic)
        }
        None => {
            let Some(id) = params.get("client_id") else {
                return Err(OAuthError::invalid_client(
                    "no client authentication: send HTTP Basic credentials or client_id and client_secret",
                    false,
                ));
            };
            let secret = params.get("client_secret").unwrap_or_default();
            (id.to_owned(), secret.to_owned(), Method::Post)
        }
    };
    let basic = method == Method::Basic;
    let client = ClientId::parse(&id).ok_or_else(|| {
        OAuthError::invalid_client(
            "unknown client_id; the mock's clients are the provider ids (github, google, spotify, …)",
            basic,
        )
    })?;
    if secret != MOCK_CLIENT_SECRET {
        return Err(OAuthError::invalid_client(
            "invalid client secret; every mock client's secret is MOCK-SERVER-SECRET",
            basic,
        ));
    }
    Ok(client)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Basic,
    Post,
}

/// The id and secret of an `Authorization: Basic` header, if there is one.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed =
        || OAuthError::invalid_client("the Authorization header is not valid HTTP Basic", true);
    let value = value.to_str().map_err(|_| malformed())?.trim();
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(malformed());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = BASIC.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before joining.
    let id = form_decode(id).ok_or_else(malformed)?;
    let secret = form_decode(secret).ok_or_else(malformed)?;
    Ok(Some((id, secret)))
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space); `None`
/// for a bad escape or a result that is not UTF-8.
fn form_decode(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex(bytes.next()?)?;
                let lo = hex(bytes.next()?)?;
                out.push((hi << 4) | lo);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The `WWW-Authenticate` challenge of a failed HTTP Basic authentication
/// (RFC 6749 §5.2 requires it).
pub(super) fn basic_challenge() -> HeaderValue {
    HeaderValue::from_static("Basic realm=\"mock-oauth\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callbacks(bases: &[&str]) -> Callbacks {
        let bases: Vec<String> = bases.iter().map(|b| (*b).to_owned()).collect();
        Callbacks::parse(&bases).unwrap()
    }

    fn spotify() -> ClientId {
        ClientId::parse("spotify").unwrap()
    }

    #[test]
    fn a_callback_below_a_base_is_accepted_and_others_are_not() {
        let c = callbacks(&["http://localhost:8102", "https://api.example.com/stack/"]);
        let ok = [
            "http://localhost:8102/api/v1/auth/oauth/callback/spotify",
            "http://127.0.0.1:8102/api/v1/auth/oauth/callback/spotify",
            "http://LOCALHOST:8102/api/v1/auth/oauth/callback/spotify",
            "https://api.example.com/stack/api/v1/auth/oauth/callback/spotify",
            "https://api.example.com:443/stack/api/v1/auth/oauth/callback/spotify",
        ];
        for uri in ok {
            assert!(c.allowed(spotify(), uri).is_some(), "{uri} was refused");
        }
        let refused = [
            // Another client's callback.
            "http://localhost:8102/api/v1/auth/oauth/callback/github",
            // Scheme, port, host, path.
            "https://localhost:8102/api/v1/auth/oauth/callback/spotify",
            "http://localhost:8103/api/v1/auth/oauth/callback/spotify",
            "http://localhost/api/v1/auth/oauth/callback/spotify",
            "http://evil.example:8102/api/v1/auth/oauth/callback/spotify",
            "http://localhost:8102/api/v1/auth/oauth/callback/spotify/",
            "http://localhost:8102/api/v1/auth/oauth/callback/spotifyx",
            "https://api.example.com/api/v1/auth/oauth/callback/spotify",
            // Query, fragment, user info.
            "http://localhost:8102/api/v1/auth/oauth/callback/spotify?next=x",
            "http://localhost:8102/api/v1/auth/oauth/callback/spotify#x",
            "http://user@localhost:8102/api/v1/auth/oauth/callback/spotify",
            "http://localhost:8102@evil.example/api/v1/auth/oauth/callback/spotify",
            // Not a URL.
            "/api/v1/auth/oauth/callback/spotify",
            "",
        ];
        for uri in refused {
            assert!(c.allowed(spotify(), uri).is_none(), "{uri} was accepted");
        }
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(matches!(
            Callbacks::parse(&[]),
            Err(SetupError::NoApiBaseUrl)
        ));
        assert!(matches!(
            Callbacks::parse(&["localhost:8102".to_owned()]),
            Err(SetupError::ApiBaseUrl { .. })
        ));
        assert_eq!(
            parse_issuer("http://localhost:8114/").unwrap(),
            "http://localhost:8114"
        );
        for bad in ["localhost:8114", "ftp://x", "http://x/mock", "http://x?a=1"] {
            assert!(parse_issuer(bad).is_err(), "{bad} was accepted");
        }
    }

    fn basic(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn clients_authenticate_by_basic_or_by_body() {
        let none = Params::default();
        let encoded = BASIC.encode("spotify:MOCK-SERVER-SECRET");
        assert_eq!(
            authenticate(&basic(&format!("Basic {encoded}")), &none).unwrap(),
            spotify()
        );
        // Form-encoded parts (RFC 6749 §2.3.1).
        let encoded = BASIC.encode("spotify:MOCK%2DSERVER%2DSECRET");
        assert_eq!(
            authenticate(&basic(&format!("basic {encoded}")), &none).unwrap(),
            spotify()
        );
        let body =
            Params::from_form(b"client_id=spotify&client_secret=MOCK-SERVER-SECRET").unwrap();
        assert_eq!(authenticate(&HeaderMap::new(), &body).unwrap(), spotify());
    }

    #[test]
    fn bad_client_credentials_are_refused() {
        let none = Params::default();
        let wrong = BASIC.encode("spotify:nope");
        let e = authenticate(&basic(&format!("Basic {wrong}")), &none).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (401, "invalid_client"));
        let unknown =
            Params::from_form(b"client_id=myspace&client_secret=MOCK-SERVER-SECRET").unwrap();
        let e = authenticate(&HeaderMap::new(), &unknown).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (401, "invalid_client"));
        let e = authenticate(&HeaderMap::new(), &none).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (401, "invalid_client"));
        let e = authenticate(&basic("Bearer abc"), &none).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (401, "invalid_client"));
        let ok = BASIC.encode("spotify:MOCK-SERVER-SECRET");
        let twice = Params::from_form(b"client_secret=MOCK-SERVER-SECRET").unwrap();
        let e = authenticate(&basic(&format!("Basic {ok}")), &twice).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (400, "invalid_request"));
    }

    #[test]
    fn form_decoding_handles_escapes_and_refuses_bad_ones() {
        assert_eq!(form_decode("a+b%2Bc%3A").as_deref(), Some("a b+c:"));
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%4"), None);
        assert_eq!(form_decode("%ff"), None);
    }
}
