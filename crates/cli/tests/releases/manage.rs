//! `list-releases`, `images` and `prune`, and the first `start`'s fallback.

use std::path::Path;

use crate::harness::{Case, show, stdout};
use crate::server::Server;

/// A snapshot folder whose disk layer stands on `backing`: a qcow2 header
/// that names its backing file is all `images` and `prune` read (test data).
fn fake_snapshot(dir: &Path, backing: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let name = backing.to_str().unwrap().as_bytes();
    let mut header = vec![0u8; 72];
    header[..4].copy_from_slice(b"QFI\xfb");
    header[4..8].copy_from_slice(&3u32.to_be_bytes());
    header[8..16].copy_from_slice(&72u64.to_be_bytes());
    header[16..20].copy_from_slice(&(name.len() as u32).to_be_bytes());
    header.extend_from_slice(name);
    std::fs::write(dir.join("disk.qcow2"), header).unwrap();
    std::fs::write(dir.join("state.json"), "{}").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_releases_shows_date_size_and_what_is_installed_and_active() {
    let case = Case::new("list");
    case.synthetic_release("1.0.0", 1 << 20).await;
    case.synthetic_release("1.1.0", 2 << 20).await;
    let server = Server::start(&case.releases).await;
    case.ok(&["pull", "--version", "1.0.0", "--from", &server.url], &[])
        .await;
    let out = case
        .ok(&["list-releases", "--from", &server.url], &[])
        .await;
    let text = stdout(&out);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["VERSION", "DATE", "SIZE", "STATE"], "{text}");
    let size = |v: &str| {
        let bytes: u64 = ["vmlinuz", "initrd.img", "disk.qcow2.zst"]
            .iter()
            .map(|f| {
                std::fs::metadata(case.releases.join(v).join(f))
                    .unwrap()
                    .len()
            })
            .sum();
        format!("{:.1}", bytes as f64 / f64::from(1u32 << 20))
    };
    let row = |v: &str| lines.iter().find(|l| l[0] == v).cloned().unwrap();
    let newer = row("1.1.0");
    assert_eq!(newer[2], size("1.1.0"), "{text}");
    assert_eq!(newer[4..], ["latest"], "{text}");
    let older = row("1.0.0");
    assert_eq!(older[2], size("1.0.0"), "{text}");
    assert_eq!(older[4..], ["active"], "{text}");
    assert_eq!(newer[1].len(), 10, "a date: {text}");
    assert_eq!(lines.len(), 3, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_the_active_image_and_the_one_in_use() {
    let case = Case::new("prune");
    case.synthetic_release("1.0.0", 1 << 20).await;
    case.synthetic_release("1.1.0", 1 << 20).await;
    let server = Server::start(&case.releases).await;
    for v in ["1.0.0", "1.1.0"] {
        case.ok(&["pull", "--version", v, "--from", &server.url], &[])
            .await;
    }
    let images = case.images();
    let snapshots = case.home.join("snapshots");
    fake_snapshot(&snapshots.join("aaaa"), &images.join("1.0.0/disk.qcow2"));
    fake_snapshot(&snapshots.join("bbbb"), &images.join("1.1.0/disk.qcow2"));
    fake_snapshot(&snapshots.join("cccc"), &images.join("0.9.0/disk.qcow2"));

    let out = case.ok(&["images"], &[]).await;
    let text = stdout(&out);
    let row = |v: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.split_whitespace().any(|w| w == v))
            .unwrap_or_else(|| panic!("{v} is not listed:\n{text}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(row("1.1.0")[0], "*", "{text}");
    assert_eq!(row("1.1.0")[2], "pulled", "{text}");
    assert_eq!(row("1.1.0").last().unwrap(), "active", "{text}");
    assert_eq!(row("1.0.0")[1], "pulled", "not active: {text}");
    assert!(
        text.contains(" 1 (0.0 MiB)"),
        "each image has its snapshot: {text}"
    );

    // The session's disk stands on 1.0.0: it must stay, and a pull says so.
    std::fs::write(case.home.join("run/overlay.qcow2"), "").unwrap();
    std::fs::write(case.home.join("run/overlay.image"), "1.0.0").unwrap();
    let out = case
        .ok(&["pull", "--version", "1.1.0", "--from", &server.url], &[])
        .await;
    assert!(
        crate::harness::stderr(&out).contains(
            "warning: this install's session data was made with image 1.0.0; `start` uses it only with that image"
        ),
        "{}",
        show(&out)
    );
    let out = case.cli(&["prune"], &[]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "prune without --yes and no terminal\n{}",
        show(&out)
    );
    assert!(
        snapshots.join("cccc").exists(),
        "removed without confirmation"
    );
    case.ok(&["prune", "--yes"], &[]).await;
    assert!(images.join("1.0.0").exists() && snapshots.join("aaaa").exists());
    assert!(
        !snapshots.join("cccc").exists(),
        "the orphan snapshot was kept"
    );

    std::fs::remove_file(case.home.join("run/overlay.qcow2")).unwrap();
    let out = case.ok(&["prune", "--yes"], &[]).await;
    assert!(
        stdout(&out).starts_with("removed 1 image(s) and 1 snapshot"),
        "{}",
        show(&out)
    );
    assert!(!images.join("1.0.0").exists() && !snapshots.join("aaaa").exists());
    assert!(images.join("1.1.0").exists() && snapshots.join("bbbb").exists());
    let out = case.ok(&["prune", "--yes"], &[]).await;
    assert!(
        stdout(&out).starts_with("nothing to prune"),
        "{}",
        show(&out)
    );
}

/// The first `start` with no image and no reachable release says so, then
/// goes on to build the image locally. The build is pointed at a source tree
/// without a Cargo workspace, so its first step fails fast instead of taking
/// minutes; that it ran is what this checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_without_image_or_release_says_so_and_builds_locally() {
    let case = Case::new("firstrun");
    let tree = case.root.join("tree");
    std::fs::create_dir_all(tree.join("guest")).unwrap();
    std::fs::write(tree.join("guest/build.sh"), "#!/bin/sh\nexit 1\n").unwrap();
    let unreachable = "http://127.0.0.1:1/releases";
    let env = [
        ("STACK_EMULATOR_RELEASES_URL", unreachable),
        ("STACK_EMULATOR_SOURCE", tree.to_str().unwrap()),
    ];
    let err = case.fails(&["start"], &env).await;
    assert!(
        err.contains(&format!(
            "no guest image installed; pulling the latest release from {unreachable}"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "warning: no release could be reached (cannot reach the release server for {unreachable}/index.json"
        )) && err.contains("building the image locally instead"),
        "{err}"
    );
    assert!(
        err.contains("image build step `build stack-server (release)` failed"),
        "{err}"
    );

    let empty = case.root.join("no-sources");
    std::fs::create_dir_all(&empty).unwrap();
    let env = [
        ("STACK_EMULATOR_RELEASES_URL", unreachable),
        ("STACK_EMULATOR_SOURCE", empty.to_str().unwrap()),
    ];
    let err = case.fails(&["start"], &env).await;
    assert!(
        err.contains("error: no release could be reached (cannot reach the release server for ")
            && err.contains("and there are no sources here to build the image from"),
        "{err}"
    );
    assert!(
        err.contains(
            "hint: pull from a mirror or a local folder with `stack-emulator pull --from URL`"
        ),
        "{err}"
    );
}
