//! The guest agent client against the real virtio-serial chardev of a
//! machine with no guest: QEMU accepts the connection, but nothing answers,
//! so the sync must time out with a clear error rather than hang.

use std::time::Duration;

use stack_vm::qga::{QgaClient, QgaConnectError, QgaSyncError};

use crate::launch::{launch, test_spec};
use crate::support::{TempDir, error_chain};

#[tokio::test]
async fn an_agent_that_never_answers_fails_the_sync_within_its_limit() {
    let dir = TempDir::new();
    let spec = test_spec(&dir, "qga");
    let qemu = launch(&spec, &dir);
    // QMP answering means QEMU has created the agent socket too.
    let _qmp = qemu.qmp().await;

    let limit = Duration::from_millis(500);
    let started = tokio::time::Instant::now();
    let error = QgaClient::connect_unix_when_ready(&spec.qga_socket, limit)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < limit * 4,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            error,
            QgaConnectError::Sync {
                source: QgaSyncError::Timeout { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error_chain(&error),
        format!(
            "the guest agent on {} did not synchronise: the guest agent did not answer guest-sync-delimited within 500ms",
            spec.qga_socket.display()
        )
    );
}
