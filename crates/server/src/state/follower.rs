//! The settings follower: keeps a server's runtime settings and auth cache in
//! step with the database by listening for the settings NOTIFY.

use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::postgres::PgListener;

use super::AppState;
use crate::db::settings;

impl AppState {
    /// Follows settings changes until the process ends: LISTEN on the settings
    /// channel, reload on every notification, and after a lost connection
    /// (when notifications may have been missed) reload as well.
    pub async fn follow_settings(self) {
        loop {
            match PgListener::connect_with(&self.pool).await {
                Ok(mut listener) => {
                    if let Err(e) = listener.listen(settings::SETTINGS_CHANNEL).await {
                        tracing::warn!(error = %e, "could not listen for settings changes");
                    } else {
                        self.runtime.forget();
                        self.auth_cache.set_live(true);
                        loop {
                            match listener.try_recv().await {
                                Ok(Some(n)) if n.payload() == "cache" => self.auth_cache.clear(),
                                // This server applied the change and reloaded already.
                                Ok(Some(n)) if n.payload() == &*self.own_reload => {}
                                Ok(Some(_)) => {
                                    self.auth_cache.clear();
                                    if let Err(e) = self.reload().await {
                                        tracing::warn!(error = %e, "settings reload failed");
                                        self.runtime.forget();
                                    } else {
                                        tracing::info!("settings reloaded");
                                    }
                                }
                                // The connection was lost: anything announced meanwhile is
                                // unknown, so stop caching and start over with a new listener.
                                Ok(None) => {
                                    self.runtime.forget();
                                    break;
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "settings listener failed");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "settings listener cannot connect yet"),
            }
            self.auth_cache.set_live(false);
            // Back off before reconnecting; the pool's own connect timeout bounds each try.
            tokio::time::sleep(LISTENER_RETRY).await;
        }
    }
}

/// A payload that names one server: random, so that servers on other machines
/// sharing the database never take another's change for their own.
pub(super) fn own_reload_payload() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = crate::random::uuid().map_or_else(
        |_| {
            format!(
                "{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            )
        },
        |u| u.to_string(),
    );
    format!("{} {id}", settings::RELOAD)
}

/// How long to wait before reconnecting the settings listener after a failure.
const LISTENER_RETRY: Duration = Duration::from_secs(1);
