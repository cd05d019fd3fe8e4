package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/authbroker/authbroker/providers/providertest"
)

// cookieLogin signs br in with the dev provider in TOKEN_DELIVERY=cookie:
// the callback sets the token cookies in br's jar.
func cookieLogin(t *testing.T, b *broker, br *browser, email string) {
	t.Helper()
	resp, _ := br.get(b.URL + "/auth/dev?" + url.Values{"return_to": {spaReturn}}.Encode())
	cb := devSignIn(t, br, email, "Cookie User")(location(t, resp).String())
	resp, body := br.get(cb.String())
	if resp.StatusCode != http.StatusFound || len(resp.Cookies()) == 0 {
		t.Fatalf("cookie-mode callback: %d, cookies %v: %s", resp.StatusCode, resp.Cookies(), body)
	}
}

// meOf is GET /auth/me with br's cookies (or bearerToken): status and member id.
func meOf(t *testing.T, b *broker, br *browser, bearerToken string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.URL+"/auth/me", nil)
	if bearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+bearerToken)
	}
	resp, err := br.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var me struct {
		ID string `json:"id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&me)
	return resp.StatusCode, me.ID
}

// crossSite sends what a page on another site can make a browser send: a
// form post (or, for the other methods, a request) with that site's Origin
// (origin; "null" from a sandboxed frame) and fetchSite (empty: a browser
// without Sec-Fetch-Site), with br's cookies.
func crossSite(t *testing.T, br *browser, method, raw string, form url.Values, origin, fetchSite string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, raw, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	if fetchSite != "" {
		req.Header.Set("Sec-Fetch-Site", fetchSite)
	}
	resp, err := br.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, raw, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestCSRFEveryStateChangingRoute takes every route the broker registers
// whose method can change state (everything but GET, HEAD and OPTIONS; not
// CONNECT or TRACE, which no page can make a browser send) and sends it
// cross-site, with the signed-in victim's cookies and without any cookie.
//
// Cookie delivery: each is refused with 403 before anything happens, sets
// no cookie, and the victim and another member are untouched. Code
// delivery: no route sets a cookie, and the HTML forms are refused too.
//
// The route list comes from the router itself, so a route added later is
// covered without touching this test.
func TestCSRFEveryStateChangingRoute(t *testing.T) {
	for _, mode := range []string{"cookie", "code"} {
		t.Run(mode, func(t *testing.T) {
			gh := providertest.NewGitHub(t)
			b := startBroker(t, append(gh.Env(), "TOKEN_DELIVERY="+mode, "ADMIN_EMAILS=victim@example.com")...)

			// The victim is an admin signed in in this browser; the target is
			// another member with a live session.
			victim, target := newBrowser(t), newBrowser(t)
			var victimToken, targetToken string
			if mode == "cookie" {
				cookieLogin(t, b, victim, "victim@example.com")
				cookieLogin(t, b, target, "target@example.com")
			} else {
				victimToken = devLogin(t, b, "victim@example.com").AccessToken
				targetToken = devLogin(t, b, "target@example.com").AccessToken
			}
			_, victimID := meOf(t, b, victim, victimToken)
			st, targetID := meOf(t, b, target, targetToken)
			if st != http.StatusOK || victimID == "" || targetID == "" {
				t.Fatalf("set-up: /auth/me %d, victim %q, target %q", st, victimID, targetID)
			}
			var sessions struct {
				Sessions []struct {
					ID string `json:"id"`
				} `json:"sessions"`
			}
			req, _ := http.NewRequest(http.MethodGet, b.URL+"/auth/sessions", nil)
			if targetToken != "" {
				req.Header.Set("Authorization", "Bearer "+targetToken)
			}
			resp, err := target.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = json.NewDecoder(resp.Body).Decode(&sessions)
			resp.Body.Close()
			if len(sessions.Sessions) != 1 {
				t.Fatalf("target sessions: %+v", sessions)
			}

			fill := strings.NewReplacer(":provider", "github", ":id", targetID, ":sid", sessions.Sessions[0].ID, ":subject", "1", "*", "x")
			form := url.Values{
				"grant_type":   {"refresh_token"},
				"access_token": {gh.IssueAccessToken(gh.User())}, // a real GitHub token: the native path would sign in
				"token":        {"x"},
				"scope":        {"global"},
				"action":       {"disable"},
				"email":        {"attacker@example.com"},
				"state":        {"s"},
			}

			tested := 0
			for _, r := range b.App.Handler.(*echo.Echo).Routes() {
				switch {
				case r.Method == http.MethodGet, r.Method == http.MethodHead, r.Method == http.MethodOptions,
					r.Method == http.MethodConnect, r.Method == http.MethodTrace, strings.HasPrefix(r.Method, "echo_"):
					continue
				}
				page := strings.HasPrefix(r.Path, "/admin") && !strings.HasPrefix(r.Path, "/admin/api") || r.Path == "/auth/dev/authorize"
				// Introspection is read-only and needs the introspection
				// secret; outside the CSRF rule, it must still fail here.
				readOnly := r.Path == "/auth/introspect"
				raw := b.URL + fill.Replace(r.Path)
				for _, who := range []struct {
					name              string
					br                *browser
					origin, fetchSite string
				}{
					{"with the victim's cookies", victim, "https://evil.example", "cross-site"},
					{"without cookies", newBrowser(t), "https://evil.example", "cross-site"},
					{"from a sibling subdomain", victim, "http://evil.app.test", "same-site"},
					{"with Origin null, no Sec-Fetch-Site", victim, "null", ""},
				} {
					resp, body := crossSite(t, who.br, r.Method, raw, form, who.origin, who.fetchSite)
					if len(resp.Cookies()) > 0 {
						t.Errorf("%s %s %s: sets cookies %v", r.Method, r.Path, who.name, resp.Cookies())
					}
					if readOnly && resp.StatusCode < 400 {
						t.Errorf("%s %s %s: %d", r.Method, r.Path, who.name, resp.StatusCode)
					}
					if (mode == "cookie" || page) && !readOnly && resp.StatusCode != http.StatusForbidden {
						t.Errorf("%s %s %s: %d, want 403: %.200s", r.Method, r.Path, who.name, resp.StatusCode, body)
					}
				}
				tested++
			}
			if tested < 15 {
				t.Fatalf("only %d state-changing routes found", tested)
			}
			t.Logf("%d state-changing routes sent cross-site", tested)

			// Nothing happened to anyone.
			if st, id := meOf(t, b, victim, victimToken); st != http.StatusOK || id != victimID {
				t.Fatalf("victim's session after the attack: %d %q", st, id)
			}
			if st, id := meOf(t, b, target, targetToken); st != http.StatusOK || id != targetID {
				t.Fatalf("target's session after the attack: %d %q", st, id)
			}
			page, err := b.App.AdminService().List(t.Context(), memberQuery())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range page.Members {
				// In code mode a cross-site post of a provider token signs its
				// owner in without any effect on the browser (nothing is set,
				// the answer is unreadable): that needs the token, not CSRF.
				if m.Status != "active" || m.Email == "attacker@example.com" || (mode == "cookie" && m.Email == gh.User().Email) {
					t.Fatalf("member changed or created by a cross-site request: %+v", m)
				}
			}

			if mode == "cookie" {
				// The same native sign-in from the app itself (the header, an
				// allowed origin) does set the cookies: the refusals above are
				// the CSRF rule, not a broken route.
				req, _ := http.NewRequest(http.MethodPost, b.URL+"/auth/github/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", "http://app.test")
				req.Header.Set("X-AuthBroker-CSRF", "1")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || len(resp.Cookies()) == 0 {
					t.Fatalf("native sign-in from the app: %d, cookies %v", resp.StatusCode, resp.Cookies())
				}
			}
		})
	}
}
