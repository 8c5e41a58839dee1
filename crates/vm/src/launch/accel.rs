//! Choosing the accelerator: KVM on Linux when it really runs guest code,
//! HVF on Intel Macs, TCG everywhere else, always with a one-line reason the
//! CLI can print when it falls back to the slow path.
//!
//! On Linux, an openable `/dev/kvm` is not enough. Some hosts (nested
//! virtualisation without hardware support, such as the machines this
//! project is built on) expose a `/dev/kvm` that QEMU opens happily, yet a
//! guest under it crawls: there, SeaBIOS needs 2.4–2.8 s to reach its boot
//! prompt (against about 0.05 s under TCG) and the Debian kernel prints
//! nothing within 40 s. So the probe boots the firmware under KVM and
//! accepts KVM only if it reaches the boot prompt within
//! [`KVM_PROBE_TIMEOUT`].

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::CpuModel;

/// How long the firmware may take to reach its boot prompt under KVM.
/// Measured: SeaBIOS gets there about 0.05 s
/// after QEMU starts under TCG (QEMU itself starts in 40–130 ms), and
/// hardware KVM is faster still; the nested KVM that cannot boot a kernel
/// took 2.4–2.8 s. 1 s lies between the two with room for a slow start.
pub const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long to wait for the probe's QEMU to exit once it is killed.
/// SIGKILL takes effect at once; 5 s only guards against a stuck process
/// holding up the CLI.
const PROBE_EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// What SeaBIOS prints on its debug port when no device is bootable: the
/// point where firmware has run all of its start-up code.
const FIRMWARE_DONE_MARKER: &[u8] = b"No bootable device";

/// The most probe output kept while looking for the marker; SeaBIOS prints
/// about 3 KB before it.
const MAX_PROBE_OUTPUT_BYTES: usize = 64 * 1024;

/// How QEMU runs guest code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accelerator {
    /// Linux KVM.
    Kvm,
    /// macOS Hypervisor.framework.
    Hvf,
    /// QEMU's portable translator: always available, several times slower.
    Tcg,
}

/// The accelerator to use and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelChoice {
    /// The accelerator.
    pub accelerator: Accelerator,
    /// One line on why, fit for a warning when it is [`Accelerator::Tcg`].
    pub reason: String,
}

impl Accelerator {
    /// QEMU's name for the accelerator (`-accel <name>`).
    pub fn qemu_name(self) -> &'static str {
        match self {
            Self::Kvm => "kvm",
            Self::Hvf => "hvf",
            Self::Tcg => "tcg",
        }
    }

    /// The CPU model to use when the spec names none: `host` with hardware
    /// acceleration, `max` under TCG (which same-host snapshots migrate
    /// fine with).
    pub fn default_cpu_model(self) -> CpuModel {
        match self {
            Self::Kvm | Self::Hvf => CpuModel::host(),
            Self::Tcg => CpuModel::max(),
        }
    }

    /// Picks the fastest accelerator that works here, using `qemu_binary`
    /// for the KVM probe. Never fails: anything wrong means TCG, with the
    /// reason.
    pub async fn detect(qemu_binary: &Path) -> AccelChoice {
        detect_for_platform(qemu_binary).await
    }
}

fn tcg(reason: String) -> AccelChoice {
    AccelChoice {
        accelerator: Accelerator::Tcg,
        reason,
    }
}

#[cfg(target_os = "linux")]
async fn detect_for_platform(qemu_binary: &Path) -> AccelChoice {
    const KVM_DEVICE: &str = "/dev/kvm";
    if let Err(error) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(KVM_DEVICE)
    {
        return tcg(format!(
            "{KVM_DEVICE} cannot be opened for reading and writing ({error}); using TCG, which is several times slower"
        ));
    }
    match probe_kvm(qemu_binary).await {
        Ok(elapsed) => AccelChoice {
            accelerator: Accelerator::Kvm,
            reason: format!(
                "KVM works: the firmware booted under it in {} ms",
                elapsed.as_millis()
            ),
        },
        Err(failure) => tcg(format!(
            "{KVM_DEVICE} exists but KVM is not usable: {failure}; using TCG, which is several times slower"
        )),
    }
}

#[cfg(target_os = "macos")]
async fn detect_for_platform(_qemu_binary: &Path) -> AccelChoice {
    if cfg!(target_arch = "x86_64") {
        AccelChoice {
            accelerator: Accelerator::Hvf,
            reason: "macOS on Intel: using Hypervisor.framework (hvf)".to_owned(),
        }
    } else {
        tcg("hvf cannot run x86_64 guests on Apple silicon; using TCG, which is several times slower".to_owned())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
async fn detect_for_platform(_qemu_binary: &Path) -> AccelChoice {
    tcg("no hardware accelerator is supported on this operating system; using TCG".to_owned())
}

/// Why the KVM probe failed, as one line of text.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[derive(Debug)]
enum KvmProbeFailure {
    Spawn(std::io::Error),
    Exited(String),
    TooSlow,
    Read(std::io::Error),
}

impl std::fmt::Display for KvmProbeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Spawn(error) => {
                write!(f, "QEMU could not be started for the KVM probe ({error})")
            }
            Self::Exited(stderr) if stderr.is_empty() => {
                write!(f, "QEMU exited during the KVM probe")
            }
            Self::Exited(stderr) => write!(f, "QEMU failed under KVM: {stderr}"),
            Self::TooSlow => write!(
                f,
                "the firmware did not reach its boot prompt within {} ms under KVM (nested virtualisation without hardware support?)",
                KVM_PROBE_TIMEOUT.as_millis()
            ),
            Self::Read(error) => write!(f, "reading the KVM probe's output failed ({error})"),
        }
    }
}

/// Boots the firmware under KVM with its debug port on stdout and waits for
/// [`FIRMWARE_DONE_MARKER`]; returns how long it took.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
async fn probe_kvm(qemu_binary: &Path) -> Result<Duration, KvmProbeFailure> {
    let started = tokio::time::Instant::now();
    let mut child = Command::new(qemu_binary)
        .args([
            "-machine",
            "q35",
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-m",
            "64",
            "-smp",
            "1",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-vga",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
            "-chardev",
            "stdio,id=firmware",
            "-device",
            "isa-debugcon,iobase=0x402,chardev=firmware",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(KvmProbeFailure::Spawn)?;
    let result = match (child.stdout.take(), child.stderr.take()) {
        (Some(stdout), Some(stderr)) => {
            match tokio::time::timeout(KVM_PROBE_TIMEOUT, find_marker(stdout)).await {
                Ok(Ok(true)) => Ok(started.elapsed()),
                Ok(Ok(false)) => Err(KvmProbeFailure::Exited(first_line(stderr).await)),
                Ok(Err(error)) => Err(KvmProbeFailure::Read(error)),
                Err(_) => Err(KvmProbeFailure::TooSlow),
            }
        }
        _ => Err(KvmProbeFailure::Read(std::io::Error::other(
            "QEMU's output pipes are missing",
        ))),
    };
    // The firmware would wait and retry forever; the probe has its answer.
    if let Err(error) = child.start_kill() {
        tracing::debug!(%error, "the KVM probe's QEMU had already exited");
    }
    if tokio::time::timeout(PROBE_EXIT_TIMEOUT, child.wait())
        .await
        .is_err()
    {
        tracing::warn!("the KVM probe's QEMU did not exit after SIGKILL");
    }
    result
}

/// Reads until the marker appears (`true`) or the stream ends (`false`).
async fn find_marker(mut stdout: impl AsyncRead + Unpin) -> std::io::Result<bool> {
    let mut seen = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let read = stdout.read(&mut chunk).await?;
        if read == 0 {
            return Ok(false);
        }
        seen.extend_from_slice(&chunk[..read]);
        if seen
            .windows(FIRMWARE_DONE_MARKER.len())
            .any(|window| window == FIRMWARE_DONE_MARKER)
        {
            return Ok(true);
        }
        if seen.len() > MAX_PROBE_OUTPUT_BYTES {
            let keep_from = seen.len() - FIRMWARE_DONE_MARKER.len();
            seen.drain(..keep_from);
        }
    }
}

/// The first non-empty line of QEMU's stderr (it has exited, so this ends),
/// without the `qemu-system-x86_64: ` prefix.
async fn first_line(mut stderr: impl AsyncRead + Unpin) -> String {
    let mut text = Vec::new();
    if let Err(error) = (&mut stderr)
        .take(MAX_PROBE_OUTPUT_BYTES as u64)
        .read_to_end(&mut text)
        .await
    {
        return format!("(stderr unreadable: {error})");
    }
    let text = String::from_utf8_lossy(&text);
    let line = text
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    line.split_once(": ")
        .filter(|(program, _)| program.starts_with("qemu"))
        .map_or(line, |(_, message)| message)
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn finds_the_marker_across_reads() {
        let (mut writer, reader) = tokio::io::duplex(16);
        let feed = async move {
            use tokio::io::AsyncWriteExt;
            writer.write_all(b"SeaBIOS ... No boot").await.unwrap();
            writer.write_all(b"able device.\n").await.unwrap();
            drop(writer);
        };
        let (found, ()) = tokio::join!(find_marker(reader), feed);
        assert!(found.unwrap());
    }

    #[tokio::test]
    async fn end_of_output_without_marker_is_not_a_boot() {
        let found = find_marker(&b"qemu-system-x86_64: failed to initialize kvm"[..]).await;
        assert!(!found.unwrap());
    }

    #[tokio::test]
    async fn stderr_line_loses_the_program_prefix() {
        let line = first_line(
            &b"\nqemu-system-x86_64: -accel kvm: Could not access KVM kernel module: Permission denied\nmore\n"[..],
        )
        .await;
        assert_eq!(
            line,
            "-accel kvm: Could not access KVM kernel module: Permission denied"
        );
    }

    #[test]
    fn default_cpu_models_follow_the_accelerator() {
        assert_eq!(Accelerator::Tcg.default_cpu_model().as_str(), "max");
        assert_eq!(Accelerator::Kvm.default_cpu_model().as_str(), "host");
        assert_eq!(Accelerator::Hvf.default_cpu_model().as_str(), "host");
    }
}
