//! The QEMU command line for an emulator VM, built from a typed
//! [`LaunchSpec`].
//!
//! Devices always come in the same order and at fixed PCI slots, so a spec
//! used to capture a RAM snapshot and a spec used to resume it produce the
//! same guest-visible machine whenever they agree on the fields that
//! [`LaunchSpec::fingerprint`] covers; host paths, socket paths and host
//! ports may differ.
//!
//! The layout (q35, direct kernel boot, no firmware disk):
//!
//! | slot | device | host side |
//! |------|--------|-----------|
//! | 00:02 | root disk: `virtio-blk-pci` or `nvme` ([`RootDiskBus`]), serial `stack-root` | qcow2 |
//! | 00:03 | `virtio-blk-pci`, serial `stack-config`, read-only (optional) | runtime-config ISO |
//! | 00:04 | `virtio-net-pci`, fixed MAC, no option ROM | user-mode network, TCP forwards on 127.0.0.1 |
//! | 00:05 | `virtio-serial-pci` with port `org.qemu.guest_agent.0` | guest agent Unix socket |
//! | ISA | COM1 | serial console log file |
//! | ACPI | `vmgenid` (fresh GUID on every launch) | |
//!
//! **Root disk and snapshots.** The Debian cloud kernel has NVMe built in
//! (`CONFIG_BLK_DEV_NVME=y`), so an NVMe root boots with no initrd. But
//! QEMU's `nvme` device cannot be migrated (QEMU 10 refuses `migrate` with
//! "State blocked by non-migratable device '0000:00:02.0/nvme'"; an
//! integration test pins this), so a VM with an NVMe root can be neither
//! captured nor hibernated. Snapshots need [`RootDiskBus::VirtioBlk`], and
//! with it an initrd that loads `virtio_pci` and `virtio_blk` (both `=m` in
//! that kernel; with a tiny initramfs of under 100 KB that loads them, the
//! guest boots as fast as from NVMe).
//!
//! **Runtime settings** (public URLs, keys, the clock) reach the guest only
//! through the guest agent, never through a disk: a resumed guest has long
//! read any disk it was started with.
//!
//! Left out: spawning and supervising the process and creating disk images.

mod accel;
mod command_line;
mod fingerprint;

use std::num::NonZeroU16;
use std::path::{Path, PathBuf};

pub use accel::{AccelChoice, Accelerator, KVM_PROBE_TIMEOUT};
pub use fingerprint::Fingerprint;

use crate::qmp::MigrationUri;

/// The machine type. q35 boots the Debian cloud kernel with an NVMe root and
/// no initrd.
pub const MACHINE: &str = "q35";

/// The smallest guest RAM a spec accepts. q35 firmware needs a few tens of
/// MiB; an emulator guest needs far more (it was measured at 512 MiB and
/// 1 GiB), but tests that never boot a kernel use little.
pub const MIN_MEMORY_MIB: u32 = 64;

/// The longest kernel command line: x86 Linux keeps it in a 2048-byte
/// buffer (`COMMAND_LINE_SIZE`), including the terminating NUL.
pub const MAX_KERNEL_CMDLINE_BYTES: usize = 2047;

/// The longest Unix socket path, without the terminating NUL (`sun_path` is
/// 108 bytes on Linux and 104 on macOS).
#[cfg(target_os = "linux")]
pub const MAX_SOCKET_PATH_BYTES: usize = 107;
/// The longest Unix socket path, without the terminating NUL (`sun_path` is
/// 108 bytes on Linux and 104 on macOS).
#[cfg(not(target_os = "linux"))]
pub const MAX_SOCKET_PATH_BYTES: usize = 103;

/// The name the guest agent looks for on the virtio-serial bus.
pub const GUEST_AGENT_PORT: &str = "org.qemu.guest_agent.0";

/// The serial number of the root disk.
pub const ROOT_DISK_SERIAL: &str = "stack-root";

/// The guest's MAC address, fixed so it never differs between capture and
/// resume (it is guest-visible state).
pub const GUEST_MAC: &str = "52:54:00:12:34:56";

/// Everything needed to start an emulator VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// The `qemu-system-x86_64` binary.
    pub qemu_binary: PathBuf,
    /// The accelerator ([`Accelerator::detect`] picks one).
    pub accelerator: Accelerator,
    /// The CPU model; `None` means the accelerator's default
    /// ([`Accelerator::default_cpu_model`]).
    pub cpu_model: Option<CpuModel>,
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// Number of vCPUs.
    pub vcpus: u8,
    /// Where guest RAM lives.
    pub memory_backend: MemoryBackend,
    /// The guest kernel (`-kernel`).
    pub kernel: PathBuf,
    /// An optional initrd (the NVMe-root image needs none).
    pub initrd: Option<PathBuf>,
    /// The kernel command line.
    pub kernel_cmdline: String,
    /// The root disk, a qcow2 file (the session overlay).
    pub root_disk: PathBuf,
    /// How the root disk is attached; see the module documentation for why
    /// snapshots need [`RootDiskBus::VirtioBlk`].
    pub root_disk_bus: RootDiskBus,
    /// TCP ports forwarded from 127.0.0.1 on the host into the guest.
    pub host_forwards: Vec<HostForward>,
    /// The QMP Unix socket QEMU listens on.
    pub qmp_socket: PathBuf,
    /// The guest agent Unix socket QEMU listens on.
    pub qga_socket: PathBuf,
    /// The file the guest's serial console is written to (truncated on
    /// start).
    pub serial_log: PathBuf,
    /// Start with the vCPUs stopped (`-S`), until QMP `cont`.
    pub start_paused: bool,
    /// Wait for an incoming migration (a snapshot resume) instead of booting.
    pub incoming: Option<Incoming>,
}

/// A QEMU CPU model with optional feature flags, such as `max`, `host` or
/// `max,-svm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuModel(String);

/// A CPU model string that QEMU would not read as one `-cpu` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpuModelError {
    /// The model is empty.
    #[error("the CPU model is empty")]
    Empty,
    /// The model contains a character that is not part of QEMU CPU model or
    /// feature names.
    #[error("the CPU model {model:?} contains {character:?}; use letters, digits and . _ - + = ,")]
    InvalidCharacter {
        /// The model given.
        model: String,
        /// The first offending character.
        character: char,
    },
}

impl CpuModel {
    /// Parses a `-cpu` value.
    ///
    /// # Errors
    ///
    /// [`CpuModelError`] when it is empty or has characters outside
    /// letters, digits and `. _ - + = ,`.
    pub fn parse(model: &str) -> Result<Self, CpuModelError> {
        if model.is_empty() {
            return Err(CpuModelError::Empty);
        }
        if let Some(character) = model
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ".-_+=,".contains(*c)))
        {
            return Err(CpuModelError::InvalidCharacter {
                model: model.to_owned(),
                character,
            });
        }
        Ok(Self(model.to_owned()))
    }

    /// `host`: the host CPU, for KVM and HVF.
    pub fn host() -> Self {
        Self("host".to_owned())
    }

    /// `max`: every feature TCG can emulate.
    pub fn max() -> Self {
        Self("max".to_owned())
    }

    /// The model as QEMU reads it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The device the root disk is attached as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootDiskBus {
    /// `virtio-blk-pci` (`/dev/vda`): migratable, so snapshots and hibernate
    /// work; the Debian cloud kernel needs an initrd that loads
    /// `virtio_pci` and `virtio_blk`.
    VirtioBlk,
    /// `nvme` (`/dev/nvme0n1`): boots the Debian cloud kernel without an
    /// initrd, but QEMU refuses to migrate it, so no snapshot can be taken.
    Nvme,
}

/// Where guest RAM lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryBackend {
    /// Anonymous memory (QEMU's default). Snapshots carry RAM in the stream.
    Anonymous,
    /// A file, for example in `/dev/shm`, so a snapshot can leave RAM out
    /// (`x-ignore-shared`) and a resume can map a pristine RAM file.
    File {
        /// The RAM file.
        path: PathBuf,
        /// `share=on` (writes reach the file) or `share=off` (private
        /// copy-on-write of the file; it stays pristine).
        shared: bool,
    },
}

/// A TCP port forwarded from `127.0.0.1:host_port` to the guest's
/// `guest_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostForward {
    /// The port on the host's loopback address.
    pub host_port: NonZeroU16,
    /// The port inside the guest.
    pub guest_port: NonZeroU16,
}

/// How a resumed QEMU gets its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// `-incoming defer`: wait for QMP `migrate-incoming`, so migration
    /// capabilities can be set first (the measured resume sequence).
    Defer,
    /// `-incoming <uri>`: load from `uri` at once.
    Uri(MigrationUri),
}

/// A launch spec that would not give a working QEMU command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchSpecError {
    /// Too little RAM.
    #[error("guest memory of {memory_mib} MiB is below the minimum of {min_mib} MiB")]
    MemoryTooSmall {
        /// The memory given.
        memory_mib: u32,
        /// The minimum.
        min_mib: u32,
    },
    /// Zero vCPUs.
    #[error("the VM needs at least one vCPU")]
    NoVcpus,
    /// The same host port is forwarded twice.
    #[error("host port {port} is forwarded more than once")]
    DuplicateHostPort {
        /// The port.
        port: u16,
    },
    /// A socket path is too long for a Unix socket address.
    #[error(
        "the {role} socket path {path} is {len_bytes} bytes, longer than the {max_bytes} a Unix socket allows; use a shorter state directory"
    )]
    SocketPathTooLong {
        /// Which socket (`QMP` or `guest agent`).
        role: &'static str,
        /// The path.
        path: PathBuf,
        /// Its length.
        len_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// The kernel command line is too long.
    #[error(
        "the kernel command line is {len_bytes} bytes, longer than the {max_bytes} Linux accepts"
    )]
    KernelCmdlineTooLong {
        /// Its length.
        len_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// The kernel command line contains a control character.
    #[error("the kernel command line contains the control character {character:?}")]
    KernelCmdlineControlCharacter {
        /// The character.
        character: char,
    },
}

impl LaunchSpec {
    /// The CPU model QEMU gets: the spec's, or the accelerator's default.
    pub fn effective_cpu_model(&self) -> CpuModel {
        self.cpu_model
            .clone()
            .unwrap_or_else(|| self.accelerator.default_cpu_model())
    }

    /// Checks the spec without building the command line;
    /// [`LaunchSpec::args`] runs the same checks.
    ///
    /// # Errors
    ///
    /// [`LaunchSpecError`] when the spec is invalid: too little memory, no
    /// vCPUs, a host port forwarded twice, a socket path too long for a Unix
    /// socket, or a kernel command line too long or with control characters.
    pub fn validate(&self) -> Result<(), LaunchSpecError> {
        if self.memory_mib < MIN_MEMORY_MIB {
            return Err(LaunchSpecError::MemoryTooSmall {
                memory_mib: self.memory_mib,
                min_mib: MIN_MEMORY_MIB,
            });
        }
        if self.vcpus == 0 {
            return Err(LaunchSpecError::NoVcpus);
        }
        for (index, forward) in self.host_forwards.iter().enumerate() {
            if self.host_forwards[..index]
                .iter()
                .any(|earlier| earlier.host_port == forward.host_port)
            {
                return Err(LaunchSpecError::DuplicateHostPort {
                    port: forward.host_port.get(),
                });
            }
        }
        check_socket_path("QMP", &self.qmp_socket)?;
        check_socket_path("guest agent", &self.qga_socket)?;
        if self.kernel_cmdline.len() > MAX_KERNEL_CMDLINE_BYTES {
            return Err(LaunchSpecError::KernelCmdlineTooLong {
                len_bytes: self.kernel_cmdline.len(),
                max_bytes: MAX_KERNEL_CMDLINE_BYTES,
            });
        }
        if let Some(character) = self.kernel_cmdline.chars().find(|c| c.is_control()) {
            return Err(LaunchSpecError::KernelCmdlineControlCharacter { character });
        }
        Ok(())
    }
}

fn check_socket_path(role: &'static str, path: &Path) -> Result<(), LaunchSpecError> {
    let len_bytes = path.as_os_str().len();
    if len_bytes > MAX_SOCKET_PATH_BYTES {
        return Err(LaunchSpecError::SocketPathTooLong {
            role,
            path: path.to_owned(),
            len_bytes,
            max_bytes: MAX_SOCKET_PATH_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
