//! What every real-QEMU test needs: the QEMU binaries (a test fails, with
//! the install command, when they are missing), a private temporary
//! directory, and a QEMU process that is killed when the test ends, with
//! its stderr kept for failure messages.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use stack_vm::qmp::QmpClient;
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

/// How long QEMU may take to create its QMP socket and greet after spawn.
/// It takes 40–130 ms on QEMU 10 under TCG; 20 s
/// covers a CI host busy compiling other tests in parallel.
pub const QMP_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long QEMU may take to exit after `quit`. It exits within
/// milliseconds; 10 s covers a loaded host and still catches a hang.
pub const QEMU_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

const INSTALL_HINT: &str = "install QEMU 10 (Debian 12: apt-get install -y -t bookworm-backports qemu-system-x86 qemu-utils), or point STACK_VM_QEMU / STACK_VM_QEMU_IMG at the binaries";

/// Finds `name` on PATH, or takes it from the environment variable `env`.
/// Panics with the install command when it is missing: these tests must
/// never pass without QEMU.
fn find_binary(env: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not on PATH, and these tests need real QEMU: {INSTALL_HINT}")
        })
}

/// `qemu-system-x86_64`.
pub fn qemu_binary() -> PathBuf {
    find_binary("STACK_VM_QEMU", "qemu-system-x86_64")
}

/// `qemu-img`.
pub fn qemu_img() -> PathBuf {
    find_binary("STACK_VM_QEMU_IMG", "qemu-img")
}

/// A directory under the system temp dir, removed on drop. Its path is
/// short, so socket paths inside fit a Unix socket address.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "stack-vm-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running QEMU, killed on drop.
pub struct Qemu {
    child: Child,
    stderr_log: PathBuf,
    qmp_socket: PathBuf,
}

impl Qemu {
    /// Starts `argv` (binary first), logging stderr into `dir`.
    pub fn spawn(argv: Vec<OsString>, dir: &TempDir, qmp_socket: PathBuf) -> Self {
        let stderr_log = dir.join(&format!(
            "qemu-stderr-{}.log",
            qmp_socket.file_stem().unwrap().to_string_lossy()
        ));
        let stderr = std::fs::File::create(&stderr_log).unwrap();
        let (program, args) = argv.split_first().expect("argv has the binary");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| {
                panic!("could not start {}: {error}", program.to_string_lossy())
            });
        Self {
            child,
            stderr_log,
            qmp_socket,
        }
    }

    /// Starts a bare machine with no devices, stopped before the first
    /// instruction, with QMP on `<dir>/qmp.sock`: no guest needed.
    pub fn bare(dir: &TempDir) -> Self {
        let qmp_socket = dir.join("qmp.sock");
        let mut argv: Vec<OsString> = vec![qemu_binary().into()];
        argv.extend(
            [
                "-machine",
                "q35",
                "-accel",
                "tcg",
                "-m",
                "64M",
                "-nodefaults",
                "-no-user-config",
                "-display",
                "none",
                "-S",
                "-qmp",
            ]
            .map(OsString::from),
        );
        let mut qmp = OsString::from("unix:");
        qmp.push(&qmp_socket);
        qmp.push(",server=on,wait=off");
        argv.push(qmp);
        Self::spawn(argv, dir, qmp_socket)
    }

    /// What QEMU printed on stderr so far, for failure messages.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Connects to QMP, failing the test with QEMU's stderr if it cannot.
    pub async fn qmp(&self) -> QmpClient<UnixStream> {
        match QmpClient::connect_unix_when_ready(&self.qmp_socket, QMP_READY_TIMEOUT).await {
            Ok(client) => client,
            Err(error) => panic!(
                "QMP connect failed: {}\nQEMU stderr:\n{}",
                error_chain(&error),
                self.stderr()
            ),
        }
    }

    /// Waits for the process to exit, failing the test after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "QEMU did not exit within {limit:?}\nQEMU stderr:\n{}",
                self.stderr()
            ),
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        // kill_on_drop also does this; being explicit keeps the intent visible.
        let _ = self.child.start_kill();
    }
}

/// An error with all its causes, one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Runs `qemu-img` with `args`, failing the test with its output.
pub fn run_qemu_img(args: &[&std::ffi::OsStr]) {
    let output = std::process::Command::new(qemu_img())
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "qemu-img {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
