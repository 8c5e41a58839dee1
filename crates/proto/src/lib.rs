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
//! - [`local_emulator`]: `POST /internal/local-emulator/project`, which gives
//!   each app's config file its own project and keys;
//! - [`headers`] and [`keys`]: request header names and the key alphabet.
//!
//! The crate holds types and constants only: validation of a field's value is
//! the receiving side's job (the server validates every rotation field).

pub mod headers;
pub mod inbox;
pub mod keys;
pub mod local_emulator;
pub mod rotation;
