//! The release format: a folder per release holding `manifest.json` and the
//! artifacts it lists, and an `index.json` beside those folders that lists
//! every release. Both documents carry a format version, checked before
//! anything else is read; see `docs/releases.md`.

use serde::{Deserialize, Serialize};

use super::{ReleaseError, ReleaseVersion};
use crate::image::FileEntry;

/// The release manifest format this build writes and reads.
pub const RELEASE_FORMAT: u32 = 1;
/// The index format this build writes and reads.
pub const INDEX_FORMAT: u32 = 1;
/// A release's manifest, in its folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The index, beside the release folders.
pub const INDEX_FILE: &str = "index.json";
/// The oldest QEMU that boots a release's image with its snapshot options
/// (`mapped-ram` migration and the machine type the CLI asks for).
pub const MIN_QEMU: &str = "10.0";

/// How an artifact is compressed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// A zstd frame.
    Zstd,
}

/// One file of a release.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Artifact {
    /// Its file name in the release folder.
    pub file: String,
    /// Size in bytes, as served.
    pub size: u64,
    /// Lower-case hex SHA-256, as served.
    pub sha256: String,
    /// How it is compressed, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
    /// Size and SHA-256 after decompression (required when compressed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<FileEntry>,
}

impl Artifact {
    /// What the installed file is: the decoded entry, or the artifact itself.
    pub fn installed(&self) -> FileEntry {
        self.decoded.clone().unwrap_or_else(|| FileEntry {
            size: self.size,
            sha256: self.sha256.clone(),
        })
    }
}

/// A release: what it is and its files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReleaseManifest {
    /// [`RELEASE_FORMAT`].
    pub format: u32,
    /// The release version (also its folder name and tag).
    pub version: String,
    /// The guest architecture, e.g. `x86_64`.
    pub arch: String,
    /// RFC 3339 time the image was built.
    pub created: String,
    /// The oldest QEMU version that runs it.
    pub min_qemu: String,
    /// The hash of everything the image was built from.
    pub input_hash: String,
    /// The kernel command line the image boots with.
    pub kernel_cmdline: String,
    /// The kernel (`vmlinuz`).
    pub kernel: Artifact,
    /// The initrd (`initrd.img`), when the image has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<Artifact>,
    /// The qcow2 base disk, zstd-compressed (`disk.qcow2.zst`).
    pub disk: Artifact,
    /// Versions of what is inside, as the build reported them.
    #[serde(default)]
    pub build_info: serde_json::Value,
}

impl ReleaseManifest {
    /// Every artifact, kernel first.
    pub fn artifacts(&self) -> Vec<&Artifact> {
        let mut all = vec![&self.kernel];
        all.extend(self.initrd.as_ref());
        all.push(&self.disk);
        all
    }

    /// Bytes to download.
    pub fn download_bytes(&self) -> u64 {
        self.artifacts().iter().map(|a| a.size).sum()
    }

    /// Reads and checks a manifest: the format first, then the fields.
    ///
    /// # Errors
    /// [`ReleaseError::UnknownFormat`] naming both formats, or
    /// [`ReleaseError::BadDocument`] saying what is wrong.
    pub fn parse(bytes: &[u8], location: &str) -> Result<Self, ReleaseError> {
        const WHAT: &str = "release manifest";
        let manifest: Self = parse_versioned(bytes, location, WHAT, RELEASE_FORMAT)?;
        let bad = |problem: String| ReleaseError::BadDocument {
            what: WHAT,
            location: location.to_owned(),
            problem,
        };
        ReleaseVersion::parse(&manifest.version).map_err(bad)?;
        for artifact in manifest.artifacts() {
            check_artifact(artifact).map_err(bad)?;
        }
        if manifest.disk.compression != Some(Compression::Zstd) {
            return Err(bad("the disk must be zstd-compressed".into()));
        }
        Ok(manifest)
    }
}

/// The largest size a manifest may give a file (1 TiB): far above any guest
/// image, and small enough that the sums of a release's sizes cannot overflow.
const MAX_ARTIFACT_BYTES: u64 = 1 << 40;

fn check_artifact(artifact: &Artifact) -> Result<(), String> {
    let sizes = std::iter::once(artifact.size).chain(artifact.decoded.iter().map(|d| d.size));
    if let Some(size) = sizes.into_iter().find(|s| *s > MAX_ARTIFACT_BYTES) {
        return Err(format!(
            "{}: the size {size} is larger than the {MAX_ARTIFACT_BYTES} bytes a release file may have",
            artifact.file
        ));
    }
    let name_ok = !artifact.file.is_empty()
        && !artifact.file.starts_with('.')
        && artifact
            .file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !name_ok {
        return Err(format!("the file name {:?} is not allowed", artifact.file));
    }
    let entries = std::iter::once((&artifact.file, artifact.sha256.as_str())).chain(
        artifact
            .decoded
            .iter()
            .map(|d| (&artifact.file, d.sha256.as_str())),
    );
    for (file, digest) in entries {
        if digest.len() != 64 || !digest.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(format!("{file}: {digest:?} is not a lower-case hex sha256"));
        }
    }
    if artifact.compression.is_some() != artifact.decoded.is_some() {
        return Err(format!(
            "{}: a compressed file needs `decoded` (and only a compressed one has it)",
            artifact.file
        ));
    }
    Ok(())
}

/// One release in the index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndexEntry {
    /// The version (its folder name).
    pub version: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Guest architecture.
    pub arch: String,
    /// Bytes to download.
    pub size: u64,
}

/// The list of releases a server has.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Index {
    /// [`INDEX_FORMAT`].
    pub format: u32,
    /// The version `pull` takes without `--version`.
    pub latest: String,
    /// Every release, newest first.
    pub releases: Vec<IndexEntry>,
}

impl Index {
    /// Reads and checks an index.
    ///
    /// # Errors
    /// [`ReleaseError::UnknownFormat`], [`ReleaseError::BadDocument`].
    pub fn parse(bytes: &[u8], location: &str) -> Result<Self, ReleaseError> {
        const WHAT: &str = "release index";
        let index: Self = parse_versioned(bytes, location, WHAT, INDEX_FORMAT)?;
        for version in
            std::iter::once(&index.latest).chain(index.releases.iter().map(|r| &r.version))
        {
            ReleaseVersion::parse(version).map_err(|problem| ReleaseError::BadDocument {
                what: WHAT,
                location: location.to_owned(),
                problem,
            })?;
        }
        Ok(index)
    }

    /// Adds or replaces a release, makes it the latest, keeps newest first.
    pub fn upsert(&mut self, entry: IndexEntry) {
        self.releases.retain(|r| r.version != entry.version);
        self.latest.clone_from(&entry.version);
        self.releases.push(entry);
        self.releases
            .sort_by(|a, b| b.created.cmp(&a.created).then(b.version.cmp(&a.version)));
    }
}

/// Checks `format` before reading anything else, so a newer document is
/// refused with both version numbers rather than a confusing field error.
fn parse_versioned<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    location: &str,
    what: &'static str,
    supported: u32,
) -> Result<T, ReleaseError> {
    let bad = |problem: String| ReleaseError::BadDocument {
        what,
        location: location.to_owned(),
        problem,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    let found = value
        .get("format")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| bad("it has no numeric `format`".into()))?;
    if found != u64::from(supported) {
        return Err(ReleaseError::UnknownFormat {
            what,
            location: location.to_owned(),
            found,
            supported,
        });
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(file: &str) -> Artifact {
        Artifact {
            file: file.into(),
            size: 3,
            sha256: "a".repeat(64),
            compression: None,
            decoded: None,
        }
    }

    fn manifest() -> ReleaseManifest {
        let mut disk = artifact("disk.qcow2.zst");
        disk.compression = Some(Compression::Zstd);
        disk.decoded = Some(FileEntry {
            size: 9,
            sha256: "b".repeat(64),
        });
        ReleaseManifest {
            format: RELEASE_FORMAT,
            version: "0.1.0".into(),
            arch: "x86_64".into(),
            created: "2026-11-29T12:00:00Z".into(),
            min_qemu: MIN_QEMU.into(),
            input_hash: "c".repeat(64),
            kernel_cmdline: "console=ttyS0".into(),
            kernel: artifact("vmlinuz"),
            initrd: None,
            disk,
            build_info: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_manifest_survives_a_round_trip() {
        let m = manifest();
        let bytes = serde_json::to_vec(&m).unwrap();
        assert_eq!(ReleaseManifest::parse(&bytes, "m").unwrap(), m);
    }

    #[test]
    fn an_unknown_format_names_both_versions() {
        let mut value = serde_json::to_value(manifest()).unwrap();
        value["format"] = 7.into();
        value["kernel"] = serde_json::Value::Null;
        let err = ReleaseManifest::parse(value.to_string().as_bytes(), "x/manifest.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "the release manifest x/manifest.json has format 7; this build of stack-emulator reads format 1"
            ),
            "{err}"
        );
    }

    #[test]
    fn file_names_that_leave_the_folder_are_refused() {
        for name in ["../etc/passwd", "a/b", ".hidden", ""] {
            let mut m = manifest();
            m.kernel.file = name.into();
            let bytes = serde_json::to_vec(&m).unwrap();
            assert!(ReleaseManifest::parse(&bytes, "m").is_err(), "{name:?}");
        }
    }

    #[test]
    fn a_disk_without_its_decoded_digest_is_refused() {
        let mut m = manifest();
        m.disk.decoded = None;
        let bytes = serde_json::to_vec(&m).unwrap();
        let err = ReleaseManifest::parse(&bytes, "m").unwrap_err().to_string();
        assert!(err.contains("needs `decoded`"), "{err}");
    }

    #[test]
    fn upsert_keeps_the_newest_first_and_one_entry_per_version() {
        let mut index = Index {
            format: INDEX_FORMAT,
            latest: "0.1.0".into(),
            releases: vec![],
        };
        let entry = |v: &str, c: &str| IndexEntry {
            version: v.into(),
            created: c.into(),
            arch: "x86_64".into(),
            size: 1,
        };
        index.upsert(entry("0.1.0", "2026-01-01T00:00:00Z"));
        index.upsert(entry("0.2.0", "2026-02-01T00:00:00Z"));
        index.upsert(entry("0.1.0", "2026-01-01T00:00:00Z"));
        let versions: Vec<&str> = index.releases.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(versions, ["0.2.0", "0.1.0"]);
    }
}
