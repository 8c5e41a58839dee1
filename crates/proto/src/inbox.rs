//! The running server's inbox: how the host, through the guest agent's file
//! commands, asks the server to set the clock and rotate its secrets without
//! starting a program in the guest.
//!
//! The server makes two files in [`GUEST_DIR`]: [`INBOX_FILE`], a FIFO into
//! which the host writes one [`Request`] as a line of JSON, and
//! [`OUTBOX_FILE`], to which the server appends one [`Answer`] line per
//! request. The host empties the outbox before each request.

use serde::{Deserialize, Serialize};

use crate::rotation::{RotationDocument, RotationReport};
use crate::session::SessionFacts;

/// The inbox directory in the guest (the server's `--inbox`).
pub const GUEST_DIR: &str = "/run/stack-server";
/// The FIFO's file name in the inbox directory.
pub const INBOX_FILE: &str = "inbox";
/// The answers' file name in the inbox directory.
pub const OUTBOX_FILE: &str = "outbox";
/// Longest request id the server echoes.
pub const MAX_ID_CHARS: usize = 64;

/// One request. The clock is set first, then the rotation applied, so that
/// the tokens the rotation's read-back issues carry the right times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Echoed in the answer, so that the host knows its own (1 to
    /// [`MAX_ID_CHARS`] characters).
    pub id: String,
    /// Set the system clock to this time, in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_clock_unix_millis: Option<i64>,
    /// Then apply this rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationDocument>,
    /// And record these facts about the VM, for the dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionFacts>,
}

/// The server's answer to one request: `{"id", "ok": true, "clock_set",
/// "rotation"}` when everything asked was done, `{"id", "ok": false, "error"}`
/// when nothing was changed (a bad request changes nothing; a failed rotation
/// is rolled back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The request's id; `None` when the request could not be read that far.
    pub id: Option<String>,
    /// Whether everything asked was done.
    pub ok: bool,
    /// Whether the clock was set.
    #[serde(default)]
    pub clock_set: bool,
    /// The rotation's report, when a rotation was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationReport>,
    /// Why nothing was done, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Answer {
    /// Everything asked was done.
    pub fn done(id: &str, clock_set: bool, rotation: Option<RotationReport>) -> Self {
        Self {
            id: Some(id.to_owned()),
            ok: true,
            clock_set,
            rotation,
            error: None,
        }
    }

    /// Nothing was done, for `error`.
    pub fn failed(id: Option<&str>, error: impl Into<String>) -> Self {
        Self {
            id: id.map(str::to_owned),
            ok: false,
            clock_set: false,
            rotation: None,
            error: Some(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::{FORMAT_VERSION, InternalProjectKeys, PublicUrls};

    #[test]
    fn requests_and_answers_survive_a_round_trip_as_one_line() {
        let request = Request {
            id: "17".into(),
            set_clock_unix_millis: Some(1_795_945_709_477),
            rotation: Some(RotationDocument {
                format: FORMAT_VERSION,
                internal_project_keys: InternalProjectKeys {
                    publishable_client_key: "pck_a".into(),
                    secret_server_key: "ssk_b".into(),
                    super_secret_admin_key: "sak_c".into(),
                },
                token_signing_secret: "s".into(),
                cron_secret: "c".into(),
                database_password: None,
                public_urls: PublicUrls {
                    api: "http://localhost:26701".into(),
                    ..PublicUrls::default()
                },
                now_unix_millis: 1,
            }),
            session: None,
        };
        let line = serde_json::to_string(&request).unwrap_or_default();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Request>(&line).ok(), Some(request));
        for answer in [
            Answer::done(
                "17",
                true,
                Some(RotationReport {
                    apply_ms: 1.5,
                    confirm_ms: 2.0,
                    steps_ms: vec![("begin".into(), 0.5)],
                }),
            ),
            Answer::failed(None, "the request is not valid"),
        ] {
            let line = serde_json::to_string(&answer).unwrap_or_default();
            assert_eq!(serde_json::from_str::<Answer>(&line).ok(), Some(answer));
        }
    }

    #[test]
    fn debug_output_names_no_secret() {
        let keys = InternalProjectKeys {
            publishable_client_key: "pck_visible".into(),
            secret_server_key: "ssk_visible".into(),
            super_secret_admin_key: "sak_visible".into(),
        };
        assert!(!format!("{keys:?}").contains("visible"));
    }
}
