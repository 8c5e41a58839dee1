//! `images` and `prune`: the installed versions and their snapshots.

use anyhow::bail;

use crate::home::Home;
use crate::printer::Printer;
use crate::release::{inventory, mib};

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
    let lock_path = home.images().join(".build.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    if lock.try_lock().is_err() {
        bail!(
            "an image build or pull is running in {}\nhint: prune when it has finished",
            home.images().display()
        );
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
        bail!(
            "prune cancelled; nothing was removed\nhint: pass --yes to prune without being asked"
        );
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
