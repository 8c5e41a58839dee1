//! Malformed requests (spec §1.1, §1.8; facts §3–§5): bodies that do not
//! parse, unknown properties, bad path parameters, oversized bodies and
//! passwords, unknown paths and methods. None of them may produce a 5xx.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

const SIGN_UP: &str = "/api/v1/auth/password/sign-up";

#[tokio::test]
async fn malformed_or_empty_json_is_a_body_parsing_error() {
    let app = TestApp::spawn().await;
    for body in ["{not json", "", "{\"email\": }"] {
        let r = app
            .post("/auth/password/sign-up")
            .client()
            .body("application/json", body)
            .send()
            .await;
        r.assert_error(400, "BODY_PARSING_ERROR", "Invalid JSON in request body")
            .assert_no_details();
    }
    // The body is parsed before routing and auth: also on unknown paths and
    // without any access type.
    let r = app
        .post("/no-such-route")
        .body("application/json; charset=utf-8", "{")
        .send()
        .await;
    r.assert_error(400, "BODY_PARSING_ERROR", "Invalid JSON in request body");
    let r = app
        .post("/auth/password/sign-up")
        .header("x-stack-access-type", "superuser")
        .body("application/json", "{")
        .send()
        .await;
    r.assert_known(400, "BODY_PARSING_ERROR");
}

#[tokio::test]
async fn an_unknown_content_type_is_a_body_parsing_error() {
    let app = TestApp::spawn().await;
    for (content_type, shown) in [
        ("application/xml", "application/xml"),
        ("application/xml; charset=utf-8", "application/xml"),
    ] {
        let r = app
            .post("/auth/password/sign-up")
            .client()
            .body(content_type, "<email/>")
            .send()
            .await;
        r.assert_error(
            400,
            "BODY_PARSING_ERROR",
            &format!("Unknown content type in request body: {shown}"),
        )
        .assert_no_details();
    }
}

#[tokio::test]
async fn a_get_body_is_ignored() {
    let app = TestApp::spawn().await;
    let r = app
        .get("")
        .body("application/json", "{not json")
        .send()
        .await;
    r.assert_status(200);
}

#[tokio::test]
async fn a_text_body_where_an_object_is_expected_is_a_schema_error() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .body("text/plain", "hello")
        .send()
        .await;
    r.assert_known(400, "SCHEMA_ERROR");
    let message = r.body["error"].as_str().unwrap();
    assert!(
        message
            .contains("\n  - body must be a `object` type, but the final value was: `\"hello\"`."),
        "{message}"
    );
}

#[tokio::test]
async fn a_form_body_is_read_as_an_object_of_strings() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .form(&[("email", &email), ("password", "password123")])
        .send()
        .await;
    r.assert_status(200);
    assert!(r.body["user_id"].is_string(), "{}", r.text);
}

#[tokio::test]
async fn unknown_body_properties_are_a_schema_error_with_the_exact_message() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .json(json!({ "email": app.email(), "password": "password123", "extra": 1 }))
        .send()
        .await;
    let expected = format!(
        "Request validation failed on POST {SIGN_UP}:\n  - body contains unknown properties: extra"
    );
    r.assert_error(400, "SCHEMA_ERROR", &expected);
    assert_eq!(r.body["details"], json!({ "message": expected }));
    // The message names the path as requested.
    let r = app
        .root(Method::POST, "/api/latest/auth/password/sign-up")
        .client()
        .json(json!({ "email": app.email(), "password": "password123", "extra": 1 }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        "/api/latest/auth/password/sign-up",
        &["body contains unknown properties: extra"],
    );
}

#[tokio::test]
async fn every_problem_of_a_body_is_listed_in_one_schema_error() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .json(json!({ "password": 5, "extra": 1, "other": 2 }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        SIGN_UP,
        &[
            "body.email must be defined",
            "body contains unknown properties: extra, other",
        ],
    );
}

#[tokio::test]
async fn unknown_query_parameters_are_a_schema_error() {
    let app = TestApp::spawn().await;
    let r = app.get("?extra=param").send().await;
    assert_eq!(
        r.body,
        json!({
            "code": "SCHEMA_ERROR",
            "details": { "message": "Request validation failed on GET /api/v1:\n  - query contains unknown properties: extra" },
            "error": "Request validation failed on GET /api/v1:\n  - query contains unknown properties: extra",
        })
    );
    r.assert_known(400, "SCHEMA_ERROR");
}

#[tokio::test]
async fn a_malformed_user_id_in_the_path_is_a_schema_error() {
    let app = TestApp::spawn().await;
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let m = method.to_string();
        let r = app.req(method, "/users/not-a-uuid").server().send().await;
        r.assert_error(
            400,
            "SCHEMA_ERROR",
            &format!(
                "Request validation failed on {m} /api/v1/users/not-a-uuid:\n  - params.user_id must be a valid UUID"
            ),
        );
    }
}

#[tokio::test]
async fn a_body_over_one_megabyte_is_refused_with_413() {
    let app = TestApp::spawn().await;
    // A JSON string that makes the body 1 000 001 bytes.
    let filler = "x".repeat(1_000_001 - 2);
    let big = format!("\"{filler}\"");
    assert_eq!(big.len(), 1_000_001);
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .body("application/json", &big)
        .send()
        .await;
    r.assert_plain(413, "Request body too large (max 1000000 bytes)");
    // Exactly the limit is read (and then refused for its shape, not its size).
    let filler = "x".repeat(1_000_000 - 2);
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .body("application/json", &format!("\"{filler}\""))
        .send()
        .await;
    r.assert_known(400, "SCHEMA_ERROR");
}

#[tokio::test]
async fn passwords_of_72_bytes_or_more_are_too_long_everywhere_never_a_500() {
    let app = TestApp::spawn().await;
    // 36 characters but 72 bytes: within the 70-character schema limit, beyond bcrypt's 72-byte input.
    let long = "é".repeat(36);
    let too_long = |r: &crate::helpers::Response| {
        r.assert_error(
            400,
            "PASSWORD_TOO_LONG",
            "Password too long. Maximum length is 70.",
        );
        assert_eq!(r.body["details"], json!({ "maxLength": 70 }));
    };
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .json(json!({ "email": app.email(), "password": long }))
        .send()
        .await;
    too_long(&r);
    let r = app
        .post("/users")
        .server()
        .json(json!({ "primary_email": app.email(), "password": long }))
        .send()
        .await;
    too_long(&r);

    let s = app.sign_up(&app.email(), "password123").await;
    let r = app
        .post("/auth/password/update")
        .client()
        .user(&s)
        .json(json!({ "old_password": "password123", "new_password": long }))
        .send()
        .await;
    too_long(&r);
    let r = app
        .patch("/users/me")
        .server()
        .user(&s)
        .json(json!({ "password": long }))
        .send()
        .await;
    too_long(&r);

    let bare = app
        .create_user(json!({ "primary_email": app.email() }))
        .await;
    let b = app.session_for(bare["id"].as_str().unwrap()).await;
    let r = app
        .post("/auth/password/set")
        .client()
        .user(&b)
        .json(json!({ "password": long }))
        .send()
        .await;
    too_long(&r);

    // Signing in with such a password is a mismatch, not a crash.
    let r = app
        .post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": app.email(), "password": long }))
        .send()
        .await;
    r.assert_known(400, "EMAIL_PASSWORD_MISMATCH");
}

#[tokio::test]
async fn a_71_byte_password_is_accepted_and_signs_in() {
    let app = TestApp::spawn().await;
    let password = format!("{}a", "é".repeat(35));
    assert_eq!(password.len(), 71);
    let email = app.email();
    let s = app.sign_up(&email, &password).await;
    let r = app
        .post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": email, "password": password }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.body["user_id"], s.user_id.as_str());
}

#[tokio::test]
async fn passwords_over_70_characters_fail_the_schema() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/auth/password/sign-up")
        .client()
        .json(json!({ "email": app.email(), "password": "x".repeat(71) }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        SIGN_UP,
        &["body.password must be at most 70 characters"],
    );
    let r = app
        .post("/auth/password/sign-in")
        .client()
        .json(json!({ "email": app.email(), "password": "x".repeat(71) }))
        .send()
        .await;
    r.assert_schema_error(
        "POST",
        "/api/v1/auth/password/sign-in",
        &["body.password must be at most 70 characters"],
    );
}

#[tokio::test]
async fn an_unknown_api_path_is_a_plain_404_naming_the_url() {
    let app = TestApp::spawn().await;
    for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
        let r = app.req(method, "/no-such-route?x=1").send().await;
        r.assert_plain(
            404,
            &format!(
                "404 — this page does not exist in Stack Auth's API.\n\nPlease see the API documentation at https://docs.stack-auth.com, or visit the Stack Auth dashboard at https://app.stack-auth.com.\n\nURL: http://{}/api/v1/no-such-route?x=1",
                app.addr
            ),
        );
    }
    // Headers are still checked first.
    let r = app
        .get("/no-such-route")
        .header("x-stack-access-type", "superuser")
        .send()
        .await;
    r.assert_known(400, "INVALID_ACCESS_TYPE");
}

#[tokio::test]
async fn a_method_outside_the_allowed_set_is_405() {
    let app = TestApp::spawn().await;
    let propfind = Method::from_bytes(b"PROPFIND").unwrap();
    for path in ["", "/users", "/no-such-route"] {
        let r = app.req(propfind.clone(), path).send().await;
        r.assert_plain(405, "Method not allowed");
    }
}

#[tokio::test]
async fn head_is_not_an_allowed_method() {
    let app = TestApp::spawn().await;
    let r = app.req(Method::HEAD, "").send().await;
    r.assert_status(405);
}

/// Bodies of every shape sent to every writing route: each answer must be a
/// 4xx (or a success), never a 5xx.
#[tokio::test]
async fn odd_bodies_never_cause_a_5xx() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "password123").await;
    let routes = [
        (Method::POST, "/auth/password/sign-up"),
        (Method::POST, "/auth/password/sign-in"),
        (Method::POST, "/auth/password/update"),
        (Method::POST, "/auth/password/set"),
        (Method::POST, "/auth/anonymous/sign-up"),
        (Method::POST, "/auth/oauth/token"),
        (Method::POST, "/auth/sessions"),
        (Method::POST, "/auth/sessions/current/refresh"),
        (Method::POST, "/users"),
        (Method::PATCH, "/users/me"),
        (Method::POST, "/internal/projects"),
        (Method::POST, "/internal/api-keys"),
        (Method::PATCH, "/internal/projects/current"),
        (Method::POST, "/internal/local-emulator/project"),
    ];
    let bodies: Vec<Value> = vec![
        json!(null),
        json!([]),
        json!("a string"),
        json!(12),
        json!({ "email": { "a": 1 }, "password": [1], "user_id": 5, "display_name": {} }),
        json!({ "config": "not an object", "expires_at_millis": 1e300 }),
        json!({ "primary_email": true, "selected_team_id": "x", "risk_scores": [] }),
        json!({ "absolute_file_path": 7, "expires_in_millis": -1, "grant_type": null }),
    ];
    for (method, path) in routes {
        for body in &bodies {
            for access in ["client", "server", "admin"] {
                let req = app.req(method.clone(), path).user(&s);
                let req = match access {
                    "client" => req.client(),
                    "server" => req.server(),
                    _ => req.admin(),
                };
                let r = req.json(body.clone()).send().await;
                assert!(
                    r.status.as_u16() < 500,
                    "{method} {path} as {access} with {body} gave {}: {}",
                    r.status,
                    r.text
                );
            }
        }
    }
}

#[tokio::test]
async fn nul_characters_in_strings_are_refused_not_a_5xx() {
    let app = TestApp::spawn().await;
    let s = app.sign_up(&app.email(), "password123").await;
    let cases = [
        ("/users/me", json!({ "display_name": "a\u{0}b" })),
        (
            "/users/me",
            json!({ "client_metadata": { "k": "a\u{0}b" } }),
        ),
        (
            "/auth/password/sign-up",
            json!({ "email": "a\u{0}b@example.com", "password": "password123" }),
        ),
    ];
    let mut failures = Vec::new();
    for (path, body) in cases {
        let req = if path == "/users/me" {
            app.patch(path).client().user(&s)
        } else {
            app.post(path).client()
        };
        let r = req.json(body.clone()).send().await;
        if r.status.as_u16() >= 500 {
            failures.push(format!("{path} with {body}: {} {}", r.status, r.text));
        }
    }
    assert!(failures.is_empty(), "5xx answers:\n{}", failures.join("\n"));
}
