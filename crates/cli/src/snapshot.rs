//! RAM snapshots: capture a running VM's RAM and device state to a file, and
//! resume a fresh QEMU from one.
//!
//! Two kinds share one format:
//! - the **pristine** snapshot (`snapshots/<key>/`): taken once per image and
//!   machine shape right after a cold boot became healthy, together with the
//!   disk layer it belongs to (`disk.qcow2`, frozen: RAM and disk must match);
//! - the **session** state (`run/session-state.*`): written by `stop`, so the
//!   next `start` resumes the session where it was.
//!
//! RAM goes to a file with QEMU's `mapped-ram` + `multifd` (the fastest file
//! format measured here; see docs/snapshots.md). Each state file has a metadata
//! file with a magic string, a format version, what it must match (the
//! fingerprint) and a CRC32 of the state file, checked before every resume, so
//! a truncated or damaged file leads to a cold boot, never to a guest running
//! on corrupt memory.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use stack_vm::qmp::{
    MigrationCapability, MigrationParameters, MigrationStatus, MigrationUri, QmpClient,
};
use tokio::net::UnixStream;

/// Marks our metadata files.
const MAGIC: &str = "stack-emulator-ram-snapshot";
/// The metadata format this build writes and reads.
pub const FORMAT: u32 = 1;
/// How long writing or reading a RAM image may take. A 1 GiB guest writes a
/// few hundred MB in under a second; the limit only bounds a hang.
const MIGRATION_DEADLINE: Duration = Duration::from_secs(120);
/// The bandwidth cap for file migrations: effectively none. QEMU's default of
/// 128 MiB/s made a capture take 3 s instead of 0.3 s in the measurements.
const MAX_BANDWIDTH_BYTES_PER_SEC: u64 = 64 << 30;
/// Parallel RAM channels; 2 matched the cores of the machine measured.
const MULTIFD_CHANNELS: u8 = 2;

/// A state file and its metadata.
#[derive(Debug, Clone)]
pub struct StateFiles {
    /// RAM and device state.
    pub state: PathBuf,
    /// [`Meta`] as JSON.
    pub meta: PathBuf,
}

impl StateFiles {
    /// The pair `<dir>/<stem>.bin` and `<dir>/<stem>.json`.
    pub fn at(dir: &Path, stem: &str) -> Self {
        Self {
            state: dir.join(format!("{stem}.bin")),
            meta: dir.join(format!("{stem}.json")),
        }
    }

    /// Deletes both (missing files are fine).
    pub fn remove(&self) {
        let _ = fs::remove_file(&self.meta);
        let _ = fs::remove_file(&self.state);
    }
}

/// What a state file is and what it must match.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    /// [`MAGIC`].
    pub magic: String,
    /// [`FORMAT`].
    pub format: u32,
    /// Everything a resume depends on.
    pub fingerprint: String,
    /// Size of the state file.
    pub state_bytes: u64,
    /// CRC32 of the state file.
    pub state_crc32: u32,
    /// Unix time of the capture.
    pub captured_at_unix: u64,
}

/// Why a state file cannot be resumed; the text is the one line `start` prints.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Unusable {
    /// No state file.
    #[error("there is no saved state")]
    Missing,
    /// The metadata is unreadable or not ours.
    #[error("the saved state's metadata is damaged")]
    BadMeta,
    /// Another format version.
    #[error("the saved state has format {found}; this build reads format {FORMAT}")]
    Format {
        /// What the file says.
        found: u32,
    },
    /// Taken with another image, QEMU, accelerator or machine shape.
    #[error(
        "the saved state was taken with a different image, QEMU, accelerator, RAM size or vCPU count"
    )]
    Incompatible,
    /// Shorter or longer than recorded.
    #[error("the saved state file is truncated or has the wrong size")]
    Truncated,
    /// The checksum does not match.
    #[error("the saved state file is damaged (checksum mismatch)")]
    Corrupt,
}

/// Checks a state file against its metadata and the expected fingerprint.
///
/// # Errors
/// Why it cannot be used.
pub fn check(files: &StateFiles, fingerprint: &str) -> Result<Meta, Unusable> {
    let bytes = match fs::read(&files.meta) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Unusable::Missing),
        Err(_) => return Err(Unusable::BadMeta),
    };
    let meta: Meta = serde_json::from_slice(&bytes).map_err(|_| Unusable::BadMeta)?;
    if meta.magic != MAGIC {
        return Err(Unusable::BadMeta);
    }
    if meta.format != FORMAT {
        return Err(Unusable::Format { found: meta.format });
    }
    if meta.fingerprint != fingerprint {
        return Err(Unusable::Incompatible);
    }
    let size = fs::metadata(&files.state)
        .map_err(|_| Unusable::Missing)?
        .len();
    if size != meta.state_bytes {
        return Err(Unusable::Truncated);
    }
    if crc32_file(&files.state).map_err(|_| Unusable::Truncated)? != meta.state_crc32 {
        return Err(Unusable::Corrupt);
    }
    Ok(meta)
}

/// CRC32 over a state file's data: each data extent's offset, length and
/// bytes. `mapped-ram` files are sparse (1 GiB apparent, ~150 MB of data for an
/// idle guest), and reading the holes as zeros cost 0.26 s against ~0.05 s for
/// the data alone. A copy that changes the file's sparseness changes the sum;
/// that only costs a cold boot, never wrong memory.
fn crc32_file(path: &Path) -> std::io::Result<u32> {
    use std::io::{Seek as _, SeekFrom};
    let mut file = fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 4 << 20];
    for (start, end) in data_extents(&file, size)? {
        hasher.update(&start.to_le_bytes());
        hasher.update(&(end - start).to_le_bytes());
        file.seek(SeekFrom::Start(start))?;
        let mut left = end - start;
        while left > 0 {
            let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            let n = file.read(&mut buf[..want])?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
    }
    Ok(hasher.finalize())
}

/// The `[start, end)` ranges of a file that hold data, from SEEK_DATA/SEEK_HOLE.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn data_extents(file: &fs::File, size: u64) -> std::io::Result<Vec<(u64, u64)>> {
    use std::os::fd::AsRawFd as _;
    let fd = file.as_raw_fd();
    let seek = |offset: u64, whence: libc::c_int| -> Option<u64> {
        let offset = libc::off_t::try_from(offset).ok()?;
        // SAFETY: lseek only moves the offset of `fd`, a descriptor that `file`
        // owns and keeps open for this call; it reads or writes no memory of ours.
        #[allow(unsafe_code)]
        let at = unsafe { libc::lseek(fd, offset, whence) };
        u64::try_from(at).ok()
    };
    let mut extents = Vec::new();
    let mut at = 0;
    while at < size {
        // ENXIO (no data after `at`) shows up as a negative result.
        let Some(start) = seek(at, libc::SEEK_DATA) else {
            break;
        };
        let end = seek(start, libc::SEEK_HOLE).unwrap_or(size).min(size);
        if end <= start {
            break;
        }
        extents.push((start, end));
        at = end;
    }
    Ok(extents)
}

/// Without SEEK_DATA, the whole file is one extent.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn data_extents(_file: &fs::File, size: u64) -> std::io::Result<Vec<(u64, u64)>> {
    Ok(vec![(0, size)])
}

/// Writes the metadata of a freshly written state file.
///
/// # Errors
/// The state file cannot be read or the metadata cannot be written.
pub fn seal(files: &StateFiles, fingerprint: &str) -> std::io::Result<Meta> {
    let meta = Meta {
        magic: MAGIC.into(),
        format: FORMAT,
        fingerprint: fingerprint.into(),
        state_bytes: fs::metadata(&files.state)?.len(),
        state_crc32: crc32_file(&files.state)?,
        captured_at_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let tmp = files.meta.with_extension("json.tmp");
    fs::write(
        &tmp,
        serde_json::to_vec_pretty(&meta).map_err(std::io::Error::other)?,
    )?;
    fs::rename(tmp, &files.meta)?;
    Ok(meta)
}

/// A capture or resume failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// A QMP command failed.
    #[error("QMP failed during the {phase}")]
    Qmp {
        /// Capture or resume.
        phase: &'static str,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// QEMU reported the migration failed.
    #[error("QEMU could not {phase}: {detail}")]
    Failed {
        /// What it was doing.
        phase: &'static str,
        /// QEMU's words.
        detail: String,
    },
    /// It took too long.
    #[error("the {phase} did not finish within {} s", MIGRATION_DEADLINE.as_secs())]
    Timeout {
        /// What it was doing.
        phase: &'static str,
    },
}

fn qmp_error<E: std::error::Error + Send + Sync + 'static>(
    phase: &'static str,
) -> impl Fn(E) -> MigrationError {
    move |e| MigrationError::Qmp {
        phase,
        source: Box::new(e),
    }
}

async fn configure(
    qmp: &mut QmpClient<UnixStream>,
    phase: &'static str,
) -> Result<(), MigrationError> {
    qmp.migrate_set_capabilities(&[
        (MigrationCapability::MappedRam, true),
        (MigrationCapability::Multifd, true),
    ])
    .await
    .map_err(qmp_error(phase))?;
    qmp.migrate_set_parameters(&MigrationParameters {
        max_bandwidth: Some(MAX_BANDWIDTH_BYTES_PER_SEC),
        multifd_channels: Some(MULTIFD_CHANNELS),
        ..MigrationParameters::default()
    })
    .await
    .map_err(qmp_error(phase))?;
    Ok(())
}

async fn wait_completed(
    qmp: &mut QmpClient<UnixStream>,
    phase: &'static str,
) -> Result<(), MigrationError> {
    let deadline = Instant::now() + MIGRATION_DEADLINE;
    loop {
        let info = qmp.query_migrate().await.map_err(qmp_error(phase))?;
        match info.status {
            MigrationStatus::Completed => return Ok(()),
            MigrationStatus::Failed | MigrationStatus::Cancelled => {
                return Err(MigrationError::Failed {
                    phase,
                    detail: info
                        .error_desc
                        .unwrap_or_else(|| format!("{:?}", info.status)),
                });
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(MigrationError::Timeout { phase });
        }
        // Poll interval for QEMU's migration status; not a guess at its timing.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Pauses the VM and writes its RAM and device state to `state`. The VM stays
/// paused (QEMU's `postmigrate`); the caller quits it or `cont`s it.
///
/// # Errors
/// QMP failures, QEMU's refusal, or the deadline.
pub async fn capture(
    qmp: &mut QmpClient<UnixStream>,
    state: &Path,
) -> Result<Duration, MigrationError> {
    let started = Instant::now();
    let phase = "capture";
    let _ = fs::remove_file(state);
    configure(qmp, phase).await?;
    qmp.stop().await.map_err(qmp_error(phase))?;
    let uri = MigrationUri::file(state).map_err(qmp_error(phase))?;
    qmp.migrate(&uri).await.map_err(qmp_error(phase))?;
    wait_completed(qmp, phase).await?;
    Ok(started.elapsed())
}

/// Loads `state` into a QEMU started with `-incoming defer` and runs it.
///
/// # Errors
/// QMP failures, QEMU's refusal, or the deadline.
pub async fn resume(
    qmp: &mut QmpClient<UnixStream>,
    state: &Path,
) -> Result<Duration, MigrationError> {
    let started = Instant::now();
    let phase = "resume";
    configure(qmp, phase).await?;
    let uri = MigrationUri::file(state).map_err(qmp_error(phase))?;
    qmp.migrate_incoming(&uri).await.map_err(qmp_error(phase))?;
    wait_completed(qmp, phase).await?;
    qmp.cont().await.map_err(qmp_error(phase))?;
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("stack-snap-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_sealed_state_checks_and_any_damage_is_named() {
        let d = dir("seal");
        let files = StateFiles::at(&d, "session-state");
        fs::write(&files.state, vec![7u8; 100_000]).unwrap();
        seal(&files, "fp").unwrap();
        assert!(check(&files, "fp").is_ok());
        assert_eq!(check(&files, "other"), Err(Unusable::Incompatible));

        let mut bytes = fs::read(&files.state).unwrap();
        bytes[50_000] ^= 1;
        fs::write(&files.state, &bytes).unwrap();
        assert_eq!(check(&files, "fp"), Err(Unusable::Corrupt));

        bytes.truncate(90_000);
        fs::write(&files.state, &bytes).unwrap();
        assert_eq!(check(&files, "fp"), Err(Unusable::Truncated));

        fs::write(&files.meta, b"{not json").unwrap();
        assert_eq!(check(&files, "fp"), Err(Unusable::BadMeta));
        files.remove();
        assert_eq!(check(&files, "fp"), Err(Unusable::Missing));
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn a_flipped_byte_inside_a_sparse_file_is_caught() {
        use std::io::{Seek as _, SeekFrom, Write as _};
        let d = dir("sparse");
        let files = StateFiles::at(&d, "s");
        let mut f = fs::File::create(&files.state).unwrap();
        f.seek(SeekFrom::Start(64 << 20)).unwrap();
        f.write_all(&[1u8; 8192]).unwrap();
        f.set_len(128 << 20).unwrap();
        drop(f);
        seal(&files, "fp").unwrap();
        assert!(check(&files, "fp").is_ok());
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(&files.state)
            .unwrap();
        f.seek(SeekFrom::Start((64 << 20) + 100)).unwrap();
        f.write_all(&[2u8]).unwrap();
        drop(f);
        assert_eq!(check(&files, "fp"), Err(Unusable::Corrupt));
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn another_format_version_is_refused_by_number() {
        let d = dir("format");
        let files = StateFiles::at(&d, "s");
        fs::write(&files.state, b"x").unwrap();
        let mut meta = seal(&files, "fp").unwrap();
        meta.format = 9;
        fs::write(&files.meta, serde_json::to_vec(&meta).unwrap()).unwrap();
        let err = check(&files, "fp").unwrap_err();
        assert_eq!(err, Unusable::Format { found: 9 });
        assert_eq!(
            err.to_string(),
            "the saved state has format 9; this build reads format 1"
        );
        let _ = fs::remove_dir_all(d);
    }
}
