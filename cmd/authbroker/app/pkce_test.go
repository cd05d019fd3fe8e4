package app_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
)

// TestPKCERequired: code delivery has no client authentication, so every
// redeemer is a public client and S256 PKCE is required (RFC 9700 §2.1.1):
// a start that would end in a code needs a challenge, a redemption needs
// the verifier, and a code without a challenge is never redeemed.
func TestPKCERequired(t *testing.T) {
	b := startBroker(t)

	t.Run("start without code_challenge refused, nothing stored", func(t *testing.T) {
		for _, start := range []string{
			b.URL + "/auth/dev?" + url.Values{"return_to": {spaReturn}}.Encode(),
			b.URL + "/?" + url.Values{"return_to": {spaReturn}}.Encode(), // the login page refuses before a provider is picked
		} {
			resp, body := newBrowser(t).get(start)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "code_challenge") {
				t.Fatalf("%s: %d", start, resp.StatusCode)
			}
			if len(resp.Cookies()) != 0 || resp.Header.Get("Location") != "" {
				t.Fatalf("%s: stored something", start)
			}
		}
	})
	t.Run("redemption without the verifier refused; the code stays usable", func(t *testing.T) {
		back := devStart(t, b, "pkce@example.com", nil)
		code := back.Query().Get("code")
		st, tr, _ := postJSON(t, b.URL+"/auth/token", map[string]string{"grant_type": "authorization_code", "code": code}, "")
		if st != http.StatusBadRequest || tr.Error != "invalid_request" {
			t.Fatalf("no verifier: %d %s", st, tr.Error)
		}
		redeem(t, b, back)
	})
	t.Run("a code issued without a challenge is refused (downgrade)", func(t *testing.T) {
		// Such a code can no longer be issued; one from before PKCE was
		// required (or injected into the store) must not sign anyone in.
		member := devLogin(t, b, "legacy@example.com").Member.ID
		db, err := sqlstore.Open(t.Context(), b.Config.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		const code = "a-code-from-before-pkce-was-required-000000"
		sum := sha256.Sum256([]byte(code))
		if err := db.PutCode(t.Context(), hex.EncodeToString(sum[:]), store.Code{MemberID: member, Provider: "dev", CreatedAt: time.Now().UTC()}, time.Minute); err != nil {
			t.Fatal(err)
		}
		verifier, _ := pkce()
		for _, v := range []string{"", verifier} {
			st, tr, _ := postJSON(t, b.URL+"/auth/token", map[string]string{"grant_type": "authorization_code", "code": code, "code_verifier": v}, "")
			if st != http.StatusBadRequest || tr.AccessToken != "" {
				t.Fatalf("code without a challenge, verifier %q: %d %s", v, st, tr.Error)
			}
		}
	})
	t.Run("cookie delivery starts without a challenge (no code is delivered)", func(t *testing.T) {
		cb := startBroker(t, "TOKEN_DELIVERY=cookie")
		resp, body := newBrowser(t).get(cb.URL + "/auth/dev?" + url.Values{"return_to": {spaReturn}}.Encode())
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("cookie-mode start: %d %s", resp.StatusCode, body)
		}
	})
}

// adminStart runs the admin page's sign-in in br up to the redirect to
// /admin/callback and returns that URL (the admin code in its query).
func adminStart(t *testing.T, b *broker, br *browser, email string) *url.URL {
	t.Helper()
	resp, _ := br.get(b.URL + "/admin/login/dev")
	start := location(t, resp)
	if start.Query().Get("code_challenge") == "" || start.Query().Get("return_to") != b.URL+"/admin/callback" {
		t.Fatalf("admin sign-in starts at %s, want a PKCE start returning to /admin/callback", start)
	}
	resp, _ = br.get(b.URL + start.RequestURI())
	cb := devSignIn(t, br, email, "Admin")(location(t, resp).String())
	resp, body := br.get(cb.String())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d %s", resp.StatusCode, body)
	}
	return location(t, resp)
}

// TestCodesBoundToTheirReturn: a login code redeems only where its login
// was going: an app's code never opens the admin page, an admin code never
// yields an app's tokens, even to someone who holds the matching verifier.
func TestCodesBoundToTheirReturn(t *testing.T) {
	for _, mode := range []string{"code", "cookie"} {
		t.Run(mode, func(t *testing.T) {
			b := startBroker(t, "ADMIN_EMAILS=boss@example.com", "TOKEN_DELIVERY="+mode)
			t.Run("admin code at /auth/token refused", func(t *testing.T) {
				br := newBrowser(t)
				back := adminStart(t, b, br, "boss@example.com")
				if !strings.HasPrefix(back.String(), b.URL+"/admin/callback?") || back.Query().Get("code") == "" {
					t.Fatalf("admin login came back to %s", back)
				}
				u, _ := url.Parse(b.URL)
				var verifier string
				for _, c := range br.c.Jar.Cookies(u) {
					if c.Name == "ab_admin_pkce" {
						verifier = c.Value
					}
				}
				body := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "code_verifier": {verifier}}
				req, _ := http.NewRequest(http.MethodPost, b.URL+"/auth/token", strings.NewReader(body.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-AuthBroker-CSRF", "1") // cookie mode: as the app would send it
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest || len(resp.Cookies()) != 0 || verifier == "" {
					t.Fatalf("admin code at /auth/token: %d, cookies %v (verifier found: %v)", resp.StatusCode, resp.Cookies(), verifier != "")
				}
			})
			if mode != "code" {
				return
			}
			t.Run("app code at /admin/callback refused", func(t *testing.T) {
				back := devStart(t, b, "boss@example.com", nil)
				br := newBrowser(t)
				u, _ := url.Parse(b.URL)
				br.c.Jar.SetCookies(u, []*http.Cookie{{Name: "ab_admin_pkce", Value: back.verifier, Path: "/"}})
				resp, _ := br.get(b.URL + "/admin/callback?" + url.Values{"code": {back.Query().Get("code")}}.Encode())
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("app code at /admin/callback: %d", resp.StatusCode)
				}
				for _, c := range resp.Cookies() {
					if c.Name == "ab_admin_at" && c.Value != "" {
						t.Fatal("an app code opened an admin session")
					}
				}
			})
		})
	}
}
