//! The mock OpenID provider over real HTTP: the interaction sequence Stack
//! Auth's e2e suite drives, the browser's form path, the token endpoint, userinfo,
//! revocation, the Node mock's test hooks and bad input. It needs no database.

// Test support code: a failed expectation panics, which is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};
use stack_server::mock_oauth::{MOCK_CLIENT_SECRET, MockOAuth, MockOAuthSettings};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use url::Url;

const API: &str = "http://localhost:8102";
const CALLBACK: &str = "http://localhost:8102/api/v1/auth/oauth/callback/spotify";
const STATE: &str = "this-is-some-state";
/// The PKCE example of RFC 7636, appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const S256_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const EMAIL: &str = "default-mailbox--1@stack-generated.example.com";

/// A running mock; the server task stops when this is dropped.
struct Mock {
    base: String,
    http: reqwest::Client,
    server: JoinHandle<()>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An HTTP answer, read whole.
struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Self {
        Self {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn location(&self) -> &str {
        assert_eq!(self.status, 303, "expected a 303, got: {}", self.text);
        self.header("location").expect("a 303 without Location")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }
}

/// The authorization request Stack Auth's backend sends for "spotify".
fn stack_request() -> Vec<(&'static str, &'static str)> {
    vec![
        ("client_id", "spotify"),
        ("redirect_uri", CALLBACK),
        ("scope", "openid offline_access"),
        ("code_challenge_method", "S256"),
        ("code_challenge", S256_CHALLENGE),
        ("state", STATE),
        ("response_type", "code"),
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("nonce", "n-0S6_WzA2Mj"),
    ]
}

/// `request` with `name` set to `value` (removed when `None`).
fn with(
    mut request: Vec<(&'static str, &'static str)>,
    name: &'static str,
    value: Option<&'static str>,
) -> Vec<(&'static str, &'static str)> {
    request.retain(|(n, _)| *n != name);
    if let Some(value) = value {
        request.push((name, value));
    }
    request
}

impl Mock {
    async fn spawn() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mock = MockOAuth::new(MockOAuthSettings {
            issuer: base.clone(),
            api_base_urls: vec![API.to_owned()],
        })
        .unwrap();
        let router = mock.router();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { base, http, server }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn auth_url(&self, request: &[(&str, &str)]) -> Url {
        let mut url = Url::parse(&self.url("/auth")).unwrap();
        url.query_pairs_mut().extend_pairs(request);
        url
    }

    async fn get(&self, url: &str) -> Answer {
        Answer::of(self.http.get(url).send().await.unwrap()).await
    }

    async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Answer {
        Answer::of(self.http.post(url).form(form).send().await.unwrap()).await
    }

    async fn post_json(&self, path: &str, body: Value) -> Answer {
        let request = self.http.post(self.url(path)).json(&body);
        Answer::of(request.send().await.unwrap()).await
    }

    /// Starts an interaction; returns the /auth URL and its answer.
    async fn start(&self, request: &[(&str, &str)]) -> (Url, Answer) {
        let auth = self.auth_url(request);
        let answer = self.get(auth.as_str()).await;
        (auth, answer)
    }

    /// The exact sequence of Stack Auth's `Auth.OAuth.getInnerCallbackUrl`,
    /// checking each step as the e2e suite does; returns the callback URL.
    async fn e2e_sign_in(&self, request: &[(&str, &str)], email: &str) -> Url {
        let (auth, first) = self.start(request).await;
        // GET answers carry a text body, POST answers none (the e2e suite
        // expects a string and an ArrayBuffer respectively).
        assert!(is_text(&first));
        let interaction = auth.join(first.location()).unwrap();
        let cookie = first.header("set-cookie").unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();

        let login = self
            .http
            .post(interaction.as_str())
            .header(header::COOKIE, &cookie)
            .form(&[("prompt", "login"), ("login", email), ("password", "pw")])
            .send()
            .await
            .unwrap();
        let login = Answer::of(login).await;
        assert!(!is_text(&login));
        let resume = interaction.join(login.location()).unwrap();

        let second = self.get(resume.as_str()).await;
        assert!(is_text(&second));
        let consent_at = auth.join(second.location()).unwrap();
        assert_eq!(consent_at, interaction);

        let consent = self
            .http
            .post(consent_at.as_str())
            .header(header::COOKIE, &cookie)
            .form(&[("prompt", "consent")])
            .send()
            .await
            .unwrap();
        let consent = Answer::of(consent).await;
        assert!(!is_text(&consent));
        let resume = auth.join(consent.location()).unwrap();

        let third = self.get(resume.as_str()).await;
        assert!(is_text(&third));
        Url::parse(third.location()).unwrap()
    }

    /// A code for `request`, signed in as `EMAIL`.
    async fn code(&self, request: &[(&str, &str)]) -> String {
        let callback = self.e2e_sign_in(request, EMAIL).await;
        query(&callback, "code").unwrap()
    }

    /// A token request authenticated with HTTP Basic as `client:secret`.
    async fn token_as(&self, client: &str, secret: &str, form: &[(&str, &str)]) -> Answer {
        let request = self
            .http
            .post(self.url("/token"))
            .basic_auth(client, Some(secret))
            .form(form);
        Answer::of(request.send().await.unwrap()).await
    }

    async fn token(&self, form: &[(&str, &str)]) -> Answer {
        self.token_as("spotify", MOCK_CLIENT_SECRET, form).await
    }

    /// Redeems `code` with Stack Auth's redirect URI and `verifier`.
    async fn redeem(&self, code: &str, verifier: &str) -> Answer {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ])
        .await
    }

    /// Signs in with Stack Auth's request and returns the token response.
    async fn tokens(&self) -> Value {
        let code = self.code(&stack_request()).await;
        let answer = self.redeem(&code, VERIFIER).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()
    }

    async fn refresh(&self, refresh_token: &str) -> Answer {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn userinfo(&self, access_token: &str) -> Answer {
        let request = self.http.get(self.url("/me")).bearer_auth(access_token);
        Answer::of(request.send().await.unwrap()).await
    }
}

fn is_text(answer: &Answer) -> bool {
    answer
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/"))
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn str_of<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string {name} in {value}"))
}

#[tokio::test]
async fn the_e2e_sequence_ends_at_the_callback_with_a_code_and_the_state() {
    let mock = Mock::spawn().await;
    let (_, first) = mock.start(&stack_request()).await;
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let cookie = first.header("set-cookie").unwrap();
    for attribute in ["HttpOnly", "Path=/", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(first.location().starts_with("/interaction/"));

    let callback = mock.e2e_sign_in(&stack_request(), EMAIL).await;
    assert_eq!(callback.origin().ascii_serialization(), API);
    assert_eq!(callback.path(), "/api/v1/auth/oauth/callback/spotify");
    assert_eq!(query(&callback, "state").as_deref(), Some(STATE));
    assert_eq!(query(&callback, "iss"), Some(mock.base.clone()));
    assert!(query(&callback, "code").is_some_and(|c| c.len() >= 43));
}

#[tokio::test]
async fn an_interaction_gives_one_code_and_then_is_gone() {
    let mock = Mock::spawn().await;
    let (auth, first) = mock.start(&with(stack_request(), "state", None)).await;
    let interaction = auth.join(first.location()).unwrap();
    let login = mock
        .post_form(
            interaction.as_str(),
            &[("prompt", "login"), ("login", EMAIL)],
        )
        .await;
    let resume = interaction.join(login.location()).unwrap();
    // Consent by visiting the interaction (what a browser does).
    let back = mock
        .get(
            auth.join(mock.get(resume.as_str()).await.location())
                .unwrap()
                .as_str(),
        )
        .await;
    let resume = auth.join(back.location()).unwrap();
    let done = mock.get(resume.as_str()).await;
    let callback = Url::parse(done.location()).unwrap();
    assert!(query(&callback, "code").is_some());
    // No state was sent, so none comes back.
    assert_eq!(query(&callback, "state"), None);
    assert_eq!(mock.get(resume.as_str()).await.status, 410);
    assert_eq!(mock.get(interaction.as_str()).await.status, 410);
}

#[tokio::test]
async fn the_browser_form_signs_in_and_consents_automatically() {
    let mock = Mock::spawn().await;
    let (auth, first) = mock.start(&stack_request()).await;
    let interaction = auth.join(first.location()).unwrap();

    let page = mock.get(interaction.as_str()).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page.header("content-security-policy").is_some());
    assert!(page.text.contains("<title>Mock OAuth sign-in</title>"));
    assert!(page.text.contains("Spotify"), "the provider is not named");
    assert!(page.text.contains("localhost:8102"), "the app is not named");
    let action = format!("action=\"{}/login\"", interaction.path());
    assert!(page.text.contains(&action), "no form posting to {action}");

    let login = mock
        .post_form(
            &format!("{interaction}/login"),
            &[
                ("login", "ada@example.com"),
                ("name", "Ada Lovelace"),
                ("picture", "https://example.com/ada.png"),
            ],
        )
        .await;
    let resume = auth.join(login.location()).unwrap();
    let to_consent = mock.get(resume.as_str()).await;
    assert_eq!(auth.join(to_consent.location()).unwrap(), interaction);
    let consented = mock.get(interaction.as_str()).await;
    assert_eq!(auth.join(consented.location()).unwrap(), resume);
    let callback = Url::parse(mock.get(resume.as_str()).await.location()).unwrap();

    let code = query(&callback, "code").unwrap();
    let tokens = mock.redeem(&code, VERIFIER).await.json();
    let me = mock.userinfo(str_of(&tokens, "access_token")).await;
    assert_eq!(me.status, 200);
    assert_eq!(
        me.json(),
        json!({
            "sub": "ada@example.com",
            "name": "Ada Lovelace",
            "picture": "https://example.com/ada.png",
        })
    );
}

#[tokio::test]
async fn a_bad_sign_in_form_shows_the_page_again_with_an_error() {
    let mock = Mock::spawn().await;
    let (auth, first) = mock.start(&stack_request()).await;
    let interaction = auth.join(first.location()).unwrap();
    let login = format!("{interaction}/login");

    let empty = mock.post_form(&login, &[("login", "  ")]).await;
    assert_eq!(empty.status, 400);
    assert!(empty.text.contains("Enter an e-mail address."));

    let hostile = "<script>alert(1)</script>";
    let bad = mock
        .post_form(&login, &[("login", "not-an-email"), ("name", hostile)])
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains("Enter a valid e-mail address"));
    assert!(
        bad.text.contains("value=\"not-an-email\""),
        "the form is not refilled"
    );
    assert!(!bad.text.contains(hostile), "the name was not escaped");
    assert!(bad.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    let avatar = mock
        .post_form(
            &login,
            &[("login", EMAIL), ("picture", "javascript:alert(1)")],
        )
        .await;
    assert_eq!(avatar.status, 400);
    assert!(avatar.text.contains("The avatar URL must be"));

    let consent = mock
        .post_form(interaction.as_str(), &[("prompt", "consent")])
        .await;
    assert_eq!(consent.status, 400, "consent before sign-in");
    let unknown = mock
        .post_form(interaction.as_str(), &[("prompt", "dance")])
        .await;
    assert_eq!(unknown.status, 400);

    // The interaction still works after the refusals.
    let ok = mock.post_form(&login, &[("login", EMAIL)]).await;
    assert_eq!(
        ok.location(),
        format!(
            "/auth/{}",
            interaction.path_segments().unwrap().next_back().unwrap()
        )
    );
}

#[tokio::test]
async fn s256_pkce_gives_tokens_and_an_id_token_signed_with_the_jwks_key() {
    let mock = Mock::spawn().await;
    let tokens = mock.tokens().await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], "openid offline_access");
    assert!(str_of(&tokens, "access_token").len() >= 43);
    assert!(str_of(&tokens, "refresh_token").len() >= 43);

    let id_token = str_of(&tokens, "id_token");
    let (input, signature) = id_token.rsplit_once('.').unwrap();
    let (header, payload) = input.split_once('.').unwrap();
    let header: Value = serde_json::from_slice(&B64.decode(header).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");

    let jwks = mock.get(&mock.url("/jwks")).await.json();
    let jwk = &jwks["keys"][0];
    assert_eq!(header["kid"], jwk["kid"]);
    let mut sec1 = vec![4u8];
    sec1.extend(B64.decode(str_of(jwk, "x")).unwrap());
    sec1.extend(B64.decode(str_of(jwk, "y")).unwrap());
    let key = VerifyingKey::from_sec1_bytes(&sec1).unwrap();
    let signature = Signature::from_slice(&B64.decode(signature).unwrap()).unwrap();
    key.verify(input.as_bytes(), &signature)
        .expect("the ID token does not verify with the JWKS key");

    assert_eq!(claims["iss"], mock.base.as_str());
    assert_eq!(claims["aud"], "spotify");
    assert_eq!(claims["sub"], EMAIL);
    assert_eq!(claims["email"], EMAIL);
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
}

#[tokio::test]
async fn plain_pkce_and_no_offline_access_give_no_refresh_token() {
    let mock = Mock::spawn().await;
    let request = with(stack_request(), "code_challenge", Some(VERIFIER));
    let request = with(request, "code_challenge_method", Some("plain"));
    let request = with(request, "scope", Some("openid email"));
    let code = mock.code(&request).await;
    let answer = mock.redeem(&code, VERIFIER).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let tokens = answer.json();
    assert!(tokens.get("refresh_token").is_none());
    assert!(tokens.get("id_token").is_some());
    // With the email scope, userinfo names the address.
    let me = mock.userinfo(str_of(&tokens, "access_token")).await.json();
    assert_eq!(
        me,
        json!({"sub": EMAIL, "email": EMAIL, "email_verified": true})
    );
}

#[tokio::test]
async fn a_wrong_verifier_is_refused_and_leaves_the_code_usable() {
    let mock = Mock::spawn().await;
    let code = mock.code(&stack_request()).await;
    let wrong = mock.redeem(&code, &"x".repeat(43)).await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.json()["error"], "invalid_grant");
    let missing = mock
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ])
        .await;
    assert_eq!(missing.json()["error"], "invalid_grant");
    assert_eq!(mock.redeem(&code, VERIFIER).await.status, 200);
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_its_tokens() {
    let mock = Mock::spawn().await;
    let code = mock.code(&stack_request()).await;
    let first = mock.redeem(&code, VERIFIER).await.json();
    let access = str_of(&first, "access_token");
    assert_eq!(mock.userinfo(access).await.status, 200);

    let again = mock.redeem(&code, VERIFIER).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"], "invalid_grant");
    assert_eq!(mock.userinfo(access).await.status, 401);
    let refresh = mock.refresh(str_of(&first, "refresh_token")).await;
    assert_eq!(refresh.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn a_different_redirect_uri_is_refused() {
    let mock = Mock::spawn().await;
    let code = mock.code(&stack_request()).await;
    let answer = mock
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            (
                "redirect_uri",
                "http://127.0.0.1:8102/api/v1/auth/oauth/callback/spotify",
            ),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn clients_must_authenticate_with_the_mock_secret() {
    let mock = Mock::spawn().await;
    let code = mock.code(&stack_request()).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    let bad = mock.token_as("spotify", "wrong", &form).await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["error"], "invalid_client");
    assert!(
        bad.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic"))
    );
    let unknown = mock.token_as("myspace", MOCK_CLIENT_SECRET, &form).await;
    assert_eq!(unknown.status, 401);
    // Another known client may not redeem spotify's code.
    let other = mock.token_as("github", MOCK_CLIENT_SECRET, &form).await;
    assert_eq!(other.json()["error"], "invalid_grant");

    // client_secret_post works.
    let mut posted = form.to_vec();
    posted.extend([
        ("client_id", "spotify"),
        ("client_secret", MOCK_CLIENT_SECRET),
    ]);
    let ok = mock.post_form(&mock.url("/token"), &posted).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

#[tokio::test]
async fn userinfo_answers_for_good_tokens_only() {
    let mock = Mock::spawn().await;
    let tokens = mock.tokens().await;
    let me = mock.userinfo(str_of(&tokens, "access_token")).await;
    assert_eq!(me.status, 200);
    // Exactly what Stack Auth's e2e snapshot expects for an openid token.
    assert_eq!(me.json(), json!({ "sub": EMAIL }));
    assert_eq!(me.header("x-powered-by"), Some("Express"));
    let posted = mock
        .http
        .post(mock.url("/me"))
        .bearer_auth(str_of(&tokens, "access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);

    let bogus = mock.userinfo("not-a-token").await;
    assert_eq!(bogus.status, 401);
    assert!(
        bogus
            .header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let none = mock.get(&mock.url("/me")).await;
    assert_eq!(none.status, 401);
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
}

#[tokio::test]
async fn refresh_gives_a_new_access_token_and_keeps_the_refresh_token() {
    let mock = Mock::spawn().await;
    let tokens = mock.tokens().await;
    let refresh_token = str_of(&tokens, "refresh_token");
    let answer = mock.refresh(refresh_token).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let refreshed = answer.json();
    assert_ne!(refreshed["access_token"], tokens["access_token"]);
    assert_eq!(refreshed["refresh_token"], refresh_token);
    assert_eq!(refreshed["expires_in"], 3600);
    assert_eq!(
        mock.userinfo(str_of(&refreshed, "access_token"))
            .await
            .status,
        200
    );

    let narrower = mock
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("scope", "openid"),
        ])
        .await;
    assert_eq!(narrower.json()["scope"], "openid");
    let wider = mock
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("scope", "openid email"),
        ])
        .await;
    assert_eq!(wider.json()["error"], "invalid_scope");

    assert_eq!(mock.refresh("nope").await.json()["error"], "invalid_grant");
    let stolen = mock
        .token_as(
            "github",
            MOCK_CLIENT_SECRET,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await;
    assert_eq!(stolen.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn the_revocation_hooks_answer_as_the_node_mock_does() {
    let mock = Mock::spawn().await;
    let tokens = mock.tokens().await;
    let access = str_of(&tokens, "access_token");
    let refresh = str_of(&tokens, "refresh_token");

    let revoked = mock
        .post_json("/revoke-access-token", json!({ "token": access }))
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(
        revoked.json(),
        json!({"success": true, "message": "Access token has been revoked"})
    );
    assert_eq!(mock.userinfo(access).await.status, 401);
    // The refresh token still works, and gives a working access token.
    let renewed = mock.refresh(refresh).await.json();
    let access = str_of(&renewed, "access_token");
    assert_eq!(mock.userinfo(access).await.status, 200);

    // Form bodies work too.
    let grant_gone = mock
        .post_form(&mock.url("/revoke-refresh-token"), &[("token", access)])
        .await;
    assert_eq!(grant_gone.status, 200, "{}", grant_gone.text);
    assert_eq!(
        grant_gone.json()["message"],
        "Grant and associated refresh tokens have been revoked"
    );
    assert_eq!(mock.userinfo(access).await.status, 401);
    assert_eq!(mock.refresh(refresh).await.json()["error"], "invalid_grant");

    let unknown = mock
        .post_json("/revoke-refresh-token", json!({ "token": access }))
        .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.json(),
        json!({"error": "invalid_token", "error_description": "Access token not found"})
    );
    let missing = mock.post_json("/revoke-access-token", json!({})).await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.json()["error_description"],
        "Missing token parameter"
    );
}

#[tokio::test]
async fn a_simulated_refresh_error_answers_the_next_refresh_once() {
    let mock = Mock::spawn().await;
    let tokens = mock.tokens().await;
    let access = str_of(&tokens, "access_token");
    let refresh = str_of(&tokens, "refresh_token");

    let armed = mock
        .post_json(
            "/simulate-refresh-error",
            json!({ "token": access, "error_type": "access_denied" }),
        )
        .await;
    assert_eq!(armed.status, 200);
    assert_eq!(
        armed.json(),
        json!({
            "success": true,
            "message": "Next refresh attempt for this token will return access_denied error",
        })
    );
    let failed = mock.refresh(refresh).await;
    assert_eq!(failed.status, 400);
    assert_eq!(
        failed.json(),
        json!({
            "error": "access_denied",
            "error_description": "The resource owner denied the request",
        })
    );
    assert_eq!(
        mock.refresh(refresh).await.status,
        200,
        "the error is one-shot"
    );

    let bad_type = mock
        .post_json(
            "/simulate-refresh-error",
            json!({ "token": access, "error_type": "teapot" }),
        )
        .await;
    assert_eq!(bad_type.status, 400);
    assert_eq!(
        bad_type.json()["error_description"],
        "Invalid error_type. Valid types: invalid_grant, access_denied, consent_required, invalid_token, unauthorized_client"
    );
    let unknown = mock
        .post_json(
            "/simulate-refresh-error",
            json!({ "token": "nope", "error_type": "invalid_grant" }),
        )
        .await;
    assert_eq!(
        unknown.json()["error_description"],
        "Access token not found"
    );
}

#[tokio::test]
async fn turnstile_answers_the_mock_tokens() {
    let mock = Mock::spawn().await;
    let url = mock.url("/turnstile/siteverify");
    let ok = mock
        .post_form(
            &url,
            &[
                ("secret", "s"),
                ("response", "mock-turnstile-ok:oauth_authenticate"),
            ],
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.json(),
        json!({"success": true, "action": "oauth_authenticate"})
    );
    let invalid = mock
        .post_json(
            "/turnstile/siteverify",
            json!({"response": "mock-turnstile-invalid"}),
        )
        .await;
    assert_eq!(
        (invalid.status, invalid.json()),
        (200, json!({"success": false}))
    );
    let error = mock
        .post_json(
            "/turnstile/siteverify",
            json!({"response": " mock-turnstile-error "}),
        )
        .await;
    assert_eq!(error.status, 503);
    let missing = mock.post_json("/turnstile/siteverify", json!({})).await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.json()["error-codes"],
        json!(["missing-input-response"])
    );
}

#[tokio::test]
async fn a_bad_client_or_redirect_uri_is_shown_never_redirected_to() {
    let mock = Mock::spawn().await;
    let evil = with(
        stack_request(),
        "redirect_uri",
        Some("https://evil.example/api/v1/auth/oauth/callback/spotify"),
    );
    for request in [
        evil,
        with(
            stack_request(),
            "redirect_uri",
            Some("http://localhost:8102/api/v1/auth/oauth/callback/github"),
        ),
        with(stack_request(), "redirect_uri", None),
        with(stack_request(), "client_id", Some("myspace")),
        with(stack_request(), "client_id", None),
    ] {
        let (_, answer) = mock.start(&request).await;
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert!(answer.header("location").is_none());
        assert!(
            answer
                .header("content-type")
                .unwrap()
                .starts_with("text/html")
        );
    }
}

#[tokio::test]
async fn request_errors_after_a_good_redirect_uri_go_back_to_the_app() {
    let mock = Mock::spawn().await;
    let cases = [
        (
            with(stack_request(), "response_type", Some("token")),
            "unsupported_response_type",
        ),
        (
            with(stack_request(), "response_type", None),
            "invalid_request",
        ),
        (
            with(stack_request(), "code_challenge_method", Some("S512")),
            "invalid_request",
        ),
        (
            with(stack_request(), "prompt", Some("none")),
            "login_required",
        ),
    ];
    for (request, error) in cases {
        let (_, answer) = mock.start(&request).await;
        let back = Url::parse(answer.location()).unwrap();
        assert_eq!(back.path(), "/api/v1/auth/oauth/callback/spotify");
        assert_eq!(query(&back, "error").as_deref(), Some(error));
        assert_eq!(query(&back, "state").as_deref(), Some(STATE));
        assert_eq!(query(&back, "code"), None);
    }
}

#[tokio::test]
async fn unknown_interactions_are_gone_and_abort_returns_access_denied() {
    let mock = Mock::spawn().await;
    for path in [
        "/interaction/AAAAAAAAAAAAAAAAAAAAAA",
        "/auth/AAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let answer = mock.get(&mock.url(path)).await;
        assert_eq!(answer.status, 410);
        assert!(answer.text.contains("Session not found or expired"));
    }
    let posted = mock
        .post_form(
            &mock.url("/interaction/nope"),
            &[("prompt", "login"), ("login", EMAIL)],
        )
        .await;
    assert_eq!(posted.status, 410);

    let (auth, first) = mock.start(&stack_request()).await;
    let interaction = auth.join(first.location()).unwrap();
    let aborted = mock.get(&format!("{interaction}/abort")).await;
    let back = Url::parse(aborted.location()).unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&back, "state").as_deref(), Some(STATE));
    assert_eq!(mock.get(interaction.as_str()).await.status, 410);
}

#[tokio::test]
async fn discovery_and_jwks_describe_the_mock() {
    let mock = Mock::spawn().await;
    let config = mock
        .get(&mock.url("/.well-known/openid-configuration"))
        .await
        .json();
    let base = mock.base.as_str();
    assert_eq!(config["issuer"], base);
    assert_eq!(config["authorization_endpoint"], format!("{base}/auth"));
    assert_eq!(config["token_endpoint"], format!("{base}/token"));
    assert_eq!(config["userinfo_endpoint"], format!("{base}/me"));
    assert_eq!(config["jwks_uri"], format!("{base}/jwks"));
    assert_eq!(
        config["revocation_endpoint"],
        format!("{base}/token/revocation")
    );
    assert_eq!(config["response_types_supported"], json!(["code"]));
    assert_eq!(
        config["code_challenge_methods_supported"],
        json!(["S256", "plain"])
    );
    assert_eq!(
        config["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    let scopes = config["scopes_supported"].as_array().unwrap();
    for scope in ["openid", "email", "profile", "offline_access"] {
        assert!(scopes.contains(&json!(scope)), "{scope} missing");
    }

    let jwks = mock.get(&mock.url("/jwks")).await.json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    for (name, value) in [
        ("kty", "EC"),
        ("crv", "P-256"),
        ("alg", "ES256"),
        ("use", "sig"),
    ] {
        assert_eq!(key[name], value);
    }
    assert_eq!(B64.decode(str_of(key, "x")).unwrap().len(), 32);
    assert_eq!(B64.decode(str_of(key, "y")).unwrap().len(), 32);
    assert!(!str_of(key, "kid").is_empty());
}

#[tokio::test]
async fn rfc_7009_revocation_of_a_refresh_token_ends_its_grant() {
    let mock = Mock::spawn().await;
    let tokens = mock.tokens().await;
    let revoke = |token: &str, secret: &str| {
        mock.http
            .post(mock.url("/token/revocation"))
            .basic_auth("spotify", Some(secret))
            .form(&[("token", token.to_owned())])
            .send()
    };
    let refresh = str_of(&tokens, "refresh_token");
    assert_eq!(revoke(refresh, "wrong").await.unwrap().status(), 401);
    assert_eq!(mock.refresh(refresh).await.status, 200);
    assert_eq!(
        revoke(refresh, MOCK_CLIENT_SECRET).await.unwrap().status(),
        200
    );
    assert_eq!(mock.refresh(refresh).await.json()["error"], "invalid_grant");
    assert_eq!(
        mock.userinfo(str_of(&tokens, "access_token")).await.status,
        401
    );
    assert_eq!(
        revoke("unknown", MOCK_CLIENT_SECRET)
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn malformed_requests_get_clear_4xx_answers() {
    let mock = Mock::spawn().await;
    let repeated = mock
        .http
        .post(mock.url("/token"))
        .basic_auth("spotify", Some(MOCK_CLIENT_SECRET))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("grant_type=refresh_token&refresh_token=a&refresh_token=b")
        .send()
        .await
        .unwrap();
    let repeated = Answer::of(repeated).await;
    assert_eq!(repeated.status, 400);
    assert_eq!(repeated.json()["error"], "invalid_request");

    let json_body = mock
        .http
        .post(mock.url("/token"))
        .basic_auth("spotify", Some(MOCK_CLIENT_SECRET))
        .json(&json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 415);

    let huge = "a=".to_owned() + &"x".repeat(70 * 1024);
    let too_large = mock
        .http
        .post(mock.url("/token"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);

    let grant = mock.token(&[("grant_type", "password")]).await;
    assert_eq!(
        (grant.status, grant.json()["error"].clone()),
        (400, json!("unsupported_grant_type"))
    );
    let no_grant = mock.token(&[]).await;
    assert_eq!(no_grant.json()["error"], "invalid_request");

    let not_json = mock
        .http
        .post(mock.url("/revoke-access-token"))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);

    let repeated_auth = mock
        .get(&format!(
            "{}&client_id=spotify",
            mock.auth_url(&stack_request())
        ))
        .await;
    assert_eq!(repeated_auth.status, 400);
    assert!(repeated_auth.header("location").is_none());

    let unknown = mock.get(&mock.url("/nowhere")).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "invalid_request");
}
