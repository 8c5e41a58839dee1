//! Refuses a VM that would not fit on disk, before QEMU starts. Guest RAM is a
//! file that QEMU maps (see snapshot.rs): when the guest touches a page that a
//! full file system cannot back, QEMU dies with SIGBUS, mid-boot or hours later.

use std::fs;
use std::path::Path;

use crate::home::Home;
use crate::session::SessionFiles;
use crate::space::{self, SpaceError};

/// Room for a disk overlay to grow while its VM runs. A boot writes a few MiB
/// (a pristine snapshot's disk layer is 1.6 MB); the rest is for the app's own
/// data. A disk that fills up later only pauses the guest (QEMU stops a VM on
/// ENOSPC) instead of killing it, so this need not cover every session.
const DISK_GROWTH_BYTES: u64 = 128 << 20;

fn ram_bytes(memory_mib: u32) -> u64 {
    u64::from(memory_mib) << 20
}

/// What the session's VM may still write next to its RAM file: the guest may
/// touch all of its RAM, less what the RAM file there already holds (a session
/// resume keeps it, any other boot replaces it), and its disk grows.
fn session_need(files: &SessionFiles, memory_mib: u32) -> u64 {
    let held = fs::metadata(&files.ram).map_or(0, |m| space::allocated_bytes(&m));
    ram_bytes(memory_mib).saturating_sub(held) + DISK_GROWTH_BYTES
}

/// A capture VM's RAM file and disk layer.
fn capture_need(memory_mib: u32) -> u64 {
    ram_bytes(memory_mib) + DISK_GROWTH_BYTES
}

fn dir_of(file: &Path) -> &Path {
    file.parent().unwrap_or(Path::new("."))
}

/// Requires room for the session's VM where its RAM file and disk are.
///
/// # Errors
/// [`SpaceError`] naming the directory, both amounts and what to do.
pub(crate) fn require_for_session(files: &SessionFiles, memory_mib: u32) -> Result<(), SpaceError> {
    space::require(
        dir_of(&files.ram),
        session_need(files, memory_mib),
        &format!(
            "the VM ({memory_mib} MiB of guest RAM, kept in a file there, and room for its disk to grow)"
        ),
        "free some space there (`stack-emulator prune` removes inactive images), give the guest less RAM with --memory-mib, or move the state directory with STACK_EMULATOR_HOME",
    )
}

/// Requires room for a pristine snapshot's capture in the snapshots directory;
/// with `then_session`, also for that session's VM when it shares the file
/// system (a `start` that captures first).
///
/// # Errors
/// [`SpaceError`] naming the directory, both amounts and what to do.
pub(crate) fn require_for_capture(
    home: &Home,
    memory_mib: u32,
    then_session: Option<&SessionFiles>,
) -> Result<(), SpaceError> {
    let dir = home.snapshots();
    let shared = then_session.filter(|files| space::same_file_system(&dir, dir_of(&files.ram)));
    let needed =
        capture_need(memory_mib) + shared.map_or(0, |files| session_need(files, memory_mib));
    let what = if shared.is_some() {
        format!(
            "the pristine snapshot and then the VM ({memory_mib} MiB of guest RAM in a file for each, and room for their disks to grow)"
        )
    } else {
        format!(
            "the pristine snapshot ({memory_mib} MiB of guest RAM in a file, and room for its disk layer to grow)"
        )
    };
    space::require(
        &dir,
        needed,
        &what,
        "free some space there (`stack-emulator prune` removes snapshots of removed images), or move the snapshots with STACK_EMULATOR_SNAPSHOTS",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ram_a_session_file_already_holds_is_not_asked_for_again() {
        let dir = std::env::temp_dir().join(format!("stack-room-test-{}", std::process::id()));
        let home = Home::at(dir.clone());
        home.ensure().unwrap();
        let files = SessionFiles::of(&home);
        assert_eq!(session_need(&files, 64), (64 << 20) + DISK_GROWTH_BYTES);
        fs::write(&files.ram, vec![1u8; 8 << 20]).unwrap();
        let need = session_need(&files, 64);
        assert!(
            need <= (56 << 20) + DISK_GROWTH_BYTES,
            "{need} bytes asked for with 8 of 64 MiB already in the RAM file"
        );
        assert_eq!(session_need(&files, 4), DISK_GROWTH_BYTES);
        assert_eq!(capture_need(64), (64 << 20) + DISK_GROWTH_BYTES);
        let _ = fs::remove_dir_all(dir);
    }
}
