//! The pristine snapshot: cold-boot the image once on a fresh disk layer, wait
//! until every service is healthy, save the device state next to the RAM file,
//! and freeze that disk layer with it (RAM and disk of a snapshot must match).
//!
//! `stack-emulator capture` takes it ahead of time; the first `start` of an
//! install takes it when it is missing. The capture VM has its own sockets,
//! logs and API port, so it never disturbs a running session, and one capture
//! per snapshot runs at a time even when state directories share a snapshots
//! directory.

use std::fs;
use std::net::TcpListener;
use std::num::NonZeroU16;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use stack_vm::launch::{HostForward, LaunchSpec, MemoryBackend};
use stack_vm::qmp::QmpClient;

use crate::boot::{create_overlay, fingerprint};
use crate::guest::{self, GUEST_API_PORT};
use crate::home::{Home, PristineFiles};
use crate::image::Image;
use crate::machine::{StartOptions, launch_spec, wait_ready};
use crate::printer::Printer;
use crate::qemu::QemuProcess;
use crate::secrets::Secrets;
use crate::session::SessionFiles;
use crate::snapshot::{self, Fingerprint, Unusable};

/// How long the capture VM may take to exit after QMP `quit`: it writes
/// nothing more (the RAM file is already complete), so this only bounds a hang.
const CAPTURE_QUIT_DEADLINE: Duration = Duration::from_secs(10);

/// How long the capture VM's guest agent may take to answer once the API is
/// healthy. The guest's init starts the agent right after the server, so it
/// normally answers at once; the limit only ends a capture whose agent never
/// comes up.
const CAPTURE_AGENT_DEADLINE: Duration = Duration::from_secs(30);

/// What a capture did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Captured {
    /// A valid snapshot was already there (perhaps just taken by another process).
    AlreadyThere,
    /// This call took it; saving took this long.
    Taken(Duration),
}

/// Takes the pristine snapshot for `spec` unless a valid one exists.
/// `force` replaces a valid one.
///
/// # Errors
/// The boot, the health check or the save failed; nothing is left behind.
pub async fn capture_pristine(
    home: &Home,
    qemu_img: &Path,
    image: &Image,
    spec: &LaunchSpec,
    fingerprint: &Fingerprint,
    force: bool,
    printer: &Printer,
) -> anyhow::Result<Captured> {
    fs::create_dir_all(home.snapshots())
        .with_context(|| format!("cannot create {}", home.snapshots().display()))?;
    let pristine = home.pristine(fingerprint);
    let dir = &pristine.dir;
    // One capture per snapshot at a time; whoever waited finds it taken.
    let lock_path = &pristine.lock;
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    match snapshot::check(&pristine.state, fingerprint) {
        Ok(_) if !force => return Ok(Captured::AlreadyThere),
        Err(why @ (Unusable::Format { .. } | Unusable::Corrupt | Unusable::Truncated)) => {
            printer.warn(&format!("capturing the pristine snapshot again: {why}"));
        }
        _ => {}
    }
    let _ = fs::remove_dir_all(dir);
    crate::room::require_for_capture(home, spec.memory_mib, None)?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let outcome = take(home, qemu_img, image, spec, fingerprint, &pristine, printer).await;
    if outcome.is_err() {
        let _ = fs::remove_dir_all(dir);
    }
    outcome.map(Captured::Taken)
}

async fn take(
    home: &Home,
    qemu_img: &Path,
    image: &Image,
    spec: &LaunchSpec,
    fingerprint: &Fingerprint,
    pristine: &PristineFiles,
    printer: &Printer,
) -> anyhow::Result<Duration> {
    let state = &pristine.state;
    let layer = &pristine.disk;
    let files = SessionFiles::capture(home, pristine);
    create_overlay(qemu_img, &fs::canonicalize(image.disk())?, &files.overlay)?;
    let api_port = free_port()?;
    let mut capture_spec = spec.clone();
    capture_spec.root_disk = files.overlay.clone();
    capture_spec.memory_backend = MemoryBackend::File {
        path: files.ram.clone(),
        shared: true,
    };
    capture_spec.qmp_socket = files.qmp.clone();
    capture_spec.qga_socket = files.qga.clone();
    capture_spec.serial_log = files.serial_log.clone();
    capture_spec.host_forwards = vec![HostForward {
        host_port: NonZeroU16::new(api_port).ok_or_else(|| anyhow!("no free port"))?,
        guest_port: NonZeroU16::new(GUEST_API_PORT).ok_or_else(|| anyhow!("no guest port"))?,
    }];
    capture_spec.incoming = None;
    printer.step("cold-booting the image once to capture its snapshot");
    let mut qemu = QemuProcess::spawn(&capture_spec, &files)?;
    let outcome = async {
        wait_ready(printer, &files, &mut qemu, api_port, false).await?;
        // One rotation with throw-away keys before the capture: the image's
        // build-time keys leave the snapshot, and the server and PostgreSQL
        // keep the rotation's queries prepared and their caches filled, which
        // makes the rotation after every pristine resume faster.
        let mut qga = guest::connect_agent(&files.qga, CAPTURE_AGENT_DEADLINE).await?;
        let throwaway = Secrets::generate()?;
        guest::rotate(
            &mut qga,
            &throwaway,
            &format!("http://localhost:{api_port}"),
            true,
        )
        .await?;
        printer.step("capturing the pristine snapshot");
        let mut qmp = QmpClient::connect_unix(&files.qmp).await?;
        // The agent connection stays open through the capture (see guest::hold_agent).
        let took = snapshot::capture(&mut qmp, &state.state).await?;
        let _ = qmp.quit().await;
        drop(qga);
        Ok::<_, anyhow::Error>(took)
    }
    .await;
    // After a failure before the `quit`, QEMU is killed at the deadline.
    let _ = qemu.quit_or_kill(None, CAPTURE_QUIT_DEADLINE, |_| {}).await;
    for leftover in [&files.qmp, &files.qga, &files.pid] {
        let _ = fs::remove_file(leftover);
    }
    let took = outcome?;
    fs::rename(&files.overlay, layer).context("cannot freeze the snapshot's disk layer")?;
    fs::rename(&files.ram, &state.ram).context("cannot keep the snapshot's RAM file")?;
    // Neither may change again: RAM and disk of a snapshot have to match.
    for frozen in [layer, &state.ram] {
        let mut perms = fs::metadata(frozen)?.permissions();
        perms.set_readonly(true);
        fs::set_permissions(frozen, perms)?;
    }
    // The guest's console up to the capture: every session resumed from this
    // snapshot starts its own console log with it (see `start`).
    let _ = fs::rename(&files.serial_log, &pristine.console);
    let meta = snapshot::seal(state, fingerprint).context("cannot seal the snapshot")?;
    printer.step(&format!(
        "captured in {:.2} s ({} MiB of RAM)",
        took.as_secs_f64(),
        meta.ram_allocated_bytes >> 20
    ));
    Ok(took)
}

fn free_port() -> anyhow::Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").context("cannot find a free port for the capture")?;
    Ok(listener.local_addr()?.port())
}

/// `stack-emulator capture`: takes the pristine snapshot for the active image
/// and this machine shape, ahead of the first `start`.
///
/// # Errors
/// As [`capture_pristine`], plus a missing QEMU or image.
pub async fn capture(
    home: &Home,
    printer: &Printer,
    opts: &StartOptions,
    force: bool,
) -> anyhow::Result<Captured> {
    let qemu = crate::preflight::find_qemu()?;
    let image = crate::release::install::ensure_image(home, printer, opts.source.clone()).await?;
    let accel = crate::accel::choose(home, &qemu.system).await;
    let files = SessionFiles::of(home);
    let spec = launch_spec(&qemu.system, accel.accelerator, &image, &files, opts)?;
    let fingerprint = fingerprint(&spec, &image, &accel.qemu_version);
    capture_pristine(home, &qemu.img, &image, &spec, &fingerprint, force, printer).await
}
