//! The pristine snapshot: cold-boot the image once on a fresh disk layer, wait
//! until every service is healthy, save the device state next to the RAM file,
//! and freeze that disk layer with it (RAM and disk of a snapshot must match).
//!
//! `stack-emulator capture` takes it ahead of time; the first `start` of an
//! install takes it when it is missing. The capture VM has its own sockets,
//! logs and API port, so it never disturbs a running session, and one capture
//! per snapshot runs at a time even when state directories share a snapshots
//! directory.

use std::fs;
use std::io;
use std::net::TcpListener;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::time::Duration;

use stack_vm::launch::{HostForward, LaunchSpec, MemoryBackend};
use stack_vm::qmp::{QmpClient, QmpConnectError};

use crate::boot::{create_overlay, fingerprint};
use crate::guest::{self, GUEST_API_PORT, GuestError};
use crate::home::{Home, PristineFiles};
use crate::image::Image;
use crate::machine::{BootError, StartOptions, launch_spec, wait_ready};
use crate::preflight::MissingProgram;
use crate::printer::Printer;
use crate::qemu::QemuProcess;
use crate::secrets::{Secrets, SecretsError};
use crate::session::SessionFiles;
use crate::snapshot::{self, Fingerprint, MigrationError, Unusable};
use crate::space::SpaceError;

/// How long the capture VM may take to exit after QMP `quit`: it writes
/// nothing more (the RAM file is already complete), so this only bounds a hang.
const CAPTURE_QUIT_DEADLINE: Duration = Duration::from_secs(10);

/// How long the capture VM's guest agent may take to answer once the API is
/// healthy. The guest's init starts the agent right after the server, so it
/// normally answers at once; the limit only ends a capture whose agent never
/// comes up.
const CAPTURE_AGENT_DEADLINE: Duration = Duration::from_secs(30);

/// The API port inside the guest, as a forward's target.
#[allow(
    clippy::panic,
    reason = "evaluated at compile time: a zero port fails the build, never a capture"
)]
const GUEST_API: NonZeroU16 = match NonZeroU16::new(GUEST_API_PORT) {
    Some(port) => port,
    None => panic!("the guest's API port is 0"),
};

/// Why the pristine snapshot could not be taken. A capture that fails leaves
/// no snapshot behind; the capture VM's console and QEMU log stay in `run/`.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A QEMU program is missing.
    #[error(transparent)]
    MissingProgram(#[from] MissingProgram),
    /// No guest image could be made ready (`capture` pulls or builds one
    /// when none is installed).
    #[error("cannot get the guest image to capture")]
    Image(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The capture VM's launch spec could not be made from the machine shape.
    #[error("cannot describe the capture VM")]
    Spec(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The snapshots directory has no room for the capture.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// File system trouble in the snapshots directory or with the image.
    #[error("{what} {}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The capture VM's disk layer on the image could not be created.
    #[error("cannot create the capture VM's disk layer")]
    Overlay(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// No host port was free for the capture VM's API.
    #[error("cannot find a free port for the capture VM's API")]
    NoFreePort(#[source] io::Error),
    /// QEMU could not be started for the capture.
    #[error("cannot start QEMU for the capture")]
    Spawn(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The capture VM's guest did not become healthy.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// The capture VM's guest agent did not come up.
    #[error(
        "the capture VM's guest agent did not answer within {} s",
        limit.as_secs()
    )]
    Agent {
        /// How long it had.
        limit: Duration,
        /// The capture VM's console.
        console: PathBuf,
        /// The cause.
        #[source]
        source: GuestError,
    },
    /// The throw-away keys for the capture could not be made.
    #[error("cannot make throw-away keys for the capture")]
    Keys(#[source] SecretsError),
    /// The throw-away keys could not be rotated into the capture VM.
    #[error("cannot rotate throw-away keys into the capture VM")]
    Rotate(#[source] GuestError),
    /// The capture VM's QMP socket could not be used.
    #[error(transparent)]
    Qmp(#[from] QmpConnectError),
    /// QEMU could not save the capture VM's device state.
    #[error("cannot save the capture VM's device state to {}", state.display())]
    Save {
        /// The device-state file.
        state: PathBuf,
        /// The capture VM's QEMU log.
        qemu_log: PathBuf,
        /// The cause.
        #[source]
        source: MigrationError,
    },
}

impl CaptureError {
    /// What to do next, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::MissingProgram(e) => Some(e.hint.clone()),
            Self::Space(e) => e.hint(),
            Self::Boot(e) => e.hint(),
            Self::Agent { console, .. } => Some(format!(
                "the capture VM's console is in {}",
                console.display()
            )),
            Self::Save { qemu_log, .. } => Some(format!(
                "QEMU's log of the capture VM is in {}",
                qemu_log.display()
            )),
            _ => None,
        }
    }
}

/// The cause of a step that still reports `anyhow::Error`, as a source whose
/// typed error stays downcastable: the binary finds its hint that way. A plain
/// `into()` would box anyhow's wrapper instead, which hides the type.
fn cause(e: anyhow::Error) -> Box<dyn std::error::Error + Send + Sync> {
    e.reallocate_into_boxed_dyn_error_without_backtrace()
}

/// Maps an I/O error on `path` to [`CaptureError::Io`].
fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CaptureError {
    let path = path.to_path_buf();
    move |source| CaptureError::Io { what, path, source }
}

/// What a capture did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Captured {
    /// A valid snapshot was already there (perhaps just taken by another process).
    AlreadyThere,
    /// This call took it; saving took this long.
    Taken(Duration),
}

/// Takes the pristine snapshot for `spec` unless a valid one exists.
/// `force` replaces a valid one.
///
/// # Errors
/// A [`CaptureError`] for the step that failed: the snapshots directory, its
/// room, the capture VM's disk layer or QEMU, its boot and health check, the
/// throw-away rotation, or the save. Nothing is left behind.
pub async fn capture_pristine(
    home: &Home,
    qemu_img: &Path,
    image: &Image,
    spec: &LaunchSpec,
    fingerprint: &Fingerprint,
    force: bool,
    printer: &Printer,
) -> Result<Captured, CaptureError> {
    let snapshots = home.snapshots();
    fs::create_dir_all(&snapshots).map_err(io_error("cannot create", &snapshots))?;
    let pristine = home.pristine(fingerprint);
    let dir = &pristine.dir;
    // One capture per snapshot at a time; whoever waited finds it taken.
    let lock_path = &pristine.lock;
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)
        .map_err(io_error("cannot open", lock_path))?;
    lock.lock().map_err(io_error("cannot lock", lock_path))?;
    match snapshot::check(&pristine.state, fingerprint) {
        Ok(_) if !force => return Ok(Captured::AlreadyThere),
        Err(why @ (Unusable::Format { .. } | Unusable::Corrupt | Unusable::Truncated)) => {
            printer.warn(&format!("capturing the pristine snapshot again: {why}"));
        }
        _ => {}
    }
    let _ = fs::remove_dir_all(dir);
    crate::room::require_for_capture(home, spec.memory_mib, None)?;
    fs::create_dir_all(dir).map_err(io_error("cannot create", dir))?;
    let outcome = take(home, qemu_img, image, spec, fingerprint, &pristine, printer).await;
    if outcome.is_err() {
        let _ = fs::remove_dir_all(dir);
    }
    outcome.map(Captured::Taken)
}

async fn take(
    home: &Home,
    qemu_img: &Path,
    image: &Image,
    spec: &LaunchSpec,
    fingerprint: &Fingerprint,
    pristine: &PristineFiles,
    printer: &Printer,
) -> Result<Duration, CaptureError> {
    let state = &pristine.state;
    let layer = &pristine.disk;
    let files = SessionFiles::capture(home, pristine);
    let disk = image.disk();
    let disk = fs::canonicalize(&disk).map_err(io_error("cannot find the image's disk", &disk))?;
    create_overlay(qemu_img, &disk, &files.overlay).map_err(|e| CaptureError::Overlay(cause(e)))?;
    let api_port = free_port()?;
    let mut capture_spec = spec.clone();
    capture_spec.root_disk = files.overlay.clone();
    capture_spec.memory_backend = MemoryBackend::File {
        path: files.ram.clone(),
        shared: true,
    };
    capture_spec.qmp_socket = files.qmp.clone();
    capture_spec.qga_socket = files.qga.clone();
    capture_spec.serial_log = files.serial_log.clone();
    capture_spec.host_forwards = vec![HostForward {
        host_port: api_port,
        guest_port: GUEST_API,
    }];
    capture_spec.incoming = None;
    printer.step("cold-booting the image once to capture its snapshot");
    let mut qemu =
        QemuProcess::spawn(&capture_spec, &files).map_err(|e| CaptureError::Spawn(cause(e)))?;
    let api_port = api_port.get();
    let outcome = async {
        wait_ready(printer, &files, &mut qemu, api_port, false).await?;
        // One rotation with throw-away keys before the capture: the image's
        // build-time keys leave the snapshot, and the server and PostgreSQL
        // keep the rotation's queries prepared and their caches filled, which
        // makes the rotation after every pristine resume faster.
        let mut qga = guest::connect_agent(&files.qga, CAPTURE_AGENT_DEADLINE)
            .await
            .map_err(|source| CaptureError::Agent {
                limit: CAPTURE_AGENT_DEADLINE,
                console: files.serial_log.clone(),
                source,
            })?;
        let throwaway = Secrets::generate().map_err(CaptureError::Keys)?;
        guest::rotate(
            &mut qga,
            &throwaway,
            &format!("http://localhost:{api_port}"),
            &crate::ports::Ports::default().oauth_url(),
            true,
            None,
        )
        .await
        .map_err(CaptureError::Rotate)?;
        printer.step("capturing the pristine snapshot");
        let mut qmp = QmpClient::connect_unix(&files.qmp).await?;
        // The agent connection stays open through the capture (see guest::hold_agent).
        let took = snapshot::capture(&mut qmp, &state.state)
            .await
            .map_err(|source| CaptureError::Save {
                state: state.state.clone(),
                qemu_log: files.qemu_log.clone(),
                source,
            })?;
        let _ = qmp.quit().await;
        drop(qga);
        Ok::<_, CaptureError>(took)
    }
    .await;
    // After a failure before the `quit`, QEMU is killed at the deadline.
    let _ = qemu.quit_or_kill(None, CAPTURE_QUIT_DEADLINE, |_| {}).await;
    for leftover in [&files.qmp, &files.qga, &files.pid] {
        let _ = fs::remove_file(leftover);
    }
    let took = outcome?;
    fs::rename(&files.overlay, layer).map_err(io_error(
        "cannot freeze the snapshot's disk layer as",
        layer,
    ))?;
    fs::rename(&files.ram, &state.ram).map_err(io_error(
        "cannot keep the snapshot's RAM file as",
        &state.ram,
    ))?;
    // Neither may change again: RAM and disk of a snapshot have to match.
    for frozen in [layer, &state.ram] {
        let mut perms = fs::metadata(frozen)
            .map_err(io_error("cannot make read-only", frozen))?
            .permissions();
        perms.set_readonly(true);
        fs::set_permissions(frozen, perms).map_err(io_error("cannot make read-only", frozen))?;
    }
    // The guest's console up to the capture: every session resumed from this
    // snapshot starts its own console log with it (see `start`).
    let _ = fs::rename(&files.serial_log, &pristine.console);
    let meta = snapshot::seal(state, fingerprint)
        .map_err(io_error("cannot seal the snapshot", &pristine.dir))?;
    printer.step(&format!(
        "captured in {:.2} s ({} MiB of RAM)",
        took.as_secs_f64(),
        meta.ram_allocated_bytes >> 20
    ));
    Ok(took)
}

/// A host port that is free now, for the capture VM's API.
fn free_port() -> Result<NonZeroU16, CaptureError> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(CaptureError::NoFreePort)?
        .port();
    NonZeroU16::new(port).ok_or_else(|| {
        CaptureError::NoFreePort(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "the system assigned port 0",
        ))
    })
}

/// `stack-emulator capture`: takes the pristine snapshot for the active image
/// and this machine shape, ahead of the first `start`.
///
/// # Errors
/// As [`capture_pristine`], plus a missing QEMU ([`CaptureError::MissingProgram`]),
/// no image ([`CaptureError::Image`]) or a machine shape QEMU cannot be given
/// ([`CaptureError::Spec`]).
pub async fn capture(
    home: &Home,
    printer: &Printer,
    opts: &StartOptions,
    force: bool,
) -> Result<Captured, CaptureError> {
    let qemu = crate::preflight::find_qemu()?;
    let image = crate::release::install::ensure_image(home, printer, opts.source.clone())
        .await
        .map_err(|e| CaptureError::Image(cause(e)))?;
    let accel = crate::accel::choose(home, &qemu.system).await;
    let files = SessionFiles::of(home);
    let spec = launch_spec(&qemu.system, accel.accelerator, &image, &files, opts)
        .map_err(|e| CaptureError::Spec(cause(e)))?;
    let fingerprint = fingerprint(&spec, &image, &accel.qemu_version);
    capture_pristine(home, &qemu.img, &image, &spec, &fingerprint, force, printer).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused")
    }

    #[test]
    fn an_io_failure_names_the_step_and_the_path_and_gives_its_cause_once() {
        let e = io_error("cannot lock", Path::new("snapshots/0123456789abcdef.lock"))(
            io::Error::new(io::ErrorKind::PermissionDenied, "permission denied"),
        );
        assert_eq!(e.to_string(), "cannot lock snapshots/0123456789abcdef.lock");
        assert_eq!(
            format!("{:#}", anyhow::Error::from(e)),
            "cannot lock snapshots/0123456789abcdef.lock: permission denied"
        );
    }

    #[test]
    fn an_agent_that_never_answers_gives_the_limit_and_points_at_the_console() {
        let e = CaptureError::Agent {
            limit: CAPTURE_AGENT_DEADLINE,
            console: PathBuf::from("run/capture-serial.log"),
            source: GuestError::Agent(Box::new(refused())),
        };
        assert_eq!(
            e.to_string(),
            "the capture VM's guest agent did not answer within 30 s"
        );
        assert_eq!(
            e.hint().as_deref(),
            Some("the capture VM's console is in run/capture-serial.log")
        );
        // What `start` and `pull` print when they go on without the snapshot.
        assert_eq!(
            format!("{:#}", anyhow::Error::from(e)),
            "the capture VM's guest agent did not answer within 30 s: the guest agent did not answer: connection refused"
        );
    }

    #[test]
    fn a_failed_save_names_the_state_file_and_points_at_the_qemu_log() {
        let e = CaptureError::Save {
            state: PathBuf::from("snapshots/0123456789abcdef/state.bin"),
            qemu_log: PathBuf::from("run/capture-qemu.log"),
            source: MigrationError::Failed {
                phase: "capture",
                detail: "Bad address".into(),
            },
        };
        assert_eq!(
            format!("{:#}", anyhow::Error::from(e)),
            "cannot save the capture VM's device state to snapshots/0123456789abcdef/state.bin: QEMU could not capture: Bad address"
        );
        let e = CaptureError::Save {
            state: PathBuf::from("state.bin"),
            qemu_log: PathBuf::from("run/capture-qemu.log"),
            source: MigrationError::Timeout { phase: "capture" },
        };
        assert_eq!(
            e.hint().as_deref(),
            Some("QEMU's log of the capture VM is in run/capture-qemu.log")
        );
    }

    #[test]
    fn wrapped_errors_keep_their_own_message_and_hint() {
        let missing = MissingProgram {
            program: "qemu-img".into(),
            hint: "install QEMU".into(),
        };
        let e = CaptureError::from(missing);
        assert_eq!(e.to_string(), "qemu-img was not found on PATH");
        assert_eq!(e.hint().as_deref(), Some("install QEMU"));

        let e = CaptureError::from(SpaceError::TooLittle {
            dir: PathBuf::from("snapshots"),
            what: "the pristine snapshot".into(),
            needed_bytes: 2 << 20,
            available_bytes: 1 << 20,
            hint: "free some space there".into(),
        });
        assert_eq!(
            e.to_string(),
            "not enough space in snapshots for the pristine snapshot: it needs 2.0 MiB free, but only 1.0 MiB are free"
        );
        assert_eq!(e.hint().as_deref(), Some("free some space there"));

        let e = CaptureError::from(BootError::NotHealthy {
            limit: Duration::from_secs(180),
            console: "  | booting".into(),
        });
        assert!(
            e.to_string()
                .starts_with("the guest did not become healthy within 180 s"),
            "{e}"
        );
        assert_eq!(
            e.hint(),
            BootError::NotHealthy {
                limit: Duration::from_secs(180),
                console: String::new(),
            }
            .hint()
        );
    }

    #[test]
    fn a_cause_from_anyhow_keeps_its_type_and_its_chain() {
        use anyhow::Context as _;
        let overlay = PathBuf::from("snapshots/0123456789abcdef/disk.qcow2.partial");
        let e = CaptureError::Overlay(cause(anyhow::Error::from(BootError::Overlay {
            overlay: overlay.clone(),
        })));
        let source = std::error::Error::source(&e).unwrap();
        assert!(
            matches!(source.downcast_ref::<BootError>(), Some(BootError::Overlay { overlay: o }) if *o == overlay),
            "{source:?}"
        );
        let e = CaptureError::Overlay(cause(
            Err::<(), _>(refused())
                .context("cannot run qemu-img")
                .unwrap_err(),
        ));
        assert_eq!(
            format!("{:#}", anyhow::Error::from(e)),
            "cannot create the capture VM's disk layer: cannot run qemu-img: connection refused"
        );
    }

    #[test]
    fn steps_whose_cause_carries_the_hint_give_none_of_their_own() {
        let cases = [
            CaptureError::NoFreePort(refused()),
            CaptureError::Rotate(GuestError::NoAnswer {
                limit: Duration::from_secs(30),
                seen: None,
            }),
            CaptureError::Image(anyhow::anyhow!("no image").into()),
            CaptureError::Overlay(anyhow::anyhow!("qemu-img failed").into()),
            CaptureError::Spawn(anyhow::anyhow!("no such file").into()),
        ];
        for e in cases {
            assert_eq!(e.hint(), None, "{e}");
        }
    }
}
