//! The installed images, the pristine snapshots that belong to each, and what
//! `prune` may remove.
//!
//! A snapshot belongs to the image whose base disk its frozen disk layer is
//! layered on: the layer is a qcow2 file whose header names its backing file
//! (the image's `disk.qcow2`). Reading that header needs no QEMU and no
//! knowledge of how snapshot keys are computed.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::install::DOWNLOADS_DIR;
use crate::home::Home;
use crate::image::{self, Image};
use crate::session::{self, Liveness, SessionFiles};
use crate::space::disk_usage;

/// qcow2 files start with these bytes ("QFI\xfb").
const QCOW2_MAGIC: [u8; 4] = *b"QFI\xfb";
/// Backing file names are paths; anything longer is not a name we wrote.
const MAX_BACKING_NAME_BYTES: u32 = 4096;

/// One installed image.
#[derive(Debug)]
pub struct Installed {
    /// The image.
    pub image: Image,
    /// `start` boots it.
    pub active: bool,
    /// This install's session disk is layered on it (running or not).
    pub in_use: bool,
    /// Bytes on disk of its directory.
    pub bytes: u64,
    /// Its pristine snapshots.
    pub snapshots: Vec<SnapshotDir>,
}

/// One pristine snapshot directory.
#[derive(Debug, Clone)]
pub struct SnapshotDir {
    /// `snapshots/<key>/`.
    pub dir: PathBuf,
    /// Bytes on disk.
    pub bytes: u64,
}

/// Everything under `images/` and `snapshots/`.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Installed images, by version.
    pub images: Vec<Installed>,
    /// Snapshots whose image is gone.
    pub orphans: Vec<SnapshotDir>,
    /// Unfinished downloads and builds (`.downloads/`, `.<version>.partial`).
    pub leftovers: Vec<SnapshotDir>,
}

/// Reads what is installed.
///
/// # Errors
/// `images/` cannot be listed.
pub fn read(home: &Home) -> std::io::Result<Inventory> {
    let active = image::active(home).ok().map(|i| i.manifest.version);
    let used = versions_in_use(home);
    let mut inventory = Inventory::default();
    let mut entries: Vec<PathBuf> = fs::read_dir(home.images())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for dir in entries {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name == DOWNLOADS_DIR || (name.starts_with('.') && name.ends_with(".partial")) {
            if dir.is_dir() {
                inventory.leftovers.push(SnapshotDir {
                    bytes: disk_usage(&dir),
                    dir,
                });
            }
            continue;
        }
        let Ok(image) = image::load(&dir) else {
            continue;
        };
        let version = image.manifest.version.clone();
        inventory.images.push(Installed {
            active: active.as_deref() == Some(version.as_str()),
            in_use: used.contains(&version),
            bytes: disk_usage(&dir),
            image,
            snapshots: Vec::new(),
        });
    }
    for snapshot in snapshot_dirs(&home.snapshots()) {
        match backing_dir(&snapshot.dir) {
            Backing::Gone => inventory.orphans.push(snapshot),
            Backing::Dir(backing) => {
                let owner = inventory
                    .images
                    .iter_mut()
                    .find(|i| fs::canonicalize(&i.image.dir).is_ok_and(|d| d == backing));
                // A snapshot of an image in another images directory (several
                // state directories may share `snapshots/`) is not ours to list.
                if let Some(image) = owner {
                    image.snapshots.push(snapshot);
                }
            }
            Backing::Unknown => {}
        }
    }
    Ok(inventory)
}

/// The image versions this install's session needs: the one its disk overlay
/// is layered on (kept while stopped too: the data lives there) and the one a
/// running VM booted.
fn versions_in_use(home: &Home) -> Vec<String> {
    let files = SessionFiles::of(home);
    let mut used = Vec::new();
    if files.overlay.exists()
        && let Ok(version) = fs::read_to_string(&files.image_marker)
    {
        used.push(version.trim().to_owned());
    }
    if let Liveness::Running(state) = session::liveness(&files) {
        used.push(state.image_version);
    }
    used
}

fn snapshot_dirs(root: &Path) -> Vec<SnapshotDir> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<SnapshotDir> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .map(|dir| SnapshotDir {
            bytes: disk_usage(&dir),
            dir,
        })
        .collect();
    dirs.sort_by(|a, b| a.dir.cmp(&b.dir));
    dirs
}

/// What a snapshot's disk layer stands on.
enum Backing {
    /// The canonical directory of the image disk.
    Dir(PathBuf),
    /// The layer names a backing file that no longer exists.
    Gone,
    /// No layer (yet), or not one we can read: left alone.
    Unknown,
}

fn backing_dir(snapshot: &Path) -> Backing {
    let Some(layer) = ["disk.qcow2", "disk.qcow2.partial"]
        .iter()
        .map(|n| snapshot.join(n))
        .find(|p| p.is_file())
    else {
        return Backing::Unknown;
    };
    let Some(backing) = qcow2_backing_file(&layer) else {
        return Backing::Unknown;
    };
    let backing = if backing.is_absolute() {
        backing
    } else {
        snapshot.join(backing)
    };
    match fs::canonicalize(&backing) {
        Ok(path) => path
            .parent()
            .map_or(Backing::Unknown, |d| Backing::Dir(d.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Backing::Gone,
        Err(_) => Backing::Unknown,
    }
}

/// The backing file named in a qcow2 header (big-endian: offset u64 at 8,
/// length u32 at 16).
pub fn qcow2_backing_file(path: &Path) -> Option<PathBuf> {
    let mut file = fs::File::open(path).ok()?;
    let mut header = [0u8; 20];
    file.read_exact(&mut header).ok()?;
    if header[..4] != QCOW2_MAGIC {
        return None;
    }
    let offset = u64::from_be_bytes(header[8..16].try_into().ok()?);
    let len = u32::from_be_bytes(header[16..20].try_into().ok()?);
    if offset == 0 || len == 0 || len > MAX_BACKING_NAME_BYTES {
        return None;
    }
    let mut name = vec![0u8; usize::try_from(len).ok()?];
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset)).ok()?;
    file.read_exact(&mut name).ok()?;
    Some(PathBuf::from(String::from_utf8(name).ok()?))
}

/// What `prune` removes: inactive images not in use, with their snapshots;
/// snapshots of images that are gone; unfinished downloads and builds.
#[derive(Debug, Default)]
pub struct PrunePlan {
    /// Image directories.
    pub images: Vec<PathBuf>,
    /// Snapshot and leftover directories.
    pub others: Vec<PathBuf>,
    /// Bytes freed.
    pub bytes: u64,
}

impl Inventory {
    /// What `prune` would remove.
    pub fn prune_plan(&self) -> PrunePlan {
        let mut plan = PrunePlan::default();
        for installed in &self.images {
            if installed.active || installed.in_use {
                continue;
            }
            plan.images.push(installed.image.dir.clone());
            plan.bytes += installed.bytes;
            for s in &installed.snapshots {
                plan.others.push(s.dir.clone());
                plan.bytes += s.bytes;
            }
        }
        for s in self.orphans.iter().chain(&self.leftovers) {
            plan.others.push(s.dir.clone());
            plan.bytes += s.bytes;
        }
        plan
    }
}

/// Removes what the plan lists: snapshots first, so that no snapshot is ever
/// left standing on a deleted image.
///
/// # Errors
/// A directory cannot be removed (the rest stays for the next prune).
pub fn prune(plan: &PrunePlan) -> std::io::Result<()> {
    for dir in plan.others.iter().chain(&plan.images) {
        make_writable(dir);
        match fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("cannot remove {}: {e}", dir.display()),
                ));
            }
        }
    }
    Ok(())
}

/// Snapshot layers are read-only files; a directory's removal needs only the
/// directory writable on Unix, but other systems refuse read-only files.
fn make_writable(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        if let Ok(meta) = entry.metadata()
            && meta.is_file()
            && meta.permissions().readonly()
        {
            let mut perms = meta.permissions();
            // Writable for its owner only: a prune that stops half-way leaves
            // no file that others could write.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                perms.set_mode(perms.mode() | 0o200);
            }
            #[cfg(not(unix))]
            #[allow(clippy::permissions_set_readonly_false)] // deleting it next
            perms.set_readonly(false);
            let _ = fs::set_permissions(entry.path(), perms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backing_file_is_read_from_a_qcow2_header() {
        let dir = std::env::temp_dir().join(format!("stack-qcow2-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let name = b"/images/0.1.0/disk.qcow2";
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(&QCOW2_MAGIC);
        header[8..16].copy_from_slice(&64u64.to_be_bytes());
        header[16..20].copy_from_slice(&u32::try_from(name.len()).unwrap().to_be_bytes());
        header.extend_from_slice(name);
        let path = dir.join("layer.qcow2");
        fs::write(&path, &header).unwrap();
        assert_eq!(
            qcow2_backing_file(&path),
            Some(PathBuf::from("/images/0.1.0/disk.qcow2"))
        );
        header[0] = b'X';
        fs::write(&path, &header).unwrap();
        assert_eq!(qcow2_backing_file(&path), None);
        let _ = fs::remove_dir_all(dir);
    }
}
