//! The session's VM: its QEMU command line and the wait until the guest's API
//! answers.

use std::fs;
use std::num::NonZeroU16;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use stack_vm::launch::{Accelerator, HostForward, LaunchSpec, MemoryBackend, RootDiskBus};

use crate::guest;
use crate::image::Image;
use crate::printer::Printer;
use crate::session::{self, SessionFiles};

use super::{BOOT_DEADLINE, INIT_MARKER, StartOptions};

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
                "QEMU exited during boot ({status})\n{}\n{}\nhint: {}the full guest console is in {}",
                indent(&session::tail(&files.qemu_log, 10)),
                indent(&session::tail(&files.serial_log, 20)),
                sigbus_hint(status, &files.ram),
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

/// SIGBUS is how a guest dies that touches RAM its full file system cannot back.
fn sigbus_hint(status: std::process::ExitStatus, ram: &Path) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    if status.signal() == Some(libc::SIGBUS) {
        format!(
            "SIGBUS means the file system that holds the guest's RAM file {} ran out of space (`df -h` shows it); ",
            ram.display()
        )
    } else {
        String::new()
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
