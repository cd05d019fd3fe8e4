/*!
 * @authbroker/client: the browser client for an authbroker server.
 * No runtime dependencies. Source of truth: clients/js/src/authbroker.js;
 * the broker serves the build at /authbroker.js (classic script defining
 * window.AuthBroker) and /authbroker.mjs (ES module).
 */

// How it works, for the reader of this file:
//
// - Code delivery (default). login() keeps a PKCE verifier in
//   sessionStorage and sends its S256 challenge (RFC 7636); handleRedirect()
//   redeems the one-time code with it. Tokens live in memory (persist
//   "memory", the default) or the refresh token also in sessionStorage
//   (persist "session": a reload stays signed in, script on the page can
//   read it).
// - Cookie delivery. The broker keeps both tokens in httpOnly cookies; this
//   client sends credentials and the X-AuthBroker-CSRF header.
// - Expiry is relative: a token is renewed shortly before expires_in has
//   elapsed on the local clock, never by comparing exp with a clock that
//   may be wrong; a 401 token_expired triggers one refresh and one retry.
//
// Tabs. The refresh token rotates on every use and the broker treats a
// replayed old token as theft (it revokes the whole session), so tabs of one
// origin must never race each other or present a token another tab has
// already rotated. Every tab of an origin talking to one broker shares:
//   - a Web Lock (navigator.locks) around every token change: one refresh
//     at a time for all tabs;
//   - a BroadcastChannel carrying the new tokens, sign-ins and sign-outs;
//   - a small marker in localStorage, {gen, busy, out}, holding no secret:
//     gen counts token changes, busy says a refresh was sent and its answer
//     not yet taken, out says the last change was a sign-out.
// A lock holder that changed the tokens posts them and, before letting the
// lock go, waits (briefly) for every other signed-in tab to acknowledge
// them: neither the channel nor localStorage, which reaches other processes
// asynchronously, is ordered with lock grants, and the acknowledgements are.
// A tab that gets the lock reads the marker, merged with what it heard on
// the channel. If gen has moved past its own tokens, another tab renewed
// them while it waited: it takes those tokens from the channel (asking for
// them if the message has not arrived) and does not refresh. If busy is still set at its own gen, the tab that
// held the lock died with a refresh in flight (a reload, a crash): its answer
// is lost, so this tab refreshes at once with the same token, which the
// broker answers with the same new token (the reuse grace), instead of
// leaving an old token around to be presented later as theft. Tabs that see
// a refresh start queue on the lock to watch for exactly that.
// Without Web Locks the channel runs a claim protocol instead (best effort;
// the broker's grace absorbs a tie); with neither, one tab is on its own.

/** Header the broker requires on cookie-authenticated POSTs. */
export const CSRF_HEADER = "X-AuthBroker-CSRF";

const VERIFIER_KEY = "authbroker.pkce_verifier";
const REFRESH_KEY = "authbroker.refresh_token";
const LINK_RESUME_KEY = "authbroker.link_resume";
/** Query parameters the broker adds to returnTo. */
const REDIRECT_PARAMS = ["code", "error", "error_description", "link_result", "reconnected"];
/** A provider token is handed out from this tab's cache while it has this long left (ms). */
const PROVIDER_TOKEN_MARGIN = 60000;
/** How long a tab waits for another tab's tokens it knows exist (ms). */
const SYNC_TIMEOUT = 1500;
/** How long a lock holder waits for the other tabs to acknowledge new tokens (ms). */
const SETTLE_TIMEOUT = 500;
/** Without Web Locks: how long claims are collected, and a holder's lease (ms). */
const CLAIM_WINDOW = 40;
const CLAIM_LEASE = 15000;

/**
 * AuthBrokerError is a failure the app can act on. code is the broker's
 * stable error code (access_denied, invalid_grant, already_signed_in, ...)
 * or one of this client's: network_error, login_required, insecure_context,
 * storage_unavailable, cookie_mode, not_in_browser. status is the HTTP
 * status (0 when there was none).
 */
export class AuthBrokerError extends Error {
  constructor(code, description, status) {
    super(description || code);
    this.name = "AuthBrokerError";
    this.code = code;
    this.description = description || "";
    this.status = status || 0;
  }
}

// EventTarget is in every browser and in Node 15+; the fallback keeps an
// import from failing in an unusual server runtime.
const Base =
  typeof EventTarget === "function"
    ? EventTarget
    : class {
        constructor() {
          this._l = {};
        }
        addEventListener(t, fn) {
          (this._l[t] = this._l[t] || []).push(fn);
        }
        removeEventListener(t, fn) {
          this._l[t] = (this._l[t] || []).filter((f) => f !== fn);
        }
        dispatchEvent(e) {
          (this._l[e.type] || []).slice().forEach((f) => f.call(this, e));
          return true;
        }
      };

/** An event with detail (CustomEvent is not global before Node 19). */
function event(type, detail) {
  if (typeof CustomEvent === "function") return new CustomEvent(type, { detail });
  const e = typeof Event === "function" ? new Event(type) : { type };
  Object.defineProperty(e, "detail", { value: detail });
  return e;
}

function base64url(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(crypto, n) {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return base64url(b);
}

/** The S256 code_challenge of verifier (RFC 7636 §4.2). */
async function challengeOf(crypto, verifier) {
  if (!crypto || !crypto.subtle) {
    throw new AuthBrokerError("insecure_context", "PKCE needs crypto.subtle: serve the app over https (or from localhost)");
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The OAuth error code of a JSON error body, or "" when there is none. */
export async function errorCode(res) {
  try {
    const body = await res.clone().json();
    return body && typeof body.error === "string" ? body.error : "";
  } catch (e) {
    return "";
  }
}

/** The claims of a JWT, unverified (only to read sid), or null. */
function claimsOf(jwt) {
  try {
    const p = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(p + "===".slice((p.length + 3) % 4)));
  } catch (e) {
    return null;
  }
}

/**
 * The runtime this client talks to: globalThis by default, each part
 * replaceable through options.platform (tests, unusual runtimes). Every
 * part is read when first used, never at import or construction, so the
 * client can be imported and constructed during server-side rendering.
 */
function resolvePlatform(over) {
  const g = typeof globalThis !== "undefined" ? globalThis : {};
  const pick = (name, get) => (over && name in over ? over[name] : get());
  const safe = (get) => () => {
    try {
      return get();
    } catch (e) {
      return null; // storage access throws in some privacy modes and sandboxes
    }
  };
  const p = {};
  const lazy = {
    fetch: () => (typeof g.fetch === "function" ? g.fetch.bind(g) : null),
    location: () => g.location || null,
    history: () => g.history || null,
    crypto: () => g.crypto || null,
    sessionStorage: safe(() => g.sessionStorage || null),
    localStorage: safe(() => g.localStorage || null),
    locks: () => (g.navigator && g.navigator.locks && typeof g.navigator.locks.request === "function" ? g.navigator.locks : null),
    BroadcastChannel: () => (typeof g.BroadcastChannel === "function" ? g.BroadcastChannel : null),
    now: () => () => Date.now(),
    setTimeout: () => g.setTimeout.bind(g),
    clearTimeout: () => g.clearTimeout.bind(g),
  };
  for (const name of Object.keys(lazy)) {
    let done = false;
    let value;
    Object.defineProperty(p, name, {
      get() {
        if (!done) {
          value = pick(name, lazy[name]);
          done = true;
        }
        return value;
      },
    });
  }
  return p;
}

/**
 * AuthBroker signs the user in through an authbroker server and
 * authenticates API calls. Events (it is an EventTarget):
 *   "change"  the signed-in member changed (signed in, signed out, switched),
 *             in this tab or another; event.detail.member is the member or null.
 *   "refresh" the tokens were renewed, by this tab or another
 *             (event.detail.shared is true when another tab did it).
 *   "error"   a background refresh failed for a reason other than the
 *             session ending; event.detail.error.
 *   "link"    an account link was confirmed; event.detail.identity.
 *   "providerreauth"  providerToken() found the provider's grant gone;
 *             event.detail {provider, subject, reauthUrl}: offer "reconnect".
 *   "reconnect" back from reconnect(); event.detail.provider.
 */
export class AuthBroker extends Base {
  /** @param {import("./authbroker").AuthBrokerOptions} options */
  constructor(options) {
    super();
    const o = options || {};
    if (!o.baseUrl) throw new TypeError("AuthBroker: baseUrl is required");
    this.baseUrl = String(o.baseUrl).replace(/\/+$/, "");
    this._returnTo = o.returnTo || null;
    this.delivery = o.delivery || "code";
    if (this.delivery !== "code" && this.delivery !== "cookie") {
      throw new TypeError('AuthBroker: delivery must be "code" or "cookie"');
    }
    this.persist = o.persist || "memory";
    if (this.persist !== "memory" && this.persist !== "session") {
      throw new TypeError('AuthBroker: persist must be "memory" or "session"');
    }
    this.autoRefresh = o.autoRefresh !== false;
    this.refreshLeeway = typeof o.refreshLeeway === "number" ? o.refreshLeeway : 30;
    this.crossTab = o.crossTab !== false;
    this._apiOrigins = (o.apiOrigins || []).map((a) => new URL(a).origin);
    this._p = resolvePlatform(Object.assign({}, o.platform, o.fetch ? { fetch: o.fetch } : {}));
    if (typeof o.onChange === "function") {
      const fn = o.onChange;
      this.addEventListener("change", (e) => fn(e.detail.member));
    }
    // The name every tab of this origin uses for this broker.
    this._name = "authbroker:" + this.baseUrl;

    this._tokens = null; // code mode: {access, refresh, expiresAt}; memory only
    this._member = null;
    this._gen = 0; // generation of the credentials this tab holds (see the marker)
    this._seenGen = 0; // highest generation heard of on the channel or written here
    this._busyAt = null; // generation at which another tab announced a refresh, until its answer
    this._timer = null;
    this._inflight = null; // this tab's refresh, shared by its callers
    this._pending = null; // handleRedirect/restore in progress
    this._probing = false; // cookie mode: looking for a session we cannot see
    this._channel = null;
    this._waiters = []; // {gen, resolve} waiting for another tab's tokens
    this._watching = false;
    this._claims = null; // fallback lock: claims heard in the current window
    this._holder = null; // fallback lock: another tab's {id, until}
    this._presence = null; // releases the shared "signed in here" lock
    this._presenceHeld = false;
    this._acks = null; // {gen, from, need, done}: other tabs that have the tokens of gen
    this._providerTokens = null; // Map of provider tokens handed out to this tab (providerToken)
    this._id = null;
    this._closed = false;
  }

  /** The signed-in member ({id, email, name, avatar, role, ...}) or null. */
  get member() {
    return this._member;
  }

  /** Whether a member is signed in. */
  get signedIn() {
    return this._member !== null;
  }

  /** Where the broker sends the browser back (default: this page without its query). */
  get returnTo() {
    if (this._returnTo) return this._returnTo;
    const loc = this._p.location;
    return loc ? loc.origin + loc.pathname : "";
  }

  set returnTo(v) {
    this._returnTo = v;
  }

  /**
   * Sends the browser to sign in: straight to provider ("google",
   * "github", ...) or, without one, to the broker's login page. The
   * promise settles only if navigation fails to start.
   * @param {string} [provider]
   * @param {{force?: boolean}} [opts] force: end the member's other sessions
   *        (SESSION_POLICY=single_confirm after already_signed_in)
   */
  async login(provider, opts) {
    const loc = this._browser("login");
    const q = new URLSearchParams({ return_to: this.returnTo });
    if (this.delivery === "code") {
      // The one-time code can only be redeemed with this verifier, which
      // never leaves this tab: a code stolen from the URL is useless.
      const verifier = randomString(this._p.crypto, 32);
      const store = this._p.sessionStorage;
      if (!store) throw new AuthBrokerError("storage_unavailable", "sessionStorage is needed to sign in");
      store.setItem(VERIFIER_KEY, verifier);
      q.set("code_challenge", await challengeOf(this._p.crypto, verifier));
      q.set("code_challenge_method", "S256");
    }
    if (opts && opts.force) q.set("force", "true");
    const path = provider ? "/auth/" + encodeURIComponent(provider) : "/";
    loc.assign(this.baseUrl + path + "?" + q.toString());
  }

  /**
   * Call once on every page load. Finishes a login that has just come back
   * (redeems ?code, or throws the ?error the broker or provider sent),
   * confirms an account link (?link_result), and removes those parameters
   * from the address bar; otherwise restores the session (see restore()).
   * @returns {Promise<object|null>} the member, or null when signed out
   */
  handleRedirect() {
    return this._run(() => this._handleRedirect());
  }

  async _handleRedirect() {
    const loc = this._browser("handleRedirect");
    const url = new URL(loc.href);
    const params = url.searchParams;
    const code = params.get("code");
    const error = params.get("error");
    const description = params.get("error_description");
    const linkResult = params.get("link_result");
    const reconnected = params.get("reconnected");
    if (code !== null || error !== null || linkResult !== null || reconnected !== null) {
      REDIRECT_PARAMS.forEach((p) => params.delete(p));
      const search = params.toString();
      const h = this._p.history;
      if (h) h.replaceState(h.state, "", url.pathname + (search ? "?" + search : "") + url.hash);
    }
    const store = this._p.sessionStorage;
    if (error !== null) {
      if (store) store.removeItem(VERIFIER_KEY);
      await this._restore().catch(() => {});
      throw new AuthBrokerError(error, description || "sign-in failed", 0);
    }
    if (code !== null && this.delivery === "code") {
      const verifier = store && store.getItem(VERIFIER_KEY);
      if (store) store.removeItem(VERIFIER_KEY);
      if (!verifier) {
        throw new AuthBrokerError("invalid_request", "no sign-in was started in this tab; start again", 0);
      }
      const tokens = await this._token({ grant_type: "authorization_code", code: code, code_verifier: verifier });
      await this._commit(tokens);
      return this._member;
    }
    await this._restore();
    if (linkResult !== null) {
      if (!this.signedIn) throw new AuthBrokerError("login_required", "sign in again to finish linking the account", 0);
      const res = await this._api("POST", "/auth/link/complete", { link_result: linkResult }, true);
      this.dispatchEvent(event("link", { identity: res.identity }));
    }
    if (reconnected !== null) this.dispatchEvent(event("reconnect", { provider: reconnected }));
    return this._member;
  }

  /**
   * Restores the session without a login redirect: from another tab of
   * this origin, the persisted refresh token (persist "session"), or the
   * broker's cookies (cookie mode). Resolves to the member or null.
   */
  restore() {
    return this._run(() => this._restore());
  }

  /** Runs a restore-like step once at a time; fetch() waits for it. */
  _run(fn) {
    const p = fn();
    const mine = p.then(
      () => {},
      () => {}
    );
    this._pending = mine;
    mine.then(() => {
      if (this._pending === mine) this._pending = null;
    });
    return p;
  }

  async _restore() {
    this._attach();
    if (this.delivery === "cookie") {
      if (this._member) return this._member;
      await this._syncFromTabs();
      if (this._member) return this._member;
      // The cookies are invisible to script: ask the broker who we are.
      // A 401 makes fetch() try the refresh cookie once.
      this._probing = true;
      try {
        const res = await this._authFetch(this.baseUrl + "/auth/me", { headers: { Accept: "application/json" } });
        if (res.ok) {
          this._gen = Math.max(this._gen, this._marker().gen);
          this._setMember(await res.json());
          this._present();
        }
      } finally {
        this._probing = false;
      }
      return this._member;
    }
    if (this._tokens) return this._member;
    // The refresh token this tab kept (persist "session", or for the trip
    // through a link flow), taken now so that a copy kept for the trip is
    // gone whichever way the session comes back.
    const saved = this._takeSaved();
    await this._syncFromTabs();
    if (!this._tokens) {
      // No other tab has the session: the kept token, if it is current.
      const m = this._marker();
      if (saved && (saved.gen === null || saved.gen >= m.gen || (saved.gen === m.gen - 1 && !m.out))) {
        // The current token, or the one just before it (whose answer was
        // lost): the broker answers the latter with the current pair.
        // Anything older has been rotated by a tab that is gone, and
        // presenting it would look like theft: drop it instead.
        this._gen = saved.gen === null ? m.gen : saved.gen;
        this._tokens = { access: null, refresh: saved.refresh, expiresAt: 0 };
        try {
          await this.refresh();
        } catch (e) {
          // An ended session has been cleared by refresh(): signed out.
          if (e.status === 400 || e.status === 401) return null;
          throw e;
        }
      } else if (saved) {
        this._dropSaved();
      }
    }
    if (this._tokens) {
      // A tab that died mid-refresh may have left the answer unread.
      const m = this._marker();
      if (m.busy && m.gen === this._gen) this._watch();
    }
    return this._member;
  }

  /**
   * Renews the tokens now, one refresh for every tab of this origin (see
   * "Tabs" above). When the broker says the session is over (invalid_grant),
   * every tab signs out and emits "change".
   * @returns {Promise<object|null>} the member
   */
  refresh() {
    if (!this._inflight) {
      const from = this._gen;
      this._inflight = this._withLock(() => this._refreshLocked(from)).finally(() => {
        this._inflight = null;
      });
    }
    return this._inflight;
  }

  /** The refresh, lock held. from is the generation the caller saw. */
  async _refreshLocked(from) {
    let m = this._marker();
    if (m.out && m.gen > this._gen) {
      this._clear();
      throw new AuthBrokerError("login_required", "signed out in another tab", 401);
    }
    if (m.gen > this._gen && this.delivery === "cookie") {
      // The cookies are shared: another tab's renewal is already ours.
      this._gen = m.gen;
      if (!m.busy) return this._member;
    } else if (m.gen > this._gen) {
      // Another tab renewed the tokens while this one waited: take them.
      await this._awaitGen(m.gen).catch(() => {});
      if (this._gen < m.gen - 1) {
        // Still behind by more than one: the tab that renewed them is gone
        // before passing them on, and presenting this older token would
        // revoke the session as theft. Sign this tab out instead.
        this._clear();
        throw new AuthBrokerError("login_required", "the session was renewed by a tab that has closed", 401);
      }
      // One behind: the broker answers the previous token with the current pair.
      if (this._gen > m.gen || (this._gen === m.gen && !m.busy)) return this._member;
    } else if (from !== this._gen && !(m.busy && m.gen === this._gen)) {
      // Renewed (by this tab or another) since the caller asked. A busy mark
      // at an older generation is stale: localStorage reaches other
      // processes asynchronously, and these tokens came from a finished refresh.
      return this._member;
    }
    const body = { grant_type: "refresh_token" };
    if (this.delivery === "code") {
      if (!this._tokens || !this._tokens.refresh) throw new AuthBrokerError("login_required", "not signed in", 0);
      body.refresh_token = this._tokens.refresh;
    }
    this._writeMarker({ gen: Math.max(m.gen, this._gen), busy: true, out: false });
    this._post({ type: "refreshing", gen: this._gen });
    let tokens;
    try {
      tokens = await this._token(body);
    } catch (e) {
      // 400/401: the session has ended (logged out elsewhere, revoked,
      // expired, account disabled): every tab signs out. Anything else
      // (network, 429, 503) may pass; busy stays set because the request
      // may have been answered and the answer lost.
      if (e.status === 400 || e.status === 401) this._signOutEverywhere();
      throw e;
    }
    m = this._marker();
    this._accept(tokens, Math.max(m.gen, this._gen) + 1);
    await this._settle(this._gen);
    this.dispatchEvent(event("refresh", { member: this._member, shared: false }));
    return this._member;
  }

  /**
   * The access token, renewed first when it expires within refreshLeeway
   * seconds (one refresh for every caller and every tab). For clients that
   * set the header themselves: axios, GraphQL, WebSocket connection params.
   * Resolves to null when signed out. Cookie delivery has no token script
   * can read: it rejects with code "cookie_mode" (use fetch() or send
   * credentials with the X-AuthBroker-CSRF header).
   * @param {{minValidity?: number}} [opts] seconds the token must still be valid
   * @returns {Promise<string|null>}
   */
  async getAccessToken(opts) {
    if (this.delivery === "cookie") {
      throw new AuthBrokerError("cookie_mode", "cookie delivery keeps the access token in an httpOnly cookie", 0);
    }
    if (this._pending) await this._pending;
    if (!this._tokens) return null;
    const min = opts && typeof opts.minValidity === "number" ? opts.minValidity : this.refreshLeeway;
    if (this._tokens.access && this._tokens.expiresAt - this._p.now() > min * 1000) return this._tokens.access;
    await this.refresh();
    return this._tokens ? this._tokens.access : null;
  }

  /**
   * Whether url may receive the user's credentials: the broker, this
   * page's origin and options.apiOrigins.
   * @param {string|URL} url
   */
  allows(url) {
    const loc = this._p.location;
    const origin = new URL(String(url), loc ? loc.href : this.baseUrl).origin;
    return origin === new URL(this.baseUrl).origin || (loc && origin === loc.origin) || this._apiOrigins.includes(origin);
  }

  /**
   * After a request failed with 401: renews the tokens unless they have
   * changed since gen (the generation the request was sent with), so N
   * requests failing together cause one refresh. Resolves to whether the
   * request should be retried.
   * @param {number} gen
   */
  async renewAfter(gen) {
    if (!this._canRefresh()) return false;
    if (this._gen !== gen) return true; // renewed by a concurrent caller or tab
    try {
      await this.refresh();
    } catch (e) {
      return false;
    }
    return this._canRefresh();
  }

  /** The generation of the current credentials (pass it to renewAfter). */
  get generation() {
    return this._gen;
  }

  /**
   * fetch() with the user's credentials: the Bearer access token (code
   * mode) or the cookies and the CSRF header (cookie mode). On 401
   * token_expired, or invalid_token while a refresh is possible, it
   * refreshes (once for any number of concurrent failures, across tabs)
   * and retries the request once. Credentials are only sent to allows()
   * origins; other URLs are refused with a TypeError.
   * @param {RequestInfo|URL} input
   * @param {RequestInit} [init]
   * @returns {Promise<Response>}
   */
  async fetch(input, init) {
    const request = typeof Request === "function" && input instanceof Request ? input : null;
    if (!this.allows(request ? request.url : input)) {
      throw new TypeError("AuthBroker.fetch: will not send credentials to " + String(request ? request.url : input) + "; add its origin to apiOrigins");
    }
    if (this._pending) await this._pending;
    return this._authFetch(input, init);
  }

  /** fetch() without waiting for handleRedirect (which uses it). */
  async _authFetch(input, init) {
    const request = typeof Request === "function" && input instanceof Request ? input : null;
    const gen = this._gen;
    if (this.delivery === "code" && this._tokens && this.autoRefresh && this._tokens.expiresAt <= this._p.now()) {
      // Known to be expired (a sleeping laptop, a throttled background tab).
      await this.refresh().catch(() => {});
    }
    const res = await this._send(request, input, init || {});
    if (res.status !== 401 || !this._canRefresh()) return res;
    const code = await errorCode(res);
    if (code !== "token_expired" && code !== "invalid_token") return res;
    if (!(await this.renewAfter(gen))) return res;
    return this._send(request, input, init || {});
  }

  /** One attempt: input with init, credentials added. */
  _send(request, input, init) {
    const headers = new Headers(request ? request.headers : undefined);
    new Headers(init.headers).forEach((value, name) => headers.set(name, value));
    const opts = Object.assign({}, init, { headers: headers });
    if (this.delivery === "code") {
      if (this._tokens && this._tokens.access) headers.set("Authorization", "Bearer " + this._tokens.access);
    } else {
      headers.set(CSRF_HEADER, "1");
      opts.credentials = "include";
    }
    // A Request's body can be read once: send a copy so a retry has one too.
    return this._fetchImpl()(request ? request.clone() : input, opts);
  }

  _canRefresh() {
    if (this.delivery === "code") return !!(this._tokens && this._tokens.refresh);
    return this._member !== null || this._probing;
  }

  /**
   * Signs out: the broker ends this session ("local", the default), every
   * other session of the member ("others"), or all of them ("global"). Every
   * tab of this origin signs out with this one (they share the session),
   * except for "others". Local state is cleared even when the broker cannot
   * be reached.
   * @param {"local"|"others"|"global"} [scope]
   */
  async logout(scope) {
    scope = scope || "local";
    if (this._pending) await this._pending;
    let failure = null;
    try {
      if (this._tokens || this.delivery === "cookie") {
        const res = await this._authFetch(this.baseUrl + "/auth/logout", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ scope: scope }),
        });
        // 401: the session had already ended, which is what we wanted.
        if (!res.ok && res.status !== 401) failure = await this._failure(res, "logout failed");
      }
    } catch (e) {
      failure = e instanceof AuthBrokerError ? e : new AuthBrokerError("network_error", String((e && e.message) || e), 0);
    } finally {
      if (scope !== "others") this._signOutEverywhere();
    }
    if (failure) throw failure;
  }

  /**
   * GET /auth/me: the member with its linked identities.
   * @returns {Promise<object>}
   */
  me() {
    return this._api("GET", "/auth/me");
  }

  /**
   * GET /auth/sessions: the member's sessions (devices), newest first; the
   * one this browser uses has current: true.
   * @returns {Promise<object[]>}
   */
  async sessions() {
    const body = await this._api("GET", "/auth/sessions");
    return body.sessions || [];
  }

  /**
   * DELETE /auth/sessions/{id}: ends one of the member's sessions. Ending
   * the current one signs out every tab, as logout() does.
   * @param {string} id
   */
  async revokeSession(id) {
    const current = this.sessionId;
    await this._api("DELETE", "/auth/sessions/" + encodeURIComponent(id));
    if (current !== null && id === current) this._signOutEverywhere();
  }

  /** The current session's id (the access token's sid), or null (cookie mode: null). */
  get sessionId() {
    const c = this._tokens && this._tokens.access ? claimsOf(this._tokens.access) : null;
    return c && typeof c.sid === "string" ? c.sid : null;
  }

  /**
   * Links another provider account to the signed-in member: asks the
   * broker for a one-time URL and sends the browser there. The broker comes
   * back to returnTo with ?link_result, which handleRedirect() confirms
   * (POST /auth/link/complete) and announces with a "link" event. In code
   * mode with persist "memory" the refresh token is kept in sessionStorage
   * for the round trip (and removed on return) unless another tab keeps the
   * session.
   * @param {string} provider
   * @param {{returnTo?: string}} [opts]
   */
  async link(provider, opts) {
    const loc = this._browser("link");
    const returnTo = (opts && opts.returnTo) || this.returnTo;
    const body = await this._api("POST", "/auth/link/" + encodeURIComponent(provider), { return_to: returnTo });
    this._keepForTrip();
    loc.assign(body.url);
  }

  /**
   * Code mode with persist "memory": keeps the refresh token in
   * sessionStorage for a round trip through the broker (removed on return)
   * so the session survives the page going away.
   */
  _keepForTrip() {
    if (this.delivery === "code" && this.persist === "memory" && this._tokens) {
      const store = this._p.sessionStorage;
      if (store) store.setItem(LINK_RESUME_KEY, JSON.stringify({ refresh: this._tokens.refresh, gen: this._gen }));
    }
  }

  /**
   * DELETE /auth/identities/{provider}/{subject}: unlinks one identity
   * (the broker refuses to remove the last one: status 409).
   * @param {string} provider
   * @param {string} subject
   */
  async unlink(provider, subject) {
    await this._api("DELETE", "/auth/identities/" + encodeURIComponent(provider) + "/" + encodeURIComponent(subject));
  }

  /**
   * GET /auth/identities/{provider}/token: the provider's own access token
   * for the member's identity there, to call the provider's API (Google
   * Calendar, GitHub, Kakao Talk, ...) on the member's behalf. The broker
   * keeps it when the provider is configured with STORE_TOKENS and renews
   * it before it expires; this tab reuses it while it has more than a
   * minute left.
   *
   * When the provider says the grant is gone (the member removed the app
   * there, or an admin revoked it) the broker answers 409
   * provider_reauth_required: a "providerreauth" event is dispatched with
   * {provider, subject, reauthUrl} and the promise rejects with an
   * AuthBrokerError of that code carrying reauthUrl. reconnect() sends the
   * browser there; it comes back with a "reconnect" event. A scope the
   * grant lacks rejects with insufficient_scope (error.scope names it).
   * @param {string} provider
   * @param {{scope?: string|string[], subject?: string, returnTo?: string}} [opts]
   */
  async providerToken(provider, opts) {
    const o = opts || {};
    const scope = Array.isArray(o.scope) ? o.scope.join(" ") : o.scope || "";
    const q = new URLSearchParams();
    if (scope) q.set("scope", scope);
    if (o.subject) q.set("subject", o.subject);
    const returnTo = o.returnTo || this.returnTo;
    if (returnTo) q.set("return_to", returnTo);
    const key = [this._member && this._member.id, provider, o.subject || "", scope].join("\n");
    const cache = this._providerTokens || (this._providerTokens = new Map());
    const held = cache.get(key);
    if (held && (held.expiresAt === null || held.expiresAt.getTime() - this._p.now() > PROVIDER_TOKEN_MARGIN)) return held;
    let body;
    try {
      body = await this._api("GET", "/auth/identities/" + encodeURIComponent(provider) + "/token?" + q.toString());
    } catch (e) {
      cache.delete(key);
      if (e instanceof AuthBrokerError && e.code === "provider_reauth_required") {
        this.dispatchEvent(event("providerreauth", { provider: provider, subject: o.subject || null, reauthUrl: e.reauthUrl }));
      }
      throw e;
    }
    const token = {
      accessToken: body.access_token,
      tokenType: body.token_type || "Bearer",
      expiresAt: typeof body.expires_at === "number" ? new Date(body.expires_at * 1000) : null,
      scope: body.scope ? body.scope.split(" ") : [],
    };
    cache.set(key, token);
    return token;
  }

  /**
   * Sends the browser to sign in at the provider again for a grant that is
   * gone: target is the reauthUrl of a provider_reauth_required error or
   * of a "providerreauth" event (or the error or event detail itself). The
   * broker renews the grant only (the session is untouched) and comes back
   * to the app with ?reconnected={provider}, which handleRedirect()
   * announces with a "reconnect" event.
   * @param {string|{reauthUrl?: string}} target
   */
  reconnect(target) {
    const loc = this._browser("reconnect");
    const u = typeof target === "string" ? target : target && target.reauthUrl;
    if (!u || new URL(u, this.baseUrl).origin !== new URL(this.baseUrl).origin) {
      throw new TypeError("AuthBroker.reconnect: needs the broker's reauth URL");
    }
    this._keepForTrip();
    loc.assign(new URL(u, this.baseUrl).toString());
  }

  /**
   * Stops timers and leaves the other tabs (closes the channel, releases
   * the locks). The instance can still be read but no longer follows them.
   */
  close() {
    this._closed = true;
    if (this._timer !== null) this._p.clearTimeout(this._timer);
    this._timer = null;
    if (this._channel) this._channel.close();
    this._channel = null;
    if (this._presence) this._presence();
    this._presence = null;
  }

  // --- the broker's API ---------------------------------------------------

  _fetchImpl() {
    const f = this._p.fetch;
    if (!f) throw new AuthBrokerError("not_in_browser", "no fetch available: pass options.fetch", 0);
    return f;
  }

  async _failure(res, what) {
    const body = await res.json().catch(() => ({}));
    const e = new AuthBrokerError(body.error || "server_error", body.error_description || what || "HTTP " + res.status, res.status);
    // provider_reauth_required and insufficient_scope say what to do next.
    if (typeof body.reauth_url === "string") e.reauthUrl = body.reauth_url;
    if (typeof body.scope === "string") e.scope = body.scope;
    return e;
  }

  /** A call to the broker's JSON API with the user's credentials. */
  async _api(method, path, body, internal) {
    if (this._pending && !internal) await this._pending;
    const init = { method: method, headers: { Accept: "application/json" }, cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await this._authFetch(this.baseUrl + path, init);
    } catch (e) {
      // fetch rejects with a TypeError when the network fails.
      if (e instanceof TypeError) throw new AuthBrokerError("network_error", "the broker could not be reached", 0);
      throw e;
    }
    if (!res.ok) throw await this._failure(res);
    if (res.status === 204) return {};
    return res.json().catch(() => ({}));
  }

  /** POST /auth/token with a JSON body. */
  async _token(body) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    const opts = { method: "POST", headers: headers, body: JSON.stringify(body), cache: "no-store", credentials: "omit" };
    if (this.delivery === "cookie") {
      headers[CSRF_HEADER] = "1";
      opts.credentials = "include";
    }
    let res;
    try {
      res = await this._fetchImpl()(this.baseUrl + "/auth/token", opts);
    } catch (e) {
      throw new AuthBrokerError("network_error", "the broker could not be reached", 0);
    }
    if (!res.ok) throw await this._failure(res, "HTTP " + res.status);
    return res.json().catch(() => ({}));
  }

  // --- credentials in this tab --------------------------------------------

  /** Takes a new token pair under the lock (a sign-in): a new generation. */
  _commit(tokens) {
    this._attach();
    return this._withLock(async () => {
      this._accept(tokens, Math.max(this._marker().gen, this._gen) + 1);
      await this._settle(this._gen);
      return this._member;
    });
  }

  /** Takes a token response as generation gen and tells the other tabs. */
  _accept(tokens, gen) {
    this._gen = gen;
    this._seenGen = Math.max(this._seenGen, gen);
    if (this.delivery === "code") {
      this._tokens = {
        access: tokens.access_token,
        refresh: tokens.refresh_token,
        expiresAt: this._p.now() + (tokens.expires_in > 0 ? tokens.expires_in * 1000 : 0),
      };
    }
    this._writeMarker({ gen: gen, busy: false, out: false });
    this._acks = { gen: gen, from: new Set(), need: 0, done: null };
    this._save();
    this._schedule(tokens.expires_in > 0 ? tokens.expires_in * 1000 : 0);
    this._setMember(tokens.member || null);
    this._present();
    this._post(this._state());
    this._wake();
  }

  /** What another tab needs to take over this tab's credentials. */
  _state() {
    return { type: "state", gen: this._gen, tokens: this._tokens, member: this._member };
  }

  /** Takes credentials another tab announced, if newer than ours. */
  _adopt(msg) {
    this._seenGen = Math.max(this._seenGen, msg.gen);
    if (msg.gen <= this._gen) return;
    if (this.delivery === "code" && !(msg.tokens && msg.tokens.refresh)) return;
    this._gen = msg.gen;
    this._tokens = this.delivery === "code" ? msg.tokens : null;
    this._save();
    const left = this._tokens ? this._tokens.expiresAt - this._p.now() : 0;
    this._schedule(left > 0 ? left : 0);
    const had = this._member;
    this._setMember(msg.member || null);
    this._present();
    if (had) this.dispatchEvent(event("refresh", { member: this._member, shared: true }));
    this._wake();
  }

  /** Plans a refresh shortly before a token living ms milliseconds expires. */
  _schedule(ms) {
    if (this._timer !== null) this._p.clearTimeout(this._timer);
    this._timer = null;
    if (!this.autoRefresh || !(ms > 0) || this._closed) return;
    const lead = Math.min(this.refreshLeeway * 1000, ms / 2);
    // Capped: setTimeout fires at once past 2^31-1 ms (about 24.8 days).
    this._timer = this._p.setTimeout(() => {
      this._timer = null;
      this.refresh().catch((e) => {
        if (this._member) this.dispatchEvent(event("error", { error: e }));
      });
    }, Math.min(ms - lead, 2147483647));
  }

  _setMember(member) {
    const before = this._member;
    // A refresh answers with what the session carries (no avatar): keep
    // what we knew of the same member instead of dropping it.
    if (before && member && before.id === member.id) {
      const merged = Object.assign({}, before);
      for (const k of Object.keys(member)) if (member[k] !== undefined) merged[k] = member[k];
      member = merged;
    }
    this._member = member;
    if ((before && before.id) !== (member && member.id)) {
      // Another member's provider tokens are not this one's.
      if (this._providerTokens) this._providerTokens.clear();
      this.dispatchEvent(event("change", { member: member }));
    }
  }

  /** Forgets every credential in this tab. */
  _clear() {
    if (this._timer !== null) this._p.clearTimeout(this._timer);
    this._timer = null;
    this._tokens = null;
    this._dropSaved();
    if (this._presence) this._presence();
    this._presence = null;
    this._setMember(null);
    this._wake();
  }

  /** Signs this tab out and tells the others (they share the session). */
  _signOutEverywhere() {
    const gen = Math.max(this._marker().gen, this._gen) + 1;
    this._gen = gen;
    this._writeMarker({ gen: gen, busy: false, out: true });
    this._post({ type: "signed-out", gen: gen });
    this._clear();
  }

  /** persist "session": the refresh token, with its generation. */
  _save() {
    if (this.delivery !== "code" || this.persist !== "session") return;
    const store = this._p.sessionStorage;
    if (store && this._tokens) store.setItem(REFRESH_KEY, JSON.stringify({ refresh: this._tokens.refresh, gen: this._gen }));
  }

  /** The refresh token kept in sessionStorage, if any: {refresh, gen}. */
  _takeSaved() {
    const store = this._p.sessionStorage;
    if (!store || this.delivery !== "code") return null;
    const link = store.getItem(LINK_RESUME_KEY);
    store.removeItem(LINK_RESUME_KEY);
    const raw = link || (this.persist === "session" ? store.getItem(REFRESH_KEY) : null);
    if (!raw) return null;
    try {
      const v = JSON.parse(raw);
      if (v && typeof v.refresh === "string") return { refresh: v.refresh, gen: typeof v.gen === "number" ? v.gen : null };
    } catch (e) {
      // A bare token from an older version of this client.
    }
    return { refresh: raw, gen: null };
  }

  _dropSaved() {
    const store = this._p.sessionStorage;
    if (store) {
      store.removeItem(REFRESH_KEY);
      store.removeItem(LINK_RESUME_KEY);
    }
  }

  /** Throws unless running in a browser; returns location. */
  _browser(what) {
    const loc = this._p.location;
    if (!loc) throw new AuthBrokerError("not_in_browser", "AuthBroker." + what + " needs a browser (window.location)", 0);
    return loc;
  }

  // --- other tabs ---------------------------------------------------------

  /** Joins the other tabs (once): the channel. Never during construction. */
  _attach() {
    if (this._channel || !this.crossTab || this._closed) return;
    const BC = this._p.BroadcastChannel;
    if (!BC) return;
    // Only tells this tab's messages from others' (Node 18 has no global crypto).
    this._id = this._p.crypto ? randomString(this._p.crypto, 9) : Math.random().toString(36).slice(2);
    this._channel = new BC(this._name);
    // Node's BroadcastChannel keeps a process alive; a browser's has no unref.
    if (typeof this._channel.unref === "function") this._channel.unref();
    this._channel.onmessage = (e) => this._receive(e.data);
  }

  _post(msg) {
    if (!this._channel) return;
    msg.from = this._id;
    try {
      this._channel.postMessage(msg);
    } catch (e) {
      // Closed channel: the tab is going away.
    }
  }

  _receive(msg) {
    if (!msg || msg.from === this._id || this._closed) return;
    switch (msg.type) {
      case "sync?":
        if (this._member || this._tokens) this._post(this._state());
        break;
      case "state":
        this._adopt(msg);
        if (this._busyAt !== null && msg.gen > this._busyAt) this._busyAt = null;
        this._post({ type: "ack", gen: msg.gen });
        break;
      case "ack":
        if (this._acks && this._acks.gen === msg.gen) {
          this._acks.from.add(msg.from);
          if (this._acks.done && this._acks.from.size >= this._acks.need) this._acks.done();
        }
        break;
      case "signed-out":
        this._busyAt = null;
        this._seenGen = Math.max(this._seenGen, msg.gen);
        if (msg.gen > this._gen) {
          this._gen = msg.gen;
          this._clear();
        }
        break;
      case "refreshing":
        // Another tab sent a refresh with the tokens of gen: until its
        // answer comes, a lock holder must assume it may be lost.
        this._seenGen = Math.max(this._seenGen, msg.gen);
        this._busyAt = msg.gen;
        if (this._canRefresh()) this._watch();
        break;
      case "claim":
        if (this._claims) this._claims.push(msg);
        break;
      case "lock":
        this._holder = { id: msg.from, until: this._p.now() + CLAIM_LEASE };
        break;
      case "unlock":
        if (this._holder && this._holder.id === msg.from) this._holder = null;
        this._wake();
        break;
    }
  }

  /**
   * Another tab has started a refresh: queue on the lock, and when it is
   * ours, refresh at once if that tab died with its answer unread.
   */
  _watch() {
    const locks = this._p.locks;
    if (!locks || this._watching || !this.crossTab) return;
    this._watching = true;
    const from = this._gen;
    locks
      .request(this._name, () => {
        const m = this._marker();
        if (m.busy && m.gen === this._gen && this._canRefresh() && !this._inflight) {
          return this._refreshLocked(from).catch((e) => {
            if (this._member) this.dispatchEvent(event("error", { error: e }));
          });
        }
      })
      .catch(() => {})
      .finally(() => {
        this._watching = false;
      });
  }

  /**
   * Holding the lock after a token change: waits, briefly, until every
   * other signed-in tab has acknowledged the new tokens, so that none of
   * them gets the lock still holding the old ones. Neither the marker
   * (localStorage reaches other processes asynchronously) nor the channel
   * is ordered with lock grants; the acknowledgements are.
   */
  async _settle(gen) {
    const locks = this._p.locks;
    if (!this._channel || !locks || typeof locks.query !== "function" || !this._acks || this._acks.gen !== gen) return;
    let others = 0;
    try {
      const q = await locks.query();
      others = (q.held || []).filter((l) => l.name === this._name + ":present").length - (this._presenceHeld ? 1 : 0);
    } catch (e) {
      return;
    }
    const acks = this._acks;
    if (others <= 0 || acks.from.size >= others) return;
    await new Promise((resolve) => {
      const t = this._p.setTimeout(done, SETTLE_TIMEOUT);
      const self = this;
      function done() {
        self._p.clearTimeout(t);
        acks.done = null;
        resolve();
      }
      acks.need = others;
      acks.done = done;
    });
  }

  /** Asks the other tabs for their credentials, if any tab may have them. */
  async _syncFromTabs() {
    if (!this._channel) return;
    if (!(await this._othersPresent())) return;
    this._post({ type: "sync?" });
    await this._awaitGen(this._gen + 1, SYNC_TIMEOUT).catch(() => {});
  }

  /**
   * Whether another tab may be signed in: with Web Locks, whether any tab
   * holds the shared presence lock; without, whether the marker says so.
   */
  async _othersPresent() {
    const locks = this._p.locks;
    if (locks && typeof locks.query === "function") {
      try {
        const q = await locks.query();
        return (q.held || []).some((l) => l.name === this._name + ":present");
      } catch (e) {
        // fall through
      }
    }
    const m = this._marker();
    return m.gen > 0 && !m.out;
  }

  /** Holds the shared presence lock while this tab is signed in. */
  _present() {
    const locks = this._p.locks;
    if (!locks || this._presence || !this._channel) return;
    let release;
    const held = new Promise((r) => (release = r));
    this._presence = () => {
      this._presenceHeld = false;
      release();
    };
    locks
      .request(this._name + ":present", { mode: "shared" }, () => {
        this._presenceHeld = true;
        return held;
      })
      .catch(() => {});
  }

  /** Resolves when this tab holds credentials of generation gen or later. */
  _awaitGen(gen, timeout) {
    if (this._gen >= gen) return Promise.resolve();
    this._post({ type: "sync?" });
    return new Promise((resolve, reject) => {
      const w = { gen: gen, resolve: resolve };
      this._waiters.push(w);
      this._p.setTimeout(() => {
        const i = this._waiters.indexOf(w);
        if (i >= 0) {
          this._waiters.splice(i, 1);
          reject(new AuthBrokerError("timeout", "no tab answered", 0));
        }
      }, timeout || SYNC_TIMEOUT);
    });
  }

  /** Wakes waiters whose generation has come (or that a sign-out ended). */
  _wake() {
    const ready = this._waiters.filter((w) => this._gen >= w.gen);
    this._waiters = this._waiters.filter((w) => ready.indexOf(w) < 0);
    ready.forEach((w) => w.resolve());
    if (this._claimWake) this._claimWake();
  }

  /**
   * The shared marker {gen, busy, out} (no secrets): localStorage's, merged
   * with what this tab heard on the channel, since storage written in
   * another tab may reach this one late (or, without localStorage, never).
   */
  _marker() {
    let m = { gen: 0, busy: false, out: false };
    const store = this.crossTab ? this._p.localStorage : null;
    if (store) {
      try {
        const v = JSON.parse(store.getItem(this._name) || "null");
        if (v && typeof v.gen === "number") m = { gen: v.gen, busy: !!v.busy, out: !!v.out };
      } catch (e) {
        // unreadable: start over
      }
    }
    if (this._seenGen > m.gen) m = { gen: this._seenGen, busy: false, out: false };
    if (this._busyAt === m.gen) m.busy = true;
    return m;
  }

  _writeMarker(m) {
    this._seenGen = Math.max(this._seenGen, m.gen);
    const store = this.crossTab ? this._p.localStorage : null;
    if (!store) return;
    try {
      store.setItem(this._name, JSON.stringify(m));
    } catch (e) {
      // quota or privacy mode: the channel still carries the tokens
    }
  }

  /**
   * Runs fn while no other tab of this origin runs one for this broker:
   * a Web Lock; without Web Locks, the channel's claim protocol; alone,
   * this tab's own queue.
   */
  _withLock(fn) {
    this._attach();
    const locks = this.crossTab ? this._p.locks : null;
    if (locks) return locks.request(this._name, fn);
    if (this._channel) return this._claimLock(fn);
    const run = (this._queue || Promise.resolve()).then(fn, fn);
    this._queue = run.catch(() => {});
    return run;
  }

  /**
   * The lock over the channel, for browsers without Web Locks: wait while
   * another tab holds it, claim, listen CLAIM_WINDOW ms for competing
   * claims (the earliest wins, ties by id), then hold it with a lease.
   * Best effort: a message delayed past the window can let two tabs in,
   * and the broker's reuse grace answers both with the same tokens.
   */
  async _claimLock(fn) {
    const prev = this._queue || Promise.resolve();
    let done;
    this._queue = new Promise((r) => (done = r));
    await prev;
    try {
      for (;;) {
        while (this._holder && this._holder.until > this._p.now()) await this._nap(this._holder.until - this._p.now());
        this._holder = null;
        const mine = { at: this._p.now(), from: this._id };
        this._claims = [];
        this._post({ type: "claim", at: mine.at });
        await this._nap(CLAIM_WINDOW);
        const rivals = this._claims.filter((c) => c.at < mine.at || (c.at === mine.at && c.from < mine.from));
        this._claims = null;
        if (rivals.length === 0 && !this._holder) break;
        // An earlier claim: let it take the lock (its "lock" message
        // extends the wait to the lease), then claim again.
        if (!this._holder) this._holder = { id: rivals[0].from, until: this._p.now() + 3 * CLAIM_WINDOW };
      }
      this._post({ type: "lock" });
      try {
        return await fn();
      } finally {
        this._post({ type: "unlock" });
      }
    } finally {
      done();
    }
  }

  /** Waits ms, or less when a lock holder lets go. */
  _nap(ms) {
    return new Promise((resolve) => {
      const t = this._p.setTimeout(finish, Math.max(0, ms));
      const self = this;
      function finish() {
        self._p.clearTimeout(t);
        if (self._claimWake === finish) self._claimWake = null;
        resolve();
      }
      this._claimWake = finish;
    });
  }
}

AuthBroker.Error = AuthBrokerError;
AuthBroker.CSRF_HEADER = CSRF_HEADER;
AuthBroker.attachAxios = attachAxios;

/**
 * Adds the user's credentials to an axios instance's requests (to allows()
 * origins only) and retries a request once after 401 token_expired (or
 * invalid_token while a refresh is possible). However many requests fail
 * together, one refresh serves them all. Returns a function that removes
 * the interceptors. axios is not a dependency: pass your instance.
 * @param {AuthBroker} auth
 * @param {object} axios an axios instance (or the default export)
 * @returns {() => void}
 */
export function attachAxios(auth, axios) {
  const setHeader = (config, name, value) => {
    if (!config.headers) config.headers = {};
    if (typeof config.headers.set === "function") config.headers.set(name, value);
    else config.headers[name] = value;
  };
  const target = (config) => (typeof axios.getUri === "function" ? axios.getUri(config) : (config.baseURL || "") + (config.url || ""));
  const req = axios.interceptors.request.use(async (config) => {
    if (!auth.allows(target(config))) return config;
    if (auth.delivery === "cookie") {
      config.withCredentials = true;
      setHeader(config, CSRF_HEADER, "1");
      config.authbrokerGen = auth.generation;
      return config;
    }
    const token = await auth.getAccessToken();
    config.authbrokerGen = auth.generation;
    if (token) setHeader(config, "Authorization", "Bearer " + token);
    return config;
  });
  const res = axios.interceptors.response.use(undefined, async (error) => {
    const config = error && error.config;
    const response = error && error.response;
    if (!config || !response || response.status !== 401 || config.authbrokerRetried || config.authbrokerGen === undefined) throw error;
    const data = response.data;
    const code = data && typeof data === "object" ? data.error : "";
    if (code !== "token_expired" && code !== "invalid_token") throw error;
    if (!(await auth.renewAfter(config.authbrokerGen))) throw error;
    config.authbrokerRetried = true;
    return axios.request(config);
  });
  return () => {
    axios.interceptors.request.eject(req);
    axios.interceptors.response.eject(res);
  };
}

export default AuthBroker;
