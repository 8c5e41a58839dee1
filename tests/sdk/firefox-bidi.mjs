// A small WebDriver BiDi client for Debian's firefox-esr, used by dashboard-firefox.test.mjs.
//
// playwright-core 1.65.2 has a BiDi mode for Firefox (`firefox.launch({ channel: "moz-firefox" })`), but
// it targets Firefox Nightly: creating a context sends `emulation.setMediaFeaturesOverride`, which Firefox
// 153 ESR answers with "unknown command". So this file starts Firefox itself with
// `--remote-debugging-port=0` and speaks the protocol (https://w3c.github.io/webdriver-bidi/) over the
// `ws` package: Node 20 has no WebSocket client of its own.

import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";

/**
 * Profile preferences: no first-run or welcome pages, no update, telemetry or safe-browsing traffic
 * (the machine may be offline, and a test must not depend on the network). Firefox applies the remote
 * agent's own recommended preferences on top (`remote.prefs.recommended`).
 */
const PREFS = {
  "browser.shell.checkDefaultBrowser": false,
  "browser.startup.page": 0,
  "browser.startup.homepage": "about:blank",
  "browser.startup.homepage_override.mstone": "ignore",
  "browser.aboutwelcome.enabled": false,
  "browser.newtabpage.enabled": false,
  "browser.tabs.warnOnClose": false,
  "startup.homepage_welcome_url": "about:blank",
  "startup.homepage_welcome_url.additional": "",
  "datareporting.policy.dataSubmissionEnabled": false,
  "datareporting.healthreport.uploadEnabled": false,
  "toolkit.telemetry.reportingpolicy.firstRun": false,
  "toolkit.telemetry.enabled": false,
  "app.update.disabledForTesting": true,
  "app.normandy.enabled": false,
  "app.shield.optoutstudies.enabled": false,
  "messaging-system.rsexperimentloader.enabled": false,
  "services.settings.server": "http://127.0.0.1:9/",
  "browser.safebrowsing.malware.enabled": false,
  "browser.safebrowsing.phishing.enabled": false,
  "browser.safebrowsing.downloads.enabled": false,
  "browser.safebrowsing.blockedURIs.enabled": false,
  "extensions.update.enabled": false,
  "extensions.getAddons.cache.enabled": false,
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "network.dns.disablePrefetch": true,
  "network.prefetch-next": false,
};

/** The line Firefox prints on stderr once the BiDi server listens (port 0 lets it pick a free port). */
const LISTENING = /WebDriver BiDi listening on (ws:\/\/\S+)/;

/** How long Firefox may take to exit after `browser.close` before it is killed. */
const EXIT_LIMIT_MS = 10_000;

/** Rejects with "`what` took longer than …" unless `promise` settles within `limitMs`. */
function within(promise, limitMs, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${limitMs / 1000} s`)), limitMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A running headless Firefox with one BiDi session. */
export class Firefox {
  #child;
  #socket;
  #profile;
  #limitMs;
  #nextId = 1;
  #pending = new Map();
  #listeners = new Set();
  #stderr = "";

  /**
   * Starts `executable` headless with a fresh profile and opens a session.
   * Every later command and wait is limited to `limitMs`.
   */
  static async launch(executable, limitMs) {
    const firefox = new Firefox();
    firefox.#limitMs = limitMs;
    firefox.#profile = await mkdtemp(path.join(tmpdir(), "stack-firefox-"));
    const prefs = Object.entries(PREFS).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`);
    await writeFile(path.join(firefox.#profile, "user.js"), prefs.join(""));
    try {
      const url = await firefox.#start(executable);
      await firefox.#connect(`${url}/session`);
      await firefox.send("session.new", { capabilities: {} });
    } catch (error) {
      await firefox.close();
      throw error;
    }
    return firefox;
  }

  async #start(executable) {
    const args = ["--headless", "--no-remote", "--remote-debugging-port=0", "--profile", this.#profile];
    this.#child = spawn(executable, args, {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, MOZ_CRASHREPORTER_DISABLE: "1" },
    });
    const listening = new Promise((resolve, reject) => {
      this.#child.on("error", (error) => reject(new Error(`cannot start ${executable}: ${error.message}`)));
      this.#child.on("exit", (code, signal) =>
        reject(new Error(`${executable} exited (${signal ?? code}) before listening:\n${this.#stderr}`)),
      );
      this.#child.stderr.setEncoding("utf8");
      this.#child.stderr.on("data", (chunk) => {
        this.#stderr += chunk;
        const match = this.#stderr.match(LISTENING);
        if (match) resolve(match[1]);
      });
    });
    return await within(listening, this.#limitMs, `starting ${executable}`);
  }

  async #connect(url) {
    this.#socket = new WebSocket(url);
    await within(
      new Promise((resolve, reject) => {
        this.#socket.once("open", resolve);
        this.#socket.once("error", reject);
      }),
      this.#limitMs,
      `connecting to ${url}`,
    );
    this.#socket.on("message", (data) => this.#receive(JSON.parse(data.toString())));
    this.#socket.on("close", () => {
      for (const { reject } of this.#pending.values()) reject(new Error("Firefox closed the BiDi connection"));
      this.#pending.clear();
    });
  }

  #receive(message) {
    if (message.type === "event") {
      for (const listener of this.#listeners) listener(message.method, message.params);
      return;
    }
    const waiter = this.#pending.get(message.id);
    if (!waiter) return;
    this.#pending.delete(message.id);
    if (message.type === "error") {
      waiter.reject(new Error(`${waiter.method}: ${message.error}: ${message.message}`));
    } else {
      waiter.resolve(message.result);
    }
  }

  /** Sends one command and returns its result; a BiDi error becomes an Error naming the command. */
  send(method, params = {}) {
    const id = this.#nextId++;
    const reply = new Promise((resolve, reject) => this.#pending.set(id, { method, resolve, reject }));
    this.#socket.send(JSON.stringify({ id, method, params }));
    return within(reply, this.#limitMs, method);
  }

  /** Calls `listener(method, params)` for every event; returns a function that stops it. */
  onEvent(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The params of the first `method` event for which `matches(params)` is true, from now on. */
  waitForEvent(method, matches, what) {
    let stop;
    const seen = new Promise((resolve) => {
      stop = this.onEvent((m, params) => m === method && matches(params) && resolve(params));
    });
    return within(seen, this.#limitMs, `waiting for ${what}`).finally(stop);
  }

  /** Closes the browser (killing it if it hangs) and deletes the profile. Safe to call twice. */
  async close() {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      await this.send("browser.close").catch(() => {});
      await within(exited, EXIT_LIMIT_MS, "Firefox exiting").catch(() => {
        child.kill("SIGKILL");
        return exited;
      });
    }
    this.#socket?.terminate();
    if (this.#profile) await rm(this.#profile, { recursive: true, force: true });
    this.#child = undefined;
    this.#profile = undefined;
  }
}

/** One top-level browsing context (a tab) of a Firefox, with the few actions the test needs. */
export class Tab {
  constructor(firefox, context) {
    this.firefox = firefox;
    this.context = context;
  }

  /** A new tab in the default user context. */
  static async open(firefox) {
    const { context } = await firefox.send("browsingContext.create", { type: "tab" });
    return new Tab(firefox, context);
  }

  /** Opens `url` and waits until its `load` event has fired. */
  async goto(url) {
    await this.firefox.send("browsingContext.navigate", { context: this.context, url, wait: "complete" });
  }

  /** Waits for this tab to finish loading a page whose URL matches `pattern`. */
  waitForLoad(pattern) {
    return this.firefox.waitForEvent(
      "browsingContext.load",
      (p) => p.context === this.context && pattern.test(p.url),
      `a page matching ${pattern}`,
    );
  }

  /** Runs `expression` in the page (awaiting a promise) and returns its result, passed through JSON. */
  async evaluate(expression) {
    const { result, exceptionDetails } = await this.firefox.send("script.evaluate", {
      expression: `(async () => JSON.stringify(await (${expression})))()`,
      target: { context: this.context },
      awaitPromise: true,
      resultOwnership: "none",
    });
    if (exceptionDetails) throw new Error(`evaluating ${expression}: ${exceptionDetails.text}`);
    return result.type === "string" ? JSON.parse(result.value) : undefined;
  }

  async url() {
    return await this.evaluate("location.href");
  }

  async setViewport(viewport) {
    await this.firefox.send("browsingContext.setViewport", { context: this.context, viewport });
  }

  /**
   * Clicks the middle of the first element matching `selector` with real pointer input, after scrolling
   * it into view; fails when there is none or it has no size (hidden).
   */
  async click(selector) {
    const box = await this.evaluate(`(() => {
      const element = document.querySelector(${JSON.stringify(selector)});
      if (!element) return null;
      element.scrollIntoView({ block: "center" });
      const r = element.getBoundingClientRect();
      return { x: r.x + r.width / 2, y: r.y + r.height / 2, width: r.width, height: r.height };
    })()`);
    if (!box) throw new Error(`no element matches ${selector} on ${await this.url()}`);
    if (box.width === 0 || box.height === 0) throw new Error(`${selector} is not visible on ${await this.url()}`);
    const pointer = [
      { type: "pointerMove", x: Math.round(box.x), y: Math.round(box.y) },
      { type: "pointerDown", button: 0 },
      { type: "pointerUp", button: 0 },
    ];
    await this.#perform([{ type: "pointer", id: "mouse", parameters: { pointerType: "mouse" }, actions: pointer }]);
  }

  /** Clicks the field matching `selector` and types `text` into it with real key input. */
  async type(selector, text) {
    await this.click(selector);
    const keys = [...text].flatMap((value) => [
      { type: "keyDown", value },
      { type: "keyUp", value },
    ]);
    await this.#perform([{ type: "key", id: "keyboard", actions: keys }]);
  }

  async #perform(actions) {
    await this.firefox.send("input.performActions", { context: this.context, actions });
    await this.firefox.send("input.releaseActions", { context: this.context });
  }

  /** The page as PNG bytes: the whole document, or only what the window shows. */
  async screenshot({ fullPage }) {
    const { data } = await this.firefox.send("browsingContext.captureScreenshot", {
      context: this.context,
      origin: fullPage ? "document" : "viewport",
      format: { type: "image/png" },
    });
    return Buffer.from(data, "base64");
  }

  /** The cookie `name` this tab's pages would send (HttpOnly ones too), or undefined. */
  async cookie(name) {
    const { cookies } = await this.firefox.send("storage.getCookies", {
      filter: { name },
      partition: { type: "context", context: this.context },
    });
    return cookies[0];
  }
}
