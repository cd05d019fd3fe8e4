// Test doubles for the client's pure logic under node --test: a broker that
// keeps the refresh-token contract (rotation, the previous token answered
// with the current pair within the grace, anything older revokes the
// session), Web Locks shared by the "tabs" of one test, Storage, and tabs
// built from them. BroadcastChannel is Node's own (same as a browser's).
import { AuthBroker } from "../src/authbroker.js";

/** A Storage over a Map (localStorage is one per origin, sessionStorage one per tab). */
export class MemoryStorage {
  constructor() {
    this.m = new Map();
  }
  getItem(k) {
    return this.m.has(k) ? this.m.get(k) : null;
  }
  setItem(k, v) {
    this.m.set(k, String(v));
  }
  removeItem(k) {
    this.m.delete(k);
  }
  get length() {
    return this.m.size;
  }
}

/**
 * Web Locks for several tabs: exclusive and shared modes, FIFO grants,
 * query(), and kill(tab) releasing everything a tab held, as a browser does
 * when a document goes away.
 */
export class Locks {
  constructor() {
    this.held = []; // {name, mode, tab, release}
    this.queue = []; // {name, mode, tab, grant}
  }
  forTab(tab) {
    return {
      request: (name, a, b) => this.request(tab, name, typeof a === "function" ? {} : a, typeof a === "function" ? a : b),
      query: async () => ({
        held: this.held.map((h) => ({ name: h.name, mode: h.mode, clientId: h.tab })),
        pending: this.queue.map((q) => ({ name: q.name, mode: q.mode, clientId: q.tab })),
      }),
    };
  }
  request(tab, name, opts, fn) {
    const mode = opts.mode || "exclusive";
    return new Promise((resolve, reject) => {
      const entry = { name, mode, tab, resolve, reject, fn };
      this.queue.push(entry);
      this.pump();
    });
  }
  grantable(q) {
    const same = this.held.filter((h) => h.name === q.name);
    if (q.mode === "shared") return same.every((h) => h.mode === "shared") && !this.queue.some((o) => o !== q && o.name === q.name && o.mode === "exclusive" && this.queue.indexOf(o) < this.queue.indexOf(q));
    return same.length === 0 && !this.queue.some((o) => o.name === q.name && this.queue.indexOf(o) < this.queue.indexOf(q));
  }
  pump() {
    for (const q of this.queue.slice()) {
      if (!this.grantable(q)) continue;
      this.queue.splice(this.queue.indexOf(q), 1);
      const h = { name: q.name, mode: q.mode, tab: q.tab };
      this.held.push(h);
      const done = () => {
        const i = this.held.indexOf(h);
        if (i < 0) return false;
        this.held.splice(i, 1);
        setImmediate(() => this.pump());
        return true;
      };
      h.release = done;
      Promise.resolve()
        .then(() => q.fn({ name: q.name, mode: q.mode }))
        .then(
          (v) => (done(), q.resolve(v)),
          (e) => (done(), q.reject(e))
        );
    }
  }
  /** The tab is gone: its locks are released and its requests dropped. */
  kill(tab) {
    this.queue = this.queue.filter((q) => q.tab !== tab);
    for (const h of this.held.filter((h) => h.tab === tab)) h.release();
  }
}

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");

/**
 * A broker: sessions whose refresh tokens rotate on each use. Presenting
 * the previous token within grace returns the current pair (a lost answer,
 * a racing tab); the previous after grace, or anything older, is reuse:
 * the session is revoked. Access tokens are JWT-shaped (only sid is read).
 */
export class FakeBroker {
  constructor({ baseUrl = "https://auth.test", ttl = 300, grace = 10_000 } = {}) {
    this.baseUrl = baseUrl;
    this.ttl = ttl;
    this.grace = grace;
    this.now = 0; // ms, advanced by tests
    this.sessions = new Map();
    this.refreshes = 0; // refresh grants answered, any outcome
    this.reuse = 0; // sessions revoked for reuse
    this.expired = new Set(); // access tokens the API calls expired
    this.holdRefresh = null; // (resolveLater) => void: hold the next answer
    this.n = 0;
    this.member = { id: "m1", email: "ada@example.com", name: "Ada", avatar: "https://img.test/ada.png", role: "user" };
  }
  // Like the broker: a sign-in answers with the whole member, a refresh with
  // what the session carries (no avatar: a refresh reads no member).
  pair(s, fromRefresh = false) {
    const access = `${b64({ alg: "none" })}.${b64({ sid: s.id, n: ++this.n })}.sig`;
    s.access.add(access);
    return { access_token: access, token_type: "Bearer", expires_in: this.ttl, refresh_token: s.current, refresh_expires_in: 1209600, member: fromRefresh ? { ...this.member, avatar: undefined } : this.member };
  }
  login() {
    const id = "s" + (this.sessions.size + 1);
    const s = { id, current: `rt-${id}-0`, previous: null, rotatedAt: 0, retired: new Set(), n: 0, access: new Set(), alive: true };
    this.sessions.set(id, s);
    return this.pair(s);
  }
  find(rt) {
    for (const s of this.sessions.values()) if (s.current === rt || s.previous === rt || s.retired.has(rt)) return s;
    return null;
  }
  refresh(rt) {
    this.refreshes++;
    const s = this.find(rt);
    if (!s || !s.alive) return [400, { error: "invalid_grant", error_description: "unknown refresh token" }];
    if (s.current === rt) {
      if (s.previous) s.retired.add(s.previous);
      s.previous = rt;
      s.current = `rt-${s.id}-${++s.n}`;
      s.rotatedAt = this.now;
      s.lastPair = this.pair(s, true);
      return [200, s.lastPair];
    }
    if (s.previous === rt && this.now - s.rotatedAt <= this.grace) return [200, s.lastPair];
    s.alive = false;
    this.reuse++;
    return [400, { error: "invalid_grant", error_description: "refresh token reused: session revoked" }];
  }
  sessionOf(bearer) {
    for (const s of this.sessions.values()) if (s.access.has(bearer)) return s;
    return null;
  }
  /** Every access token issued so far is refused as expired from now on. */
  expireAll() {
    for (const s of this.sessions.values()) for (const a of s.access) this.expired.add(a);
  }
  alive() {
    return [...this.sessions.values()].filter((s) => s.alive).length;
  }
  /** The broker and a protected API at /api, as a fetch function. */
  fetch = async (input, init = {}) => {
    await new Promise((r) => setImmediate(r)); // a network is never synchronous
    const req = input instanceof Request ? input : null;
    const url = new URL(req ? req.url : String(input));
    const method = (init.method || (req && req.method) || "GET").toUpperCase();
    const headers = new Headers(req ? req.headers : undefined);
    new Headers(init.headers).forEach((v, k) => headers.set(k, v));
    const auth = headers.get("Authorization") || "";
    const bearer = auth.replace(/^Bearer /, "");
    const json = (status, body) => new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    if (url.pathname === "/auth/token" && method === "POST") {
      const body = JSON.parse(init.body);
      if (body.grant_type === "authorization_code") return json(200, this.login());
      if (body.grant_type !== "refresh_token") return json(400, { error: "unsupported_grant_type" });
      const [status, out] = this.refresh(body.refresh_token);
      if (this.holdRefresh) {
        const hold = this.holdRefresh;
        this.holdRefresh = null;
        await new Promise((release) => hold(release));
      }
      return json(status, out);
    }
    const s = this.sessionOf(bearer);
    if (!s || !s.alive) return json(401, { error: "invalid_token" });
    if (this.expired.has(bearer)) return json(401, { error: "token_expired" });
    if (url.pathname === "/auth/logout" && method === "POST") {
      s.alive = false;
      return json(204);
    }
    if (url.pathname === "/auth/sessions" && method === "GET") {
      return json(200, { sessions: [...this.sessions.values()].filter((x) => x.alive).map((x) => ({ id: x.id, current: x === s })) });
    }
    if (url.pathname.startsWith("/auth/sessions/") && method === "DELETE") {
      const t = this.sessions.get(decodeURIComponent(url.pathname.slice("/auth/sessions/".length)));
      if (!t) return json(404, { error: "not_found" });
      t.alive = false;
      return json(204);
    }
    if (url.pathname.startsWith("/auth/link/") && method === "POST") {
      const body = JSON.parse(init.body || "{}");
      if (url.pathname === "/auth/link/complete") {
        return body.link_result === "linked-ok" ? json(200, { identity: { provider: "github", subject: "42" } }) : json(403, { error: "link_mismatch" });
      }
      return json(200, { url: `${this.baseUrl}/auth/github?link=1&return_to=${encodeURIComponent(body.return_to)}`, expires_in: 60 });
    }
    const pt = url.pathname.match(/^\/auth\/identities\/([^/]+)\/token$/);
    if (pt && method === "GET") {
      this.providerTokenCalls = (this.providerTokenCalls || 0) + 1;
      const provider = decodeURIComponent(pt[1]);
      if (this.providerGone) {
        const q = new URLSearchParams({ reauth: "sub-1", return_to: url.searchParams.get("return_to") || "" });
        return json(409, { error: "provider_reauth_required", error_description: "sign in again", reauth_url: `${this.baseUrl}/auth/${provider}?${q}` });
      }
      const scopes = (url.searchParams.get("scope") || "").split(" ").filter(Boolean);
      const missing = scopes.filter((x) => !["openid", "email"].includes(x));
      if (missing.length) return json(403, { error: "insufficient_scope", error_description: "missing", scope: missing.join(" ") });
      return json(200, { access_token: `pt-${provider}-${this.providerTokenCalls}`, token_type: "Bearer", expires_at: Math.floor(this.now / 1000) + (this.providerTokenTTL || 3600), scope: "openid email" });
    }
    if (url.pathname === "/api") return json(200, { ok: true, sid: s.id });
    return json(404, { error: "not_found" });
  };
}

let origins = 0;

/**
 * An origin: the localStorage and Web Locks its tabs share, a channel
 * name space of its own, and tabs (AuthBroker instances) to open in it.
 */
export class Origin {
  // localStorage: true (shared by the tabs), false (none), or "per-tab":
  // each tab sees only its own writes, the worst a browser whose storage
  // reaches other processes late can do.
  constructor(broker, { locks = true, localStorage = true } = {}) {
    this.broker = broker;
    this.locks = locks ? new Locks() : null;
    this.perTabStorage = localStorage === "per-tab";
    this.localStorage = localStorage === true ? new MemoryStorage() : null;
    this.tabs = [];
    // One BroadcastChannel name space per origin: the broker URL is in the
    // channel name, so each test origin gets its own.
    this.baseUrl = `${broker.baseUrl}/o${++origins}`;
  }
  /** Opens a tab: an AuthBroker with this origin's platform. */
  tab(options = {}) {
    const id = this.tabs.length + 1;
    const sessionStorage = options.sessionStorage || new MemoryStorage();
    const auth = new AuthBroker({
      baseUrl: this.baseUrl,
      apiOrigins: ["https://api.test"],
      autoRefresh: false,
      ...options,
      platform: {
        fetch: (input, init) => this.broker.fetch(String(input).replace(this.baseUrl, this.broker.baseUrl), init),
        location: { href: "https://app.test/", origin: "https://app.test", pathname: "/", assign() {} },
        history: { state: null, replaceState() {} },
        sessionStorage,
        localStorage: this.perTabStorage ? new MemoryStorage() : this.localStorage,
        locks: this.locks ? this.locks.forTab(id) : null,
        now: () => this.broker.now,
        ...options.platform,
      },
    });
    auth.tabId = id;
    auth.sessionStore = sessionStorage;
    this.tabs.push(auth);
    return auth;
  }
  /** The tab is closed or reloaded: its locks go, its channel closes. */
  kill(auth) {
    auth.close();
    if (this.locks) this.locks.kill(auth.tabId);
  }
  closeAll() {
    for (const t of this.tabs) t.close();
  }
}

/** Signs a tab in the way a redirect back from the broker does. */
export async function signIn(auth) {
  auth.sessionStore.setItem("authbroker.pkce_verifier", "verifier");
  auth._p.location.href = "https://app.test/?code=one-time";
  await auth.handleRedirect();
  auth._p.location.href = "https://app.test/";
}

/** Resolves when cond() holds, polling every few ms (fails after ms). */
export async function until(cond, what, ms = 3000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 5));
  }
}
