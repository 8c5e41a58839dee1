//! Integration tests against real QEMU (`qemu-system-x86_64` 10 under TCG):
//! the QMP client, the launch command line with every device, a snapshot
//! round trip through a file, the guest agent socket, and accelerator
//! detection. No guest kernel is booted: machines start with `-S` (or wait
//! for an incoming migration). Without QEMU these tests fail and say how to
//! install it; they never pass silently.

// The helper functions fail the test by panicking, exactly as the #[test]
// functions do; clippy's test exemption (clippy.toml) covers only the latter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accel;
mod launch;
mod migration;
mod qga;
mod qmp;
mod support;
