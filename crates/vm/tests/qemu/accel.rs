//! Accelerator detection on this machine, checked against what real QEMU
//! then does with the choice.

use std::ffi::OsString;
use std::time::Duration;

use stack_vm::launch::{Accelerator, KVM_PROBE_TIMEOUT};

use crate::support::{Qemu, TempDir, qemu_binary};

/// Detection runs at most one probe (bounded by `KVM_PROBE_TIMEOUT`) plus
/// QEMU start-up and exit; 20 s bounds a hang on a loaded host.
const DETECT_TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn the_detected_accelerator_is_one_real_qemu_runs_with() {
    assert!(KVM_PROBE_TIMEOUT < DETECT_TIMEOUT);
    let qemu = qemu_binary();
    let choice = tokio::time::timeout(DETECT_TIMEOUT, Accelerator::detect(&qemu))
        .await
        .expect("accelerator detection hung");
    println!("detected {:?}: {}", choice.accelerator, choice.reason);
    assert!(!choice.reason.is_empty());

    let dir = TempDir::new();
    let socket = dir.join("accel.sock");
    let mut argv: Vec<OsString> = vec![qemu.into()];
    argv.extend(
        [
            "-machine",
            "q35",
            "-accel",
            choice.accelerator.qemu_name(),
            "-cpu",
            choice.accelerator.default_cpu_model().as_str(),
            "-m",
            "64M",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-S",
            "-qmp",
        ]
        .map(OsString::from),
    );
    let mut qmp_arg = OsString::from("unix:");
    qmp_arg.push(&socket);
    qmp_arg.push(",server=on,wait=off");
    argv.push(qmp_arg);
    let machine = Qemu::spawn(argv, &dir, socket);
    let mut qmp = machine.qmp().await;
    let kvm = qmp.query_kvm().await.unwrap();
    assert_eq!(
        kvm.enabled,
        choice.accelerator == Accelerator::Kvm,
        "{choice:?}"
    );
}

#[tokio::test]
async fn a_missing_qemu_binary_means_tcg_with_a_reason() {
    let choice = Accelerator::detect("/nonexistent/qemu-system-x86_64".as_ref()).await;
    assert_eq!(choice.accelerator, Accelerator::Tcg);
    assert!(!choice.reason.is_empty());
}
