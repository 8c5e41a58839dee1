//! Runs the real `stack-emulator` binary against a temporary state directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

/// VM tests run one at a time: each boots VMs under TCG, and two at once on a
/// small machine only make both slow.
static ONE_VM_TEST_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Holds the VM-test slot until dropped.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_VM_TEST_AT_A_TIME.lock().await
}

/// The same slot for a test that is not async. Tests that build the image
/// take it too: a build compiles the server, and a start meanwhile waits for
/// that build.
pub fn exclusive_blocking() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_VM_TEST_AT_A_TIME.blocking_lock()
}

/// A state directory of its own, with free ports, sharing the cached image.
pub struct Emulator {
    pub home: PathBuf,
    pub ports: [u16; 4],
    /// Where pristine snapshots live (each test picks: shared or its own).
    pub snapshots: PathBuf,
}

fn shared_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// Four ports that are free right now.
fn free_ports() -> [u16; 4] {
    let listeners: Vec<TcpListener> = (0..4)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    [ports[0], ports[1], ports[2], ports[3]]
}

impl Emulator {
    pub fn new(name: &str) -> Self {
        let home =
            std::env::temp_dir().join(format!("stack-emulator-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        let snapshots = home.join("snapshots");
        Self {
            home,
            ports: free_ports(),
            snapshots,
        }
    }

    /// An emulator whose pristine snapshots live in `dir` (shared with others).
    pub fn with_snapshots(name: &str, dir: &Path) -> Self {
        let mut emu = Self::new(name);
        emu.snapshots = dir.to_path_buf();
        emu
    }

    pub fn api_port(&self) -> u16 {
        self.ports[1]
    }

    /// Runs `stack-emulator ARGS` and returns its output; prints it all on failure.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    /// Like [`Emulator::run`], with more environment variables (they win over the defaults).
    pub fn run_with(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut cmd = self.command(args);
        for (name, value) in env {
            cmd.env(name, value);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run stack-emulator: {e}"))
    }

    /// `stack-emulator ARGS` with this emulator's state directory and ports,
    /// not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stack-emulator"));
        cmd.args(args)
            .env("STACK_EMULATOR_HOME", &self.home)
            .env("STACK_EMULATOR_SNAPSHOTS", &self.snapshots)
            .env(
                "STACK_EMULATOR_IMAGES",
                shared_dir(
                    "STACK_EMULATOR_TEST_IMAGES",
                    &crate::common::checkout_images_dir(),
                ),
            )
            .env(
                "STACK_EMULATOR_CACHE",
                shared_dir(
                    "STACK_EMULATOR_TEST_CACHE",
                    "/var/tmp/stack-emulator-test/cache",
                ),
            )
            .env("STACK_EMULATOR_DASHBOARD_PORT", self.ports[0].to_string())
            .env("STACK_EMULATOR_API_PORT", self.ports[1].to_string())
            .env("STACK_EMULATOR_MAIL_PORT", self.ports[2].to_string())
            .env("STACK_EMULATOR_OAUTH_PORT", self.ports[3].to_string());
        cmd
    }

    /// Runs a command that must succeed.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`stack-emulator {}` failed\n{}",
            args.join(" "),
            show(&out, &self.home)
        );
        out
    }

    pub fn status(&self) -> Value {
        let out = self.ok(&["status", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The credentials of `config_file`'s project; a missing file is first
    /// written with [`APP_CONFIG`].
    pub fn credentials(&self, config_file: &Path) -> Value {
        ensure_app_config(config_file);
        let out = self.ok(&[
            "credentials",
            "--format",
            "json",
            "--config-file",
            config_file.to_str().unwrap(),
        ]);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn qemu_pid(&self) -> u32 {
        std::fs::read_to_string(self.home.join("run/qemu.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Never leave a VM behind, whatever the test did.
        if let Ok(pid) = std::fs::read_to_string(self.home.join("run/qemu.pid"))
            && let Ok(pid) = pid.trim().parse()
        {
            crate::common::send_signal(pid, libc::SIGKILL);
        }
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// Every directory and file under `root` (and `root` itself) that its group or
/// others may use, with its mode; symbolic links are not followed.
pub fn open_to_others(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt as _;
    let mut open = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        if meta.mode() & 0o077 != 0 {
            open.push(format!("{:o} {}", meta.mode() & 0o7777, path.display()));
        }
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    open
}

/// Everything needed to debug a failed command.
pub fn show(out: &Output, home: &Path) -> String {
    let serial = std::fs::read_to_string(home.join("run/serial.log")).unwrap_or_default();
    let tail: Vec<&str> = serial.lines().rev().take(30).collect();
    format!(
        "exit: {:?}\n--- stdout\n{}\n--- stderr\n{}\n--- last console lines\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )
}

/// The config file of a test app: password sign-in on, as an app that signs
/// users up with a password has it.
pub const APP_CONFIG: &str =
    "export const config = { auth: { password: { allowSignIn: true } } };\n";

/// Writes [`APP_CONFIG`] to `path` unless a file is there.
pub fn ensure_app_config(path: &Path) {
    if !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, APP_CONFIG).unwrap();
    }
}

/// A minimal client for the emulator's API on the host port.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(port: u16) -> Self {
        Self {
            base: format!("http://127.0.0.1:{port}/api/v1"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// A GET with the internal project's server key from the install's secrets.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A request with the secret server key of the project in `creds`;
    /// returns (status, body).
    pub async fn server_request(
        &self,
        method: reqwest::Method,
        creds: &Value,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(
                "x-stack-project-id",
                creds["STACK_PROJECT_ID"].as_str().unwrap(),
            )
            .header("x-stack-access-type", "server")
            .header(
                "x-stack-secret-server-key",
                creds["STACK_SECRET_SERVER_KEY"].as_str().unwrap(),
            );
        if let Some(body) = body {
            request = request.json(body);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The branch override of the project in `creds`, as stored.
    pub async fn branch_config(&self, creds: &Value) -> Value {
        let (code, body) = self
            .server_request(
                reqwest::Method::GET,
                creds,
                "/internal/config/override/branch",
                None,
            )
            .await;
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(body["config_string"].as_str().unwrap()).unwrap()
    }

    /// Password sign-up or sign-in as a client of the project in `creds`; returns (status, body).
    pub async fn password(&self, creds: &Value, action: &str, email: &str) -> (u16, Value) {
        let body = serde_json::json!({ "email": email, "password": "correct horse battery" });
        self.client_post(creds, &format!("/auth/password/{action}"), &body)
            .await
    }

    /// A POST to `path` as a client of the project in `creds`; returns (status, body).
    pub async fn client_post(&self, creds: &Value, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                "x-stack-project-id",
                creds["NEXT_PUBLIC_STACK_PROJECT_ID"].as_str().unwrap(),
            )
            .header("x-stack-access-type", "client")
            .header(
                "x-stack-publishable-client-key",
                creds["NEXT_PUBLIC_STACK_PUBLISHABLE_CLIENT_KEY"]
                    .as_str()
                    .unwrap(),
            )
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}
