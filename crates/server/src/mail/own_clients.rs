//! The SMTP connections this process opens to deliver its own mail, so that the
//! sink's listener can tell them from everyone else's.
//!
//! The listener serves a bounded number of connections. Without a way to tell
//! the server's own sends apart, any client that holds every connection open
//! (a local process, or a web page that opens connections to the SMTP port)
//! would make the server's sign-in and reset mails fail with 421 until it lets
//! go. The outbound client binds each socket to a local address before it
//! connects and records that address here; the listener looks up the peer
//! address of each connection it accepts, and lets a recorded one use a slot
//! kept for the server's own mail.
//!
//! The record is process-wide because the outbound client and the listener are
//! built separately and share nothing else; an address stays recorded only while
//! its connection is open. For a target on loopback (the sink of this server)
//! the socket is bound to a loopback address and matched exactly, and the kernel
//! gives no other socket that address while it is open; for any other target
//! the match is by port, which at worst lends a reserved slot to a stranger for
//! the few milliseconds of one send.

use std::net::SocketAddr;
use std::sync::Mutex;

/// Local addresses of the open outbound connections.
static OPEN: Mutex<Vec<SocketAddr>> = Mutex::new(Vec::new());

fn open() -> std::sync::MutexGuard<'static, Vec<SocketAddr>> {
    // The list stays consistent even if a holder panicked: every change is one push or one remove.
    OPEN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Keeps a local address recorded until it is dropped.
#[derive(Debug)]
pub struct Registration {
    local: SocketAddr,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = open();
        if let Some(i) = open.iter().position(|a| *a == self.local) {
            open.swap_remove(i);
        }
    }
}

/// Records `local`, the address an outbound socket is bound to, until the
/// returned value is dropped. Record it before connecting, so that the listener
/// cannot accept the connection before it is known.
pub fn register(local: SocketAddr) -> Registration {
    open().push(local);
    Registration { local }
}

/// Whether `peer` is one of this process's outbound connections. A socket bound
/// to an unspecified address (for a target that is not on loopback) is matched
/// by its port.
pub fn is_own(peer: SocketAddr) -> bool {
    let peer_ip = peer.ip().to_canonical();
    open().iter().any(|local| {
        local.port() == peer.port()
            && (local.ip().is_unspecified() || local.ip().to_canonical() == peer_ip)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_own_only_while_registered() {
        let local: SocketAddr = "127.0.0.1:40001".parse().expect("an address");
        assert!(!is_own(local));
        let registration = register(local);
        assert!(is_own(local));
        assert!(is_own(
            "[::ffff:127.0.0.1]:40001".parse().expect("an address")
        ));
        assert!(!is_own("127.0.0.1:40002".parse().expect("an address")));
        assert!(!is_own("127.0.0.2:40001".parse().expect("an address")));
        drop(registration);
        assert!(!is_own(local));
    }

    #[test]
    fn an_unspecified_local_address_matches_by_port() {
        let _registration = register("0.0.0.0:40003".parse().expect("an address"));
        assert!(is_own("10.1.2.3:40003".parse().expect("an address")));
        assert!(!is_own("10.1.2.3:40004".parse().expect("an address")));
    }
}
