//! Which redirect and callback URLs a project trusts.

use url::Url;

use crate::db::projects::ProjectConfig;

/// Whether `url` is trusted: a localhost URL when the project allows localhost,
/// or a URL whose scheme, host and port match a trusted domain (`*` matches
/// within one host label, `**` across labels).
pub fn is_trusted(config: &ProjectConfig, url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if config.allow_localhost && is_local(host) {
        return true;
    }
    config.domains.iter().any(|d| {
        let Ok(base) = Url::parse(&d.domain) else {
            return false;
        };
        base.scheme() == url.scheme()
            && base.port_or_known_default() == url.port_or_known_default()
            && base
                .host_str()
                .is_some_and(|pattern| host_matches(pattern, host))
    })
}

fn is_local(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.starts_with("127.")
        || host == "[::1]"
}

fn host_matches(pattern: &str, host: &str) -> bool {
    if !pattern.contains('*') {
        return pattern.eq_ignore_ascii_case(host);
    }
    wildcard(pattern.as_bytes(), host.to_ascii_lowercase().as_bytes())
}

fn wildcard(p: &[u8], h: &[u8]) -> bool {
    match p {
        [] => h.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=h.len()).any(|i| wildcard(rest, &h[i..])),
        [b'*', rest @ ..] => (0..=h.len())
            .take_while(|&i| i == 0 || h[i - 1] != b'.')
            .any(|i| wildcard(rest, &h[i..])),
        [c, rest @ ..] => {
            h.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && wildcard(rest, &h[1..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::projects::DomainConfig;

    fn config(domains: &[&str], localhost: bool) -> ProjectConfig {
        ProjectConfig {
            allow_localhost: localhost,
            domains: domains
                .iter()
                .map(|d| DomainConfig {
                    domain: (*d).into(),
                    handler_path: "/handler".into(),
                })
                .collect(),
            ..ProjectConfig::default()
        }
    }

    fn trusted(c: &ProjectConfig, url: &str) -> bool {
        is_trusted(c, &Url::parse(url).unwrap())
    }

    #[test]
    fn localhost_is_trusted_only_when_allowed() {
        assert!(trusted(&config(&[], true), "http://localhost:3000/cb"));
        assert!(trusted(&config(&[], true), "http://127.0.0.1/cb"));
        assert!(!trusted(&config(&[], false), "http://localhost:3000/cb"));
    }

    #[test]
    fn domains_match_scheme_host_port_and_wildcards() {
        let c = config(
            &[
                "https://app.example.com",
                "https://*.preview.dev",
                "https://**.deep.io",
            ],
            false,
        );
        assert!(trusted(&c, "https://app.example.com/x"));
        assert!(!trusted(&c, "http://app.example.com/x"));
        assert!(!trusted(&c, "https://app.example.com:8443/x"));
        assert!(trusted(&c, "https://pr-1.preview.dev/"));
        assert!(!trusted(&c, "https://a.b.preview.dev/"));
        assert!(trusted(&c, "https://a.b.deep.io/"));
        assert!(!trusted(&c, "https://evil.com/"));
    }
}
