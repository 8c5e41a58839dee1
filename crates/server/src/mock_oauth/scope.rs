//! The scope of a request or token: space-separated tokens (RFC 6749 §3.3).
//!
//! The mock grants every scope it is asked for; only `openid` (an ID token),
//! `offline_access` (a refresh token) and `email` (userinfo's `email`) change
//! what it answers.

use std::fmt;

/// Longest scope string accepted, in bytes.
const MAX_LEN: usize = 1024;

/// A set of scope tokens, in the order first given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Scope {
    tokens: Vec<String>,
}

impl Scope {
    /// Parses a scope parameter (absent: no scope).
    ///
    /// # Errors
    /// A description for `invalid_scope`: too long, or a character that no
    /// scope token may contain.
    pub(super) fn parse(scope: Option<&str>) -> Result<Self, &'static str> {
        let Some(scope) = scope else {
            return Ok(Self::default());
        };
        if scope.len() > MAX_LEN {
            return Err("the scope is longer than 1024 characters");
        }
        let mut tokens: Vec<String> = Vec::new();
        for token in scope.split(' ').filter(|t| !t.is_empty()) {
            // RFC 6749 §3.3: %x21 / %x23-5B / %x5D-7E.
            let valid = token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            if !valid {
                return Err("the scope contains a character scope tokens may not contain");
            }
            if !tokens.iter().any(|t| t == token) {
                tokens.push(token.to_owned());
            }
        }
        Ok(Self { tokens })
    }

    /// Whether the scope has `token`.
    pub(super) fn has(&self, token: &str) -> bool {
        self.tokens.iter().any(|t| t == token)
    }

    /// Whether every token of `self` is in `other`.
    pub(super) fn is_within(&self, other: &Self) -> bool {
        self.tokens.iter().all(|t| other.has(t))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tokens.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_split_deduplicated_and_checked() {
        let s = Scope::parse(Some("openid  offline_access openid email")).unwrap();
        assert_eq!(s.to_string(), "openid offline_access email");
        assert!(s.has("offline_access") && !s.has("profile"));
        assert!(Scope::parse(Some("openid")).unwrap().is_within(&s));
        assert!(!Scope::parse(Some("profile")).unwrap().is_within(&s));
        assert!(Scope::parse(Some("a\"b")).is_err());
        assert!(Scope::parse(Some("a\\b")).is_err());
        assert_eq!(Scope::parse(None).unwrap().to_string(), "");
    }
}
