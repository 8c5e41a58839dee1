//! Mounts an image with the kernel's `iso9660` driver, as the guest does, and
//! compares every file. Needs root, loop devices and a kernel with iso9660
//! support, so it runs only when asked for (`--ignored`); when asked for, it
//! fails rather than skips if any of those is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{SampleFile, TempDir, require_tool, run, sample_files};

/// Unmounts on drop, so a failed assertion never leaves a mount behind.
struct Mounted {
    umount: PathBuf,
    mountpoint: PathBuf,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        match Command::new(&self.umount).arg(&self.mountpoint).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "umount {} failed ({}): {}",
                self.mountpoint.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cannot run umount {}: {e}", self.mountpoint.display()),
        }
    }
}

fn mount_read_only(image: &Path, mountpoint: &Path) -> Mounted {
    let mount = require_tool("mount", "mount");
    let umount = require_tool("umount", "mount");
    let uid = run(&require_tool("id", "coreutils"), ["-u"]).stdout;
    assert_eq!(
        String::from_utf8_lossy(&uid).trim(),
        "0",
        "mounting a loop device needs root; run this test as root"
    );
    run(
        &mount,
        [
            "-o".as_ref(),
            "loop,ro".as_ref(),
            "-t".as_ref(),
            "iso9660".as_ref(),
            image.as_os_str(),
            mountpoint.as_os_str(),
        ],
    );
    Mounted {
        umount,
        mountpoint: mountpoint.to_owned(),
    }
}

#[test]
#[ignore = "needs root, loop devices and kernel iso9660 support; run with `cargo test -p iso9660 -- --ignored mount`"]
fn kernel_mount_serves_every_file_unchanged() {
    let mut files = sample_files();
    files.push(SampleFile {
        name: "\u{65e5}\u{672c}\u{8a9e}.txt".to_owned(),
        contents: b"nihongo\n".to_vec(),
    });
    let dir = TempDir::new("mount");
    let image = dir.write_image(&files);
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    // Declared after `dir`, so it unmounts before the directory is removed.
    let _mounted = mount_read_only(&image, &mountpoint);

    let mut got = BTreeMap::new();
    for entry in std::fs::read_dir(&mountpoint).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        got.insert(name, std::fs::read(entry.path()).unwrap());
    }
    let expected: BTreeMap<String, Vec<u8>> =
        files.into_iter().map(|f| (f.name, f.contents)).collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (name, contents) in &expected {
        assert!(got[name] == *contents, "{name}: mounted contents differ");
    }
}
