//! Fast start: the pristine snapshot resumed in two state directories with
//! different keys and values, the clock after a resume, hibernate on stop, and
//! the cold-boot fallback for damaged, stale or incompatible saved states.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;

use crate::harness::{Api, Emulator, exclusive};

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn now_secs() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_pristine_snapshot_two_installs_then_hibernate_and_fallbacks() {
    let _slot = exclusive().await;
    let shared = std::env::temp_dir().join(format!(
        "stack-emulator-test-snapshots-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&shared);
    let a = Emulator::with_snapshots("snap-a", &shared);
    let b = Emulator::with_snapshots("snap-b", &shared);
    a.ok(&["build-image"]);

    // `capture` takes the pristine snapshot ahead of time, once per shared
    // snapshots directory; both installs then resume it.
    let captured = a.ok(&["capture"]);
    assert!(
        stderr(&captured).contains("captured in"),
        "{}",
        stderr(&captured)
    );
    let again = b.ok(&["capture"]);
    assert!(
        stderr(&again).contains("already there"),
        "{}",
        stderr(&again)
    );
    let started = a.ok(&["start"]);
    assert!(
        !stderr(&started).contains("capturing"),
        "start captured again: {}",
        stderr(&started)
    );
    assert_eq!(a.status()["boot"], "pristine-resume", "{}", a.status());
    b.ok(&["start"]);
    assert_eq!(b.status()["boot"], "pristine-resume", "{}", b.status());

    let app = a.home.join("app/stack.config.ts");
    let (ca, cb) = (a.credentials(&app), b.credentials(&app));
    assert_ne!(
        ca["STACK_SECRET_SERVER_KEY"], cb["STACK_SECRET_SERVER_KEY"],
        "two installs share a key"
    );
    assert_ne!(
        ca["NEXT_PUBLIC_STACK_PROJECT_ID"],
        cb["NEXT_PUBLIC_STACK_PROJECT_ID"]
    );

    // `logs` of a resumed session: the services' start from the snapshot's
    // boot, then one line per API request made since (the credentials call
    // above, a refused one below).
    let (status, _) = Api::new(a.api_port()).get_json("/users/me").await;
    assert_eq!(status, 400, "a request without an access type is refused");
    // The guest's log lines reach the host through its console, a moment
    // after the answer; on a busy machine that moment can be long.
    let read_logs = || String::from_utf8_lossy(&a.ok(&["logs"]).stdout).into_owned();
    let mut logs = read_logs();
    let waited = std::time::Instant::now();
    while !logs.contains("GET /api/v1/users/me 400")
        && waited.elapsed() < std::time::Duration::from_secs(20)
    {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        logs = read_logs();
    }
    for expected in [
        "stack-init: ready",
        "resumed it",
        "POST /api/v1/internal/local-emulator/project 200",
        "GET /api/v1/users/me 400",
        "ACCESS_TYPE_REQUIRED",
    ] {
        assert!(
            logs.contains(expected),
            "`logs` lacks {expected:?}:\n{logs}"
        );
    }
    assert!(
        !logs.contains(ca["STACK_SECRET_SERVER_KEY"].as_str().unwrap()),
        "a key reached the logs"
    );

    let (api_a, api_b) = (Api::new(a.api_port()), Api::new(b.api_port()));
    let (_, jwks_a) = api_a
        .get_json("/projects/internal/.well-known/jwks.json")
        .await;
    let (_, jwks_b) = api_b
        .get_json("/projects/internal/.well-known/jwks.json")
        .await;
    assert_ne!(
        jwks_a["keys"][0]["kid"], jwks_b["keys"][0]["kid"],
        "two installs share signing keys"
    );

    let (code, sa) = api_a.password(&ca, "sign-up", "same@example.com").await;
    assert_eq!(code, 200, "{sa}");
    let (code, sb) = api_b.password(&cb, "sign-up", "same@example.com").await;
    assert_eq!(code, 200, "{sb}");
    assert_ne!(
        sa["refresh_token"], sb["refresh_token"],
        "the same refresh token after two resumes"
    );
    assert_ne!(
        sa["user_id"], sb["user_id"],
        "the same user id after two resumes"
    );

    // The guest clock follows the host after a resume.
    let iat = claims(sa["access_token"].as_str().unwrap())["iat"]
        .as_i64()
        .unwrap();
    assert!(
        (iat - now_secs()).abs() <= 2,
        "token iat {iat} is off the host clock {}",
        now_secs()
    );
    b.ok(&["stop"]);

    // Stop hibernates; start resumes the session with its data and keys.
    let stop = a.ok(&["stop"]);
    assert!(stderr(&stop).contains("hibernated"), "{}", stderr(&stop));
    a.ok(&["start"]);
    assert_eq!(a.status()["boot"], "session-resume");
    assert_eq!(a.credentials(&app), ca, "keys changed across hibernate");
    let (code, body) = api_a.password(&ca, "sign-in", "same@example.com").await;
    assert_eq!(code, 200, "user lost across hibernate: {body}");

    // A damaged saved state: cold boot of the same disk, with the reason, data kept.
    a.ok(&["stop"]);
    let state = a.home.join("run/session-state.bin");
    let mut bytes = std::fs::read(&state).unwrap();
    let middle = bytes.len() / 2;
    let flip_at = (middle..bytes.len())
        .find(|&i| bytes[i] != 0)
        .unwrap_or(middle);
    bytes[flip_at] ^= 0xff;
    std::fs::write(&state, &bytes).unwrap();
    let started = a.ok(&["start"]);
    assert!(
        stderr(&started).contains("damaged (checksum mismatch)"),
        "{}",
        stderr(&started)
    );
    assert_eq!(a.status()["boot"], "cold-boot");
    let (code, body) = api_a.password(&ca, "sign-in", "same@example.com").await;
    assert_eq!(code, 200, "user lost after a damaged state: {body}");

    // A truncated saved state.
    a.ok(&["stop"]);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&state)
        .unwrap();
    file.set_len(4096).unwrap();
    drop(file);
    let started = a.ok(&["start"]);
    assert!(
        stderr(&started).contains("truncated"),
        "{}",
        stderr(&started)
    );

    // Guest RAM written after the hibernate: a cold boot that says why.
    a.ok(&["stop"]);
    {
        use std::io::{Seek as _, SeekFrom, Write as _};
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut ram = std::fs::OpenOptions::new()
            .write(true)
            .open(a.home.join("run/ram.bin"))
            .unwrap();
        ram.seek(SeekFrom::Start(64 << 20)).unwrap();
        ram.write_all(&[0xA5]).unwrap();
    }
    let started = a.ok(&["start"]);
    assert!(
        stderr(&started).contains("RAM file is missing or was changed"),
        "{}",
        stderr(&started)
    );
    assert_eq!(a.status()["boot"], "cold-boot");
    let (code, body) = api_a.password(&ca, "sign-in", "same@example.com").await;
    assert_eq!(code, 200, "user lost after a changed RAM file: {body}");

    // QEMU killed: no saved state, so a cold boot that says why.
    assert!(crate::common::send_signal(a.qemu_pid(), libc::SIGKILL));
    std::thread::sleep(std::time::Duration::from_millis(300)); // let the kernel reap QEMU
    let started = a.ok(&["start"]);
    assert!(
        stderr(&started).contains("was not hibernated"),
        "{}",
        stderr(&started)
    );
    let (code, body) = api_a.password(&ca, "sign-in", "same@example.com").await;
    assert_eq!(code, 200, "user lost after SIGKILL: {body}");

    // Another RAM size: the saved state does not fit, and a new install recaptures.
    a.ok(&["stop"]);
    let started = a.ok(&["start", "--memory-mib", "768"]);
    assert!(
        stderr(&started).contains(
            "cold-booting the saved disk: the RAM size changed from 1024 MiB to 768 MiB\n"
        ),
        "{}",
        stderr(&started)
    );
    assert_eq!(a.status()["boot"], "cold-boot");
    a.ok(&["stop"]);
    let _ = std::fs::remove_dir_all(&shared);
}
