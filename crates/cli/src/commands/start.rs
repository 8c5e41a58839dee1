//! `start`: bring the VM up (or say it already is) and print the URLs.

use std::fs;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail};
use sha2::{Digest as _, Sha256};
use stack_vm::launch::{
    Accelerator, HostForward, Incoming, LaunchSpec, MemoryBackend, RootDiskBus,
};
use stack_vm::qga::QgaClient;
use stack_vm::qmp::QmpClient;

use crate::guest;
use crate::home::Home;
use crate::image::{self, Image};
use crate::ports::Ports;
use crate::preflight;
use crate::printer::Printer;
use crate::secrets::Secrets;
use crate::session::{self, Liveness, SessionFiles, SessionState};
use crate::snapshot::{self, StateFiles, Unusable};

use super::capture::{Captured, capture_pristine, pristine_dir, pristine_state};

/// How long a cold boot may take before it counts as failed. TCG boots in
/// seconds; this leaves room for a loaded laptop without hanging forever.
const BOOT_DEADLINE: Duration = Duration::from_secs(180);
/// What the guest's PID 1 prints first on the console (see guest/init).
const INIT_MARKER: &[u8] = b"stack-init: started";

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
    /// Boot the kernel even when a snapshot could be resumed.
    pub cold: bool,
    /// Keep the image's or snapshot's keys (CI speed; loud warning).
    pub no_rotation: bool,
}

impl StartOptions {
    /// Options for a capture: only the machine shape and the image source
    /// matter (the caller sets them); the capture VM picks its own port.
    pub fn for_capture() -> Self {
        Self {
            ports: Ports::default(),
            memory_mib: 1024,
            vcpus: 2,
            timings: false,
            source: None,
            cold: false,
            no_rotation: false,
        }
    }
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
            session::wait_exited(state.pid, Duration::from_secs(5)).await;
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
    let fingerprint = fingerprint(&spec, &image, &accel.qemu_version);
    let plan = plan_boot(home, &files, &spec, &fingerprint, opts, printer)?;

    let t = Instant::now();
    let mut boot = plan;
    if boot == Boot::CaptureThenResume {
        printer.step("first start of this image and machine: taking its snapshot once");
        match capture_pristine(home, &qemu.img, &image, &spec, &fingerprint, false, printer).await {
            Ok(captured) => {
                if let Captured::Taken(took) = captured {
                    timings.push(("pristine capture", took));
                }
                boot = Boot::PristineResume;
            }
            Err(e) => {
                printer.warn(&format!(
                    "could not capture the pristine snapshot ({e:#}); booting without it"
                ));
                boot = Boot::Cold;
            }
        }
    }
    timings.push(("snapshot preparation", t.elapsed()));

    let t = Instant::now();
    prepare_overlay(
        &qemu.img,
        &image,
        &files,
        &boot_base(home, &fingerprint, boot),
        printer,
    )?;
    let Booted {
        mut child,
        boot,
        agent: held_agent,
    } = run_boot(&spec, &files, home, &fingerprint, boot, printer).await?;
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
        boot: boot.name().into(),
        fingerprint: (spec.root_disk_bus == RootDiskBus::VirtioBlk).then(|| fingerprint.clone()),
    };
    state
        .save(&files)
        .context("cannot write the session state")?;

    let resumed = boot != Boot::Cold;
    let keys = KeyStep {
        files: &files,
        printer,
        ports: opts.ports,
        boot,
        no_rotation: opts.no_rotation,
    };
    let secured = if resumed {
        // A resumed guest already runs every service: the clock and the keys
        // are set while the health check waits. The first failure ends both.
        tokio::try_join!(
            wait_ready(printer, &files, &mut child, opts.ports.api, resumed),
            async {
                let qga = match held_agent {
                    Some(stream) => guest::agent_on(stream, BOOT_DEADLINE).await?,
                    None => agent(files.qga.clone()).await?,
                };
                keys.secure(qga, false).await
            }
        )
        .map(|((), rotation)| rotation)
    } else {
        // The clock is set while the guest boots; the keys once it is healthy.
        let agent = tokio::spawn(agent_with_clock(files.qga.clone()));
        match wait_ready(printer, &files, &mut child, opts.ports.api, resumed).await {
            Err(e) => {
                agent.abort();
                Err(e)
            }
            Ok(()) => {
                timings.push((boot.timing_name(), t.elapsed()));
                match agent.await {
                    Ok(Ok(qga)) => keys.secure(qga, true).await,
                    Ok(Err(e)) => Err(e.into()),
                    Err(e) => Err(anyhow!("the guest-agent task failed: {e}")),
                }
            }
        }
    };
    let rotation = match secured {
        Ok(rotation) => rotation,
        Err(e) => {
            // Never leave a VM serving with keys this install did not make.
            let _ = session::signal(pid, "TERM");
            session::wait_gone(pid, Duration::from_secs(5)).await;
            session::clear_runtime_files(&files);
            return Err(e);
        }
    };
    timings.push(("ready with keys", t.elapsed()));
    if opts.timings {
        if let Some(r) = &rotation {
            printer.result(&format!(
                "timing rotation: {:.3} s via the agent ({:.1} ms transaction, {:.1} ms until the server confirmed)",
                r.total.as_secs_f64(),
                r.apply_ms,
                r.confirm_ms
            ));
            let steps: Vec<String> = r
                .steps_ms
                .iter()
                .map(|(name, ms)| format!("{name} {ms:.1}"))
                .collect();
            printer.result(&format!("timing rotation steps (ms): {}", steps.join(", ")));
        }
        for (name, d) in &timings {
            printer.result(&format!("timing {name:<20} {:>8.3} s", d.as_secs_f64()));
        }
    }
    Ok(Started::Started(state))
}

/// How a start brings the guest up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boot {
    /// Boot the kernel on the session's disk.
    Cold,
    /// Resume the hibernated session.
    SessionResume,
    /// Resume the pristine snapshot on a new session disk.
    PristineResume,
    /// Cold-boot a fresh disk, capture it as the pristine snapshot, then resume it.
    CaptureThenResume,
}

impl Boot {
    /// As `status` shows it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cold => "cold-boot",
            Self::SessionResume => "session-resume",
            Self::PristineResume | Self::CaptureThenResume => "pristine-resume",
        }
    }

    fn timing_name(self) -> &'static str {
        match self {
            Self::Cold => "cold boot to healthy",
            _ => "resume to healthy",
        }
    }
}

/// The fingerprint of everything a snapshot depends on: the machine (from the
/// launch spec, with the QEMU version) and the image's files.
pub(crate) fn fingerprint(spec: &LaunchSpec, image: &Image, qemu_version: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(spec.fingerprint(qemu_version).as_str());
    for part in [
        &image.manifest.kernel.sha256,
        &image.manifest.disk.sha256,
        &image.manifest.kernel_cmdline,
    ] {
        hasher.update([0]);
        hasher.update(part.as_bytes());
    }
    if let Some(initrd) = &image.manifest.initrd {
        hasher.update([0]);
        hasher.update(initrd.sha256.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The session's saved RAM state.
pub fn session_state(files: &SessionFiles) -> StateFiles {
    StateFiles::at(
        files.overlay.parent().unwrap_or(Path::new(".")),
        "session-state",
        files.ram.clone(),
    )
}

/// Decides how to boot, and says why when a saved state cannot be used.
fn plan_boot(
    home: &Home,
    files: &SessionFiles,
    spec: &LaunchSpec,
    fingerprint: &str,
    opts: &StartOptions,
    printer: &Printer,
) -> anyhow::Result<Boot> {
    let saved = session_state(files);
    let snapshots_possible = spec.root_disk_bus == RootDiskBus::VirtioBlk;
    if opts.cold || !snapshots_possible {
        saved.remove();
        return Ok(Boot::Cold);
    }
    if files.overlay.exists() {
        return Ok(match snapshot::check(&saved, fingerprint) {
            Ok(_) => Boot::SessionResume,
            Err(Unusable::Missing) => {
                printer.warn("cold-booting the saved disk: the last session was not hibernated (QEMU ended without `stop`)");
                Boot::Cold
            }
            Err(why) => {
                printer.warn(&format!("cold-booting the saved disk: {why}"));
                saved.remove();
                Boot::Cold
            }
        });
    }
    saved.remove();
    let pristine = pristine_state(home, fingerprint);
    Ok(match snapshot::check(&pristine, fingerprint) {
        Ok(_) => Boot::PristineResume,
        Err(Unusable::Missing) => Boot::CaptureThenResume,
        Err(why) => {
            printer.warn(&format!("capturing the pristine snapshot again: {why}"));
            let _ = fs::remove_dir_all(pristine_dir(home, fingerprint));
            Boot::CaptureThenResume
        }
    })
}

/// What the session disk stands on.
fn boot_base(home: &Home, fingerprint: &str, boot: Boot) -> OverlayBase {
    match boot {
        Boot::PristineResume | Boot::CaptureThenResume => {
            OverlayBase::Snapshot(pristine_dir(home, fingerprint).join("disk.qcow2"))
        }
        Boot::Cold | Boot::SessionResume => OverlayBase::Image,
    }
}

/// Starts QEMU for `boot`; resume failures fall back to a cold boot of the same disk.
/// A QEMU that runs the guest.
struct Booted {
    child: std::process::Child,
    /// How the guest came up (a failed resume becomes a cold boot).
    boot: Boot,
    /// For a resume: the agent connection made before the guest ran.
    agent: Option<tokio::net::UnixStream>,
}

impl Booted {
    fn cold(child: std::process::Child) -> Self {
        Self {
            child,
            boot: Boot::Cold,
            agent: None,
        }
    }
}

async fn run_boot(
    spec: &LaunchSpec,
    files: &SessionFiles,
    home: &Home,
    fingerprint: &str,
    boot: Boot,
    printer: &Printer,
) -> anyhow::Result<Booted> {
    let state = match boot {
        Boot::SessionResume => session_state(files),
        Boot::PristineResume => pristine_state(home, fingerprint),
        Boot::Cold | Boot::CaptureThenResume => {
            // A cold boot starts on empty memory.
            let _ = fs::remove_file(&files.ram);
            printer.step(&format!(
                "starting the VM ({}, {} MiB, {} vCPUs)",
                spec.accelerator.qemu_name(),
                spec.memory_mib,
                spec.vcpus
            ));
            return Ok(Booted::cold(spawn_qemu(spec, files)?));
        }
    };
    printer.step(if boot == Boot::SessionResume {
        "resuming the session"
    } else {
        "resuming the pristine snapshot"
    });
    // A pristine resume gives the session its own RAM file (the pristine one is
    // never written). QEMU maps the empty file while the data is copied in; the
    // copy ends before the guest's state is loaded, so the guest never sees a hole.
    let copy = if boot == Boot::PristineResume {
        let target = snapshot::make_sparse_like(&state.ram, &files.ram)
            .with_context(|| ram_copy_failed(&files.ram))?;
        let from = state.ram.clone();
        Some(tokio::task::spawn_blocking(move || {
            snapshot::fill_sparse(&from, target)
        }))
    } else {
        None
    };
    let mut resume_spec = spec.clone();
    resume_spec.incoming = Some(Incoming::Defer);
    let mut child = spawn_qemu(&resume_spec, files)?;
    let pid = child.id();
    let resumed = async {
        let mut qmp =
            QmpClient::connect_unix_when_ready(&files.qmp, Duration::from_secs(10)).await?;
        let agent = guest::hold_agent(&files.qga).await;
        if let Some(copy) = copy {
            copy.await
                .map_err(|e| anyhow!("the RAM copy stopped: {e}"))?
                .with_context(|| ram_copy_failed(&files.ram))?;
        }
        snapshot::resume(&mut qmp, &state.state).await?;
        Ok::<_, anyhow::Error>(agent)
    }
    .await;
    match resumed {
        Ok(agent) => {
            if boot == Boot::SessionResume {
                // The guest runs on from here; the saved state no longer matches its disk.
                state.remove();
            }
            Ok(Booted { child, boot, agent })
        }
        Err(e) => {
            printer.warn(&format!(
                "the resume failed ({e:#}); cold-booting the same disk instead"
            ));
            session::signal(pid, "KILL");
            session::wait_gone(pid, Duration::from_secs(5)).await;
            let _ = child.try_wait();
            if boot == Boot::SessionResume {
                state.remove();
            }
            printer.step("starting the VM");
            let _ = fs::remove_file(&files.ram);
            Ok(Booted::cold(spawn_qemu(spec, files)?))
        }
    }
}

fn ram_copy_failed(ram: &Path) -> String {
    format!(
        "cannot copy the snapshot's RAM to {}\nhint: is the disk full?",
        ram.display()
    )
}

pub(crate) async fn ensure_image(
    home: &Home,
    printer: &Printer,
    source: Option<PathBuf>,
) -> anyhow::Result<Image> {
    let image = match image::active(home) {
        Ok(image) => image,
        Err(image::ImageError::NotInstalled(_)) => {
            crate::release::install::ensure_image_for_start(home, printer, source).await?
        }
        Err(e) => return Err(e.into()),
    };
    let check = image.clone();
    tokio::task::spawn_blocking(move || image::verify_if_changed(&check)).await??;
    Ok(image)
}

/// What a session disk is layered on.
#[derive(Debug, Clone, PartialEq)]
enum OverlayBase {
    /// The image's base disk.
    Image,
    /// A pristine snapshot's frozen layer.
    Snapshot(PathBuf),
}

/// The overlay that holds the session's data. An existing overlay is kept (it
/// holds the data); a new one is made on `base`.
fn prepare_overlay(
    qemu_img: &Path,
    image: &Image,
    files: &SessionFiles,
    base: &OverlayBase,
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
    let backing = match base {
        OverlayBase::Image => {
            fs::canonicalize(image.disk()).context("cannot find the image's disk")?
        }
        OverlayBase::Snapshot(layer) => {
            fs::canonicalize(layer).context("cannot find the snapshot's disk layer")?
        }
    };
    create_overlay(qemu_img, &backing, &files.overlay)?;
    fs::write(&marker, &image.manifest.version)
        .context("cannot record the session disk's image")?;
    Ok(())
}

pub(crate) fn create_overlay(
    qemu_img: &Path,
    backing: &Path,
    overlay: &Path,
) -> anyhow::Result<()> {
    let status = Command::new(qemu_img)
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(backing)
        .arg(overlay)
        .status()
        .context("cannot run qemu-img")?;
    if !status.success() {
        bail!(
            "qemu-img could not create {}\nhint: is the disk full? (`df -h {}`)",
            overlay.display(),
            overlay
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// The runtime-config ISO: non-secret settings the guest reads at a cold boot.
pub(crate) fn write_config_iso(path: &Path, ports: &Ports) -> anyhow::Result<()> {
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

pub(crate) fn launch_spec(
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
        // RAM in a file that QEMU maps shared: a snapshot then only saves the
        // device state, and the file itself is the RAM image (see snapshot.rs).
        memory_backend: MemoryBackend::File {
            path: files.ram.clone(),
            shared: true,
        },
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
        host_forwards: (opts.ports.forwards().into_iter())
            .map(|(host, guest)| forward(host, guest))
            .collect::<anyhow::Result<_>>()?,
        qmp_socket: files.qmp.clone(),
        qga_socket: files.qga.clone(),
        serial_log: files.serial_log.clone(),
        start_paused: false,
        incoming: None,
    })
}

/// Starts QEMU in the background. The caller keeps the handle only to notice an
/// early exit; dropping it leaves QEMU running (`stop` ends it).
pub(crate) fn spawn_qemu(
    spec: &LaunchSpec,
    files: &SessionFiles,
) -> anyhow::Result<std::process::Child> {
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
pub(crate) async fn wait_ready(
    printer: &Printer,
    files: &SessionFiles,
    qemu: &mut std::process::Child,
    api_port: u16,
    resumed: bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + BOOT_DEADLINE;
    let http = reqwest::Client::new();
    if !resumed {
        printer.step("booting the guest kernel");
    }
    // A resumed guest is past its init; there is no phase to announce.
    let mut init_started = resumed;
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
        if guest::api_healthy(&http, api_port).await {
            return Ok(());
        }
        // The phase comes from the console: PID 1 announces itself there. Reading a
        // small file never delays the health check, where a guest-agent probe could.
        if !init_started
            && fs::read(&files.serial_log)
                .is_ok_and(|log| log.windows(INIT_MARKER.len()).any(|w| w == INIT_MARKER))
        {
            init_started = true;
            printer.step("starting PostgreSQL and the API");
        }
        if Instant::now() >= deadline {
            bail!(
                "the guest did not become healthy within {} s\nlast lines of the guest console:\n{}\nhint: `stack-emulator logs` shows the whole console",
                BOOT_DEADLINE.as_secs(),
                indent(&session::tail(&files.serial_log, 20))
            );
        }
        // Poll interval; not a guess at the guest's timing. A resumed guest
        // answers within a fraction of a second, so it is polled more often.
        let pause = if resumed { 10 } else { 100 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Connects to the guest agent as soon as it answers.
/// (The connection waits for QEMU to create and listen on the socket.)
async fn agent(
    qga_socket: PathBuf,
) -> Result<QgaClient<tokio::net::UnixStream>, guest::GuestError> {
    guest::connect_agent(&qga_socket, BOOT_DEADLINE).await
}

/// Connects to the guest agent as soon as it answers and sets the guest clock.
async fn agent_with_clock(
    qga_socket: PathBuf,
) -> Result<QgaClient<tokio::net::UnixStream>, guest::GuestError> {
    let mut qga = agent(qga_socket).await?;
    guest::set_clock(&mut qga).await?;
    Ok(qga)
}

/// What making sure of the install's keys needs.
struct KeyStep<'a> {
    files: &'a SessionFiles,
    printer: &'a Printer,
    ports: Ports,
    boot: Boot,
    no_rotation: bool,
}

impl KeyStep<'_> {
    /// Makes sure the guest runs with this install's own secrets and the
    /// host's time (`clock_set` says whether the clock is set already).
    async fn secure(
        &self,
        mut qga: QgaClient<tokio::net::UnixStream>,
        clock_set: bool,
    ) -> anyhow::Result<Option<guest::RotationTimes>> {
        let rotation = self.rotate_if_needed(&mut qga, clock_set).await?;
        if rotation.is_none() && !clock_set {
            guest::set_clock(&mut qga).await?;
        }
        Ok(rotation)
    }

    /// A resumed session or a cold-booted session disk already has the
    /// install's keys; it needs a rotation only when the public URL moved
    /// (a rotation with the same keys applies it). A new session gets its keys.
    async fn rotate_if_needed(
        &self,
        qga: &mut QgaClient<tokio::net::UnixStream>,
        clock_set: bool,
    ) -> anyhow::Result<Option<guest::RotationTimes>> {
        let Self {
            files,
            printer,
            ports,
            boot,
            no_rotation,
        } = *self;
        let (secrets, fresh) = match Secrets::load(&files.secrets)? {
            Some(s) => (s, false),
            None => (Secrets::generate()?, true),
        };
        let url_file = files.secrets.with_file_name("public-api-url");
        let url = ports.api_url();
        let url_unchanged = fs::read_to_string(&url_file).is_ok_and(|u| u == url);
        // A resumed session, or a cold boot of this install's own disk, already runs
        // with its keys; only a new public URL (moved ports) needs a rotation.
        if matches!(boot, Boot::SessionResume | Boot::Cold) && !fresh && url_unchanged {
            return Ok(None);
        }
        if no_rotation && !fresh {
            return Ok(None);
        }
        if no_rotation {
            printer.warn("--no-rotation: this VM keeps the keys of its image or snapshot, which other installs share; use it only where nothing but this machine reaches the ports");
            return Ok(None);
        }
        printer.step(if fresh {
            "making this install's own keys"
        } else {
            "applying this install's keys"
        });
        let times = guest::rotate(qga, &secrets, &url, !clock_set).await?;
        if fresh {
            secrets.save(&files.secrets)?;
        }
        fs::write(&url_file, &url).context("cannot record the public URL")?;
        Ok(Some(times))
    }
}

/// The lines `start` prints when the emulator is up.
pub fn summary(state: &SessionState) -> Vec<String> {
    let p = state.ports;
    vec![
        format!("API        {}", p.api_url()),
        format!("health     {}/health?db=1", p.api_url()),
        format!("mail       {}", p.mail_url()),
        "credentials: stack-emulator credentials [--config-file PATH]".to_owned(),
    ]
}
