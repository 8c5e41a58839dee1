// Browser test of the emulator's dashboard in a real headless Firefox (Debian's firefox-esr), driven
// over WebDriver BiDi by firefox-bidi.mjs. It opens every page at 1280 px and at 390 px (failing on any
// console error, uncaught exception, failed or refused request, a page wider than its window, or a
// missing <h1>), creates a user by typing into the form and clicking its button, and shows that pages on
// other origins that submit forms to the dashboard change nothing. See README.md for how to run it.
//
// The server API seeds the data and checks every result, so the dashboard is never its own witness.
// With SCREENSHOT_DIR set, each page is saved there as <page>-firefox.png (1280 px) and
// <page>-phone-firefox.png (390 px), each of the whole page.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
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
import { Firefox, Tab } from "./firefox-bidi.mjs";

const FIREFOX = process.env.FIREFOX || "/usr/bin/firefox-esr";
/** What the browser reports for a request it cancelled itself (the page navigated away first). */
const ABORTED = "NS_BINDING_ABORTED";

/** A config-file project, a signed-up user with metadata and a sign-in mail, and a team she made. */
async function seed() {
  await api("POST", "/internal/local-emulator/project", {
    body: { absolute_file_path: "/home/dev/shop/stack.config.ts" },
  });
  const email = fresh("ada");
  const { user_id: id } = await api("POST", "/auth/password/sign-up", {
    access: "client",
    body: { email, password: "correct horse battery" },
  });
  await api("PATCH", `/users/${id}`, {
    body: {
      display_name: "Ada Lovelace",
      primary_email_verified: true,
      client_metadata: { plan: "pro" },
      server_metadata: { stripe_customer: "cus_123" },
    },
  });
  await api("POST", "/auth/otp/send-sign-in-code", {
    access: "client",
    body: { email, callback_url: "http://localhost:3000/handler/magic-link-callback" },
  });
  const team = await api("POST", "/teams", { body: { display_name: "Analytical Engines", creator_user_id: id } });
  return { userId: id, teamId: team.id };
}

// ---------------------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------------------

/** Firefox with a tab whose problems are recorded: console errors, uncaught exceptions, failed requests. */
async function openFirefox(t) {
  let firefox;
  try {
    firefox = await Firefox.launch(FIREFOX, WAIT_LIMIT_MS);
  } catch (error) {
    throw new Error(`${error.message}\nInstall Debian's firefox-esr (scripts/setup does) or set FIREFOX.`, {
      cause: error,
    });
  }
  t.after(() => firefox.close());
  const log = new BrowserLog(firefox);
  const tab = await Tab.open(firefox);
  await firefox.send("session.subscribe", {
    events: [
      "log.entryAdded",
      "browsingContext.load",
      "network.beforeRequestSent",
      "network.responseCompleted",
      "network.fetchError",
    ],
    contexts: [tab.context],
  });
  await tab.setViewport(DESKTOP);
  return { firefox, tab, log };
}

/** What the browser did wrong, from the BiDi events of the test's tab. */
class BrowserLog {
  errors = [];

  constructor(firefox) {
    firefox.onEvent((method, params) => this.#record(method, params));
  }

  #record(method, p) {
    if (method === "log.entryAdded" && p.level === "error") {
      const where = p.stackTrace?.callFrames?.[0]?.url ?? p.source?.context;
      this.errors.push(`${p.type === "javascript" ? "uncaught" : "console"}: ${p.text} (${where})`);
    } else if (method === "network.fetchError" && p.errorText !== ABORTED) {
      this.errors.push(`failed: ${p.request.method} ${p.request.url}: ${p.errorText}`);
    } else if (method === "network.responseCompleted" && p.response.status >= 400) {
      this.errors.push(`status ${p.response.status}: ${p.request.method} ${p.request.url}`);
    } else if (method === "network.beforeRequestSent") {
      // The emulator runs offline: its pages must not load anything from another host.
      const url = new URL(p.request.url);
      if (url.protocol.startsWith("http") && !LOOPBACK_HOSTS.has(url.hostname)) {
        this.errors.push(`non-loopback request: ${url}`);
      }
    }
  }

  assertClean(what) {
    assert.deepEqual(this.errors, [], `${what}: the browser reported problems`);
  }
}

/** Runs `step`; a failure also tells where the page is and what it says. */
async function explained(tab, step) {
  try {
    return await step();
  } catch (error) {
    const where = await tab.evaluate(`[location.href, document.querySelector("main")?.innerText ?? "(no main)"]`)
      .catch(() => ["(unknown)", "(unreadable)"]);
    throw new Error(`${error.message}\npage: ${where[0]}\nit says: ${where[1]}`, { cause: error });
  }
}

async function screenshot(tab, name) {
  if (!SCREENSHOT_DIR) return;
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  // Keys shown in full are masked: screenshots go into the repository.
  await tab.evaluate(`document.querySelectorAll("code.secret").forEach((e) => {
    e.style.background = "#d4d4d8"; e.style.color = "transparent"; })`);
  await writeFile(path.join(SCREENSHOT_DIR, `${name}-firefox.png`), await tab.screenshot({ fullPage: true }));
}

/**
 * Checks the page the tab shows: it has a non-empty <h1>, the dashboard's script ran, and it is no
 * wider than its window (a phone would have to scroll sideways). Returns the <h1>'s text.
 */
async function assertPageWorks(tab, what) {
  const page = await tab.evaluate(`({
    h1: document.querySelector("h1")?.textContent.trim() ?? null,
    script: document.documentElement.classList.contains("js"),
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  })`);
  assert.ok(page.h1, `${what} has no <h1>`);
  assert.ok(page.script, `${what}: dashboard.js did not run`);
  const wide = `${what} is ${page.scrollWidth} px wide in a ${page.innerWidth} px window`;
  assert.ok(page.scrollWidth <= page.innerWidth, wide);
  return page.h1;
}

/** Creates a key set through the API keys page's form and waits for the page that shows it. */
async function createKeyThroughForm(tab, description) {
  await tab.goto(`${DASHBOARD}/projects/internal/keys`);
  const form = 'form[method="post"][action$="/keys"]';
  await tab.click(`details.popover:has(${form}) > summary`);
  await tab.type(`${form} input[name="description"]`, description);
  const created = tab.waitForLoad(/\/keys\/created\/[a-z0-9]+$/);
  await tab.click(`${form} button[type="submit"]`);
  await created;
}

// ---------------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------------

test("every dashboard page works in Firefox at 1280 and 390 px", { timeout: 300_000 }, async (t) => {
  const { userId, teamId } = await seed();
  const { tab, log } = await openFirefox(t);
  // Every GET page of the dashboard's router, with the <h1> it must show.
  const pages = [
    ["projects", "/", "Projects"],
    ["emulator", "/emulator", "Emulator"],
    ["overview", "/projects/internal", "Overview"],
    ["users", "/projects/internal/users", "Users"],
    ["user", `/projects/internal/users/${userId}`, "Ada Lovelace"],
    ["teams", "/projects/internal/teams", "Teams"],
    ["team", `/projects/internal/teams/${teamId}`, "Analytical Engines"],
    ["permissions", "/projects/internal/permissions", "Permissions"],
    ["auth", "/projects/internal/auth", "Auth methods"],
    ["keys", "/projects/internal/keys", "API keys"],
    ["emails", "/projects/internal/emails", "Emails"],
    ["config", "/projects/internal/config", "Config"],
  ];
  for (const [viewport, label] of [[DESKTOP, "1280 px"], [PHONE, "390 px"]]) {
    await tab.setViewport(viewport);
    for (const [name, route, h1] of pages) {
      await tab.goto(`${DASHBOARD}${route}`);
      const what = `${route} at ${label}`;
      assert.equal(await explained(tab, () => assertPageWorks(tab, what)), h1, `${what}: the <h1>`);
      await screenshot(tab, viewport === DESKTOP ? name : `${name}-phone`);
    }
    // The page that shows a new key set exists only after its form was sent, once.
    await explained(tab, () => createKeyThroughForm(tab, `Firefox ${label}`));
    assert.equal(await assertPageWorks(tab, `the new key set at ${label}`), "API key created");
    assert.match(await tab.evaluate(`document.querySelector('[data-key="secret_server_key"]').textContent`), /^ssk_/);
    await screenshot(tab, viewport === DESKTOP ? "key-created" : "key-created-phone");
    log.assertClean(`opening every page at ${label}`);
  }
});

test("a user created through the form in Firefox is in the API", { timeout: 300_000 }, async (t) => {
  const { tab, log } = await openFirefox(t);
  const email = fresh("firefox");
  await tab.goto(`${DASHBOARD}/projects/internal/users`);
  const form = 'form[method="post"][action$="/users"]';
  await tab.click(`details.popover:has(${form}) > summary`);
  await tab.type(`${form} input[name="email"]`, email);
  await tab.type(`${form} input[name="display_name"]`, "Made In Firefox");
  await tab.type(`${form} input[name="password"]`, "correct horse battery");
  const done = tab.waitForLoad(/done=user-created/);
  await tab.click(`${form} button[type="submit"]`);
  await explained(tab, () => done);
  assert.match(await tab.evaluate(`document.querySelector(".notice")?.textContent ?? ""`), /created/i);

  const [created] = await usersWithEmail(email);
  assert.ok(created, "the API lists the user made through the form");
  assert.equal(created.display_name, "Made In Firefox");
  assert.equal(created.has_password, true);
  log.assertClean("creating a user");
});

test("pages on other origins cannot change anything in Firefox", { timeout: 300_000 }, async (t) => {
  const { firefox, tab, log } = await openFirefox(t);
  await tab.goto(`${DASHBOARD}/projects/internal/users`);
  const cookie = await tab.cookie("stack_dashboard_csrf");
  assert.ok(cookie, "the dashboard set its CSRF cookie");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "strict");

  // Another site (127.0.0.1 is not the same site as localhost), guessing the token: the browser does not
  // even send the cookie. Then a page on another port of localhost (same site, so the cookie goes along)
  // that knows the real token, as a local server that received the cookie would: its Origin gives it away.
  const cases = [
    { what: "a page on another site", host: "127.0.0.1", token: async () => "guessed" },
    {
      what: "a page on another port of localhost that knows the token",
      host: "localhost",
      token: async () => (await tab.cookie("stack_dashboard_csrf"))?.value.value,
    },
  ];
  for (const { what, host, token } of cases) {
    const csrf = await token();
    assert.ok(csrf, `${what}: no token to send`);
    const email = fresh("attack");
    const attacker = await serveAttacker({ csrf, email, display_name: "Pwned" });
    try {
      const refused = firefox.waitForEvent(
        "network.responseCompleted",
        (p) => p.context === tab.context && p.request.method === "POST" && p.request.url.startsWith(DASHBOARD),
        `${what}: the dashboard's answer`,
      );
      const landed = tab.waitForLoad(new RegExp(`^${DASHBOARD.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/`));
      await firefox.send("browsingContext.navigate", {
        context: tab.context,
        url: `http://${host}:${attacker.port}/`,
        wait: "none",
      });
      const response = await refused;
      assert.equal(response.response.status, 403, `${what}: the dashboard answered ${response.response.status}`);
      await landed;
      const says = await tab.evaluate(`document.querySelector(".error-text")?.textContent ?? ""`);
      assert.match(says, /This request was refused because/, `${what}: the refusal page`);
      assert.deepEqual(await usersWithEmail(email), [], `${what} created a user`);
    } finally {
      attacker.server.close();
    }
  }
  // The refused posts are the only 403s; nothing else may show.
  const unexpected = log.errors.filter((e) => !/^status 403: POST /.test(e));
  assert.deepEqual(unexpected, [], "the browser reported problems");
});
