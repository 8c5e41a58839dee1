//! The state directory (`$STACK_EMULATOR_HOME`, default `~/.stack/emulator`) and
//! the files in it.
//!
//! ```text
//! images/<version>/       kernel, base disk (read-only), manifest.json
//! snapshots/              pristine snapshots and their frozen disk layers
//! run/                    this install's session: overlay, RAM, secrets, sockets, pid, serial log, lock
//! cache/                  downloaded packages for image builds
//! ```
//!
//! `STACK_EMULATOR_IMAGES`, `STACK_EMULATOR_SNAPSHOTS` and `STACK_EMULATOR_CACHE`
//! move the image, snapshot and package directories elsewhere, so that several
//! state directories (test runs, CI) can share one built image and snapshot.
//!
//! Every directory is created 0700, and [`Home::make_private`] repairs looser
//! modes under the state directory (see `private.rs`).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::PathBuf;

use crate::snapshot::{Fingerprint, StateFiles};

/// Why the state directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// No home directory to put the default under.
    #[error("cannot find a home directory for the state directory; set STACK_EMULATOR_HOME")]
    NoHome,
    /// A directory could not be created.
    #[error("cannot create {path}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Another command holds the lock.
    #[error("another stack-emulator command is using {path}")]
    Busy {
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be opened.
    #[error("cannot open the lock file {path}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn override_dir(variable: &str) -> Option<PathBuf> {
    std::env::var_os(variable)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The files of one pristine snapshot, in its own directory under `snapshots/`.
#[derive(Debug, Clone)]
pub struct PristineFiles {
    /// Its directory.
    pub dir: PathBuf,
    /// Held while a capture takes it; next to the directory, which a failed
    /// capture deletes.
    pub lock: PathBuf,
    /// The saved device state and the RAM file.
    pub state: StateFiles,
    /// The frozen disk layer under every session resumed from it.
    pub disk: PathBuf,
    /// The disk layer while the capture VM runs.
    pub partial_disk: PathBuf,
    /// The RAM file while the capture VM runs.
    pub partial_ram: PathBuf,
    /// The guest console of its boot: every session resumed from it starts
    /// its console log with this.
    pub console: PathBuf,
}

/// The layout of one state directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// The state directory from `STACK_EMULATOR_HOME`, or `~/.stack/emulator`.
    ///
    /// # Errors
    /// Neither the variable nor a home directory is set.
    pub fn from_env() -> Result<Self, HomeError> {
        if let Some(dir) = std::env::var_os("STACK_EMULATOR_HOME").filter(|d| !d.is_empty()) {
            return Ok(Self::at(PathBuf::from(dir)));
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or(HomeError::NoHome)?;
        Ok(Self::at(
            PathBuf::from(home).join(".stack").join("emulator"),
        ))
    }

    /// A state directory at `root`.
    pub fn at(root: PathBuf) -> Self {
        Self { root }
    }

    /// The state directory itself.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// Installed images.
    pub fn images(&self) -> PathBuf {
        override_dir("STACK_EMULATOR_IMAGES").unwrap_or_else(|| self.root.join("images"))
    }

    /// Snapshots.
    pub fn snapshots(&self) -> PathBuf {
        override_dir("STACK_EMULATOR_SNAPSHOTS").unwrap_or_else(|| self.root.join("snapshots"))
    }

    /// The session.
    pub fn run(&self) -> PathBuf {
        self.root.join("run")
    }

    /// Package caches for image builds.
    pub fn cache(&self) -> PathBuf {
        override_dir("STACK_EMULATOR_CACHE").unwrap_or_else(|| self.root.join("cache"))
    }

    /// A file of the session; its names are given in `session.rs`, next to
    /// what each file is for.
    pub(crate) fn run_file(&self, name: &str) -> PathBuf {
        self.run().join(name)
    }

    /// Held while an image is built or pulled into [`Home::images`].
    pub fn image_build_lock(&self) -> PathBuf {
        self.images().join(".build.lock")
    }

    /// The remembered accelerator choice (see `accel.rs`).
    pub fn accel_choice(&self) -> PathBuf {
        self.run_file("accel.json")
    }

    /// The files of the pristine snapshot for a fingerprint.
    pub fn pristine(&self, fingerprint: &Fingerprint) -> PristineFiles {
        let digest = &fingerprint.digest;
        let dir = self.snapshots().join(&digest[..16.min(digest.len())]);
        PristineFiles {
            lock: dir.with_extension("lock"),
            state: StateFiles::at(&dir, "state", dir.join("ram.bin")),
            disk: dir.join("disk.qcow2"),
            partial_disk: dir.join("disk.qcow2.partial"),
            partial_ram: dir.join("ram.bin.partial"),
            console: dir.join("console.log"),
            dir,
        }
    }

    /// Creates the directories, each 0700.
    ///
    /// # Errors
    /// A directory cannot be created.
    pub fn ensure(&self) -> Result<(), HomeError> {
        for dir in [
            self.root.clone(),
            self.images(),
            self.snapshots(),
            self.run(),
            self.cache(),
        ] {
            crate::private::create_dir_all(&dir)
                .map_err(|source| HomeError::Create { path: dir, source })?;
        }
        Ok(())
    }

    /// Takes group and other permissions away from the state directory and
    /// everything under it; returns how many entries it changed. Directories
    /// that the variables above move elsewhere keep their modes: several state
    /// directories, or users, may share them.
    ///
    /// # Errors
    /// The first entry that kept its mode.
    pub fn make_private(&self) -> Result<usize, crate::private::RepairError> {
        crate::private::repair(&self.root)
    }

    /// Takes the state directory's lock, so that two commands never change one
    /// session at once. The lock is released when the returned file is dropped
    /// (or the process dies).
    ///
    /// # Errors
    /// [`HomeError::Busy`] when another process holds it.
    pub fn try_lock(&self) -> Result<File, HomeError> {
        let path = self.run_file("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| HomeError::Lock {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(HomeError::Busy { path }),
            Err(fs::TryLockError::Error(source)) => Err(HomeError::Lock { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_home_is_refused_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("stack-home-test-{}", std::process::id()));
        let home = Home::at(dir.clone());
        home.ensure().unwrap();
        let first = home.try_lock().unwrap();
        assert!(matches!(home.try_lock(), Err(HomeError::Busy { .. })));
        drop(first);
        assert!(home.try_lock().is_ok());
        let _ = fs::remove_dir_all(dir);
    }
}
