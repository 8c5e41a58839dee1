// Browser test of the emulator's dashboard: a real headless Chromium opens every page (failing on
// any console error, and on a page wider than a 390 px phone), creates and deletes a user through the
// forms (with the page's script, and without it), and shows that pages on other origins that submit
// forms to the dashboard change nothing. See README.md for how to run it.
//
// The server API seeds the data and checks every result, so the dashboard is never its own witness.
// With SCREENSHOT_DIR set, each page is saved there as <page>.png, 1280 px wide (docs/dashboard/).

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import {
  API,
  DASHBOARD,
  DESKTOP,
  LOOPBACK_HOSTS,
  PHONE,
  SCREENSHOT_DIR,
  WAIT_LIMIT_MS,
  api,
  fresh,
  serveAttacker,
  usersWithEmail,
} from "./dashboard-common.mjs";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

/** A few users, one with a session, metadata and a sign-in mail, as after a developer's first tries. */
async function seed() {
  // A project the local emulator made for an app's config file (the list shows the file).
  await api("POST", "/internal/local-emulator/project", {
    body: { absolute_file_path: "/home/dev/shop/stack.config.ts" },
  });
  for (const [name, email] of [
    ["Grace Hopper", fresh("grace")],
    ["Linus Torvalds", fresh("linus")],
    [null, fresh("anon-looking")],
  ]) {
    await api("POST", "/users", { body: { primary_email: email, display_name: name, primary_email_auth_enabled: true } });
  }
  const email = fresh("ada");
  const { user_id: id } = await api("POST", "/auth/password/sign-up", {
    access: "client",
    body: { email, password: "correct horse battery" },
  });
  await api("PATCH", `/users/${id}`, {
    body: {
      display_name: "Ada Lovelace",
      primary_email_verified: true,
      client_metadata: { plan: "pro", onboarding: { step: 3 } },
      server_metadata: { stripe_customer: "cus_123" },
    },
  });
  await api("POST", "/auth/otp/send-sign-in-code", {
    access: "client",
    body: { email, callback_url: "http://localhost:3000/handler/magic-link-callback" },
  });
  return { id, email };
}

// ---------------------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------------------

/** What the browser did wrong: console errors, uncaught exceptions, failed and refused requests. */
class BrowserLog {
  errors = [];

  watch(page) {
    page.on("console", (m) => m.type() === "error" && this.errors.push(`console: ${m.text()} (${page.url()})`));
    page.on("pageerror", (e) => this.errors.push(`uncaught ${e.name}: ${e.message} (${page.url()})`));
    // net::ERR_ABORTED is the browser cancelling a request itself (the page navigated away before
    // its icon arrived); a refused or failed request has another error text.
    page.on("requestfailed", (r) => {
      const why = r.failure()?.errorText;
      if (why !== "net::ERR_ABORTED") this.errors.push(`failed: ${r.method()} ${r.url()}: ${why}`);
    });
    return page;
  }

  /** Refuses every request for a host other than this machine's loopback (the emulator runs offline). */
  async confine(context) {
    await context.route(
      () => true,
      async (route) => {
        const url = new URL(route.request().url());
        if (!url.protocol.startsWith("http") || LOOPBACK_HOSTS.has(url.hostname)) return await route.fallback();
        this.errors.push(`refused non-loopback request: ${url}`);
        await route.abort("blockedbyclient");
      },
    );
  }

  assertClean(what) {
    assert.deepEqual(this.errors, [], `${what}: the browser reported problems`);
  }
}

/** Runs `step`; a failure also tells where the page is and what it says. */
async function explained(page, step) {
  try {
    return await step();
  } catch (error) {
    const text = await page.locator("main").textContent({ timeout: 1_000 }).catch(() => "(no main)");
    throw new Error(`${error.message}\npage: ${page.url()}\nit says: ${text}`, { cause: error });
  }
}

async function newContext(browser, log, options = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, colorScheme: "light", ...options });
  context.setDefaultTimeout(WAIT_LIMIT_MS);
  context.setDefaultNavigationTimeout(WAIT_LIMIT_MS);
  await log.confine(context);
  return context;
}

async function screenshot(page, name, fullPage = true) {
  if (!SCREENSHOT_DIR) return;
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  // Keys shown in full are masked: screenshots go into the repository.
  const mask = [page.locator("code.secret")];
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage, mask, maskColor: "#d4d4d8" });
}

/** Fails when the page is wider than its window (a phone would have to scroll sideways). */
async function assertFitsWidth(page, what) {
  const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= inner, `${what} is ${scroll} px wide in a ${inner} px window`);
}

// ---------------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------------

test("the dashboard's pages work in a real browser", { timeout: 300_000 }, async (t) => {
  const ada = await seed();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  t.after(() => browser.close());
  const log = new BrowserLog();
  const context = await newContext(browser, log);
  const page = log.watch(await context.newPage());

  await page.goto(`${DASHBOARD}/`);
  assert.equal(await page.locator("h1").textContent(), "Projects");
  await page.locator('[data-project-id="internal"]').waitFor();
  await screenshot(page, "projects");

  // The project switcher opens a project as soon as one is picked (the page's script).
  // The project switcher opens a project's overview as soon as one is picked (the page's script).
  await Promise.all([page.waitForURL(/\/projects\/internal$/), page.selectOption("#project-switcher", "internal")]);
  assert.equal(await page.locator("h1").textContent(), "Overview");
  assert.equal(await page.locator(".chart svg rect.bar").count(), 30);
  await page.locator(`main >> text=${ada.email}`).waitFor();
  await screenshot(page, "overview");

  await page.click("nav.sidebar >> text=Auth methods");
  assert.equal(await page.locator("h1").textContent(), "Auth methods");
  assert.ok(await page.locator('input[name="password"]').isChecked(), "password sign-in is on");
  await screenshot(page, "auth");
  // Turning passkey sign-in on through the form reaches the API at once; then back off.
  for (const on of [true, false]) {
    await page.locator('input[name="passkey"]').setChecked(on);
    await Promise.all([
      page.waitForURL(/done=auth-saved/),
      page.locator('form[action$="/auth/methods"] button[type="submit"]').click(),
    ]);
    const { config } = await api("GET", "/projects/current", { access: "client" });
    assert.equal(config.passkey_enabled, on, `passkey sign-in ${on ? "on" : "off"} as the API sees it`);
  }

  await page.click("nav.sidebar >> text=API keys");
  await page.click("summary:has-text('Create API key')");
  await page.fill('input[name="description"]', "Browser test");
  await Promise.all([
    page.waitForURL(/\/keys\/created\/[a-z0-9]+$/),
    page.click("form >> button:has-text('Create API key')"),
  ]);
  assert.match(await page.locator('[data-key="secret_server_key"]').textContent(), /^ssk_/);
  await screenshot(page, "key-created");
  await page.click("text=Done");
  await page.locator("tr", { hasText: "Browser test" }).waitFor();
  await screenshot(page, "keys");

  await Promise.all([page.waitForURL(/\/projects\/internal\/users$/), page.click("nav.sidebar >> text=Users")]);
  await page.locator(`text=${ada.email}`).waitFor();
  await screenshot(page, "users");

  await page.fill("#user-search", ada.email);
  await Promise.all([page.waitForURL(/q=/), page.press("#user-search", "Enter")]);
  assert.equal(await page.locator("table.users tbody tr").count(), 1);
  await Promise.all([page.waitForURL(new RegExp(`/users/${ada.id}$`)), page.click("text=Ada Lovelace")]);
  assert.equal(await page.locator("h1").textContent(), "Ada Lovelace");
  assert.match(await page.locator("main").textContent(), /cus_123/);
  await screenshot(page, "user");
  // Renaming through the profile's form changes what the API reports.
  await page.fill('form[action$="/display-name"] input[name="display_name"]', "Ada King");
  await Promise.all([
    page.waitForURL(/done=user-renamed/),
    page.click('form[action$="/display-name"] button[type="submit"]'),
  ]);
  assert.equal((await api("GET", `/users/${ada.id}`)).display_name, "Ada King");
  assert.equal(await page.locator("h1").textContent(), "Ada King");

  // Ada's personal team, made at sign-up and named after her email, is on the teams page.
  await Promise.all([page.waitForURL(/\/projects\/internal\/teams$/), page.click("nav.sidebar >> text=Teams")]);
  assert.equal(await page.locator("h1").textContent(), "Teams");
  await screenshot(page, "teams");
  await Promise.all([
    page.waitForURL(/\/teams\/[0-9a-f-]{36}$/),
    page.click(`table.teams a:has-text("${ada.email}")`),
  ]);
  const teamRoute = new URL(page.url()).pathname;
  await page.locator(`main a:has-text("${ada.email}")`).waitFor();
  await screenshot(page, "team");
  await page.click("nav.sidebar >> text=Permissions");
  assert.equal(await page.locator("h1").textContent(), "Permissions");
  await page.locator('[data-permission="$read_members"]').waitFor();
  await screenshot(page, "permissions");

  await page.click("nav.sidebar >> text=Config");
  assert.equal(await page.locator("h1").textContent(), "Config");
  await page.locator("tr", { hasText: "auth.password.allowSignIn" }).waitFor();
  await screenshot(page, "config", false);

  await page.click("nav.sidebar >> text=Emulator");
  assert.equal(await page.locator("h1").textContent(), "Emulator");
  await page.locator("h2", { hasText: "Commands" }).waitFor();
  await screenshot(page, "emulator");

  await page.goto(`${DASHBOARD}/projects/internal/emails`);
  const mail = page.locator("details.mail").filter({ hasText: ada.email }).first();
  // The sign-in mail is delivered within milliseconds of the API call, but not synchronously.
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while ((await mail.count()) === 0) {
    assert.ok(Date.now() < deadline, `no mail to ${ada.email} within ${WAIT_LIMIT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200)); // poll interval, not a guess at timing
    await page.reload();
  }
  await mail.locator(":scope > summary").click();
  await mail.locator("pre.mail-text").waitFor({ state: "visible" });
  assert.match(await mail.locator("pre.mail-text").textContent(), /magic-link-callback/);
  await screenshot(page, "emails");
  log.assertClean("opening every page");

  const phone = log.watch(await context.newPage());
  await phone.setViewportSize(PHONE);
  for (const route of [
    "/",
    "/projects/internal",
    "/projects/internal/users",
    `/projects/internal/users/${ada.id}`,
    "/projects/internal/teams",
    teamRoute,
    "/projects/internal/permissions",
    "/projects/internal/auth",
    "/projects/internal/keys",
    "/projects/internal/emails",
    "/projects/internal/config",
    "/emulator",
  ]) {
    // networkidle: the next navigation would otherwise cut off the page's icon, a reported failure.
    await phone.goto(`${DASHBOARD}${route}`, { waitUntil: "networkidle" });
    await assertFitsWidth(phone, route);
  }
  await phone.goto(`${DASHBOARD}/projects/internal/users`);
  await screenshot(phone, "users-phone", false);
  await phone.goto(`${DASHBOARD}/projects/internal`);
  await screenshot(phone, "overview-phone", false);
  await phone.close();
  log.assertClean("opening every page on a phone");
});

test("a user is created and deleted through the forms", { timeout: 300_000 }, async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  t.after(() => browser.close());
  const log = new BrowserLog();
  const page = log.watch(await (await newContext(browser, log)).newPage());
  const email = fresh("created");

  await page.goto(`${DASHBOARD}/projects/internal/users`);
  await page.click("summary:has-text('Create user')");
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="display_name"]', "Made In Browser");
  await page.fill('input[name="password"]', "correct horse battery");
  await explained(page, () =>
    Promise.all([page.waitForURL(/done=user-created/), page.click("form >> button:has-text('Create user')")]),
  );
  const [created] = await usersWithEmail(email);
  assert.ok(created, "the API lists the user made through the form");
  assert.equal(created.display_name, "Made In Browser");
  assert.equal(created.has_password, true);

  page.once("dialog", (dialog) => dialog.accept());
  await Promise.all([page.waitForURL(/done=user-deleted/), page.click("#delete-user")]);
  assert.match(await page.locator(".notice").textContent(), /User deleted/);
  assert.deepEqual(await usersWithEmail(email), [], "the user is gone");

  // Without the page's script, a deletion asks on a second page.
  const noScript = log.watch(await (await newContext(browser, log, { javaScriptEnabled: false })).newPage());
  const email2 = fresh("noscript");
  const other = await api("POST", "/users", { body: { primary_email: email2 } });
  await noScript.goto(`${DASHBOARD}/projects/internal/users/${other.id}`);
  await noScript.click("#delete-user");
  assert.equal(await noScript.locator("h1").textContent(), "Are you sure?");
  assert.equal((await usersWithEmail(email2)).length, 1, "asking deletes nothing");
  await Promise.all([noScript.waitForURL(/done=user-deleted/), noScript.click("button:has-text('Delete')")]);
  assert.deepEqual(await usersWithEmail(email2), []);
  log.assertClean("creating and deleting users");
});

test("pages on other origins cannot change anything", { timeout: 300_000 }, async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  t.after(() => browser.close());
  const log = new BrowserLog();
  const context = await newContext(browser, log);
  const page = log.watch(await context.newPage());
  await page.goto(`${DASHBOARD}/projects/internal/users`);
  const cookie = (await context.cookies(DASHBOARD)).find((c) => c.name === "stack_dashboard_csrf");
  assert.ok(cookie, "the dashboard set its CSRF cookie");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");

  // Another site (127.0.0.1 is not the same site as localhost), guessing the token: the browser does not
  // even send the cookie. Then a page on another port of localhost (same site, so the cookie goes along)
  // that knows the real token, as a local server that received the cookie would: its Origin gives it away.
  const currentToken = async () =>
    (await context.cookies(DASHBOARD)).find((c) => c.name === "stack_dashboard_csrf")?.value;
  const cases = [
    { what: "a page on another site", host: "127.0.0.1", token: async () => "guessed" },
    { what: "a page on another port of localhost that knows the token", host: "localhost", token: currentToken },
  ];
  for (const { what, host, token } of cases) {
    const csrf = await token();
    assert.ok(csrf, `${what}: no token to send`);
    const email = fresh("attack");
    const attacker = await serveAttacker({ csrf, email, display_name: "Pwned" });
    try {
      const refused = page.waitForResponse((r) => r.url().startsWith(DASHBOARD) && r.request().method() === "POST");
      await page.goto(`http://${host}:${attacker.port}/`);
      const response = await refused;
      assert.equal(response.status(), 403, `${what}: the dashboard answered ${response.status()}`);
      await page.waitForURL(`${DASHBOARD}/**`);
      assert.match(await page.locator(".error-text").textContent(), /This request was refused because/);
      assert.deepEqual(await usersWithEmail(email), [], `${what} created a user`);
    } finally {
      attacker.server.close();
    }
  }
  // The browser reports each refused navigation (403) as a console error, and the next navigation
  // may cut off the refusal page's icon; nothing else may show.
  const unexpected = log.errors.filter((e) => !/status of 403|net::ERR_ABORTED/.test(e));
  assert.deepEqual(unexpected, [], "the browser reported problems");
});
