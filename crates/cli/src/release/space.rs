//! Free space on the file system that holds a directory, so that a pull that
//! cannot fit is refused before it writes anything.

use std::path::Path;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temp_directory_has_some_space_and_a_missing_one_is_an_error() {
        assert!(available_bytes(&std::env::temp_dir()).unwrap() > 0);
        assert!(available_bytes(Path::new("/no/such/dir/anywhere")).is_err());
    }
}
