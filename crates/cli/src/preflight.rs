//! Finds the QEMU programs the emulator needs, with an install hint when one is missing.

use std::path::PathBuf;

/// A required program is missing.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{program} was not found on PATH")]
pub struct MissingProgram {
    /// The program.
    pub program: String,
    /// How to install it on this platform.
    pub hint: String,
}

/// The QEMU programs.
#[derive(Debug, Clone)]
pub struct Qemu {
    /// `qemu-system-x86_64` (or the `STACK_EMULATOR_QEMU` override).
    pub system: PathBuf,
    /// `qemu-img`.
    pub img: PathBuf,
}

fn install_hint() -> String {
    if cfg!(target_os = "macos") {
        "install QEMU with `brew install qemu`".into()
    } else if std::path::Path::new("/etc/debian_version").exists() {
        "on Debian 12, add bookworm-backports to apt's sources and run `sudo apt-get install -t bookworm-backports qemu-system-x86 qemu-utils` (QEMU 10 or newer is needed)".into()
    } else {
        "install QEMU 10 or newer (qemu-system-x86_64 and qemu-img) with your package manager"
            .into()
    }
}

/// Looks `name` up on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Finds QEMU.
///
/// # Errors
/// One error naming the first missing program and how to install it.
pub fn find_qemu() -> Result<Qemu, MissingProgram> {
    let missing = |program: &str| MissingProgram {
        program: program.into(),
        hint: install_hint(),
    };
    let system = match std::env::var_os("STACK_EMULATOR_QEMU").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => which("qemu-system-x86_64").ok_or_else(|| missing("qemu-system-x86_64"))?,
    };
    let img = which("qemu-img").ok_or_else(|| missing("qemu-img"))?;
    Ok(Qemu { system, img })
}
