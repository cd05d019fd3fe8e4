// One tab's rules: tokens, the 401 path, helpers, SSR, the committed build.
import { test as nodeTest } from "node:test";

// Every case is bounded: a lock or message that never comes fails it.
const test = (name, fn) => nodeTest(name, { timeout: 30_000 }, fn);
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import axios from "axios";
import { AuthBroker, AuthBrokerError, attachAxios } from "../src/authbroker.js";
import { FakeBroker, Origin, signIn } from "./harness.mjs";
import { staleServed } from "../scripts/build.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const api = "https://api.test/api";

test("the build served by the broker (handlers/static) is up to date with src", async () => {
  assert.deepEqual(await staleServed(), [], "run `npm run build` in clients/js and commit handlers/static");
});

for (const file of ["../src/authbroker.js", "../../../handlers/static/authbroker.mjs"]) {
  test(`SSR: importing and constructing ${file.split("/").pop()} under Node touches no browser global`, () => {
    // A fresh process: no window, document or location; a leftover timer
    // or open channel would keep it from exiting.
    const script = `
      for (const name of ["window", "document", "location", "sessionStorage", "localStorage"]) {
        Object.defineProperty(globalThis, name, { get() { throw new Error("touched " + name); }, configurable: true });
      }
      const { AuthBroker } = await import(${JSON.stringify(join(here, file))});
      const auth = new AuthBroker({ baseUrl: "https://auth.example.com", apiOrigins: ["https://api.example.com"] });
      if (auth.signedIn || auth.member !== null) throw new Error("signed in on the server");
      if (await auth.getAccessToken() !== null) throw new Error("a token on the server");
      for (const name of ["window", "document", "location", "sessionStorage", "localStorage"]) delete globalThis[name];
      const e = await auth.handleRedirect().catch((e) => e);
      if (e.code !== "not_in_browser") throw new Error("handleRedirect on the server: " + e);
      console.log("ok");
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "ok");
  });
}

test("constructor: baseUrl required, options checked", () => {
  assert.throws(() => new AuthBroker({}), TypeError);
  assert.throws(() => new AuthBroker({ baseUrl: "https://a", delivery: "x" }), TypeError);
  assert.throws(() => new AuthBroker({ baseUrl: "https://a", persist: "local" }), TypeError);
  assert.equal(AuthBroker.Error, AuthBrokerError);
});

test("fetch: five requests failing together cause one refresh and one retry each", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab();
  await signIn(a);
  broker.expireAll();
  const res = await Promise.all([1, 2, 3, 4, 5].map(() => a.fetch(api)));
  assert.deepEqual(res.map((r) => r.status), [200, 200, 200, 200, 200]);
  assert.equal(broker.refreshes, 1);
});

test("fetch refuses to send credentials to an origin not allowed", async (t) => {
  const o = new Origin(new FakeBroker());
  t.after(() => o.closeAll());
  const a = o.tab();
  await assert.rejects(a.fetch("https://evil.test/steal"), TypeError);
  assert.equal(a.allows("https://api.test/x"), true);
  assert.equal(a.allows("https://app.test/x"), true);
  assert.equal(a.allows("https://auth.test.evil/"), false);
});

test("getAccessToken: the cached token while valid, a refresh near expiry, null when signed out", async (t) => {
  const broker = new FakeBroker({ ttl: 300 });
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab();
  assert.equal(await a.getAccessToken(), null);
  await signIn(a);
  const first = await a.getAccessToken();
  assert.equal(await a.getAccessToken(), first);
  assert.equal(broker.refreshes, 0);
  broker.now += 280_000; // 20 s left, under the 30 s leeway
  const [x, y] = await Promise.all([a.getAccessToken(), a.getAccessToken()]);
  assert.notEqual(x, first);
  assert.equal(x, y);
  assert.equal(broker.refreshes, 1);
});

test("getAccessToken in cookie mode says why there is no token", async () => {
  const a = new AuthBroker({ baseUrl: "https://auth.test", delivery: "cookie" });
  await assert.rejects(a.getAccessToken(), (e) => e.code === "cookie_mode");
});

test("axios: N requests failing with token_expired cause one refresh and are retried once", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab();
  await signIn(a);
  const client = axios.create({ baseURL: "https://api.test", adapter: "fetch", env: { fetch: broker.fetch } });
  const detach = attachAxios(a, client);
  broker.expireAll();
  const res = await Promise.all(Array.from({ length: 8 }, () => client.get("/api")));
  assert.ok(res.every((r) => r.status === 200 && r.data.ok));
  assert.equal(broker.refreshes, 1, "one refresh for eight failures");

  // A request still refused after the retry is not retried again.
  for (const s of broker.sessions.values()) s.alive = false;
  const before = broker.refreshes;
  await assert.rejects(client.get("/api"), (e) => e.response && e.response.status === 401);
  assert.ok(broker.refreshes - before <= 1, "no retry loop");

  detach();
  const other = await client.get("/api").catch((e) => e);
  assert.equal(other.config.headers.Authorization, undefined, "detached: no token added");
});

test("axios: no token is sent to an origin not allowed", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab();
  await signIn(a);
  let seen = "unset";
  const client = axios.create({
    adapter: "fetch",
    env: { fetch: async (input, init) => ((seen = new Headers(input.headers).get("Authorization")), new Response("{}")) },
  });
  attachAxios(a, client);
  await client.get("https://evil.test/x");
  assert.equal(seen, null);
});

test("sessions and revokeSession: ending the current session signs out", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const [a, b] = [o.tab(), o.tab()];
  await signIn(a);
  await b.handleRedirect();
  const list = await a.sessions();
  assert.deepEqual(list.map((s) => s.current), [true]);
  assert.equal(a.sessionId, list[0].id);
  await a.revokeSession(list[0].id);
  assert.equal(a.signedIn, false);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(b.signedIn, false, "the other tab shared that session");
});

test("errors from the broker carry its code and status", async (t) => {
  const o = new Origin(new FakeBroker());
  t.after(() => o.closeAll());
  const a = o.tab();
  await signIn(a);
  await assert.rejects(a.revokeSession("nope"), (e) => e instanceof AuthBrokerError && e.code === "not_found" && e.status === 404);
});

test("link: the browser goes to the broker's URL and, back in the same tab, the link is confirmed", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab();
  await signIn(a);
  let went = "";
  a._p.location.assign = (u) => (went = u);
  await a.link("github");
  assert.match(went, /^https:\/\/auth\.test\/auth\/github\?link=1&return_to=/);
  o.kill(a); // the page is gone while the user is at the provider

  // Back from the provider, in the same tab (same sessionStorage), alone.
  const back = o.tab({ sessionStorage: a.sessionStore });
  back._p.location.href = "https://app.test/?link_result=linked-ok";
  const linked = [];
  back.addEventListener("link", (e) => linked.push(e.detail.identity.provider));
  assert.ok(await back.handleRedirect(), "still signed in after the trip");
  assert.deepEqual(linked, ["github"]);
  assert.equal(back.sessionStore.getItem("authbroker.link_resume"), null, "the kept refresh token is gone");
  assert.equal(broker.reuse, 0);
});

test("link: a result for someone else is refused with the broker's code", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab();
  await signIn(a);
  a._p.location.href = "https://app.test/?link_result=forged";
  await assert.rejects(a.handleRedirect(), (e) => e.code === "link_mismatch" && e.status === 403);
  assert.ok(a.signedIn);
});

test("link: back in a tab while another tab keeps the session, the kept copy is dropped unused", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab();
  await signIn(a);
  const b = o.tab();
  await b.handleRedirect();
  a._p.location.assign = () => {};
  await a.link("github");
  o.kill(a);
  await b.refresh(); // the session moves on while the user is away
  const back = o.tab({ sessionStorage: a.sessionStore });
  back._p.location.href = "https://app.test/?link_result=linked-ok";
  assert.ok(await back.handleRedirect());
  assert.equal(await back.getAccessToken(), await b.getAccessToken(), "the session from the other tab");
  assert.equal(back.sessionStore.getItem("authbroker.link_resume"), null);
  assert.equal(broker.reuse, 0);
});

test("a refresh keeps what it does not carry (the avatar) and takes what changed (the role)", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab();
  await signIn(a);
  assert.equal(a.member.avatar, "https://img.test/ada.png");
  broker.member = { ...broker.member, role: "admin" };
  await a.refresh();
  assert.equal(a.member.role, "admin");
  assert.equal(a.member.avatar, "https://img.test/ada.png", "the avatar survives a refresh");
});

test("providerToken: the broker's token, reused while it has more than a minute left, then asked for again", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab();
  await signIn(a);
  const tok = await a.providerToken("google");
  assert.equal(tok.accessToken, "pt-google-1");
  assert.equal(tok.tokenType, "Bearer");
  assert.deepEqual(tok.scope, ["openid", "email"]);
  assert.equal(tok.expiresAt.getTime(), Math.floor(broker.now / 1000) * 1000 + 3600_000);
  assert.equal((await a.providerToken("google")).accessToken, "pt-google-1", "reused from this tab");
  assert.equal(broker.providerTokenCalls, 1);
  broker.now += 3600_000 - 30_000; // 30 s left
  assert.equal((await a.providerToken("google")).accessToken, "pt-google-2");
  await assert.rejects(a.providerToken("google", { scope: ["email", "calendar"] }), (e) => e.code === "insufficient_scope" && e.scope === "calendar" && e.status === 403);
});

test("providerToken: a grant gone is an event and an error with the reauth URL; reconnect goes there and comes back signed in", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab();
  await signIn(a);
  broker.providerGone = true;
  const seen = [];
  a.addEventListener("providerreauth", (e) => seen.push(e.detail));
  const err = await a.providerToken("kakao").catch((e) => e);
  assert.ok(err instanceof AuthBrokerError);
  assert.equal(err.code, "provider_reauth_required");
  assert.equal(err.status, 409);
  assert.match(err.reauthUrl, /^https:\/\/auth\.test\/auth\/kakao\?reauth=sub-1&return_to=https%3A%2F%2Fapp\.test%2F$/);
  assert.deepEqual(seen, [{ provider: "kakao", subject: null, reauthUrl: err.reauthUrl }]);

  assert.throws(() => a.reconnect("https://evil.test/auth/kakao"), TypeError, "only the broker's own URLs");
  let went = "";
  a._p.location.assign = (u) => (went = u);
  a.reconnect(seen[0]);
  assert.equal(went, err.reauthUrl);
  o.kill(a); // the page is gone while the member is at the provider

  broker.providerGone = false;
  const back = o.tab({ sessionStorage: a.sessionStore });
  back._p.location.href = "https://app.test/?reconnected=kakao";
  const reconnected = [];
  back.addEventListener("reconnect", (e) => reconnected.push(e.detail.provider));
  assert.ok(await back.handleRedirect(), "still signed in after the trip");
  assert.deepEqual(reconnected, ["kakao"]);
  assert.equal((await back.providerToken("kakao")).accessToken.startsWith("pt-kakao-"), true);
  assert.equal(broker.reuse, 0);
});

test("providerToken: another member never gets the previous member's cached token", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab();
  await signIn(a);
  const first = await a.providerToken("github");
  await a.logout();
  broker.member = { ...broker.member, id: "someone-else" };
  await signIn(a);
  assert.notEqual((await a.providerToken("github")).accessToken, first.accessToken);
});
