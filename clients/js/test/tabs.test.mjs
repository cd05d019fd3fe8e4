// The cross-tab rules: one refresh for every tab, tokens shared, sign-out
// everywhere, and never a token another tab has already rotated.
import { test as nodeTest } from "node:test";

// Every case is bounded: a lock or message that never comes fails it.
const test = (name, fn) => nodeTest(name, { timeout: 30_000 }, fn);
import assert from "node:assert/strict";
import { FakeBroker, Origin, signIn, until } from "./harness.mjs";

const api = "https://api.test/api";

/** Opens n tabs of one origin, signs the first in and lets the others join. */
async function signedInTabs(o, n, options) {
  const first = o.tab(options);
  await signIn(first);
  const tabs = [first];
  for (let i = 1; i < n; i++) {
    const t = o.tab(options);
    assert.ok(await t.handleRedirect(), `tab ${i + 1} joined the session`);
    tabs.push(t);
  }
  return tabs;
}

for (const [name, opts] of [
  ["Web Locks", { locks: true }],
  ["Web Locks, localStorage never shared between tabs", { locks: true, localStorage: "per-tab" }],
  ["BroadcastChannel fallback (no Web Locks)", { locks: false }],
]) {
  test(`${name}: three tabs whose tokens expire together refresh once and all continue`, async (t) => {
    const broker = new FakeBroker();
    const o = new Origin(broker, opts);
    t.after(() => o.closeAll());
    const tabs = await signedInTabs(o, 3);
    const shared = tabs.map((x) => x.sessionId);
    assert.equal(new Set(shared).size, 1, "one session for the three tabs");

    broker.expireAll();
    const before = broker.refreshes;
    const answers = await Promise.all(tabs.flatMap((x) => [x.fetch(api), x.fetch(api)]));
    assert.deepEqual(answers.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    assert.equal(broker.refreshes - before, 1, "exactly one refresh request for three tabs");
    assert.equal(broker.reuse, 0);
    const tokens = new Set(await Promise.all(tabs.map((x) => x.getAccessToken())));
    assert.equal(tokens.size, 1, "every tab holds the new access token");
  });
}

test("a tab opened later takes the session from the others; no refresh", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const [a] = await signedInTabs(o, 1);
  const b = o.tab();
  const member = await b.handleRedirect();
  assert.equal(member && member.id, "m1");
  assert.equal(await b.getAccessToken(), await a.getAccessToken());
  assert.equal(broker.refreshes, 0);
});

test("a tab alone starts signed out without waiting for others", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const started = Date.now();
  assert.equal(await o.tab().handleRedirect(), null);
  assert.ok(Date.now() - started < 500, "no wait for tabs that do not exist");
});

test("logout in one tab signs out every tab", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const [a, b, c] = await signedInTabs(o, 3);
  const changes = [];
  for (const x of [b, c]) x.addEventListener("change", (e) => changes.push(e.detail.member));
  await a.logout();
  await until(() => !b.signedIn && !c.signedIn, "the other tabs to sign out");
  assert.deepEqual(changes, [null, null]);
  assert.equal(await b.getAccessToken(), null);
  assert.equal(broker.alive(), 0, "the session ended at the broker");
  // A tab opened afterwards does not find the ended session anywhere.
  assert.equal(await o.tab().handleRedirect(), null);
});

test("a session that ended at the broker signs every tab out on the next refresh", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const [a, b] = await signedInTabs(o, 2);
  for (const s of broker.sessions.values()) s.alive = false; // revoked by an admin
  await assert.rejects(a.refresh(), (e) => e.code === "invalid_grant");
  await until(() => !b.signedIn, "the other tab to sign out");
});

for (const storage of [true, "per-tab"]) test(`a tab that dies mid-refresh: another tab recovers the answer at once, the session lives (localStorage ${storage === true ? "shared" : "per tab"})`, async (t) => {
  const broker = new FakeBroker({ grace: 10_000 });
  const o = new Origin(broker, { localStorage: storage });
  t.after(() => o.closeAll());
  const [a, b] = await signedInTabs(o, 2);
  let release;
  broker.holdRefresh = (r) => (release = r); // the broker rotates, the answer never arrives
  const lost = a.refresh().catch(() => {});
  await until(() => release, "the refresh to reach the broker");
  o.kill(a); // reloaded: its lock is released, its answer lost
  await until(() => broker.refreshes === 2, "the other tab to present the same token again");
  await until(() => b.generation > 1, "the other tab to take the recovered tokens");
  assert.equal(broker.reuse, 0, "no reuse detection");
  assert.equal(broker.alive(), 1);
  // Long after the grace, the tab's tokens are the current ones.
  broker.now += 60_000;
  broker.expireAll();
  assert.equal((await b.fetch(api)).status, 200);
  assert.equal(broker.reuse, 0);
  release();
  await lost;
});

test("the reloaded tab joins again and nothing is presented twice", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const [a, b] = await signedInTabs(o, 2);
  let release;
  broker.holdRefresh = (r) => (release = r);
  a.refresh().catch(() => {});
  await until(() => release, "the refresh to reach the broker");
  o.kill(a);
  const a2 = o.tab(); // the same tab after its reload
  assert.ok(await a2.handleRedirect());
  await until(() => a2.generation === b.generation && broker.refreshes === 2, "both tabs on the recovered tokens");
  assert.equal(await a2.getAccessToken(), await b.getAccessToken());
  assert.equal(broker.reuse, 0);
  release();
});

test("persist session: a tab reloaded mid-refresh, alone, recovers within the grace", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab({ persist: "session" });
  await signIn(a);
  let release;
  broker.holdRefresh = (r) => (release = r);
  a.refresh().catch(() => {});
  await until(() => release, "the refresh to reach the broker");
  o.kill(a);
  const a2 = o.tab({ persist: "session", sessionStorage: a.sessionStore });
  assert.ok(await a2.handleRedirect(), "signed in after the reload");
  assert.equal(broker.reuse, 0);
  assert.equal(broker.alive(), 1);
  release();
});

test("a kept refresh token two rotations old is never presented", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab({ persist: "session" });
  await signIn(a);
  const b = o.tab();
  await b.handleRedirect();
  o.kill(a); // a's sessionStorage keeps generation 1
  await b.refresh();
  await b.refresh(); // generation 3, then b closes too
  o.kill(b);
  const before = broker.refreshes;
  const a2 = o.tab({ persist: "session", sessionStorage: a.sessionStore });
  assert.equal(await a2.handleRedirect(), null, "signed out rather than presenting a stale token");
  assert.equal(broker.refreshes, before, "the stale token never reached the broker");
  assert.equal(broker.alive(), 1, "the session was not revoked");
});

test("refresh in one tab reaches the others as a shared refresh event", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const [a, b] = await signedInTabs(o, 2);
  const events = [];
  b.addEventListener("refresh", (e) => events.push(e.detail.shared));
  await a.refresh();
  await until(() => events.length === 1, "the refresh event in the other tab");
  assert.deepEqual(events, [true]);
  assert.equal(await b.getAccessToken(), await a.getAccessToken());
});

test("crossTab: false keeps each tab on its own", async (t) => {
  const broker = new FakeBroker();
  const o = new Origin(broker);
  t.after(() => o.closeAll());
  const a = o.tab({ crossTab: false });
  await signIn(a);
  assert.equal(await o.tab({ crossTab: false }).handleRedirect(), null);
});
