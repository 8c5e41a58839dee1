//! The engine behind `stack-emulator`: it runs a private, local Stack Auth
//! backend in a small QEMU VM, resumes it from RAM snapshots, rotates in this
//! install's own keys, and installs released guest images.
//!
//! The `stack-emulator` binary only parses flags, calls these modules and turns
//! their results into messages and exit codes; nothing here parses a command
//! line or decides an exit code.
//!
//! - The session's VM: [`start`] (bring it up, or say it runs), [`boot`] (cold
//!   boot, pristine or session resume), [`machine`] (what a VM is asked for,
//!   its QEMU command line, the wait until the guest is healthy), [`qemu`]
//!   (one QEMU process: spawn, signal, wait, quit or kill), [`keys`]
//!   (this install's keys and the guest clock), [`stop`] (clean shutdown or
//!   hibernation), [`status`], [`credentials`], [`config_sync`] (an app's
//!   config file kept in step with its project).
//! - Snapshots: [`capture`] (the pristine snapshot of an image and machine
//!   shape), [`snapshot`] (the saved-state format and QMP save/resume).
//! - Images: [`image`] (build, manifest, verification), [`release`] (release
//!   format, download, install, the installed versions).
//! - The host: [`home`] (the state directory), [`session`] (the session's
//!   files and liveness), [`accel`], [`preflight`], [`ports`], [`room`] and
//!   [`space`] (disk space), [`private`] (file modes), [`secrets`], [`guest`]
//!   (what the host asks of the guest).
//! - Output: [`printer`] (stdout for results, stderr for progress) and
//!   [`progress`] (download progress).
//!
//! It leaves the guest's side (the server, PostgreSQL, the guest agent) to the
//! guest image, and QMP/QGA wire handling to `stack-vm`.

pub mod accel;
pub mod boot;
pub mod capture;
pub mod config_sync;
pub mod credentials;
pub mod guest;
pub mod home;
pub mod image;
pub mod keys;
pub mod machine;
pub mod net;
pub mod ports;
pub mod preflight;
pub mod printer;
pub mod private;
pub mod progress;
pub mod qemu;
pub mod release;
pub mod room;
pub mod secrets;
pub mod session;
pub mod snapshot;
pub mod space;
pub mod start;
pub mod status;
pub mod stop;
