//! Keeps the state directory private to the user who runs the emulator.
//!
//! Guest RAM (`run/ram.bin` and every snapshot's `ram.bin`) holds every key the
//! guest uses, the session's disk holds every user, and the logs show both. So
//! the state directory and every directory under it are 0700, and every file
//! in it is for its owner only (0600, or 0400 for a snapshot's frozen files):
//! - the process runs with umask 0077, which QEMU and qemu-img inherit, so no
//!   file is readable by others at any moment, not even between its creation
//!   and a `chmod` (QEMU creates the RAM file, the console log, the sockets and
//!   the saved device states itself);
//! - what an older build or another program left with looser modes is
//!   repaired by every command ([`repair`]).
//!
//! Two kinds of output keep the user's own umask: the guest image build, whose
//! programs lay out the guest's root file system with the modes its services
//! expect, and `package`, whose release is for a web server to serve.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Group and other permission bits.
const GROUP_AND_OTHER: u32 = 0o077;

/// The umask the process started with, once [`restrict_umask`] replaced it.
static USER_UMASK: OnceLock<libc::mode_t> = OnceLock::new();

/// Makes every file and directory this process and its children create from
/// here on readable by the owner only (umask 0077).
#[allow(unsafe_code)] // std has no umask call; this is the one place that sets it.
pub fn restrict_umask() {
    // SAFETY: umask only swaps the process's file-mode mask; it has no
    // preconditions, touches no memory of ours and cannot fail.
    let previous = unsafe { libc::umask(0o077) };
    // A second call finds 0077 already set; the first caller's value is the user's.
    let _ = USER_UMASK.set(previous);
}

/// Runs `command` with the umask the user started this process with, for
/// programs whose output is not the emulator's private state (the image build).
#[allow(unsafe_code)] // the umask of a child can only be set between fork and exec.
pub fn keep_user_umask(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt as _;
    let Some(&mask) = USER_UMASK.get() else {
        return;
    };
    // SAFETY: the closure runs in the forked child before exec and only calls
    // umask, which is async-signal-safe, allocates nothing and cannot fail.
    unsafe {
        command.pre_exec(move || {
            libc::umask(mask);
            Ok(())
        });
    }
}

/// Creates `dir` and any missing parents, each 0700.
///
/// # Errors
/// A directory cannot be created.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// An entry under the state directory kept its looser mode.
#[derive(Debug, thiserror::Error)]
#[error("cannot make {path} private to its owner")]
pub struct RepairError {
    /// The file or directory.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// Takes the group and other permissions away from `root` and everything
/// under it, and returns how many entries it changed. Symbolic links are
/// neither followed nor changed. Entries of another user are left alone: this
/// process cannot change them (a root-owned package cache of an image build
/// under `sudo`, for one), and the directories above them already keep others
/// out.
///
/// # Errors
/// The first entry that could not be changed or read; the walk goes on past
/// it, so everything else is repaired.
pub fn repair(root: &Path) -> Result<usize, RepairError> {
    let owner = effective_uid();
    let mut changed = 0;
    let mut first_error = None;
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        match repair_one(&path, owner) {
            Ok(Entry { is_dir, changed: c }) => {
                changed += usize::from(c);
                if is_dir {
                    match fs::read_dir(&path) {
                        Ok(entries) => pending.extend(entries.filter_map(|e| Some(e.ok()?.path()))),
                        Err(source) => {
                            first_error.get_or_insert(RepairError { path, source });
                        }
                    }
                }
            }
            // Removed meanwhile by a command that runs at the same time.
            Err(source) if source.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                first_error.get_or_insert(RepairError { path, source });
            }
        }
    }
    first_error.map_or(Ok(changed), Err)
}

struct Entry {
    is_dir: bool,
    changed: bool,
}

fn repair_one(path: &Path, owner: u32) -> io::Result<Entry> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let meta = fs::symlink_metadata(path)?;
    let is_dir = meta.is_dir();
    if meta.file_type().is_symlink() || meta.uid() != owner || meta.mode() & GROUP_AND_OTHER == 0 {
        return Ok(Entry {
            is_dir,
            changed: false,
        });
    }
    // Owner bits only: also drops set-id and sticky bits, which nothing here uses.
    fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o700))?;
    Ok(Entry {
        is_dir,
        changed: true,
    })
}

#[allow(unsafe_code)] // std has no safe way to ask for the effective user id.
fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions, reads no memory of ours and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt as _, symlink};

    use super::*;

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::MetadataExt as _;
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    fn set_mode(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn loose_directories_and_files_lose_group_and_other_bits_and_links_are_not_followed() {
        let root = std::env::temp_dir().join(format!("stack-private-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let outside = root.with_extension("outside");
        fs::write(&outside, b"not the emulator's").unwrap();
        set_mode(&outside, 0o644);
        fs::create_dir_all(root.join("run")).unwrap();
        fs::create_dir_all(root.join("snapshots/abc")).unwrap();
        for (file, loose) in [
            ("run/ram.bin", 0o644),
            ("run/serial.log", 0o666),
            ("snapshots/abc/ram.bin", 0o444),
            ("snapshots/abc/tool", 0o755),
            ("run/secrets.json", 0o600),
        ] {
            fs::write(root.join(file), b"x").unwrap();
            set_mode(&root.join(file), loose);
        }
        for dir in ["", "run", "snapshots", "snapshots/abc"] {
            set_mode(&root.join(dir), 0o755);
        }
        symlink(&outside, root.join("run/link")).unwrap();

        assert_eq!(repair(&root).unwrap(), 8);
        for dir in ["", "run", "snapshots", "snapshots/abc"] {
            assert_eq!(mode(&root.join(dir)), 0o700, "{dir}");
        }
        assert_eq!(mode(&root.join("run/ram.bin")), 0o600);
        assert_eq!(mode(&root.join("run/serial.log")), 0o600);
        assert_eq!(mode(&root.join("snapshots/abc/ram.bin")), 0o400);
        assert_eq!(mode(&root.join("snapshots/abc/tool")), 0o700);
        assert_eq!(mode(&root.join("run/secrets.json")), 0o600);
        assert_eq!(mode(&outside), 0o644, "a link was followed");
        assert_eq!(repair(&root).unwrap(), 0, "a second pass changed something");
        let _ = fs::remove_dir_all(&root);
        let _ = fs::remove_file(&outside);
    }

    #[test]
    fn new_directories_are_for_their_owner_only() {
        let root = std::env::temp_dir().join(format!("stack-private-dirs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        create_dir_all(&root.join("a/b")).unwrap();
        assert_eq!(mode(&root) & GROUP_AND_OTHER, 0);
        assert_eq!(mode(&root.join("a/b")) & GROUP_AND_OTHER, 0);
        let _ = fs::remove_dir_all(&root);
    }
}
