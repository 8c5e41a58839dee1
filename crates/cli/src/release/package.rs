//! `package`: turn an installed image into a release folder that any static
//! HTTP server (or GitHub Releases) can serve: `<out>/<version>/` with the
//! manifest, kernel, initrd and the zstd-compressed disk, and `<out>/index.json`
//! updated to list it as the latest.

use std::fs::{self, File};
use std::io::{BufWriter, Read as _, Write as _};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::download::hex;
use super::error::io;
use super::format::{
    Artifact, Compression, INDEX_FILE, INDEX_FORMAT, Index, IndexEntry, MANIFEST_FILE, MIN_QEMU,
    RELEASE_FORMAT, ReleaseManifest,
};
use super::install::HashingWriter;
use super::{ReleaseError, ReleaseVersion};
use crate::image::{self, Image};

/// zstd level for the disk. The qcow2 is compressed inside already, so
/// higher levels gain little: on the guest image, level 19 gave 82.7 MiB in
/// 61 s against 83.2 MiB in 1.4 s at level 3.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// Copy buffer size.
const BUFFER_BYTES: usize = 1 << 20;

/// Writes release `version` of `image` into `out`, and lists it in `out`'s index.
///
/// # Errors
/// The image does not match its own manifest, the release folder exists
/// already, or a file cannot be written.
pub fn package(
    image: &Image,
    version: &ReleaseVersion,
    out: &Path,
    level: i32,
) -> Result<ReleaseManifest, ReleaseError> {
    image::verify(image)?;
    fs::create_dir_all(out).map_err(io("cannot create", out))?;
    let folder = out.join(version.as_str());
    if folder.exists() {
        return Err(ReleaseError::Io {
            what: "a release folder exists already at",
            path: folder,
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "releases are never overwritten; delete it first or pick another --version",
            ),
        });
    }
    let staging = out.join(format!(".{version}.partial"));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(io("cannot create", &staging))?;
    let written = write_release(image, version, &staging, level);
    let manifest = match written {
        Ok(m) => m,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    fs::rename(&staging, &folder).map_err(io("cannot create", &folder))?;
    update_index(out, &manifest)?;
    Ok(manifest)
}

fn write_release(
    image: &Image,
    version: &ReleaseVersion,
    staging: &Path,
    level: i32,
) -> Result<ReleaseManifest, ReleaseError> {
    let kernel = copy_artifact(&image.kernel(), &staging.join("vmlinuz"))?;
    let initrd = match image.initrd() {
        Some(path) => Some(copy_artifact(&path, &staging.join("initrd.img"))?),
        None => None,
    };
    let disk = compress_disk(image, &staging.join("disk.qcow2.zst"), level)?;
    let m = &image.manifest;
    let manifest = ReleaseManifest {
        format: RELEASE_FORMAT,
        version: version.to_string(),
        arch: m.arch.clone(),
        created: m.created.clone(),
        min_qemu: MIN_QEMU.to_owned(),
        input_hash: m.input_hash.clone(),
        kernel_cmdline: m.kernel_cmdline.clone(),
        kernel,
        initrd,
        disk,
        build_info: m.build_info.clone(),
    };
    write_json(&staging.join(MANIFEST_FILE), &manifest)?;
    Ok(manifest)
}

/// Copies a file, hashing it on the way.
fn copy_artifact(from: &Path, to: &Path) -> Result<Artifact, ReleaseError> {
    let mut input = File::open(from).map_err(io("cannot read", from))?;
    let mut output = File::create(to).map_err(io("cannot write", to))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; BUFFER_BYTES];
    loop {
        let n = input.read(&mut buf).map_err(io("cannot read", from))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output
            .write_all(&buf[..n])
            .map_err(io("cannot write", to))?;
        size += n as u64;
    }
    Ok(Artifact {
        file: file_name(to),
        size,
        sha256: hex(&hasher.finalize()),
        compression: None,
        decoded: None,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Compresses the disk with zstd, hashing the compressed bytes as they are
/// written (no second pass). The decoded digest is the image's own, checked
/// by `image::verify` just before.
fn compress_disk(image: &Image, to: &Path, level: i32) -> Result<Artifact, ReleaseError> {
    let from = image.disk();
    let mut input = File::open(&from).map_err(io("cannot read", &from))?;
    let output = File::create(to).map_err(io("cannot write", to))?;
    let counter = HashingWriter::new(BufWriter::with_capacity(BUFFER_BYTES, output));
    let mut encoder = zstd::stream::write::Encoder::new(counter, level)
        .map_err(io("cannot compress into", to))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    encoder
        .multithread(u32::try_from(threads).unwrap_or(1))
        .map_err(io("cannot compress into", to))?;
    std::io::copy(&mut input, &mut encoder).map_err(io("cannot compress into", to))?;
    let mut counter = encoder.finish().map_err(io("cannot compress into", to))?;
    counter.flush().map_err(io("cannot write", to))?;
    Ok(Artifact {
        file: file_name(to),
        size: counter.len,
        sha256: hex(&counter.hasher.finalize()),
        compression: Some(Compression::Zstd),
        decoded: Some(image.manifest.disk.clone()),
    })
}

/// Adds the release to `out/index.json` (created if missing) as the latest.
fn update_index(out: &Path, manifest: &ReleaseManifest) -> Result<(), ReleaseError> {
    let path = out.join(INDEX_FILE);
    let mut index = match fs::read(&path) {
        Ok(bytes) => Index::parse(&bytes, &path.display().to_string())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index {
            format: INDEX_FORMAT,
            latest: manifest.version.clone(),
            releases: Vec::new(),
        },
        Err(e) => return Err(io("cannot read", &path)(e)),
    };
    index.upsert(IndexEntry {
        version: manifest.version.clone(),
        created: manifest.created.clone(),
        arch: manifest.arch.clone(),
        size: manifest.download_bytes(),
    });
    let tmp = out.join(format!(".{INDEX_FILE}.tmp"));
    write_json(&tmp, &index)?;
    fs::rename(&tmp, &path).map_err(io("cannot write", &path))
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ReleaseError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| ReleaseError::Io {
        what: "cannot encode",
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    bytes.push(b'\n');
    fs::write(path, bytes).map_err(io("cannot write", path))
}
