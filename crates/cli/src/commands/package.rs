//! `package`: write an installed image as a release into a folder.

use std::path::PathBuf;

use anyhow::anyhow;
use stack_emulator::home::Home;
use stack_emulator::image;
use stack_emulator::printer::Printer;
use stack_emulator::release::{ReleaseVersion, mib, package};

/// Options of `package`.
#[derive(Debug)]
pub struct PackageArgs {
    /// The folder to write into.
    pub out: PathBuf,
    /// The installed image (default: the active one).
    pub image: Option<String>,
    /// The release version (default: the image's).
    pub version: Option<String>,
    /// zstd level.
    pub level: i32,
}

/// Packages an image.
///
/// # Errors
/// Bad flags, a missing or damaged image, or a folder that cannot be written.
pub async fn package(home: &Home, printer: &Printer, args: PackageArgs) -> anyhow::Result<u8> {
    let image = match &args.image {
        Some(v) => {
            let v = ReleaseVersion::parse(v).map_err(|e| anyhow!("--image: {e}"))?;
            image::load(&home.images().join(v.as_str()))
                .map_err(super::CommandError::NoSuchImage)?
        }
        None => image::active(home)?,
    };
    let version = ReleaseVersion::parse(args.version.as_deref().unwrap_or(&image.manifest.version))
        .map_err(|e| anyhow!("--version: {e}"))?;
    printer.step(&format!(
        "packaging {} as release {version} into {} (zstd level {})",
        image.manifest.version,
        args.out.display(),
        args.level
    ));
    let out = args.out.clone();
    let level = args.level;
    let v = version.clone();
    let manifest =
        tokio::task::spawn_blocking(move || package::package(&image, &v, &out, level)).await??;
    printer.result(&format!(
        "release {version} in {} ({} to download; disk {} compressed from {})",
        args.out.join(version.as_str()).display(),
        mib(manifest.download_bytes()),
        mib(manifest.disk.size),
        mib(manifest.disk.installed().size),
    ));
    Ok(0)
}
