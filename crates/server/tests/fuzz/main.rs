//! Fuzz targets for the server's parsers of outside input: whole HTTP requests
//! through both routers (body parsing, headers, paths, queries), the validation
//! layer behind them, and the mail sink's SMTP listener with the MIME parsing of
//! the messages it receives. One binary, one module per target; see
//! `docs/fuzzing.md`.
//!
//! None of them needs PostgreSQL: the pool points at a socket that does not
//! exist, so whatever reaches the database fails at once (503 over HTTP, 451
//! over SMTP) and the targets stay fast and deterministic.
//!
//! Under `cargo test` each target runs random inputs for [`CI_TIME`]; under
//! `cargo bolero test` the same targets run under libFuzzer for as long as asked.
//! An input that once failed stays as a named regression test beside its target.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

mod config;
mod http;
mod json;
mod offline;
mod smtp;
mod validate;

/// How long each target runs random inputs inside `cargo test`: long enough for
/// thousands of inputs in a debug build, short enough that the whole binary adds
/// a few seconds to CI. A time bound rather than a count, so that a slow or busy
/// machine makes the run shorter in inputs, never longer in time.
/// `BOLERO_RANDOM_TEST_TIME_MS` in the environment overrides it.
pub const CI_TIME: Duration = Duration::from_secs(2);
