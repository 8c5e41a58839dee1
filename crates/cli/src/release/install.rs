//! `pull`: pick a release, download its files into `images/.downloads/`,
//! decode and check them into a staging directory, and rename that into
//! `images/<version>/` in one step, so that a half-installed image never
//! exists. Also the first `start`'s choice between pulling and building.

use std::fs::{self, File};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::download::{self, Download, DownloadReporter, hex};
use super::error::io;
use super::format::{Artifact, MANIFEST_FILE, ReleaseManifest};
use super::source::Source;
use super::{ReleaseError, ReleaseVersion};
use crate::home::Home;
use crate::image::{self, Image, MANIFEST_FORMAT, Manifest};
use crate::printer::Printer;
use crate::space;

/// Where unfinished downloads wait for the next pull, under `images/`.
pub const DOWNLOADS_DIR: &str = ".downloads";
/// The release manifest an installed release keeps beside its own manifest.
pub const RELEASE_COPY: &str = "release.json";
/// Room kept free beyond what the files need, for the manifests and the
/// file system's own bookkeeping.
const SPACE_MARGIN_BYTES: u64 = 8 << 20;

/// What `pull` did.
#[derive(Debug)]
pub enum Pulled {
    /// Downloaded and installed.
    Installed(Image),
    /// That release was installed already; it is active now.
    AlreadyInstalled(Image),
}

impl Pulled {
    /// The image, now active.
    pub fn image(&self) -> &Image {
        match self {
            Self::Installed(image) | Self::AlreadyInstalled(image) => image,
        }
    }
}

/// The partial downloads of a version.
pub fn downloads_dir(home: &Home, version: &ReleaseVersion) -> PathBuf {
    home.images().join(DOWNLOADS_DIR).join(version.as_str())
}

/// The version to pull: the one asked for, else the index's latest.
///
/// # Errors
/// The index cannot be read or lists nothing.
pub async fn choose_version(
    source: &Source,
    asked: Option<ReleaseVersion>,
) -> Result<ReleaseVersion, ReleaseError> {
    if let Some(version) = asked {
        return Ok(version);
    }
    let index = source.index().await?;
    if index.releases.is_empty() {
        return Err(ReleaseError::EmptyIndex {
            location: source.index_location(),
        });
    }
    ReleaseVersion::parse(&index.latest).map_err(|problem| ReleaseError::BadDocument {
        what: "release index",
        location: source.index_location(),
        problem,
    })
}

/// Pulls a release and makes it the active image.
///
/// # Errors
/// See [`ReleaseError`]; on any error nothing is installed, and what was
/// downloaded intact stays in `images/.downloads/` for the next pull.
pub async fn pull(
    home: &Home,
    source: &Source,
    version: &ReleaseVersion,
    printer: &Printer,
    reporter: &dyn DownloadReporter,
) -> Result<Pulled, ReleaseError> {
    let release = source.manifest(version).await?;
    check_release(&release, version, source)?;
    if let Some(warning) = qemu_warning(&release) {
        printer.warn(&warning);
    }
    let target = home.images().join(version.as_str());
    if let Some(image) = installed_match(&target, &release, version)? {
        image::set_active(home, version.as_str())?;
        return Ok(Pulled::AlreadyInstalled(image));
    }
    let _lock = lock_images(home).await?;
    let downloads = downloads_dir(home, version);
    fs::create_dir_all(&downloads).map_err(io("cannot create", &downloads))?;
    check_space(home, &release, &downloads, version)?;
    printer.step(&format!(
        "downloading release {version} ({}) from {}",
        super::mib(release.download_bytes()),
        source.describe()
    ));
    for artifact in release.artifacts() {
        let job = Download {
            source,
            version,
            artifact,
            part: part_path(&downloads, artifact),
        };
        download::download(&job, reporter).await?;
    }
    printer.step(&format!("installing release {version}"));
    let staging = home.images().join(format!(".{version}.partial"));
    let installed = {
        let (home, release, downloads, staging, source) = (
            home.clone(),
            release.clone(),
            downloads.clone(),
            staging.clone(),
            source.describe(),
        );
        tokio::task::spawn_blocking(move || install(&home, &release, &downloads, &staging, &source))
            .await
            .map_err(|e| ReleaseError::Io {
                what: "the install step failed for",
                path: target.clone(),
                source: std::io::Error::other(e.to_string()),
            })?
    };
    if installed.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    let image = installed?;
    let _ = fs::remove_dir_all(&downloads);
    // The parent goes too once no other version has a download waiting.
    let _ = downloads.parent().map(fs::remove_dir);
    Ok(Pulled::Installed(image))
}

fn check_release(
    release: &ReleaseManifest,
    version: &ReleaseVersion,
    source: &Source,
) -> Result<(), ReleaseError> {
    if release.version != version.as_str() {
        return Err(ReleaseError::BadDocument {
            what: "release manifest",
            location: source.file_location(version, MANIFEST_FILE),
            problem: format!("it describes version {}, not {version}", release.version),
        });
    }
    let host = std::env::consts::ARCH;
    if release.arch != host {
        return Err(ReleaseError::WrongArch {
            version: version.to_string(),
            arch: release.arch.clone(),
            host: host.to_owned(),
        });
    }
    Ok(())
}

/// A warning when this machine's QEMU is older than the release needs. Only a
/// warning: the machine that pulls may be a cache for others.
fn qemu_warning(release: &ReleaseManifest) -> Option<String> {
    let qemu = crate::preflight::find_qemu().ok()?;
    let line = crate::accel::qemu_version(&qemu.system);
    let found = line
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    older_than(found, &release.min_qemu).then(|| {
        format!(
            "release {} needs QEMU {} or newer, but {} is {found}; `start` will fail until QEMU is updated",
            release.version,
            release.min_qemu,
            qemu.system.display()
        )
    })
}

/// Whether dotted version `a` is older than `b` (numerically, part by part).
fn older_than(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.split('.')
            .map(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            })
            .collect()
    };
    parts(a) < parts(b)
}

/// The installed image of this version, when it is exactly this release.
fn installed_match(
    target: &Path,
    release: &ReleaseManifest,
    version: &ReleaseVersion,
) -> Result<Option<Image>, ReleaseError> {
    if !target.join("manifest.json").is_file() {
        return Ok(None);
    }
    let Ok(image) = image::load(target) else {
        return Ok(None); // a damaged leftover; the install replaces it
    };
    let same = image.manifest.kernel.sha256 == release.kernel.sha256
        && image.manifest.disk == release.disk.installed()
        && image.manifest.initrd.as_ref().map(|i| &i.sha256)
            == release.initrd.as_ref().map(|i| &i.sha256);
    if same {
        Ok(Some(image))
    } else {
        Err(ReleaseError::Conflict {
            dir: target.to_path_buf(),
            version: version.to_string(),
        })
    }
}

/// Takes the images directory's build lock: one build or pull at a time, even
/// from several state directories that share `images/`.
async fn lock_images(home: &Home) -> Result<File, ReleaseError> {
    let path = home.images().join(".build.lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("cannot open", &path))?;
    tokio::task::spawn_blocking(move || {
        file.lock().map_err(io("cannot lock", &path))?;
        Ok(file)
    })
    .await
    .map_err(|e| ReleaseError::Io {
        what: "cannot lock",
        path: home.images(),
        source: std::io::Error::other(e.to_string()),
    })?
}

fn part_path(downloads: &Path, artifact: &Artifact) -> PathBuf {
    downloads.join(format!("{}.part", artifact.file))
}

/// Refuses a pull that cannot fit, before it writes anything: the rest of
/// each download plus the decoded disk.
fn check_space(
    home: &Home,
    release: &ReleaseManifest,
    downloads: &Path,
    version: &ReleaseVersion,
) -> Result<(), ReleaseError> {
    let remaining: u64 = release
        .artifacts()
        .iter()
        .map(|a| {
            let have = fs::metadata(part_path(downloads, a)).map_or(0, |m| m.len());
            a.size.saturating_sub(have)
        })
        .fold(0, u64::saturating_add);
    let decoded = release.disk.decoded.as_ref().map_or(0, |d| d.size);
    let needed = remaining
        .saturating_add(decoded)
        .saturating_add(SPACE_MARGIN_BYTES);
    let dir = home.images();
    let available =
        space::available_bytes(&dir).map_err(io("cannot read the free space of", &dir))?;
    if available < needed {
        return Err(ReleaseError::DiskFull {
            dir,
            version: version.to_string(),
            needed_mib: needed.div_ceil(1 << 20),
            available_mib: available >> 20,
        });
    }
    Ok(())
}

/// Moves the checked downloads into `staging`, decodes the disk, writes the
/// manifests, and renames `staging` into place as the active image.
fn install(
    home: &Home,
    release: &ReleaseManifest,
    downloads: &Path,
    staging: &Path,
    origin: &str,
) -> Result<Image, ReleaseError> {
    let _ = fs::remove_dir_all(staging);
    fs::create_dir_all(staging).map_err(io("cannot create", staging))?;
    let target = home.images().join(&release.version);
    let part = |a: &Artifact| part_path(downloads, a);
    move_file(&part(&release.kernel), &staging.join("vmlinuz"))?;
    if let Some(initrd) = &release.initrd {
        move_file(&part(initrd), &staging.join("initrd.img"))?;
    }
    let disk = staging.join("disk.qcow2");
    decode_disk(release, &part(&release.disk), &disk, &target)?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        version: release.version.clone(),
        arch: release.arch.clone(),
        created: release.created.clone(),
        input_hash: release.input_hash.clone(),
        kernel: release.kernel.installed(),
        disk: release.disk.installed(),
        initrd: release.initrd.as_ref().map(Artifact::installed),
        kernel_cmdline: release.kernel_cmdline.clone(),
        build_info: release.build_info.clone(),
        origin: Some(origin.to_owned()),
    };
    write_json(&staging.join("manifest.json"), &manifest)?;
    write_json(&staging.join(RELEASE_COPY), release)?;
    if target.exists() {
        // Only a damaged leftover gets here (see `installed_match`).
        fs::remove_dir_all(&target).map_err(io("cannot replace", &target))?;
    }
    fs::rename(staging, &target).map_err(io("cannot install", &target))?;
    image::set_active(home, &release.version)?;
    Ok(image::load(&target)?)
}

fn move_file(from: &Path, to: &Path) -> Result<(), ReleaseError> {
    fs::rename(from, to).map_err(io("cannot move into place", from))
}

/// Decodes the zstd disk into `to`, hashing what it writes in the same pass,
/// and checks it against the manifest's decoded size and sha256.
fn decode_disk(
    release: &ReleaseManifest,
    part: &Path,
    to: &Path,
    target: &Path,
) -> Result<(), ReleaseError> {
    let expected = release.disk.installed();
    let input = File::open(part).map_err(io("cannot read", part))?;
    let mut decoder = zstd::stream::read::Decoder::new(input).map_err(io("cannot decode", part))?;
    let output = File::create(to).map_err(io("cannot write", to))?;
    let mut writer = HashingWriter::new(BufWriter::with_capacity(1 << 20, output));
    let copied = std::io::copy(&mut decoder, &mut writer).and_then(|_| writer.flush());
    if let Err(e) = copied {
        let _ = fs::remove_file(to);
        if e.raw_os_error() == Some(libc::ENOSPC) {
            let dir = target.parent().unwrap_or(Path::new(".")).to_path_buf();
            return Err(ReleaseError::DiskFull {
                version: release.version.clone(),
                needed_mib: expected.size.div_ceil(1 << 20),
                available_mib: space::available_bytes(&dir).unwrap_or(0) >> 20,
                dir,
            });
        }
        // The compressed bytes matched their sha256, so a decode error means
        // the release itself is broken: drop the download.
        let _ = fs::remove_file(part);
        return Err(io("cannot decode", part)(e));
    }
    let found = hex(&writer.hasher.finalize());
    if found != expected.sha256 || writer.len != expected.size {
        let _ = fs::remove_file(part);
        return Err(ReleaseError::Checksum {
            file: format!("{} (decoded)", release.disk.file),
            version: release.version.clone(),
            expected: expected.sha256,
            found,
        });
    }
    writer
        .inner
        .get_ref()
        .sync_all()
        .map_err(io("cannot write", to))?;
    Ok(())
}

/// Writes through, counting and hashing every byte on the way (a download's
/// decoded disk, a package's compressed one).
pub(super) struct HashingWriter<W> {
    pub(super) inner: W,
    pub(super) hasher: Sha256,
    pub(super) len: u64,
}

impl<W> HashingWriter<W> {
    /// Writes into `inner`.
    pub(super) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ReleaseError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| ReleaseError::Io {
        what: "cannot encode",
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    fs::write(path, bytes).map_err(io("cannot write", path))
}

/// The active image, verified when its files changed; with none installed,
/// pulls the latest release (or builds the image from `source`).
///
/// # Errors
/// No image can be installed, or the active one fails verification.
pub async fn ensure_image(
    home: &Home,
    printer: &Printer,
    source: Option<PathBuf>,
) -> anyhow::Result<Image> {
    let image = match crate::image::active(home) {
        Ok(image) => image,
        Err(crate::image::ImageError::NotInstalled(_)) => {
            ensure_image_for_start(home, printer, source).await?
        }
        Err(e) => return Err(e.into()),
    };
    let check = image.clone();
    tokio::task::spawn_blocking(move || crate::image::verify_if_changed(&check)).await??;
    Ok(image)
}

/// The image for `start` when none is installed: pull the default release
/// (or the one `STACK_EMULATOR_RELEASES_URL` names); when no release can be
/// reached, say so and build the image locally, or say how to get one.
///
/// # Errors
/// A release was reached but failed, or neither pulling nor building worked.
async fn ensure_image_for_start(
    home: &Home,
    printer: &Printer,
    source_tree: Option<PathBuf>,
) -> anyhow::Result<Image> {
    let source = Source::resolve(None)?;
    printer.step(&format!(
        "no guest image installed; pulling the latest release from {}",
        source.describe()
    ));
    let reporter = crate::progress::DownloadProgress::for_printer(printer);
    let pulled = match choose_version(&source, None).await {
        Ok(version) => pull(home, &source, &version, printer, &reporter).await,
        Err(e) => Err(e),
    };
    let unreachable = match pulled {
        Ok(pulled) => return Ok(pulled.image().clone()),
        Err(e) if e.is_unreachable() => e,
        Err(e) => return Err(e.into()),
    };
    let why = format!("{:#}", anyhow::Error::from(unreachable));
    let Ok(tree) = image::source_root(source_tree) else {
        return Err(ReleaseError::NothingToBoot { why }.into());
    };
    printer.warn(&format!(
        "no release could be reached ({why}); building the image locally instead (a few minutes, once)"
    ));
    let home = home.clone();
    let build_printer = Printer::new(printer.verbosity());
    let built =
        tokio::task::spawn_blocking(move || image::build(&home, &tree, false, &build_printer))
            .await??;
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_versions_compare_by_number() {
        assert!(older_than("9.2.1", "10.0"));
        assert!(!older_than("10.0.2", "10.0"));
        assert!(!older_than("10.0", "10.0"));
        assert!(older_than("10.0", "10.1"));
        assert!(!older_than("11.0.0-rc1", "10.0"));
    }

    #[test]
    fn the_hashing_writer_hashes_exactly_what_it_writes() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        assert_eq!(w.len, 3);
        assert_eq!(
            hex(&w.hasher.finalize()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
