//! A release server for tests: real HTTP/1.1 on loopback, written by hand so
//! that it can misbehave on purpose. It serves a folder, answers `Range`,
//! records every request, and per file can answer an error status, drop the
//! connection after N body bytes, serve wrong bytes, ignore `Range`, or
//! throttle.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What the server does to requests for one file.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status with an empty body.
    Status(u16),
    /// Send the headers and this many body bytes, then close the connection.
    DropAfter(u64),
    /// Send the file with one byte changed.
    WrongBytes,
    /// Answer `Range` requests with 200 and the whole file.
    IgnoreRange,
    /// Answer `Range` requests with 206 and the whole file (`bytes 0-…`).
    WrongRange,
}

/// One request the server saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The path, e.g. `/0.1.0/disk.qcow2.zst`.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
}

#[derive(Debug, Default)]
struct Rules {
    /// (file name, fault, how many more requests it applies to).
    faults: Vec<(String, Fault, u32)>,
    /// Bytes per second for bodies, when throttled.
    throttle: Option<u64>,
    seen: Vec<Seen>,
}

/// A running server; stops when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    rules: Arc<Mutex<Rules>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Serves `root` on a free loopback port.
    pub async fn start(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let rules = Arc::new(Mutex::new(Rules::default()));
        let root = root.to_path_buf();
        let shared = rules.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let root = root.clone();
                let rules = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(socket, &root, &rules).await;
                });
            }
        });
        Self { url, rules, task }
    }

    /// Applies `fault` to the next `times` requests for the file `name`.
    pub fn fault(&self, name: &str, fault: Fault, times: u32) {
        self.rules
            .lock()
            .unwrap()
            .faults
            .push((name.to_owned(), fault, times));
    }

    /// Limits body bytes per second (`None`: full speed).
    pub fn throttle(&self, bytes_per_second: Option<u64>) {
        self.rules.lock().unwrap().throttle = bytes_per_second;
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.rules.lock().unwrap().seen.clone()
    }

    /// The requests for paths ending in `name`.
    pub fn seen_for(&self, name: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path.ends_with(&format!("/{name}")))
            .collect()
    }
}

/// Size of each throttled write: small enough for a smooth rate.
const THROTTLE_CHUNK: usize = 16 << 10;

async fn serve(mut socket: TcpStream, root: &Path, rules: &Mutex<Rules>) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let head = read_head(&mut socket).await?;
    let mut lines = head.lines();
    let path = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_owned();
    let range = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("range"))
        .map(|(_, v)| v.trim().to_owned());
    let (fault, throttle) = {
        let mut r = rules.lock().unwrap();
        r.seen.push(Seen {
            path: path.clone(),
            range: range.clone(),
        });
        let fault = r
            .faults
            .iter_mut()
            .find(|(name, _, left)| *left > 0 && path.ends_with(&format!("/{name}")))
            .map(|(_, fault, left)| {
                *left -= 1;
                fault.clone()
            });
        (fault, r.throttle)
    };
    if let Some(Fault::Status(code)) = fault {
        return respond_empty(&mut socket, code).await;
    }
    let Some(file) = file_for(root, &path) else {
        return respond_empty(&mut socket, 404).await;
    };
    let Ok(mut body) = tokio::fs::read(&file).await else {
        return respond_empty(&mut socket, 404).await;
    };
    let total = body.len() as u64;
    let start = match (&range, &fault) {
        (Some(_), Some(Fault::WrongRange)) => Some(0),
        (Some(r), f) if !matches!(f, Some(Fault::IgnoreRange)) => {
            let start: u64 = r
                .strip_prefix("bytes=")
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if start >= total {
                return respond_empty(&mut socket, 416).await;
            }
            Some(start)
        }
        _ => None,
    };
    if let Some(Fault::WrongBytes) = fault {
        let middle = body.len() / 2;
        body[middle] ^= 0xff;
    }
    let from = usize::try_from(start.unwrap_or(0)).unwrap();
    let head = match start {
        Some(s) => format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {s}-{}/{total}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
            total - s,
            total - 1
        ),
        None => format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n"
        ),
    };
    socket.write_all(head.as_bytes()).await?;
    let mut payload = &body[from..];
    if let Some(Fault::DropAfter(n)) = fault {
        payload = &payload[..usize::try_from(n).unwrap().min(payload.len())];
    }
    match throttle {
        None => socket.write_all(payload).await?,
        Some(rate) => {
            for chunk in payload.chunks(THROTTLE_CHUNK) {
                socket.write_all(chunk).await?;
                // Rate limiting, not synchronisation: one chunk's share of a second.
                let pause = Duration::from_secs_f64(chunk.len() as f64 / rate as f64);
                tokio::time::sleep(pause).await;
            }
        }
    }
    socket.shutdown().await
}

async fn read_head(socket: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 << 10 {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.first() == Some(&0x16) {
            break; // a TLS handshake: answer in plain HTTP, as a real server would
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

async fn respond_empty(socket: &mut TcpStream, code: u16) -> std::io::Result<()> {
    let head = format!("HTTP/1.1 {code} Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    socket.write_all(head.as_bytes()).await?;
    socket.shutdown().await
}

fn file_for(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = path.trim_start_matches('/');
    if relative
        .split('/')
        .any(|part| part == ".." || part.is_empty())
    {
        return None;
    }
    let file = root.join(relative);
    file.is_file().then_some(file)
}
