//! Guest images: build one from Debian packages (`build-image`), cache it by a
//! hash of its inputs, describe it with a manifest, and verify it before use.

use std::fs;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::home::Home;

/// The manifest format this build writes and reads.
pub const MANIFEST_FORMAT: u32 = 1;

/// One file of an image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// What an installed image is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// e.g. `local-1a2b3c4d5e6f`.
    pub version: String,
    /// `x86_64`.
    pub arch: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Hash of everything the image was built from.
    pub input_hash: String,
    /// The kernel.
    pub kernel: FileEntry,
    /// The compressed qcow2 base disk.
    pub disk: FileEntry,
    /// The initrd that loads the virtio-blk driver (absent for NVMe-root images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<FileEntry>,
    /// The kernel command line the image boots with (root, console, init).
    pub kernel_cmdline: String,
    /// Versions of what is inside (kernel, PostgreSQL, guest agent), as the build reported them.
    pub build_info: serde_json::Value,
    /// Where a pulled release came from (absent for local builds, and in
    /// manifests written before releases existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// An installed image.
#[derive(Debug, Clone)]
pub struct Image {
    /// Its directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl Image {
    /// The kernel.
    pub fn kernel(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }

    /// The base disk.
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk.qcow2")
    }

    /// The initrd, when the image has one.
    pub fn initrd(&self) -> Option<PathBuf> {
        self.manifest
            .initrd
            .as_ref()
            .map(|_| self.dir.join("initrd.img"))
    }
}

/// An image could not be built, found or trusted.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The sources to build from are not there.
    #[error("cannot find the guest sources (guest/build.sh) under {0}")]
    NoSources(PathBuf),
    /// A build step failed.
    #[error("image build step `{step}` failed{}", detail.as_deref().map(|d| format!(":\n{d}")).unwrap_or_default())]
    Step {
        /// The step.
        step: String,
        /// The last lines of its output.
        detail: Option<String>,
    },
    /// Building needs root (mmdebstrap in root mode, mkfs of a root filesystem).
    #[error("building the guest image needs root")]
    NeedsRoot,
    /// No image is installed.
    #[error("no guest image is installed in {0}")]
    NotInstalled(PathBuf),
    /// A file does not match its manifest.
    #[error("the image file {path} is damaged: expected sha256 {expected}, found {found}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
        /// From the manifest.
        expected: String,
        /// On disk.
        found: String,
    },
    /// The manifest is unreadable or of another format.
    #[error("the image manifest {path} is not valid: {problem}")]
    BadManifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// File system trouble.
    #[error("{what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    /// What to do next, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            Self::NoSources(..) => "run from a checkout of stack-emulator, or pass --source DIR".to_owned(),
            Self::NeedsRoot => "run `sudo stack-emulator build-image`, or use a released image with `stack-emulator pull`".to_owned(),
            Self::NotInstalled(..) => "run `stack-emulator build-image`".to_owned(),
            Self::Corrupt { dir, .. } => format!(
                "delete {} and run `stack-emulator build-image` again",
                dir.display()
            ),
            _ => return None,
        };
        Some(hint)
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ImageError {
    let path = path.to_path_buf();
    move |source| ImageError::Io { what, path, source }
}

/// Lower-case hex SHA-256 of a file, streamed.
///
/// # Errors
/// The file cannot be read.
pub fn sha256_file(path: &Path) -> Result<String, ImageError> {
    let mut file = fs::File::open(path).map_err(io("cannot read", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io("cannot read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash of every build input: the files under `guest/` and the server binary.
///
/// # Errors
/// A file cannot be read.
pub fn input_hash(guest_dir: &Path, server_binary: &Path) -> Result<String, ImageError> {
    let mut files = Vec::new();
    collect_files(guest_dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    hasher.update(b"stack-emulator image inputs v1\0");
    for file in &files {
        let rel = file.strip_prefix(guest_dir).unwrap_or(file);
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(sha256_file(file)?.as_bytes());
    }
    hasher.update(b"stack-server\0");
    hasher.update(sha256_file(server_binary)?.as_bytes());
    Ok(hex(&hasher.finalize()))
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ImageError> {
    for entry in fs::read_dir(dir).map_err(io("cannot list", dir))? {
        let path = entry.map_err(io("cannot list", dir))?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if path.extension().is_none_or(|e| e != "md") {
            out.push(path);
        }
    }
    Ok(())
}

/// The directory that holds `guest/build.sh`.
///
/// # Errors
/// [`ImageError::NoSources`].
pub fn source_root(explicit: Option<PathBuf>) -> Result<PathBuf, ImageError> {
    let root = explicit
        .or_else(|| std::env::var_os("STACK_EMULATOR_SOURCE").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    if root.join("guest/build.sh").is_file() {
        Ok(root)
    } else {
        Err(ImageError::NoSources(root))
    }
}

/// Reports build progress.
pub trait BuildReporter {
    /// A step started.
    fn step(&self, name: &str);
    /// A line of output from the current step.
    fn line(&self, line: &str);
}

/// Runs a command, feeding its output lines to the reporter; keeps the last lines for errors.
fn run_step(
    reporter: &dyn BuildReporter,
    step: &str,
    command: &mut Command,
) -> Result<(), ImageError> {
    reporter.step(step);
    // The guest's root file system gets the modes its build scripts expect.
    crate::private::keep_user_umask(command);
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ImageError::Step {
            step: step.into(),
            detail: Some(e.to_string()),
        })?;
    // Merge stderr into the same reader by reading it on a thread.
    let stderr = child.stderr.take();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let tx2 = tx.clone();
    let err_thread = std::thread::spawn(move || {
        if let Some(err) = stderr {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send(line);
            }
        }
    });
    let stdout = child.stdout.take();
    let out_thread = std::thread::spawn(move || {
        if let Some(out) = stdout {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        }
    });
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    for line in rx {
        reporter.line(&line);
        if tail.len() == 20 {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let _ = err_thread.join();
    let _ = out_thread.join();
    let status = child.wait().map_err(|e| ImageError::Step {
        step: step.into(),
        detail: Some(e.to_string()),
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(ImageError::Step {
            step: step.into(),
            detail: Some(tail.into_iter().collect::<Vec<_>>().join("\n")),
        })
    }
}

fn is_root() -> bool {
    // `id -u` keeps this free of libc bindings; it runs once per build.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Builds (or finds in the cache) the image for the sources at `source`, and makes it active.
///
/// # Errors
/// See [`ImageError`].
pub fn build(
    home: &Home,
    source: &Path,
    force: bool,
    reporter: &dyn BuildReporter,
) -> Result<Image, ImageError> {
    let started = Instant::now();
    run_step(
        reporter,
        "build stack-server (release)",
        Command::new("cargo")
            .args(["build", "--release", "--locked", "-p", "stack-server"])
            .current_dir(source),
    )?;
    let binary = source.join("target/release/stack-server");
    let binary = if binary.is_file() {
        binary
    } else {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(|t| PathBuf::from(t).join("release/stack-server"))
            .unwrap_or(binary)
    };
    reporter.step("hash the inputs");
    let hash = input_hash(&source.join("guest"), &binary)?;
    let version = format!("local-{}", &hash[..12]);
    let dir = home.images().join(&version);
    // Several state directories may share one images directory; one build at a
    // time, and whoever waited finds the image the other one built.
    let lock_path = home.image_build_lock();
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("cannot open", &lock_path))?;
    lock.lock().map_err(io("cannot lock", &lock_path))?;
    if !force && let Ok(image) = load(&dir) {
        reporter.line(&format!("inputs unchanged: reusing {version}"));
        set_active(home, &version)?;
        return Ok(image);
    }
    // mmdebstrap (root mode) and chroot need root; ask sudo when we are not.
    let sudo = if is_root() {
        None
    } else {
        Some(crate::preflight::which("sudo").ok_or(ImageError::NeedsRoot)?)
    };
    let staging = home.images().join(format!(".{version}.partial"));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(io("cannot create", &staging))?;
    let cache = home.cache().join("debs");
    fs::create_dir_all(&cache).map_err(io("cannot create", &cache))?;
    let script = source.join("guest/build.sh");
    let mut command = match &sudo {
        Some(sudo) => {
            reporter.line("building the root filesystem needs root; asking sudo");
            let mut c = Command::new(sudo);
            c.arg(&script);
            c
        }
        None => Command::new(&script),
    };
    run_step(
        reporter,
        "build the guest from Debian packages",
        command.arg(&staging).arg(&binary).arg(&cache),
    )?;
    reporter.step("write the manifest");
    let build_info: serde_json::Value = fs::read(staging.join("build-info.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    let entry = |name: &str| -> Result<FileEntry, ImageError> {
        let path = staging.join(name);
        let size = fs::metadata(&path).map_err(io("cannot read", &path))?.len();
        Ok(FileEntry {
            size,
            sha256: sha256_file(&path)?,
        })
    };
    let initrd = if staging.join("initrd.img").is_file() {
        Some(entry("initrd.img")?)
    } else {
        None
    };
    let cmdline_key = if initrd.is_some() {
        "kernel_cmdline_with_initrd"
    } else {
        "kernel_cmdline_nvme_without_initrd"
    };
    let kernel_cmdline = build_info["boot"][cmdline_key]
        .as_str()
        .ok_or_else(|| ImageError::Step {
            step: "write the manifest".into(),
            detail: Some(format!("build-info.json has no boot.{cmdline_key}")),
        })?
        .to_owned();
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        version: version.clone(),
        arch: std::env::consts::ARCH.into(),
        created: now_rfc3339(),
        input_hash: hash,
        kernel: entry("vmlinuz")?,
        disk: entry("disk.qcow2")?,
        initrd,
        kernel_cmdline,
        build_info,
        origin: None,
    };
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| ImageError::BadManifest {
        path: staging.join("manifest.json"),
        problem: e.to_string(),
    })?;
    let manifest_path = staging.join("manifest.json");
    fs::write(&manifest_path, bytes).map_err(io("cannot write", &manifest_path))?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&staging, &dir).map_err(io("cannot install", &dir))?;
    set_active(home, &version)?;
    reporter.line(&format!(
        "built {version} in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    load(&dir)
}

pub(crate) fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Civil-from-days (Howard Hinnant), to avoid a date crate for one timestamp.
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Makes an installed version the one `start` boots.
///
/// # Errors
/// The pointer file cannot be written.
pub fn set_active(home: &Home, version: &str) -> Result<(), ImageError> {
    let path = home.images().join("active");
    // Through a temporary file: a reader never sees a half-written pointer.
    let tmp = home.images().join(".active.tmp");
    fs::write(&tmp, version).map_err(io("cannot write", &tmp))?;
    fs::rename(&tmp, &path).map_err(io("cannot write", &path))
}

/// Reads an image's manifest (without hashing its files).
///
/// # Errors
/// Missing or invalid manifest.
pub fn load(dir: &Path) -> Result<Image, ImageError> {
    let path = dir.join("manifest.json");
    let bytes = fs::read(&path).map_err(io("cannot read", &path))?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| ImageError::BadManifest {
            path: path.clone(),
            problem: e.to_string(),
        })?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(ImageError::BadManifest {
            path,
            problem: format!(
                "format {} is not supported; this build reads format {MANIFEST_FORMAT}",
                manifest.format
            ),
        });
    }
    Ok(Image {
        dir: dir.to_path_buf(),
        manifest,
    })
}

/// The active image, if one is installed.
///
/// # Errors
/// [`ImageError::NotInstalled`] or a bad manifest.
pub fn active(home: &Home) -> Result<Image, ImageError> {
    let version = fs::read_to_string(home.images().join("active"))
        .map_err(|_| ImageError::NotInstalled(home.images()))?;
    load(&home.images().join(version.trim()))
}

/// Like [`verify`], but only when a file changed (size or modification time)
/// since the last successful check: hashing ~100 MB costs ~0.25 s, too much for
/// every resume.
///
/// # Errors
/// As [`verify`].
pub fn verify_if_changed(image: &Image) -> Result<(), ImageError> {
    let stamp_path = image.dir.join(".verified");
    let stamp = stamp(image);
    if fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
        return Ok(());
    }
    verify(image)?;
    // Best effort: without the stamp the next start hashes again.
    let _ = fs::write(&stamp_path, stamp);
    Ok(())
}

fn stamp(image: &Image) -> String {
    let mut paths = vec![image.kernel(), image.disk()];
    paths.extend(image.initrd());
    paths
        .iter()
        .map(|p| {
            let m = fs::metadata(p).ok();
            let len = m.as_ref().map_or(0, fs::Metadata::len);
            let mtime = m
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{len}:{mtime}", p.display())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks every file of an image against its manifest.
///
/// # Errors
/// [`ImageError::Corrupt`] naming the first damaged file.
pub fn verify(image: &Image) -> Result<(), ImageError> {
    for (path, entry) in [
        (image.kernel(), &image.manifest.kernel),
        (image.disk(), &image.manifest.disk),
    ] {
        let found = sha256_file(&path)?;
        if found != entry.sha256 {
            return Err(ImageError::Corrupt {
                path,
                dir: image.dir.clone(),
                expected: entry.sha256.clone(),
                found,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_hash_changes_with_any_input() {
        let dir = std::env::temp_dir().join(format!("stack-image-test-{}", std::process::id()));
        let guest = dir.join("guest");
        fs::create_dir_all(guest.join("files")).unwrap();
        fs::write(guest.join("build.sh"), "echo one").unwrap();
        fs::write(guest.join("files/init"), "init").unwrap();
        fs::write(guest.join("README.md"), "docs").unwrap();
        let bin = dir.join("stack-server");
        fs::write(&bin, "binary").unwrap();
        let a = input_hash(&guest, &bin).unwrap();
        assert_eq!(a, input_hash(&guest, &bin).unwrap());
        fs::write(guest.join("README.md"), "other docs").unwrap();
        assert_eq!(
            a,
            input_hash(&guest, &bin).unwrap(),
            "docs are not an input"
        );
        fs::write(guest.join("files/init"), "init2").unwrap();
        let b = input_hash(&guest, &bin).unwrap();
        assert_ne!(a, b);
        fs::write(&bin, "binary2").unwrap();
        assert_ne!(b, input_hash(&guest, &bin).unwrap());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn rfc3339_has_the_right_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20);
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
