//! `start`: bring the VM up (or say it already is) and print the URLs.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow};
use stack_vm::launch::{Accelerator, RootDiskBus};

use crate::guest;
use crate::home::Home;
use crate::image::{self, Image};
use crate::ports::Ports;
use crate::preflight;
use crate::printer::Printer;
use crate::session::{self, Liveness, SessionFiles, SessionState};

use super::capture::{Captured, capture_pristine};

mod boot;
mod keys;
mod machine;
mod room;

pub use boot::{Boot, session_state};
use boot::{Booted, boot_base, plan_boot, prepare_overlay, run_boot};
pub(crate) use boot::{create_overlay, fingerprint};
use keys::{KeyStep, agent};
pub(crate) use machine::{launch_spec, spawn_qemu, wait_ready};
pub(crate) use room::require_for_capture;

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
        Liveness::Running(state) if state.starting => {
            printer.warn(&format!(
                "the last start did not finish (it was interrupted before the VM was ready); stopping that VM (QEMU, pid {}) and starting again from its disk",
                state.pid
            ));
            session::signal(state.pid, session::Signal::Kill);
            session::wait_exited(state.pid, Duration::from_secs(5)).await;
            session::clear_runtime_files(&files);
        }
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

    room::require_for_session(&files, opts.memory_mib)?;
    opts.ports.check_free().map_err(|e| {
        anyhow!(
            "{e}\nhint: stop what uses it, or pick another port with {} or {}=PORT",
            e.service.flag,
            e.service.env
        )
    })?;

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
        let captured = match room::require_for_capture(home, spec.memory_mib, Some(&files)) {
            Ok(()) => {
                capture_pristine(home, &qemu.img, &image, &spec, &fingerprint, false, printer).await
            }
            Err(e) => Err(e.into()),
        };
        match captured {
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
    let can_hibernate = spec.root_disk_bus == RootDiskBus::VirtioBlk;
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
        fingerprint: can_hibernate.then(|| fingerprint.digest.clone()),
        machine: fingerprint.machine.clone().filter(|_| can_hibernate),
        starting: true,
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
                keys.secure(qga).await
            }
        )
        .map(|((), rotation)| rotation)
    } else {
        // The agent connects while the guest boots; the clock and the keys
        // are set through the server once it is healthy.
        let agent = tokio::spawn(agent(files.qga.clone()));
        match wait_ready(printer, &files, &mut child, opts.ports.api, resumed).await {
            Err(e) => {
                agent.abort();
                Err(e)
            }
            Ok(()) => {
                timings.push((boot.timing_name(), t.elapsed()));
                match agent.await {
                    Ok(Ok(qga)) => keys.secure(qga).await,
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
            session::signal(pid, session::Signal::Terminate);
            session::wait_gone(pid, Duration::from_secs(5)).await;
            session::clear_runtime_files(&files);
            return Err(e);
        }
    };
    let mut state = state;
    state.starting = false;
    state
        .save(&files)
        .context("cannot write the session state")?;
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
