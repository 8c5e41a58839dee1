// Mail sink figures for scripts/bench-server: how soon a mail sent by an API call is
// readable through the sink's JSON API, and how fast a mailbox of 10,000 messages lists.
// Usage: node scripts/bench-mail.mjs API_URL MAIL_URL PUBLISHABLE_KEY ROUNDS
// (the 10,000-message mailbox "bench-10k@example.com" must already be filled).

const [apiUrl, mailUrl, pck, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 50);
const headers = {
  "content-type": "application/json",
  "x-stack-project-id": "internal",
  "x-stack-access-type": "client",
  "x-stack-publishable-client-key": pck,
};

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}
const ms = (t) => Number(t) / 1e6;

async function readable() {
  const afterResponse = [];
  const afterRequest = [];
  for (let i = 0; i < rounds; i++) {
    const email = `bench-${process.pid}-${i}-${Date.now()}@example.com`;
    const start = process.hrtime.bigint();
    const r = await fetch(`${apiUrl}/api/v1/auth/otp/send-sign-in-code`, {
      method: "POST",
      headers,
      body: JSON.stringify({ email, callback_url: "http://localhost:3000/handler/magic-link-callback" }),
    });
    if (r.status !== 200) throw new Error(`send-sign-in-code answered ${r.status}: ${await r.text()}`);
    const answered = process.hrtime.bigint();
    for (;;) {
      const list = await (await fetch(`${mailUrl}/api/v1/mailbox/${encodeURIComponent(email)}`)).json();
      if (list.items.length > 0) break;
      if (ms(process.hrtime.bigint() - answered) > 5000) throw new Error(`no mail for ${email} after 5 s`);
    }
    const done = process.hrtime.bigint();
    afterResponse.push(ms(done - answered));
    afterRequest.push(ms(done - start));
  }
  return { afterResponse: afterResponse.sort((a, b) => a - b), afterRequest: afterRequest.sort((a, b) => a - b) };
}

async function listing(path) {
  const times = [];
  let body;
  for (let i = 0; i < rounds; i++) {
    const start = process.hrtime.bigint();
    const r = await fetch(`${mailUrl}${path}`);
    body = await r.json();
    times.push(ms(process.hrtime.bigint() - start));
    if (r.status !== 200) throw new Error(`${path} answered ${r.status}`);
  }
  return { times: times.sort((a, b) => a - b), body };
}

const mail = await readable();
const first = await listing("/api/v1/mailbox/bench-10k@example.com?limit=50");
if (first.body.items.length !== 50) throw new Error("the 10,000-message mailbox is not filled");
// A deep page: the cursor 9,950 messages down.
const deepCursor = first.body.items[0].id - 9950;
const deep = await listing(`/api/v1/mailbox/bench-10k@example.com?limit=50&before=${deepCursor}`);
const row = (name, sorted, target) =>
  console.log(`${name.padEnd(52)} ${`p50 ${percentile(sorted, 50).toFixed(1)} / p99 ${percentile(sorted, 99).toFixed(1)} / max ${sorted.at(-1).toFixed(1)} ms`.padStart(38)}  ${target}`);
console.log(`\nmail sink (${rounds} rounds each)`);
row("mail readable after the sending call's response", mail.afterResponse, "<= 200 ms");
row("mail readable after the sending call's start", mail.afterRequest, "");
row("list 50 of a 10,000-message mailbox (first page)", first.times, "fast");
row("list 50 of a 10,000-message mailbox (deep page)", deep.times, "fast");
