//! Pull throughput against `curl` on the same file from the same loopback
//! server. Ignored in normal runs; `scripts/bench-pull` runs it on a release
//! build and prints the figures.

use std::path::PathBuf;
use std::time::Instant;

use crate::harness::{Case, stderr};
use crate::server::Server;

/// Rounds per tool, alternating; the median and the best are reported (the
/// best is the least disturbed by other work on a shared machine).
const ROUNDS: usize = 9;

/// (median, best)
fn stats(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[values.len() / 2], values[0])
}

/// The seconds `pull` reports for the disk (`disk.qcow2.zst: X MiB in Y s`).
fn reported_seconds(stderr: &str) -> f64 {
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("disk.qcow2.zst: ") && l.contains(" in "))
        .unwrap_or_else(|| panic!("no summary line in\n{stderr}"));
    line.split(" in ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run scripts/bench-pull"]
async fn bench_pull_against_curl() {
    let case = Case::new("bench");
    let cached = std::env::var_os("STACK_EMULATOR_TEST_IMAGES").map_or_else(
        || PathBuf::from(crate::common::checkout_images_dir()),
        PathBuf::from,
    );
    let what = match std::fs::read_to_string(cached.join("active")) {
        Ok(version) => {
            case.package(&cached, version.trim(), "1.0.0").await;
            format!("the guest image {}", version.trim())
        }
        Err(_) => {
            let dir = case.synthetic_image("src", 96 << 20);
            case.package(&case.sources, "src", "1.0.0").await;
            format!("synthetic test data in {}", dir.display())
        }
    };
    let file = case.releases.join("1.0.0/disk.qcow2.zst");
    let size = std::fs::metadata(&file).unwrap().len() as f64;
    let mib = size / f64::from(1u32 << 20);
    let server = Server::start(&case.releases).await;
    let url = format!("{}/1.0.0/disk.qcow2.zst", server.url);
    let target = case.root.join("curl.out");
    let (mut curl, mut download, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let t = Instant::now();
        let status = tokio::process::Command::new("curl")
            .args(["-sS", "-o"])
            .arg(&target)
            .arg(&url)
            .status()
            .await
            .unwrap();
        assert!(status.success(), "curl failed");
        curl.push(t.elapsed().as_secs_f64());
        let _ = std::fs::remove_file(&target);

        let home = case.root.join(format!("pull-{round}"));
        let t = Instant::now();
        let out = case
            .command(
                &[
                    "pull",
                    "--skip-snapshot",
                    "--version",
                    "1.0.0",
                    "--from",
                    &server.url,
                ],
                &[],
            )
            .env("STACK_EMULATOR_HOME", &home)
            .output()
            .await
            .unwrap();
        whole.push(t.elapsed().as_secs_f64());
        assert!(out.status.success(), "{}", stderr(&out));
        download.push(reported_seconds(&stderr(&out)));
        let _ = std::fs::remove_dir_all(&home);
    }
    let (curl, download, whole) = (stats(curl), stats(download), stats(whole));
    println!(
        "pull throughput, {what}: disk.qcow2.zst {mib:.1} MiB from a loopback server, {ROUNDS} rounds"
    );
    println!("                                  median                       best");
    for (name, (median, best)) in [
        ("curl -o FILE", curl),
        ("pull: disk download + sha256", download),
    ] {
        println!(
            "{name:<30} {median:>6.3} s {:>7.1} MiB/s   {best:>6.3} s {:>7.1} MiB/s",
            mib / median,
            mib / best
        );
    }
    println!(
        "pull / curl throughput: {:.0}% (median), {:.0}% (best)",
        100.0 * curl.0 / download.0,
        100.0 * curl.1 / download.1
    );
    println!(
        "pull, whole command (all files, zstd decode, install): {:.3} s median, {:.3} s best",
        whole.0, whole.1
    );
}
