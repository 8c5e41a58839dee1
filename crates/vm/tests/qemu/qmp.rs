//! The QMP client against a bare real QEMU started with `-S`.

use std::time::Duration;

use stack_vm::qmp::{QmpCommandError, RunState};

use crate::support::{QEMU_EXIT_TIMEOUT, Qemu, TempDir};

/// How long to wait for an event that QEMU emits as part of the command
/// that causes it (STOP, RESUME, POWERDOWN): milliseconds normally; 10 s
/// only bounds a hang.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn real_qemu_greets_with_version_10_and_starts_in_prelaunch() {
    let dir = TempDir::new();
    let qemu = Qemu::bare(&dir);
    let mut qmp = qemu.qmp().await;

    let version = qmp.query_version().await.unwrap();
    assert!(version.major >= 10, "QEMU {version} is older than 10");
    assert_eq!(&version, &qmp.greeting().version);

    let status = qmp.query_status().await.unwrap();
    assert_eq!(status.status, RunState::Prelaunch);
    assert!(!status.running);

    let kvm = qmp.query_kvm().await.unwrap();
    assert!(!kvm.enabled, "started with -accel tcg");
}

#[tokio::test]
async fn cont_and_stop_change_the_run_state_of_real_qemu() {
    let dir = TempDir::new();
    let qemu = Qemu::bare(&dir);
    let mut qmp = qemu.qmp().await;

    qmp.cont().await.unwrap();
    qmp.wait_event("RESUME", EVENT_TIMEOUT).await.unwrap();
    let status = qmp.query_status().await.unwrap();
    assert_eq!((status.status, status.running), (RunState::Running, true));

    qmp.stop().await.unwrap();
    qmp.wait_event("STOP", EVENT_TIMEOUT).await.unwrap();
    let status = qmp.query_status().await.unwrap();
    assert_eq!((status.status, status.running), (RunState::Paused, false));

    // The ACPI power button is pressed even though nothing in the guest
    // listens; QEMU reports it with an event.
    qmp.system_powerdown().await.unwrap();
    qmp.wait_event("POWERDOWN", EVENT_TIMEOUT).await.unwrap();
}

#[tokio::test]
async fn real_qemu_rejections_carry_its_class_and_description() {
    let dir = TempDir::new();
    let qemu = Qemu::bare(&dir);
    let mut qmp = qemu.qmp().await;

    let error = qmp.execute("no-such-command", None).await.unwrap_err();
    let QmpCommandError::Rejected {
        command,
        class,
        desc,
    } = &error
    else {
        panic!("wrong error: {error:?}");
    };
    assert_eq!(command, "no-such-command");
    assert_eq!(class, "CommandNotFound");
    assert!(desc.contains("no-such-command"), "{desc}");
    // The connection is still usable after an error reply.
    assert_eq!(
        qmp.query_status().await.unwrap().status,
        RunState::Prelaunch
    );
}

#[tokio::test]
async fn quit_makes_real_qemu_exit_within_the_deadline() {
    let dir = TempDir::new();
    let mut qemu = Qemu::bare(&dir);
    let mut qmp = qemu.qmp().await;

    qmp.quit().await.unwrap();
    let status = qemu.wait_exit(QEMU_EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "QEMU exited with {status}\n{}",
        qemu.stderr()
    );
    // Nothing answers any more.
    let error = qmp.query_status().await.unwrap_err();
    assert!(
        matches!(
            error,
            QmpCommandError::Closed { .. } | QmpCommandError::Io { .. }
        ),
        "{error:?}"
    );
}
