//! What every target runs on: a single-threaded runtime, a pool whose database
//! is not there, and a record of panics on any thread.
//!
//! The record matters because the server runs each SMTP connection on a task of
//! its own: tokio catches a panic in such a task and the listener goes on, so
//! without the hook a crash of one connection would pass unseen.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use stack_server::mail::outbound::Mailer;
use stack_server::state::{AppState, MailSettings, ServeSettings};
use tokio::runtime::Runtime;

/// A Unix socket path that cannot exist: connecting fails with "not found" at
/// once (a refused TCP port would be retried until the acquire timeout).
const NO_DATABASE_SOCKET: &str = "/nonexistent/stack-server-fuzz/.s.PGSQL.5432";

/// A runtime and a pool to a database that is never there.
#[derive(Debug)]
pub struct Offline {
    runtime: Runtime,
    pool: PgPool,
}

impl Offline {
    /// Builds the runtime and the lazily connecting pool.
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        // sqlx spawns its pool maintenance on the current runtime.
        let pool = {
            let _entered = runtime.enter();
            PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(1))
                .connect_lazy_with(
                    PgConnectOptions::new()
                        .socket(NO_DATABASE_SOCKET)
                        .database("fuzz"),
                )
        };
        Self { runtime, pool }
    }

    /// Runs `future` to completion on the runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The pool (every acquire fails).
    pub fn pool(&self) -> PgPool {
        self.pool.clone()
    }

    /// API server state over the pool, with mail disabled.
    pub fn state(&self) -> AppState {
        let settings = ServeSettings {
            default_public_api_url: "http://localhost:8102".to_owned(),
            access_token_ttl: Duration::from_secs(600),
            local_emulator: true,
            mail: MailSettings::default(),
            oauth: stack_server::state::OAuthSettings::default(),
            dashboard_listen: None,
        };
        AppState::new(self.pool(), settings, Mailer::disabled())
    }
}

static PANICS: AtomicUsize = AtomicUsize::new(0);
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());
static HOOK: Once = Once::new();

/// Counts every panic, on any thread, from now on.
///
/// Called from inside the fuzzed closure, so that the hook wraps the one the
/// fuzz engine installs when it starts and sees panics before the engine does.
pub fn watch_panics() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut last) = LAST_PANIC.lock() {
                *last = info.to_string();
            }
            previous(info);
        }));
    });
}

/// Panics seen so far.
pub fn panic_count() -> usize {
    PANICS.load(Ordering::SeqCst)
}

/// Fails the current input if anything panicked since `before` (a value of [`panic_count`]).
pub fn assert_no_panic_since(before: usize, what: &str) {
    if panic_count() != before {
        let last = LAST_PANIC.lock().map(|l| l.clone()).unwrap_or_default();
        panic!("{what} panicked: {last}");
    }
}
