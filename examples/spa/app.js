// The example SPA: sign in through authbroker, show the member, call a
// protected API, call the provider's own API with the member's provider
// token, sign out. Everything about tokens is in authbroker.js,
// which the page loads from the broker; this file only wires the UI.
(function () {
  "use strict";

  const cfg = window.AUTHBROKER_SPA;
  const $ = (id) => document.getElementById(id);

  /** Adds a line to the activity log. */
  function log(message) {
    const li = document.createElement("li");
    li.textContent = new Date().toLocaleTimeString() + "  " + message;
    $("log").prepend(li);
  }

  function showError(err) {
    const text = err && err.code
      ? err.description + " (" + err.code + ")"
      : String((err && err.message) || err);
    $("error").textContent = text;
    $("error").hidden = false;
    log("Error: " + text);
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  /** Loads a classic script and resolves when it has run. */
  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error("could not load " + src));
      document.head.append(s);
    });
  }

  function render(auth) {
    const m = auth.member;
    $("signed-in").hidden = !m;
    $("signed-out").hidden = !!m;
    document.body.dataset.state = m ? "signed-in" : "signed-out";
    if (!m) {
      $("api-result").hidden = true;
      $("api-status").textContent = "";
      return;
    }
    $("member-name").textContent = m.name || m.email || "Signed in";
    $("member-email").textContent = m.email || "no email shared";
    $("member-id").textContent = m.id;
    $("member-role").textContent = m.role;
    $("member-avatar").hidden = !m.avatar;
    if (m.avatar) $("member-avatar").src = m.avatar;
  }

  // Private data is never cached, and identical requests in flight together
  // are not held back behind each other by the browser's HTTP cache.
  const apiInit = { headers: { Accept: "application/json" }, cache: "no-store" };

  /** Calls the API once through the client and shows the answer. */
  async function callAPI(auth) {
    clearError();
    $("api-status").textContent = "Calling…";
    try {
      const res = await auth.fetch(cfg.apiUrl, apiInit);
      const body = await res.json().catch(() => ({}));
      $("api-result").textContent = JSON.stringify(body, null, 2);
      $("api-result").hidden = false;
      $("api-status").textContent = res.ok ? "OK (" + res.status + ")" : "Refused (" + res.status + ")";
      log("API answered " + res.status);
    } catch (e) {
      showError(e);
      $("api-status").textContent = "Failed";
    }
  }

  /**
   * Sends five calls together, as a dashboard loading its widgets would.
   * When the access token has expired they all get 401 and the client
   * refreshes once for all of them.
   */
  async function callAPIBurst(auth) {
    clearError();
    $("api-status").textContent = "Calling ×5…";
    try {
      const answers = await Promise.all(
        [1, 2, 3, 4, 5].map(() => auth.fetch(cfg.apiUrl, apiInit))
      );
      const ok = answers.filter((r) => r.ok).length;
      $("api-status").textContent = ok + "/5 OK";
      log("5 API calls: " + ok + " OK");
    } catch (e) {
      showError(e);
      $("api-status").textContent = "Failed";
    }
  }

  /**
   * Calls the provider's own API (cfg.providerApi) with the member's
   * provider token. A plain fetch: auth.fetch would add the broker's token,
   * which is not the provider's.
   */
  async function callProvider(auth) {
    const pa = cfg.providerApi;
    clearError();
    $("provider-status").textContent = "Calling…";
    try {
      const tok = await auth.providerToken(pa.provider, pa.scope ? { scope: pa.scope } : undefined);
      const res = await fetch(pa.url, {
        headers: { Authorization: tok.tokenType + " " + tok.accessToken, Accept: "application/json" },
        cache: "no-store",
      });
      const body = await res.json().catch(() => ({}));
      $("provider-result").textContent = JSON.stringify(body, null, 2);
      $("provider-result").hidden = false;
      $("provider-status").textContent = res.ok ? "OK (" + res.status + ")" : "Refused (" + res.status + ")";
      log(pa.provider + " answered " + res.status);
    } catch (e) {
      if (e && e.code === "provider_reauth_required") {
        // The "providerreauth" event has shown the reconnect button.
        $("provider-status").textContent = "Reconnect needed";
        return;
      }
      showError(e);
      $("provider-status").textContent = "Failed";
    }
  }

  function start() {
    const auth = new window.AuthBroker({
      baseUrl: cfg.baseUrl,
      delivery: cfg.delivery,
      persist: cfg.persist,
      autoRefresh: cfg.autoRefresh,
      apiOrigins: [new URL(cfg.apiUrl, location.href).origin],
    });
    auth.addEventListener("change", () => {
      render(auth);
      log(auth.member ? "Signed in as " + (auth.member.email || auth.member.id) : "Signed out");
    });
    auth.addEventListener("refresh", () => {
      document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
      log("Access token refreshed");
    });
    auth.addEventListener("error", (e) => showError(e.detail.error));
    // The provider's grant is gone (revoked there, or by an admin): offer
    // to sign in there again; the broker renews the grant and comes back.
    auth.addEventListener("providerreauth", (e) => {
      const b = $("reconnect-provider");
      b.textContent = "Reconnect " + e.detail.provider;
      b.onclick = () => auth.reconnect(e.detail);
      b.hidden = false;
      log(e.detail.provider + " needs a reconnect");
    });
    auth.addEventListener("reconnect", (e) => {
      $("reconnect-provider").hidden = true;
      log("Reconnected " + e.detail.provider);
    });

    for (const p of cfg.providers || []) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "btn btn-" + p.name;
      b.dataset.provider = p.name;
      b.textContent = p.label || "Continue with " + p.name;
      b.addEventListener("click", () => auth.login(p.name).catch(showError));
      $("provider-buttons").append(b);
    }
    $("login-page").addEventListener("click", () => auth.login().catch(showError));
    $("api-url").textContent = cfg.apiUrl;
    $("call-api").addEventListener("click", () => callAPI(auth));
    $("call-api-burst").addEventListener("click", () => callAPIBurst(auth));
    if (cfg.providerApi) {
      $("provider-api").hidden = false;
      $("provider-api-url").textContent = cfg.providerApi.url;
      $("provider-name").textContent = cfg.providerApi.provider;
      $("call-provider").textContent = "Call " + cfg.providerApi.provider;
      $("call-provider").addEventListener("click", () => callProvider(auth));
    }
    $("logout").addEventListener("click", () => auth.logout().catch(showError));
    $("logout-all").addEventListener("click", () => auth.logout("global").catch(showError));

    auth.handleRedirect()
      .catch(showError)
      .finally(() => render(auth));
  }

  loadScript(cfg.baseUrl + "/authbroker.js")
    .then(start)
    .catch((e) => {
      showError(e);
      document.body.dataset.state = "broken";
    });
})();
