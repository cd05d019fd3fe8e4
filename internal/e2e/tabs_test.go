package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authbroker/authbroker/cmd/authbroker/app/apptest"
	"github.com/authbroker/authbroker/internal/testenv"
)

// Several tabs of one app share one session: the refresh token rotates on
// every use and a replayed old one revokes the session, so the tabs must
// refresh once between them, pass the new tokens on, sign out together, and
// never be left holding a token another tab has rotated.

// TestBrowserTabsRefreshOnce: three tabs whose access tokens expire
// together call the API at once; one refresh request serves all three.
func TestBrowserTabsRefreshOnce(t *testing.T) {
	s := startStack(t, stackOptions{
		env:       []string{"ACCESS_TOKEN_TTL=5s"},
		providers: []spaProvider{{Name: "github", Label: "Continue with GitHub"}},
	})
	tabs := signInTabs(t, s, 3)
	first := lastCall(t, s.api).Token

	expired(t, s.api, first)
	before, seen := s.broker.refreshes(t), len(s.api.Calls())
	for _, p := range tabs {
		p.startCall("call-api")
	}
	for i, p := range tabs {
		if got := p.waitCall(); got != "OK (200)" {
			t.Fatalf("tab %d after expiry: %q, want OK (200)", i+1, got)
		}
	}
	if n := s.broker.refreshes(t) - before; n != 1 {
		t.Fatalf("three tabs made %d refresh requests, want exactly 1", n)
	}
	renewed := map[string]bool{}
	for _, c := range s.api.Calls()[seen:] {
		if c.Status == http.StatusOK {
			renewed[c.Token] = true
		}
	}
	if len(renewed) != 1 || renewed[first] {
		t.Fatalf("the tabs' successful calls used %d distinct tokens (old one among them: %v), want the one new token", len(renewed), renewed[first])
	}
	for i, p := range tabs {
		if state := p.attr("body", "data-state"); state != "signed-in" {
			t.Fatalf("tab %d is %s after the refresh", i+1, state)
		}
	}
}

// TestBrowserTabsSignOutTogether: signing out in one tab signs out every
// tab of the app, and a reload does not bring the session back.
func TestBrowserTabsSignOutTogether(t *testing.T) {
	s := startStack(t, stackOptions{providers: []spaProvider{{Name: "github", Label: "Continue with GitHub"}}})
	tabs := signInTabs(t, s, 3)
	tabs[1].do("sign out in the second tab", chromedp.Click(chromedp.ID("logout")), waitState("signed-out"))
	for i, p := range tabs {
		p.do(fmt.Sprintf("tab %d follows", i+1), waitState("signed-out"))
	}
	tabs[2].do("reload the third tab", chromedp.Reload(), waitState("signed-out"))
	if status, _ := s.broker.me(t, lastCall(t, s.api).Token); status != http.StatusUnauthorized {
		t.Fatalf("broker /auth/me after the logout: %d, want 401", status)
	}
}

// TestBrowserTabReloadedMidRefresh: a tab reloads while its refresh is in
// flight; the broker has rotated the token but the answer is lost. The
// other tab presents the same token at once, within REFRESH_REUSE_GRACE,
// and gets the same new pair (a replay); nobody is left holding the old token, so the
// session is still alive long after the grace.
func TestBrowserTabReloadedMidRefresh(t *testing.T) {
	s := startStack(t, stackOptions{
		env:       []string{"ACCESS_TOKEN_TTL=5s", "REFRESH_REUSE_GRACE=3s"},
		providers: []spaProvider{{Name: "github", Label: "Continue with GitHub"}},
		proxy:     true,
	})
	tabs := signInTabs(t, s, 2)
	a, b := tabs[0], tabs[1]
	expired(t, s.api, lastCall(t, s.api).Token)

	held := s.proxy.holdNextRefresh()
	a.startCall("call-api")
	select {
	case <-held:
	case <-time.After(actionTimeout):
		t.Fatal("the first tab never sent its refresh")
	}
	a.do("reload the first tab mid-refresh", chromedp.Reload(), waitState("signed-in"))

	eventually(t, 10*time.Second, "the answer to be recovered (one replayed refresh)", func() bool {
		return s.broker.refreshOutcomes(t)["replayed"] == 1
	})
	if got := s.broker.refreshOutcomes(t); got["rotated"] != 1 || got["reuse_revoked"] != 0 {
		t.Fatalf("refresh outcomes %v, want one rotation, one replay, no reuse", got)
	}

	// Past the grace (the tokens live 5 s, the grace is 3 s): both tabs renew
	// once more, and the session is alive.
	b.startCall("call-api")
	if got := b.waitCall(); got != "OK (200)" {
		t.Fatalf("second tab: %q", got)
	}
	expired(t, s.api, lastCall(t, s.api).Token)
	for _, p := range tabs {
		p.startCall("call-api")
	}
	for i, p := range tabs {
		if got := p.waitCall(); got != "OK (200)" {
			t.Fatalf("tab %d after the grace: %q, want OK (200)", i+1, got)
		}
	}
	if got := s.broker.refreshOutcomes(t); got["reuse_revoked"] != 0 || got["rotated"] != 2 {
		t.Fatalf("refresh outcomes %v, want two rotations and no reuse", got)
	}
	s.proxy.release()
}

// TestClientImportsUnderNode: the module the broker serves imports and
// constructs under Node (server-side rendering) without touching a browser
// global and without keeping the process alive.
func TestClientImportsUnderNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Require(t, "node not found: %v", err)
	}
	ln, _ := apptest.Listen(t)
	b := startBroker(t, ln)
	resp, err := http.Get(b.URL + "/authbroker.mjs")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("export")) {
		t.Fatalf("GET /authbroker.mjs: %d", resp.StatusCode)
	}
	mod := filepath.Join(t.TempDir(), "authbroker.mjs")
	if err := os.WriteFile(mod, body, 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`
for (const name of ["window", "document", "location", "navigator", "sessionStorage", "localStorage"]) {
  Object.defineProperty(globalThis, name, { get() { throw new Error("touched " + name); }, configurable: true });
}
const { AuthBroker, default: D } = await import(%q);
const auth = new AuthBroker({ baseUrl: %q, apiOrigins: ["https://api.example.com"] });
if (D !== AuthBroker || auth.signedIn || (await auth.getAccessToken()) !== null) throw new Error("unexpected state");
console.log("ok");`, mod, b.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--input-type=module", "-e", script).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("node: %v\n%s", err, out)
	}
}

// signInTabs signs in through GitHub in one tab and opens n-1 more tabs of
// the app, which find the session in the first (no login, no refresh).
func signInTabs(t *testing.T, s *stack, n int) []*page {
	t.Helper()
	first := newPage(t)
	first.do("open the app", chromedp.Navigate(s.spaURL), waitState("signed-out"))
	first.do("continue with GitHub", chromedp.Click(chromedp.CSS(`button[data-provider="github"]`)), waitState("signed-in"))
	if got := first.callAPI("call-api"); got != "OK (200)" {
		t.Fatalf("API call: %q", got)
	}
	tabs := []*page{first}
	before := s.broker.refreshes(t)
	for i := 1; i < n; i++ {
		p := first.newTab()
		p.do(fmt.Sprintf("open the app in tab %d", i+1), chromedp.Navigate(s.spaURL), waitState("signed-in"))
		tabs = append(tabs, p)
	}
	if got := s.broker.refreshes(t) - before; got != 0 {
		t.Fatalf("opening %d tabs made %d refresh requests, want 0 (the tokens come from the first tab)", n-1, got)
	}
	return tabs
}

// startCall clicks one of the SPA's API buttons without waiting.
func (p *page) startCall(button string) {
	p.t.Helper()
	p.do("click "+button, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`document.getElementById("api-status").textContent = ""; document.getElementById(%q).click()`, button)))
}

// waitCall waits for the SPA's API status line to settle and returns it.
func (p *page) waitCall() string {
	p.t.Helper()
	p.do("wait for the API call",
		chromedp.Poll[chromedp.Void](`(t => t !== "" && !t.startsWith("Calling"))(document.getElementById("api-status").textContent)`,
			chromedp.WithPollingInterval(50*time.Millisecond)))
	return p.text("#api-status")
}

// holdingProxy forwards everything to the broker, and can hold back the
// answer to one refresh: the broker has rotated the token, the browser
// has not heard (a lost answer).
type holdingProxy struct {
	URL string

	mu       sync.Mutex
	armed    chan struct{} // closed when the armed refresh reached the broker
	released chan struct{}
	once     sync.Once
}

func startHoldingProxy(t *testing.T, target string) *holdingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	hp := &holdingProxy{released: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u)
	ln, addr := apptest.Listen(t)
	hp.URL = addr
	serve(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		hp.mu.Lock()
		armed := hp.armed
		hold := armed != nil && r.Method == http.MethodPost && r.URL.Path == "/auth/token" && bytes.Contains(body, []byte("refresh_token"))
		if hold {
			hp.armed = nil
		}
		hp.mu.Unlock()
		if !hold {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
		close(armed)
		select {
		case <-hp.released:
		case <-r.Context().Done():
			return // the tab went away: its answer is lost
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(hp.release)
	return hp
}

// holdNextRefresh arms the proxy; the channel closes once the next refresh
// has been answered by the broker and is being held back.
func (hp *holdingProxy) holdNextRefresh() <-chan struct{} {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	hp.armed = make(chan struct{})
	return hp.armed
}

// release lets held answers go.
func (hp *holdingProxy) release() { hp.once.Do(func() { close(hp.released) }) }
