package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/authbroker/authbroker/cmd/authbroker/app/apptest"
	"github.com/authbroker/authbroker/internal/testenv"
	"github.com/authbroker/authbroker/providers/providertest"
)

// The browser scenarios. Each starts its own broker, example SPA, example
// resource server and fake GitHub, and a fresh Chromium profile.

// TestBrowserSignInRefreshSignOut is the main journey in code delivery:
// the login page, a provider, the SPA signed in, the protected API, an
// expired access token refreshed once for five concurrent calls, and a
// logout after which the API refuses the last token.
func TestBrowserSignInRefreshSignOut(t *testing.T) {
	s := startStack(t, stackOptions{
		// Short enough to wait out; the API verifies with no leeway.
		env:        []string{"ACCESS_TOKEN_TTL=5s"},
		introspect: true,
		// The timer would refresh before the token expires; this scenario
		// is about the 401 path, so only expiry triggers a refresh here.
		autoRefresh: false,
	})
	p := newPage(t)

	p.do("open the app", chromedp.Navigate(s.spaURL), waitState("signed-out"))
	p.do("go to the broker's login page", chromedp.Click(chromedp.ID("login-page")), chromedp.WaitVisible(chromedp.CSS(`a[data-provider="github"]`)))
	if loc := p.location(); !strings.HasPrefix(loc, s.broker.URL+"/?") || !strings.Contains(loc, "code_challenge=") {
		t.Fatalf("login page at %s, want the broker's / with the app's PKCE challenge", loc)
	}
	p.screenshot("login.png")

	p.do("continue with GitHub", chromedp.Click(chromedp.CSS(`a[data-provider="github"]`)), waitState("signed-in"))
	if got := p.text("#member-email"); got != "ada@example.com" {
		t.Fatalf("member email shown = %q, want ada@example.com", got)
	}
	memberID := p.text("#member-id")
	if got := evalJS[string](p, `location.href`); got != s.spaURL {
		t.Errorf("after sign-in the address is %s, want %s (the one-time code removed)", got, s.spaURL)
	}
	if got := evalJS[string](p, `JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage), document.cookie])`); strings.Contains(got, "eyJ") || strings.Contains(got, "refresh") {
		t.Errorf("tokens found in script-readable storage: %s", got)
	}

	if got := p.callAPI("call-api"); got != "OK (200)" {
		t.Fatalf("API call: %q, want OK (200)", got)
	}
	var hello struct {
		MemberID string `json:"member_id"`
		Email    string `json:"email"`
	}
	if err := json.Unmarshal([]byte(p.text("#api-result")), &hello); err != nil || hello.MemberID != memberID || hello.Email != "ada@example.com" {
		t.Fatalf("API answered %+v (%v), want member %s", hello, err, memberID)
	}
	p.screenshot("spa.png")
	first := lastCall(t, s.api)

	// Let the access token expire, then fire five calls at once: each gets
	// 401 token_expired, one refresh serves them all, each is retried once.
	// One refusal is held back until the refresh is over: the client must
	// retry it with the new token, not refresh a second time.
	expired(t, s.api, first.Token)
	before, seen := s.broker.refreshes(t), len(s.api.Calls())
	s.api.delayNextRefusal(time.Second)
	if got := p.callAPI("call-api-burst"); got != "5/5 OK" {
		t.Fatalf("five calls after expiry: %q, want 5/5 OK", got)
	}
	if n := s.broker.refreshes(t) - before; n != 1 {
		t.Fatalf("five concurrent 401s caused %d refreshes, want exactly 1 (single flight)", n)
	}
	var expiredCalls, okCalls int
	for _, c := range s.api.Calls()[seen:] {
		switch {
		case c.Status == http.StatusUnauthorized && c.Error == "token_expired" && c.Token == first.Token:
			expiredCalls++
		case c.Status == http.StatusOK && c.Token != first.Token:
			okCalls++
		default:
			t.Errorf("unexpected API call during the burst: %d %s", c.Status, c.Error)
		}
	}
	if expiredCalls != 5 || okCalls != 5 {
		t.Fatalf("burst: %d calls refused as expired and %d retried with a new token, want 5 and 5", expiredCalls, okCalls)
	}
	if got := p.attr("body", "data-refreshes"); got != "1" {
		t.Errorf("the app saw %s refresh events, want 1", got)
	}

	// Sign out: the session ends at the broker, and the API (which checks
	// revocation by introspection) refuses the token the app last used,
	// although that token has not expired.
	last := lastCall(t, s.api).Token
	p.do("sign out", chromedp.Click(chromedp.ID("logout")), waitState("signed-out"))
	if status, code := getJSON(t, s.api.URL+"/api/hello", last); status != http.StatusUnauthorized || code != "invalid_token" {
		t.Fatalf("API after logout: %d %q, want 401 invalid_token", status, code)
	}
	if status, _ := s.broker.me(t, last); status != http.StatusUnauthorized {
		t.Fatalf("broker /auth/me after logout: %d, want 401", status)
	}
	if _, err := s.api.Verifier.Verify(context.Background(), last); err != nil {
		t.Fatalf("the last token no longer verifies on its own (%v): the logout check above proved nothing; is the machine very slow?", err)
	}
}

// TestBrowserCookieMode runs the SPA with TOKEN_DELIVERY=cookie: tokens
// live in httpOnly cookies script cannot read, state-changing calls need
// the CSRF header, an expired access cookie is renewed with the refresh
// cookie, and logout clears both.
func TestBrowserCookieMode(t *testing.T) {
	s := startStack(t, stackOptions{
		env:         []string{"TOKEN_DELIVERY=cookie", "ACCESS_TOKEN_TTL=4s"},
		delivery:    "cookie",
		apiOnBroker: true,
		providers:   []spaProvider{{Name: "github", Label: "Continue with GitHub"}},
	})
	p := newPage(t)

	p.do("open the app", chromedp.Navigate(s.spaURL), waitState("signed-out"))
	p.do("continue with GitHub", chromedp.Click(chromedp.CSS(`button[data-provider="github"]`)), waitState("signed-in"))
	if got := p.text("#member-email"); got != "ada@example.com" {
		t.Fatalf("member email shown = %q, want ada@example.com", got)
	}
	memberID := p.text("#member-id")

	cookies := p.cookies(s.broker.URL + "/auth/token")
	for _, name := range []string{"ab_access", "ab_refresh"} {
		c, ok := cookies[name]
		if !ok || !c.HTTPOnly {
			t.Fatalf("cookie %s: present %v, httpOnly %v; want an httpOnly cookie", name, ok, ok && c.HTTPOnly)
		}
	}
	if got := evalJS[string](p, `document.cookie`); strings.Contains(got, "ab_") {
		t.Fatalf("script can read the token cookies: %q", got)
	}

	// The CSRF defence: a cookie-authenticated POST without the header is
	// refused, which is why the client always sends it.
	status := evalJS[int](p, fmt.Sprintf(`fetch(%q, {method: "POST", credentials: "include"}).then(r => r.status)`, s.broker.URL+"/auth/logout"))
	if status != http.StatusForbidden {
		t.Fatalf("logout without %s: status %d, want 403", "X-AuthBroker-CSRF", status)
	}

	// The access cookie expires with the token; the next call gets 401, the
	// client refreshes with the refresh cookie and retries.
	eventually(t, 15*time.Second, "the access cookie to expire", func() bool {
		_, ok := p.cookies(s.broker.URL + "/auth/token")["ab_access"]
		return !ok
	})
	before := s.broker.refreshes(t)
	if got := p.callAPI("call-api"); got != "OK (200)" {
		t.Fatalf("API call after the access cookie expired: %q, want OK (200)", got)
	}
	if n := s.broker.refreshes(t) - before; n != 1 {
		t.Fatalf("call after the access cookie expired caused %d refreshes, want 1", n)
	}
	var me struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(p.text("#api-result")), &me); err != nil || me.ID != memberID {
		t.Fatalf("/auth/me answered %+v (%v), want member %s", me, err, memberID)
	}

	p.do("sign out", chromedp.Click(chromedp.ID("logout")), waitState("signed-out"))
	left := p.cookies(s.broker.URL + "/auth/token")
	if _, ok := left["ab_access"]; ok || left["ab_refresh"] != nil {
		t.Fatalf("token cookies still set after logout: %v", keys(left))
	}
	p.do("reload", chromedp.Reload(), waitState("signed-out"))
}

// TestBrowserConsentDenied: the user refuses at the provider; the SPA shows
// the provider's refusal and stays signed out, and nothing was exchanged.
func TestBrowserConsentDenied(t *testing.T) {
	s := startStack(t, stackOptions{providers: []spaProvider{{Name: "github", Label: "Continue with GitHub"}}})
	s.github.Fail(providertest.Authorize, providertest.Fault{Code: "access_denied", Description: "The user has denied your application access."})
	p := newPage(t)

	p.do("open the app", chromedp.Navigate(s.spaURL), waitState("signed-out"))
	p.do("continue with GitHub and refuse", chromedp.Click(chromedp.CSS(`button[data-provider="github"]`)), chromedp.WaitVisible(chromedp.ID("error")))
	got := p.text("#error")
	if !strings.Contains(got, "denied your application access") || !strings.Contains(got, "(access_denied)") {
		t.Fatalf("error shown = %q, want the provider's description and access_denied", got)
	}
	if state := p.attr("body", "data-state"); state != "signed-out" {
		t.Fatalf("app state %q after a refusal, want signed-out", state)
	}
	if loc := p.location(); loc != s.spaURL {
		t.Errorf("address after the refusal is %s, want %s (error parameters removed)", loc, s.spaURL)
	}
	if n := s.github.Count(providertest.Token); n != 0 {
		t.Errorf("the broker called GitHub's token endpoint %d times after a refusal", n)
	}
}

// TestBrowserProviderToken: the SPA calls GitHub's API with the member's
// GitHub token from the broker's vault; when the member revokes the app at
// GitHub, the next call shows a reconnect button, and reconnecting (a trip
// through the broker and GitHub that keeps the session) makes the call
// work again.
func TestBrowserProviderToken(t *testing.T) {
	s := startStack(t, stackOptions{
		env: []string{"GITHUB_STORE_TOKENS=true"},
		// A GitHub App with expiring user tokens, whose tokens live less
		// than the renewal window: every call renews, so a revoked grant
		// shows at once.
		github:    []providertest.Option{providertest.WithExpiringUserTokens(), providertest.WithTokenLifetime(50 * time.Second)},
		githubAPI: true,
		providers: []spaProvider{{Name: "github", Label: "Continue with GitHub"}},
	})
	p := newPage(t)
	p.do("open the app", chromedp.Navigate(s.spaURL), waitState("signed-out"))
	p.do("continue with GitHub", chromedp.Click(chromedp.CSS(`button[data-provider="github"]`)), waitState("signed-in"))
	memberID := p.text("#member-id")

	if got := p.callInto("call-provider", "provider-status"); got != "OK (200)" {
		t.Fatalf("provider call: %q", got)
	}
	if !strings.Contains(p.text("#provider-result"), `"login": "`+s.github.User().Login+`"`) {
		t.Fatalf("GitHub answered %s", p.text("#provider-result"))
	}
	p.screenshot("provider-token.png")

	s.github.RevokeGrants(s.github.User().ID) // the member revokes the app in GitHub's settings
	if got := p.callInto("call-provider", "provider-status"); got != "Reconnect needed" {
		t.Fatalf("provider call after revocation: %q", got)
	}
	p.do("reconnect", chromedp.WaitVisible(chromedp.ID("reconnect-provider")), chromedp.Click(chromedp.ID("reconnect-provider")),
		waitState("signed-in"), chromedp.WaitNotVisible(chromedp.ID("reconnect-provider")))
	if got := p.text("#member-id"); got != memberID {
		t.Fatalf("after reconnecting the app shows member %s, want %s", got, memberID)
	}
	if loc := p.location(); loc != s.spaURL {
		t.Errorf("address after reconnecting is %s, want %s (reconnected removed)", loc, s.spaURL)
	}
	if got := p.callInto("call-provider", "provider-status"); got != "OK (200)" {
		t.Fatalf("provider call after reconnecting: %q", got)
	}
}

// TestBrowserPersistedSessionOnRedis: with the refresh token persisted in
// sessionStorage and Redis holding sessions, the client refreshes on its
// own before expiry, survives a reload, and "sign out everywhere" ends it.
// The dev provider's form is driven like a user would.
func TestBrowserPersistedSessionOnRedis(t *testing.T) {
	redisURL, prefix := testenv.Redis(t)
	s := startStack(t, stackOptions{
		// The prefix keeps this broker's keys (rate-limit counters
		// included) apart from other tests sharing the server.
		env:         []string{"REDIS_URL=" + redisURL, "REDIS_PREFIX=" + prefix, "ACCESS_TOKEN_TTL=4s"},
		persist:     "session",
		autoRefresh: true,
		providers:   []spaProvider{{Name: "dev", Label: "Continue with Dev sign-in"}},
	})
	p := newPage(t)

	p.do("open the app", chromedp.Navigate(s.spaURL), waitState("signed-out"))
	p.do("continue with Dev sign-in", chromedp.Click(chromedp.CSS(`button[data-provider="dev"]`)), chromedp.WaitVisible(chromedp.ID("email")))
	p.do("fill the dev form",
		chromedp.SetValue(chromedp.ID("email"), "grace@example.com"),
		chromedp.SetValue(chromedp.ID("name"), "Grace Hopper"),
		chromedp.Click(chromedp.ID("dev-submit")),
		waitState("signed-in"))
	if got := p.text("#member-email"); got != "grace@example.com" {
		t.Fatalf("member email shown = %q, want grace@example.com", got)
	}

	// No API call, no 401: the client's timer refreshes ahead of expiry.
	eventually(t, 10*time.Second, "the scheduled refresh", func() bool { return s.broker.refreshes(t) >= 1 })
	if got := p.callAPI("call-api"); got != "OK (200)" {
		t.Fatalf("API call: %q, want OK (200)", got)
	}
	for _, c := range s.api.Calls() {
		if c.Status != http.StatusOK {
			t.Fatalf("API answered %d %s; the scheduled refresh should have prevented any refusal", c.Status, c.Error)
		}
	}
	stored := evalJS[string](p, `JSON.stringify(Object.entries(sessionStorage))`)
	if !strings.Contains(stored, "authbroker.refresh_token") || strings.Contains(stored, "eyJ") {
		t.Fatalf("sessionStorage = %s, want the refresh token and no access token", stored)
	}

	before := s.broker.refreshes(t)
	p.do("reload", chromedp.Reload(), waitState("signed-in"))
	if s.broker.refreshes(t) <= before {
		t.Fatal("the reload restored the session without a refresh")
	}
	last := lastCall(t, s.api).Token

	p.do("sign out everywhere", chromedp.Click(chromedp.ID("logout-all")), waitState("signed-out"))
	if got := evalJS[string](p, `JSON.stringify(Object.entries(sessionStorage))`); strings.Contains(got, "refresh") {
		t.Fatalf("sessionStorage after logout = %s, want no refresh token", got)
	}
	if status, _ := s.broker.me(t, last); status != http.StatusUnauthorized {
		t.Fatalf("broker /auth/me after global logout: %d, want 401", status)
	}
}

// TestBrowserClientAsModule: /authbroker.mjs imports from another origin
// as an ES module exporting the client, without touching window.
func TestBrowserClientAsModule(t *testing.T) {
	s := startStack(t, stackOptions{})
	p := newPage(t)
	p.do("open the app", chromedp.Navigate(s.spaURL), waitState("signed-out"))
	js := fmt.Sprintf(`(async () => {
		const classic = window.AuthBroker;
		const m = await import(%q);
		return typeof m.AuthBroker === "function" && m.default === m.AuthBroker &&
			m.AuthBroker !== classic && window.AuthBroker === classic &&
			new m.AuthBroker({baseUrl: %q}).signedIn === false;
	})()`, s.broker.URL+"/authbroker.mjs", s.broker.URL)
	if !evalJS[bool](p, js) {
		t.Fatal("authbroker.mjs did not export the AuthBroker class, or replaced window.AuthBroker")
	}
}

// stackOptions shape one scenario.
type stackOptions struct {
	env         []string // broker environment, after the defaults
	delivery    string   // the SPA client's delivery ("code" when empty)
	persist     string   // the SPA client's persist ("memory" when empty)
	autoRefresh bool
	// apiOnBroker points the SPA's API calls at the broker's /auth/me
	// (cookie mode: the cookies go to the broker's host only).
	apiOnBroker bool
	// introspect makes the resource server check revocation with the broker.
	introspect bool
	// providers are the SPA's direct sign-in buttons.
	providers []spaProvider
	// proxy puts a holdingProxy between the SPA and the broker.
	proxy bool
	// github are options of the fake GitHub; githubAPI has the SPA call its
	// /user with the member's GitHub token.
	github    []providertest.Option
	githubAPI bool
}

// stack is one scenario's servers.
type stack struct {
	broker *broker
	api    *resourceServer
	github *providertest.Server
	spaURL string // the app's page, also its return URL
	proxy  *holdingProxy
}

func startStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	gh := providertest.NewGitHub(t, o.github...)
	spaLn, spaOrigin := apptest.Listen(t)
	brokerLn, _ := apptest.Listen(t)
	user := gh.User()
	user.Picture = spaOrigin + "/avatar.svg" // nothing on the page may leave 127.0.0.1
	gh.SetUser(user)

	env := append([]string{"ALLOWED_RETURN_URLS=" + spaOrigin + "/", "DEV_LOGIN=true"}, gh.Env()...)
	secret := ""
	if o.introspect {
		secret = "introspect-" + randomVerifier(t)
		env = append(env, "INTROSPECT_SECRET="+secret)
	}
	b := startBroker(t, brokerLn, append(env, o.env...)...)
	rs := startResourceServer(t, b, spaOrigin, secret)

	cfg := spaConfig{
		BaseURL: b.URL, APIURL: rs.URL + "/api/hello", Delivery: "code", Persist: "memory",
		AutoRefresh: o.autoRefresh, Providers: o.providers,
	}
	if o.apiOnBroker {
		cfg.APIURL = b.URL + "/auth/me"
	}
	if o.githubAPI {
		cfg.ProviderAPI = &spaProviderAPI{Provider: "github", URL: gh.UserInfoURL()}
	}
	if o.delivery != "" {
		cfg.Delivery = o.delivery
	}
	if o.persist != "" {
		cfg.Persist = o.persist
	}
	if cfg.Providers == nil {
		cfg.Providers = []spaProvider{}
	}
	var proxy *holdingProxy
	if o.proxy {
		proxy = startHoldingProxy(t, b.URL)
		cfg.BaseURL = proxy.URL
	}
	serveSPA(t, spaLn, cfg)
	return &stack{broker: b, api: rs, github: gh, spaURL: spaOrigin + "/", proxy: proxy}
}

// lastCall is the resource server's most recent answered call.
func lastCall(t *testing.T, rs *resourceServer) apiCall {
	t.Helper()
	calls := rs.Calls()
	if len(calls) == 0 {
		t.Fatal("the API received no call")
	}
	return calls[len(calls)-1]
}

// chromium returns the browser to drive: $AUTHBROKER_CHROMIUM or Debian's.
func chromium(t *testing.T) string {
	t.Helper()
	path := os.Getenv("AUTHBROKER_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		testenv.Require(t, "Chromium not found at %s ($AUTHBROKER_CHROMIUM): %v", path, err)
	}
	return path
}

// page is one Chromium tab with a fresh profile, and what its scripts logged.
type page struct {
	t   *testing.T
	ctx context.Context

	mu         sync.Mutex
	console    []string
	exceptions []string
}

// actionTimeout bounds one step (a click and what it should lead to).
const actionTimeout = 20 * time.Second

func newPage(t *testing.T) *page {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // root in containers; the pages are our own
		chromedp.DisableGPU,
		chromedp.WindowSize(960, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-pings", true),
		// Every server is on 127.0.0.1: no name resolves, so nothing can
		// leave the machine even if a page asked for it.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	)
	// The profile is a fresh temporary directory that chromedp removes.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	p := &page{t: t}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(p.listen))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.exceptions {
			t.Errorf("uncaught exception in the page: %s", e)
		}
		if t.Failed() && len(p.console) > 0 {
			t.Logf("page console:\n  %s", strings.Join(p.console, "\n  "))
		}
	})
	// The first Do starts Chromium and ties its life to ctx, so it gets no
	// timeout of its own (a timeout here would close the browser).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	p.ctx = ctx
	return p
}

// newTab opens another tab in p's browser (same profile: same origin
// storage, Web Locks and BroadcastChannel), closed at the end of the test.
func (p *page) newTab() *page {
	p.t.Helper()
	q := &page{t: p.t}
	ctx, cancel := chromedp.NewContext(p.ctx, chromedp.WithListener(q.listen))
	p.t.Cleanup(func() {
		cancel()
		q.mu.Lock()
		defer q.mu.Unlock()
		for _, e := range q.exceptions {
			p.t.Errorf("uncaught exception in a tab: %s", e)
		}
		if p.t.Failed() && len(q.console) > 0 {
			p.t.Logf("tab console:\n  %s", strings.Join(q.console, "\n  "))
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		p.t.Fatalf("open a tab: %v", err)
	}
	q.ctx = ctx
	return q
}

// listen records console output and uncaught exceptions (it runs in the
// tab's event loop: no commands, return fast).
func (p *page) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			if len(a.Value) > 0 {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		p.console = append(p.console, string(ev.Type)+": "+strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		p.exceptions = append(p.exceptions, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
	}
}

// do runs the steps of one user action, failing the test with its name.
func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v (page at %s, state %q, error %q)", what, err, p.location(), p.attr("body", "data-state"), p.quietText("#error"))
	}
}

func run[T any](p *page, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// evalJS evaluates js in the page, awaiting a promise it returns.
func evalJS[T any](p *page, js string) T {
	p.t.Helper()
	v, err := run(p, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// text is the visible text of the element matching the CSS selector.
func (p *page) text(sel string) string {
	p.t.Helper()
	v, err := run(p, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

// quietText is the text of sel for failure messages ("" when unavailable).
func (p *page) quietText(sel string) string {
	v, _ := peek(p, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)))
	return strings.TrimSpace(v)
}

// attr is an attribute of the element matching sel ("" when absent).
func (p *page) attr(sel, name string) string {
	v, _ := peek(p, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {getAttribute: () => ""}).getAttribute(%q) || ""`, sel, name)))
	return v
}

// location is the page's address ("?" when unavailable).
func (p *page) location() string {
	v, err := peek(p, chromedp.Location())
	if err != nil {
		return "?"
	}
	return v
}

// peek runs a quick read that must not hang a failing test's report.
func peek[T any](p *page, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// cookies are the browser's cookies sent with a request to u, by name
// (the refresh cookie's path is /auth: ask for a URL under it).
func (p *page) cookies(u string) map[string]*network.Cookie {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		p.t.Fatalf("read cookies: %v", err)
	}
	out := make(map[string]*network.Cookie, len(res.Cookies))
	for _, c := range res.Cookies {
		out[c.Name] = c
	}
	return out
}

// screenshot saves the viewport as docs/screenshots/name when the file is
// missing or AUTHBROKER_UPDATE_SCREENSHOTS=1.
func (p *page) screenshot(name string) {
	p.t.Helper()
	path := filepath.Join("..", "..", "docs", "screenshots", name)
	if _, err := os.Stat(path); err == nil && os.Getenv("AUTHBROKER_UPDATE_SCREENSHOTS") != "1" {
		return
	}
	png, err := run(p, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatalf("write %s: %v", path, err)
	}
	p.t.Logf("wrote %s", path)
}

// waitState waits for the SPA to settle in state (body data-state).
func waitState(state string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitReady(chromedp.CSS(`body[data-state="` + state + `"]`))
}

// callAPI clicks one of the SPA's API buttons and returns the status line
// once the calls have settled ("OK (200)", "5/5 OK", "Refused (401)", ...).
func (p *page) callAPI(button string) string { return p.callInto(button, "api-status") }

// callInto clicks button and returns what the element with id status
// says once the call is over.
func (p *page) callInto(button, status string) string {
	p.t.Helper()
	p.do("click "+button,
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).textContent = ""`, status)),
		chromedp.Click(chromedp.ID(button)),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`(t => t !== "" && !t.startsWith("Calling"))(document.getElementById(%q).textContent)`, status),
			chromedp.WithPollingInterval(50*time.Millisecond)))
	return p.text("#" + status)
}

// keys lists a map's keys, for messages.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
