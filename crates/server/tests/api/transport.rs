//! What every API response carries (spec §1.1, §1.10; facts §0): CORS and its
//! preflight, request ids, `cache-control`, the error-status override, and the
//! JSON formatting of errors and successes.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::Method;

use crate::helpers::{TestApp, keys, sorted};

#[tokio::test]
async fn the_override_header_turns_4xx_into_200_with_the_real_status() {
    let app = TestApp::spawn().await;
    let r = app
        .get("/users")
        .client()
        .header("x-stack-override-error-status", "true")
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.header("x-stack-actual-status"), Some("401"));
    assert_eq!(
        r.header("x-stack-known-error"),
        Some("INSUFFICIENT_ACCESS_TYPE")
    );
    assert_eq!(r.body["code"], "INSUFFICIENT_ACCESS_TYPE");
    // A plain 404 is rewritten too.
    let r = app
        .get("/no-such-route")
        .header("x-stack-override-error-status", "")
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.header("x-stack-actual-status"), Some("404"));
    // Successes are left alone.
    let r = app
        .get("")
        .header("x-stack-override-error-status", "true")
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.header("x-stack-actual-status"), None);
}

#[tokio::test]
async fn cors_preflight_answers_before_routing_and_auth() {
    let app = TestApp::spawn().await;
    // Even with a bad access type and on an unknown path.
    for path in ["/api/v1/users", "/api/v1/no-such-route"] {
        let r = app
            .root(Method::OPTIONS, path)
            .header("x-stack-access-type", "superuser")
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "PATCH")
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(r.text, "");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some("GET, POST, PUT, PATCH, DELETE, OPTIONS")
        );
        assert_eq!(r.header("access-control-max-age"), Some("86400"));
        let allowed = r.header("access-control-allow-headers").unwrap_or_default();
        for h in [
            "content-type",
            "x-stack-project-id",
            "x-stack-access-type",
            "x-stack-access-token",
            "x-stack-refresh-token",
            "x-stack-admin-access-token",
            "x-stack-override-error-status",
            "x-stack-allow-anonymous-user",
        ] {
            assert!(
                allowed.split(", ").any(|a| a == h),
                "{h} missing from {allowed}"
            );
        }
        let exposed: Vec<&str> = r
            .header("access-control-expose-headers")
            .unwrap_or_default()
            .split(", ")
            .collect();
        for h in ["x-stack-actual-status", "x-stack-known-error"] {
            assert!(exposed.contains(&h), "{h} not exposed: {exposed:?}");
        }
    }
}

#[tokio::test]
async fn every_api_response_carries_cors_a_request_id_and_no_store() {
    let app = TestApp::spawn().await;
    let ok = app.get("").send().await;
    let err = app.get("/users").client().send().await;
    let missing = app.get("/no-such-route").send().await;
    let mut ids = Vec::new();
    for r in [&ok, &err, &missing] {
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{r:?}");
        assert!(
            r.header("access-control-expose-headers")
                .is_some_and(|h| h.contains("x-stack-known-error")),
            "{r:?}"
        );
        assert_eq!(r.header("cache-control"), Some("no-store, max-age=0"));
        let id = r
            .header("x-stack-request-id")
            .unwrap_or_default()
            .to_owned();
        assert!(!id.is_empty(), "no x-stack-request-id: {r:?}");
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "request ids must differ: {ids:?}");
    assert_eq!(
        err.header("content-type"),
        Some("application/json; charset=utf-8")
    );
}

#[tokio::test]
async fn error_bodies_are_pretty_printed_code_details_error() {
    let app = TestApp::spawn().await;
    let r = app.get("/users").client().send().await;
    assert_eq!(
        r.text,
        "{\n  \"code\": \"INSUFFICIENT_ACCESS_TYPE\",\n  \"details\": {\n    \"actual_access_type\": \"client\",\n    \"allowed_access_types\": [\n      \"server\",\n      \"admin\"\n    ]\n  },\n  \"error\": \"The x-stack-access-type header must be 'server' or 'admin', but was 'client'.\"\n}"
    );
    assert_eq!(sorted(&["code", "details", "error"]), keys(&r.body));
}

#[tokio::test]
async fn success_json_is_compact_unless_html_is_accepted() {
    let app = TestApp::spawn().await;
    let r = app.get("/projects/current").client().send().await;
    r.assert_status(200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert!(!r.text.contains('\n'), "compact JSON expected: {}", r.text);
    let pretty = app
        .get("/projects/current")
        .client()
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await;
    pretty.assert_status(200);
    assert_eq!(pretty.body, r.body);
    assert!(
        pretty.text.starts_with("{\n  \""),
        "2-space indented JSON expected: {}",
        pretty.text
    );
}
