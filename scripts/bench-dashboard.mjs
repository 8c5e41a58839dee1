// Times every dashboard page against a server seeded by scripts/bench-dashboard
// (100,000 users), then the users page's first contentful paint in Chromium.
// Usage: node scripts/bench-dashboard.mjs DASHBOARD_URL REQUESTS_PER_PAGE
import { createHash } from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(new URL("../tests/sdk/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const [base, requestsArg] = process.argv.slice(2);
if (!base) throw new Error("usage: node scripts/bench-dashboard.mjs DASHBOARD_URL [REQUESTS_PER_PAGE]");
const requests = Number(requestsArg || 100);
const PAINTS = 20;

/** The UUID PostgreSQL makes of md5(text)::uuid. */
function md5Uuid(text) {
  const h = createHash("md5").update(text).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

async function fetchPage(path) {
  const response = await fetch(`${base}${path}`);
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${body.slice(0, 300)}`);
  return body;
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const project = "/projects/internal";
const firstUsers = await fetchPage(`${project}/users`);
const next = /rel="next" href="([^"]+)"/.exec(firstUsers);
if (!next) throw new Error("the users page has no next-page link");
const pages = [
  ["projects", "/"],
  ["emulator", "/emulator"],
  ["overview", project],
  ["users, first page", `${project}/users`],
  ["users, next page (cursor)", next[1].replaceAll("&amp;", "&")],
  ["users, oldest first", `${project}/users?order=oldest`],
  ["users, search", `${project}/users?q=bench-4242`],
  ["one user", `${project}/users/${md5Uuid("bench-user-50000")}`],
  ["teams", `${project}/teams`],
  ["one team, 500 members", `${project}/teams/${md5Uuid("bench-team-1")}`],
  ["permissions", `${project}/permissions`],
  ["auth methods", `${project}/auth`],
  ["API keys", `${project}/keys`],
  ["emails", `${project}/emails`],
  ["config", `${project}/config`],
];
pages.push(["users, search matching all", `${project}/users?q=example.com`]);
// The sort orders the column headers offer beyond the default.
for (const sort of ["last_active", "name", "email"]) {
  if (!firstUsers.includes(`sort=${sort}`)) throw new Error(`the users page has no sort=${sort} link`);
  pages.push([`users, by ${sort}`, `${project}/users?sort=${sort}&dir=asc`]);
}

console.log(`\ndashboard pages, ${requests} sequential requests each, 100,000 users (ms to the whole answer)`);
console.log(`${"page".padEnd(30)} ${"p50".padStart(8)} ${"p99".padStart(8)} ${"max".padStart(8)} ${"KB".padStart(6)}  target p99 <= 50`);
let worst = 0;
for (const [name, path] of pages) {
  const body = await fetchPage(path); // warm-up
  const times = [];
  for (let i = 0; i < requests; i++) {
    const started = performance.now();
    await fetchPage(path);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const p99 = percentile(times, 99);
  worst = Math.max(worst, p99);
  console.log(
    `${name.padEnd(30)} ${percentile(times, 50).toFixed(1).padStart(8)} ${p99.toFixed(1).padStart(8)} ` +
      `${times[times.length - 1].toFixed(1).padStart(8)} ${(Buffer.byteLength(body) / 1024).toFixed(0).padStart(6)}`,
  );
}
console.log(`worst p99: ${worst.toFixed(1)} ms`);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium" });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const paints = [];
  for (let i = 0; i <= PAINTS; i++) {
    const page = await context.newPage();
    await page.goto(`${base}${project}/users`, { waitUntil: "load" });
    const fcp = await page.evaluate(
      () =>
        new Promise((resolve) => {
          new PerformanceObserver((list) => {
            const entry = list.getEntriesByName("first-contentful-paint")[0];
            if (entry) resolve(entry.startTime);
          }).observe({ type: "paint", buffered: true });
          setTimeout(() => resolve(null), 5000);
        }),
    );
    if (fcp === null) throw new Error("Chromium reported no first contentful paint");
    if (i > 0) paints.push(fcp); // the first load also starts the browser's own caches
    await page.close();
  }
  paints.sort((a, b) => a - b);
  console.log(
    `users page first contentful paint in Chromium (${PAINTS} loads): p50 ${percentile(paints, 50).toFixed(0)} ms, ` +
      `max ${paints[paints.length - 1].toFixed(0)} ms (target <= 300 ms)`,
  );
} finally {
  await browser.close();
}
