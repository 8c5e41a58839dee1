//! `bench`: cold boot, capture, pristine resume, session resume, hibernate and
//! rotation, measured in one run on a throw-away state directory, printed as a
//! table with the resume/cold ratios.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use stack_emulator::home::Home;
use stack_emulator::printer::Printer;

/// One run of `stack-emulator ARGS` in the bench's own state directory.
struct Bench {
    exe: PathBuf,
    home: PathBuf,
    snapshots: PathBuf,
    images: PathBuf,
    cache: PathBuf,
    ports: [u16; 4],
}

impl Bench {
    fn run(&self, args: &[&str]) -> anyhow::Result<(Duration, String)> {
        let started = Instant::now();
        let out = Command::new(&self.exe)
            .args(args)
            .env("STACK_EMULATOR_HOME", &self.home)
            .env("STACK_EMULATOR_SNAPSHOTS", &self.snapshots)
            .env("STACK_EMULATOR_IMAGES", &self.images)
            .env("STACK_EMULATOR_CACHE", &self.cache)
            .env("STACK_EMULATOR_DASHBOARD_PORT", self.ports[0].to_string())
            .env("STACK_EMULATOR_API_PORT", self.ports[1].to_string())
            .env("STACK_EMULATOR_MAIL_PORT", self.ports[2].to_string())
            .env("STACK_EMULATOR_OAUTH_PORT", self.ports[3].to_string())
            .output()
            .context("cannot run stack-emulator")?;
        let took = started.elapsed();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!(
                "`stack-emulator {}` failed during the benchmark:\n{text}",
                args.join(" ")
            );
        }
        Ok((took, text))
    }
}

/// A `timing NAME … SECONDS s` line of `start --timings`.
fn timing(text: &str, name: &str) -> Option<Duration> {
    text.lines()
        .filter_map(|l| l.strip_prefix("timing "))
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().rev().nth(1))
        .and_then(|secs| secs.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
}

/// Rotation as the `timing rotation: X s via the agent …` line reports it.
fn rotation(text: &str) -> Option<Duration> {
    text.lines()
        .find_map(|l| l.strip_prefix("timing rotation: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|secs| secs.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
}

fn free_ports() -> anyhow::Result<[u16; 4]> {
    let held: Vec<TcpListener> = (0..4)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    let mut ports = [0u16; 4];
    for (slot, l) in ports.iter_mut().zip(&held) {
        *slot = l.local_addr()?.port();
    }
    Ok(ports)
}

/// The running QEMU's resident memory (Linux only).
fn qemu_rss_bytes(home: &std::path::Path) -> Option<u64> {
    let pid = std::fs::read_to_string(home.join("run/qemu.pid")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Runs the benchmark and prints the table on stdout.
///
/// # Errors
/// Any step that fails.
pub async fn bench(home: &Home, printer: &Printer) -> anyhow::Result<()> {
    let root = home.cache().join(format!("bench-{}", std::process::id()));
    let b = Bench {
        exe: std::env::current_exe().context("cannot find this program")?,
        home: root.join("home"),
        snapshots: root.join("snapshots"),
        images: home.images(),
        cache: home.cache(),
        ports: free_ports()?,
    };
    let result = measure(&b, printer).await;
    let _ = b.run(&["stop"]);
    let _ = std::fs::remove_dir_all(&root);
    let rows = result?;
    let cold = rows
        .iter()
        .find(|(n, _)| *n == "cold boot to ready")
        .map(|(_, d)| *d);
    printer.result(&format!(
        "{:<34} {:>9}  {:>13}",
        "measure (TCG or KVM as detected)", "seconds", "vs cold boot"
    ));
    for (name, d) in &rows {
        let ratio = match (cold, name.contains("resume")) {
            (Some(c), true) if c.as_secs_f64() > 0.0 => {
                format!("1/{:.1}", c.as_secs_f64() / d.as_secs_f64())
            }
            _ => String::new(),
        };
        printer.result(&format!("{name:<34} {:>9.3}  {ratio:>13}", d.as_secs_f64()));
    }
    Ok(())
}

async fn measure(b: &Bench, printer: &Printer) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    let mut rows = Vec::new();
    let step = |s: &str| printer.step(s);
    step("cold boot (start --cold on a new state directory)");
    let (cold, _) = b.run(&["start", "--cold", "--timings"])?;
    rows.push(("cold boot to ready", cold));
    b.run(&["reset", "--yes"])?;

    step("first start: cold boot, capture, pristine resume");
    let (_, text) = b.run(&["start", "--timings"])?;
    if let Some(capture) = timing(&text, "pristine capture") {
        rows.push(("capture (RAM + devices to file)", capture));
    }
    b.run(&["reset", "--yes"])?;

    step("pristine resume (new session on the captured snapshot)");
    let (pristine, text) = b.run(&["start", "--timings"])?;
    rows.push(("pristine resume to ready", pristine));
    if let Some(r) = rotation(&text) {
        rows.push(("  of which key rotation", r));
    }

    let disk = stack_emulator::space::disk_usage(&b.snapshots);
    let rss = qemu_rss_bytes(&b.home);
    printer.step(&format!(
        "pristine snapshot on disk: {} MiB; QEMU resident memory: {}",
        disk >> 20,
        rss.map_or_else(|| "unknown".to_owned(), |r| format!("{} MiB", r >> 20))
    ));

    step("hibernate (stop)");
    let (hibernate, text) = b.run(&["stop"])?;
    if !text.contains("hibernated") {
        bail!("stop did not hibernate:\n{text}");
    }
    rows.push(("hibernate", hibernate));

    step("session resume (start after stop)");
    let (session, _) = b.run(&["start", "--timings"])?;
    rows.push(("session resume to ready", session));
    Ok(rows)
}
