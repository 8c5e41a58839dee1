//! Where releases come from, and reading from there: a static HTTP folder (any
//! web server or mirror), GitHub Releases, or a local folder (an offline CI
//! cache). Only this module knows how each lays out its files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::error::io;
use super::format::{INDEX_FILE, Index, MANIFEST_FILE, ReleaseManifest};
use super::{ReleaseError, ReleaseVersion};

/// The project's releases.
pub const DEFAULT_RELEASES_URL: &str = "https://github.com/stack-emulator/stack-emulator/releases";
/// The variable that points `pull`, `list-releases` and the first `start` elsewhere.
pub const RELEASES_URL_VAR: &str = "STACK_EMULATOR_RELEASES_URL";
/// A server that does not accept a connection within this time is taken as
/// unreachable; loopback and LAN mirrors answer in milliseconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A download that receives no byte for this long is treated as dropped and
/// resumed; a total cap would fail big files on slow links instead.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The index and manifests are a few KB; this only bounds a hung server.
const DOCUMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// From sending a request to its response headers, name lookup included
/// (which the connect timeout does not cover): bounds a hung resolver or
/// server, far above what a working one needs.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Read size for local folders.
const FILE_CHUNK_BYTES: usize = 1 << 20;

/// Where releases are read from. `https://` goes through rustls with the ring
/// provider and the Mozilla roots built into reqwest (`rustls-tls-webpki-roots`):
/// no OpenSSL, and the same trust on every machine.
#[derive(Debug, Clone)]
pub struct Source {
    kind: Kind,
    client: reqwest::Client,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// `<base>/index.json`, `<base>/<version>/<file>`.
    Folder(String),
    /// `<releases>/latest/download/index.json`, `<releases>/download/<tag>/<file>`.
    GitHub(String),
    /// A local folder laid out like [`Kind::Folder`].
    Dir(PathBuf),
}

/// A byte stream from a release file.
pub enum Body {
    /// An HTTP response body.
    Http(reqwest::Response),
    /// A local file.
    File(tokio::fs::File),
}

/// What a request for a file from an offset gave.
pub struct Opened {
    /// The bytes.
    pub body: Body,
    /// Where the bytes start: the offset asked for, or 0 when the server
    /// ignored the range and sends the whole file.
    pub start: u64,
}

impl Body {
    /// The next chunk, or `None` at the end.
    ///
    /// # Errors
    /// The connection dropped or stalled, or the file could not be read.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        match self {
            Self::Http(response) => response.chunk().await.map_err(|e| chain(&e)),
            Self::File(file) => {
                let mut buf = vec![0u8; FILE_CHUNK_BYTES];
                let n = file.read(&mut buf).await.map_err(|e| e.to_string())?;
                buf.truncate(n);
                Ok((n > 0).then(|| Bytes::from(buf)))
            }
        }
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl Source {
    /// The source named by `--from`, else the environment variable, else the project's.
    ///
    /// # Errors
    /// The HTTP client cannot be set up.
    pub fn resolve(from: Option<&str>) -> Result<Self, ReleaseError> {
        let env = std::env::var(RELEASES_URL_VAR)
            .ok()
            .filter(|v| !v.is_empty());
        let text = from
            .map(str::to_owned)
            .or(env)
            .unwrap_or_else(|| DEFAULT_RELEASES_URL.to_owned());
        Self::parse(&text)
    }

    /// A source from a URL or path: `http(s)://host/path` is a folder, except
    /// `https://github.com/<owner>/<repo>/releases`; `file://` and anything
    /// else is a local folder.
    ///
    /// # Errors
    /// The HTTP client cannot be set up.
    pub fn parse(text: &str) -> Result<Self, ReleaseError> {
        let trimmed = text.trim_end_matches('/');
        let kind = if let Some(path) = trimmed.strip_prefix("file://") {
            Kind::Dir(PathBuf::from(path))
        } else if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
            let parts: Vec<&str> = trimmed.split('/').collect();
            // https: "" github.com owner repo releases
            if parts.len() == 6 && parts[2] == "github.com" && parts[5] == "releases" {
                Kind::GitHub(trimmed.to_owned())
            } else {
                Kind::Folder(trimmed.to_owned())
            }
        } else {
            Kind::Dir(PathBuf::from(text))
        };
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(STALL_TIMEOUT)
            .build()
            .map_err(|source| ReleaseError::Unreachable {
                url: trimmed.to_owned(),
                source,
            })?;
        Ok(Self { kind, client })
    }

    /// The source as given, for messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Folder(base) | Kind::GitHub(base) => base.clone(),
            Kind::Dir(dir) => dir.display().to_string(),
        }
    }

    /// Where the index is.
    pub fn index_location(&self) -> String {
        match &self.kind {
            Kind::Folder(base) => format!("{base}/{INDEX_FILE}"),
            Kind::GitHub(base) => format!("{base}/latest/download/{INDEX_FILE}"),
            Kind::Dir(dir) => dir.join(INDEX_FILE).display().to_string(),
        }
    }

    /// Where a file of a release is.
    pub fn file_location(&self, version: &ReleaseVersion, file: &str) -> String {
        match &self.kind {
            Kind::Folder(base) => format!("{base}/{version}/{file}"),
            Kind::GitHub(base) => format!("{base}/download/{version}/{file}"),
            Kind::Dir(dir) => dir.join(version.as_str()).join(file).display().to_string(),
        }
    }

    /// Reads the index.
    ///
    /// # Errors
    /// Not reachable, not found, or not a valid index.
    pub async fn index(&self) -> Result<Index, ReleaseError> {
        let location = self.index_location();
        let bytes = self.document(&location).await?;
        Index::parse(&bytes, &location)
    }

    /// Reads a release's manifest.
    ///
    /// # Errors
    /// Not reachable, not found, or not a valid manifest.
    pub async fn manifest(
        &self,
        version: &ReleaseVersion,
    ) -> Result<ReleaseManifest, ReleaseError> {
        let location = self.file_location(version, MANIFEST_FILE);
        let bytes = self.document(&location).await?;
        ReleaseManifest::parse(&bytes, &location)
    }

    async fn document(&self, location: &str) -> Result<Bytes, ReleaseError> {
        match &self.kind {
            Kind::Dir(_) => read_local(Path::new(location)).await,
            Kind::Folder(_) | Kind::GitHub(_) => {
                let response = self.get(location, 0).await?;
                let response = tokio::time::timeout(DOCUMENT_TIMEOUT, response.bytes())
                    .await
                    .map_err(|_| ReleaseError::Timeout {
                        url: location.to_owned(),
                        what: "the whole document",
                        limit: DOCUMENT_TIMEOUT,
                    })?;
                response.map_err(|source| ReleaseError::Unreachable {
                    url: location.to_owned(),
                    source,
                })
            }
        }
    }

    /// Opens a file of a release from byte `offset` (HTTP `Range`).
    ///
    /// # Errors
    /// Not reachable, not found, or an error status. A 416 (the offset is at
    /// or past the end) comes back as [`ReleaseError::Server`] with 416.
    pub async fn open(
        &self,
        version: &ReleaseVersion,
        file: &str,
        offset: u64,
    ) -> Result<Opened, ReleaseError> {
        let location = self.file_location(version, file);
        match &self.kind {
            Kind::Dir(_) => {
                let path = PathBuf::from(&location);
                let mut f = tokio::fs::File::open(&path).await.map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        ReleaseError::NotFound {
                            url: location.clone(),
                        }
                    } else {
                        io("cannot read", &path)(e)
                    }
                })?;
                f.seek(std::io::SeekFrom::Start(offset))
                    .await
                    .map_err(io("cannot read", &path))?;
                Ok(Opened {
                    body: Body::File(f),
                    start: offset,
                })
            }
            Kind::Folder(_) | Kind::GitHub(_) => {
                let response = self.get(&location, offset).await?;
                let start = if response.status() == reqwest::StatusCode::PARTIAL_CONTENT {
                    let start = content_range_start(&response);
                    if start != Some(offset) {
                        return Err(ReleaseError::BadRange {
                            url: location,
                            offset,
                        });
                    }
                    offset
                } else {
                    0
                };
                Ok(Opened {
                    body: Body::Http(response),
                    start,
                })
            }
        }
    }

    async fn get(&self, url: &str, offset: u64) -> Result<reqwest::Response, ReleaseError> {
        let mut request = self.client.get(url);
        if offset > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        let response = tokio::time::timeout(RESPONSE_TIMEOUT, request.send())
            .await
            .map_err(|_| ReleaseError::Timeout {
                url: url.to_owned(),
                what: "an answer",
                limit: RESPONSE_TIMEOUT,
            })?
            .map_err(|source| ReleaseError::Unreachable {
                url: url.to_owned(),
                source,
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(response)
        } else if status == reqwest::StatusCode::NOT_FOUND {
            Err(ReleaseError::NotFound {
                url: url.to_owned(),
            })
        } else {
            Err(ReleaseError::Server {
                url: url.to_owned(),
                status: status.as_u16(),
            })
        }
    }
}

/// The first byte of a 206 answer (`Content-Range: bytes START-END/TOTAL`).
fn content_range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response
        .headers()
        .get(reqwest::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    value
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

async fn read_local(path: &Path) -> Result<Bytes, ReleaseError> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(Bytes::from(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ReleaseError::NotFound {
            url: path.display().to_string(),
        }),
        Err(e) => Err(io("cannot read", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_source_lays_out_its_files() {
        let v = ReleaseVersion::parse("0.1.0").unwrap();
        let gh = Source::parse("https://github.com/o/r/releases/").unwrap();
        assert_eq!(
            gh.index_location(),
            "https://github.com/o/r/releases/latest/download/index.json"
        );
        assert_eq!(
            gh.file_location(&v, "vmlinuz"),
            "https://github.com/o/r/releases/download/0.1.0/vmlinuz"
        );
        let folder = Source::parse("http://127.0.0.1:8000/mirror").unwrap();
        assert_eq!(
            folder.index_location(),
            "http://127.0.0.1:8000/mirror/index.json"
        );
        assert_eq!(
            folder.file_location(&v, "vmlinuz"),
            "http://127.0.0.1:8000/mirror/0.1.0/vmlinuz"
        );
        let dir = Source::parse("file:///srv/cache").unwrap();
        assert_eq!(dir.index_location(), "/srv/cache/index.json");
        let plain = Source::parse("/srv/cache").unwrap();
        assert_eq!(
            plain.file_location(&v, "vmlinuz"),
            "/srv/cache/0.1.0/vmlinuz"
        );
    }
}
