/*!
 * authbroker.js: the browser client for an authbroker server.
 * No dependencies, no build step. Served by the broker at /authbroker.js
 * (a classic script that defines window.AuthBroker) and /authbroker.mjs
 * (the same code as an ES module: `import { AuthBroker } from ".../authbroker.mjs"`).
 *
 *   const auth = new AuthBroker({ baseUrl: "https://auth.example.com" });
 *   auth.addEventListener("change", () => render(auth.member));
 *   await auth.handleRedirect();           // on every page load
 *   loginButton.onclick = () => auth.login("github");
 *   const res = await auth.fetch("https://api.example.com/hello");
 *   logoutButton.onclick = () => auth.logout();
 *
 * Two delivery modes, matching the broker's TOKEN_DELIVERY:
 *
 * - "code" (default). The login comes back to returnTo with a one-time code
 *   that only this tab can redeem: login() keeps a PKCE verifier in
 *   sessionStorage and sends its S256 challenge (RFC 7636). The access token
 *   lives in memory only, so a script injected later in the page's life
 *   cannot find it in storage, and a reload costs a refresh. The refresh
 *   token stays in memory too unless persist is "session", which keeps it in
 *   sessionStorage so a reload stays signed in. That is a trade-off: script
 *   running on the page (XSS) can then read it, and a duplicated tab
 *   copies it; both copies share one rotation chain, so whichever copy
 *   refreshes second after the reuse grace period gets the whole session
 *   revoked by reuse detection.
 *
 * - "cookie". The broker keeps both tokens in httpOnly cookies that script
 *   cannot read; this client sends requests with credentials and the
 *   X-AuthBroker-CSRF header the broker requires on cookie-authenticated
 *   POSTs. Cookies are sent only to the broker's host, so in this mode
 *   fetch() is for the broker's own API (/auth/me, /auth/sessions) or an API
 *   served on the same host, and the app must be on the same site as the
 *   broker (app.example.com with auth.example.com), since browsers do not
 *   send SameSite=Lax cookies on cross-site requests.
 *
 * Expiry is left to the server. The client never compares a token's exp with
 * the local clock, which may be wrong. It refreshes shortly before
 * expires_in has elapsed (a relative time, immune to skew), and
 * when an API nevertheless answers 401 {"error":"token_expired"} (or
 * "invalid_token" while a refresh is possible) it refreshes once and
 * retries the request once. However many requests fail together, only one
 * refresh is in flight: the refresh token rotates on every use, so parallel
 * refreshes would race each other.
 */
(function (global, exports) {
  "use strict";

  /** Header the broker requires on cookie-authenticated POSTs. */
  const CSRF_HEADER = "X-AuthBroker-CSRF";
  /** sessionStorage keys. */
  const VERIFIER_KEY = "authbroker.pkce_verifier";
  const REFRESH_KEY = "authbroker.refresh_token";
  /** Query parameters the broker adds to returnTo. */
  const REDIRECT_PARAMS = ["code", "error", "error_description", "linked"];

  /**
   * AuthBrokerError is a failure the app can act on. code is the broker's
   * stable error code (access_denied, invalid_grant, already_signed_in, ...)
   * or "network_error"; status is the HTTP status (0 when there was none).
   */
  class AuthBrokerError extends Error {
    constructor(code, description, status) {
      super(description || code);
      this.name = "AuthBrokerError";
      this.code = code;
      this.description = description || "";
      this.status = status || 0;
    }
  }

  function base64url(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  /** A PKCE code_verifier: 32 random bytes, 43 base64url characters (RFC 7636 §4.1). */
  function newVerifier() {
    const b = new Uint8Array(32);
    global.crypto.getRandomValues(b);
    return base64url(b);
  }

  /** The S256 code_challenge of verifier (RFC 7636 §4.2). */
  async function challengeOf(verifier) {
    if (!global.crypto || !global.crypto.subtle) {
      throw new AuthBrokerError("insecure_context", "PKCE needs crypto.subtle: serve the app over https (or from localhost)");
    }
    const digest = await global.crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    return base64url(new Uint8Array(digest));
  }

  /** sessionStorage, or null where it is unavailable (some privacy modes throw). */
  function session() {
    try {
      return global.sessionStorage;
    } catch (e) {
      return null;
    }
  }

  /** The OAuth error code of a JSON error body, or "" when there is none. */
  async function errorCode(res) {
    try {
      const body = await res.clone().json();
      return body && typeof body.error === "string" ? body.error : "";
    } catch (e) {
      return "";
    }
  }

  /**
   * AuthBroker signs the user in through an authbroker server and
   * authenticates API calls. Events (it is an EventTarget):
   *   "change"  the signed-in member changed (signed in, signed out, switched);
   *             event.detail.member is the member or null.
   *   "refresh" a token pair was renewed; event.detail.member.
   *   "error"   a background refresh failed for a reason other than the
   *             session ending; event.detail.error.
   */
  class AuthBroker extends EventTarget {
    /**
     * @param {object} options
     * @param {string} options.baseUrl      the broker's URL (BASE_URL), e.g. "https://auth.example.com"
     * @param {string} [options.returnTo]   where the broker sends the browser back; must be on
     *                                      ALLOWED_RETURN_URLS (default: this page without query)
     * @param {"code"|"cookie"} [options.delivery]  the broker's TOKEN_DELIVERY (default "code")
     * @param {"memory"|"session"} [options.persist] where the refresh token lives in code mode
     *                                      (default "memory"; see the trade-off above)
     * @param {string[]} [options.apiOrigins] origins that fetch() may send the access token to,
     *                                      besides the broker's (default: this page's origin)
     * @param {boolean} [options.autoRefresh] refresh before the access token expires (default true)
     * @param {number} [options.refreshLeeway] seconds before expiry to refresh (default 30;
     *                                      at most half the token's lifetime)
     * @param {function} [options.onChange] shorthand for addEventListener("change", e => fn(e.detail.member))
     * @param {function} [options.fetch]    the fetch implementation (default: the global fetch)
     */
    constructor(options) {
      super();
      const o = options || {};
      if (!o.baseUrl) throw new TypeError("AuthBroker: baseUrl is required");
      this.baseUrl = String(o.baseUrl).replace(/\/+$/, "");
      this.returnTo = o.returnTo || global.location.origin + global.location.pathname;
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
      const origins = [new URL(this.baseUrl).origin, global.location.origin];
      (o.apiOrigins || []).forEach(function (a) { origins.push(new URL(a).origin); });
      this._origins = new Set(origins);
      this._fetch = o.fetch || global.fetch.bind(global);
      if (typeof o.onChange === "function") {
        const fn = o.onChange;
        this.addEventListener("change", function (e) { fn(e.detail.member); });
      }

      this._access = null; // access token (code mode), memory only
      this._refresh = null; // refresh token (code mode)
      this._member = null;
      this._timer = null;
      this._inflight = null; // the refresh in progress, shared by every caller
      this._generation = 0; // bumped whenever the credentials change
      this._probing = false; // cookie mode: looking for a session we cannot see
    }

    /** The signed-in member ({id, email, name, avatar, role, ...}) or null. */
    get member() {
      return this._member;
    }

    /** Whether a member is signed in. */
    get signedIn() {
      return this._member !== null;
    }

    /**
     * Sends the browser to sign in. With a provider name ("google",
     * "github", ...) it goes straight to that provider; without one, to the
     * broker's login page, which lists the enabled providers. Returns a
     * promise that settles only if navigation fails to start.
     * @param {string} [provider]
     * @param {{force?: boolean}} [opts] force: end the member's other
     *        sessions (SESSION_POLICY=single_confirm after already_signed_in)
     */
    async login(provider, opts) {
      const q = new URLSearchParams({ return_to: this.returnTo });
      if (this.delivery === "code") {
        // The one-time code can only be redeemed with this verifier, which
        // never leaves this tab: a code stolen from the URL is useless.
        const verifier = newVerifier();
        const store = session();
        if (!store) throw new AuthBrokerError("storage_unavailable", "sessionStorage is needed to sign in");
        store.setItem(VERIFIER_KEY, verifier);
        q.set("code_challenge", await challengeOf(verifier));
        q.set("code_challenge_method", "S256");
      }
      if (opts && opts.force) q.set("force", "true");
      const path = provider ? "/auth/" + encodeURIComponent(provider) : "/";
      global.location.assign(this.baseUrl + path + "?" + q.toString());
    }

    /**
     * Call once on every page load. It finishes a login that has just come
     * back (redeems ?code with the PKCE verifier, or throws the ?error the
     * broker or provider sent) and removes those parameters from the address
     * bar; otherwise it restores the session if there is one (the persisted
     * refresh token in code mode, the cookies in cookie mode).
     * @returns {Promise<object|null>} the member, or null when signed out
     * @throws {AuthBrokerError} a login that came back with an error
     *         (error.code: access_denied, already_signed_in, ...) or a code
     *         that could not be redeemed (invalid_grant)
     */
    async handleRedirect() {
      const url = new URL(global.location.href);
      const params = url.searchParams;
      const code = params.get("code");
      const error = params.get("error");
      const description = params.get("error_description");
      if (code !== null || error !== null) {
        REDIRECT_PARAMS.forEach(function (p) { params.delete(p); });
        const search = params.toString();
        global.history.replaceState(global.history.state, "", url.pathname + (search ? "?" + search : "") + url.hash);
      }
      const store = session();
      if (error !== null) {
        if (store) store.removeItem(VERIFIER_KEY);
        throw new AuthBrokerError(error, description || "sign-in failed", 0);
      }
      if (code !== null && this.delivery === "code") {
        const verifier = store && store.getItem(VERIFIER_KEY);
        if (store) store.removeItem(VERIFIER_KEY);
        if (!verifier) {
          throw new AuthBrokerError("invalid_request", "no sign-in was started in this tab; start again", 0);
        }
        const tokens = await this._token({ grant_type: "authorization_code", code: code, code_verifier: verifier });
        this._accept(tokens);
        return this._member;
      }
      return this.restore();
    }

    /**
     * Restores the session after a reload without a login redirect: with a
     * persisted refresh token (code mode) or the broker's cookies (cookie
     * mode). Resolves to the member or null.
     */
    async restore() {
      if (this.delivery === "cookie") {
        // The cookies are invisible to script: ask the broker who we are.
        // A 401 makes fetch() try the refresh cookie once.
        this._probing = true;
        try {
          const res = await this.fetch(this.baseUrl + "/auth/me", { headers: { Accept: "application/json" } });
          if (res.ok) {
            const me = await res.json();
            this._setMember(me);
          }
        } finally {
          this._probing = false;
        }
        return this._member;
      }
      const store = session();
      const saved = this.persist === "session" && store ? store.getItem(REFRESH_KEY) : null;
      if (!saved || this._member) return this._member;
      this._refresh = saved;
      try {
        await this.refresh();
      } catch (e) {
        // An ended session has been cleared by refresh(): signed out. Any
        // other failure (network, 503) is for the app to report.
        if (e.status === 400 || e.status === 401) return null;
        throw e;
      }
      return this._member;
    }

    /**
     * Renews the token pair now. Concurrent callers share one request: the
     * refresh token rotates on every use, so two refreshes with the same
     * token would race. When the broker says the session is over
     * (invalid_grant), the client signs out and emits "change".
     * @returns {Promise<object>} the member
     */
    refresh() {
      if (!this._inflight) {
        const self = this;
        this._inflight = this._doRefresh().finally(function () {
          self._inflight = null;
        });
      }
      return this._inflight;
    }

    async _doRefresh() {
      const body = { grant_type: "refresh_token" };
      if (this.delivery === "code") {
        if (!this._refresh) throw new AuthBrokerError("login_required", "not signed in", 0);
        body.refresh_token = this._refresh;
      }
      let tokens;
      try {
        tokens = await this._token(body);
      } catch (e) {
        // 400/401 from the token endpoint: the session has ended (logged
        // out elsewhere, revoked, expired, account disabled). Anything else
        // (network, 429, 503) may pass: keep the tokens and let the caller retry.
        if (e.status === 400 || e.status === 401) this._clear();
        throw e;
      }
      this._accept(tokens);
      this.dispatchEvent(new CustomEvent("refresh", { detail: { member: this._member } }));
      return this._member;
    }

    /**
     * fetch() with the user's credentials: the Bearer access token (code
     * mode) or the cookies and the CSRF header (cookie mode). When the
     * answer is 401 token_expired, or invalid_token while a refresh is
     * possible, it refreshes (one refresh for any number of concurrent
     * failures) and retries the request once. Other answers are returned as
     * they are.
     *
     * The token is only ever sent to the broker, this page's origin and
     * options.apiOrigins; other URLs are refused with a TypeError.
     * @param {RequestInfo|URL} input
     * @param {RequestInit} [init]
     * @returns {Promise<Response>}
     */
    async fetch(input, init) {
      const request = input instanceof Request ? input : null;
      const target = new URL(request ? request.url : String(input), global.location.href);
      if (!this._origins.has(target.origin)) {
        throw new TypeError("AuthBroker.fetch: will not send credentials to " + target.origin + "; add it to apiOrigins");
      }
      const generation = this._generation;
      const res = await this._send(request, input, init || {});
      if (res.status !== 401 || !this._canRefresh()) return res;
      const code = await errorCode(res);
      if (code !== "token_expired" && code !== "invalid_token") return res;
      if (this._generation === generation) {
        // Nobody has renewed the credentials since this request was sent:
        // refresh (or join the refresh already in flight).
        try {
          await this.refresh();
        } catch (e) {
          return res;
        }
      }
      // Renewed by us or by a concurrent caller: retry once with the new credentials.
      return this._send(request, input, init || {});
    }

    /** One attempt: input with init, credentials added. */
    _send(request, input, init) {
      const headers = new Headers(request ? request.headers : undefined);
      new Headers(init.headers).forEach(function (value, name) { headers.set(name, value); });
      const opts = Object.assign({}, init, { headers: headers });
      if (this.delivery === "code") {
        if (this._access) headers.set("Authorization", "Bearer " + this._access);
      } else {
        headers.set(CSRF_HEADER, "1");
        opts.credentials = "include";
      }
      // A Request's body can be read once: send a copy so a retry has one too.
      return this._fetch(request ? request.clone() : input, opts);
    }

    _canRefresh() {
      if (this.delivery === "code") return this._refresh !== null;
      return this._member !== null || this._probing;
    }

    /**
     * Signs out: the broker ends the session ("local", the default), every
     * other session of the member ("others"), or all of them ("global").
     * The session's access tokens are refused at once by the broker and by
     * APIs that check revocation. Local state is cleared even when the
     * broker cannot be reached (except for "others", which keeps this session).
     * @param {"local"|"others"|"global"} [scope]
     */
    async logout(scope) {
      scope = scope || "local";
      let failure = null;
      try {
        if (this._access || this.delivery === "cookie") {
          const res = await this.fetch(this.baseUrl + "/auth/logout", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ scope: scope }),
          });
          // 401: the session had already ended, which is what we wanted.
          if (!res.ok && res.status !== 401) {
            const body = await res.json().catch(function () { return {}; });
            failure = new AuthBrokerError(body.error || "server_error", body.error_description || "logout failed", res.status);
          }
        }
      } catch (e) {
        failure = e instanceof AuthBrokerError ? e : new AuthBrokerError("network_error", String(e && e.message || e), 0);
      } finally {
        if (scope !== "others") this._clear();
      }
      if (failure) throw failure;
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
        res = await this._fetch(this.baseUrl + "/auth/token", opts);
      } catch (e) {
        throw new AuthBrokerError("network_error", "the broker could not be reached", 0);
      }
      const data = await res.json().catch(function () { return {}; });
      if (!res.ok) {
        throw new AuthBrokerError(data.error || "server_error", data.error_description || "HTTP " + res.status, res.status);
      }
      return data;
    }

    /** Takes a token response: new credentials, member, next refresh. */
    _accept(tokens) {
      this._generation++;
      if (this.delivery === "code") {
        this._access = tokens.access_token;
        this._refresh = tokens.refresh_token;
        const store = session();
        if (this.persist === "session" && store) store.setItem(REFRESH_KEY, this._refresh);
      }
      this._schedule(tokens.expires_in);
      this._setMember(tokens.member || null);
    }

    /** Plans a refresh shortly before a token living expiresIn seconds expires. */
    _schedule(expiresIn) {
      clearTimeout(this._timer);
      this._timer = null;
      if (!this.autoRefresh || !(expiresIn > 0)) return;
      const lead = Math.min(this.refreshLeeway, expiresIn / 2);
      const self = this;
      // Capped: setTimeout fires at once past 2^31-1 ms (about 24.8 days).
      this._timer = setTimeout(function () {
        self._timer = null;
        self.refresh().catch(function (e) {
          if (self._member) self.dispatchEvent(new CustomEvent("error", { detail: { error: e } }));
        });
      }, Math.min((expiresIn - lead) * 1000, 2147483647));
    }

    _setMember(member) {
      const before = this._member;
      this._member = member;
      const changed = (before && before.id) !== (member && member.id);
      if (changed) this.dispatchEvent(new CustomEvent("change", { detail: { member: member } }));
    }

    /** Forgets every credential and signs out locally. */
    _clear() {
      clearTimeout(this._timer);
      this._timer = null;
      this._generation++;
      this._access = null;
      this._refresh = null;
      const store = session();
      if (store) store.removeItem(REFRESH_KEY);
      this._setMember(null);
    }
  }

  AuthBroker.Error = AuthBrokerError;
  AuthBroker.CSRF_HEADER = CSRF_HEADER;
  exports.AuthBroker = AuthBroker;
  exports.AuthBrokerError = AuthBrokerError;
  // The classic script exports on window; /authbroker.mjs passes its own
  // object instead and leaves window alone.
})(globalThis, globalThis);
