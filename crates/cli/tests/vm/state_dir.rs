//! The state directory, without a VM boot: any command makes it private to its
//! owner, and a start that cannot fit on its disk is refused before QEMU runs.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::common::Tmpfs;
use crate::harness::{Emulator, exclusive_blocking, open_to_others, show};

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A state directory as earlier builds left it (0755 directories, 0644 files,
/// guest RAM among them) is repaired by the next command, whatever it is.
#[test]
fn a_loose_state_directory_is_made_private_by_the_next_command() {
    let emu = Emulator::new("private");
    let snapshot = emu.home.join("snapshots/0123456789abcdef");
    std::fs::create_dir_all(emu.home.join("run")).unwrap();
    std::fs::create_dir_all(&snapshot).unwrap();
    for file in [
        emu.home.join("run/ram.bin"),
        emu.home.join("run/overlay.qcow2"),
        emu.home.join("run/serial.log"),
        snapshot.join("ram.bin"),
    ] {
        std::fs::write(&file, b"guest memory").unwrap();
        set_mode(&file, 0o644);
    }
    set_mode(&snapshot.join("ram.bin"), 0o444);
    for dir in [
        emu.home.clone(),
        emu.home.join("run"),
        emu.home.join("snapshots"),
        snapshot.clone(),
    ] {
        set_mode(&dir, 0o755);
    }
    assert_eq!(open_to_others(&emu.home).len(), 8);

    emu.ok(&["status"]);
    let open = open_to_others(&emu.home);
    assert!(
        open.is_empty(),
        "still open to others:\n{}",
        open.join("\n")
    );
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&emu.home), 0o700);
    assert_eq!(mode(&emu.home.join("run/ram.bin")), 0o600);
    assert_eq!(
        mode(&snapshot.join("ram.bin")),
        0o400,
        "a frozen file became writable"
    );
}

/// With 4 MiB free where the state directory is, `start` says how much guest
/// RAM and disk need, how much is free and where, before QEMU runs (which
/// would die with SIGBUS once the guest touched RAM the disk cannot back).
#[test]
fn a_start_that_cannot_fit_on_its_disk_is_refused_before_qemu_runs() {
    let _slot = exclusive_blocking();
    let emu = Emulator::new("full");
    emu.ok(&["build-image"]);
    let Some(_tmpfs) = Tmpfs::mount(&emu.home, "4m") else {
        eprintln!(
            "skipped: this test mounts a 4 MiB tmpfs as the state directory, which needs root"
        );
        return;
    };
    let out = emu.run(&["start"]);
    assert!(
        !out.status.success(),
        "start succeeded on a full disk\n{}",
        show(&out, &emu.home)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run = emu.home.join("run");
    assert!(
        stderr.contains(&format!(
            "error: not enough space in {} for the VM (1024 MiB of guest RAM, kept in a file there, and room for its disk to grow): it needs 1152.0 MiB free, but only ",
            run.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains(" MiB are free\n"), "{stderr}");
    assert!(
        stderr.contains("hint: free some space there (`stack-emulator prune` removes inactive images), give the guest less RAM with --memory-mib, or move the state directory with STACK_EMULATOR_HOME"),
        "{stderr}"
    );
    for never in ["SIGBUS", "No such process", "QEMU exited"] {
        assert!(!stderr.contains(never), "{never}: {stderr}");
    }
    for file in ["qemu.pid", "ram.bin", "overlay.qcow2", "session.json"] {
        assert!(!run.join(file).exists(), "{file} was written: {stderr}");
    }
}
