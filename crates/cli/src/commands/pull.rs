//! `pull` and `list-releases`: releases from a server, mirror or local folder.

use anyhow::anyhow;
use stack_emulator::home::Home;
use stack_emulator::image::Image;
use stack_emulator::printer::Printer;
use stack_emulator::progress::DownloadProgress;
use stack_emulator::release::install::{self, Pulled};
use stack_emulator::release::source::Source;
use stack_emulator::release::{ReleaseError, ReleaseVersion, inventory, mib};

/// Pulls a release; returns the exit code.
///
/// # Errors
/// Bad flags, or what the pull reports.
pub async fn pull(
    home: &Home,
    printer: &Printer,
    version: Option<&str>,
    from: Option<&str>,
    skip_snapshot: bool,
) -> anyhow::Result<u8> {
    let asked = version
        .map(ReleaseVersion::parse)
        .transpose()
        .map_err(|e| anyhow!("--version: {e}"))?;
    let source = Source::resolve(from)?;
    let reporter = DownloadProgress::for_printer(printer);
    let work = async {
        let version = install::choose_version(&source, asked).await?;
        install::pull(home, &source, &version, printer, &reporter).await
    };
    // Ctrl-C drops the download where it is: every byte written so far is a
    // prefix of the file, so the `.part` resumes at the next pull.
    let pulled = tokio::select! {
        pulled = work => pulled?,
        _ = tokio::signal::ctrl_c() => {
            let dir = home.images().join(install::DOWNLOADS_DIR);
            let kept = mib(stack_emulator::space::disk_usage(&dir));
            return Err(ReleaseError::Interrupted { dir, kept }.into());
        }
    };
    let image = pulled.image();
    match &pulled {
        Pulled::Installed(_) => printer.result(&format!(
            "{} installed in {} and active",
            image.manifest.version,
            image.dir.display()
        )),
        Pulled::AlreadyInstalled(_) => printer.result(&format!(
            "{} was installed already; it is active",
            image.manifest.version
        )),
    }
    warn_if_session_uses_another(home, printer, &image.manifest.version);
    capture_after_pull(home, printer, image, skip_snapshot).await?;
    Ok(0)
}

/// The session's disk stands on the image it was made with; `start` refuses
/// to mix it with another one, so say so now rather than at the next start.
fn warn_if_session_uses_another(home: &Home, printer: &Printer, active: &str) {
    let files = stack_emulator::session::SessionFiles::of(home);
    if !files.overlay.exists() {
        return;
    }
    let Ok(used) = std::fs::read_to_string(&files.image_marker) else {
        return;
    };
    let used = used.trim();
    if !used.is_empty() && used != active {
        printer.warn(&format!(
            "this install's session data was made with image {used}; `start` uses it only with that image: `stack-emulator pull --version {used}` makes it active again, `stack-emulator reset` starts over on {active}"
        ));
    }
}

/// The last step of `pull`: the pristine snapshot of the image just
/// installed, so that the first `start` resumes instead of cold-booting.
///
/// # Errors
/// The capture failed.
async fn capture_after_pull(
    home: &Home,
    printer: &Printer,
    image: &Image,
    skip_snapshot: bool,
) -> anyhow::Result<()> {
    if skip_snapshot {
        printer.step("no pristine snapshot now (--skip-snapshot); the first `start` captures it");
        return Ok(());
    }
    let opts = stack_emulator::start::StartOptions::for_capture();
    // The image is installed either way: a capture that fails only means the
    // first `start` tries again.
    match stack_emulator::capture::capture(home, printer, &opts, false).await {
        Ok(stack_emulator::capture::Captured::Taken(_)) => {
            printer.step(&format!(
                "the pristine snapshot of {} is ready; `start` resumes it",
                image.manifest.version
            ));
        }
        Ok(stack_emulator::capture::Captured::AlreadyThere) => {
            printer.step("the pristine snapshot of this image is already there");
        }
        Err(e) => printer.warn(&format!(
            "could not capture the pristine snapshot ({:#}); the first `start` tries again",
            anyhow::Error::from(e)
        )),
    }
    Ok(())
}

/// Lists a server's releases with what is installed and active.
///
/// # Errors
/// The index cannot be read.
pub async fn list_releases(
    home: &Home,
    printer: &Printer,
    from: Option<&str>,
) -> anyhow::Result<u8> {
    let source = Source::resolve(from)?;
    let index = source.index().await?;
    let installed = inventory::read(home)?;
    printer.result(&format!(
        "{:<24} {:<10} {:>10}  {}",
        "VERSION", "DATE", "SIZE", "STATE"
    ));
    for release in &index.releases {
        let mine = installed
            .images
            .iter()
            .find(|i| i.image.manifest.version == release.version);
        let mut state: Vec<&str> = Vec::new();
        match mine {
            Some(i) if i.active => state.push("active"),
            Some(_) => state.push("installed"),
            None => {}
        }
        if release.version == index.latest {
            state.push("latest");
        }
        printer.result(
            format!(
                "{:<24} {:<10} {:>10}  {}",
                release.version,
                release.created.get(..10).unwrap_or(&release.created),
                mib(release.size),
                state.join(", ")
            )
            .trim_end(),
        );
    }
    if index.releases.is_empty() {
        printer.warn(&format!("{} lists no releases", source.index_location()));
    }
    Ok(0)
}
