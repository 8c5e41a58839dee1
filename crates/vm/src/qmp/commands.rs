//! Typed helpers for the QMP commands the emulator uses: run state
//! (`query-status`, `stop`, `cont`), shutdown (`quit`, `system_powerdown`),
//! RAM snapshots as migrations to and from a file, and version and KVM
//! queries. Each helper builds the arguments from typed values and decodes
//! the return value into a typed struct; the sequences are the ones checked
//! against QEMU 10 by this crate's QEMU tests (`tests/qemu/migration.rs`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite};

use super::QmpClient;
use super::error::QmpCommandError;
use super::message::{QemuVersion, VersionWire};

/// A QEMU run state, as `query-status` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Started with `-S` and not yet continued.
    Prelaunch,
    /// The guest is running.
    Running,
    /// Stopped by `stop` (or loaded from a stopped snapshot).
    Paused,
    /// Waiting for an incoming migration (`-incoming`).
    InMigrate,
    /// An outgoing migration is finishing.
    FinishMigrate,
    /// An outgoing migration has completed; the source stays stopped.
    PostMigrate,
    /// The guest shut down and QEMU was told not to exit.
    Shutdown,
    /// The guest kernel panicked (with a pvpanic device).
    GuestPanicked,
    /// An I/O error paused the guest.
    IoError,
    /// An internal error paused the guest.
    InternalError,
    /// The guest is suspended to RAM.
    Suspended,
    /// Any other state; the string is QEMU's name for it.
    Other(String),
}

impl RunState {
    /// Maps QEMU's name for a run state to the enum.
    pub fn from_qemu(name: &str) -> Self {
        match name {
            "prelaunch" => Self::Prelaunch,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "inmigrate" => Self::InMigrate,
            "finish-migrate" => Self::FinishMigrate,
            "postmigrate" => Self::PostMigrate,
            "shutdown" => Self::Shutdown,
            "guest-panicked" => Self::GuestPanicked,
            "io-error" => Self::IoError,
            "internal-error" => Self::InternalError,
            "suspended" => Self::Suspended,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// What `query-status` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmStatus {
    /// The run state.
    pub status: RunState,
    /// Whether the vCPUs are running.
    pub running: bool,
}

#[derive(Deserialize)]
struct StatusWire {
    status: String,
    running: bool,
}

/// What `query-kvm` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct KvmInfo {
    /// Whether this QEMU runs the guest with KVM.
    pub enabled: bool,
    /// Whether this QEMU was built with KVM support.
    pub present: bool,
}

/// A migration capability that the emulator may switch on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationCapability {
    /// `mapped-ram`: RAM pages at fixed offsets of a seekable file.
    MappedRam,
    /// `multifd`: several channels in parallel (with `mapped-ram` for files).
    Multifd,
    /// `x-ignore-shared`: leave out RAM that lives in a shared file backend.
    XIgnoreShared,
    /// `events`: emit a `MIGRATION` event on every status change.
    Events,
}

impl MigrationCapability {
    /// QEMU's name for the capability.
    pub fn as_qemu_name(self) -> &'static str {
        match self {
            Self::MappedRam => "mapped-ram",
            Self::Multifd => "multifd",
            Self::XIgnoreShared => "x-ignore-shared",
            Self::Events => "events",
        }
    }
}

/// Compression for multifd channels (it cannot be combined with `mapped-ram`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultifdCompression {
    /// No compression.
    None,
    /// zlib.
    Zlib,
    /// zstd.
    Zstd,
}

impl MultifdCompression {
    /// QEMU's name for the compression method.
    pub fn as_qemu_name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Zlib => "zlib",
            Self::Zstd => "zstd",
        }
    }
}

/// Migration parameters for `migrate-set-parameters`; `None` fields are left
/// as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationParameters {
    /// Bandwidth cap in bytes per second. Raise it for snapshots: the
    /// default of 128 MiB/s makes a 400 MiB capture take 3 s instead of 0.3 s.
    pub max_bandwidth: Option<u64>,
    /// Number of multifd channels.
    pub multifd_channels: Option<u8>,
    /// Multifd compression.
    pub multifd_compression: Option<MultifdCompression>,
    /// Use `O_DIRECT` for `mapped-ram` files.
    pub direct_io: Option<bool>,
}

impl MigrationParameters {
    /// The arguments object for `migrate-set-parameters`, with QEMU's names.
    pub fn to_qmp_arguments(&self) -> Value {
        let mut arguments = Map::new();
        if let Some(bytes_per_second) = self.max_bandwidth {
            arguments.insert("max-bandwidth".to_owned(), bytes_per_second.into());
        }
        if let Some(channels) = self.multifd_channels {
            arguments.insert("multifd-channels".to_owned(), channels.into());
        }
        if let Some(compression) = self.multifd_compression {
            arguments.insert(
                "multifd-compression".to_owned(),
                compression.as_qemu_name().into(),
            );
        }
        if let Some(direct_io) = self.direct_io {
            arguments.insert("direct-io".to_owned(), direct_io.into());
        }
        Value::Object(arguments)
    }
}

/// Where a migration goes to or comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationUri(String);

/// A path that cannot be written as a `file:` migration URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrationUriError {
    /// QEMU resolves relative paths against its own working directory.
    #[error("migration file {path} must be an absolute path")]
    NotAbsolute {
        /// The path given.
        path: PathBuf,
    },
    /// QMP strings are UTF-8.
    #[error("migration file {path} is not valid UTF-8")]
    NotUtf8 {
        /// The path given.
        path: PathBuf,
    },
    /// QEMU reads `,offset=` after the path of a `file:` URI.
    #[error("migration file {path} contains a comma, which QEMU would read as an option")]
    HasComma {
        /// The path given.
        path: PathBuf,
    },
}

impl MigrationUri {
    /// A `file:` URI for the absolute `path`.
    ///
    /// # Errors
    ///
    /// [`MigrationUriError`] when the path is relative, not UTF-8, or
    /// contains a comma.
    pub fn file(path: &Path) -> Result<Self, MigrationUriError> {
        if !path.is_absolute() {
            return Err(MigrationUriError::NotAbsolute {
                path: path.to_owned(),
            });
        }
        let Some(text) = path.to_str() else {
            return Err(MigrationUriError::NotUtf8 {
                path: path.to_owned(),
            });
        };
        if text.contains(',') {
            return Err(MigrationUriError::HasComma {
                path: path.to_owned(),
            });
        }
        Ok(Self(format!("file:{text}")))
    }

    /// An `exec:` URI: QEMU runs `shell_command` with `/bin/sh -c` and writes
    /// the stream to its stdin (outgoing) or reads it from its stdout
    /// (incoming).
    pub fn exec(shell_command: &str) -> Self {
        Self(format!("exec:{shell_command}"))
    }

    /// The URI as QEMU reads it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The status of the current or last migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationStatus {
    /// No migration has been started.
    None,
    /// Setting up.
    Setup,
    /// Transferring.
    Active,
    /// Finished successfully.
    Completed,
    /// Failed; see [`MigrationInfo::error_desc`].
    Failed,
    /// Being cancelled.
    Cancelling,
    /// Cancelled.
    Cancelled,
    /// Any other status; the string is QEMU's name for it.
    Other(String),
}

impl MigrationStatus {
    /// Maps QEMU's name for a migration status to the enum.
    pub fn from_qemu(name: &str) -> Self {
        match name {
            "none" => Self::None,
            "setup" => Self::Setup,
            "active" => Self::Active,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelling" => Self::Cancelling,
            "cancelled" => Self::Cancelled,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// What `query-migrate` returns (the parts the emulator uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationInfo {
    /// The status.
    pub status: MigrationStatus,
    /// Total time in milliseconds, once completed.
    pub total_time_ms: Option<u64>,
    /// RAM bytes transferred so far.
    pub ram_transferred_bytes: Option<u64>,
    /// QEMU's description of a failure.
    pub error_desc: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct MigrationInfoWire {
    status: Option<String>,
    total_time: Option<u64>,
    ram: Option<RamWire>,
    error_desc: Option<String>,
}

#[derive(Deserialize)]
struct RamWire {
    transferred: Option<u64>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> QmpClient<S> {
    /// `query-status`: the run state.
    ///
    /// # Errors
    ///
    /// [`QmpCommandError`] naming `query-status`.
    pub async fn query_status(&mut self) -> Result<VmStatus, QmpCommandError> {
        let wire: StatusWire = self.execute_typed("query-status", None).await?;
        Ok(VmStatus {
            status: RunState::from_qemu(&wire.status),
            running: wire.running,
        })
    }

    /// `stop`: pause the vCPUs.
    ///
    /// # Errors
    ///
    /// [`QmpCommandError`] naming `stop`.
    pub async fn stop(&mut self) -> Result<(), QmpCommandError> {
        self.execute("stop", None).await.map(drop)
    }

    /// `cont`: run the vCPUs (after `-S`, `stop` or an incoming migration).
    ///
    /// # Errors
    ///
    /// [`QmpCommandError`] naming `cont`.
    pub async fn cont(&mut self) -> Result<(), QmpCommandError> {
        self.execute("cont", None).await.map(drop)
    }

    /// `quit`: make QEMU exit at once, without telling the guest. The caller
    /// should then wait for the process to exit. A connection that closes
    /// before the reply counts as success, since that is what quitting does.
    ///
    /// # Errors
    ///
    /// [`QmpCommandError`] naming `quit`, except
    /// [`QmpCommandError::Closed`].
    pub async fn quit(&mut self) -> Result<(), QmpCommandError> {
        match self.execute("quit", None).await {
            Ok(_) | Err(QmpCommandError::Closed { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// `system_powerdown`: press the ACPI power button. QEMU answers (and
    /// emits a `POWERDOWN` event) at once; whether and when the guest shuts
    /// down is up to the guest, so wait for `SHUTDOWN` or the process exit.
    ///
    /// # Errors
    ///
    /// [`QmpCommandError`] naming `system_powerdown`.
    pub async fn system_powerdown(&mut self) -> Result<(), QmpCommandError> {
        self.execute("system_powerdown", None).await.map(drop)
    }

    /// `migrate-set-capabilities`: switch each listed capability on or off.
    /// Source and destination of a snapshot need the same capabilities.
    ///
    /// # Errors
    ///
    /// [`QmpCommandError`] naming `migrate-set-capabilities`.
    pub async fn migrate_set_capabilities(
        &mut self,
        capabilities: &[(MigrationCapability, bool)],
    ) -> Result<(), QmpCommandError> {
        let list: Vec<Value> = capabilities
            .iter()
            .map(|(capability, state)| json!({ "capability": capability.as_qemu_name(), "state": state }))
            .collect();
        self.execute(
            "migrate-set-capabilities",
            Some(json!({ "capabilities": list })),
        )
        .await
        .map(drop)
    }

    /// `migrate-set-parameters`: set the given parameters.
    ///
    /// # Errors
    ///
    /// [`QmpCommandError`] naming `migrate-set-parameters`.
    pub async fn migrate_set_parameters(
        &mut self,
        parameters: &MigrationParameters,
    ) -> Result<(), QmpCommandError> {
        self.execute(
            "migrate-set-parameters",
            Some(parameters.to_qmp_arguments()),
        )
        .await
        .map(drop)
    }

    /// `migrate`: start an outgoing migration to `uri`. It returns at once;
    /// poll [`QmpClient::query_migrate`] until it is completed or failed.
    ///
    /// # Errors
    ///
    /// [`QmpCommandError`] naming `migrate`.
    pub async fn migrate(&mut self, uri: &MigrationUri) -> Result<(), QmpCommandError> {
        self.execute("migrate", Some(json!({ "uri": uri.as_str() })))
            .await
            .map(drop)
    }

    /// `migrate-incoming`: load a migration from `uri` into a QEMU started
    /// with `-incoming defer`. Poll [`QmpClient::query_migrate`] until it is
    /// completed, then [`QmpClient::cont`].
    ///
    /// # Errors
    ///
    /// [`QmpCommandError`] naming `migrate-incoming`.
    pub async fn migrate_incoming(&mut self, uri: &MigrationUri) -> Result<(), QmpCommandError> {
        self.execute("migrate-incoming", Some(json!({ "uri": uri.as_str() })))
            .await
            .map(drop)
    }

    /// `query-migrate`: the status of the current or last migration.
    ///
    /// # Errors
    ///
    /// [`QmpCommandError`] naming `query-migrate`.
    pub async fn query_migrate(&mut self) -> Result<MigrationInfo, QmpCommandError> {
        let wire: MigrationInfoWire = self.execute_typed("query-migrate", None).await?;
        Ok(MigrationInfo {
            // Before any migration QEMU returns `{}`, without a status.
            status: wire
                .status
                .as_deref()
                .map_or(MigrationStatus::None, MigrationStatus::from_qemu),
            total_time_ms: wire.total_time,
            ram_transferred_bytes: wire.ram.and_then(|ram| ram.transferred),
            error_desc: wire.error_desc,
        })
    }

    /// `query-version`: the QEMU version.
    ///
    /// # Errors
    ///
    /// [`QmpCommandError`] naming `query-version`.
    pub async fn query_version(&mut self) -> Result<QemuVersion, QmpCommandError> {
        let wire: VersionWire = self.execute_typed("query-version", None).await?;
        Ok(wire.into())
    }

    /// `query-kvm`: whether KVM is built in and in use.
    ///
    /// # Errors
    ///
    /// [`QmpCommandError`] naming `query-kvm`.
    pub async fn query_kvm(&mut self) -> Result<KvmInfo, QmpCommandError> {
        self.execute_typed("query-kvm", None).await
    }

    async fn execute_typed<T: DeserializeOwned>(
        &mut self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<T, QmpCommandError> {
        let value = self.execute(command, arguments).await?;
        serde_json::from_value(value).map_err(|source| QmpCommandError::UnexpectedReturn {
            command: command.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_are_absolute_utf8_and_comma_free() {
        assert_eq!(
            MigrationUri::file(Path::new("/run/state.bin"))
                .unwrap()
                .as_str(),
            "file:/run/state.bin"
        );
        assert_eq!(
            MigrationUri::file(Path::new("run/state.bin")),
            Err(MigrationUriError::NotAbsolute {
                path: "run/state.bin".into()
            })
        );
        assert_eq!(
            MigrationUri::file(Path::new("/run/a,offset=9")),
            Err(MigrationUriError::HasComma {
                path: "/run/a,offset=9".into()
            })
        );
    }

    #[test]
    fn parameters_serialise_to_qemu_names_and_skip_unset_ones() {
        let parameters = MigrationParameters {
            max_bandwidth: Some(68_719_476_736),
            multifd_channels: Some(2),
            ..MigrationParameters::default()
        };
        assert_eq!(
            parameters.to_qmp_arguments(),
            json!({"max-bandwidth": 68_719_476_736_u64, "multifd-channels": 2})
        );
        let compression = MigrationParameters {
            multifd_compression: Some(MultifdCompression::None),
            direct_io: Some(true),
            ..MigrationParameters::default()
        };
        assert_eq!(
            compression.to_qmp_arguments(),
            json!({"multifd-compression": "none", "direct-io": true})
        );
    }

    #[test]
    fn unknown_states_keep_qemu_names() {
        assert_eq!(RunState::from_qemu("colo"), RunState::Other("colo".into()));
        assert_eq!(RunState::from_qemu("postmigrate"), RunState::PostMigrate);
        assert_eq!(
            MigrationStatus::from_qemu("pre-switchover"),
            MigrationStatus::Other("pre-switchover".into())
        );
    }
}
