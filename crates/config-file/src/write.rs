//! Replacing a config file so that a crash or a full disk at any moment
//! leaves either the old file or the new one, never a mix.
//!
//! The new text goes to a temporary file in the same directory (a rename is
//! only atomic within one file system), which is flushed to disk, given the
//! old file's permissions, and renamed over the old file; then the directory
//! is flushed so the rename itself survives a crash. Stack Auth's own
//! `writeFileAtomic` (in `@hexclave/shared-backend`) does the temp-and-rename
//! part, without the flushes or the permissions.
//!
//! Not kept: the old file's owner and group (changing them needs
//! privileges) and its extended attributes. A symbolic link is followed, so
//! the file it points to is replaced and the link stays.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How many temporary names are tried before giving up: another name is
/// only needed when one is left over from a crash, or in use by a
/// concurrent write from this same process id.
const TEMP_NAME_ATTEMPTS: u32 = 16;

/// Why a config file could not be written. The old file, if any, is intact.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The temporary file next to the target could not be created.
    #[error("could not create a temporary file in {}\nhint: check that the directory exists and is writable", dir.display())]
    CreateTemp {
        /// The target's directory.
        dir: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// Writing or flushing the temporary file failed (a full disk, say).
    #[error("could not write the new config to {}\nhint: check the free space on that disk", temp.display())]
    Write {
        /// The temporary file.
        temp: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// The old file's permissions could not be read or copied.
    #[error("could not copy the permissions of {}\nhint: check that you own the file", path.display())]
    Permissions {
        /// The file being replaced.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// The temporary file could not be renamed over the target.
    #[error("could not replace {}\nhint: check that the file and its directory are writable", path.display())]
    Rename {
        /// The file being replaced.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// The directory could not be flushed after the rename: the new file is
    /// in place, but may not survive a crash.
    #[error("replaced {} but could not flush its directory to disk\nhint: the new config is in place; if the machine crashed since, check the file", path.display())]
    SyncDirectory {
        /// The file that was replaced.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
}

/// Replaces the file at `path` with `contents` atomically (see the module
/// docs), keeping its permissions; creates it when it doesn't exist.
///
/// # Errors
///
/// A [`WriteError`] naming the step that failed; in every case except
/// [`WriteError::SyncDirectory`] the old file is untouched and no temporary
/// file is left behind.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    // Follow a symbolic link, so the link survives and its target changes.
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let permissions = match std::fs::metadata(&target) {
        Ok(metadata) => Some(metadata.permissions()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(WriteError::Permissions {
                path: target,
                source,
            });
        }
    };
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let (mut file, temp) = create_temp(&dir, &target)?;
    let guard = RemoveOnDrop(Some(temp.clone()));

    let written = file.write_all(contents).and_then(|()| file.sync_all());
    written.map_err(|source| WriteError::Write {
        temp: temp.clone(),
        source,
    })?;
    if let Some(permissions) = permissions {
        file.set_permissions(permissions)
            .map_err(|source| WriteError::Permissions {
                path: target.clone(),
                source,
            })?;
    }
    drop(file);
    std::fs::rename(&temp, &target).map_err(|source| WriteError::Rename {
        path: target.clone(),
        source,
    })?;
    guard.disarm();
    sync_directory(&dir).map_err(|source| WriteError::SyncDirectory {
        path: target,
        source,
    })
}

/// Creates a new, empty temporary file next to `target`, named after it
/// (`.hexclave.config.ts.<pid>.<n>.tmp`), never reusing an existing file.
fn create_temp(dir: &Path, target: &Path) -> Result<(File, PathBuf), WriteError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map_or_else(|| "config".into(), |name| name.to_string_lossy());
    let mut last_error = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..TEMP_NAME_ATTEMPTS {
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.{}.{count}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((file, temp)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last_error = error,
            Err(source) => {
                return Err(WriteError::CreateTemp {
                    dir: dir.to_owned(),
                    source,
                });
            }
        }
    }
    Err(WriteError::CreateTemp {
        dir: dir.to_owned(),
        source: last_error,
    })
}

#[cfg(unix)]
fn sync_directory(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Directories can't be opened for flushing off Unix; the rename is as
/// durable as the platform makes it.
#[cfg(not(unix))]
fn sync_directory(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Removes the temporary file unless the rename consumed it.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(temp) = self.0.take() {
            // Best effort: the write already failed, and that error is the
            // one worth reporting.
            let _ = std::fs::remove_file(temp);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh directory under the system temp directory, removed on drop.
    pub(crate) struct TempDir(PathBuf);

    impl TempDir {
        pub(crate) fn new(name: &str) -> Self {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let count = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "stack-config-file-{name}-{}-{count}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn creates_a_new_file_and_leaves_nothing_else() {
        let dir = TempDir::new("write-new");
        let path = dir.path().join("hexclave.config.ts");
        write_atomically(&path, b"export const config = {};\n").unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"export const config = {};\n"
        );
        assert_eq!(entries(dir.path()), ["hexclave.config.ts"]);
    }

    #[test]
    fn replaces_an_existing_file() {
        let dir = TempDir::new("write-replace");
        let path = dir.path().join("stack.config.ts");
        std::fs::write(&path, "old old old old old old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(entries(dir.path()), ["stack.config.ts"]);
    }

    #[cfg(unix)]
    #[test]
    fn keeps_the_old_files_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("write-mode");
        let path = dir.path().join("stack.config.ts");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, b"new").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[cfg(unix)]
    #[test]
    fn writes_through_a_symbolic_link() {
        let dir = TempDir::new("write-link");
        let real = dir.path().join("real.config.ts");
        let link = dir.path().join("hexclave.config.ts");
        std::fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
    }

    #[test]
    fn a_missing_directory_is_an_error_that_leaves_nothing() {
        let dir = TempDir::new("write-missing-dir");
        let path = dir.path().join("nope/hexclave.config.ts");
        let error = write_atomically(&path, b"x").unwrap_err();
        assert!(matches!(error, WriteError::CreateTemp { .. }));
        assert_eq!(
            error.to_string(),
            format!(
                "could not create a temporary file in {}\nhint: check that the directory exists and is writable",
                dir.path().join("nope").display()
            )
        );
        assert!(entries(dir.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_rename_keeps_the_target_and_removes_the_temp() {
        // Renaming a file over a directory fails, and it is the last step,
        // after the temporary file was written.
        let dir = TempDir::new("write-rename-fails");
        let path = dir.path().join("hexclave.config.ts");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), "x").unwrap();
        let error = write_atomically(&path, b"new").unwrap_err();
        assert!(matches!(error, WriteError::Rename { .. }), "{error:?}");
        assert_eq!(entries(dir.path()), ["hexclave.config.ts"]);
        assert_eq!(entries(&path), ["keep"]);
    }
}
