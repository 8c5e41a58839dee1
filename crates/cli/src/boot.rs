//! How a start brings the guest up: the plan (cold boot, pristine or session
//! resume), the session's disk overlay, and QEMU started on a saved state.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use sha2::{Digest as _, Sha256};
use stack_vm::launch::{Incoming, LaunchSpec, RootDiskBus};
use stack_vm::qmp::QmpClient;

use crate::guest;
use crate::home::Home;
use crate::image::Image;
use crate::printer::Printer;
use crate::session::{SessionFiles, Signal};
use crate::snapshot::{self, Fingerprint, Machine, Unusable};

use crate::machine::{BootError, StartOptions};
use crate::qemu::{KILL_DEADLINE, QemuProcess};

/// How long a resuming QEMU may take to create its QMP socket. It does so
/// within milliseconds of starting; this only bounds a QEMU that hangs
/// before it listens, after which the resume falls back to a cold boot.
const QMP_SOCKET_DEADLINE: Duration = Duration::from_secs(10);

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

    pub(crate) fn timing_name(self) -> &'static str {
        match self {
            Self::Cold => "cold boot to healthy",
            _ => "resume to healthy",
        }
    }
}

/// The fingerprint of everything a snapshot depends on: the machine (from the
/// launch spec, with the QEMU version) and the image's files.
pub(crate) fn fingerprint(spec: &LaunchSpec, image: &Image, qemu_version: &str) -> Fingerprint {
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
    let digest = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Fingerprint {
        digest,
        machine: Some(Machine {
            memory_mib: spec.memory_mib,
            vcpus: spec.vcpus,
            image: image.manifest.version.clone(),
            qemu: qemu_version.to_owned(),
            accelerator: spec.accelerator.qemu_name().to_owned(),
        }),
    }
}

/// Decides how to boot, and says why when a saved state cannot be used.
pub(crate) fn plan_boot(
    home: &Home,
    files: &SessionFiles,
    spec: &LaunchSpec,
    fingerprint: &Fingerprint,
    opts: &StartOptions,
    printer: &Printer,
) -> anyhow::Result<Boot> {
    let saved = files.saved_state();
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
    let pristine = home.pristine(fingerprint).state;
    Ok(match snapshot::check(&pristine, fingerprint) {
        Ok(_) => Boot::PristineResume,
        Err(Unusable::Missing) => Boot::CaptureThenResume,
        Err(why) => {
            printer.warn(&format!("capturing the pristine snapshot again: {why}"));
            let _ = fs::remove_dir_all(home.pristine(fingerprint).dir);
            Boot::CaptureThenResume
        }
    })
}

/// Starts a session's console log with the console of the pristine snapshot's
/// boot, so that `logs` shows how the services came up (QEMU appends to it).
/// Nothing but `logs` needs the file, so a failure only leaves it shorter.
fn start_console_log(console: &Path, serial_log: &Path) {
    let mut text = fs::read(console).unwrap_or_default();
    text.extend_from_slice(
        b"stack-emulator: --- the lines above are from the snapshot's boot; this session resumed it ---\n",
    );
    let _ = fs::write(serial_log, text);
}

/// What the session disk stands on.
pub(crate) fn boot_base(home: &Home, fingerprint: &Fingerprint, boot: Boot) -> OverlayBase {
    match boot {
        Boot::PristineResume | Boot::CaptureThenResume => {
            OverlayBase::Snapshot(home.pristine(fingerprint).disk)
        }
        Boot::Cold | Boot::SessionResume => OverlayBase::Image,
    }
}

/// Starts QEMU for `boot`; resume failures fall back to a cold boot of the same disk.
/// A QEMU that runs the guest.
pub(crate) struct Booted {
    pub(crate) qemu: QemuProcess,
    /// How the guest came up (a failed resume becomes a cold boot).
    pub(crate) boot: Boot,
    /// For a resume: the agent connection made before the guest ran.
    pub(crate) agent: Option<tokio::net::UnixStream>,
}

impl Booted {
    fn cold(qemu: QemuProcess) -> Self {
        Self {
            qemu,
            boot: Boot::Cold,
            agent: None,
        }
    }
}

pub(crate) async fn run_boot(
    spec: &LaunchSpec,
    files: &SessionFiles,
    home: &Home,
    fingerprint: &Fingerprint,
    boot: Boot,
    printer: &Printer,
) -> anyhow::Result<Booted> {
    let state = match boot {
        Boot::SessionResume => files.saved_state(),
        Boot::PristineResume => home.pristine(fingerprint).state,
        Boot::Cold | Boot::CaptureThenResume => {
            // A cold boot starts on empty memory.
            let _ = fs::remove_file(&files.ram);
            printer.step(&format!(
                "starting the VM ({}, {} MiB, {} vCPUs)",
                spec.accelerator.qemu_name(),
                spec.memory_mib,
                spec.vcpus
            ));
            return Ok(Booted::cold(QemuProcess::spawn(spec, files)?));
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
        start_console_log(&home.pristine(fingerprint).console, &files.serial_log);
        let target =
            snapshot::make_sparse_like(&state.ram, &files.ram).map_err(|e| BootError::RamCopy {
                ram: files.ram.clone(),
                source: e.into(),
            })?;
        let from = state.ram.clone();
        Some(tokio::task::spawn_blocking(move || {
            snapshot::fill_sparse(&from, target)
        }))
    } else {
        None
    };
    let mut resume_spec = spec.clone();
    resume_spec.incoming = Some(Incoming::Defer);
    let mut qemu = QemuProcess::spawn(&resume_spec, files)?;
    let resumed = async {
        let mut qmp = QmpClient::connect_unix_when_ready(&files.qmp, QMP_SOCKET_DEADLINE).await?;
        let agent = guest::hold_agent(&files.qga).await;
        if let Some(copy) = copy {
            copy.await
                .map_err(|e| anyhow!("the RAM copy stopped: {e}"))?
                .map_err(|e| BootError::RamCopy {
                    ram: files.ram.clone(),
                    source: e.into(),
                })?;
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
            Ok(Booted { qemu, boot, agent })
        }
        Err(e) => {
            printer.warn(&format!(
                "the resume failed ({e:#}); cold-booting the same disk instead"
            ));
            qemu.signal(Signal::Kill);
            qemu.wait_gone(KILL_DEADLINE).await;
            if boot == Boot::SessionResume {
                state.remove();
            }
            printer.step("starting the VM");
            let _ = fs::remove_file(&files.ram);
            Ok(Booted::cold(QemuProcess::spawn(spec, files)?))
        }
    }
}

/// What a session disk is layered on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OverlayBase {
    /// The image's base disk.
    Image,
    /// A pristine snapshot's frozen layer.
    Snapshot(PathBuf),
}

/// The overlay that holds the session's data. An existing overlay is kept (it
/// holds the data); a new one is made on `base`.
pub(crate) fn prepare_overlay(
    qemu_img: &Path,
    image: &Image,
    files: &SessionFiles,
    base: &OverlayBase,
    printer: &Printer,
) -> anyhow::Result<()> {
    let marker = &files.image_marker;
    if files.overlay.exists() {
        let based_on = fs::read_to_string(marker).unwrap_or_default();
        if !based_on.is_empty() && based_on.trim() != image.manifest.version {
            return Err(BootError::ImageMismatch {
                session: based_on.trim().to_owned(),
                active: image.manifest.version.clone(),
            }
            .into());
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
    fs::write(marker, &image.manifest.version).context("cannot record the session disk's image")?;
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
        return Err(BootError::Overlay {
            overlay: overlay.to_path_buf(),
        }
        .into());
    }
    Ok(())
}
