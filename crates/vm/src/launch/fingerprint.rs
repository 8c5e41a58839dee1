//! The launch fingerprint: a SHA-256 over everything in a launch that a RAM
//! snapshot depends on, so a snapshot is only resumed by a QEMU that will
//! accept it. Covered: the QEMU version, machine type, accelerator, CPU
//! model, RAM size, vCPU count, the kind of RAM backend, and every
//! guest-visible device with its options, in order. Not covered, because a
//! resume may change them: host paths (disks, sockets, logs, the RAM file),
//! host ports, the kernel command line and the kernel file (the kernel lives
//! in the snapshot's RAM; the image digest that pins it is the caller's to
//! add to the snapshot key).

use sha2::{Digest, Sha256};

use super::{LaunchSpec, MACHINE, MemoryBackend};

/// Bumped whenever the fingerprinted fields or their encoding change, so old
/// snapshots stop matching instead of matching by accident.
const FORMAT: &str = "stack-vm launch fingerprint v1";

/// A launch fingerprint: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl LaunchSpec {
    /// The fingerprint of this launch under the QEMU whose version string is
    /// `qemu_version` (the `Display` of [`crate::qmp::QemuVersion`], which
    /// includes the distribution's package version).
    ///
    /// Two specs that differ only in host paths, host ports, kernel or
    /// kernel command line have the same fingerprint.
    pub fn fingerprint(&self, qemu_version: &str) -> Fingerprint {
        let mut hasher = Sha256::new();
        let mut field = |key: &str, value: &str| {
            // Length-prefixed, so no value can imitate a field boundary.
            hasher.update(format!("{key}={}:{value}\n", value.len()).as_bytes());
        };
        field("format", FORMAT);
        field("qemu", qemu_version);
        field("machine", MACHINE);
        field("accel", self.accelerator.qemu_name());
        field("cpu", self.effective_cpu_model().as_str());
        field("memory_mib", &self.memory_mib.to_string());
        field("vcpus", &self.vcpus.to_string());
        let backend = match self.memory_backend {
            MemoryBackend::Anonymous => "anonymous",
            // share=on and share=off resume each other (measured), so only
            // the kind counts: it decides the RAM block's name.
            MemoryBackend::File { .. } => "file",
        };
        field("memory_backend", backend);
        for device in self.guest_devices() {
            field("device", &device);
        }
        let digest = hasher.finalize();
        Fingerprint(digest.iter().map(|byte| format!("{byte:02x}")).collect())
    }
}
