// OAuth figures for scripts/bench-server: a whole scripted sign-in round trip
// (no browser) against stack-server and its mock OpenID provider:
// authorize → the mock's interaction (login, consent) → the API's callback →
// the authorization-code grant. The first round signs a new user up; the
// others sign the same provider account in again.
// Usage: node scripts/bench-oauth.mjs API_URL PUBLISHABLE_KEY ROUNDS

const [apiUrl, pck, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 50);
const redirectUri = "http://localhost:3000/handler/oauth-callback";

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}
const ms = (t) => Number(t) / 1e6;

/** Cookies a response sets, as `name=value` pairs (the mock's interaction cookie, the API's inner-state cookie). */
function cookiesOf(response) {
  return response.headers.getSetCookie().map((c) => c.split(";")[0]);
}

async function step(url, init, expected) {
  const r = await fetch(url, { redirect: "manual", ...init });
  if (r.status !== expected) {
    throw new Error(`${init?.method ?? "GET"} ${url} answered ${r.status} (expected ${expected}): ${await r.text()}`);
  }
  await r.arrayBuffer();
  return r;
}

async function signIn(email) {
  const query = new URLSearchParams({
    client_id: "internal",
    client_secret: pck,
    redirect_uri: redirectUri,
    scope: "legacy",
    state: "bench-state",
    grant_type: "authorization_code",
    code_challenge: "bench-code-challenge-bench-code-challenge-0",
    code_challenge_method: "plain",
    response_type: "code",
  });
  const authorize = await step(`${apiUrl}/api/v1/auth/oauth/authorize/github?${query}`, {}, 307);
  const apiCookies = cookiesOf(authorize).join("; ");
  const authUrl = new URL(authorize.headers.get("location"));
  let r = await step(authUrl, {}, 303);
  const interaction = new URL(r.headers.get("location"), authUrl);
  const form = (body) => ({
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(body),
  });
  r = await step(interaction, form({ prompt: "login", login: email }), 303);
  r = await step(new URL(r.headers.get("location"), interaction), {}, 303);
  const consent = new URL(r.headers.get("location"), interaction);
  r = await step(consent, form({ prompt: "consent" }), 303);
  r = await step(new URL(r.headers.get("location"), consent), {}, 303);
  const callback = new URL(r.headers.get("location"));
  // The callback names the public API URL; the benchmark reaches the same server.
  const local = new URL(callback.pathname + callback.search, apiUrl);
  r = await step(local, { headers: { cookie: apiCookies } }, 303);
  const code = new URL(r.headers.get("location")).searchParams.get("code");
  const token = await fetch(`${apiUrl}/api/v1/auth/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: "internal",
      client_secret: pck,
      code,
      redirect_uri: redirectUri,
      code_verifier: "bench-code-challenge-bench-code-challenge-0",
    }),
  });
  const body = await token.json();
  if (token.status !== 200 || !body.access_token) {
    throw new Error(`the token grant answered ${token.status}: ${JSON.stringify(body)}`);
  }
  return body;
}

const email = `oauth-bench-${process.pid}@example.com`;
const first = await signIn(email);
if (first.is_new_user !== true) throw new Error("the first round did not sign a new user up");
const times = [];
for (let i = 0; i < rounds; i++) {
  const start = process.hrtime.bigint();
  const answer = await signIn(email);
  times.push(ms(process.hrtime.bigint() - start));
  if (answer.is_new_user !== false) throw new Error("a later round made a new user");
}
times.sort((a, b) => a - b);
const f = (v) => v.toFixed(1);
console.log(`\nOAuth sign-in (${rounds} rounds, 9 HTTP requests each, scripted, loopback)`);
console.log(
  `${"authorize → mock sign-in → callback → token".padEnd(60)} p50 ${f(percentile(times, 50))} / p99 ${f(percentile(times, 99))} / max ${f(times[times.length - 1])} ms  <= 30 ms p50`,
);
