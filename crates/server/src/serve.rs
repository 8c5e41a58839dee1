//! Serving HTTP/1 connections with the limits a server on a developer's laptop
//! needs against a hostile page or a stuck client.
//!
//! `axum::serve` reads request heads with no time limit and accepts
//! connections until the process runs out of file descriptors: a few thousand
//! half-sent heads (slowloris) stopped every listener of the process. Here
//! each listener has:
//!
//! - a time limit on every request head, which also bounds how long a
//!   keep-alive connection may sit idle ([`ConnectionLimits::header_read_timeout`]);
//! - a cap on open connections. A connection that arrives at the cap is still
//!   taken: the oldest connection that has no request in a handler (one
//!   sending its head slowly, or idle) is closed to make room, so a flood of
//!   idle connections cannot lock real clients out;
//! - a small read buffer, so a held connection costs kilobytes, not the
//!   default ~400 KiB;
//! - after a flood (many connections, then few), the allocator is asked to
//!   return free memory to the system.
//!
//! Request bodies have their own time limit where they are read
//! ([`crate::http::BODY_READ_TIMEOUT`]).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt as _;

/// Limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once; at the cap the oldest one without a
    /// request in progress is closed for a new one.
    pub max_connections: usize,
    /// Time for a client to send a whole request head, counted from when the
    /// server is ready for it (so also the longest keep-alive idle time).
    pub header_read_timeout: Duration,
}

impl ConnectionLimits {
    /// The API's limits: far more connections than a browser or an SDK test
    /// suite opens, and well below the usual limit of 1,024 open files.
    pub const API: Self = Self {
        max_connections: 512,
        header_read_timeout: Duration::from_secs(10),
    };
    /// The mail sink's web page and JSON API.
    pub const MAIL_WEB: Self = Self {
        max_connections: 128,
        header_read_timeout: Duration::from_secs(10),
    };
}

/// Read buffer of one connection (hyper's smallest is 8 KiB); a request head
/// larger than this is refused with 431.
const MAX_BUF_SIZE: usize = 64 * 1024;

/// Connections open at once above which the allocator is trimmed when the
/// number falls back to [`TRIM_BELOW`].
const TRIM_AFTER: usize = 256;
const TRIM_BELOW: usize = 16;

/// How long shutdown waits for requests in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// One open connection, as the cap sees it (the registry and the
/// connection's task each hold a copy).
#[derive(Clone)]
struct Slot {
    /// Requests of this connection inside a handler right now.
    in_flight: Arc<AtomicUsize>,
    /// Closes the connection when notified.
    close: Arc<Notify>,
}

/// The open connections of one listener, oldest first.
#[derive(Default)]
struct Registry {
    next_id: u64,
    open: BTreeMap<u64, Slot>,
    peak_since_trim: usize,
}

impl Registry {
    /// Closes the oldest connection with no request in a handler; false when
    /// every connection is busy.
    fn evict_oldest_idle(&mut self) -> bool {
        let victim = self
            .open
            .iter()
            .find(|(_, slot)| slot.in_flight.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match victim.and_then(|id| self.open.remove(&id)) {
            Some(slot) => {
                slot.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets requests
/// in progress finish (for up to a few seconds).
///
/// # Errors
/// Never for a single connection's failure; only if the listener cannot accept
/// at all.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let registry = Arc::new(Mutex::new(Registry::default()));
    let (closing_tx, closing_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors or memory: wait instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Some((id, slot)) = admit(&registry, limits.max_connections) else {
            // Every connection has a request in a handler: refuse this one
            // rather than exceed the cap.
            drop(stream);
            continue;
        };
        let service = CountingService {
            router: router.clone(),
            in_flight: Arc::clone(&slot.in_flight),
        };
        let registry = Arc::clone(&registry);
        let mut closing = closing_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(MAX_BUF_SIZE);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let mut draining = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    () = slot.close.notified(), if !draining => break,
                    changed = closing.changed(), if !draining => {
                        if changed.is_err() || *closing.borrow() {
                            draining = true;
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            release(&registry, id);
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while open_connections(&registry) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Registers a new connection, first closing the oldest idle one at the cap.
fn admit(registry: &Mutex<Registry>, max: usize) -> Option<(u64, Slot)> {
    let mut r = registry.lock().unwrap_or_else(|e| e.into_inner());
    if r.open.len() >= max && !r.evict_oldest_idle() {
        return None;
    }
    let id = r.next_id;
    r.next_id += 1;
    let slot = Slot {
        in_flight: Arc::new(AtomicUsize::new(0)),
        close: Arc::new(Notify::new()),
    };
    r.open.insert(id, slot.clone());
    r.peak_since_trim = r.peak_since_trim.max(r.open.len());
    Some((id, slot))
}

/// Forgets a closed connection; after a flood, gives free memory back.
fn release(registry: &Mutex<Registry>, id: u64) {
    let trim = {
        let mut r = registry.lock().unwrap_or_else(|e| e.into_inner());
        r.open.remove(&id);
        let after_flood = r.peak_since_trim >= TRIM_AFTER && r.open.len() <= TRIM_BELOW;
        if after_flood {
            r.peak_since_trim = r.open.len();
        }
        after_flood
    };
    if trim {
        tokio::task::spawn_blocking(return_free_memory);
    }
}

fn open_connections(registry: &Mutex<Registry>) -> usize {
    registry
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .open
        .len()
}

/// The router as a hyper service that counts the connection's requests in a
/// handler, so that the cap never closes a connection mid-request.
#[derive(Clone)]
struct CountingService {
    router: Router,
    in_flight: Arc<AtomicUsize>,
}

impl hyper::service::Service<Request<Incoming>> for CountingService {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let router = self.router.clone();
        let guard = InFlight::enter(Arc::clone(&self.in_flight));
        Box::pin(async move {
            let response = router.oneshot(request.map(axum::body::Body::new)).await;
            drop(guard);
            response
        })
    }
}

/// Counts one request in a handler until dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(counter)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Asks glibc's allocator to give freed memory back to the system. After
/// thousands of connections close, their buffers are free but stay mapped in
/// the allocator's arenas until this is called.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn return_free_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no
    // arguments that point anywhere and may be called from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_free_memory() {}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry_with(busy: &[bool]) -> Mutex<Registry> {
        let registry = Mutex::new(Registry::default());
        for &b in busy {
            let (_, slot) = admit(&registry, usize::MAX).unwrap_or_else(|| unreachable!());
            if b {
                slot.in_flight.fetch_add(1, Ordering::AcqRel);
            }
        }
        registry
    }

    fn ids(registry: &Mutex<Registry>) -> Vec<u64> {
        registry
            .lock()
            .map(|r| r.open.keys().copied().collect())
            .unwrap_or_default()
    }

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let registry = registry_with(&[true, false, false]);
        assert!(admit(&registry, 3).is_some());
        assert_eq!(ids(&registry), vec![0, 2, 3]);
    }

    #[test]
    fn when_every_connection_is_busy_a_new_one_is_refused() {
        let registry = registry_with(&[true, true]);
        assert!(admit(&registry, 2).is_none());
        assert_eq!(ids(&registry), vec![0, 1]);
    }

    #[test]
    fn below_the_cap_nothing_is_closed() {
        let registry = registry_with(&[false, false]);
        assert!(admit(&registry, 3).is_some());
        assert_eq!(ids(&registry), vec![0, 1, 2]);
    }
}
