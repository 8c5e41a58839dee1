//! Helpers that both test binaries use: signals for the processes a test
//! starts, and a small tmpfs that fills up.

use std::path::{Path, PathBuf};

/// Sends `signal` (`libc::SIGKILL`, `libc::SIGINT`, ...) to `pid`; false when
/// there is no such process.
#[allow(unsafe_code)] // std can only kill its own children, and only with SIGKILL.
pub fn send_signal(pid: u32, signal: libc::c_int) -> bool {
    let Some(pid) = libc::pid_t::try_from(pid).ok().filter(|p| *p > 0) else {
        return false;
    };
    // SAFETY: kill takes two integers and touches no memory of ours.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// A small tmpfs, unmounted when dropped: a real file system that fills up.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=`) on `dir`; None when this
    /// process is not root, which mounting needs. Fails the test when root
    /// cannot mount it.
    pub fn mount(dir: &Path, size: &str) -> Option<Self> {
        if !is_root() {
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            mounted.status.success(),
            "cannot mount a {size} tmpfs on {}: {}",
            dir.display(),
            String::from_utf8_lossy(&mounted.stderr)
        );
        Some(Self(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[allow(unsafe_code)] // std has no safe way to ask for the effective user id.
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The built images of this checkout, outside the repository. Each checkout
/// has its own folder: an images folder has one active image, and a build in
/// another checkout (other sources, another image) would switch it under a
/// running test.
pub fn checkout_images_dir() -> String {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    env!("CARGO_MANIFEST_DIR").hash(&mut hasher);
    format!(
        "/var/tmp/stack-emulator-test/images-{:016x}",
        hasher.finish()
    )
}
