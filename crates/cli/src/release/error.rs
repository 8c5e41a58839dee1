//! Why a release could not be listed, pulled or packaged. Each message says
//! what failed and on what, and a `hint:` line says what to do next.

use std::path::PathBuf;

use crate::image::ImageError;

/// A release operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The server could not be reached (DNS, refused, timeout, dropped).
    #[error("cannot reach the release server for {url}")]
    Unreachable {
        /// What was asked for.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// No answer in time.
    #[error(
        "waited {}s for {what} from {url} without getting it",
        limit.as_secs()
    )]
    Timeout {
        /// What was asked for.
        url: String,
        /// What was waited for.
        what: &'static str,
        /// The limit.
        limit: std::time::Duration,
    },
    /// A range request answered with another range.
    #[error("{url} answered a request for the bytes from {offset} on with another range")]
    BadRange {
        /// The file.
        url: String,
        /// The offset asked for.
        offset: u64,
    },
    /// The server has no such file.
    #[error("{url} was not found (HTTP 404)")]
    NotFound {
        /// What was asked for.
        url: String,
    },
    /// The server answered with an error status.
    #[error("the release server answered HTTP {status} for {url}")]
    Server {
        /// What was asked for.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The connection kept failing in the middle of a file.
    #[error("the download of {url} kept failing ({why}); what arrived is kept")]
    Dropped {
        /// The file.
        url: String,
        /// The last failure.
        why: String,
    },
    /// A manifest or index of a format this build does not know.
    #[error(
        "the {what} {location} has format {found}; this build of stack-emulator reads format {supported}"
    )]
    UnknownFormat {
        /// `release manifest` or `release index`.
        what: &'static str,
        /// Where it came from.
        location: String,
        /// The format it declares.
        found: u64,
        /// The format this build reads.
        supported: u32,
    },
    /// A manifest or index that is not valid.
    #[error("the {what} {location} is not valid: {problem}")]
    BadDocument {
        /// `release manifest` or `release index`.
        what: &'static str,
        /// Where it came from.
        location: String,
        /// What is wrong.
        problem: String,
    },
    /// The index lists no release at all.
    #[error("the release index {location} lists no releases")]
    EmptyIndex {
        /// The index.
        location: String,
    },
    /// A release for another machine.
    #[error("release {version} is built for {arch}, but this machine is {host}")]
    WrongArch {
        /// The release.
        version: String,
        /// Its architecture.
        arch: String,
        /// This machine's.
        host: String,
    },
    /// Downloaded bytes that do not match the manifest.
    #[error(
        "{file} of release {version} does not match its manifest: expected sha256 {expected}, got {found}; the partial download was deleted"
    )]
    Checksum {
        /// The artifact.
        file: String,
        /// The release.
        version: String,
        /// From the manifest.
        expected: String,
        /// What arrived.
        found: String,
    },
    /// More or fewer bytes than the manifest says.
    #[error(
        "{file} of release {version} has {found} bytes, but its manifest says {expected}; the partial download was deleted"
    )]
    Size {
        /// The artifact.
        file: String,
        /// The release.
        version: String,
        /// From the manifest.
        expected: u64,
        /// What arrived.
        found: u64,
    },
    /// Not enough space.
    #[error(
        "not enough space in {dir}: release {version} needs {needed_mib} MiB more, but only {available_mib} MiB are free; nothing was installed"
    )]
    DiskFull {
        /// Where.
        dir: PathBuf,
        /// The release.
        version: String,
        /// MiB still needed.
        needed_mib: u64,
        /// MiB free.
        available_mib: u64,
    },
    /// Stopped by Ctrl-C.
    #[error("the download was interrupted; {kept} are kept in {dir}")]
    Interrupted {
        /// The partial downloads.
        dir: PathBuf,
        /// How much, in words.
        kept: String,
    },
    /// An installed directory of that version holds another image.
    #[error("{dir} holds another image than release {version}")]
    Conflict {
        /// The installed directory.
        dir: PathBuf,
        /// The release.
        version: String,
    },
    /// `start` found no image, could reach no release, and has no sources
    /// to build one from.
    #[error(
        "no release could be reached ({why}), and there are no sources here to build the image from"
    )]
    NothingToBoot {
        /// Why no release could be reached.
        why: String,
    },
    /// The image to package or the installed one is not usable.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// File system trouble.
    #[error("{what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ReleaseError {
    /// What to do next, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            Self::Unreachable { .. } => "check the network, or pull from a mirror or a local folder with --from URL (or STACK_EMULATOR_RELEASES_URL)".to_owned(),
            Self::Timeout { .. } => "check the network, or pull from a mirror or a local folder with --from URL".to_owned(),
            Self::BadRange { .. } => "the server mishandles resumed downloads; delete images/.downloads and pull again, or use another mirror".to_owned(),
            Self::NotFound { .. } => "`stack-emulator list-releases` shows the versions this server has; --from URL picks another server".to_owned(),
            Self::Server { .. } => "try again later, or pull from a mirror with --from URL".to_owned(),
            Self::Dropped { .. } => "run `stack-emulator pull` again to resume it".to_owned(),
            Self::UnknownFormat { .. } => "update stack-emulator to pull this release".to_owned(),
            Self::WrongArch { host, .. } => format!("pick a release for {host} with --version"),
            Self::Checksum { .. } => "run `stack-emulator pull` again; if this repeats, the server or a proxy serves wrong bytes".to_owned(),
            Self::Size { .. } => "run `stack-emulator pull` again; if this repeats, the server serves another file than its manifest describes".to_owned(),
            Self::DiskFull { .. } => "free some space (`stack-emulator prune` removes inactive images), or move the images with STACK_EMULATOR_IMAGES".to_owned(),
            Self::Interrupted { .. } => "run `stack-emulator pull` again to resume it".to_owned(),
            Self::Conflict { .. } => "make another image active, then `stack-emulator prune` removes it; pull again afterwards".to_owned(),
            Self::NothingToBoot { .. } => "pull from a mirror or a local folder with `stack-emulator pull --from URL` (or set STACK_EMULATOR_RELEASES_URL), or run from a checkout of stack-emulator (or pass --source DIR) to build it with `stack-emulator build-image`".to_owned(),
            Self::Image(e) => return e.hint(),
            _ => return None,
        };
        Some(hint)
    }
}

impl ReleaseError {
    /// Whether the failure means no release could be reached at all (as opposed
    /// to a release that was reached but failed to download or install).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::Timeout { .. }
                | Self::NotFound { .. }
                | Self::Server { .. }
                | Self::EmptyIndex { .. }
        )
    }
}

/// Maps an I/O error on `path` to [`ReleaseError::Io`].
pub fn io(
    what: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> ReleaseError {
    let path = path.to_path_buf();
    move |source| ReleaseError::Io { what, path, source }
}
