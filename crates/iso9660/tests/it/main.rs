//! Integration tests: build images with the public API, then read them back
//! with the tools a Linux guest and its operator would use (`isoinfo`,
//! `isovfy`, `blkid`, and optionally the kernel's `iso9660` driver).
//!
//! Every module is part of this one test binary. A test whose tool is
//! missing fails and names the Debian package to install; none is skipped
//! silently.

// clippy.toml allows these in `#[test]` functions only; the helpers that
// build fixtures and run tools are test code too, and a panic with a message
// is how they fail a test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod blkid;
mod determinism;
mod isoinfo;
mod isovfy;
mod mount;
mod support;
