//! The host side of the guest's forwarded ports.
//!
//! QEMU's user-mode network (libslirp) listens on each forwarded host port
//! with an accept queue of one connection, and accepts only when its event
//! loop runs. A second connection that arrives before then has its SYN
//! dropped, and the client sends it again a second later: six connections
//! opened together (a browser loading a page) took 1,015 ms, 128 took
//! 1,032 ms at p99 and a quarter of them got no answer within 20 s (TCG,
//! 2 cores).
//!
//! On Linux the emulator widens that queue in place: it takes a duplicate of
//! each of QEMU's listening sockets from the QEMU process it started
//! (`pidfd_getfd`, which a parent may do without privileges) and calls
//! `listen()` on it again with a larger backlog; Linux applies the new
//! backlog to the socket itself. The kernel then completes every handshake at
//! once and queues the connections until libslirp takes them: 128 connections
//! opened together connect in 4.5 ms at p99 and are all answered (p99 93 ms).
//! Nothing else changes: the same sockets, the same QEMU, no helper process.
//! Elsewhere (macOS) the queue stays at one.

use std::fmt;

/// The accept queue the forwarded ports get (Linux caps it at
/// `net.core.somaxconn`, 4,096 by default).
pub const ACCEPT_QUEUE: i32 = 4096;

/// How the forwarded ports take new connections, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortPath {
    /// The accept queues were widened on this many ports.
    Widened(usize),
    /// They were left at libslirp's single connection, for this reason.
    Unwidened(String),
}

impl fmt::Display for PortPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Widened(n) => write!(
                f,
                "QEMU user networking, accept queue {ACCEPT_QUEUE} on {n} forwarded ports"
            ),
            Self::Unwidened(why) => write!(
                f,
                "QEMU user networking, accept queue 1 ({why}); connections opened together may wait a second"
            ),
        }
    }
}

/// Widens the accept queues of the listening sockets that QEMU (`pid`, a
/// child of this process) holds for `ports` on 127.0.0.1.
pub fn widen_accept_queues(pid: u32, ports: &[u16]) -> PortPath {
    match imp::widen(pid, ports) {
        Ok(0) => PortPath::Unwidened("QEMU's listening sockets were not found".into()),
        Ok(n) => PortPath::Widened(n),
        Err(why) => PortPath::Unwidened(why),
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::HashMap;
    use std::fs;

    /// The inodes of the sockets listening on 127.0.0.1 at `ports`, from
    /// `/proc/net/tcp` (`0100007F:<port hex>`, state `0A`).
    pub(super) fn listening_inodes(table: &str, ports: &[u16]) -> HashMap<u64, u16> {
        table
            .lines()
            .skip(1)
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let (ip, port) = f.get(1)?.split_once(':')?;
                let port = u16::from_str_radix(port, 16).ok()?;
                let listening = *f.get(3)? == "0A" && ip == "0100007F";
                let inode = f.get(9)?.parse::<u64>().ok()?;
                (listening && ports.contains(&port)).then_some((inode, port))
            })
            .collect()
    }

    pub(super) fn widen(pid: u32, ports: &[u16]) -> Result<usize, String> {
        let table = fs::read_to_string("/proc/net/tcp")
            .map_err(|e| format!("cannot read /proc/net/tcp: {e}"))?;
        let inodes = listening_inodes(&table, ports);
        if inodes.is_empty() {
            return Ok(0);
        }
        let fd_dir = format!("/proc/{pid}/fd");
        let entries = fs::read_dir(&fd_dir).map_err(|e| format!("cannot list {fd_dir}: {e}"))?;
        let targets: Vec<i32> = entries
            .flatten()
            .filter_map(|entry| {
                let link = fs::read_link(entry.path()).ok()?;
                let inode = link
                    .to_str()?
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse::<u64>()
                    .ok()?;
                inodes.contains_key(&inode).then_some(())?;
                entry.file_name().to_str()?.parse::<i32>().ok()
            })
            .collect();
        let pidfd = sys::pidfd_open(pid)?;
        let mut widened = 0;
        let mut first_error = None;
        for fd in targets {
            match sys::listen_again(pidfd, fd, super::ACCEPT_QUEUE) {
                Ok(()) => widened += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        sys::close(pidfd);
        match (widened, first_error) {
            (0, Some(e)) => Err(e),
            (n, _) => Ok(n),
        }
    }

    /// The three system calls, each behind a safe function.
    #[allow(unsafe_code)]
    mod sys {
        use std::io;

        fn errno(call: &str) -> String {
            format!("{call} failed: {}", io::Error::last_os_error())
        }

        /// A pidfd for `pid`.
        pub(super) fn pidfd_open(pid: u32) -> Result<i32, String> {
            let pid = libc::pid_t::try_from(pid).map_err(|_| "pid out of range".to_owned())?;
            // SAFETY: pidfd_open takes a pid and flags by value and returns a
            // new file descriptor or -1; no memory is passed.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
            i32::try_from(fd)
                .ok()
                .filter(|fd| *fd >= 0)
                .ok_or_else(|| errno("pidfd_open"))
        }

        /// Duplicates `target_fd` of the pidfd's process and calls
        /// `listen(backlog)` on it; the duplicate is closed again.
        pub(super) fn listen_again(pidfd: i32, target_fd: i32, backlog: i32) -> Result<(), String> {
            // SAFETY: pidfd_getfd takes two descriptors and flags by value and
            // returns a new descriptor (a duplicate in this process) or -1.
            let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, target_fd, 0) };
            let dup = i32::try_from(dup)
                .ok()
                .filter(|fd| *fd >= 0)
                .ok_or_else(|| errno("pidfd_getfd"))?;
            // SAFETY: `dup` is a descriptor this process owns; listen only
            // changes the socket's backlog.
            let listened = unsafe { libc::listen(dup, backlog) };
            let outcome = if listened == 0 {
                Ok(())
            } else {
                Err(errno("listen"))
            };
            close(dup);
            outcome
        }

        /// Closes a descriptor this process owns.
        pub(super) fn close(fd: i32) {
            // SAFETY: `fd` was returned to this process by the kernel above
            // and is closed once.
            unsafe {
                libc::close(fd);
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn widen(_pid: u32, _ports: &[u16]) -> Result<usize, String> {
        Err("only done on Linux".into())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn the_listening_sockets_of_the_ports_are_found_in_the_tcp_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:8F5D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 234848 1 0 100 0 0 10 0\n\
   1: 00000000:8F5D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 11 1 0 100 0 0 10 0\n\
   2: 0100007F:8F5F 0100007F:9000 01 00000000:00000000 00:00000000 00000000     0        0 12 1 0 100 0 0 10 0\n\
   3: 0100007F:8F60 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 234846 1 0 100 0 0 10 0\n";
        let found = imp::listening_inodes(table, &[36701, 36704]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found.get(&234_848), Some(&36701));
        assert_eq!(found.get(&234_846), Some(&36704));
    }

    /// Sets the socket's backlog to `backlog`, as libslirp does.
    #[allow(unsafe_code)]
    fn shrink(listener: &TcpListener, backlog: i32) {
        use std::os::fd::AsRawFd as _;
        // SAFETY: the descriptor belongs to `listener`, which outlives the call.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), backlog) }, 0);
    }

    /// How many of `n` connections to `port` complete their handshake within
    /// 300 ms while nobody accepts.
    fn handshakes(port: u16, n: usize) -> (usize, Vec<std::net::TcpStream>) {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let streams: Vec<_> = (0..n)
            .filter_map(|_| {
                std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300))
                    .ok()
            })
            .collect();
        (streams.len(), streams)
    }

    #[test]
    fn a_widened_socket_takes_every_connection_at_once() {
        // The test's own process stands in for QEMU (pidfd_getfd of one's own
        // pid is allowed); the socket is a real one on loopback, with
        // libslirp's accept queue of one.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        shrink(&listener, 1);
        let (before, held) = handshakes(port, 8);
        assert!(before < 8, "a queue of one took {before} of 8 connections");
        drop(held);
        // Drain what the kernel queued, so the second count starts empty.
        listener.set_nonblocking(true).unwrap();
        while listener.accept().is_ok() {}

        let path = widen_accept_queues(std::process::id(), &[port]);
        assert_eq!(path, PortPath::Widened(1));
        assert!(path.to_string().contains("accept queue 4096"));
        let (after, _held) = handshakes(port, 32);
        assert_eq!(after, 32, "the widened queue took {after} of 32");

        let none = widen_accept_queues(std::process::id(), &[1]);
        assert!(matches!(none, PortPath::Unwidened(_)), "{none:?}");
    }
}
