//! The VM of a session or a capture: what it was asked for, its QEMU command
//! line, and the wait until the guest's API answers.

use std::fs;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use stack_vm::launch::{Accelerator, HostForward, LaunchSpec, MemoryBackend, RootDiskBus};

use crate::guest;
use crate::image::Image;
use crate::printer::Printer;
use crate::qemu::QemuProcess;
use crate::session::{self, SessionFiles};

use crate::ports::Ports;

/// How long a cold boot may take before it counts as failed. TCG boots in
/// seconds; this leaves room for a loaded laptop without hanging forever.
pub const BOOT_DEADLINE: Duration = Duration::from_secs(180);
/// What the guest's PID 1 prints first on the console (see guest/init).
pub const INIT_MARKER: &[u8] = b"stack-init: started";

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

/// How often a cold-booting guest's API is asked whether it is healthy. A
/// poll interval, not a guess at the boot's length: the guest sends no event
/// when the API is up, and a boot takes seconds, so 100 ms late is noise.
const HEALTH_POLL_INTERVAL_COLD: Duration = Duration::from_millis(100);
/// The same for a resumed guest, which answers within a fraction of a second:
/// each poll interval would show up in every resume's time.
const HEALTH_POLL_INTERVAL_RESUMED: Duration = Duration::from_millis(10);

/// Waits for the guest agent and then the API, showing the phase, until the deadline.
pub(crate) async fn wait_ready(
    printer: &Printer,
    files: &SessionFiles,
    qemu: &mut QemuProcess,
    api_port: u16,
    resumed: bool,
) -> Result<(), BootError> {
    let deadline = Instant::now() + BOOT_DEADLINE;
    let http = reqwest::Client::new();
    if !resumed {
        printer.step("booting the guest kernel");
    }
    // A resumed guest is past its init; there is no phase to announce.
    let mut init_started = resumed;
    loop {
        if let Some(status) = qemu.try_wait() {
            return Err(BootError::QemuExited {
                status,
                qemu_log: indent(&session::tail(&files.qemu_log, 10)),
                console: indent(&session::tail(&files.serial_log, 20)),
                serial_log: files.serial_log.clone(),
                ram: files.ram.clone(),
            });
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
            return Err(BootError::NotHealthy {
                limit: BOOT_DEADLINE,
                console: indent(&session::tail(&files.serial_log, 20)),
            });
        }
        let pause = if resumed {
            HEALTH_POLL_INTERVAL_RESUMED
        } else {
            HEALTH_POLL_INTERVAL_COLD
        };
        tokio::time::sleep(pause).await;
    }
}

/// The guest did not come up.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// QEMU exited before the guest was healthy.
    #[error("QEMU exited during boot ({status})\n{qemu_log}\n{console}")]
    QemuExited {
        /// How it exited.
        status: ExitStatus,
        /// The last lines of QEMU's log, indented.
        qemu_log: String,
        /// The last lines of the guest console, indented.
        console: String,
        /// The whole guest console.
        serial_log: PathBuf,
        /// The guest's RAM file.
        ram: PathBuf,
    },
    /// The guest's API did not answer in time.
    #[error(
        "the guest did not become healthy within {} s\nlast lines of the guest console:\n{console}",
        limit.as_secs()
    )]
    NotHealthy {
        /// How long it had.
        limit: Duration,
        /// The last lines of the guest console, indented.
        console: String,
    },
    /// The snapshot's RAM could not be copied into the session's RAM file.
    #[error("cannot copy the snapshot's RAM to {}", ram.display())]
    RamCopy {
        /// The session's RAM file.
        ram: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The session's disk stands on another image than the active one.
    #[error("the session's data was made with image {session}, but the active image is {active}")]
    ImageMismatch {
        /// The session disk's image.
        session: String,
        /// The active image.
        active: String,
    },
    /// `qemu-img create` failed.
    #[error("qemu-img could not create {}", overlay.display())]
    Overlay {
        /// The disk layer it was asked for.
        overlay: PathBuf,
    },
}

impl BootError {
    /// What to do next, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        use std::os::unix::process::ExitStatusExt as _;
        let hint = match self {
            Self::QemuExited {
                status,
                serial_log,
                ram,
                ..
            } => {
                // SIGBUS is how a guest dies that touches RAM its full file
                // system cannot back.
                let sigbus = if status.signal() == Some(libc::SIGBUS) {
                    format!(
                        "SIGBUS means the file system that holds the guest's RAM file {} ran out of space (`df -h` shows it); ",
                        ram.display()
                    )
                } else {
                    String::new()
                };
                format!(
                    "{sigbus}the full guest console is in {}",
                    serial_log.display()
                )
            }
            Self::NotHealthy { .. } => "`stack-emulator logs` shows the whole console".to_owned(),
            Self::RamCopy { .. } => "is the disk full?".to_owned(),
            Self::ImageMismatch { .. } => "`stack-emulator reset` starts over with the active image (it deletes the session's data)".to_owned(),
            Self::Overlay { overlay } => format!(
                "is the disk full? (`df -h {}`)",
                overlay
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        };
        Some(hint)
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
