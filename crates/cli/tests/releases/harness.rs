//! A test case: its own temporary folder with a state directory, a folder of
//! source images, and a release folder, and a runner for the real binary.

use std::path::{Path, PathBuf};
use std::process::Output;

use sha2::{Digest as _, Sha256};

/// The folder of one test; removed when dropped.
pub struct Case {
    pub root: PathBuf,
    /// `STACK_EMULATOR_HOME` of the pulls.
    pub home: PathBuf,
    /// Images that releases are packaged from.
    pub sources: PathBuf,
    /// What the test server serves.
    pub releases: PathBuf,
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Deterministic bytes that do not compress (xorshift64).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn sha256_file(path: &Path) -> String {
    sha256_hex(&std::fs::read(path).unwrap())
}

/// Everything needed to debug a failed command.
pub fn show(out: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Case {
    pub fn new(name: &str) -> Self {
        let root =
            std::env::temp_dir().join(format!("stack-releases-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let case = Self {
            home: root.join("home"),
            sources: root.join("sources"),
            releases: root.join("releases"),
            root,
        };
        for dir in [&case.home, &case.sources, &case.releases] {
            std::fs::create_dir_all(dir).unwrap();
        }
        case
    }

    /// The installed images of the state directory.
    pub fn images(&self) -> PathBuf {
        self.home.join("images")
    }

    /// Writes synthetic test data shaped like a built image (kernel, initrd,
    /// disk of `disk_bytes` random bytes, format-1 manifest) into
    /// `sources/<version>/` and makes it the sources' active image.
    pub fn synthetic_image(&self, version: &str, disk_bytes: usize) -> PathBuf {
        let dir = self.sources.join(version);
        std::fs::create_dir_all(&dir).unwrap();
        let seed = version
            .bytes()
            .fold(7u64, |a, b| a.wrapping_mul(31) ^ u64::from(b));
        let files = [
            ("vmlinuz", noise(300 << 10, seed)),
            ("initrd.img", noise(20 << 10, seed + 1)),
            ("disk.qcow2", noise(disk_bytes, seed + 2)),
        ];
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let entry = |bytes: &Vec<u8>| serde_json::json!({ "size": bytes.len(), "sha256": sha256_hex(bytes) });
        let manifest = serde_json::json!({
            "format": 1,
            "version": version,
            "arch": std::env::consts::ARCH,
            "created": format!("2026-11-{:02}T10:00:00Z", 1 + (seed % 28)),
            "input_hash": "0".repeat(64),
            "kernel": entry(&files[0].1),
            "initrd": entry(&files[1].1),
            "disk": entry(&files[2].1),
            "kernel_cmdline": "console=ttyS0 synthetic-test-data",
            "build_info": null
        });
        std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
        std::fs::write(self.sources.join("active"), version).unwrap();
        dir
    }

    /// Runs `stack-emulator ARGS` with this case's state directory.
    pub async fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args, env).output().await.unwrap()
    }

    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_stack-emulator"));
        cmd.args(args)
            .env("STACK_EMULATOR_HOME", &self.home)
            .env_remove("STACK_EMULATOR_IMAGES")
            .env_remove("STACK_EMULATOR_SNAPSHOTS")
            .env_remove("STACK_EMULATOR_CACHE")
            .env_remove("STACK_EMULATOR_RELEASES_URL")
            // These tests are about downloads and installs; the capture that
            // follows a pull boots a VM and is covered by the VM tests.
            .env("STACK_EMULATOR_SKIP_SNAPSHOT", "1")
            .stdin(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a command that must succeed.
    pub async fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let out = self.cli(args, env).await;
        assert!(
            out.status.success(),
            "`stack-emulator {}` failed\n{}",
            args.join(" "),
            show(&out)
        );
        out
    }

    /// Runs a command that must fail; returns its stderr.
    pub async fn fails(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.cli(args, env).await;
        assert_eq!(
            out.status.code(),
            Some(1),
            "`stack-emulator {}` should have failed\n{}",
            args.join(" "),
            show(&out)
        );
        stderr(&out)
    }

    /// Packages the image `image` of the folder `images` as release `version`
    /// into this case's release folder.
    pub async fn package(&self, images: &Path, image: &str, version: &str) {
        let images = images.to_str().unwrap().to_owned();
        let out = self.releases.to_str().unwrap().to_owned();
        self.ok(
            &[
                "package",
                "--out",
                &out,
                "--image",
                image,
                "--version",
                version,
            ],
            &[("STACK_EMULATOR_IMAGES", &images)],
        )
        .await;
    }

    /// A synthetic image packaged as release `version`.
    pub async fn synthetic_release(&self, version: &str, disk_bytes: usize) -> PathBuf {
        let dir = self.synthetic_image(version, disk_bytes);
        self.package(&self.sources.clone(), version, version).await;
        dir
    }
}

/// Waits until `ready` holds, polling; fails the test after `limit`.
pub async fn wait_until(what: &str, limit: std::time::Duration, mut ready: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if ready() {
            return;
        }
        // Poll interval, not a guess at timing.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("timed out after {limit:?} waiting for {what}");
}
