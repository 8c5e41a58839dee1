// End-to-end test: drives a running stack-server with the official Stack Auth JS SDK
// (@stackframe/js, pinned in package.json). See README.md for how to run it.
//
// Behaviour of the SDK that shapes this file (read from node_modules/@stackframe/{js,stack-shared}/dist):
// * signUpWithCredential() throws in Node unless `verificationCallbackUrl` or
//   `noVerificationCallback: true` is given (it cannot derive a callback URL without `window`).
// * Every request made with a session first ensures the access token is valid for >= 20 s, refreshing it
//   through POST /api/v1/auth/oauth/token (grant_type=refresh_token). A freshly refreshed token that is
//   valid for < 20 s makes the SDK throw, so the server's access-token lifetime must be >= 22 s.
// * On a network error the SDK runs "network diagnostics" that fetch public hosts; the fetch guard
//   below refuses every request that is not for STACK_API_URL, so this test only talks to the server.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { StackClientApp, StackServerApp } from "@stackframe/js";

// ---------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------

const REQUIRED_ENV = [
  "STACK_API_URL",
  "STACK_PROJECT_ID",
  "STACK_PUBLISHABLE_CLIENT_KEY",
  "STACK_SECRET_SERVER_KEY",
  "ACCESS_TOKEN_TTL_SECONDS",
  "STACK_MAIL_URL",
];
const missingEnv = REQUIRED_ENV.filter((name) => !process.env[name]);
if (missingEnv.length > 0) {
  throw new Error(
    `Missing required environment variable(s): ${missingEnv.join(", ")}. ` +
      "Start stack-server and set STACK_API_URL (e.g. http://127.0.0.1:12345, without /api/v1), " +
      "STACK_PROJECT_ID (internal), STACK_PUBLISHABLE_CLIENT_KEY, STACK_SECRET_SERVER_KEY and " +
      "ACCESS_TOKEN_TTL_SECONDS (the server's access-token lifetime) and STACK_MAIL_URL (the mail sink's " +
      "web listener). See tests/sdk/README.md.",
  );
}

const API_BASE_URL = process.env.STACK_API_URL.replace(/\/+$/, "");
const PROJECT_ID = process.env.STACK_PROJECT_ID;
const PUBLISHABLE_CLIENT_KEY = process.env.STACK_PUBLISHABLE_CLIENT_KEY;
const SECRET_SERVER_KEY = process.env.STACK_SECRET_SERVER_KEY;
const ACCESS_TOKEN_TTL_SECONDS = Number(process.env.ACCESS_TOKEN_TTL_SECONDS);
const MAIL_URL = process.env.STACK_MAIL_URL.replace(/\/+$/, "");

let apiOrigin;
try {
  apiOrigin = new URL(API_BASE_URL).origin;
} catch {
  throw new Error(`STACK_API_URL is not a valid URL: ${JSON.stringify(process.env.STACK_API_URL)}`);
}
// The SDK refreshes any access token that expires within 20 s and throws if a freshly minted one
// expires within 20 s (InternalSession.getOrFetchLikelyValidTokens(20_000, ...)); exp has 1 s resolution.
const MIN_TTL_SECONDS = 22;
if (!Number.isInteger(ACCESS_TOKEN_TTL_SECONDS) || ACCESS_TOKEN_TTL_SECONDS < MIN_TTL_SECONDS) {
  throw new Error(
    `ACCESS_TOKEN_TTL_SECONDS must be an integer >= ${MIN_TTL_SECONDS} (got ${JSON.stringify(process.env.ACCESS_TOKEN_TTL_SECONDS)}): ` +
      "@stackframe/js refuses access tokens that are valid for less than 20 s right after a refresh. " +
      "Start stack-server with an access-token lifetime of e.g. 25 s and pass the same value here.",
  );
}

// ---------------------------------------------------------------------------------------------------
// fetch guard + request log
// ---------------------------------------------------------------------------------------------------

/** @type {{method: string, path: string, search: string, body: string | undefined, status: number | undefined}[]} */
const requestLog = [];
const realFetch = globalThis.fetch;

function requestUrlOf(input) {
  if (typeof input === "string") return new URL(input);
  if (input instanceof URL) return input;
  return new URL(input.url);
}

function bodyToString(body) {
  if (typeof body === "string") return body;
  if (body instanceof URLSearchParams) return body.toString();
  return undefined;
}

before(() => {
  globalThis.fetch = async (input, init) => {
    const url = requestUrlOf(input);
    if (url.origin !== apiOrigin) {
      throw new Error(`e2e fetch guard: refused a request to ${url.href}; this test only talks to ${apiOrigin}`);
    }
    const entry = {
      method: (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase(),
      path: url.pathname,
      search: url.search,
      body: bodyToString(init?.body),
      status: undefined,
    };
    requestLog.push(entry);
    const response = await realFetch(input, init);
    const actualStatus = response.headers.get("x-hexclave-actual-status") ?? response.headers.get("x-stack-actual-status");
    entry.status = actualStatus != null ? Number(actualStatus) : response.status;
    return response;
  };
});

after(() => {
  globalThis.fetch = realFetch;
});

before(async () => {
  try {
    await realFetch(`${API_BASE_URL}/api/v1`, { signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    throw new Error(`Cannot reach stack-server at ${API_BASE_URL}/api/v1 (is it running?): ${e?.cause?.message ?? e}`);
  }
});

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

function randomEmail() {
  return `sdk-${randomBytes(8).toString("hex")}@example.com`;
}

function decodeJwtPayload(token) {
  assert.equal(typeof token, "string", "expected a JWT string");
  const parts = token.split(".");
  assert.equal(parts.length, 3, "expected a compact JWS (three dot-separated parts)");
  return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
}

function describeError(result) {
  if (result?.status !== "error") return "";
  const error = result.error;
  return `${error?.name ?? "Error"} ${error?.errorCode ?? ""}: ${error?.message ?? String(error)}`;
}

function assertKnownError(result, code, statusCode) {
  assert.equal(result.status, "error", `expected a ${code} error result, got status ${JSON.stringify(result.status)}`);
  const error = result.error;
  assert.equal(error?.errorCode, code, `expected known error ${code}, got ${describeError(result)}`);
  assert.equal(error.name, `KnownError<${code}>`);
  assert.equal(error.statusCode, statusCode);
}

function requestsSince(index, method, pathSuffix) {
  return requestLog.slice(index).filter((r) => r.method === method && r.path.endsWith(pathSuffix));
}

/**
 * Runs dependent steps as subtests; once one step fails, the remaining ones are skipped instead of
 * failing with follow-up errors.
 */
function stepper(t) {
  let failedStep = null;
  return async (name, fn) => {
    await t.test(name, async (st) => {
      if (failedStep !== null) {
        st.skip(`skipped because step "${failedStep}" failed`);
        return;
      }
      try {
        await fn(st);
      } catch (e) {
        failedStep = name;
        throw e;
      }
    });
  };
}

function makeClientApp(tokenStore = "memory") {
  return new StackClientApp({
    baseUrl: API_BASE_URL,
    projectId: PROJECT_ID,
    publishableClientKey: PUBLISHABLE_CLIENT_KEY,
    tokenStore,
    redirectMethod: "none",
  });
}

function makeServerApp() {
  return new StackServerApp({
    baseUrl: API_BASE_URL,
    projectId: PROJECT_ID,
    publishableClientKey: PUBLISHABLE_CLIENT_KEY,
    secretServerKey: SECRET_SERVER_KEY,
    tokenStore: "memory",
    redirectMethod: "none",
  });
}

async function listAllServerUsers(serverApp) {
  const users = [];
  let cursor;
  for (let page = 0; page < 100; page++) {
    const result = await serverApp.listUsers(cursor ? { cursor } : undefined);
    users.push(...result);
    if (!result.nextCursor) return users;
    cursor = result.nextCursor;
  }
  assert.fail("listUsers() kept returning a next cursor after 100 pages");
}

// ---------------------------------------------------------------------------------------------------
// Flow 1: client app (email + password, current user, token refresh, sign-out)
// ---------------------------------------------------------------------------------------------------

test("client app: password sign-up/sign-in, current user, token refresh, sign-out", { timeout: (ACCESS_TOKEN_TTL_SECONDS + 180) * 1000 }, async (t) => {
  const step = stepper(t);
  const app = makeClientApp();
  const email = randomEmail();
  const password = `Pw-${randomBytes(9).toString("base64url")}`;
  let userId;
  let refreshTokenOfFirstSession;

  await step("sign up with email + password", async () => {
    assert.equal(await app.getUser(), null, "a fresh app must not have a current user");
    const result = await app.signUpWithCredential({ email, password, noRedirect: true, noVerificationCallback: true });
    assert.equal(result.status, "ok", `sign-up failed: ${describeError(result)}`);

    const signUps = requestLog.filter((r) => r.method === "POST" && r.path.endsWith("/api/v1/auth/password/sign-up"));
    assert.equal(signUps.length, 1, "the SDK should have called POST /api/v1/auth/password/sign-up once");
    assert.deepEqual(JSON.parse(signUps[0].body), { email, password });
  });

  await step("getUser() returns the new user; tokens carry the expected claims", async () => {
    const user = await app.getUser();
    assert.ok(user, "getUser() returned null right after sign-up");
    assert.equal(user.primaryEmail, email);
    assert.equal(typeof user.id, "string");
    assert.match(user.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
    assert.equal(user.hasPassword, true);
    assert.equal(user.isAnonymous, false);
    assert.equal(user.isRestricted, false);
    assert.equal(user.primaryEmailVerified, false, "password sign-up creates an unverified primary email");
    assert.ok(Number.isFinite(user.signedUpAt.getTime()), "signedUpAt must be a valid date");
    userId = user.id;

    const tokens = await user.currentSession.getTokens();
    assert.equal(typeof tokens.accessToken, "string");
    assert.equal(typeof tokens.refreshToken, "string");
    assert.ok(tokens.refreshToken.length > 0);
    refreshTokenOfFirstSession = tokens.refreshToken;

    const claims = decodeJwtPayload(tokens.accessToken);
    assert.equal(claims.sub, userId);
    assert.equal(claims.project_id, PROJECT_ID);
    assert.equal(claims.branch_id, "main");
    assert.equal(claims.role, "authenticated");
    assert.equal(claims.email, email);
    assert.equal(claims.is_anonymous, false);
    assert.equal(typeof claims.refresh_token_id, "string");
    assert.equal(claims.exp - claims.iat, ACCESS_TOKEN_TTL_SECONDS, "access token lifetime (exp - iat) must equal ACCESS_TOKEN_TTL_SECONDS");

    const authJson = await app.getAuthJson();
    assert.equal(authJson.refreshToken, tokens.refreshToken);
  });

  await step("sign out", async () => {
    const index = requestLog.length;
    await app.signOut();
    assert.equal(requestsSince(index, "DELETE", "/api/v1/auth/sessions/current").length, 1, "signOut() should call DELETE /api/v1/auth/sessions/current");
    assert.equal(await app.getUser(), null, "getUser() must return null after sign-out");
    assert.deepEqual(await app.getAuthJson(), { accessToken: null, refreshToken: null });
  });

  await step("the signed-out session's refresh token is revoked", async () => {
    // An app whose token store holds only the old refresh token: the SDK tries POST /auth/oauth/token,
    // gets REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED, drops the session and reports no user.
    const staleApp = makeClientApp({ accessToken: null, refreshToken: refreshTokenOfFirstSession });
    const index = requestLog.length;
    assert.equal(await staleApp.getUser(), null, "a refresh token of a signed-out session must not yield a user");
    const refreshes = requestsSince(index, "POST", "/api/v1/auth/oauth/token");
    assert.ok(refreshes.length >= 1, "the SDK should have tried to refresh the access token");
    assert.equal(refreshes[0].status, 401, "refreshing with a revoked refresh token must fail with 401 REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
  });

  await step("signing up again with the same email fails with USER_EMAIL_ALREADY_EXISTS", async () => {
    const result = await app.signUpWithCredential({ email, password, noRedirect: true, noVerificationCallback: true });
    assertKnownError(result, "USER_EMAIL_ALREADY_EXISTS", 409);
    assert.equal(await app.getUser(), null);
  });

  await step("a wrong password fails with EMAIL_PASSWORD_MISMATCH", async () => {
    const result = await app.signInWithCredential({ email, password: `${password}-wrong`, noRedirect: true });
    assertKnownError(result, "EMAIL_PASSWORD_MISMATCH", 400);
    assert.equal(await app.getUser(), null, "a failed sign-in must not sign the user in");
  });

  await step("sign in with the same credentials", async () => {
    const result = await app.signInWithCredential({ email, password, noRedirect: true });
    assert.equal(result.status, "ok", `sign-in failed: ${describeError(result)}`);
    const user = await app.getUser();
    assert.ok(user, "getUser() returned null after sign-in");
    assert.equal(user.id, userId, "sign-in must return the same user");
    assert.equal(user.primaryEmail, email);
    const tokens = await user.currentSession.getTokens();
    assert.notEqual(tokens.refreshToken, refreshTokenOfFirstSession, "sign-in must create a new session");
  });

  await step("update the current user and read it back", async () => {
    const user = await app.getUser();
    assert.ok(user);
    const displayName = `SDK User ${randomBytes(4).toString("hex")}`;
    const clientMetadata = { theme: "dark", nested: { count: 3, tags: ["a", "b"] }, flag: true };
    const index = requestLog.length;
    await user.update({ displayName, clientMetadata });
    const patches = requestsSince(index, "PATCH", "/api/v1/users/me");
    assert.equal(patches.length, 1, "user.update() should call PATCH /api/v1/users/me");
    assert.deepEqual(JSON.parse(patches[0].body), { display_name: displayName, client_metadata: clientMetadata });

    const reread = await app.getUser();
    assert.ok(reread);
    assert.equal(reread.id, userId);
    assert.equal(reread.displayName, displayName);
    assert.deepEqual(reread.clientMetadata, clientMetadata);
  });

  await step(`after the access token expires (${ACCESS_TOKEN_TTL_SECONDS + 1} s), getUser() still works via a refresh`, async () => {
    const before = await (await app.getUser()).currentSession.getTokens();
    const oldClaims = decodeJwtPayload(before.accessToken);
    const index = requestLog.length;

    // Waiting on the wall clock is the point here: the server-issued access token has to expire.
    await sleep((ACCESS_TOKEN_TTL_SECONDS + 1) * 1000);
    assert.ok(oldClaims.exp * 1000 <= Date.now(), "the old access token should have expired by now");

    const user = await app.getUser();
    assert.ok(user, "getUser() returned null after the access token expired; the refresh did not work");
    assert.equal(user.id, userId);

    const refreshes = requestsSince(index, "POST", "/api/v1/auth/oauth/token");
    assert.ok(refreshes.length >= 1, "the SDK should have refreshed through POST /api/v1/auth/oauth/token");
    const form = new URLSearchParams(refreshes[0].body ?? "");
    assert.equal(form.get("grant_type"), "refresh_token");
    assert.equal(form.get("refresh_token"), before.refreshToken);
    assert.equal(form.get("client_id"), PROJECT_ID);
    assert.equal(form.get("client_secret"), PUBLISHABLE_CLIENT_KEY);
    assert.equal(refreshes[0].status, 200);

    const afterTokens = await user.currentSession.getTokens();
    assert.notEqual(afterTokens.accessToken, before.accessToken, "the access token should have changed");
    assert.equal(afterTokens.refreshToken, before.refreshToken, "the refresh token stays the same");
    const newClaims = decodeJwtPayload(afterTokens.accessToken);
    assert.equal(newClaims.sub, userId);
    assert.equal(newClaims.refresh_token_id, oldClaims.refresh_token_id, "the refreshed token belongs to the same session");
    assert.ok(newClaims.iat > oldClaims.iat, "the refreshed token must be newer");
    assert.ok(newClaims.exp * 1000 > Date.now(), "the refreshed token must not be expired");
  });

  await step("sign out again; getUser() returns null", async () => {
    await app.signOut();
    assert.equal(await app.getUser(), null);
  });
});

// ---------------------------------------------------------------------------------------------------
// Flow 2: server app (user CRUD with the secret server key)
// ---------------------------------------------------------------------------------------------------

test("server app: createUser, listUsers, getUser, update, delete", { timeout: 120_000 }, async (t) => {
  const step = stepper(t);
  const serverApp = makeServerApp();
  const email = randomEmail();
  const displayName = `Server Created ${randomBytes(4).toString("hex")}`;
  let userId;

  await step("createUser", async () => {
    const user = await serverApp.createUser({
      primaryEmail: email,
      password: `Pw-${randomBytes(9).toString("base64url")}`,
      displayName,
    });
    assert.equal(typeof user.id, "string");
    assert.match(user.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
    assert.equal(user.primaryEmail, email);
    assert.equal(user.displayName, displayName);
    assert.equal(user.hasPassword, true);
    assert.equal(user.isAnonymous, false);
    userId = user.id;
  });

  await step("listUsers() includes the new user", async () => {
    const users = await listAllServerUsers(serverApp);
    const found = users.find((u) => u.id === userId);
    assert.ok(found, `listUsers() did not include user ${userId}`);
    assert.equal(found.primaryEmail, email);
    assert.equal(found.displayName, displayName);
  });

  await step("getUser(id)", async () => {
    const user = await serverApp.getUser(userId);
    assert.ok(user, `getUser(${userId}) returned null`);
    assert.equal(user.id, userId);
    assert.equal(user.primaryEmail, email);
    assert.equal(user.displayName, displayName);
  });

  await step("user.update({ displayName, serverMetadata }) and read it back", async () => {
    const user = await serverApp.getUser(userId);
    assert.ok(user);
    const newDisplayName = `${displayName} (updated)`;
    const serverMetadata = { plan: "pro", limits: { seats: 5 }, tags: ["x", "y"] };
    await user.update({ displayName: newDisplayName, serverMetadata });

    const reread = await serverApp.getUser(userId);
    assert.ok(reread);
    assert.equal(reread.displayName, newDisplayName);
    assert.deepEqual(reread.serverMetadata, serverMetadata);
    assert.equal(reread.primaryEmail, email);
  });

  await step("user.delete(); getUser(id) returns null afterwards", async () => {
    const user = await serverApp.getUser(userId);
    assert.ok(user);
    await user.delete();
    assert.equal(await serverApp.getUser(userId), null, "getUser(id) must return null for a deleted user");
    const users = await listAllServerUsers(serverApp);
    assert.equal(users.some((u) => u.id === userId), false, "listUsers() must not include a deleted user");
  });
});

// ---------------------------------------------------------------------------------------------------
// Flow 3: mail (magic link, password reset, email verification), read through the mail sink's JSON API
// ---------------------------------------------------------------------------------------------------

// The sink is read with the real fetch: the guard above is for the SDK's own requests.
async function sinkJson(path) {
  const response = await realFetch(`${MAIL_URL}${path}`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(response.status, 200, `GET ${path} on the mail sink answered ${response.status}`);
  return await response.json();
}

/** Polls the sink until `address` holds `count` messages; returns the newest in full. */
async function waitForMail(address, count) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const { items } = await sinkJson(`/api/v1/mailbox/${encodeURIComponent(address)}`);
    if (items.length >= count) return await sinkJson(`/api/v1/mailbox/${encodeURIComponent(address)}/${items[0].id}`);
    await sleep(50); // poll interval
  }
  assert.fail(`no ${count}. mail to ${address} arrived in the sink within 10 s`);
}

function codeFromMail(message, callbackUrl) {
  const link = message.body.text.split(/\s+/).find((word) => word.startsWith(callbackUrl));
  assert.ok(link, `the mail has no link to ${callbackUrl}: ${message.body.text}`);
  const code = new URL(link).searchParams.get("code");
  assert.match(code ?? "", /^[0-9a-z]{45}$/, "the link carries a 45-character code");
  return code;
}

test("mail: magic-link sign-in, password reset and email verification", { timeout: 120_000 }, async (t) => {
  const step = stepper(t);
  const app = makeClientApp();
  const email = randomEmail();
  const magicLinkCallback = "http://localhost:3000/handler/magic-link-callback";
  const resetCallback = "http://localhost:3000/handler/password-reset";
  const verifyCallback = "http://localhost:3000/handler/email-verification";
  let userId;

  await step("sendMagicLinkEmail() mails a sign-in code and a magic link", async () => {
    const result = await app.sendMagicLinkEmail(email, { callbackUrl: magicLinkCallback });
    assert.equal(result.status, "ok", `sendMagicLinkEmail failed: ${describeError(result)}`);
    assert.equal(result.data.nonce.length, 39);
    const mail = await waitForMail(email, 1);
    const code = codeFromMail(mail, magicLinkCallback);
    assert.equal(mail.subject, `Sign in to Stack Dashboard: Your code is ${code.slice(0, 6).toUpperCase()}`);
    assert.equal(code.slice(6), result.data.nonce);
  });

  await step("signInWithMagicLink() signs up a verified user", async () => {
    const mail = await waitForMail(email, 1);
    const result = await app.signInWithMagicLink(codeFromMail(mail, magicLinkCallback), { noRedirect: true });
    assert.equal(result.status, "ok", `signInWithMagicLink failed: ${describeError(result)}`);
    const user = await app.getUser();
    assert.ok(user, "getUser() returned null after the magic-link sign-in");
    assert.equal(user.primaryEmail, email);
    assert.equal(user.primaryEmailVerified, true);
    assert.equal(user.otpAuthEnabled, true);
    userId = user.id;
  });

  await step("the same magic link cannot be used twice", async () => {
    const mail = await waitForMail(email, 1);
    const result = await app.signInWithMagicLink(codeFromMail(mail, magicLinkCallback), { noRedirect: true });
    assertKnownError(result, "VERIFICATION_CODE_ALREADY_USED", 409);
  });

  await step("a password set, then sendForgotPasswordEmail() and resetPassword() change it", async () => {
    const user = await app.getUser();
    const first = `Pw-${randomBytes(9).toString("base64url")}`;
    assert.equal(await user.setPassword({ password: first }), undefined);
    const sent = await app.sendForgotPasswordEmail(email, { callbackUrl: resetCallback });
    assert.equal(sent.status, "ok", `sendForgotPasswordEmail failed: ${describeError(sent)}`);
    const mail = await waitForMail(email, 2);
    assert.equal(mail.subject, "Reset your password at Stack Dashboard");
    const code = codeFromMail(mail, resetCallback);
    assert.equal((await app.verifyPasswordResetCode(code)).status, "ok");
    const second = `Pw-${randomBytes(9).toString("base64url")}`;
    const reset = await app.resetPassword({ code, password: second });
    assert.equal(reset.status, "ok", `resetPassword failed: ${describeError(reset)}`);
    assertKnownError(await app.resetPassword({ code, password: second }), "VERIFICATION_CODE_ALREADY_USED", 409);

    const fresh = makeClientApp();
    assertKnownError(await fresh.signInWithCredential({ email, password: first, noRedirect: true }), "EMAIL_PASSWORD_MISMATCH", 400);
    const signedIn = await fresh.signInWithCredential({ email, password: second, noRedirect: true });
    assert.equal(signedIn.status, "ok", `sign-in with the new password failed: ${describeError(signedIn)}`);
    assert.equal((await fresh.getUser()).id, userId);
  });

  await step("a second address is verified through the mailed link", async () => {
    const fresh = makeClientApp();
    assert.equal((await fresh.sendMagicLinkEmail(email, { callbackUrl: magicLinkCallback })).status, "ok");
    const signIn = await fresh.signInWithMagicLink(codeFromMail(await waitForMail(email, 3), magicLinkCallback), { noRedirect: true });
    assert.equal(signIn.status, "ok", `sign-in failed: ${describeError(signIn)}`);
    const user = await fresh.getUser();
    const second = randomEmail();
    const channel = await user.createContactChannel({ type: "email", value: second, usedForAuth: false });
    assert.equal(channel.isVerified, false);
    await channel.sendVerificationEmail({ callbackUrl: verifyCallback });
    const mail = await waitForMail(second, 1);
    assert.equal(mail.subject, "Verify your email at Stack Dashboard");
    const result = await fresh.verifyEmail(codeFromMail(mail, verifyCallback));
    assert.equal(result.status, "ok", `verifyEmail failed: ${describeError(result)}`);
    const channels = await user.listContactChannels();
    const verified = channels.find((c) => c.value === second);
    assert.ok(verified, "the new contact channel is listed");
    assert.equal(verified.isVerified, true);
  });
});

// ---------------------------------------------------------------------------------------------------
// Flow 4: teams (create, invite by mail, accept, grant and check a permission, a team API key)
// ---------------------------------------------------------------------------------------------------

async function signedUpClient() {
  const app = makeClientApp();
  const email = randomEmail();
  const result = await app.signUpWithCredential({
    email,
    password: `Pw-${randomBytes(9).toString("base64url")}`,
    noRedirect: true,
    noVerificationCallback: true,
  });
  assert.equal(result.status, "ok", `sign-up failed: ${describeError(result)}`);
  const user = await app.getUser({ or: "throw" });
  return { app, user, email };
}

test("teams: create, invite by mail, accept, grant and check a permission, team API key", { timeout: 120_000 }, async (t) => {
  const step = stepper(t);
  const serverApp = makeServerApp();
  const callbackUrl = "http://localhost:3000/handler/team-invitation";
  let owner;
  let invitee;
  let team;
  let code;

  await step("a signed-up user creates a team and is its member", async () => {
    owner = await signedUpClient();
    team = await owner.user.createTeam({ displayName: `SDK Team ${randomBytes(3).toString("hex")}` });
    const teams = await owner.user.listTeams();
    assert.ok(teams.some((t) => t.id === team.id), "listTeams() includes the new team");
    assert.equal(await owner.user.hasPermission(team, "$invite_members"), true, "the creator may invite");
  });

  await step("team.inviteUser() sends a mail with a code link", async () => {
    invitee = { email: randomEmail() };
    await team.inviteUser({ email: invitee.email, callbackUrl });
    const message = await waitForMail(invitee.email, 1);
    assert.match(message.subject, /join/);
    code = codeFromMail(message, callbackUrl);
    const invitations = await team.listInvitations();
    assert.ok(invitations.some((i) => i.recipientEmail === invitee.email), "the invitation is listed");
  });

  await step("the invitee signs up and accepts the invitation", async () => {
    const signedUp = await signedUpClient();
    invitee = { ...invitee, ...signedUp };
    const details = await invitee.app.getTeamInvitationDetails(code);
    assert.equal(details.status, "ok", describeError(details));
    assert.equal(details.data.teamDisplayName, team.displayName);
    const accepted = await invitee.app.acceptTeamInvitation(code);
    assert.equal(accepted.status, "ok", describeError(accepted));
    const teams = await invitee.user.listTeams();
    assert.ok(teams.some((t) => t.id === team.id), "the invitee is now a member");
    const again = await invitee.app.acceptTeamInvitation(code);
    assertKnownError(again, "VERIFICATION_CODE_ALREADY_USED", 409);
  });

  await step("a member lacks $manage_api_keys until the server grants team_admin", async () => {
    const inviteeTeam = (await invitee.user.listTeams()).find((t) => t.id === team.id);
    assert.equal(await invitee.user.hasPermission(inviteeTeam, "$manage_api_keys"), false);
    const serverUser = await serverApp.getUser(invitee.user.id);
    const serverTeam = await serverApp.getTeam(team.id);
    await serverUser.grantPermission(serverTeam, "team_admin");
    assert.equal(await invitee.user.hasPermission(inviteeTeam, "$manage_api_keys"), true, "team_admin contains it");
    const permissions = await invitee.user.listPermissions(inviteeTeam, { recursive: true });
    assert.ok(permissions.some((p) => p.id === "$manage_api_keys"));
  });

  await step("a team API key is created once and identifies its team", async () => {
    // Team API keys are off by default; the branch config turns them on (server keys may write it).
    const patched = await realFetch(`${API_BASE_URL}/api/v1/internal/config/override/branch`, {
      method: "PATCH",
      headers: {
        "content-type": "application/json",
        "x-stack-project-id": PROJECT_ID,
        "x-stack-access-type": "server",
        "x-stack-secret-server-key": SECRET_SERVER_KEY,
      },
      body: JSON.stringify({ config_override_string: JSON.stringify({ "apiKeys.enabled.team": true }) }),
    });
    assert.equal(patched.status, 200, await patched.text());
    const inviteeTeam = (await invitee.user.listTeams()).find((t) => t.id === team.id);
    const key = await inviteeTeam.createApiKey({ description: "sdk e2e", expiresAt: null });
    assert.match(key.value, /^sk_[a-z0-9]+574ck4u7h[0-9a-f]{8}$/);
    const found = await serverApp.getTeam({ apiKey: key.value });
    assert.equal(found?.id, team.id, "the key resolves to its team");
    const listed = await inviteeTeam.listApiKeys();
    assert.equal(listed.length, 1);
    assert.equal(listed[0].value.lastFour, key.value.slice(-4), "a listed key shows only its last four characters");
    await listed[0].revoke();
    assert.equal(await serverApp.getTeam({ apiKey: key.value }), null, "a revoked key resolves to nothing");
  });
});
