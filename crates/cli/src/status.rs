//! `status`: is the VM running, how long, on what, and are its services healthy.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::config_sync;
use crate::guest;
use crate::home::Home;
use crate::image;
use crate::session::{self, Liveness, SessionFiles};

/// The status as JSON (also the source of the readable form).
pub async fn status(home: &Home) -> serde_json::Value {
    let files = SessionFiles::of(home);
    let image_version = image::active(home).ok().map(|i| i.manifest.version);
    let has_data = files.overlay.exists();
    let snapshot = std::fs::read_dir(home.snapshots())
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    match session::liveness(&files) {
        Liveness::Stopped => json!({
            "state": "stopped",
            "image": image_version,
            "has_data": has_data,
            "snapshot": snapshot,
        }),
        Liveness::Died(s) => json!({
            "state": "died",
            "detail": format!("QEMU (pid {}) is gone without a clean stop; the next start boots from the saved disk", s.pid),
            "image": s.image_version,
            "has_data": has_data,
            "snapshot": snapshot,
        }),
        Liveness::Running(s) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let http = reqwest::Client::new();
            let api = guest::api_healthy(&http, s.ports.api).await;
            let mail = answers(&http, s.ports.mail, "/health").await;
            let oauth = answers(&http, s.ports.oauth, "/.well-known/openid-configuration").await;
            let dashboard = answers(&http, s.ports.dashboard, "/").await;
            json!({
                "state": if s.starting { "starting" } else { "running" },
                "pid": s.pid,
                "uptime_seconds": now.saturating_sub(s.started_at_unix),
                "accelerator": s.accelerator,
                "accelerator_reason": s.accelerator_reason,
                "boot": s.boot,
                "image": s.image_version,
                "ports": s.ports,
                "network": s.network,
                "services": {
                    "api": if api { "healthy" } else { "not answering" },
                    "mail": if mail { "healthy" } else { "not answering" },
                    "oauth": if oauth { "healthy" } else { "not answering" },
                    "dashboard": if dashboard { "healthy" } else { "not answering" },
                },
                "has_data": has_data,
                "snapshot": snapshot,
                "config_sync": config_sync::status(home),
            })
        }
    }
}

/// How long `status` waits for a service's probe: it answers at once when the
/// guest runs, so a slow answer already means "not answering".
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether a forwarded service answers `GET path` with a success on its host
/// port (the mail sink's `/health`, the mock OAuth provider's discovery).
async fn answers(http: &reqwest::Client, port: u16, path: &str) -> bool {
    http.get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// The readable form.
pub fn render(v: &serde_json::Value) -> Vec<String> {
    let mut lines = vec![format!(
        "state        {}",
        v["state"].as_str().unwrap_or("?")
    )];
    if let Some(detail) = v["detail"].as_str() {
        lines.push(format!("             {detail}"));
    }
    if let Some(pid) = v["pid"].as_u64() {
        lines.push(format!("pid          {pid}"));
        lines.push(format!(
            "uptime       {} s",
            v["uptime_seconds"].as_u64().unwrap_or(0)
        ));
        lines.push(format!(
            "accelerator  {} ({})",
            v["accelerator"].as_str().unwrap_or("?"),
            v["accelerator_reason"].as_str().unwrap_or("")
        ));
        lines.push(format!(
            "boot         {}",
            v["boot"].as_str().unwrap_or("?")
        ));
        lines.push(format!(
            "dashboard    http://localhost:{} ({})",
            v["ports"]["dashboard"],
            v["services"]["dashboard"].as_str().unwrap_or("?")
        ));
        lines.push(format!(
            "API          http://localhost:{} ({})",
            v["ports"]["api"],
            v["services"]["api"].as_str().unwrap_or("?")
        ));
        lines.push(format!(
            "mail sink    http://localhost:{} ({})",
            v["ports"]["mail"],
            v["services"]["mail"].as_str().unwrap_or("?")
        ));
        if let Some(network) = v["network"].as_str() {
            lines.push(format!("network      {network}"));
        }
        lines.push(format!(
            "mock OAuth   http://localhost:{} ({})",
            v["ports"]["oauth"],
            v["services"]["oauth"].as_str().unwrap_or("?")
        ));
        let sync = &v["config_sync"];
        let files = sync["files"].as_array().map_or(0, Vec::len);
        lines.push(match sync["pid"].as_u64() {
            Some(pid) => format!("config sync  running (pid {pid}), {files} config file(s)"),
            None if files > 0 => format!(
                "config sync  not running, {files} config file(s); `stack-emulator start` restarts it"
            ),
            None => "config sync  no config files yet (`stack-emulator credentials` maps one)".to_owned(),
        });
        for file in sync["files"].as_array().into_iter().flatten() {
            lines.push(format!("             {}", file.as_str().unwrap_or("?")));
        }
    }
    lines.push(format!(
        "image        {}",
        v["image"].as_str().unwrap_or("none installed")
    ));
    lines.push(format!(
        "saved data   {}",
        if v["has_data"] == true { "yes" } else { "no" }
    ));
    lines.push(format!(
        "snapshot     {}",
        if v["snapshot"] == true { "yes" } else { "no" }
    ));
    lines
}
