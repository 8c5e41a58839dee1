//! The mock's memory: interactions, authorization codes, grants and tokens.
//!
//! Each kind lives in an [`Expiring`] map with a fixed lifetime and a cap:
//! expired entries are dropped whenever one is inserted, and at the cap the
//! oldest entry makes room, so a flood of sign-ins costs bounded memory.
//!
//! A grant is what one redeemed authorization code created: the account, the
//! client and the scope. Access and refresh tokens point at their grant;
//! revoking the grant (a reused code, the `revoke-refresh-token` hook, RFC 7009
//! revocation of a refresh token) removes it, and every token that points at
//! it stops working.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use url::Url;

use super::clients::ClientId;
use super::hooks::SimulatedError;
use super::pkce::Challenge;
use super::scope::Scope;

/// How long a sign-in may take, from `/auth` to the code.
pub(super) const INTERACTION_TTL: Duration = Duration::from_secs(10 * 60);
/// How long an authorization code may wait to be redeemed.
pub(super) const CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// Lifetime of an access token (its `expires_in`).
pub(super) const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(60 * 60);
/// Lifetime of a refresh token and of its grant (`oidc-provider`'s default).
pub(super) const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(14 * 24 * 60 * 60);
/// Most entries of each kind kept at once; far above what a test suite or a
/// person signing in creates in a token's lifetime.
pub(super) const CAP: usize = 10_000;

/// The account chosen on the sign-in page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Account {
    /// The e-mail address typed in: the account's `sub` and `email`.
    pub login: String,
    /// The display name, if one was entered.
    pub name: Option<String>,
    /// The avatar URL, if one was entered.
    pub picture: Option<String>,
}

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AuthRequest {
    /// The client asking.
    pub client: ClientId,
    /// The redirect URI exactly as sent (the token request must repeat it).
    pub redirect_uri: String,
    /// The same, parsed: where answers go.
    pub redirect: Url,
    /// The client's state, returned as is.
    pub state: Option<String>,
    /// The scope asked for (and granted).
    pub scope: Scope,
    /// The PKCE challenge, if any.
    pub challenge: Option<Challenge>,
    /// The OpenID nonce, copied into the ID token.
    pub nonce: Option<String>,
}

/// A sign-in in progress.
#[derive(Debug, Clone)]
pub(super) struct Interaction {
    /// What the client asked for.
    pub request: AuthRequest,
    /// The account, once chosen.
    pub account: Option<Account>,
    /// Whether consent was given (automatically, or by `prompt=consent`).
    pub consented: bool,
}

/// An authorization code.
#[derive(Debug, Clone)]
pub(super) struct Code {
    /// The request it answers.
    pub request: AuthRequest,
    /// The account that signed in.
    pub account: Account,
    /// The grant it created, once redeemed: a second redemption revokes it.
    pub redeemed: Option<String>,
}

/// What a redeemed code granted.
#[derive(Debug, Clone)]
pub(super) struct Grant {
    /// The client it was granted to.
    pub client: ClientId,
    /// The account.
    pub account: Account,
    /// The granted scope.
    pub scope: Scope,
    /// An error the next refresh answers with (the test hook's).
    pub simulated_error: Option<SimulatedError>,
}

/// An access token.
#[derive(Debug, Clone)]
pub(super) struct AccessToken {
    /// Its grant's id.
    pub grant: String,
    /// Its scope (that of the grant, or narrower after a refresh).
    pub scope: Scope,
}

/// A refresh token.
#[derive(Debug, Clone)]
pub(super) struct RefreshToken {
    /// Its grant's id.
    pub grant: String,
}

/// Everything the mock remembers.
#[derive(Debug)]
pub(super) struct Store {
    /// Sign-ins in progress, by uid.
    pub interactions: Expiring<Interaction>,
    /// Authorization codes.
    pub codes: Expiring<Code>,
    /// Grants, by id.
    pub grants: Expiring<Grant>,
    /// Access tokens.
    pub access_tokens: Expiring<AccessToken>,
    /// Refresh tokens.
    pub refresh_tokens: Expiring<RefreshToken>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            interactions: Expiring::new(INTERACTION_TTL, CAP),
            codes: Expiring::new(CODE_TTL, CAP),
            grants: Expiring::new(REFRESH_TOKEN_TTL, CAP),
            access_tokens: Expiring::new(ACCESS_TOKEN_TTL, CAP),
            refresh_tokens: Expiring::new(REFRESH_TOKEN_TTL, CAP),
        }
    }
}

impl Store {
    /// A live access token and its (live) grant.
    pub(super) fn access_token(&self, token: &str, now: Instant) -> Option<(&AccessToken, &Grant)> {
        let access = self.access_tokens.get(token, now)?;
        let grant = self.grants.get(&access.grant, now)?;
        Some((access, grant))
    }
}

/// A map whose entries expire `ttl` after insertion, holding at most `cap`.
pub(super) struct Expiring<V> {
    ttl: Duration,
    cap: usize,
    entries: HashMap<String, Slot<V>>,
    /// Keys by expiry, oldest first; may hold keys already removed (skipped
    /// when reached, compacted when it grows).
    order: VecDeque<(Instant, String)>,
}

// Keys are tokens, codes and uids: `Debug` shows only how many there are.
impl<V> std::fmt::Debug for Expiring<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expiring")
            .field("ttl", &self.ttl)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

struct Slot<V> {
    value: V,
    expires: Instant,
}

impl<V> Expiring<V> {
    /// An empty map.
    pub(super) fn new(ttl: Duration, cap: usize) -> Self {
        Self {
            ttl,
            cap: cap.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Inserts `value`, first dropping expired entries and, at the cap, the
    /// oldest ones.
    pub(super) fn insert(&mut self, key: String, value: V, now: Instant) {
        self.prune(now);
        while self.entries.len() >= self.cap && self.drop_oldest() {}
        let expires = now.checked_add(self.ttl).unwrap_or(now);
        self.order.push_back((expires, key.clone()));
        self.entries.insert(key, Slot { value, expires });
        if self.order.len() > 2 * self.cap {
            let entries = &self.entries;
            self.order
                .retain(|(expires, key)| entries.get(key).is_some_and(|s| s.expires == *expires));
        }
    }

    /// The live entry of `key`.
    pub(super) fn get(&self, key: &str, now: Instant) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|s| s.expires > now)
            .map(|s| &s.value)
    }

    /// The live entry of `key`, to change.
    pub(super) fn get_mut(&mut self, key: &str, now: Instant) -> Option<&mut V> {
        self.entries
            .get_mut(key)
            .filter(|s| s.expires > now)
            .map(|s| &mut s.value)
    }

    /// Removes `key`, returning its entry if it was live.
    pub(super) fn remove(&mut self, key: &str, now: Instant) -> Option<V> {
        self.entries
            .remove(key)
            .filter(|s| s.expires > now)
            .map(|s| s.value)
    }

    /// The live entries' values.
    pub(super) fn live(&self, now: Instant) -> impl Iterator<Item = &V> {
        self.entries
            .values()
            .filter(move |s| s.expires > now)
            .map(|s| &s.value)
    }

    /// Entries held, expired ones not yet dropped included.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    fn prune(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(expires, _)| *expires <= now)
        {
            if let Some((expires, key)) = self.order.pop_front() {
                self.remove_if_current(&key, expires);
            }
        }
    }

    /// Drops the oldest entry; false when there is none.
    fn drop_oldest(&mut self) -> bool {
        while let Some((expires, key)) = self.order.pop_front() {
            if self.remove_if_current(&key, expires) {
                return true;
            }
        }
        false
    }

    fn remove_if_current(&mut self, key: &str, expires: Instant) -> bool {
        let current = self.entries.get(key).is_some_and(|s| s.expires == expires);
        if current {
            self.entries.remove(key);
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_their_lifetime() {
        let t0 = Instant::now();
        let mut map = Expiring::new(Duration::from_secs(10), 100);
        map.insert("a".into(), 1, t0);
        assert_eq!(map.get("a", t0 + Duration::from_secs(9)), Some(&1));
        assert_eq!(map.get("a", t0 + Duration::from_secs(10)), None);
        assert_eq!(map.remove("a", t0 + Duration::from_secs(10)), None);
    }

    #[test]
    fn inserting_prunes_expired_entries() {
        let t0 = Instant::now();
        let mut map = Expiring::new(Duration::from_secs(10), 100);
        map.insert("a".into(), 1, t0);
        map.insert("b".into(), 2, t0 + Duration::from_secs(5));
        map.insert("c".into(), 3, t0 + Duration::from_secs(11));
        assert_eq!(map.len(), 2);
        assert_eq!(map.get("b", t0 + Duration::from_secs(11)), Some(&2));
    }

    #[test]
    fn the_cap_drops_the_oldest_entry() {
        let t0 = Instant::now();
        let mut map = Expiring::new(Duration::from_secs(10), 3);
        for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            map.insert(key.into(), i, t0);
        }
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("a", t0), None);
        assert_eq!(map.get("d", t0), Some(&3));
        // Removed keys do not count, and their stale order entries are skipped.
        assert_eq!(map.remove("b", t0), Some(1));
        map.insert("e".into(), 4, t0);
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("c", t0), Some(&2));
    }

    #[test]
    fn the_order_queue_stays_bounded_under_churn() {
        let t0 = Instant::now();
        let mut map = Expiring::new(Duration::from_secs(10), 4);
        for i in 0..1000 {
            let key = format!("k{i}");
            map.insert(key.clone(), i, t0);
            assert_eq!(map.remove(&key, t0), Some(i));
        }
        assert!(map.order.len() <= 9, "order grew to {}", map.order.len());
    }
}
