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
    if config.allow_localhost && is_local(url) {
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

/// Whether `url` points at the developer's own machine, as Stack Auth decides
/// it: `localhost`, a `*.localhost` name, an IPv4 loopback address
/// (`127.x.y.z`) or `[::1]`. The host is judged from the parsed URL, so a
/// name that merely starts with `127.` (`127.0.0.1.attacker.example`) is a
/// domain like any other, and `http://127.1/` is the loopback address the
/// URL parser makes of it.
pub fn is_local(url: &Url) -> bool {
    url.host_str().is_some_and(crate::host::is_loopback_name)
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
    fn only_loopback_hosts_count_as_localhost() {
        let c = config(&[], true);
        for url in [
            "http://localhost:3000/cb",
            "http://LOCALHOST/cb",
            "http://app.localhost:3000/cb",
            "http://localhost./cb",
            "http://127.0.0.1/cb",
            "http://127.255.3.4:8080/cb",
            "http://127.1/cb",
            "http://[::1]:3000/cb",
        ] {
            assert!(trusted(&c, url), "{url} should be local");
        }
        for url in [
            "http://127.attacker.example.com/reset",
            "http://127.0.0.1.attacker.example.com/reset",
            "http://127.0.0.1.nip.io/reset",
            "http://localhost.attacker.example/reset",
            "http://attacker-localhost/reset",
            "http://notlocalhost/reset",
            "http://xlocalhost/reset",
            "http://.localhost/reset",
            "http://128.0.0.1/reset",
            "http://0.0.0.0/reset",
            "http://[::2]/reset",
            "http://[::ffff:7f00:1]/reset",
            "http://localhost@attacker.example/reset",
            "http://attacker.example/localhost",
            "file:///etc/passwd",
        ] {
            assert!(!trusted(&c, url), "{url} must not be local");
        }
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
