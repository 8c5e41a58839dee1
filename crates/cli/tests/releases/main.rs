//! Releases end to end: `package`, then `pull`, `list-releases`, `images` and
//! `prune` of the real binary against a real HTTP server on loopback that
//! misbehaves on purpose (see `server.rs`); and the exit codes that need no VM.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test arithmetic on small, known sizes.
#![allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]

mod bench;
#[path = "../common/mod.rs"]
mod common;
mod exit_codes;
mod harness;
mod manage;
mod pull;
mod server;
