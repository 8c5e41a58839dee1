//! Build (cached), start, health, data (users and captured mail) across
//! stop/start and SIGKILL, a taken port, credentials per config file, OAuth
//! sign-in in a browser through the forwarded ports, connections opened
//! together, the dashboard, `run`,
//! a private state directory, reset; a first start that pulls a release, and
//! a pull that captures its snapshot.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::send_signal;
use serde_json::Value;

use crate::harness::{Api, Emulator, ensure_app_config, exclusive, open_to_others, show};

/// `NAME=value` lines as `env` prints them.
fn env_file(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The umask a shell started by this test reports (`0022` and the like).
fn shell_umask(command: &mut std::process::Command) -> String {
    String::from_utf8(command.output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned()
}

/// How long `run` may take to start a hibernated emulator before its command runs.
const RUN_START_LIMIT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_keeps_data_across_stop_start_and_a_kill_until_reset() {
    let _slot = exclusive().await;
    let emu = Emulator::new("lifecycle");
    emu.ok(&["build-image"]);

    // A port that another program holds is named, with the flag that moves it.
    let holder = TcpListener::bind(("127.0.0.1", emu.api_port())).unwrap();
    let out = emu.run(&["start"]);
    assert!(
        !out.status.success(),
        "start succeeded on a taken port\n{}",
        show(&out, &emu.home)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "port {} for the API is already in use",
            emu.api_port()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("--api-port"), "{stderr}");
    drop(holder);

    emu.ok(&["start"]);
    let status = emu.status();
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["services"]["api"], "healthy", "{status}");

    // Guest RAM, the disk, the snapshot, the logs and the sockets: nothing in
    // the state directory is open to other users.
    let open = open_to_others(&emu.home);
    assert!(
        open.is_empty(),
        "open to others after a start:\n{}",
        open.join("\n")
    );

    // A second start says it runs and changes nothing.
    let pid = emu.qemu_pid();
    let again = emu.ok(&["start"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already running"));
    assert_eq!(emu.qemu_pid(), pid);

    // One project per config file, stable for the same file.
    let app = emu.home.join("app/stack.config.ts");
    let other = emu.home.join("other/stack.config.ts");
    let creds = emu.credentials(&app);
    assert_eq!(emu.credentials(&app), creds);
    let other_creds = emu.credentials(&other);
    assert_ne!(
        other_creds["NEXT_PUBLIC_STACK_PROJECT_ID"],
        creds["NEXT_PUBLIC_STACK_PROJECT_ID"]
    );
    assert_ne!(
        other_creds["STACK_SECRET_SERVER_KEY"],
        creds["STACK_SECRET_SERVER_KEY"]
    );
    assert_eq!(
        creds["NEXT_PUBLIC_STACK_API_URL"],
        format!("http://localhost:{}", emu.api_port())
    );

    // `run` while the emulator runs: the command gets the credentials and the
    // user's own umask, its exit code is `run`'s, and the emulator keeps running.
    let app_dir = emu.home.join("app");
    std::fs::create_dir_all(&app_dir).unwrap();
    let seen = app_dir.join("env");
    let out = emu.run(&[
        "run",
        "--config-file",
        app.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "env > \"$0\"; umask > \"$0.umask\"; exit 7",
        seen.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", show(&out, &emu.home));
    let env = env_file(&seen);
    for (name, value) in creds.as_object().unwrap() {
        assert_eq!(env.get(name).map(String::as_str), value.as_str(), "{name}");
    }
    assert_eq!(
        creds.as_object().unwrap().len(),
        stack_emulator::credentials::VARIABLES.len(),
        "{creds}"
    );
    assert_eq!(
        std::fs::read_to_string(seen.with_extension("umask"))
            .unwrap()
            .trim(),
        shell_umask(std::process::Command::new("sh").args(["-c", "umask"])),
        "the command ran with the emulator's umask"
    );
    assert_eq!(emu.status()["state"], "running");
    assert_eq!(emu.qemu_pid(), pid, "run restarted the emulator");
    std::fs::remove_dir_all(&app_dir).unwrap();

    let api = Api::new(emu.api_port());
    config_file_sync(&emu, &api).await;
    oauth_sign_in_in_a_browser(&emu).await;
    connections_opened_together_are_all_taken(&emu).await;
    the_dashboard_answers_through_its_port(&emu).await;
    the_dashboard_works_in_a_browser_through_the_vm(&emu).await;
    let (code, body) = api.password(&creds, "sign-up", "keep@example.com").await;
    assert_eq!(code, 200, "{body}");

    // A mail the guest's server sends arrives in the mail sink, read through the host port.
    assert_eq!(status["services"]["mail"], "healthy", "{status}");
    let mail_port = status["ports"]["mail"].as_u64().unwrap();
    let (code, body) = api
        .client_post(
            &creds,
            "/auth/password/send-reset-code",
            &serde_json::json!({
                "email": "keep@example.com",
                "callback_url": "http://localhost:3000/handler/password-reset",
            }),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let mailbox = format!("http://127.0.0.1:{mail_port}/api/v1/mailbox/keep@example.com");
    let mail_count = |url: String| {
        let http = api.http.clone();
        async move {
            let body: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
            Some(body["items"].as_array()?.len())
        }
    };
    let mut arrived = false;
    for _ in 0..100 {
        if mail_count(mailbox.clone()).await == Some(1) {
            arrived = true;
            break;
        }
        // Poll interval while the guest delivers the mail.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        arrived,
        "the reset mail did not reach the sink at {mailbox}"
    );

    // Stop keeps the data and the keys.
    emu.ok(&["stop"]);
    assert_eq!(emu.status()["state"], "stopped");

    // `run` on a stopped emulator starts it, passes a SIGINT that reaches `run`
    // on to the command, returns the command's exit code, and stops the
    // emulator again.
    let ready = emu.home.join("run-ready");
    let interrupted = emu.home.join("run-interrupted");
    ensure_app_config(&app);
    let mut running = emu
        .command(&[
            "run",
            "--config-file",
            app.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "trap 'echo interrupted > \"$1\"; exit 42' INT; echo ready > \"$0\"; while :; do sleep 0.05; done",
            ready.to_str().unwrap(),
            interrupted.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + RUN_START_LIMIT;
    while !ready.exists() && Instant::now() < deadline {
        assert!(
            running.try_wait().unwrap().is_none(),
            "run ended before its command ran"
        );
        // Poll interval while `run` starts the emulator.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        ready.exists(),
        "the command did not start within {RUN_START_LIMIT:?}"
    );
    assert_eq!(emu.status()["state"], "running");
    assert!(send_signal(running.id(), libc::SIGINT));
    let out = running.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(42), "{}", show(&out, &emu.home));
    assert_eq!(
        std::fs::read_to_string(&interrupted)
            .unwrap_or_default()
            .trim(),
        "interrupted",
        "the command did not get the SIGINT\n{}",
        show(&out, &emu.home)
    );
    assert_eq!(
        emu.status()["state"],
        "stopped",
        "run left the emulator it started running"
    );
    std::fs::remove_file(&ready).unwrap();
    std::fs::remove_file(&interrupted).unwrap();

    emu.ok(&["start"]);
    assert_eq!(
        emu.credentials(&app),
        creds,
        "keys changed across stop/start"
    );
    let (code, body) = api.password(&creds, "sign-in", "keep@example.com").await;
    assert_eq!(code, 200, "user lost across stop/start: {body}");
    assert_eq!(
        mail_count(mailbox.clone()).await,
        Some(1),
        "mail lost across stop/start"
    );

    // QEMU killed with SIGKILL: status says so, the next start recovers the data.
    assert!(crate::common::send_signal(emu.qemu_pid(), libc::SIGKILL));
    let mut state = emu.status();
    for _ in 0..50 {
        if state["state"] == "died" {
            break;
        }
        // Poll interval while the kernel reaps QEMU.
        std::thread::sleep(std::time::Duration::from_millis(100));
        state = emu.status();
    }
    assert_eq!(state["state"], "died", "{state}");

    // That start (a cold boot) killed before the VM is ready: the VM it
    // launched does not count as running, and the next start starts over.
    let interrupted_log = emu.home.join("interrupted-start.log");
    let mut interrupted = emu
        .command(&["start"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&interrupted_log).unwrap())
        .spawn()
        .unwrap();
    let session = emu.home.join("run/session.json");
    let starting = || {
        std::fs::read(&session)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|s| s["starting"] == true)
    };
    // The start records its VM within a second on an idle machine; a CI host
    // busy with other builds can take many times that.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !starting() && std::time::Instant::now() < deadline {
        // Poll interval while the command launches QEMU.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        starting(),
        "the start never recorded its VM as starting; it printed:\n{}\nits exit: {:?}",
        std::fs::read_to_string(&interrupted_log).unwrap_or_default(),
        interrupted.try_wait()
    );
    interrupted.kill().unwrap();
    interrupted.wait().unwrap();
    assert_eq!(emu.status()["state"], "starting");
    let orphan = emu.qemu_pid();
    let out = emu.ok(&["start"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the last start did not finish"), "{stderr}");
    assert_ne!(emu.qemu_pid(), orphan, "the unfinished start's VM was kept");
    assert_eq!(emu.status()["state"], "running");
    let (code, body) = api.password(&creds, "sign-in", "keep@example.com").await;
    assert_eq!(code, 200, "user lost after SIGKILL: {body}");

    // Reset deletes the data and makes new keys.
    emu.ok(&["reset", "--yes"]);
    assert_eq!(emu.status()["state"], "stopped");
    emu.ok(&["start"]);
    let fresh = emu.credentials(&app);
    assert_ne!(
        fresh["STACK_SECRET_SERVER_KEY"],
        creds["STACK_SECRET_SERVER_KEY"]
    );
    let (code, body) = api.password(&fresh, "sign-in", "keep@example.com").await;
    assert_eq!(code, 400, "user survived reset: {body}");
    assert_eq!(body["code"], "EMAIL_PASSWORD_MISMATCH");
    emu.ok(&["stop"]);
}

/// A first start on a machine with no image pulls the latest release (here
/// from a local folder, packaged from the cached image) and boots it: one boot.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_start_without_an_image_pulls_the_latest_release_and_boots_it() {
    let _slot = exclusive().await;
    let emu = Emulator::new("firstpull");
    emu.ok(&["build-image"]);
    let releases = emu.home.join("releases");
    emu.ok(&[
        "package",
        "--out",
        releases.to_str().unwrap(),
        "--version",
        "1.0.0-test",
    ]);
    let own_images = emu.home.join("own-images");
    std::fs::create_dir_all(&own_images).unwrap();
    let env = [
        ("STACK_EMULATOR_IMAGES", own_images.as_path()),
        ("STACK_EMULATOR_RELEASES_URL", releases.as_path()),
    ];
    let out = emu.run_with(&["start"], &env);
    assert!(out.status.success(), "{}", show(&out, &emu.home));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "no guest image installed; pulling the latest release from {}",
            releases.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("installing release 1.0.0-test"), "{stderr}");
    let status = emu.run_with(&["status", "--json"], &env);
    assert!(status.status.success(), "{}", show(&status, &emu.home));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["image"], "1.0.0-test", "{status}");
    assert_eq!(status["services"]["api"], "healthy", "{status}");
    let stopped = emu.run_with(&["stop"], &env);
    assert!(stopped.status.success(), "{}", show(&stopped, &emu.home));

    // `pull` ends by capturing the pristine snapshot, so the next new session
    // resumes it without a capture of its own.
    let reset = emu.run_with(&["reset", "--yes"], &env);
    assert!(reset.status.success(), "{}", show(&reset, &emu.home));
    let fresh_snapshots = emu.home.join("fresh-snapshots");
    let env = [
        ("STACK_EMULATOR_IMAGES", own_images.as_path()),
        ("STACK_EMULATOR_RELEASES_URL", releases.as_path()),
        ("STACK_EMULATOR_SNAPSHOTS", fresh_snapshots.as_path()),
    ];
    let pulled = emu.run_with(&["pull"], &env);
    assert!(pulled.status.success(), "{}", show(&pulled, &emu.home));
    let stderr = String::from_utf8_lossy(&pulled.stderr);
    assert!(stderr.contains("captured in"), "{stderr}");
    let started = emu.run_with(&["start"], &env);
    assert!(started.status.success(), "{}", show(&started, &emu.home));
    let stderr = String::from_utf8_lossy(&started.stderr);
    assert!(
        !stderr.contains("capturing"),
        "start captured again: {stderr}"
    );
    let status = emu.run_with(&["status", "--json"], &env);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["boot"], "pristine-resume", "{status}");
    let stopped = emu.run_with(&["stop"], &env);
    assert!(stopped.status.success(), "{}", show(&stopped, &emu.home));
}

/// Waits up to 20 s for `check` to hold.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "not within 20 s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The config file and its project stay in step while the emulator runs: an
/// edit of the file reaches the project, a change of the branch config in
/// the guest reaches the file (in the file's own form), and when both change
/// at once the file wins.
/// The dashboard answers on the host's dashboard port, lists the projects
/// of the config files mapped so far with their paths, and refuses a Host
/// that is not a loopback name.
async fn the_dashboard_answers_through_its_port(emu: &Emulator) {
    let status = emu.status();
    assert_eq!(status["services"]["dashboard"], "healthy", "{status}");
    let port = status["ports"]["dashboard"].as_u64().unwrap();
    let http = reqwest::Client::new();
    let page = http
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let body = page.text().await.unwrap();
    let mapped = emu.home.join("oauth-app/hexclave.config.ts");
    assert!(
        body.contains(mapped.to_str().unwrap()),
        "the projects page does not show {}:\n{body}",
        mapped.display()
    );
    // The emulator page shows what `start` told the guest: this session's
    // accelerator, image, ports and state directory.
    let emulator = http
        .get(format!("http://127.0.0.1:{port}/emulator"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let shown = [
        status["accelerator"].as_str().unwrap().to_owned(),
        status["image"].as_str().unwrap().to_owned(),
        format!("http://localhost:{}", emu.api_port()),
        format!("http://localhost:{port}"),
        emu.home.display().to_string(),
    ];
    for fact in shown {
        assert!(
            emulator.contains(&fact),
            "the emulator page does not show {fact}:\n{emulator}"
        );
    }
    assert!(
        !emulator.contains(">never<"),
        "keys were rotated:\n{emulator}"
    );
    let rebound = http
        .get(format!("http://127.0.0.1:{port}/"))
        .header("host", format!("evil.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 421);
}

/// The dashboard's browser test (every page, forms, other origins refused)
/// against the dashboard in the guest, through the forwarded ports, with the
/// internal project's keys that this install rotated in.
async fn the_dashboard_works_in_a_browser_through_the_vm(emu: &Emulator) {
    let status = emu.status();
    let home = stack_emulator::home::Home::at(emu.home.clone());
    let files = stack_emulator::session::SessionFiles::of(&home);
    let keys = stack_emulator::secrets::Secrets::load(&files.secrets)
        .unwrap()
        .expect("start made this install's keys");
    let sdk_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk");
    let out = tokio::process::Command::new("node")
        .args([
            "--test",
            "--test-reporter=spec",
            "dashboard-browser.test.mjs",
        ])
        .current_dir(&sdk_dir)
        .env(
            "DASHBOARD_URL",
            format!("http://localhost:{}", status["ports"]["dashboard"]),
        )
        .env(
            "STACK_API_URL",
            format!("http://localhost:{}", emu.api_port()),
        )
        .env("STACK_PUBLISHABLE_CLIENT_KEY", &keys.publishable_client_key)
        .env("STACK_SECRET_SERVER_KEY", &keys.secret_server_key)
        .env_remove("SCREENSHOT_DIR")
        .kill_on_drop(true)
        .output()
        .await
        .expect("cannot run node; scripts/setup installs Node.js");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ℹ fail 0") && !stdout.contains("ℹ pass 0"),
        "the dashboard's browser test through the VM failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The forwarded API port takes connections opened together at once: 64
/// opened together and held, then 64 more, each connects well inside the
/// one second a dropped SYN would cost, and each gets its answer.
async fn connections_opened_together_are_all_taken(emu: &Emulator) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let status = emu.status();
    assert!(
        status["network"]
            .as_str()
            .is_some_and(|n| n.contains("accept queue 4096")),
        "{status}"
    );
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], emu.api_port()));
    let mut held = Vec::new();
    for wave in 0..2 {
        let opened: Vec<_> = (0..64)
            .map(|_| {
                tokio::spawn(async move {
                    let t = Instant::now();
                    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
                    (t.elapsed(), s)
                })
            })
            .collect();
        for task in opened {
            let (took, stream) = task.await.unwrap();
            assert!(
                took < Duration::from_millis(100),
                "wave {wave}: a connection took {took:?} to open (a dropped SYN costs a second)"
            );
            held.push(stream);
        }
    }
    let answers: Vec<_> = held
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                s.write_all(
                    b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                )
                .await
                .unwrap();
                let mut answer = Vec::new();
                tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut answer))
                    .await
                    .expect("no answer within 30 s")
                    .unwrap();
                answer
            })
        })
        .collect();
    for a in answers {
        let answer = a.await.unwrap();
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
}

/// OAuth through the VM's forwarded ports: the mock provider answers on the
/// host's OAuth port (a non-default one, so its public URL came with the
/// rotation), and the official SDK signs in with GitHub in headless Chromium
/// for a project whose config file turns GitHub sign-in on.
async fn oauth_sign_in_in_a_browser(emu: &Emulator) {
    let status = emu.status();
    assert_eq!(status["services"]["oauth"], "healthy", "{status}");
    let file = emu.home.join("oauth-app/hexclave.config.ts");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(
        &file,
        "export const config = {\n  auth: {\n    password: { allowSignIn: true },\n    oauth: { providers: { github: { type: \"github\", allowSignIn: true } } },\n  },\n};\n",
    )
    .unwrap();
    let creds = emu.credentials(&file);
    let var = |name: &str| creds[name].as_str().unwrap_or_default().to_owned();
    let sdk_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk");
    let out = tokio::process::Command::new("node")
        .args(["--test", "--test-reporter=spec", "oauth-browser.test.mjs"])
        .current_dir(&sdk_dir)
        .env("STACK_API_URL", var("NEXT_PUBLIC_STACK_API_URL"))
        .env("STACK_PROJECT_ID", var("NEXT_PUBLIC_STACK_PROJECT_ID"))
        .env(
            "STACK_PUBLISHABLE_CLIENT_KEY",
            var("NEXT_PUBLIC_STACK_PUBLISHABLE_CLIENT_KEY"),
        )
        .env("STACK_SECRET_SERVER_KEY", var("STACK_SECRET_SERVER_KEY"))
        .output()
        .await
        .expect("cannot run node; scripts/setup installs Node.js");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ℹ fail 0") && !stdout.contains("ℹ pass 0"),
        "the browser's OAuth sign-in through the VM failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn config_file_sync(emu: &Emulator, api: &Api) {
    let file = emu.home.join("synced/hexclave.config.ts");
    let creds = emu.credentials(&file);
    assert!(
        emu.status()["config_sync"]["pid"].is_u64(),
        "{}",
        emu.status()
    );
    let parse =
        |text: &str| -> Value { stack_config_file::parse(text, &file).unwrap().into_value() };

    // Host to guest.
    std::fs::write(
        &file,
        "// the app's config\nexport const config = {\n  auth: { password: { allowSignIn: true } },\n  teams: { allowClientTeamCreation: true },\n};\n",
    )
    .unwrap();
    eventually("the file's edit reaches the project", async || {
        api.branch_config(&creds).await["teams"]["allowClientTeamCreation"] == true
    })
    .await;

    // Guest to host.
    let (code, body) = api
        .server_request(
            reqwest::Method::PATCH,
            &creds,
            "/internal/config/override/branch",
            Some(&serde_json::json!({ "config_override_string": r#"{"users.allowClientUserDeletion":true}"# })),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    eventually("the guest's change reaches the file", async || {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        text.contains("allowClientUserDeletion")
    })
    .await;
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("// the app's config\n"),
        "the file's form is kept:\n{text}"
    );
    assert_eq!(
        parse(&text),
        serde_json::json!({
            "auth": { "password": { "allowSignIn": true } },
            "teams": { "allowClientTeamCreation": true },
            "users": { "allowClientUserDeletion": true },
        })
    );

    // Both at once: the file wins.
    let (code, _) = api
        .server_request(
            reqwest::Method::PATCH,
            &creds,
            "/internal/config/override/branch",
            Some(&serde_json::json!({ "config_override_string": r#"{"auth.allowSignUp":false}"# })),
        )
        .await;
    assert_eq!(code, 200);
    let mine = "export const config = { auth: { password: { allowSignIn: true }, otp: { allowSignIn: true } } };\n";
    std::fs::write(&file, mine).unwrap();
    eventually("the file wins", async || {
        api.branch_config(&creds).await
            == serde_json::json!({ "auth": { "password": { "allowSignIn": true }, "otp": { "allowSignIn": true } } })
    })
    .await;
    tokio::time::sleep(2 * stack_emulator::config_sync::SERVER_POLL).await;
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        mine,
        "the file was overwritten"
    );

    // A file the emulator cannot read leaves the project as it was, and says where.
    std::fs::write(&file, "export const config = { auth: load() };\n").unwrap();
    eventually("the sync log names the file's problem", async || {
        std::fs::read_to_string(emu.home.join("run/config-sync.log"))
            .unwrap_or_default()
            .contains("hexclave.config.ts:1:")
    })
    .await;
    assert_eq!(
        api.branch_config(&creds).await["auth"]["otp"]["allowSignIn"],
        true
    );
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}
