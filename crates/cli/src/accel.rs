//! The accelerator choice, remembered between starts.
//!
//! Probing KVM means starting QEMU once and waiting for its firmware, which
//! costs about a second; the answer only changes when QEMU or `/dev/kvm`
//! changes, so it is kept in `accel.json` keyed by both.

use std::fs;
use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use stack_vm::launch::{AccelChoice, Accelerator};

use crate::home::Home;

#[derive(Serialize, Deserialize, PartialEq)]
struct Remembered {
    key: String,
    accelerator: String,
    reason: String,
    qemu_version: String,
}

/// The accelerator and the QEMU version, both part of a snapshot's fingerprint.
#[derive(Debug, Clone)]
pub struct Accel {
    /// The accelerator.
    pub accelerator: Accelerator,
    /// Why (for the TCG warning).
    pub reason: String,
    /// `qemu-system-x86_64 --version`, first line.
    pub qemu_version: String,
}

/// The first line of `qemu --version` (empty when it cannot run).
pub fn qemu_version(qemu: &Path) -> String {
    std::process::Command::new(qemu)
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default()
}

fn mtime(path: &Path) -> String {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or_else(|| "absent".to_owned(), |d| d.as_nanos().to_string())
}

/// What the answer depends on: the QEMU binary and the KVM device.
fn key(qemu: &Path) -> String {
    format!(
        "{}|{}|kvm:{}",
        qemu.display(),
        mtime(qemu),
        mtime(Path::new("/dev/kvm"))
    )
}

fn parse(name: &str) -> Option<Accelerator> {
    [Accelerator::Kvm, Accelerator::Hvf, Accelerator::Tcg]
        .into_iter()
        .find(|a| a.qemu_name() == name)
}

/// The accelerator for `qemu`, probing only when nothing valid is remembered.
pub async fn choose(home: &Home, qemu: &Path) -> Accel {
    let path = home.accel_choice();
    let key = key(qemu);
    let remembered: Option<Remembered> = fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(r) = remembered.filter(|r| r.key == key)
        && let Some(accelerator) = parse(&r.accelerator)
    {
        return Accel {
            accelerator,
            reason: r.reason,
            qemu_version: r.qemu_version,
        };
    }
    let AccelChoice {
        accelerator,
        reason,
    } = Accelerator::detect(qemu).await;
    let version = qemu_version(qemu);
    let r = Remembered {
        key,
        accelerator: accelerator.qemu_name().to_owned(),
        reason: reason.clone(),
        qemu_version: version.clone(),
    };
    if let Ok(bytes) = serde_json::to_vec(&r) {
        let _ = fs::write(&path, bytes);
    }
    Accel {
        accelerator,
        reason,
        qemu_version: version,
    }
}
