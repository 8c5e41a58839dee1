//! The emulator end to end with real QEMU and the real guest image: one boot
//! serves many checks, because every boot costs seconds under TCG.
//!
//! The image is built (or found in the cache, keyed by a hash of its inputs) in
//! `STACK_EMULATOR_TEST_IMAGES` (default `/var/tmp/stack-emulator-test/images-<checkout>`,
//! one folder per checkout), outside the repository, so that CI builds it once
//! per input change and two checkouts never switch each other's active image.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;
mod harness;
mod lifecycle;
mod snapshots;
mod state_dir;
