//! What the host tells the server about the VM it runs in: sent with every
//! start (in the same inbox request that sets the clock or rotates the keys),
//! shown on the dashboard's emulator page. It holds no secret; the server
//! checks its fields.

use serde::{Deserialize, Serialize};

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
    fn unknown_fields_are_refused() {
        let mut value = serde_json::to_value(facts()).unwrap_or_default();
        value["extra"] = serde_json::json!(1);
        assert!(serde_json::from_value::<SessionFacts>(value).is_err());
    }
}
