//! The one place where raw QMP lines become typed messages: every line QEMU
//! sends is a greeting, a command's return value, a command's error, or an
//! asynchronous event. What each command's return value means is left to
//! [`super::commands`].

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::wire::MalformedMessage;

/// One message from QEMU.
#[derive(Debug, Clone, PartialEq)]
pub enum QmpMessage {
    /// The greeting QEMU sends once, right after a client connects.
    Greeting(Greeting),
    /// A command succeeded.
    Return {
        /// The `id` the command was sent with, echoed back.
        id: Option<Value>,
        /// The command's return value (`{}` for commands without one).
        value: Value,
    },
    /// A command failed.
    Error {
        /// The `id` the command was sent with, echoed back.
        id: Option<Value>,
        /// What QEMU said went wrong.
        error: QmpErrorReply,
    },
    /// Something happened in QEMU (state change, shutdown, migration step).
    Event(QmpEvent),
}

/// The error body of a failed QMP command.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QmpErrorReply {
    /// The QAPI error class, for example `GenericError` or `CommandNotFound`.
    pub class: String,
    /// QEMU's human-readable description.
    pub desc: String,
}

/// The QMP greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// The version of the QEMU that answered.
    pub version: QemuVersion,
    /// Optional protocol capabilities QEMU offers (this client enables none).
    pub capabilities: Vec<String>,
}

/// A QEMU version, as in the greeting and in `query-version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuVersion {
    /// Major version (10 for QEMU 10.0.2).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Micro (patch) version.
    pub micro: u32,
    /// The distribution's package version, such as
    /// `Debian 1:10.0.2+ds-2+deb13u1~bpo12+1`; empty for upstream builds.
    pub package: String,
}

impl std::fmt::Display for QemuVersion {
    /// Formats as `10.0.2 (Debian 1:10.0.2+ds-2)`, or `10.0.2` without a
    /// package string. Two QEMUs with the same text run snapshots alike, so
    /// this is what goes into a launch fingerprint.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)?;
        if !self.package.is_empty() {
            write!(f, " ({})", self.package)?;
        }
        Ok(())
    }
}

/// An asynchronous QMP event.
#[derive(Debug, Clone, PartialEq)]
pub struct QmpEvent {
    /// The event name, for example `STOP`, `RESUME` or `SHUTDOWN`.
    pub name: String,
    /// The event's data (`Value::Null` when it has none).
    pub data: Value,
    /// When QEMU emitted it (host clock), if QEMU said.
    pub timestamp: Option<EventTimestamp>,
}

/// The host time at which QEMU emitted an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct EventTimestamp {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Microseconds within that second.
    pub microseconds: i64,
}

/// The version object as QEMU sends it: `{"qemu": {...}, "package": "..."}`.
#[derive(Deserialize)]
pub(crate) struct VersionWire {
    qemu: VersionTriple,
    #[serde(default)]
    package: String,
}

#[derive(Deserialize)]
struct VersionTriple {
    major: u32,
    minor: u32,
    micro: u32,
}

impl From<VersionWire> for QemuVersion {
    fn from(wire: VersionWire) -> Self {
        Self {
            major: wire.qemu.major,
            minor: wire.qemu.minor,
            micro: wire.qemu.micro,
            package: wire.package.trim().to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct GreetingWire {
    version: VersionWire,
    #[serde(default)]
    capabilities: Vec<String>,
}

impl QmpMessage {
    /// Parses one line from QEMU.
    ///
    /// # Errors
    ///
    /// [`MalformedMessage`] when the line is not JSON or is none of the four
    /// kinds of message.
    pub fn parse(line: &[u8]) -> Result<Self, MalformedMessage> {
        let value: Value = serde_json::from_slice(line)
            .map_err(|source| MalformedMessage::not_json(line, source))?;
        let Value::Object(object) = value else {
            return Err(MalformedMessage::unknown_shape(line));
        };
        Self::from_object(object).ok_or_else(|| MalformedMessage::unknown_shape(line))
    }

    fn from_object(mut object: Map<String, Value>) -> Option<Self> {
        if let Some(greeting) = object.remove("QMP") {
            let wire: GreetingWire = serde_json::from_value(greeting).ok()?;
            return Some(Self::Greeting(Greeting {
                version: wire.version.into(),
                capabilities: wire.capabilities,
            }));
        }
        if let Some(value) = object.remove("return") {
            return Some(Self::Return {
                id: object.remove("id"),
                value,
            });
        }
        if let Some(error) = object.remove("error") {
            return Some(Self::Error {
                id: object.remove("id"),
                error: serde_json::from_value(error).ok()?,
            });
        }
        if let Some(Value::String(name)) = object.remove("event") {
            let timestamp = object
                .remove("timestamp")
                .and_then(|value| serde_json::from_value(value).ok());
            return Some(Self::Event(QmpEvent {
                name,
                data: object.remove("data").unwrap_or(Value::Null),
                timestamp,
            }));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_qemu_10_greeting() {
        let line = br#"{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"}, "capabilities": ["oob"]}}"#;
        let QmpMessage::Greeting(greeting) = QmpMessage::parse(line).unwrap() else {
            panic!("not a greeting");
        };
        assert_eq!(greeting.version.major, 10);
        assert_eq!(
            greeting.version.to_string(),
            "10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)"
        );
        assert_eq!(greeting.capabilities, vec!["oob".to_owned()]);
    }

    #[test]
    fn parses_returns_errors_and_events() {
        assert_eq!(
            QmpMessage::parse(br#"{"return": {}, "id": 7}"#).unwrap(),
            QmpMessage::Return {
                id: Some(json!(7)),
                value: json!({})
            }
        );
        assert_eq!(
            QmpMessage::parse(br#"{"id": 8, "error": {"class": "GenericError", "desc": "no"}}"#)
                .unwrap(),
            QmpMessage::Error {
                id: Some(json!(8)),
                error: QmpErrorReply {
                    class: "GenericError".into(),
                    desc: "no".into()
                }
            }
        );
        let event = br#"{"timestamp": {"seconds": 1795945979, "microseconds": 322572}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}"#;
        assert_eq!(
            QmpMessage::parse(event).unwrap(),
            QmpMessage::Event(QmpEvent {
                name: "SHUTDOWN".into(),
                data: json!({"guest": false, "reason": "host-qmp-quit"}),
                timestamp: Some(EventTimestamp {
                    seconds: 1_795_945_979,
                    microseconds: 322_572
                }),
            })
        );
    }

    #[test]
    fn rejects_lines_that_are_not_qmp_messages() {
        let error = QmpMessage::parse(b"{\"hello\": 1}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "message has an unknown shape: {\"hello\": 1}"
        );
        let error = QmpMessage::parse(b"not json").unwrap_err();
        assert!(
            matches!(error, MalformedMessage::NotJson { .. }),
            "{error:?}"
        );
        let error = QmpMessage::parse(br#"{"error": "no class"}"#).unwrap_err();
        assert!(
            matches!(error, MalformedMessage::UnknownShape { .. }),
            "{error:?}"
        );
    }
}
