//! The official JS SDK (`@stackframe/js`, pinned in tests/sdk) against a real
//! server: sign-up, sign-in, the current user, refresh after expiry, sign-out,
//! the server-side user calls, and the mail flows (magic link, password reset,
//! email verification) read through the mail sink. The SDK test itself is tests/sdk/e2e.test.mjs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::PathBuf;
use std::time::Duration;

use crate::helpers::{Spawn, TestApp};

/// The SDK refreshes tokens that expire within 20 s and refuses ones shorter
/// than that, so the test server issues 25-second tokens and the SDK test waits
/// one lifetime to see a refresh.
const SDK_TOKEN_TTL: Duration = Duration::from_secs(25);

#[tokio::test(flavor = "multi_thread")]
async fn the_official_js_sdk_signs_up_refreshes_and_manages_users() {
    let sdk_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk");
    assert!(
        sdk_dir.join("node_modules/@stackframe/js").is_dir(),
        "the SDK is not installed; run `npm ci` in {} (scripts/test does)",
        sdk_dir.display()
    );
    let app = TestApp::spawn_with(Spawn {
        ttl: SDK_TOKEN_TTL,
        ..Spawn::default()
    })
    .await;
    let output = tokio::process::Command::new("node")
        .args(["--test", "--test-reporter=spec", "e2e.test.mjs"])
        .current_dir(&sdk_dir)
        .env("STACK_API_URL", &app.base)
        .env("STACK_PROJECT_ID", "internal")
        .env("STACK_PUBLISHABLE_CLIENT_KEY", &app.pck)
        .env("STACK_SECRET_SERVER_KEY", &app.ssk)
        .env("STACK_MAIL_URL", &app.mail_base)
        .env(
            "ACCESS_TOKEN_TTL_SECONDS",
            SDK_TOKEN_TTL.as_secs().to_string(),
        )
        .output()
        .await
        .expect("cannot run node; install Node.js (scripts/setup does)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the SDK end-to-end test failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The spec reporter ends with counts; a run that skipped everything must not pass.
    assert!(
        stdout.contains("ℹ fail 0")
            && stdout.contains("ℹ skipped 0")
            && !stdout.contains("ℹ pass 0"),
        "the SDK test did not run all its steps:\n{stdout}"
    );
}
