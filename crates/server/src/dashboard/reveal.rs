//! Secrets a page shows once: a form post stores what it made here and
//! redirects to a GET that takes it (post, redirect, get). A refresh of that
//! page finds nothing, so it cannot make a second key set or session, and
//! the secret is not kept after it was shown. New API key sets
//! ([`super::keys`]) and impersonation sessions ([`super::impersonate`]) use
//! it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::PageError;

/// How long a secret waits to be shown.
const REVEAL_LIFETIME: Duration = Duration::from_secs(600);

/// How many secrets may wait at once; a new one past this drops the oldest
/// (the store is in memory, and each post adds one).
const MAX_REVEALS: usize = 64;

/// A waiting secret: when it was made, its project, the value.
type Waiting<T> = HashMap<String, (Instant, String, T)>;

/// Values waiting for the one page that shows them; kept in memory only,
/// each taken by its first view.
#[derive(Debug)]
pub struct Reveals<T>(Arc<Mutex<Waiting<T>>>);

impl<T> Default for Reveals<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T> Clone for Reveals<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Reveals<T> {
    fn lock(&self) -> MutexGuard<'_, Waiting<T>> {
        // A panic while holding the lock cannot leave the map half-changed.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `value` of project `project_id` and returns the id of the page
    /// that shows it.
    ///
    /// # Errors
    /// The OS RNG cannot be read.
    pub fn put(&self, project_id: &str, value: T) -> Result<String, PageError> {
        let id = crate::random::base32_string(26)?;
        let mut waiting = self.lock();
        waiting.retain(|_, (at, _, _)| at.elapsed() < REVEAL_LIFETIME);
        if waiting.len() >= MAX_REVEALS
            && let Some(oldest) = waiting
                .iter()
                .min_by_key(|(_, (at, _, _))| *at)
                .map(|(k, _)| k.clone())
        {
            waiting.remove(&oldest);
        }
        waiting.insert(id.clone(), (Instant::now(), project_id.to_owned(), value));
        Ok(id)
    }

    /// The value behind `id` if it belongs to `project_id` and is not
    /// expired; it is gone afterwards.
    pub fn take(&self, id: &str, project_id: &str) -> Option<T> {
        let mut waiting = self.lock();
        match waiting.get(id) {
            Some((at, project, _)) if project == project_id && at.elapsed() < REVEAL_LIFETIME => {
                waiting.remove(id).map(|(_, _, value)| value)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_taken_once_and_only_by_its_project() {
        let reveals = Reveals::default();
        let id = reveals.put("p1", 7).expect("the OS RNG");
        assert_eq!(reveals.take(&id, "p2"), None);
        assert_eq!(reveals.take(&id, "p1"), Some(7));
        assert_eq!(reveals.take(&id, "p1"), None);
    }

    #[test]
    fn the_oldest_value_makes_room() {
        let reveals = Reveals::default();
        let first = reveals.put("p", 0).expect("the OS RNG");
        for i in 1..=MAX_REVEALS {
            reveals.put("p", i).expect("the OS RNG");
        }
        assert_eq!(reveals.take(&first, "p"), None);
    }
}
