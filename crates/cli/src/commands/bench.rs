//! `bench`: cold boot, capture, pristine resume, session resume, hibernate,
//! rotation and the config file's sync, measured in one run on a throw-away
//! state directory, printed as a table with the resume/cold ratios.

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
        "{:<36} {:>9}  {:>13}",
        "measure (TCG or KVM as detected)", "seconds", "vs cold boot"
    ));
    for (name, d) in &rows {
        let ratio = match (cold, name.contains("resume")) {
            (Some(c), true) if c.as_secs_f64() > 0.0 => {
                format!("1/{:.1}", c.as_secs_f64() / d.as_secs_f64())
            }
            _ => String::new(),
        };
        printer.result(&format!("{name:<36} {:>9.4}  {ratio:>13}", d.as_secs_f64()));
    }
    if let Some((_, d)) = rows.iter().find(|(n, _)| n.starts_with("6 keep-alive")) {
        let per_second = 1.0 / d.as_secs_f64().max(1e-9);
        printer.result(&format!(
            "{:<36} {per_second:>9.0}  requests/s through the forwarded port",
            "6 keep-alive conns: throughput"
        ));
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

    step("config file: 200 keys read and applied, then 100 live edits");
    rows.extend(config_sync_rows(b).await?);

    step("forwarded API port: 100 new connections together, then 6 keep-alive connections");
    rows.extend(network_rows(b.ports[1]).await?);
    Ok(rows)
}

/// How many connections open together, and how long the keep-alive run lasts.
const NEW_CONNECTIONS: usize = 100;
const KEEP_ALIVE_CONNECTIONS: usize = 6;
const KEEP_ALIVE_RUN: Duration = Duration::from_secs(3);

/// The forwarded API port as a browser or a parallel test suite uses it:
/// connect times of 100 connections opened together (and held), and the
/// wall time per `GET /health` over 6 keep-alive connections (its inverse
/// is the requests per second).
async fn network_rows(port: u16) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let connects: Vec<_> = (0..NEW_CONNECTIONS)
        .map(|_| {
            tokio::spawn(async move {
                let t = Instant::now();
                let stream = tokio::time::timeout(
                    Duration::from_secs(10),
                    tokio::net::TcpStream::connect(addr),
                )
                .await
                .map_err(|_| anyhow::anyhow!("a connection to {addr} took over 10 s"))??;
                Ok::<_, anyhow::Error>((t.elapsed(), stream))
            })
        })
        .collect();
    let mut times = Vec::new();
    let mut held = Vec::new();
    for task in connects {
        let (t, stream) = task.await??;
        times.push(t);
        held.push(stream);
    }
    drop(held);

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(KEEP_ALIVE_CONNECTIONS)
        .timeout(Duration::from_secs(10))
        .build()?;
    let url = format!("http://127.0.0.1:{port}/health");
    let started = Instant::now();
    let workers: Vec<_> = (0..KEEP_ALIVE_CONNECTIONS)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let mut done = 0u32;
                while started.elapsed() < KEEP_ALIVE_RUN {
                    let r = http.get(&url).send().await?;
                    if !r.status().is_success() {
                        bail!("GET /health answered {}", r.status());
                    }
                    r.bytes().await?;
                    done += 1;
                }
                Ok::<_, anyhow::Error>(done)
            })
        })
        .collect();
    let mut requests = 0u32;
    for w in workers {
        requests += w.await??;
    }
    let per_request = started.elapsed() / requests.max(1);
    Ok(vec![
        (
            "100 new connections: connect p50",
            percentile(&mut times, 0.5),
        ),
        (
            "100 new connections: connect p99",
            percentile(&mut times, 0.99),
        ),
        ("6 keep-alive conns: per /health", per_request),
    ])
}

/// A config file of `keys` data-vault stores, the `edit`th edit of it.
fn config_with_keys(keys: usize, edit: usize) -> String {
    let stores: Vec<String> = (0..keys)
        .map(|i| {
            let name = if i == 0 {
                format!("edit {edit}")
            } else {
                format!("Store {i}")
            };
            format!("      s{i}: {{ displayName: \"{name}\" }},")
        })
        .collect();
    format!(
        "export const config = {{\n  dataVault: {{\n    stores: {{\n{}\n    }},\n  }},\n}};\n",
        stores.join("\n")
    )
}

/// The value at `fraction` of the sorted `samples`.
fn percentile(samples: &mut [Duration], fraction: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * fraction).round() as usize;
    samples.get(index).copied().unwrap_or_default()
}

/// Host-side reading of a 200-key config file, its application in the guest
/// (one round trip), and how long an edit of the file takes to be live in
/// the guest with the config sync running (100 edits).
async fn config_sync_rows(b: &Bench) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    use stack_emulator::config_sync;
    const KEYS: usize = 200;
    const EDITS: usize = 100;
    let dir = b.home.join("bench-app");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("hexclave.config.ts");
    std::fs::write(&file, config_with_keys(KEYS, 0))?;
    let file_arg = file.to_string_lossy().into_owned();
    b.run(&[
        "credentials",
        "--format",
        "json",
        "--config-file",
        &file_arg,
    ])?;
    let home = Home::at(b.home.clone());
    let api = config_sync::Api::of(&home)?;

    let (mut read, mut applied) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let t = Instant::now();
        let local = config_sync::read_config(&file)?;
        read.push(t.elapsed());
        let t = Instant::now();
        api.project(&file, Some(&local.branch_text)).await?;
        applied.push(t.elapsed());
    }

    let mut live = Vec::new();
    for edit in 1..=EDITS {
        let marker = format!("edit {edit}\"");
        std::fs::write(&file, config_with_keys(KEYS, edit))?;
        let t = Instant::now();
        loop {
            let answer = api.project(&file, None).await?;
            if answer.branch_config_override_string.contains(&marker) {
                break;
            }
            if t.elapsed() > Duration::from_secs(30) {
                bail!("edit {edit} of the config file did not reach the guest within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        live.push(t.elapsed());
    }
    Ok(vec![
        (
            "config file read, 200 keys (median)",
            percentile(&mut read, 0.5),
        ),
        (
            "config file applied (median)",
            percentile(&mut applied, 0.5),
        ),
        (
            "config edit live in guest (p50)",
            percentile(&mut live, 0.5),
        ),
        (
            "config edit live in guest (p99)",
            percentile(&mut live, 0.99),
        ),
    ])
}
