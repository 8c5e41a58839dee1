//! What can go wrong when talking QMP, one enum per operation: connecting,
//! the greeting and capability handshake, running a command, and waiting for
//! an event. Each error names the socket, command or event it is about.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::wire::MalformedMessage;

/// Connecting to QEMU's QMP Unix socket failed.
#[derive(Debug, thiserror::Error)]
pub enum QmpConnectError {
    /// The socket could not be connected to.
    #[error("could not connect to the QMP socket {path}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Connecting blocked for too long (QEMU is not accepting connections).
    #[error("connecting to the QMP socket {path} did not complete within {limit:?}")]
    ConnectTimeout {
        /// The socket path.
        path: PathBuf,
        /// The limit that passed.
        limit: Duration,
    },
    /// The socket did not appear or accept connections in time.
    #[error("the QMP socket {path} did not accept a connection within {limit:?}; is QEMU running?")]
    NotReady {
        /// The socket path.
        path: PathBuf,
        /// The limit that passed.
        limit: Duration,
    },
    /// Connected, but the QMP handshake failed.
    #[error("QMP handshake on {path} failed")]
    Handshake {
        /// The socket path.
        path: PathBuf,
        /// Why the handshake failed.
        #[source]
        source: QmpHandshakeError,
    },
}

/// Reading the QMP greeting or negotiating capabilities failed.
#[derive(Debug, thiserror::Error)]
pub enum QmpHandshakeError {
    /// QEMU did not greet in time.
    #[error("QEMU sent no QMP greeting within {limit:?}")]
    GreetingTimeout {
        /// The limit that passed.
        limit: Duration,
    },
    /// QEMU closed the connection before greeting.
    #[error("QEMU closed the QMP connection before its greeting")]
    Closed,
    /// Reading the greeting failed.
    #[error("reading the QMP greeting failed")]
    Io {
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The first line was not a QMP message.
    #[error("QEMU's first QMP line is malformed")]
    Malformed {
        /// What was wrong with it.
        #[source]
        source: MalformedMessage,
    },
    /// The first message was a valid QMP message, but not the greeting.
    #[error("QEMU's first QMP message is {kind}, not the greeting")]
    NotAGreeting {
        /// What kind of message came instead.
        kind: &'static str,
    },
    /// `qmp_capabilities` failed.
    #[error("QMP capability negotiation failed")]
    Capabilities {
        /// How the command failed.
        #[source]
        source: QmpCommandError,
    },
}

/// A QMP command failed or got no answer.
#[derive(Debug, thiserror::Error)]
pub enum QmpCommandError {
    /// QEMU answered with an error.
    #[error("QMP command `{command}` failed: {class}: {desc}")]
    Rejected {
        /// The command that was sent.
        command: String,
        /// The QAPI error class, such as `GenericError`.
        class: String,
        /// QEMU's description of the error.
        desc: String,
    },
    /// QEMU did not answer in time.
    #[error("QEMU did not answer QMP command `{command}` within {limit:?}")]
    Timeout {
        /// The command that was sent.
        command: String,
        /// The limit that passed.
        limit: Duration,
    },
    /// QEMU closed the connection (it exited, or dropped the client).
    #[error("QEMU closed the QMP connection before answering `{command}`")]
    Closed {
        /// The command that was sent.
        command: String,
    },
    /// Reading or writing the socket failed.
    #[error("QMP I/O failed during `{command}`")]
    Io {
        /// The command that was being sent or answered.
        command: String,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// QEMU sent a line that is not a QMP message.
    #[error("QEMU sent a malformed QMP message during `{command}`")]
    Malformed {
        /// The command that was being answered.
        command: String,
        /// What was wrong with the line.
        #[source]
        source: MalformedMessage,
    },
    /// An earlier command's write was interrupted, so QEMU may hold half a
    /// command; the connection cannot be used any more.
    #[error(
        "the QMP connection is unusable after an interrupted write; reconnect before sending `{command}`"
    )]
    Unusable {
        /// The command that was not sent.
        command: String,
    },
    /// The command succeeded, but its return value is not what this client
    /// expects.
    #[error("QMP command `{command}` returned a value of an unexpected shape")]
    UnexpectedReturn {
        /// The command that was sent.
        command: String,
        /// What did not match.
        #[source]
        source: serde_json::Error,
    },
}

/// Waiting for a QMP event failed.
#[derive(Debug, thiserror::Error)]
pub enum QmpEventError {
    /// The event did not come in time.
    #[error("QEMU sent no `{event}` event within {limit:?}")]
    Timeout {
        /// The awaited event name.
        event: String,
        /// The limit that passed.
        limit: Duration,
    },
    /// QEMU closed the connection first.
    #[error("QEMU closed the QMP connection before sending `{event}`")]
    Closed {
        /// The awaited event name.
        event: String,
    },
    /// Reading the socket failed.
    #[error("QMP I/O failed while waiting for `{event}`")]
    Io {
        /// The awaited event name.
        event: String,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// QEMU sent a line that is not a QMP message.
    #[error("QEMU sent a malformed QMP message while waiting for `{event}`")]
    Malformed {
        /// The awaited event name.
        event: String,
        /// What was wrong with the line.
        #[source]
        source: MalformedMessage,
    },
}

/// Why a message could not be read, before it is tied to an operation.
#[derive(Debug)]
pub(super) enum ReadFailure {
    Io(io::Error),
    Closed,
    Malformed(MalformedMessage),
}

impl ReadFailure {
    pub(super) fn for_command(self, command: &str) -> QmpCommandError {
        let command = command.to_owned();
        match self {
            Self::Io(source) => QmpCommandError::Io { command, source },
            Self::Closed => QmpCommandError::Closed { command },
            Self::Malformed(source) => QmpCommandError::Malformed { command, source },
        }
    }

    pub(super) fn for_event(self, event: &str) -> QmpEventError {
        let event = event.to_owned();
        match self {
            Self::Io(source) => QmpEventError::Io { event, source },
            Self::Closed => QmpEventError::Closed { event },
            Self::Malformed(source) => QmpEventError::Malformed { event, source },
        }
    }

    pub(super) fn for_greeting(self) -> QmpHandshakeError {
        match self {
            Self::Io(source) => QmpHandshakeError::Io { source },
            Self::Closed => QmpHandshakeError::Closed,
            Self::Malformed(source) => QmpHandshakeError::Malformed { source },
        }
    }
}
