// What the dashboard's browser tests (dashboard-browser.test.mjs in Chromium, dashboard-firefox.test.mjs in
// Firefox) share: the environment they need, the sizes and limits they use, the page on another origin that
// posts a form to the dashboard, and the server API through which they seed data and check every result,
// so that the dashboard is never its own witness.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";

const REQUIRED_ENV = ["DASHBOARD_URL", "STACK_API_URL", "STACK_PUBLISHABLE_CLIENT_KEY", "STACK_SECRET_SERVER_KEY"];
const missingEnv = REQUIRED_ENV.filter((name) => !process.env[name]);
if (missingEnv.length > 0) {
  throw new Error(
    `Missing required environment variable(s): ${missingEnv.join(", ")}. Start stack-server with its dashboard ` +
      "and set DASHBOARD_URL (http://localhost:<dashboard port>), STACK_API_URL (without /api/v1) and the internal " +
      "project's STACK_PUBLISHABLE_CLIENT_KEY and STACK_SECRET_SERVER_KEY. See tests/sdk/README.md.",
  );
}

export const DASHBOARD = process.env.DASHBOARD_URL.replace(/\/+$/, "");
export const API = `${process.env.STACK_API_URL.replace(/\/+$/, "")}/api/v1`;
export const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || null;

/** Limit of every single wait: each step is a few local requests; a loaded machine still fits. */
export const WAIT_LIMIT_MS = 30_000;
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** A call of the internal project's API with its server key (or, with `access: "client"`, its client key). */
export async function api(method, route, { access = "server", body } = {}) {
  const headers = { "x-stack-project-id": "internal", "x-stack-access-type": access };
  if (access === "server") headers["x-stack-secret-server-key"] = process.env.STACK_SECRET_SERVER_KEY;
  else headers["x-stack-publishable-client-key"] = process.env.STACK_PUBLISHABLE_CLIENT_KEY;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${API}${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_LIMIT_MS),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${route} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

/** The internal project's users whose email is exactly `email`. */
export async function usersWithEmail(email) {
  const { items } = await api("GET", `/users?${new URLSearchParams({ query: email })}`);
  return items.filter((u) => u.primary_email === email);
}

/** An email address no earlier run has used. */
export const fresh = (name) => `${name}-${randomBytes(5).toString("hex")}@example.com`;

/** Serves one page that submits a hidden form to the dashboard as soon as it loads. */
export async function serveAttacker(fields) {
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`)
    .join("");
  const html = `<!DOCTYPE html><title>Free prizes</title><body><h1>Loading your prize…</h1>
<form id="f" method="post" action="${DASHBOARD}/projects/internal/users">${inputs}</form>
<script>document.getElementById("f").submit()</script></body>`;
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(html);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: server.address().port };
}

