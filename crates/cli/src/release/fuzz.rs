//! Fuzz targets for the release manifest and index parsers: a release server,
//! a mirror or a folder given with `--from` is outside input, and
//! `ReleaseManifest::parse` and `Index::parse` are what stand between it and
//! the paths, sizes and versions the rest of `pull` acts on.
//!
//! Each parser has two targets: any bytes, and a valid document with generated
//! changes (fields set to other values or types, removed, or added), which gets
//! past the JSON syntax into the checks behind it. No input may panic, and a
//! document that parses must keep the promises `pull` relies on: a version that
//! is a safe directory name, artifact names that stay inside the release
//! folder, sizes that can be added up, and a form that survives being written
//! and read again.
//!
//! Under `cargo test` each target runs random inputs for [`CI_TIME`]; under
//! `cargo bolero test` the same targets run under libFuzzer (`docs/fuzzing.md`).

// Only in the unit tests: bolero is a dev-dependency.
#![cfg(test)]

use std::path::{Component, Path};
use std::time::Duration;

use bolero::{TypeGenerator, check};
use serde_json::{Value, json};

use super::ReleaseVersion;
use super::format::{INDEX_FORMAT, Index, IndexEntry, RELEASE_FORMAT, ReleaseManifest};

/// How long each target runs random inputs inside `cargo test` (thousands of
/// inputs in a debug build); a time bound, so that a slow machine runs fewer
/// inputs rather than for longer. `BOLERO_RANDOM_TEST_TIME_MS` in the
/// environment overrides it.
const CI_TIME: Duration = Duration::from_secs(2);

const HEX_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const HEX_B: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Strings the checks compare against, and near misses.
const TEXTS: &[&str] = &[
    "",
    "0.1.0",
    "v0.2.0-rc.1",
    "1.0+build5",
    "active",
    "..",
    ".hidden",
    "-x",
    "a/b",
    "a\\b",
    "é",
    "vmlinuz",
    "initrd.img",
    "disk.qcow2.zst",
    "../etc/passwd",
    "/etc/passwd",
    "C:",
    "zstd",
    "gzip",
    "ZSTD",
    HEX_A,
    HEX_B,
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "aaaa",
    "x86_64",
    "2026-11-29T12:00:00Z",
    "10.0",
    "console=ttyS0",
    "\u{0}",
];

/// A value to put somewhere in a document.
#[derive(Debug, Clone, TypeGenerator)]
enum Val {
    Null,
    Bool(bool),
    Small(u16),
    Big(u64),
    /// Near `u64::MAX`, so that sizes overflow when added.
    Huge(#[generator(0..16)] u8),
    Negative(i64),
    Float(f64),
    Known(#[generator(0..TEXTS.len())] usize),
    Text(String),
    /// A run of one character (versions and names at and past their length limits).
    Repeat(char, u8),
    EmptyObject,
    EmptyArray,
}

impl Val {
    fn json(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => json!(b),
            Self::Small(n) => json!(n),
            Self::Big(n) => json!(n),
            Self::Huge(n) => json!(u64::MAX - u64::from(*n)),
            Self::Negative(n) => json!(n),
            Self::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Self::Known(i) => json!(TEXTS[*i]),
            Self::Text(s) => json!(s),
            Self::Repeat(c, n) => json!(c.to_string().repeat(usize::from(*n))),
            Self::EmptyObject => json!({}),
            Self::EmptyArray => json!([]),
        }
    }
}

/// A field of an artifact.
#[derive(Debug, Clone, TypeGenerator)]
enum ArtifactField {
    Whole,
    File,
    Size,
    Sha256,
    Compression,
    Decoded,
    DecodedSize,
    DecodedSha256,
    Extra(String),
}

impl ArtifactField {
    fn path(&self) -> Vec<String> {
        let p = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect();
        match self {
            Self::Whole => Vec::new(),
            Self::File => p(&["file"]),
            Self::Size => p(&["size"]),
            Self::Sha256 => p(&["sha256"]),
            Self::Compression => p(&["compression"]),
            Self::Decoded => p(&["decoded"]),
            Self::DecodedSize => p(&["decoded", "size"]),
            Self::DecodedSha256 => p(&["decoded", "sha256"]),
            Self::Extra(name) => vec![name.clone()],
        }
    }
}

/// A field of a manifest.
#[derive(Debug, Clone, TypeGenerator)]
enum ManifestField {
    Format,
    Version,
    Arch,
    Created,
    MinQemu,
    InputHash,
    KernelCmdline,
    BuildInfo,
    Kernel(ArtifactField),
    Initrd(ArtifactField),
    Disk(ArtifactField),
    Extra(String),
}

impl ManifestField {
    fn path(&self) -> Vec<String> {
        let top =
            |name: &str, rest: Vec<String>| std::iter::once(name.to_owned()).chain(rest).collect();
        match self {
            Self::Format => top("format", Vec::new()),
            Self::Version => top("version", Vec::new()),
            Self::Arch => top("arch", Vec::new()),
            Self::Created => top("created", Vec::new()),
            Self::MinQemu => top("min_qemu", Vec::new()),
            Self::InputHash => top("input_hash", Vec::new()),
            Self::KernelCmdline => top("kernel_cmdline", Vec::new()),
            Self::BuildInfo => top("build_info", Vec::new()),
            Self::Kernel(f) => top("kernel", f.path()),
            Self::Initrd(f) => top("initrd", f.path()),
            Self::Disk(f) => top("disk", f.path()),
            Self::Extra(name) => vec![name.clone()],
        }
    }
}

/// A field of an index.
#[derive(Debug, Clone, TypeGenerator)]
enum IndexField {
    Format,
    Latest,
    Releases,
    /// A field of the entry at this position (`None`: the whole entry).
    Entry(u8, Option<EntryField>),
    Extra(String),
}

#[derive(Debug, Clone, TypeGenerator)]
enum EntryField {
    Version,
    Created,
    Arch,
    Size,
    Extra(String),
}

impl IndexField {
    fn path(&self) -> Vec<String> {
        match self {
            Self::Format => vec!["format".into()],
            Self::Latest => vec!["latest".into()],
            Self::Releases => vec!["releases".into()],
            Self::Entry(i, field) => {
                let mut path = vec!["releases".into(), (i % 4).to_string()];
                path.extend(field.as_ref().map(|f| match f {
                    EntryField::Version => "version".to_owned(),
                    EntryField::Created => "created".to_owned(),
                    EntryField::Arch => "arch".to_owned(),
                    EntryField::Size => "size".to_owned(),
                    EntryField::Extra(name) => name.clone(),
                }));
                path
            }
            Self::Extra(name) => vec![name.clone()],
        }
    }
}

/// A change to a document.
#[derive(Debug, Clone, TypeGenerator)]
enum Change<F> {
    Set(F, Val),
    Remove(F),
}

/// A few changes to a manifest (more would change `format` nearly every time).
#[derive(Debug, Clone, TypeGenerator)]
struct ManifestChanges(
    #[generator(Vec::produce().with().len(0usize..5))] Vec<Change<ManifestField>>,
);

/// A few changes to an index.
#[derive(Debug, Clone, TypeGenerator)]
struct IndexChanges(#[generator(Vec::produce().with().len(0usize..5))] Vec<Change<IndexField>>);

/// Applies `value` (or removes the field when `None`) at `path`; a path through
/// something that is not an object or array changes nothing.
fn apply(doc: &mut Value, path: &[String], value: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        if let Some(v) = value {
            *doc = v;
        }
        return;
    };
    let mut at = doc;
    for key in parents {
        at = match at {
            Value::Object(map) => map.entry(key.clone()).or_insert_with(|| json!({})),
            Value::Array(items) => match key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(item) => item,
                None => return,
            },
            _ => return,
        };
    }
    match (at, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(last.clone(), v);
        }
        (Value::Object(map), None) => {
            map.remove(last);
        }
        (Value::Array(items), v) => {
            if let Ok(i) = last.parse::<usize>() {
                match v {
                    Some(v) if i < items.len() => items[i] = v,
                    Some(v) => items.push(v),
                    None if i < items.len() => {
                        items.remove(i);
                    }
                    None => {}
                }
            }
        }
        _ => {}
    }
}

fn valid_manifest() -> Value {
    json!({
        "format": RELEASE_FORMAT,
        "version": "0.1.0",
        "arch": "x86_64",
        "created": "2026-11-29T12:00:00Z",
        "min_qemu": "10.0",
        "input_hash": HEX_A,
        "kernel_cmdline": "console=ttyS0",
        "kernel": { "file": "vmlinuz", "size": 3, "sha256": HEX_A },
        "initrd": { "file": "initrd.img", "size": 4, "sha256": HEX_B },
        "disk": {
            "file": "disk.qcow2.zst",
            "size": 5,
            "sha256": HEX_A,
            "compression": "zstd",
            "decoded": { "size": 9, "sha256": HEX_B }
        },
        "build_info": { "kernel": "6.12" }
    })
}

fn valid_index() -> Value {
    json!({
        "format": INDEX_FORMAT,
        "latest": "0.2.0",
        "releases": [
            { "version": "0.2.0", "created": "2026-02-01T00:00:00Z", "arch": "x86_64", "size": 7 },
            { "version": "0.1.0", "created": "2026-01-01T00:00:00Z", "arch": "x86_64", "size": 5 }
        ]
    })
}

/// Applies `changes` to `doc`.
fn changed<F>(mut doc: Value, changes: &[Change<F>], path: impl Fn(&F) -> Vec<String>) -> Vec<u8> {
    for change in changes {
        match change {
            Change::Set(field, val) => apply(&mut doc, &path(field), Some(val.json())),
            Change::Remove(field) => apply(&mut doc, &path(field), None),
        }
    }
    doc.to_string().into_bytes()
}

/// A file name `pull` can join to the release folder without leaving it.
fn stays_in_folder(file: &str) -> bool {
    let mut components = Path::new(file).components();
    matches!(components.next(), Some(Component::Normal(_))) && components.next().is_none()
}

/// Parses a manifest and checks what a parsed one promises.
fn check_manifest(bytes: &[u8]) {
    let manifest = match ReleaseManifest::parse(bytes, "fuzz/manifest.json") {
        Ok(manifest) => manifest,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    assert!(ReleaseVersion::parse(&manifest.version).is_ok());
    for artifact in manifest.artifacts() {
        assert!(stays_in_folder(&artifact.file), "{:?}", artifact.file);
        let _ = artifact.installed();
    }
    let _ = super::mib(manifest.download_bytes());
    // serde_json reads floats back only to within one ulp, so `build_info`
    // (free-form) is left out of the comparison.
    let mut expected = manifest.clone();
    expected.build_info = Value::Null;
    let written = serde_json::to_vec(&expected).expect("a manifest serializes");
    let mut reread = ReleaseManifest::parse(&written, "fuzz/rewritten.json")
        .expect("a manifest that parsed parses again once written");
    reread.build_info = Value::Null;
    assert_eq!(reread, expected);
}

/// Parses an index and checks what a parsed one promises.
fn check_index(bytes: &[u8]) {
    let mut index = match Index::parse(bytes, "fuzz/index.json") {
        Ok(index) => index,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    for version in std::iter::once(&index.latest).chain(index.releases.iter().map(|r| &r.version)) {
        assert!(ReleaseVersion::parse(version).is_ok(), "{version:?}");
    }
    let written = serde_json::to_vec(&index).expect("an index serializes");
    let reread = Index::parse(&written, "fuzz/rewritten.json")
        .expect("an index that parsed parses again once written");
    assert_eq!(reread, index);
    index.upsert(IndexEntry {
        version: "9.9.9".into(),
        created: "2026-12-01T00:00:00Z".into(),
        arch: "x86_64".into(),
        size: 1,
    });
    assert_eq!(index.latest, "9.9.9");
    assert_eq!(
        index
            .releases
            .iter()
            .filter(|r| r.version == "9.9.9")
            .count(),
        1
    );
}

#[test]
fn manifest_bytes() {
    check!()
        .with_test_time(CI_TIME)
        .for_each(|bytes: &[u8]| check_manifest(bytes));
}

#[test]
fn manifest_changes() {
    check!()
        .with_type::<ManifestChanges>()
        .with_test_time(CI_TIME)
        .for_each(|changes| {
            check_manifest(&changed(valid_manifest(), &changes.0, ManifestField::path));
        });
}

#[test]
fn index_bytes() {
    check!()
        .with_test_time(CI_TIME)
        .for_each(|bytes: &[u8]| check_index(bytes));
}

#[test]
fn index_changes() {
    check!()
        .with_type::<IndexChanges>()
        .with_test_time(CI_TIME)
        .for_each(|changes| {
            check_index(&changed(valid_index(), &changes.0, IndexField::path));
        });
}

/// Found by `manifest_changes`: sizes that overflow `u64` when added passed
/// `parse`, then `download_bytes` (and `pull`'s space check) panicked in a
/// debug build and wrapped around in a release build. `parse` now refuses a
/// size above 1 TiB, naming the file.
#[test]
fn sizes_that_overflow_when_added_are_refused() {
    let mut doc = valid_manifest();
    doc["kernel"]["size"] = json!(u64::MAX - 4);
    let refused = ReleaseManifest::parse(doc.to_string().as_bytes(), "m")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("is larger than"), "{refused:?}");
}
