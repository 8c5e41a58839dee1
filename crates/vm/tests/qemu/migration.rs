//! RAM snapshots as migrations to and from a file, with the QMP sequence the
//! emulator uses, against QEMU 10.

use std::ffi::OsString;
use std::time::Duration;

use stack_vm::launch::Incoming;
use stack_vm::poll::POLL_INTERVAL;
use stack_vm::qmp::{
    MigrationCapability, MigrationInfo, MigrationParameters, MigrationStatus, MigrationUri,
    QmpClient, RunState,
};
use tokio::net::UnixStream;

use crate::launch::{launch, test_spec};
use crate::support::{Qemu, TempDir, qemu_binary};

/// How long a test migration may take. 64 MiB of mostly untouched guest
/// RAM is written or read in well under a second (400 MiB took 0.3 s in the
/// measurements); 30 s only bounds a hang.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// How long QEMU may take to emit an event caused by a command.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The capabilities and parameters of the fastest measured file format
/// (mapped-ram + multifd x2), with the bandwidth cap raised.
async fn configure(qmp: &mut QmpClient<UnixStream>) {
    qmp.migrate_set_capabilities(&[
        (MigrationCapability::MappedRam, true),
        (MigrationCapability::Multifd, true),
    ])
    .await
    .unwrap();
    qmp.migrate_set_parameters(&MigrationParameters {
        max_bandwidth: Some(64 << 30),
        multifd_channels: Some(2),
        ..MigrationParameters::default()
    })
    .await
    .unwrap();
}

/// Polls `query-migrate` until the migration completes; fails the test if
/// it fails or takes longer than [`MIGRATION_TIMEOUT`].
async fn wait_completed(qmp: &mut QmpClient<UnixStream>, qemu: &Qemu) -> MigrationInfo {
    let deadline = tokio::time::Instant::now() + MIGRATION_TIMEOUT;
    loop {
        let info = qmp.query_migrate().await.unwrap();
        match info.status {
            MigrationStatus::Completed => return info,
            MigrationStatus::Failed | MigrationStatus::Cancelled => {
                panic!(
                    "migration ended as {info:?}\nQEMU stderr:\n{}",
                    qemu.stderr()
                )
            }
            _ => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "migration not completed within {MIGRATION_TIMEOUT:?}: {info:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A bare machine with QMP on `<dir>/<name>.sock`, optionally waiting for a
/// migration.
fn bare_machine(dir: &TempDir, name: &str, incoming: bool) -> Qemu {
    let socket = dir.join(&format!("{name}.sock"));
    let mut argv: Vec<OsString> = vec![qemu_binary().into()];
    argv.extend(
        [
            "-machine",
            "q35",
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-m",
            "64M",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-S",
        ]
        .map(OsString::from),
    );
    if incoming {
        argv.extend(["-incoming", "defer"].map(OsString::from));
    }
    argv.push("-qmp".into());
    let mut qmp = OsString::from("unix:");
    qmp.push(&socket);
    qmp.push(",server=on,wait=off");
    argv.push(qmp);
    Qemu::spawn(argv, dir, socket)
}

#[tokio::test]
async fn a_running_machine_is_captured_to_a_file_and_resumed_from_it() {
    let dir = TempDir::new();
    let state = MigrationUri::file(&dir.join("state.bin")).unwrap();

    // Capture: run the firmware, stop, write RAM and device state.
    let source = bare_machine(&dir, "source", false);
    let mut qmp = source.qmp().await;
    configure(&mut qmp).await;
    qmp.cont().await.unwrap();
    qmp.wait_event("RESUME", EVENT_TIMEOUT).await.unwrap();
    qmp.stop().await.unwrap();
    qmp.wait_event("STOP", EVENT_TIMEOUT).await.unwrap();
    qmp.migrate(&state).await.unwrap();
    let captured = wait_completed(&mut qmp, &source).await;
    assert!(
        captured.ram_transferred_bytes.unwrap_or(0) > 0,
        "{captured:?}"
    );
    assert_eq!(
        qmp.query_status().await.unwrap().status,
        RunState::PostMigrate
    );
    qmp.quit().await.unwrap();

    // Resume: same machine, waiting for the stream; it comes back paused.
    let destination = bare_machine(&dir, "destination", true);
    let mut qmp = destination.qmp().await;
    assert_eq!(
        qmp.query_status().await.unwrap().status,
        RunState::InMigrate
    );
    configure(&mut qmp).await;
    qmp.migrate_incoming(&state).await.unwrap();
    wait_completed(&mut qmp, &destination).await;
    assert_eq!(qmp.query_status().await.unwrap().status, RunState::Paused);
    qmp.cont().await.unwrap();
    let status = qmp.query_status().await.unwrap();
    assert_eq!((status.status, status.running), (RunState::Running, true));
}

#[tokio::test]
async fn launch_specs_that_differ_only_in_host_paths_migrate_with_every_device() {
    let dir = TempDir::new();
    let state = MigrationUri::file(&dir.join("devices.bin")).unwrap();

    let source_spec = test_spec(&dir, "src");
    let source = launch(&source_spec, &dir);
    let mut qmp = source.qmp().await;
    let version = qmp.query_version().await.unwrap().to_string();
    configure(&mut qmp).await;
    qmp.migrate(&state).await.unwrap();
    wait_completed(&mut qmp, &source).await;
    qmp.quit().await.unwrap();

    // Other disk, ISO, sockets and log: the resume side of a snapshot.
    let mut destination_spec = test_spec(&dir, "dst");
    destination_spec.start_paused = false;
    destination_spec.incoming = Some(Incoming::Defer);
    assert_eq!(
        destination_spec.fingerprint(&version),
        source_spec.fingerprint(&version)
    );
    let destination = launch(&destination_spec, &dir);
    let mut qmp = destination.qmp().await;
    configure(&mut qmp).await;
    qmp.migrate_incoming(&state).await.unwrap();
    wait_completed(&mut qmp, &destination).await;
    let status = qmp.query_status().await.unwrap();
    assert!(!status.running, "{status:?}");
    assert_ne!(status.status, RunState::InMigrate, "{status:?}");
}
