// Browser end-to-end test: a real headless Chromium signs in with GitHub through the official
// @stackframe/js SDK (pinned in package.json) against a running stack-server and its mock OAuth
// provider. See README.md for how to run it.
//
// The test bundles oauth-app/app.mjs with esbuild (in memory), serves it on 127.0.0.1 and opens it
// as http://localhost:<port>/ (a trusted domain while the project allows localhost), clicks
// "Sign in with GitHub", signs in on the mock's page with a fresh e-mail and display name, waits
// for the app to show the signed-in user, and then finds that user through the server API.
//
// Chromium is the system's (Debian's `chromium`), driven by playwright-core: no browser download.
// The browser may only reach loopback hosts; any other request is refused and reported.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";

// ---------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------

const REQUIRED_ENV = [
  "STACK_API_URL",
  "STACK_PROJECT_ID",
  "STACK_PUBLISHABLE_CLIENT_KEY",
  "STACK_SECRET_SERVER_KEY",
];
const missingEnv = REQUIRED_ENV.filter((name) => !process.env[name]);
if (missingEnv.length > 0) {
  throw new Error(
    `Missing required environment variable(s): ${missingEnv.join(", ")}. ` +
      "Start stack-server with its mock OAuth provider and set STACK_API_URL (e.g. http://127.0.0.1:12345, " +
      "without /api/v1), STACK_PROJECT_ID (internal), STACK_PUBLISHABLE_CLIENT_KEY and STACK_SECRET_SERVER_KEY. " +
      "See tests/sdk/README.md.",
  );
}

const API_BASE_URL = process.env.STACK_API_URL.replace(/\/+$/, "");
const PROJECT_ID = process.env.STACK_PROJECT_ID;
const PUBLISHABLE_CLIENT_KEY = process.env.STACK_PUBLISHABLE_CLIENT_KEY;
const SECRET_SERVER_KEY = process.env.STACK_SECRET_SERVER_KEY;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SCREENSHOT_PATH = process.env.SCREENSHOT_PATH || null;

/**
 * Limit of every single wait (a page, a redirect, an element). Each step is a few local requests
 * that take well under a second; 30 s leaves room for a loaded machine (the first page load parses
 * a 1 MB bundle) while still failing a stuck step long before the whole test run times out.
 */
const WAIT_LIMIT_MS = 30_000;

/** The size of the browser window, and so of the screenshot (small enough for the docs). */
const VIEWPORT = { width: 900, height: 700 };

const APP_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "oauth-app");
const OAUTH_CALLBACK_PATH = "/handler/oauth-callback";
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

// ---------------------------------------------------------------------------------------------------
// The app: bundled in memory and served over node:http
// ---------------------------------------------------------------------------------------------------

/** Bundles oauth-app/app.mjs (and the SDK) for the browser; returns the JavaScript. */
async function bundleApp() {
  const result = await build({
    entryPoints: [path.join(APP_DIR, "app.mjs")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    logLevel: "silent",
  });
  return result.outputFiles[0].text;
}

/**
 * Serves the app on 127.0.0.1 on a free port: /app.js (the bundle), /config.json (what the app needs
 * to reach the server; the publishable key is its only credential) and index.html for every other page.
 */
async function serveApp() {
  const [script, html] = await Promise.all([bundleApp(), readFile(path.join(APP_DIR, "index.html"), "utf8")]);
  const config = JSON.stringify({
    apiUrl: API_BASE_URL,
    projectId: PROJECT_ID,
    publishableClientKey: PUBLISHABLE_CLIENT_KEY,
  });
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url ?? "/", "http://localhost");
    const send = (status, type, body) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (req.method !== "GET") send(405, "text/plain", "method not allowed");
    else if (pathname === "/app.js") send(200, "text/javascript; charset=utf-8", script);
    else if (pathname === "/config.json") send(200, "application/json", config);
    else if (pathname === "/favicon.ico") send(204, "image/x-icon", "");
    else send(200, "text/html; charset=utf-8", html);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  return { server, url: `http://localhost:${port}` };
}

// ---------------------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------------------

async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}. Install it (scripts/setup installs Debian's \`chromium\`) ` +
        "or set CHROMIUM to the browser's path.",
    );
  }
  return await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

/** What the browser did that helps explain a failure. */
class BrowserLog {
  consoleErrors = [];
  failedRequests = [];
  refusedRequests = [];

  /** @param {import("playwright-core").Page} page */
  watch(page) {
    page.on("console", (message) => {
      if (message.type() === "error") this.consoleErrors.push(`${message.text()} (${page.url()})`);
    });
    page.on("pageerror", (error) => this.consoleErrors.push(`uncaught ${error.name}: ${error.message} (${page.url()})`));
    page.on("requestfailed", (request) =>
      this.failedRequests.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`),
    );
  }

  /** Refuses every request for a host other than this machine's loopback (the emulator runs offline). */
  async confine(context) {
    await context.route(
      () => true,
      async (route) => {
        const url = new URL(route.request().url());
        if (!url.protocol.startsWith("http") || LOOPBACK_HOSTS.has(url.hostname)) return await route.fallback();
        this.refusedRequests.push(`${route.request().method()} ${url}`);
        await route.abort("blockedbyclient");
      },
    );
  }

  /** @param {import("playwright-core").Page} page */
  async report(page) {
    const appError = await page
      .locator("#error")
      .textContent({ timeout: 1_000 })
      .catch(() => null);
    const list = (items) => (items.length > 0 ? items.map((i) => `\n  ${i}`).join("") : " none");
    return (
      `page URL: ${page.url()}` +
      (appError ? `\napp error: ${appError}` : "") +
      `\nbrowser console errors:${list(this.consoleErrors)}` +
      `\nfailed requests:${list(this.failedRequests)}` +
      `\nrefused non-loopback requests:${list(this.refusedRequests)}`
    );
  }
}

/** Runs one step; a failure (a timed-out wait included) names the step. */
async function step(what, run) {
  try {
    return await run();
  } catch (error) {
    const timedOut = error?.name === "TimeoutError";
    const reason = timedOut ? `no result within ${WAIT_LIMIT_MS / 1000} s` : String(error?.message ?? error);
    throw new Error(`${what}: ${reason}`, { cause: error });
  }
}

/** Rejects once the app page shows its error state (never resolves). */
async function appFailure(page) {
  await page.locator('body[data-state="error"]').waitFor({ state: "attached" });
  throw new Error(`the app failed: ${await page.locator("#error").textContent()}`);
}

/**
 * Waits until the app page reaches `state` (its body's data-state); fails at once with the app's
 * message if it reaches "error" instead. Survives the navigations in between.
 */
async function waitForAppState(page, state) {
  const body = page.locator(`body[data-state="${state}"], body[data-state="error"]`);
  await body.waitFor({ state: "attached" });
  if ((await body.getAttribute("data-state")) === "error") await appFailure(page);
}

/** Waits until the browser is on the mock's sign-in page, or fails as soon as the app shows an error. */
async function waitForMockSignInPage(page) {
  const arrived = (async () => {
    await page.waitForURL((url) => url.pathname.startsWith("/interaction/"));
    await page.locator("#login").waitFor();
  })();
  await Promise.race([arrived, appFailure(page)]);
}

// ---------------------------------------------------------------------------------------------------
// The server API
// ---------------------------------------------------------------------------------------------------

/** The project's users whose e-mail or name matches `query`, read with server access. */
async function listUsersMatching(query) {
  const url = `${API_BASE_URL}/api/v1/users?${new URLSearchParams({ query })}`;
  const response = await fetch(url, {
    headers: {
      "x-stack-access-type": "server",
      "x-stack-project-id": PROJECT_ID,
      "x-stack-secret-server-key": SECRET_SERVER_KEY,
    },
    signal: AbortSignal.timeout(WAIT_LIMIT_MS),
  });
  const body = await response.text();
  assert.equal(response.status, 200, `GET ${url} answered ${response.status}: ${body}`);
  return JSON.parse(body).items;
}

// ---------------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------------

test("signs in with GitHub through the mock OAuth provider in a real browser", { timeout: 300_000 }, async (t) => {
  const app = await serveApp();
  t.after(() => app.server.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: VIEWPORT, colorScheme: "light" });
  context.setDefaultTimeout(WAIT_LIMIT_MS);
  context.setDefaultNavigationTimeout(WAIT_LIMIT_MS);
  const log = new BrowserLog();
  await log.confine(context);
  const page = await context.newPage();
  log.watch(page);

  const email = `oauth-browser-${randomBytes(6).toString("hex")}@example.com`;
  const displayName = "Ada Browser";
  try {
    await step(`opening the app at ${app.url}/`, async () => {
      await page.goto(`${app.url}/`);
      await waitForAppState(page, "signed-out");
    });
    await step("clicking \"Sign in with GitHub\" until the mock's sign-in page shows", async () => {
      await page.locator("#sign-in").click();
      await waitForMockSignInPage(page);
    });
    assert.equal(await page.title(), "Mock OAuth sign-in");
    assert.match(await page.locator("h1").textContent(), /Sign in with GitHub/i);
    if (SCREENSHOT_PATH) {
      await mkdir(path.dirname(SCREENSHOT_PATH), { recursive: true });
      await page.screenshot({ path: SCREENSHOT_PATH, type: "png" });
    }
    await step("signing in on the mock's page until the app shows the signed-in user", async () => {
      await page.locator("#login").fill(email);
      await page.locator("#name").fill(displayName);
      await page.locator('#sign-in button[type="submit"]').click();
      await waitForAppState(page, "signed-in");
    });
    const landedOn = new URL(page.url());
    assert.equal(landedOn.origin, app.url, "the browser did not come back to the app");
    assert.notEqual(landedOn.pathname, OAUTH_CALLBACK_PATH, "the app stayed on its OAuth callback page");
    assert.equal(await page.locator("#user-email").textContent(), email);
    assert.equal(await page.locator("#user-name").textContent(), displayName);
    assert.deepEqual(log.refusedRequests, [], "the browser tried to reach hosts other than this machine");
  } catch (error) {
    console.error(`--- browser diagnostics\n${await log.report(page)}`);
    throw error;
  }

  const users = await listUsersMatching(email);
  const user = users.find((u) => u.primary_email === email);
  assert.ok(user, `GET /api/v1/users?query=${email} does not list the new user: ${JSON.stringify(users)}`);
  assert.equal(user.primary_email_verified, true);
  assert.equal(user.display_name, displayName);
  assert.equal(user.oauth_providers?.[0]?.id, "github", `oauth_providers: ${JSON.stringify(user.oauth_providers)}`);
  assert.equal(user.oauth_providers[0].email, email);
});
