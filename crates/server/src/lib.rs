//! stack-server: a Stack Auth–compatible REST API on PostgreSQL.
//!
//! The server keeps no state outside PostgreSQL: signing keys and public URLs
//! are settings in the database, reloaded on NOTIFY, so any number of servers can
//! share one database and a secret rotation reaches all of them without a
//! restart. The local emulator runs it inside its VM; tests and developers run it
//! on the host. What it leaves out (for now): OAuth sign-in, teams beyond the
//! personal team, email flows.

pub mod accounts;
pub mod auth;
pub mod control;
pub mod db;
pub mod error;
pub mod http;
pub mod jwt;
pub mod known_errors;
pub mod password;
pub mod random;
pub mod redirect;
pub mod rotate;
pub mod routes;
pub mod secret;
pub mod seed;
pub mod state;
pub mod tokens;
pub mod user_view;
pub mod validate;

use std::net::SocketAddr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::TcpListener;

use crate::state::{AppState, ServeSettings};

/// How long a request waits for a pooled connection before it fails with 503.
/// Short, so that a dead database gives a quick, clear answer instead of a hang.
pub const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds a lazily connecting pool: the server starts, and recovers, whether or
/// not PostgreSQL is up yet.
pub fn connect_lazy(options: PgConnectOptions, max_connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
        .connect_lazy_with(options)
}

/// A bound, ready-to-run server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    control: Option<control::ControlSocket>,
}

impl Application {
    /// Binds the API listener.
    ///
    /// # Errors
    /// The address cannot be bound (in use, no permission).
    pub async fn bind(
        addr: SocketAddr,
        pool: PgPool,
        settings: ServeSettings,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            state: AppState::new(pool, settings),
            control: None,
        })
    }

    /// Also takes rotations on a control socket at `path` (see [`control`]).
    ///
    /// # Errors
    /// The socket cannot be bound.
    pub fn with_control_socket(mut self, path: &std::path::Path) -> std::io::Result<Self> {
        self.control = Some(control::ControlSocket::bind(path)?);
        Ok(self)
    }

    /// The address actually bound (useful with port 0).
    ///
    /// # Errors
    /// The socket has no local address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state (for tests that need the pool or settings).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, following settings changes meanwhile.
    ///
    /// # Errors
    /// The listener fails.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let follower = tokio::spawn(self.state.clone().follow_settings());
        let control = match self.control {
            Some(socket) => {
                let port = self.listener.local_addr()?.port();
                let api_base = format!("http://127.0.0.1:{port}");
                Some(tokio::spawn(socket.serve(self.state.clone(), api_base)))
            }
            None => None,
        };
        let app = http::router(self.state);
        let result = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        follower.abort();
        if let Some(control) = control {
            control.abort();
        }
        result
    }
}
