//! Downloads one release file into a `.part` file: network → file and sha256
//! in the same pass, on a thread of its own, so that hashing never needs a
//! second read. An existing `.part` is resumed with an HTTP `Range` request
//! (its bytes are hashed once first); a dropped connection is resumed the same
//! way within one pull.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use super::error::io;
use super::format::Artifact;
use super::source::{Body, Source};
use super::{ReleaseError, ReleaseVersion};

/// How many times in a row a connection may fail without delivering a byte
/// before the pull gives up (the `.part` stays for the next pull).
const MAX_ATTEMPTS_WITHOUT_PROGRESS: u32 = 4;
/// The pause before reconnecting after a dropped connection, times the attempt
/// number: long enough for a restarting server, short next to a download.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Batches in flight between the network and the writer thread: bounds
/// memory to a few MB while keeping both sides busy.
const BATCHES_IN_FLIGHT: usize = 4;
/// Bytes handed to the writer thread at once.
const BATCH_BYTES: usize = 256 << 10;
/// Read size when hashing an existing `.part`.
const HASH_BUFFER_BYTES: usize = 1 << 20;

/// Receives download progress; the CLI draws it (see `progress.rs`).
pub trait DownloadReporter: Send + Sync {
    /// A file starts; `resumed_from` bytes are already there.
    fn started(&self, file: &str, total: u64, resumed_from: u64);
    /// `done` bytes of the file are there now.
    fn advanced(&self, done: u64);
    /// The connection failed at `done` bytes; it is opened again.
    fn retrying(&self, file: &str, done: u64, why: &str);
    /// The file is complete; `fetched` bytes came over the network in `elapsed`.
    fn finished(&self, file: &str, fetched: u64, elapsed: Duration);
}

/// One file to download.
pub struct Download<'a> {
    /// Where from.
    pub source: &'a Source,
    /// The release.
    pub version: &'a ReleaseVersion,
    /// The file and what it must be.
    pub artifact: &'a Artifact,
    /// The `.part` file.
    pub part: PathBuf,
}

/// The `.part` file, its hash so far and its length, owned by the writer thread.
struct PartWriter {
    file: File,
    hasher: Sha256,
    len: u64,
}

impl PartWriter {
    /// Opens the `.part` to append `len` bytes hashed as `hasher`, or empties it.
    fn open(path: &Path, hasher: Sha256, len: u64) -> Result<Self, ReleaseError> {
        let file = OpenOptions::new()
            .create(true)
            .append(len > 0)
            .write(true)
            .truncate(len == 0)
            .open(path)
            .map_err(io("cannot write", path))?;
        Ok(Self { file, hasher, len })
    }
}

/// What one connection delivered.
struct Streamed {
    writer: PartWriter,
    /// The write that failed, if one did.
    write_error: Option<std::io::Error>,
    /// Why the connection ended early, if it did.
    network_error: Option<String>,
    /// The server sent more bytes than the manifest says.
    overflow: Option<u64>,
}

/// Downloads the file into its `.part` and checks size and sha256. Returns
/// the bytes that came over the network.
///
/// # Errors
/// Unreachable or error answers, a full disk, or bytes that do not match
/// (then the `.part` is deleted).
pub async fn download(
    job: &Download<'_>,
    reporter: &dyn DownloadReporter,
) -> Result<u64, ReleaseError> {
    let artifact = job.artifact;
    let part = job.part.as_path();
    let mut have = fs::metadata(part).map_or(0, |m| m.len());
    if have > artifact.size {
        remove(part)?;
        have = 0;
    }
    let hasher = if have > 0 {
        hash_prefix(part.to_path_buf()).await?
    } else {
        Sha256::new()
    };
    reporter.started(&artifact.file, artifact.size, have);
    let started = Instant::now();
    let mut writer = PartWriter::open(part, hasher, have)?;
    let mut fetched = 0u64;
    let mut failures = 0u32;
    while writer.len < artifact.size {
        let offset = writer.len;
        let opened = match job.source.open(job.version, &artifact.file, offset).await {
            Ok(opened) => opened,
            Err(ReleaseError::Server { status: 416, .. }) if offset > 0 => {
                // The server says our `.part` reaches past its file: start over.
                writer = PartWriter::open(part, Sha256::new(), 0)?;
                failures += 1;
                continue;
            }
            Err(e @ (ReleaseError::Unreachable { .. } | ReleaseError::Timeout { .. }))
                if offset > 0 && failures + 1 < MAX_ATTEMPTS_WITHOUT_PROGRESS =>
            {
                failures += 1;
                reporter.retrying(&artifact.file, offset, &e.to_string());
                tokio::time::sleep(RETRY_PAUSE * failures).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        if opened.start != offset {
            // A server that ignores `Range` answers 200 with the whole file.
            writer = PartWriter::open(part, Sha256::new(), 0)?;
        }
        let before = writer.len;
        let streamed = stream(opened.body, writer, artifact.size, reporter).await?;
        writer = streamed.writer;
        fetched += writer.len - before;
        if let Some(e) = streamed.write_error {
            return Err(write_failed(job, e));
        }
        if let Some(found) = streamed.overflow {
            remove(part)?;
            return Err(ReleaseError::Size {
                file: artifact.file.clone(),
                version: job.version.to_string(),
                expected: artifact.size,
                found,
            });
        }
        if let Some(why) = streamed.network_error {
            failures = if writer.len > before { 0 } else { failures + 1 };
            if failures >= MAX_ATTEMPTS_WITHOUT_PROGRESS {
                return Err(ReleaseError::Dropped {
                    url: job.source.file_location(job.version, &artifact.file),
                    why,
                });
            }
            reporter.retrying(&artifact.file, writer.len, &why);
            tokio::time::sleep(RETRY_PAUSE * failures.max(1)).await;
            continue;
        }
        if writer.len < artifact.size {
            // The server ended the body early without an error: resume.
            failures += 1;
            if failures >= MAX_ATTEMPTS_WITHOUT_PROGRESS {
                remove(part)?;
                return Err(ReleaseError::Size {
                    file: artifact.file.clone(),
                    version: job.version.to_string(),
                    expected: artifact.size,
                    found: writer.len,
                });
            }
        }
    }
    writer.file.flush().map_err(io("cannot write", part))?;
    let found = hex(&writer.hasher.finalize());
    if found != artifact.sha256 {
        remove(part)?;
        return Err(ReleaseError::Checksum {
            file: artifact.file.clone(),
            version: job.version.to_string(),
            expected: artifact.sha256.clone(),
            found,
        });
    }
    reporter.finished(&artifact.file, fetched, started.elapsed());
    Ok(fetched)
}

/// Streams one response body into the writer thread until it ends, fails, or
/// would pass `limit` bytes in all.
async fn stream(
    mut body: Body,
    mut writer: PartWriter,
    limit: u64,
    reporter: &dyn DownloadReporter,
) -> Result<Streamed, ReleaseError> {
    let mut done = writer.len;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(BATCHES_IN_FLIGHT);
    let thread = tokio::task::spawn_blocking(move || {
        while let Some(batch) = rx.blocking_recv() {
            for chunk in batch {
                if let Err(e) = writer.file.write_all(&chunk) {
                    return (writer, Some(e));
                }
                writer.hasher.update(&chunk);
                writer.len += chunk.len() as u64;
            }
        }
        (writer, None)
    });
    let mut network_error = None;
    let mut overflow = None;
    // The network hands out chunks of a few KB; the writer gets them in
    // batches (without copying), so that the thread wakes up a few hundred
    // times per 100 MB instead of thousands.
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    loop {
        match body.chunk().await {
            Ok(Some(chunk)) => {
                done += chunk.len() as u64;
                if done > limit {
                    overflow = Some(done);
                    break;
                }
                batch_bytes += chunk.len();
                batch.push(chunk);
                if batch_bytes >= BATCH_BYTES {
                    batch_bytes = 0;
                    if tx.send(std::mem::take(&mut batch)).await.is_err() {
                        break; // the writer stopped on an error and reports it
                    }
                }
                reporter.advanced(done);
            }
            Ok(None) => break,
            Err(why) => {
                network_error = Some(why);
                break;
            }
        }
    }
    // What arrived before an end, a drop or an overflow is a correct prefix: keep it.
    if !batch.is_empty() {
        let _ = tx.send(batch).await;
    }
    drop(tx);
    let (writer, write_error) = thread.await.map_err(|e| ReleaseError::Io {
        what: "the download writer failed for",
        path: PathBuf::new(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(Streamed {
        writer,
        write_error,
        network_error,
        overflow,
    })
}

fn write_failed(job: &Download<'_>, e: std::io::Error) -> ReleaseError {
    let dir = job.part.parent().unwrap_or(Path::new(".")).to_path_buf();
    if e.raw_os_error() == Some(libc::ENOSPC) {
        let have = fs::metadata(&job.part).map_or(0, |m| m.len());
        let needed = job.artifact.size.saturating_sub(have)
            + job.artifact.decoded.as_ref().map_or(0, |d| d.size);
        ReleaseError::DiskFull {
            version: job.version.to_string(),
            needed_mib: needed.div_ceil(1 << 20),
            available_mib: crate::space::available_bytes(&dir).unwrap_or(0) >> 20,
            dir,
        }
    } else {
        io("cannot write", &job.part)(e)
    }
}

/// Hashes what an earlier pull left in a `.part`, once, before resuming it.
async fn hash_prefix(part: PathBuf) -> Result<Sha256, ReleaseError> {
    tokio::task::spawn_blocking(move || {
        let mut file = File::open(&part).map_err(io("cannot read", &part))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; HASH_BUFFER_BYTES];
        loop {
            let n = file.read(&mut buf).map_err(io("cannot read", &part))?;
            if n == 0 {
                return Ok(hasher);
            }
            hasher.update(&buf[..n]);
        }
    })
    .await
    .map_err(|e| ReleaseError::Io {
        what: "hashing failed for",
        path: PathBuf::new(),
        source: std::io::Error::other(e.to_string()),
    })?
}

fn remove(path: &Path) -> Result<(), ReleaseError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("cannot delete", path)(e)),
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
