//! What can go wrong when talking to the guest agent, one enum per
//! operation: connecting, resynchronising the channel, running a command,
//! and running a process in the guest. Each error names the socket, command
//! or guest program it is about.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::wire::MalformedMessage;

/// Connecting to the guest agent's Unix socket failed.
#[derive(Debug, thiserror::Error)]
pub enum QgaConnectError {
    /// The socket could not be connected to.
    #[error("could not connect to the guest agent socket {path}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Connecting blocked for too long (QEMU is not accepting connections).
    #[error("connecting to the guest agent socket {path} did not complete within {limit:?}")]
    ConnectTimeout {
        /// The socket path.
        path: PathBuf,
        /// The limit that passed.
        limit: Duration,
    },
    /// Connected, but the agent did not answer the initial sync.
    #[error("the guest agent on {path} did not synchronise")]
    Sync {
        /// The socket path.
        path: PathBuf,
        /// Why the sync failed.
        #[source]
        source: QgaSyncError,
    },
}

/// `guest-sync-delimited` did not bring the channel back in step.
#[derive(Debug, thiserror::Error)]
pub enum QgaSyncError {
    /// The agent did not echo the sync id in time (it may not be running).
    #[error("the guest agent did not answer guest-sync-delimited within {limit:?}")]
    Timeout {
        /// The limit that passed.
        limit: Duration,
    },
    /// The connection closed.
    #[error("the guest agent connection closed during guest-sync-delimited")]
    Closed,
    /// Reading or writing the socket failed.
    #[error("guest agent I/O failed during guest-sync-delimited")]
    Io {
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// No random sync id could be drawn from the operating system.
    #[error("could not draw a random guest-sync id from the operating system")]
    Random {
        /// What the RNG said.
        #[source]
        source: getrandom::Error,
    },
}

/// A guest agent command failed or got no answer.
#[derive(Debug, thiserror::Error)]
pub enum QgaCommandError {
    /// The agent answered with an error.
    #[error("guest agent command `{command}` failed: {class}: {desc}")]
    Rejected {
        /// The command that was sent.
        command: String,
        /// The QAPI error class, such as `GenericError`.
        class: String,
        /// The agent's description of the error.
        desc: String,
    },
    /// The agent did not answer in time. The channel is resynchronised
    /// before its next use.
    #[error("the guest agent did not answer `{command}` within {limit:?}")]
    Timeout {
        /// The command that was sent.
        command: String,
        /// The limit that passed.
        limit: Duration,
    },
    /// The connection closed.
    #[error("the guest agent connection closed before `{command}` was answered")]
    Closed {
        /// The command that was sent.
        command: String,
    },
    /// Reading or writing the socket failed.
    #[error("guest agent I/O failed during `{command}`")]
    Io {
        /// The command that was being sent or answered.
        command: String,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The agent sent a line that is not a reply.
    #[error("the guest agent sent a malformed reply to `{command}`")]
    Malformed {
        /// The command that was being answered.
        command: String,
        /// What was wrong with the line.
        #[source]
        source: MalformedMessage,
    },
    /// The channel had to be resynchronised first (after a timeout), and
    /// that failed.
    #[error("could not resynchronise with the guest agent before `{command}`")]
    Resync {
        /// The command that was not sent.
        command: String,
        /// Why the sync failed.
        #[source]
        source: QgaSyncError,
    },
    /// The command succeeded, but its return value is not what this client
    /// expects.
    #[error("guest agent command `{command}` returned a value of an unexpected shape")]
    UnexpectedReturn {
        /// The command that was sent.
        command: String,
        /// What did not match.
        #[source]
        source: serde_json::Error,
    },
}
