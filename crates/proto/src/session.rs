//! What the host tells the server about the VM it runs in: sent with every
//! start (in the same inbox request that sets the clock or rotates the keys),
//! shown on the dashboard's emulator page. It holds no secret.

use serde::{Deserialize, Serialize};

/// Longest text field the server accepts.
pub const MAX_TEXT_CHARS: usize = 512;
/// Most forwarded ports the server accepts.
pub const MAX_PORTS: usize = 16;

/// The session the server runs in, as the host started it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionFacts {
    /// The `stack-emulator` version that started the VM.
    pub emulator_version: String,
    /// `kvm`, `hvf` or `tcg`.
    pub accelerator: String,
    /// Why that accelerator (names what to fix when it is `tcg`).
    pub accelerator_reason: String,
    /// The guest image's version.
    pub image_version: String,
    /// How the guest came up: `cold-boot`, `pristine-resume` or `session-resume`.
    pub boot: String,
    /// The snapshot fingerprint, when the VM can hibernate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// When the host started the VM, in milliseconds since the epoch.
    pub started_at_unix_millis: i64,
    /// When this install's keys were last applied, in milliseconds since the
    /// epoch; `None` when the VM runs with its image's keys (`--no-rotation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_rotated_at_unix_millis: Option<i64>,
    /// The forwarded ports.
    pub ports: Vec<ForwardedPort>,
    /// The emulator's state directory on the host.
    pub home: String,
}

/// One service reachable from the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardedPort {
    /// The service, for a person: `API`, `dashboard`, …
    pub service: String,
    /// The port on the host's loopback address.
    pub host: u16,
    /// The port in the guest.
    pub guest: u16,
}

impl SessionFacts {
    /// Why the facts cannot be shown as they are, if they can't: a text
    /// field too long, too many ports, a time before 2020.
    pub fn problem(&self) -> Option<String> {
        let texts = [
            ("emulator_version", &self.emulator_version),
            ("accelerator", &self.accelerator),
            ("accelerator_reason", &self.accelerator_reason),
            ("image_version", &self.image_version),
            ("boot", &self.boot),
            ("home", &self.home),
        ]
        .into_iter()
        .chain(self.snapshot.as_ref().map(|s| ("snapshot", s)))
        .chain(self.ports.iter().map(|p| ("ports.service", &p.service)));
        for (field, text) in texts {
            if text.chars().count() > MAX_TEXT_CHARS {
                return Some(format!(
                    "session.{field} is longer than {MAX_TEXT_CHARS} characters"
                ));
            }
        }
        if self.ports.len() > MAX_PORTS {
            return Some(format!("session.ports lists more than {MAX_PORTS} ports"));
        }
        // 2020-01-01: anything earlier is a clock that was never set.
        let earliest = 1_577_836_800_000;
        if self.started_at_unix_millis < earliest
            || self
                .keys_rotated_at_unix_millis
                .is_some_and(|t| t < earliest)
        {
            return Some("session times must be after 2020-01-01".to_owned());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> SessionFacts {
        SessionFacts {
            emulator_version: "0.1.0".into(),
            accelerator: "tcg".into(),
            accelerator_reason: "KVM is not usable".into(),
            image_version: "2026.12.06".into(),
            boot: "pristine-resume".into(),
            snapshot: Some("ab12".into()),
            started_at_unix_millis: 1_795_945_709_477,
            keys_rotated_at_unix_millis: Some(1_795_945_709_900),
            ports: vec![ForwardedPort {
                service: "API".into(),
                host: 26701,
                guest: 8102,
            }],
            home: "/home/dev/.local/share/stack-emulator".into(),
        }
    }

    #[test]
    fn plausible_facts_pass_and_each_bad_field_is_named() {
        assert_eq!(facts().problem(), None);
        let mut long = facts();
        long.boot = "x".repeat(MAX_TEXT_CHARS + 1);
        assert!(long.problem().is_some_and(|p| p.contains("session.boot")));
        let mut many = facts();
        many.ports = vec![many.ports[0].clone(); MAX_PORTS + 1];
        assert!(many.problem().is_some_and(|p| p.contains("ports")));
        let mut early = facts();
        early.keys_rotated_at_unix_millis = Some(0);
        assert!(early.problem().is_some_and(|p| p.contains("2020")));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut value = serde_json::to_value(facts()).unwrap_or_default();
        value["extra"] = serde_json::json!(1);
        assert!(serde_json::from_value::<SessionFacts>(value).is_err());
    }
}
