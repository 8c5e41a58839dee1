//! `start`: bring the VM up (or say it already is) and print the URLs.

use std::fs;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow};
use stack_vm::launch::{Accelerator, RootDiskBus};
use stack_vm::poll::poll_until;

use crate::guest;
use crate::home::Home;
use crate::ports::PortTaken;
use crate::preflight;
use crate::printer::Printer;
use crate::qemu::{EXIT_DEADLINE, KILL_DEADLINE, QemuProcess};

/// How long a start that replaced a killed or dead VM waits for that VM's
/// ports to become free: sockets of a killed process can outlive it by some
/// seconds on a busy machine.
const PORT_RELEASE_DEADLINE: Duration = Duration::from_secs(30);
/// How often those ports are tried meanwhile.
const PORT_RELEASE_POLL_INTERVAL: Duration = Duration::from_millis(100);
use crate::session::{self, Liveness, SessionFiles, SessionState, Signal};

use crate::boot::{Boot, Booted, boot_base, fingerprint, plan_boot, prepare_overlay, run_boot};
use crate::capture::{Captured, capture_pristine};
use crate::keys::{KeyStep, agent};
pub use crate::machine::StartOptions;
use crate::machine::{BOOT_DEADLINE, launch_spec, wait_ready};
use crate::release::install::ensure_image;
use crate::room;

/// How long `start` waits for another command that holds the state directory.
const LOCK_WAIT: Duration = Duration::from_secs(600);
/// How often a command that waits for the state directory tries its lock
/// again. A poll interval, not a guess at how long the other command takes:
/// `flock` has no timeout, and a blocking wait could not say that it waits.
const LOCK_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Why `start` refused to start a VM (the boot's own failures are
/// [`BootError`](crate::machine::BootError)s).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A host port is taken.
    #[error(transparent)]
    PortTaken(PortTaken),
}

impl StartError {
    /// What to do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::PortTaken(e) => Some(format!(
                "stop what uses it, or pick another port with {} or {}=PORT",
                e.service.flag, e.service.env
            )),
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
                tokio::time::sleep(LOCK_POLL_INTERVAL).await;
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
    // Whether this start ended (or found dead) the VM of an earlier one, whose
    // ports the kernel may still be releasing.
    let mut replaced_a_vm = true;
    match session::liveness(&files) {
        Liveness::Running(state) if state.starting => {
            printer.warn(&format!(
                "the last start did not finish (it was interrupted before the VM was ready); stopping that VM (QEMU, pid {}) and starting again from its disk",
                state.pid
            ));
            let qemu = QemuProcess::adopt(state.pid);
            qemu.signal(Signal::Kill);
            qemu.wait_exited(EXIT_DEADLINE).await;
            session::clear_runtime_files(&files);
        }
        Liveness::Running(state) => {
            crate::config_sync::resume(home, printer);
            return Ok(Started::AlreadyRunning(state));
        }
        Liveness::Died(state) => {
            printer.warn(&format!(
                "the emulator was not stopped cleanly (QEMU, pid {}, is gone); starting it again from its disk",
                state.pid
            ));
            QemuProcess::adopt(state.pid)
                .wait_exited(EXIT_DEADLINE)
                .await;
            session::clear_runtime_files(&files);
        }
        Liveness::Stopped => replaced_a_vm = false,
    }
    let mut timings = Vec::new();
    let t = Instant::now();
    let qemu = preflight::find_qemu()?;
    let image = ensure_image(home, printer, opts.source.clone()).await?;
    timings.push(("image check", t.elapsed()));

    room::require_for_session(&files, opts.memory_mib)?;
    if replaced_a_vm {
        // The ports of a QEMU that was just killed can stay taken for a while
        // after the process is gone; wait for them before calling them taken.
        let _ = poll_until(
            "the ports of the earlier VM to be released",
            PORT_RELEASE_DEADLINE,
            PORT_RELEASE_POLL_INTERVAL,
            || async { opts.ports.check_free().ok() },
        )
        .await;
    }
    opts.ports.check_free().map_err(StartError::PortTaken)?;

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
                    "could not capture the pristine snapshot ({:#}); booting without it",
                    anyhow::Error::from(e)
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
        mut qemu,
        boot,
        agent: held_agent,
    } = run_boot(&spec, &files, home, &fingerprint, boot, printer).await?;
    let pid = qemu.pid();
    let ports: Vec<u16> = opts
        .ports
        .forwards()
        .iter()
        .map(|(host, _)| *host)
        .collect();
    let network = crate::net::widen_accept_queues(pid, &ports);
    if cfg!(target_os = "linux")
        && let crate::net::PortPath::Unwidened(_) = &network
    {
        printer.warn(&format!("forwarded ports: {network}"));
    }
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
        network: Some(network.to_string()),
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
        session: session_facts(&state, home),
    };
    let secured = if resumed {
        // A resumed guest already runs every service: the clock and the keys
        // are set while the health check waits. The first failure ends both.
        tokio::try_join!(
            async { Ok(wait_ready(printer, &files, &mut qemu, opts.ports.api, resumed).await?) },
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
        match wait_ready(printer, &files, &mut qemu, opts.ports.api, resumed).await {
            Err(e) => {
                agent.abort();
                Err(e.into())
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
            qemu.signal(Signal::Terminate);
            qemu.wait_gone(KILL_DEADLINE).await;
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
    crate::config_sync::resume(home, printer);
    Ok(Started::Started(state))
}

/// What the server in the guest is told about this session (the dashboard's
/// emulator page shows it).
fn session_facts(state: &SessionState, home: &Home) -> stack_proto::session::SessionFacts {
    let started = i64::try_from(state.started_at_unix)
        .unwrap_or(0)
        .saturating_mul(1000);
    stack_proto::session::SessionFacts {
        emulator_version: env!("CARGO_PKG_VERSION").to_owned(),
        accelerator: state.accelerator.clone(),
        accelerator_reason: state.accelerator_reason.clone(),
        image_version: state.image_version.clone(),
        boot: state.boot.clone(),
        snapshot: state.fingerprint.clone(),
        started_at_unix_millis: started,
        keys_rotated_at_unix_millis: None,
        ports: state
            .ports
            .each()
            .into_iter()
            .map(|(service, host)| stack_proto::session::ForwardedPort {
                service: service.name.to_owned(),
                host,
                guest: service.guest_port,
            })
            .collect(),
        home: home.root().display().to_string(),
    }
}

/// The lines `start` prints when the emulator is up.
pub fn summary(state: &SessionState) -> Vec<String> {
    let p = state.ports;
    vec![
        format!("dashboard  {}", p.dashboard_url()),
        format!("API        {}", p.api_url()),
        format!("health     {}/health?db=1", p.api_url()),
        format!("mail       {}", p.mail_url()),
        format!("OAuth      {} (mock provider)", p.oauth_url()),
        "credentials: stack-emulator credentials [--config-file PATH]".to_owned(),
    ]
}
