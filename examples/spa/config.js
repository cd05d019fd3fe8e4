// Settings of the example SPA. They match
// `ALLOWED_RETURN_URLS=http://localhost:5173/ scripts/run` (the broker on
// :8080) and `go run ./examples/resource-server` (the API on :8081). The
// browser tests serve their own copy of this file.
window.AUTHBROKER_SPA = {
  // The broker's BASE_URL; authbroker.js is loaded from there.
  baseUrl: "http://localhost:8080",
  // A protected API. In cookie mode use one on the broker's host, such as
  // the broker's own /auth/me: the cookies are not sent anywhere else.
  apiUrl: "http://localhost:8081/api/hello",
  // The broker's TOKEN_DELIVERY: "code" or "cookie".
  delivery: "code",
  // Where the refresh token lives in code mode: "memory" (a reload signs
  // out) or "session" (sessionStorage; survives reloads, readable by script).
  persist: "memory",
  // Refresh shortly before the access token expires.
  autoRefresh: true,
  // Providers offered as direct buttons; "More sign-in options" opens the
  // broker's login page with every enabled provider.
  providers: [{ name: "dev", label: "Continue with Dev sign-in" }],
  // A provider API to call with the member's own provider token (the broker
  // keeps it with <PROVIDER>_STORE_TOKENS=true), or null. For example
  // { provider: "google", url: "https://openidconnect.googleapis.com/v1/userinfo" }
  // or { provider: "github", url: "https://api.github.com/user" }; scope
  // (optional) names scopes the call needs.
  providerApi: null,
};
