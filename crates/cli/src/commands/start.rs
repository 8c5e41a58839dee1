//! `start`: bring the VM up (or say it already is) and print the URLs.

use std::fs;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail};
use stack_vm::launch::{Accelerator, HostForward, LaunchSpec, MemoryBackend, RootDiskBus};

use crate::guest::{self, GUEST_API_PORT};
use crate::home::Home;
use crate::image::{self, Image};
use crate::ports::Ports;
use crate::preflight;
use crate::printer::Printer;
use crate::secrets::Secrets;
use crate::session::{self, Liveness, SessionFiles, SessionState};

/// How long a cold boot may take before it counts as failed. TCG boots in
/// seconds; this leaves room for a loaded laptop without hanging forever.
const BOOT_DEADLINE: Duration = Duration::from_secs(180);
/// How long `start` waits for another command that holds the state directory.
const LOCK_WAIT: Duration = Duration::from_secs(600);

/// What `start` was asked to do.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Host ports.
    pub ports: Ports,
    /// Guest RAM.
    pub memory_mib: u32,
    /// vCPUs.
    pub vcpus: u8,
    /// Print phase timings.
    pub timings: bool,
    /// Source tree for an image build.
    pub source: Option<PathBuf>,
}

/// How `start` ended.
#[derive(Debug)]
pub enum Started {
    /// It was already running.
    AlreadyRunning(SessionState),
    /// This call started it.
    Started(SessionState),
}

impl Started {
    /// The session.
    pub fn state(&self) -> &SessionState {
        match self {
            Self::AlreadyRunning(s) | Self::Started(s) => s,
        }
    }
}

/// Waits for the state directory's lock.
pub async fn lock(home: &Home, printer: &Printer) -> anyhow::Result<fs::File> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut told = false;
    loop {
        match home.try_lock() {
            Ok(file) => return Ok(file),
            Err(crate::home::HomeError::Busy { .. }) if Instant::now() < deadline => {
                if !told {
                    printer.step("another stack-emulator command is using this state directory; waiting for it");
                    told = true;
                }
                // Poll interval while the other command works; not a guess at its timing.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Starts the emulator.
///
/// # Errors
/// Preflight, image, port, QEMU and guest failures, each with a hint.
pub async fn start(home: &Home, printer: &Printer, opts: &StartOptions) -> anyhow::Result<Started> {
    let _lock = lock(home, printer).await?;
    let files = SessionFiles::of(home);
    match session::liveness(&files) {
        Liveness::Running(state) => return Ok(Started::AlreadyRunning(state)),
        Liveness::Died(state) => {
            printer.warn(&format!(
                "the emulator was not stopped cleanly (QEMU, pid {}, is gone); starting it again from its disk",
                state.pid
            ));
            session::clear_runtime_files(&files);
        }
        Liveness::Stopped => {}
    }
    let mut timings = Vec::new();
    let t = Instant::now();
    let qemu = preflight::find_qemu()?;
    let image = ensure_image(home, printer, opts.source.clone()).await?;
    timings.push(("image check", t.elapsed()));

    opts.ports.check_free().map_err(|e| {
        anyhow!(
            "{e}\nhint: stop what uses it, or pick another port with {} or {}=PORT",
            e.service.flag,
            e.service.env
        )
    })?;
    prepare_overlay(&qemu.img, &image, &files, printer)?;
    write_config_iso(&files.config_iso, &opts.ports)?;

    let t = Instant::now();
    let accel = crate::accel::choose(home, &qemu.system).await;
    if accel.accelerator == Accelerator::Tcg {
        printer.warn(&format!(
            "running under TCG software emulation: {}",
            accel.reason
        ));
    }
    timings.push(("accelerator", t.elapsed()));

    let spec = launch_spec(&qemu.system, accel.accelerator, &image, &files, opts)?;
    let t = Instant::now();
    printer.step(&format!(
        "starting the VM ({}, {} MiB, {} vCPUs)",
        accel.accelerator.qemu_name(),
        opts.memory_mib,
        opts.vcpus
    ));
    let mut child = spawn_qemu(&spec, &files)?;
    let pid = child.id();
    let state = SessionState {
        pid,
        ports: opts.ports,
        accelerator: accel.accelerator.qemu_name().to_owned(),
        accelerator_reason: accel.reason.clone(),
        image_version: image.manifest.version.clone(),
        started_at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        boot: "cold-boot".into(),
    };
    state
        .save(&files)
        .context("cannot write the session state")?;

    let booted = wait_ready(printer, &files, &mut child, opts.ports.api).await;
    if let Err(e) = booted {
        let _ = session::signal(pid, "TERM");
        session::wait_gone(pid, Duration::from_secs(5)).await;
        session::clear_runtime_files(&files);
        return Err(e);
    }
    timings.push(("boot to healthy", t.elapsed()));

    let t = Instant::now();
    let secured = secure(&files, printer, opts.ports).await;
    if let Err(e) = secured {
        // Never leave a VM serving with keys this install did not make.
        let _ = session::signal(pid, "TERM");
        session::wait_gone(pid, Duration::from_secs(5)).await;
        session::clear_runtime_files(&files);
        return Err(e);
    }
    timings.push(("secrets", t.elapsed()));
    if opts.timings {
        if let Ok(r) = &secured {
            printer.result(&format!(
                "timing rotation: {:.3} s via the agent ({:.1} ms transaction, {:.1} ms until the server confirmed)",
                r.total.as_secs_f64(),
                r.apply_ms,
                r.confirm_ms
            ));
        }
        for (name, d) in &timings {
            printer.result(&format!("timing {name:<16} {:>8.3} s", d.as_secs_f64()));
        }
    }
    Ok(Started::Started(state))
}

async fn ensure_image(
    home: &Home,
    printer: &Printer,
    source: Option<PathBuf>,
) -> anyhow::Result<Image> {
    let image = match image::active(home) {
        Ok(image) => image,
        Err(image::ImageError::NotInstalled(_)) => {
            printer.step("no guest image installed; building one (this takes a few minutes once)");
            let source = image::source_root(source)?;
            let home = home.clone();
            let verbosity_printer = Printer::new(crate::printer::Verbosity::Normal);
            tokio::task::spawn_blocking(move || {
                image::build(&home, &source, false, &verbosity_printer)
            })
            .await??
        }
        Err(e) => return Err(e.into()),
    };
    let check = image.clone();
    tokio::task::spawn_blocking(move || image::verify(&check)).await??;
    Ok(image)
}

/// The overlay that holds the session's data, on top of the image's base disk.
fn prepare_overlay(
    qemu_img: &Path,
    image: &Image,
    files: &SessionFiles,
    printer: &Printer,
) -> anyhow::Result<()> {
    let marker = files.overlay.with_extension("image");
    if files.overlay.exists() {
        let based_on = fs::read_to_string(&marker).unwrap_or_default();
        if !based_on.is_empty() && based_on.trim() != image.manifest.version {
            bail!(
                "the session's data was made with image {}, but the active image is {}\nhint: `stack-emulator reset` starts over with the active image (it deletes the session's data)",
                based_on.trim(),
                image.manifest.version
            );
        }
        return Ok(());
    }
    printer.step("creating the session disk");
    let base = fs::canonicalize(image.disk()).context("cannot find the image's disk")?;
    let status = Command::new(qemu_img)
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(&base)
        .arg(&files.overlay)
        .status()
        .context("cannot run qemu-img")?;
    if !status.success() {
        bail!(
            "qemu-img could not create {}\nhint: is the disk full? (`df -h {}`)",
            files.overlay.display(),
            files
                .overlay
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    fs::write(&marker, &image.manifest.version)
        .context("cannot record the session disk's image")?;
    Ok(())
}

/// The runtime-config ISO: non-secret settings the guest reads at a cold boot.
fn write_config_iso(path: &Path, ports: &Ports) -> anyhow::Result<()> {
    let config = serde_json::json!({
        "format": 1,
        "public_urls": {
            "api": ports.api_url(),
            "dashboard": format!("http://localhost:{}", ports.dashboard),
            "mail": format!("http://localhost:{}", ports.mail),
            "oauth": format!("http://localhost:{}", ports.oauth),
        }
    });
    let mut builder = iso9660::ImageBuilder::new(iso9660::VolumeId::parse("STACKCFG")?);
    builder.add_file(
        iso9660::FileName::parse("config.json")?,
        serde_json::to_vec_pretty(&config)?,
    )?;
    let image = builder.build()?;
    let tmp = path.with_extension("iso.tmp");
    let file = fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    image.write_to(std::io::BufWriter::new(file))?;
    fs::rename(&tmp, path)?;
    Ok(())
}

fn launch_spec(
    qemu: &Path,
    accelerator: Accelerator,
    image: &Image,
    files: &SessionFiles,
    opts: &StartOptions,
) -> anyhow::Result<LaunchSpec> {
    let initrd = image.initrd();
    let forward = |host: u16, guest: u16| -> anyhow::Result<HostForward> {
        Ok(HostForward {
            host_port: NonZeroU16::new(host)
                .ok_or_else(|| anyhow!("port 0 is not a valid host port"))?,
            guest_port: NonZeroU16::new(guest)
                .ok_or_else(|| anyhow!("port 0 is not a valid guest port"))?,
        })
    };
    Ok(LaunchSpec {
        qemu_binary: qemu.to_path_buf(),
        accelerator,
        cpu_model: None,
        memory_mib: opts.memory_mib,
        vcpus: opts.vcpus,
        memory_backend: MemoryBackend::Anonymous,
        kernel: image.kernel(),
        // A virtio-blk root (migratable, so snapshots work) needs the initrd's driver.
        root_disk_bus: if initrd.is_some() {
            RootDiskBus::VirtioBlk
        } else {
            RootDiskBus::Nvme
        },
        initrd,
        kernel_cmdline: format!(
            "{} {}",
            image.manifest.kernel_cmdline,
            guest::KERNEL_CMDLINE_FAST
        ),
        root_disk: files.overlay.clone(),
        config_iso: Some(files.config_iso.clone()),
        host_forwards: vec![forward(opts.ports.api, GUEST_API_PORT)?],
        qmp_socket: files.qmp.clone(),
        qga_socket: files.qga.clone(),
        serial_log: files.serial_log.clone(),
        start_paused: false,
        incoming: None,
    })
}

/// Starts QEMU in the background. The caller keeps the handle only to notice an
/// early exit; dropping it leaves QEMU running (`stop` ends it).
fn spawn_qemu(spec: &LaunchSpec, files: &SessionFiles) -> anyhow::Result<std::process::Child> {
    for stale in [&files.qmp, &files.qga] {
        let _ = fs::remove_file(stale);
    }
    let args = spec.args()?;
    let log = fs::File::create(&files.qemu_log)
        .with_context(|| format!("cannot write {}", files.qemu_log.display()))?;
    let mut command = Command::new(&spec.qemu_binary);
    command
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        // Its own process group: Ctrl-C on `start` must not take the VM down with it.
        command.process_group(0);
    }
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {}", spec.qemu_binary.display()))?;
    fs::write(&files.pid, child.id().to_string()).context("cannot write the pid file")?;
    Ok(child)
}

/// Waits for the guest agent and then the API, showing the phase, until the deadline.
async fn wait_ready(
    printer: &Printer,
    files: &SessionFiles,
    qemu: &mut std::process::Child,
    api_port: u16,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + BOOT_DEADLINE;
    let http = reqwest::Client::new();
    printer.step("booting the guest");
    let mut agent_up = false;
    loop {
        // Our own child: try_wait is exact, where /proc would race with QEMU's exec.
        if let Ok(Some(status)) = qemu.try_wait() {
            bail!(
                "QEMU exited during boot ({status})\n{}\n{}\nhint: the full guest console is in {}",
                indent(&session::tail(&files.qemu_log, 10)),
                indent(&session::tail(&files.serial_log, 20)),
                files.serial_log.display()
            );
        }
        if !agent_up
            && files.qga.exists()
            && let Ok(mut qga) = guest::connect_agent(&files.qga, Duration::from_millis(500)).await
            && qga.ping().await.is_ok()
        {
            agent_up = true;
            printer.step("waiting for PostgreSQL and the API");
        }
        if guest::api_healthy(&http, api_port).await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "the guest did not become healthy within {} s\nlast lines of the guest console:\n{}\nhint: `stack-emulator logs` shows the whole console",
                BOOT_DEADLINE.as_secs(),
                indent(&session::tail(&files.serial_log, 20))
            );
        }
        // Poll interval while the guest boots; not a guess at its timing.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sets the clock and makes sure the guest uses this install's own secrets.
async fn secure(
    files: &SessionFiles,
    printer: &Printer,
    ports: Ports,
) -> anyhow::Result<guest::RotationTimes> {
    let (secrets, fresh) = match Secrets::load(&files.secrets)? {
        Some(s) => (s, false),
        None => (Secrets::generate()?, true),
    };
    let mut qga = guest::connect_agent(&files.qga, Duration::from_secs(10)).await?;
    guest::set_clock(&mut qga).await?;
    printer.step(if fresh {
        "making this install's own keys"
    } else {
        "applying this install's keys"
    });
    let times = guest::rotate(&mut qga, &secrets, &ports.api_url()).await?;
    if fresh {
        secrets.save(&files.secrets)?;
    }
    Ok(times)
}

/// The lines `start` prints when the emulator is up.
pub fn summary(state: &SessionState) -> Vec<String> {
    let p = state.ports;
    vec![
        format!("API        {}", p.api_url()),
        format!("health     {}/health?db=1", p.api_url()),
        "credentials: stack-emulator credentials [--config-file PATH]".to_owned(),
    ]
}
