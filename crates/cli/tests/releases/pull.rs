//! `pull`: the happy path, resume, and every fault the server can produce.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{Tmpfs, send_signal};
use crate::harness::{Case, sha256_file, show, stderr, stdout, wait_until};
use crate::server::{Fault, Server};

/// The full-disk tests mount a tmpfs; CI runs as root.
const NEEDS_ROOT: &str = "this test mounts a tmpfs, which needs root";

/// Size of the synthetic disks: big enough for several progress lines and a
/// mid-file interruption at a throttled rate, small enough to stay quick.
const DISK_BYTES: usize = 6 << 20;

fn part(case: &Case, version: &str, file: &str) -> PathBuf {
    case.images()
        .join(".downloads")
        .join(version)
        .join(format!("{file}.part"))
}

/// Each installed file is byte for byte the source image's file.
fn assert_installed_like(case: &Case, version: &str, source: &Path) {
    let installed = case.images().join(version);
    for name in ["vmlinuz", "initrd.img", "disk.qcow2"] {
        assert_eq!(
            sha256_file(&installed.join(name)),
            sha256_file(&source.join(name)),
            "{name} differs from the source image"
        );
    }
    assert_eq!(
        std::fs::read_to_string(case.images().join("active")).unwrap(),
        version
    );
    assert!(
        !case.images().join(".downloads").exists(),
        "the finished download was not cleaned up"
    );
}

fn assert_nothing_installed(case: &Case, version: &str) {
    assert!(
        !case.images().join(version).exists(),
        "{version} was installed"
    );
    assert!(
        !case.images().join("active").exists(),
        "an image became active"
    );
    assert!(
        !case.images().join(format!(".{version}.partial")).exists(),
        "a staging directory was left behind"
    );
}

/// The cached guest image the VM tests use, when one was built on this machine.
fn cached_guest_image() -> Option<(PathBuf, String)> {
    let images = std::env::var_os("STACK_EMULATOR_TEST_IMAGES").map_or_else(
        || PathBuf::from(crate::common::checkout_images_dir()),
        PathBuf::from,
    );
    let active = std::fs::read_to_string(images.join("active")).ok()?;
    let version = active.trim().to_owned();
    images
        .join(&version)
        .join("manifest.json")
        .is_file()
        .then_some((images, version))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_installs_the_cached_guest_image_or_synthetic_test_data_byte_for_byte() {
    let case = Case::new("happy");
    let source = match cached_guest_image() {
        Some((images, version)) => {
            case.package(&images, &version, "1.0.0").await;
            images.join(version)
        }
        None => {
            eprintln!("no cached guest image on this machine; using synthetic test data");
            let dir = case.synthetic_image("src", DISK_BYTES);
            case.package(&case.sources, "src", "1.0.0").await;
            dir
        }
    };
    let server = Server::start(&case.releases).await;
    let out = case.ok(&["pull", "--from", &server.url], &[]).await;
    assert_installed_like(&case, "1.0.0", &source);
    let err = stderr(&out);
    assert!(
        err.contains("downloading release 1.0.0 ("),
        "{}",
        show(&out)
    );
    assert!(
        err.contains("disk.qcow2.zst: ") && err.contains(" MiB/s)"),
        "{}",
        show(&out)
    );
    assert!(
        stdout(&out).contains("1.0.0 installed in ") && stdout(&out).contains(" and active"),
        "{}",
        show(&out)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.images().join("1.0.0/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["format"], 1);
    assert_eq!(manifest["origin"], server.url.as_str());
    // The index was read once, then the manifest and each file once, without Range.
    assert!(
        server.seen().iter().all(|s| s.range.is_none()),
        "{:?}",
        server.seen()
    );

    let again = case.ok(&["pull", "--from", &server.url], &[]).await;
    assert!(stdout(&again).contains("1.0.0 was installed already; it is active"));
    assert_eq!(
        server.seen_for("disk.qcow2.zst").len(),
        1,
        "a second download happened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_file_is_resumed_with_range() {
    let case = Case::new("drop");
    let source = case.synthetic_release("1.0.0", DISK_BYTES).await;
    let server = Server::start(&case.releases).await;
    server.fault("disk.qcow2.zst", Fault::DropAfter(1 << 20), 1);
    let out = case
        .ok(&["pull", "--version", "1.0.0", "--from", &server.url], &[])
        .await;
    let requests = server.seen_for("disk.qcow2.zst");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].range, None);
    assert_eq!(requests[1].range.as_deref(), Some("bytes=1048576-"));
    assert!(
        stderr(&out).contains("warning: the connection for disk.qcow2.zst failed at 1.0 MiB"),
        "{}",
        show(&out)
    );
    assert_installed_like(&case, "1.0.0", &source);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_range_gets_the_whole_file_again() {
    let case = Case::new("norange");
    let source = case.synthetic_release("1.0.0", DISK_BYTES).await;
    let server = Server::start(&case.releases).await;
    server.fault("disk.qcow2.zst", Fault::DropAfter(1 << 20), 1);
    server.fault("disk.qcow2.zst", Fault::IgnoreRange, 1);
    case.ok(&["pull", "--version", "1.0.0", "--from", &server.url], &[])
        .await;
    let requests = server.seen_for("disk.qcow2.zst");
    assert_eq!(requests[1].range.as_deref(), Some("bytes=1048576-"));
    assert_installed_like(&case, "1.0.0", &source);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_answered_with_another_range_is_refused() {
    let case = Case::new("badrange");
    case.synthetic_release("1.0.0", DISK_BYTES).await;
    let server = Server::start(&case.releases).await;
    server.fault("disk.qcow2.zst", Fault::DropAfter(1 << 20), 1);
    server.fault("disk.qcow2.zst", Fault::WrongRange, 1);
    let err = case
        .fails(&["pull", "--version", "1.0.0", "--from", &server.url], &[])
        .await;
    assert!(
        err.contains(&format!(
            "error: {}/1.0.0/disk.qcow2.zst answered a request for the bytes from 1048576 on with another range",
            server.url
        )),
        "{err}"
    );
    assert_nothing_installed(&case, "1.0.0");
    // What arrived before is a correct prefix and stays for the next pull.
    assert_eq!(
        std::fs::metadata(part(&case, "1.0.0", "disk.qcow2.zst"))
            .unwrap()
            .len(),
        1 << 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_bytes_delete_the_partial_file_and_say_what_did_not_match() {
    let case = Case::new("sha");
    case.synthetic_release("1.0.0", DISK_BYTES).await;
    let server = Server::start(&case.releases).await;
    server.fault("disk.qcow2.zst", Fault::WrongBytes, 1);
    let err = case
        .fails(&["pull", "--version", "1.0.0", "--from", &server.url], &[])
        .await;
    assert!(
        err.contains(
            "error: disk.qcow2.zst of release 1.0.0 does not match its manifest: expected sha256 "
        ),
        "{err}"
    );
    assert!(err.contains("the partial download was deleted"), "{err}");
    assert!(
        err.contains("hint: run `stack-emulator pull` again"),
        "{err}"
    );
    assert!(
        !part(&case, "1.0.0", "disk.qcow2.zst").exists(),
        "the bad .part was kept"
    );
    assert_nothing_installed(&case, "1.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_and_server_errors_are_named_with_the_url() {
    let case = Case::new("status");
    case.synthetic_release("1.0.0", 1 << 20).await;
    let server = Server::start(&case.releases).await;
    let err = case
        .fails(&["pull", "--version", "9.9.9", "--from", &server.url], &[])
        .await;
    assert!(
        err.contains(&format!(
            "error: {}/9.9.9/manifest.json was not found (HTTP 404)",
            server.url
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: `stack-emulator list-releases` shows the versions"),
        "{err}"
    );

    server.fault("index.json", Fault::Status(500), 1);
    let err = case.fails(&["pull", "--from", &server.url], &[]).await;
    assert!(
        err.contains(&format!(
            "error: the release server answered HTTP 500 for {}/index.json",
            server.url
        )),
        "{err}"
    );

    server.fault("vmlinuz", Fault::Status(500), 1);
    let err = case
        .fails(&["pull", "--version", "1.0.0", "--from", &server.url], &[])
        .await;
    assert!(
        err.contains("answered HTTP 500 for ") && err.contains("/1.0.0/vmlinuz"),
        "{err}"
    );
    assert_nothing_installed(&case, "1.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_of_an_unknown_format_names_both_versions() {
    let case = Case::new("format");
    case.synthetic_release("1.0.0", 1 << 20).await;
    let path = case.releases.join("1.0.0/manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["format"] = 2.into();
    std::fs::write(&path, manifest.to_string()).unwrap();
    let server = Server::start(&case.releases).await;
    let err = case
        .fails(&["pull", "--version", "1.0.0", "--from", &server.url], &[])
        .await;
    assert!(
        err.contains(&format!(
            "error: the release manifest {}/1.0.0/manifest.json has format 2; this build of stack-emulator reads format 1",
            server.url
        )),
        "{err}"
    );
    assert!(err.contains("hint: update stack-emulator"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_keeps_the_partial_file_and_the_next_pull_resumes_it() {
    let case = Case::new("sigint");
    let source = case.synthetic_release("1.0.0", DISK_BYTES).await;
    let server = Server::start(&case.releases).await;
    server.throttle(Some(1 << 20));
    let child = case
        .command(&["pull", "--version", "1.0.0", "--from", &server.url], &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let part = part(&case, "1.0.0", "disk.qcow2.zst");
    wait_until(
        "part of the disk to arrive",
        Duration::from_secs(30),
        || std::fs::metadata(&part).is_ok_and(|m| m.len() > 256 << 10),
    )
    .await;
    let pid = child.id().unwrap();
    assert!(send_signal(pid, libc::SIGINT));
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    assert!(
        stderr(&out).contains("error: the download was interrupted; ")
            && stderr(&out).contains("hint: run `stack-emulator pull` again to resume it"),
        "{}",
        show(&out)
    );
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept > 0 && kept < DISK_BYTES as u64, "kept {kept} bytes");
    assert_nothing_installed(&case, "1.0.0");

    server.throttle(None);
    let out = case
        .ok(&["pull", "--version", "1.0.0", "--from", &server.url], &[])
        .await;
    let requests = server.seen_for("disk.qcow2.zst");
    assert_eq!(
        requests.last().unwrap().range.as_deref(),
        Some(format!("bytes={kept}-").as_str()),
        "{requests:?}"
    );
    assert!(stderr(&out).contains("disk.qcow2.zst: "), "{}", show(&out));
    assert_eq!(
        server.seen_for("vmlinuz").len(),
        1,
        "the finished kernel was fetched again"
    );
    assert_installed_like(&case, "1.0.0", &source);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_in_a_log_is_plain_periodic_lines() {
    let case = Case::new("progress");
    case.synthetic_release("1.0.0", DISK_BYTES).await;
    let server = Server::start(&case.releases).await;
    // About 4 s for the disk: two or more lines at one per 2 s.
    server.throttle(Some(3 << 19));
    let out = case
        .ok(&["pull", "--version", "1.0.0", "--from", &server.url], &[])
        .await;
    let err = stderr(&out);
    assert!(
        !err.contains('\r') && !err.contains('\x1b'),
        "terminal codes in a log:\n{err}"
    );
    let lines: Vec<&str> = err.lines().map(str::trim).collect();
    let size = std::fs::metadata(case.releases.join("1.0.0/disk.qcow2.zst"))
        .unwrap()
        .len();
    let total = format!("{:.1} MiB", size as f64 / f64::from(1u32 << 20));
    assert!(
        lines.contains(&format!("disk.qcow2.zst: {total}").as_str()),
        "{err}"
    );
    let periodic: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("disk.qcow2.zst: ") && l.contains(&format!(" / {total} (")))
        .collect();
    assert!(!periodic.is_empty(), "no periodic progress line:\n{err}");
    for line in &periodic {
        assert!(
            line.contains("%), ") && line.contains(" MiB/s, ETA "),
            "{line}"
        );
    }
    let summary = lines
        .iter()
        .find(|l| l.starts_with(&format!("disk.qcow2.zst: {total} in ")))
        .unwrap_or_else(|| panic!("no summary line:\n{err}"));
    assert!(summary.ends_with(" MiB/s)"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_shows_no_progress() {
    let case = Case::new("quiet");
    case.synthetic_release("1.0.0", 1 << 20).await;
    let server = Server::start(&case.releases).await;
    let out = case
        .ok(
            &[
                "--quiet",
                "pull",
                "--version",
                "1.0.0",
                "--from",
                &server.url,
            ],
            &[],
        )
        .await;
    assert_eq!(stderr(&out), "", "{}", show(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_folder_and_the_environment_variable_work_as_sources() {
    let case = Case::new("local");
    let source = case.synthetic_release("1.0.0", 1 << 20).await;
    let from = format!("file://{}", case.releases.display());
    case.ok(
        &["pull", "--skip-snapshot"],
        &[("STACK_EMULATOR_RELEASES_URL", &from)],
    )
    .await;
    assert_installed_like(&case, "1.0.0", &source);
}

/// A 4 MiB tmpfs as the images directory: the pull is refused up front.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_refused_before_anything_is_written() {
    let case = Case::new("full");
    case.synthetic_release("1.0.0", DISK_BYTES).await;
    let tmpfs = Tmpfs::mount(&case.root.join("small"), "4m").expect(NEEDS_ROOT);
    let mount = tmpfs.0.clone();
    let server = Server::start(&case.releases).await;
    let images = mount.to_str().unwrap();
    let err = case
        .fails(
            &["pull", "--version", "1.0.0", "--from", &server.url],
            &[("STACK_EMULATOR_IMAGES", images)],
        )
        .await;
    assert!(
        err.contains(&format!(
            "error: not enough space in {images}: release 1.0.0 needs "
        )),
        "{err}"
    );
    assert!(
        err.contains("MiB more, but only ") && err.contains("nothing was installed"),
        "{err}"
    );
    assert!(err.contains("hint: free some space"), "{err}");
    assert!(!mount.join("1.0.0").exists());
    assert!(
        server.seen_for("disk.qcow2.zst").is_empty(),
        "it downloaded anyway"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_source_is_spoken_to_with_tls() {
    let case = Case::new("tls");
    case.synthetic_release("1.0.0", 1 << 20).await;
    let server = Server::start(&case.releases).await;
    // The loopback server speaks plain HTTP, so the TLS handshake must fail.
    let https = server.url.replace("http://", "https://");
    let err = case.fails(&["pull", "--from", &https], &[]).await;
    assert!(
        err.contains(&format!(
            "error: cannot reach the release server for {https}/index.json"
        )),
        "{err}"
    );
    assert!(
        err.contains("received corrupt message"),
        "not a TLS handshake: {err}"
    );
    assert_nothing_installed(&case, "1.0.0");
}

/// The disk fills up while the disk image is decoded. To get past the check
/// up front, the release's manifest understates the decoded size (test data),
/// as if something else had filled the disk in the meantime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_up_during_the_install_leaves_nothing_half_installed() {
    let case = Case::new("fills");
    let dir = case.synthetic_image("src", 1 << 20);
    // 16 MiB that compress to about 1 MiB.
    let mut disk = crate::harness::noise(1 << 20, 3);
    disk.resize(16 << 20, 0);
    std::fs::write(dir.join("disk.qcow2"), &disk).unwrap();
    let manifest_path = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["disk"] = serde_json::json!({
        "size": disk.len(),
        "sha256": crate::harness::sha256_hex(&disk),
    });
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    case.package(&case.sources, "src", "1.0.0").await;
    let release_manifest = case.releases.join("1.0.0/manifest.json");
    let mut release: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&release_manifest).unwrap()).unwrap();
    release["disk"]["decoded"]["size"] = 1024.into();
    std::fs::write(&release_manifest, release.to_string()).unwrap();

    let tmpfs = Tmpfs::mount(&case.root.join("small"), "12m").expect(NEEDS_ROOT);
    let images = tmpfs.0.to_str().unwrap();
    let server = Server::start(&case.releases).await;
    let err = case
        .fails(
            &["pull", "--version", "1.0.0", "--from", &server.url],
            &[("STACK_EMULATOR_IMAGES", images)],
        )
        .await;
    assert!(
        err.contains(&format!(
            "error: not enough space in {images}: release 1.0.0 needs "
        )),
        "{err}"
    );
    assert_eq!(
        server.seen_for("disk.qcow2.zst").len(),
        1,
        "it did not get to the download"
    );
    assert!(
        !tmpfs.0.join("1.0.0").exists(),
        "a half-installed image is left"
    );
    assert!(
        !tmpfs.0.join(".1.0.0.partial").exists(),
        "the staging folder is left"
    );
    assert!(!tmpfs.0.join("active").exists());
}
