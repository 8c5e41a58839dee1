// The browser app of oauth-browser.test.mjs: a page that signs in with GitHub through the official
// @stackframe/js SDK. The test bundles this file with esbuild and serves it as /app.js next to
// index.html and /config.json (the API URL, project id and publishable client key).
//
// Pages (all served as index.html):
// * `/`: shows the signed-in user, or a "Sign in with GitHub" button that calls signInWithOAuth("github");
// * `/handler/oauth-callback`: the OAuth callback; callOAuthCallback() exchanges the code, stores the
//   tokens in cookies and sends the browser to afterSignUp/afterSignIn, which is `/` again.
//
// `document.body.dataset.state` tells the test where the page is: loading, signed-out, signing-in,
// callback, signed-in or error (then #error has the message).

import { StackClientApp } from "@stackframe/js";

const OAUTH_CALLBACK_PATH = "/handler/oauth-callback";

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

function setState(state, status) {
  document.body.dataset.state = state;
  $("status").textContent = status;
}

function showError(error) {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.error("oauth-app:", error);
  $("error").textContent = text;
  $("error").hidden = false;
  setState("error", "Something went wrong.");
}

async function loadConfig() {
  const response = await fetch("/config.json");
  if (!response.ok) throw new Error(`GET /config.json answered ${response.status}`);
  return await response.json();
}

function createApp(config) {
  return new StackClientApp({
    baseUrl: config.apiUrl,
    projectId: config.projectId,
    publishableClientKey: config.publishableClientKey,
    tokenStore: "cookie",
    urls: {
      oauthCallback: OAUTH_CALLBACK_PATH,
      afterSignIn: "/",
      afterSignUp: "/",
      home: "/",
      error: "/handler/error",
    },
    // Neither is part of sign-in. The dev-tool overlay is a development aid; analytics would sign a
    // signed-out visitor up anonymously (on leaving the page), which the test would count as a user.
    devTool: false,
    analytics: { enabled: false },
  });
}

async function showHome(app) {
  const user = await app.getUser();
  if (user) {
    $("user-email").textContent = user.primaryEmail ?? "";
    $("user-name").textContent = user.displayName ?? "";
    $("signed-in").hidden = false;
    setState("signed-in", "Signed in.");
    return;
  }
  const button = /** @type {HTMLButtonElement} */ ($("sign-in"));
  button.hidden = false;
  button.addEventListener("click", () => {
    button.disabled = true;
    setState("signing-in", "Redirecting to GitHub…");
    // Resolves only if the redirect does not happen.
    app.signInWithOAuth("github").catch(showError);
  });
  setState("signed-out", "Not signed in.");
}

async function handleCallback(app) {
  setState("callback", "Finishing sign-in…");
  // Redirects to afterSignUp/afterSignIn when it signs in; false means the URL had no code and state.
  const signedIn = await app.callOAuthCallback();
  if (!signedIn) throw new Error(`callOAuthCallback() did not sign in on ${window.location.href}`);
}

async function main() {
  const app = createApp(await loadConfig());
  if (window.location.pathname === OAUTH_CALLBACK_PATH) await handleCallback(app);
  else await showHome(app);
}

main().catch(showError);
