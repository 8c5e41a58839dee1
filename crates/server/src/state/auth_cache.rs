//! A cache of successful project-and-key authentications, so that an
//! authenticated request costs no database round trip for them.
//!
//! It is only used while the settings follower is connected: every change to
//! projects or key sets is announced by a trigger and empties the cache, and a
//! lost listener could miss such an announcement.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::db::keys::KeyKind;
use crate::db::projects::Project;
use crate::error::ApiError;

/// Most cached authentications kept before the cache starts over.
const CAPACITY: usize = 10_000;

/// A project and key pair that authenticated successfully: (project id, key kind, key).
type Key = (String, Option<KeyKind>, String);

/// The project a key authenticated for, and until when the key is valid.
type Entry = (Arc<Project>, DateTime<Utc>);

/// Successful project-and-key lookups; see the module docs for when it is live.
#[derive(Debug, Default)]
pub struct AuthCache {
    live: AtomicBool,
    /// Bumped by every clear; a lookup that started before a clear must not be cached.
    generation: AtomicU64,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl AuthCache {
    /// The project for a key: from the cache of keys that authenticated before,
    /// or from `lookup`, which loads the project, checks the key and says until
    /// when that answer holds. A successful lookup is cached unless the cache was
    /// cleared while it ran (the change that cleared it may have revoked the key).
    ///
    /// # Errors
    /// Whatever `lookup` reports.
    pub async fn authenticate<F, Fut>(
        &self,
        project_id: &str,
        kind: Option<KeyKind>,
        key: &str,
        lookup: F,
    ) -> Result<Arc<Project>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Arc<Project>, DateTime<Utc>), ApiError>>,
    {
        if let Some(project) = self.get(project_id, kind, key) {
            return Ok(project);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let (project, valid_until) = lookup().await?;
        self.remember(generation, &project, kind, key, valid_until);
        Ok(project)
    }

    /// The project for a key that authenticated before and is still valid.
    fn get(&self, project_id: &str, kind: Option<KeyKind>, key: &str) -> Option<Arc<Project>> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (project, expires_at) = entries.get(&(project_id.to_owned(), kind, key.to_owned()))?;
        (*expires_at > Utc::now()).then(|| Arc::clone(project))
    }

    /// Remembers a successful authentication until `expires_at` or the next change,
    /// unless the cache was cleared since `generation` was read.
    fn remember(
        &self,
        generation: u64,
        project: &Arc<Project>,
        kind: Option<KeyKind>,
        key: &str,
        expires_at: DateTime<Utc>,
    ) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(
            (project.id.clone(), kind, key.to_owned()),
            (Arc::clone(project), expires_at),
        );
    }

    /// Forgets every cached authentication.
    pub fn clear(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Turns caching on (the settings listener is connected) or off, starting empty.
    pub fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Release);
        self.clear();
    }
}
