//! Disk space: what is free on the file system that holds a directory, and
//! what files take on disk. `pull` refuses a release and `start` a VM that
//! cannot fit before either writes anything, and `images`, `prune` and
//! `bench` count sizes the same way.

use std::fs;
use std::path::{Path, PathBuf};

/// Bytes an unprivileged user may still write on the file system of `dir`.
///
/// # Errors
/// `statvfs` failed (the directory does not exist, for one).
#[allow(unsafe_code)] // std has no safe free-space query; this is the one call.
pub fn available_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("the path holds a NUL byte"))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and
    // `stats` points to writable memory for exactly one `statvfs`.
    let rc = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled every field of `stats`.
    let stats = unsafe { stats.assume_init() };
    // The field types differ between platforms (u32 on macOS, u64 on Linux).
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let bytes = u64::from(stats.f_bavail).saturating_mul(u64::from(stats.f_frsize));
    Ok(bytes)
}

/// Bytes a file takes on disk: its allocated blocks, so a sparse RAM file of
/// 1 GiB counts for the data in it.
pub fn allocated_bytes(meta: &fs::Metadata) -> u64 {
    #[cfg(unix)]
    return std::os::unix::fs::MetadataExt::blocks(meta).saturating_mul(512);
    #[cfg(not(unix))]
    return meta.len();
}

/// Bytes the files under `path` take on disk (not following links), counted
/// with [`allocated_bytes`]; 0 for a path that does not exist.
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return allocated_bytes(&meta);
    }
    fs::read_dir(path).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| disk_usage(&e.path()))
            .sum()
    })
}

/// Whether two existing paths are on one file system (then their needs add up).
pub fn same_file_system(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        matches!((fs::metadata(a), fs::metadata(b)), (Ok(a), Ok(b)) if a.dev() == b.dev())
    }
    #[cfg(not(unix))]
    {
        a == b
    }
}

/// Mebibytes with one decimal, for messages and tables.
pub fn mib(bytes: u64) -> String {
    // Display only: a u64 byte count fits an f64 closely enough.
    #[allow(clippy::cast_precision_loss)]
    let value = bytes as f64 / f64::from(1u32 << 20);
    format!("{value:.1} MiB")
}

/// Something the emulator is about to write does not fit.
///
/// [`SpaceError::hint`] says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    /// Less is free than is needed.
    #[error(
        "not enough space in {dir} for {what}: it needs {} free, but only {} are free",
        mib(*needed_bytes),
        mib(*available_bytes)
    )]
    TooLittle {
        /// Where it would be written.
        dir: PathBuf,
        /// What would be written, in words.
        what: String,
        /// Bytes it needs.
        needed_bytes: u64,
        /// Bytes free there.
        available_bytes: u64,
        /// What to do about it.
        hint: String,
    },
    /// The free space could not be read.
    #[error("cannot read the free space of {dir}")]
    Unknown {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl SpaceError {
    /// What to do next, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::TooLittle { hint, .. } => Some(hint.clone()),
            _ => None,
        }
    }
}

/// Refuses, before anything is written, `what` that needs `needed_bytes` on
/// the file system of `dir`; the error says both amounts, where, and `hint`.
///
/// # Errors
/// [`SpaceError::TooLittle`] when less is free, [`SpaceError::Unknown`] when
/// the free space cannot be read.
pub fn require(dir: &Path, needed_bytes: u64, what: &str, hint: &str) -> Result<(), SpaceError> {
    let available = available_bytes(dir).map_err(|source| SpaceError::Unknown {
        dir: dir.to_path_buf(),
        source,
    })?;
    if available < needed_bytes {
        return Err(SpaceError::TooLittle {
            dir: dir.to_path_buf(),
            what: what.to_owned(),
            needed_bytes,
            available_bytes: available,
            hint: hint.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temp_directory_has_some_space_and_a_missing_one_is_an_error() {
        assert!(available_bytes(&std::env::temp_dir()).unwrap() > 0);
        assert!(available_bytes(Path::new("/no/such/dir/anywhere")).is_err());
    }

    #[test]
    fn a_need_larger_than_the_disk_is_refused_with_both_amounts() {
        let dir = std::env::temp_dir();
        assert!(require(&dir, 1, "a byte", "none").is_ok());
        let err = require(&dir, u64::MAX, "everything", "free some space").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "not enough space in {} for everything: it needs {} free, but only ",
                dir.display(),
                mib(u64::MAX)
            )),
            "{text}"
        );
        assert!(text.ends_with(" are free"), "{text}");
        assert_eq!(err.hint().as_deref(), Some("free some space"));
    }

    #[test]
    fn a_sparse_file_counts_for_its_data_only() {
        let dir = std::env::temp_dir().join(format!("stack-size-test-{}", std::process::id()));
        fs::create_dir_all(dir.join("inner")).unwrap();
        let sparse = fs::File::create(dir.join("inner/ram.bin")).unwrap();
        sparse.set_len(1 << 30).unwrap();
        fs::write(dir.join("state.bin"), vec![7u8; 1 << 20]).unwrap();
        let size = disk_usage(&dir);
        assert!(
            ((1 << 20)..(4 << 20)).contains(&size),
            "{size} bytes for 1 MiB of data and a 1 GiB hole"
        );
        assert_eq!(disk_usage(&dir.join("missing")), 0);
        let _ = fs::remove_dir_all(dir);
    }
}
