//! The VM layer of the stack emulator: how to start QEMU and how to talk to it
//! and to the guest inside it. [`launch`] turns a typed [`launch::LaunchSpec`]
//! into a QEMU command line whose devices always come in the same order (so a
//! RAM snapshot taken with one spec resumes with another that differs only in
//! host paths and ports), picks an accelerator, and fingerprints everything a
//! snapshot depends on. [`qmp`] is an async client for the QEMU Machine
//! Protocol (run state, migration to and from files, quit), and [`qga`] is an
//! async client for the QEMU guest agent (clock, file access, shutdown).
//!
//! Both protocol clients are generic over any `AsyncRead + AsyncWrite` stream,
//! so they run over the Unix sockets QEMU creates and, in tests, over an
//! in-memory pipe. Every wait has a limit, named by a constant that says why it
//! has that value, and every error names the command or event it was about.
//!
//! Left out on purpose: spawning and supervising the QEMU process (the CLI
//! owns the process, its pid file and its lifetime), creating disk images or
//! the runtime-config ISO, and the capture/resume policy built on these
//! pieces.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use stack_vm::qmp::{QmpClient, RunState};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut qmp = QmpClient::connect_unix_when_ready(
//!     "run/qmp.sock".as_ref(),
//!     Duration::from_secs(10),
//! )
//! .await?;
//! if qmp.query_status().await?.status == RunState::Prelaunch {
//!     qmp.cont().await?;
//! }
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod launch;
pub mod poll;
pub mod qga;
pub mod qmp;
mod wire;

pub use wire::MalformedMessage;
