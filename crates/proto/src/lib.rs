//! stack-proto: the wire types that the emulator's host CLI (`stack-emulator`)
//! and the server in the guest (`stack-server`) share.
//!
//! Every message that crosses between them is a type here, serialised with
//! serde on one side and deserialised on the other, so that a field renamed on
//! one side fails to compile on the other instead of failing at run time:
//!
//! - [`inbox`]: the requests the host writes into the running server's inbox
//!   through the guest agent, and the server's answers;
//! - [`rotation`]: the rotation document (an install's own keys, signing
//!   secret and public URLs) and the report of a rotation;
//! - [`session`]: what the host tells the server about the VM it runs in
//!   (accelerator, image, ports, start and rotation times), for the dashboard;
//! - [`local_emulator`]: `POST /internal/local-emulator/project`, which gives
//!   each app's config file its own project and keys;
//! - [`headers`] and [`keys`]: request header names and the key alphabet;
//! - [`config_format`]: Stack Auth's config format (dotted keys, `null`,
//!   layering, normalization), which an app's config file on the host and
//!   the project's overrides in the guest both speak.
//!
//! Apart from the config format, the crate holds types and constants only:
//! validation of a field's value is the receiving side's job (the server
//! validates every rotation field and every override).

pub mod config_format;
pub mod headers;
pub mod inbox;
pub mod keys;
pub mod local_emulator;
pub mod rotation;
pub mod session;
