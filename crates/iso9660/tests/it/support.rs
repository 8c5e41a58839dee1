//! Shared fixtures: the sample files, image writing, temporary directories
//! and running external tools with full diagnostics on failure.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use iso9660::{FileName, ImageBuilder, Timestamp, VolumeId};

/// The label the stack emulator gives its config image.
pub const LABEL: &str = "STACKCFG";

/// A file to put in a test image.
pub struct SampleFile {
    pub name: String,
    pub contents: Vec<u8>,
}

/// Files that exercise the interesting cases: the real config file, a
/// name differing from another only after the 8.3 cut, spaces, Latin-1
/// letters (which `isoinfo` can print), the longest Joliet name, an empty
/// file, and a file spanning many sectors.
pub fn sample_files() -> Vec<SampleFile> {
    let file = |name: &str, contents: &[u8]| SampleFile {
        name: name.to_owned(),
        contents: contents.to_vec(),
    };
    vec![
        file(
            "config.json",
            br#"{"vms":[{"name":"web-1","memory_mib":512}],"dns":["10.0.2.3"]}"#,
        ),
        file("config.jsonc", b"// commented\n{}\n"),
        file("user data.txt", b"hello world\n"),
        file("Gr\u{fc}\u{df}e.txt", "gr\u{fc}\u{df}e\n".as_bytes()),
        file(
            "a-name-that-is-exactly-sixty-four-characters-long-for-joliet.txt",
            b"long",
        ),
        file("empty", b""),
        SampleFile {
            name: "big.bin".to_owned(),
            contents: (0..150_000u32).map(|i| (i % 251) as u8).collect(),
        },
    ]
}

/// Builds the image of `files` with the fixed test timestamp.
pub fn build_image(files: &[SampleFile]) -> Vec<u8> {
    let at = Timestamp::new(2025, 3, 4, 5, 6, 7).unwrap();
    let mut builder = ImageBuilder::new(VolumeId::parse(LABEL).unwrap()).recorded_at(at);
    for f in files {
        builder
            .add_file(FileName::parse(&f.name).unwrap(), f.contents.clone())
            .unwrap();
    }
    let image = builder.build().unwrap();
    let mut bytes = Vec::new();
    image.write_to(&mut bytes).unwrap();
    bytes
}

/// A directory for one test, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory named after the test.
    pub fn new(test: &str) -> Self {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("iso9660-it")
            .join(format!("{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes the image of `files` into this directory.
    pub fn write_image(&self, files: &[SampleFile]) -> PathBuf {
        let path = self.0.join("image.iso");
        std::fs::write(&path, build_image(files)).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Finds `tool` on `PATH` or in the sbin directories (where `blkid` lives
/// but which a non-root `PATH` often lacks), or fails the test naming the
/// Debian package that provides it.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let sbin = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(sbin)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{tool}` is not installed, and this test needs it; install the Debian package \
                 {package} (apt-get install -y {package})"
            )
        })
}

/// Runs `program` and returns its output, failing the test with the
/// command line, exit status, stdout and stderr if it does not succeed.
pub fn run<I, S>(program: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let output = Command::new(program)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        output.status.success(),
        "command failed: {} {args:?}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    output
}

/// Decodes ISO 8859-1 text (what `isoinfo -j iso8859-1` prints).
pub fn latin1_to_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Encodes text as ISO 8859-1 (what `isoinfo -j iso8859-1` expects).
pub fn string_to_latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or_else(|_| panic!("{c:?} is not Latin-1")))
        .collect()
}
