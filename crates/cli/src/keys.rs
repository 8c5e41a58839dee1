//! The install's keys and the guest clock, once the guest runs.

use std::fs;
use std::path::PathBuf;

use anyhow::Context as _;
use stack_vm::qga::QgaClient;

use crate::guest;
use crate::ports::Ports;
use crate::printer::Printer;
use crate::secrets::Secrets;
use crate::session::SessionFiles;
use stack_proto::session::SessionFacts;

use crate::boot::Boot;
use crate::machine::BOOT_DEADLINE;

/// Connects to the guest agent as soon as it answers.
/// (The connection waits for QEMU to create and listen on the socket.)
pub(crate) async fn agent(
    qga_socket: PathBuf,
) -> Result<QgaClient<tokio::net::UnixStream>, guest::GuestError> {
    guest::connect_agent(&qga_socket, BOOT_DEADLINE).await
}

/// What making sure of the install's keys needs.
pub(crate) struct KeyStep<'a> {
    pub(crate) files: &'a SessionFiles,
    pub(crate) printer: &'a Printer,
    pub(crate) ports: Ports,
    pub(crate) boot: Boot,
    pub(crate) no_rotation: bool,
    /// What the server is told about its VM (the rotation time is filled in here).
    pub(crate) session: SessionFacts,
}

impl KeyStep<'_> {
    /// Makes sure the guest runs with this install's own secrets and the
    /// host's time (a rotation sets the clock in the same request).
    pub(crate) async fn secure(
        &self,
        mut qga: QgaClient<tokio::net::UnixStream>,
    ) -> anyhow::Result<Option<guest::RotationTimes>> {
        let rotation = self.rotate_if_needed(&mut qga).await?;
        if rotation.is_none() {
            let mut session = self.session.clone();
            session.keys_rotated_at_unix_millis = last_rotation(&self.files.public_api_url);
            guest::set_clock(&mut qga, Some(session)).await?;
        }
        Ok(rotation)
    }

    /// A resumed session or a cold-booted session disk already has the
    /// install's keys; it needs a rotation only when the public URL moved
    /// (a rotation with the same keys applies it). A new session gets its keys.
    async fn rotate_if_needed(
        &self,
        qga: &mut QgaClient<tokio::net::UnixStream>,
    ) -> anyhow::Result<Option<guest::RotationTimes>> {
        let Self {
            files,
            printer,
            ports,
            boot,
            no_rotation,
            ref session,
        } = *self;
        let (secrets, fresh) = match Secrets::load(&files.secrets)? {
            Some(s) => (s, false),
            None => (Secrets::generate()?, true),
        };
        let url_file = &files.public_api_url;
        let url = ports.api_url();
        let oauth_url = ports.oauth_url();
        // The file records both public URLs: a moved port of either needs a rotation.
        let recorded = format!("{url}\n{oauth_url}");
        let url_unchanged = fs::read_to_string(url_file).is_ok_and(|u| u == recorded);
        // A resumed session, or a cold boot of this install's own disk, already runs
        // with its keys; only a new public URL (moved ports) needs a rotation.
        if matches!(boot, Boot::SessionResume | Boot::Cold) && !fresh && url_unchanged {
            return Ok(None);
        }
        if no_rotation && !fresh {
            return Ok(None);
        }
        if no_rotation {
            printer.warn("--no-rotation: this VM keeps the keys of its image or snapshot, which other installs share; use it only where nothing but this machine reaches the ports");
            return Ok(None);
        }
        printer.step(if fresh {
            "making this install's own keys"
        } else {
            "applying this install's keys"
        });
        let times =
            guest::rotate(qga, &secrets, &url, &oauth_url, true, Some(session.clone())).await?;
        if fresh {
            secrets.save(&files.secrets)?;
        }
        fs::write(url_file, &recorded).context("cannot record the public URLs")?;
        Ok(Some(times))
    }
}

/// When this install's keys were last applied: the time the public URLs were
/// recorded, which every rotation does; `None` before the first.
fn last_rotation(url_file: &std::path::Path) -> Option<i64> {
    let modified = fs::metadata(url_file).ok()?.modified().ok()?;
    let millis = modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    i64::try_from(millis).ok()
}
