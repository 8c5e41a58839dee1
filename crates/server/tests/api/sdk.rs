//! The official JS SDK (`@stackframe/js`, pinned in tests/sdk) against a real
//! server: sign-up, sign-in, the current user, refresh after expiry, sign-out,
//! the server-side user calls, and the mail flows (magic link, password reset,
//! email verification) read through the mail sink. The SDK test itself is tests/sdk/e2e.test.mjs.
//! A second test signs in with GitHub (the mock OAuth provider) in a real
//! headless Chromium through the SDK: tests/sdk/oauth-browser.test.mjs. A third
//! opens every dashboard page in Chromium, creates and deletes a user through
//! its forms, and submits forms to it from other origins, which must change
//! nothing: tests/sdk/dashboard-browser.test.mjs. A fourth does the same
//! checks in a real headless Firefox over WebDriver BiDi:
//! tests/sdk/dashboard-firefox.test.mjs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::Output;
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
    assert_node_test_passed("the SDK end-to-end test", &output);
}

/// Where the browser test finds Chromium unless `CHROMIUM` says otherwise
/// (Debian's `chromium` package, which scripts/setup installs).
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

#[tokio::test(flavor = "multi_thread")]
async fn the_official_js_sdk_signs_in_with_oauth_in_a_real_browser() {
    let sdk_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk");
    for package in ["@stackframe/js", "playwright-core", "esbuild"] {
        assert!(
            sdk_dir.join("node_modules").join(package).is_dir(),
            "{package} is not installed; run `npm ci` in {} (scripts/test does)",
            sdk_dir.display()
        );
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| DEFAULT_CHROMIUM.into());
    assert!(
        Path::new(&chromium).is_file(),
        "Chromium not found at {chromium}; install Debian's `chromium` (scripts/setup does) or set CHROMIUM to the browser's path"
    );
    // The OAuth callback goes to the server's public URL, so that must be
    // the address this test server listens on.
    let app = TestApp::spawn_with(Spawn {
        public_url_is_own_address: true,
        ..Spawn::default()
    })
    .await;
    let mut command = tokio::process::Command::new("node");
    command
        .args(["--test", "--test-reporter=spec", "oauth-browser.test.mjs"])
        .current_dir(&sdk_dir)
        .env("STACK_API_URL", &app.base)
        .env("STACK_PROJECT_ID", "internal")
        .env("STACK_PUBLISHABLE_CLIENT_KEY", &app.pck)
        .env("STACK_SECRET_SERVER_KEY", &app.ssk)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true);
    let output = command
        .output()
        .await
        .expect("cannot run node; install Node.js (scripts/setup does)");
    assert_node_test_passed("the browser OAuth sign-in test", &output);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_works_in_a_real_browser() {
    let sdk_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk");
    assert!(
        sdk_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed; run `npm ci` in {} (scripts/test does)",
        sdk_dir.display()
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| DEFAULT_CHROMIUM.into());
    assert!(
        Path::new(&chromium).is_file(),
        "Chromium not found at {chromium}; install Debian's `chromium` (scripts/setup does) or set CHROMIUM to the browser's path"
    );
    let app = TestApp::spawn().await;
    // SCREENSHOT_DIR, when set, reaches the test through the inherited environment.
    let output = tokio::process::Command::new("node")
        .args([
            "--test",
            "--test-reporter=spec",
            "dashboard-browser.test.mjs",
        ])
        .current_dir(&sdk_dir)
        .env("DASHBOARD_URL", &app.dashboard_base)
        .env("STACK_API_URL", &app.base)
        .env("STACK_PUBLISHABLE_CLIENT_KEY", &app.pck)
        .env("STACK_SECRET_SERVER_KEY", &app.ssk)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output()
        .await
        .expect("cannot run node; install Node.js (scripts/setup does)");
    assert_node_test_passed("the dashboard browser test", &output);
}

/// Where the Firefox test finds Firefox unless `FIREFOX` says otherwise
/// (Debian's `firefox-esr` package, which scripts/setup installs).
const DEFAULT_FIREFOX: &str = "/usr/bin/firefox-esr";

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_works_in_firefox() {
    let sdk_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk");
    assert!(
        sdk_dir.join("node_modules/ws").is_dir(),
        "ws is not installed; run `npm ci` in {} (scripts/test does)",
        sdk_dir.display()
    );
    let firefox = std::env::var("FIREFOX").unwrap_or_else(|_| DEFAULT_FIREFOX.into());
    assert!(
        Path::new(&firefox).is_file(),
        "Firefox not found at {firefox}; run scripts/setup (it installs Debian's `firefox-esr`) or set FIREFOX to the browser's path"
    );
    let app = TestApp::spawn().await;
    // SCREENSHOT_DIR, when set, reaches the test through the inherited environment.
    let output = tokio::process::Command::new("node")
        .args([
            "--test",
            "--test-reporter=spec",
            "dashboard-firefox.test.mjs",
        ])
        .current_dir(&sdk_dir)
        .env("DASHBOARD_URL", &app.dashboard_base)
        .env("STACK_API_URL", &app.base)
        .env("STACK_PUBLISHABLE_CLIENT_KEY", &app.pck)
        .env("STACK_SECRET_SERVER_KEY", &app.ssk)
        .env("FIREFOX", &firefox)
        .kill_on_drop(true)
        .output()
        .await
        .expect("cannot run node; install Node.js (scripts/setup does)");
    assert_node_test_passed("the dashboard Firefox test", &output);
}

/// Asserts that a `node --test --test-reporter=spec` run passed and ran every
/// test. The spec reporter ends with counts; a run that skipped everything
/// must not pass.
fn assert_node_test_passed(what: &str, output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{what} failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("ℹ fail 0")
            && stdout.contains("ℹ skipped 0")
            && !stdout.contains("ℹ pass 0"),
        "{what} did not run all its steps:\n{stdout}"
    );
}
