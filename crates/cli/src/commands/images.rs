//! `build-image`, `images` and `prune`: the installed versions and their
//! snapshots.

use std::path::PathBuf;

use stack_emulator::home::Home;
use stack_emulator::image;
use stack_emulator::printer::{Printer, Verbosity};
use stack_emulator::release::{inventory, mib};

use super::CommandError;
use crate::exit::Exit;

/// Lists the installed images.
///
/// # Errors
/// `images/` cannot be read.
pub fn images(home: &Home, printer: &Printer) -> anyhow::Result<u8> {
    let inventory = inventory::read(home)?;
    if inventory.images.is_empty() {
        printer.warn(
            "no images installed; run `stack-emulator pull` (or `stack-emulator build-image`)",
        );
        return Ok(0);
    }
    printer.result(&format!(
        "  {:<24} {:<8} {:<20} {:>10}  {:<16} {}",
        "VERSION", "SOURCE", "CREATED", "SIZE", "SNAPSHOTS", "STATE"
    ));
    for installed in &inventory.images {
        let manifest = &installed.image.manifest;
        let mark = if installed.active { "*" } else { " " };
        let source = if manifest.origin.is_some() {
            "pulled"
        } else {
            "built"
        };
        let snapshot_bytes: u64 = installed.snapshots.iter().map(|s| s.bytes).sum();
        let snapshots = format!("{} ({})", installed.snapshots.len(), mib(snapshot_bytes));
        let mut state = Vec::new();
        if installed.active {
            state.push("active");
        }
        if installed.in_use {
            state.push("in use");
        }
        printer.result(
            format!(
                "{mark} {:<24} {:<8} {:<20} {:>10}  {:<16} {}",
                manifest.version,
                source,
                manifest.created,
                mib(installed.bytes),
                snapshots,
                state.join(", ")
            )
            .trim_end(),
        );
    }
    if !inventory.orphans.is_empty() || !inventory.leftovers.is_empty() {
        printer.warn(&format!(
            "{} snapshot(s) of removed images and {} unfinished download(s) or build(s); `stack-emulator prune` removes them",
            inventory.orphans.len(),
            inventory.leftovers.len()
        ));
    }
    Ok(0)
}

/// Removes inactive images that the session does not use, with their snapshots.
///
/// # Errors
/// Not confirmed, a build or pull is running, or a directory cannot be removed.
pub fn prune(home: &Home, printer: &Printer, yes: bool) -> anyhow::Result<u8> {
    // A pull or build writes under images/ while it holds this lock.
    let lock_path = home.image_build_lock();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    if lock.try_lock().is_err() {
        return Err(CommandError::PruneBusy(home.images()).into());
    }
    let plan = inventory::read(home)?.prune_plan();
    if plan.images.is_empty() && plan.others.is_empty() {
        printer
            .result("nothing to prune: only the active image (and the one in use) are installed");
        return Ok(0);
    }
    for dir in plan.images.iter().chain(&plan.others) {
        printer.step(&format!("remove {}", dir.display()));
    }
    let question = format!("Remove these ({})?", mib(plan.bytes));
    if !yes && !super::confirm(&question)? {
        return Err(CommandError::PruneCancelled.into());
    }
    inventory::prune(&plan)?;
    printer.result(&format!(
        "removed {} image(s) and {} snapshot or leftover folder(s), {}",
        plan.images.len(),
        plan.others.len(),
        mib(plan.bytes)
    ));
    Ok(0)
}

/// `stack-emulator build-image`: builds the guest image (cached by a hash of
/// its inputs) and prints what it built.
///
/// # Errors
/// No source tree, the lock, or the build failed.
pub async fn build_image(
    home: &Home,
    printer: &Printer,
    verbosity: Verbosity,
    force: bool,
    source: Option<PathBuf>,
) -> anyhow::Result<u8> {
    let source = image::source_root(source)?;
    let _lock = home.try_lock()?;
    let home = home.clone();
    let built = tokio::task::spawn_blocking(move || {
        let printer = Printer::new(verbosity);
        image::build(&home, &source, force, &printer)
    })
    .await??;
    printer.result(&format!(
        "{} ({} MiB disk, {} MiB kernel) in {}",
        built.manifest.version,
        built.manifest.disk.size / (1 << 20),
        built.manifest.kernel.size / (1 << 20),
        built.dir.display()
    ));
    Ok(Exit::Success.code())
}
