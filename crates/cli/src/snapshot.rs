//! RAM snapshots: capture a running VM's device state next to the file that
//! holds its RAM, and resume a fresh QEMU from the pair.
//!
//! Two kinds share one format:
//! - the **pristine** snapshot (`snapshots/<key>/`): taken once per image and
//!   machine shape right after a cold boot became healthy, together with the
//!   disk layer it belongs to (`disk.qcow2`, frozen: RAM and disk must match);
//! - the **session** state (`run/session-state.*` and `run/ram.bin`): written
//!   by `stop`, so the next `start` resumes the session where it was.
//!
//! Guest RAM lives in a file that QEMU maps shared (`memory-backend-file`,
//! `share=on`), so a capture only writes the device state (about 0.5 MB) with
//! QEMU's `x-ignore-shared`, and the RAM file itself is the RAM image: a
//! resume maps it again. This was the fastest method measured here
//! (docs/snapshots.md). A pristine resume maps a sparse copy of the pristine
//! RAM file, so the pristine snapshot is never written.
//!
//! Each state has a metadata file with a magic string, a format version, what
//! it must match (the fingerprint), a CRC32 of the device state, and the RAM
//! file's size and modification time. Everything is checked before a resume,
//! so a truncated, damaged or changed state leads to a cold boot, never to a
//! guest running on wrong memory.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use stack_vm::qmp::{
    MigrationCapability, MigrationParameters, MigrationStatus, MigrationUri, QmpClient,
};
use tokio::net::UnixStream;

/// Marks our metadata files.
const MAGIC: &str = "stack-emulator-ram-snapshot";
/// The metadata format this build writes and reads.
pub const FORMAT: u32 = 2;
/// How long writing or reading a device state may take. It takes tens of
/// milliseconds; the limit only bounds a hang.
const MIGRATION_DEADLINE: Duration = Duration::from_secs(60);
/// The bandwidth cap for file migrations: effectively none. QEMU's default of
/// 128 MiB/s throttles even the device state.
const MAX_BANDWIDTH_BYTES_PER_SEC: u64 = 64 << 30;

/// A saved state: the device state, its metadata, and the RAM file.
#[derive(Debug, Clone)]
pub struct StateFiles {
    /// Device state (QEMU's migration stream without the RAM).
    pub state: PathBuf,
    /// [`Meta`] as JSON.
    pub meta: PathBuf,
    /// Guest RAM, as QEMU maps it.
    pub ram: PathBuf,
}

impl StateFiles {
    /// `<dir>/<stem>.bin`, `<dir>/<stem>.json` and the RAM file `ram`.
    pub fn at(dir: &Path, stem: &str, ram: PathBuf) -> Self {
        Self {
            state: dir.join(format!("{stem}.bin")),
            meta: dir.join(format!("{stem}.json")),
            ram,
        }
    }

    /// Deletes the device state and its metadata (missing files are fine).
    /// The RAM file stays: for a session it is the running guest's memory.
    pub fn remove(&self) {
        let _ = fs::remove_file(&self.meta);
        let _ = fs::remove_file(&self.state);
    }
}

/// The parts of a fingerprint that a person chooses (flags) or upgrades, in
/// their own terms, so that a state that no longer fits can say what changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Machine {
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// vCPUs.
    pub vcpus: u8,
    /// The image version.
    pub image: String,
    /// The first line of `qemu-system-x86_64 --version`.
    pub qemu: String,
    /// `kvm`, `hvf` or `tcg`.
    pub accelerator: String,
}

/// What a saved state must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// A digest of everything a resume depends on (the machine from the launch
    /// spec, the QEMU version, the image's files); only this decides.
    pub digest: String,
    /// The parts of it to name when the digest differs; unknown for a session
    /// started by a build that did not record them.
    pub machine: Option<Machine>,
}

/// One difference between the machine a state was saved on and this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `--memory-mib`.
    Memory {
        /// Then.
        from: u32,
        /// Now.
        to: u32,
    },
    /// `--vcpus`.
    Vcpus {
        /// Then.
        from: u8,
        /// Now.
        to: u8,
    },
    /// The active image.
    Image {
        /// Then.
        from: String,
        /// Now.
        to: String,
    },
    /// The QEMU version.
    Qemu {
        /// Then.
        from: String,
        /// Now.
        to: String,
    },
    /// The accelerator.
    Accelerator {
        /// Then.
        from: String,
        /// Now.
        to: String,
    },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory { from, to } => {
                write!(f, "the RAM size changed from {from} MiB to {to} MiB")
            }
            Self::Vcpus { from, to } => write!(f, "the vCPU count changed from {from} to {to}"),
            Self::Image { from, to } => write!(f, "the image changed from {from} to {to}"),
            Self::Qemu { from, to } => write!(
                f,
                "QEMU changed from {} to {}",
                qemu_release(from),
                qemu_release(to)
            ),
            Self::Accelerator { from, to } => {
                write!(f, "the accelerator changed from {from} to {to}")
            }
        }
    }
}

/// "10.0.2 (Debian …)" from "QEMU emulator version 10.0.2 (Debian …)".
fn qemu_release(version_line: &str) -> &str {
    version_line
        .strip_prefix("QEMU emulator version ")
        .unwrap_or(version_line)
}

impl Machine {
    /// What differs from `then` (the saved state's machine) to `self`.
    pub fn changes_since(&self, then: &Self) -> Vec<Change> {
        let mut changes = Vec::new();
        if then.memory_mib != self.memory_mib {
            changes.push(Change::Memory {
                from: then.memory_mib,
                to: self.memory_mib,
            });
        }
        if then.vcpus != self.vcpus {
            changes.push(Change::Vcpus {
                from: then.vcpus,
                to: self.vcpus,
            });
        }
        let mut text = |from: &String, to: &String, change: fn(String, String) -> Change| {
            if from != to {
                changes.push(change(from.clone(), to.clone()));
            }
        };
        text(&then.image, &self.image, |from, to| Change::Image {
            from,
            to,
        });
        text(&then.qemu, &self.qemu, |from, to| Change::Qemu { from, to });
        text(&then.accelerator, &self.accelerator, |from, to| {
            Change::Accelerator { from, to }
        });
        changes
    }
}

/// The changes that made a state unusable, as one clause.
fn describe(changes: &[Change]) -> String {
    let clauses: Vec<String> = changes.iter().map(ToString::to_string).collect();
    match clauses.as_slice() {
        // Nothing a person picks: a device, the CPU model, the kernel command
        // line, or a state recorded without its machine.
        [] => "the saved state was taken with another machine or image".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// What a saved state is and what it must match.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    /// `stack-emulator-ram-snapshot`.
    pub magic: String,
    /// [`FORMAT`].
    pub format: u32,
    /// Everything a resume depends on ([`Fingerprint::digest`]).
    pub fingerprint: String,
    /// [`Fingerprint::machine`]; absent in states of earlier builds.
    #[serde(default)]
    pub machine: Option<Machine>,
    /// Size of the device state file.
    pub state_bytes: u64,
    /// CRC32 of the device state file.
    pub state_crc32: u32,
    /// Size of the RAM file.
    pub ram_bytes: u64,
    /// Bytes of the RAM file that hold data (the rest are holes).
    pub ram_allocated_bytes: u64,
    /// The RAM file's modification time, in nanoseconds since the Unix epoch:
    /// any write after the capture changes it.
    pub ram_modified_ns: u64,
    /// Unix time of the capture.
    pub captured_at_unix: u64,
}

/// Why a saved state cannot be resumed; the text is the one line `start` prints.
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
    #[error("{}", describe(changes))]
    Incompatible {
        /// What changed that a person can name (empty when only something
        /// else did, or the state does not record its machine).
        changes: Vec<Change>,
    },
    /// Shorter or longer than recorded.
    #[error("the saved state file is truncated or has the wrong size")]
    Truncated,
    /// The checksum does not match.
    #[error("the saved state file is damaged (checksum mismatch)")]
    Corrupt,
    /// The RAM file is gone, has another size, or was written after the capture.
    #[error("the saved RAM file is missing or was changed after it was saved")]
    RamChanged,
}

/// Checks a saved state against its metadata and the expected fingerprint.
///
/// # Errors
/// Why it cannot be used.
pub fn check(files: &StateFiles, fingerprint: &Fingerprint) -> Result<Meta, Unusable> {
    let bytes = match fs::read(&files.meta) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Unusable::Missing),
        Err(_) => return Err(Unusable::BadMeta),
    };
    let meta: Meta = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        // The format is read first, so an older or newer file is named as such.
        Ok(v) if v["magic"] == MAGIC && v["format"] != FORMAT => {
            let found = v["format"].as_u64().and_then(|f| u32::try_from(f).ok());
            return Err(found.map_or(Unusable::BadMeta, |found| Unusable::Format { found }));
        }
        Ok(v) => serde_json::from_value(v).map_err(|_| Unusable::BadMeta)?,
        Err(_) => return Err(Unusable::BadMeta),
    };
    if meta.magic != MAGIC {
        return Err(Unusable::BadMeta);
    }
    if meta.fingerprint != fingerprint.digest {
        let changes = match (&meta.machine, &fingerprint.machine) {
            (Some(then), Some(now)) => now.changes_since(then),
            _ => Vec::new(),
        };
        return Err(Unusable::Incompatible { changes });
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
    let ram = RamFile::stat(&files.ram).map_err(|_| Unusable::RamChanged)?;
    if ram.bytes != meta.ram_bytes || ram.modified_ns != meta.ram_modified_ns {
        return Err(Unusable::RamChanged);
    }
    Ok(meta)
}

/// What the metadata records of a RAM file.
struct RamFile {
    bytes: u64,
    allocated_bytes: u64,
    modified_ns: u64,
}

impl RamFile {
    fn stat(path: &Path) -> std::io::Result<Self> {
        let meta = fs::metadata(path)?;
        let modified_ns = meta
            .modified()?
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Ok(Self {
            bytes: meta.len(),
            allocated_bytes: crate::space::allocated_bytes(&meta),
            modified_ns,
        })
    }
}

/// CRC32 over a file's bytes.
fn crc32_file(path: &Path) -> std::io::Result<u32> {
    let mut file = fs::File::open(path)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize());
        }
        hasher.update(&buf[..n]);
    }
}

/// Replaces `to` with an empty (all-hole) file of `from`'s size and returns it
/// open for writing, for [`fill_sparse`]. A QEMU may map `to` from here on, as
/// long as [`fill_sparse`] ends before the guest runs.
///
/// # Errors
/// Reading `from`'s size or creating `to`.
pub fn make_sparse_like(from: &Path, to: &Path) -> std::io::Result<fs::File> {
    let size = fs::metadata(from)?.len();
    let _ = fs::remove_file(to);
    let target = fs::File::create(to)?;
    target.set_len(size)?;
    Ok(target)
}

/// Copies `from`, a sparse file, into `target` (made by [`make_sparse_like`]):
/// only its data extents are read and written, at the same offsets (in the
/// kernel, with `copy_file_range`), so a 1 GiB RAM file with ~180 MB of data
/// copies in under 0.1 s and the copy stays sparse. `target` is never
/// truncated, so a mapping of it stays valid.
///
/// # Errors
/// Reading `from` or writing `target`, or `target` not being `from`'s size.
pub fn fill_sparse(from: &Path, mut target: fs::File) -> std::io::Result<()> {
    use std::io::{Seek as _, SeekFrom};
    let mut source = fs::File::open(from)?;
    let size = source.metadata()?.len();
    if target.metadata()?.len() != size {
        return Err(std::io::Error::other(format!(
            "the copy is not the size of {}",
            from.display()
        )));
    }
    for (start, end) in data_extents(&source, size)? {
        source.seek(SeekFrom::Start(start))?;
        target.seek(SeekFrom::Start(start))?;
        let copied = std::io::copy(&mut (&mut source).take(end - start), &mut target)?;
        if copied != end - start {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
    }
    Ok(())
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

/// Makes a freshly saved state durable and writes its metadata. Call it once
/// QEMU has exited, so the RAM file no longer changes.
///
/// # Errors
/// A file cannot be read, synced, or written.
pub fn seal(files: &StateFiles, fingerprint: &Fingerprint) -> std::io::Result<Meta> {
    // Guest RAM written through the shared mapping sits in the page cache; a
    // power cut after `stop` must not leave a state whose RAM is half on disk.
    fs::File::open(&files.ram)?.sync_all()?;
    fs::File::open(&files.state)?.sync_all()?;
    let ram = RamFile::stat(&files.ram)?;
    let meta = Meta {
        magic: MAGIC.into(),
        format: FORMAT,
        fingerprint: fingerprint.digest.clone(),
        machine: fingerprint.machine.clone(),
        state_bytes: fs::metadata(&files.state)?.len(),
        state_crc32: crc32_file(&files.state)?,
        ram_bytes: ram.bytes,
        ram_allocated_bytes: ram.allocated_bytes,
        ram_modified_ns: ram.modified_ns,
        captured_at_unix: std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
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

/// How often QEMU's migration status is asked while a state is saved or
/// loaded. A poll interval, not a guess at the migration's length: it bounds
/// how late a finished save or load is noticed, which adds to every hibernate
/// and resume, and one status query is a single QMP round trip.
const MIGRATION_POLL_INTERVAL: Duration = Duration::from_millis(2);

/// Leaves shared-file RAM out of the stream. `x-ignore-shared` works only with
/// QEMU's classic stream format (with `mapped-ram` QEMU 10 fails with "Bad
/// address"), which is all the device state needs.
async fn configure(
    qmp: &mut QmpClient<UnixStream>,
    phase: &'static str,
) -> Result<(), MigrationError> {
    qmp.migrate_set_capabilities(&[(MigrationCapability::XIgnoreShared, true)])
        .await
        .map_err(qmp_error(phase))?;
    qmp.migrate_set_parameters(&MigrationParameters {
        max_bandwidth: Some(MAX_BANDWIDTH_BYTES_PER_SEC),
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
        tokio::time::sleep(MIGRATION_POLL_INTERVAL).await;
    }
}

/// Pauses the VM and writes its device state to `state`; its RAM stays in its
/// shared RAM file. The VM stays paused (QEMU's `postmigrate`); the caller
/// quits it or `cont`s it.
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

/// Loads the device state `state` into a QEMU started with `-incoming defer`
/// on the matching RAM file, and runs it.
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

    fn machine() -> Machine {
        Machine {
            memory_mib: 1024,
            vcpus: 2,
            image: "local-742897cfacd2".into(),
            qemu: "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-1~bpo12+1)".into(),
            accelerator: "tcg".into(),
        }
    }

    fn fingerprint(digest: &str, machine: Machine) -> Fingerprint {
        Fingerprint {
            digest: digest.into(),
            machine: Some(machine),
        }
    }

    fn fp() -> Fingerprint {
        fingerprint("fp", machine())
    }

    fn saved(d: &Path) -> StateFiles {
        let files = StateFiles::at(d, "session-state", d.join("ram.bin"));
        fs::write(&files.state, vec![7u8; 100_000]).unwrap();
        fs::write(&files.ram, vec![3u8; 10_000]).unwrap();
        seal(&files, &fp()).unwrap();
        files
    }

    #[test]
    fn a_sealed_state_checks_and_any_damage_is_named() {
        let d = dir("seal");
        let files = saved(&d);
        assert!(check(&files, &fp()).is_ok());
        assert_eq!(
            check(&files, &fingerprint("other", machine())),
            Err(Unusable::Incompatible { changes: vec![] })
        );

        let mut bytes = fs::read(&files.state).unwrap();
        bytes[50_000] ^= 1;
        fs::write(&files.state, &bytes).unwrap();
        assert_eq!(check(&files, &fp()), Err(Unusable::Corrupt));

        bytes.truncate(90_000);
        fs::write(&files.state, &bytes).unwrap();
        assert_eq!(check(&files, &fp()), Err(Unusable::Truncated));

        fs::write(&files.meta, b"{not json").unwrap();
        assert_eq!(check(&files, &fp()), Err(Unusable::BadMeta));
        files.remove();
        assert_eq!(check(&files, &fp()), Err(Unusable::Missing));
        assert!(files.ram.exists(), "remove() must keep the RAM file");
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn a_ram_file_written_after_the_capture_is_refused() {
        use std::io::{Seek as _, SeekFrom, Write as _};
        let d = dir("ram");
        let files = saved(&d);
        // Same size, one byte changed in place.
        std::thread::sleep(Duration::from_millis(20));
        let mut f = fs::OpenOptions::new().write(true).open(&files.ram).unwrap();
        f.seek(SeekFrom::Start(5_000)).unwrap();
        f.write_all(&[4u8]).unwrap();
        drop(f);
        assert_eq!(check(&files, &fp()), Err(Unusable::RamChanged));

        let files = saved(&d);
        fs::remove_file(&files.ram).unwrap();
        assert_eq!(check(&files, &fp()), Err(Unusable::RamChanged));
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn a_sparse_copy_keeps_the_data_and_the_holes() {
        use std::io::{Seek as _, SeekFrom, Write as _};
        let d = dir("sparse");
        let from = d.join("pristine");
        let mut f = fs::File::create(&from).unwrap();
        f.seek(SeekFrom::Start(64 << 20)).unwrap();
        f.write_all(&[1u8; 8192]).unwrap();
        f.seek(SeekFrom::Start(100 << 20)).unwrap();
        f.write_all(b"tail").unwrap();
        f.set_len(128 << 20).unwrap();
        drop(f);
        let to = d.join("copy");
        fs::write(&to, b"old contents").unwrap();
        fill_sparse(&from, make_sparse_like(&from, &to).unwrap()).unwrap();
        let copied = fs::read(&to).unwrap();
        assert_eq!(copied, fs::read(&from).unwrap());
        let allocated = RamFile::stat(&to).unwrap().allocated_bytes;
        assert!(
            allocated < 16 << 20,
            "the copy is not sparse: {allocated} bytes"
        );
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn an_incompatible_state_names_only_what_changed() {
        let d = dir("changes");
        let files = saved(&d);
        let reason = |now: Machine| {
            check(&files, &fingerprint("new", now))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            reason(Machine {
                memory_mib: 2048,
                ..machine()
            }),
            "the RAM size changed from 1024 MiB to 2048 MiB"
        );
        assert_eq!(
            reason(Machine {
                vcpus: 4,
                accelerator: "kvm".into(),
                ..machine()
            }),
            "the vCPU count changed from 2 to 4 and the accelerator changed from tcg to kvm"
        );
        assert_eq!(
            reason(Machine {
                image: "1.0.0".into(),
                qemu: "QEMU emulator version 10.1.0".into(),
                memory_mib: 768,
                ..machine()
            }),
            "the RAM size changed from 1024 MiB to 768 MiB, the image changed from local-742897cfacd2 to 1.0.0 and QEMU changed from 10.0.2 (Debian 1:10.0.2+ds-1~bpo12+1) to 10.1.0"
        );
        // Only something a person does not pick changed (a device, say).
        assert_eq!(
            reason(machine()),
            "the saved state was taken with another machine or image"
        );
        // A session started by a build that did not record its machine.
        let unknown = Fingerprint {
            digest: "new".into(),
            machine: None,
        };
        assert_eq!(
            check(&files, &unknown),
            Err(Unusable::Incompatible { changes: vec![] })
        );
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn another_format_version_is_refused_by_number() {
        let d = dir("format");
        let files = saved(&d);
        let mut meta: serde_json::Value =
            serde_json::from_slice(&fs::read(&files.meta).unwrap()).unwrap();
        meta["format"] = 1.into();
        // A format-1 file lacks the RAM fields; it is still named by its number.
        meta.as_object_mut().unwrap().remove("ram_bytes");
        fs::write(&files.meta, serde_json::to_vec(&meta).unwrap()).unwrap();
        let err = check(&files, &fp()).unwrap_err();
        assert_eq!(err, Unusable::Format { found: 1 });
        assert_eq!(
            err.to_string(),
            "the saved state has format 1; this build reads format 2"
        );
        let _ = fs::remove_dir_all(d);
    }
}
