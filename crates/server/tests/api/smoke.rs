use crate::helpers::TestApp;

#[tokio::test]
async fn health_and_root_answer() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .get(format!("{}/health?db=1", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app.get("").send().await;
    r.assert_status(200);
    assert!(r.text.ends_with("Authentication: None"), "{}", r.text);
    let r = app.get("").server().send().await;
    assert!(
        r.text
            .ends_with("Authentication: Server\n  Project: internal\n  User: None"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn sign_up_then_read_me() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let s = app.sign_up(&email, "password123").await;
    let r = app.get("/users/me").client().user(&s).send().await;
    r.assert_status(200);
    assert_eq!(r.body["primary_email"], email.as_str());
    assert_eq!(r.body["has_password"], true);
    assert!(
        r.body.get("server_metadata").is_none(),
        "client view leaks server fields"
    );
}
