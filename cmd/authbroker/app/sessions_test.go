package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// spaBack is where the broker sent the browser after a login, with the
// PKCE verifier of the tab that started it.
type spaBack struct {
	*url.URL
	verifier string
}

// devStart runs a dev sign-in up to the callback's redirect and returns
// where the broker sent the browser.
func devStart(t *testing.T, b *broker, email string, extra url.Values) spaBack {
	t.Helper()
	br := newBrowser(t)
	start, verifier := b.startURL("dev", extra)
	resp, _ := br.get(start)
	cb := devSignIn(t, br, email, "Policy")(location(t, resp).String())
	resp, _ = br.get(cb.String())
	return spaBack{location(t, resp), verifier}
}

func redeem(t *testing.T, b *broker, back spaBack) tokenResponse {
	t.Helper()
	st, tr, _ := postJSON(t, b.URL+"/auth/token", map[string]string{"grant_type": "authorization_code", "code": back.Query().Get("code"), "code_verifier": back.verifier}, "")
	if st != http.StatusOK {
		t.Fatalf("redeem: %d %s", st, tr.Error)
	}
	return tr
}

func TestSessionPolicies(t *testing.T) {
	t.Run("single_confirm: a second login is refused unless forced, then the first session ends", func(t *testing.T) {
		b := startBroker(t, "SESSION_POLICY=single_confirm")
		first := redeem(t, b, devStart(t, b, "one@example.com", nil))
		back := devStart(t, b, "one@example.com", nil)
		if back.Query().Get("error") != "already_signed_in" || back.Query().Get("code") != "" {
			t.Fatalf("second login: %s", back)
		}
		if st, _ := getJSON(t, b.URL+"/auth/me", first.AccessToken, nil); st != http.StatusOK {
			t.Fatalf("first session after a refused second login: %d", st)
		}
		second := redeem(t, b, devStart(t, b, "one@example.com", url.Values{"force": {"true"}}))
		if st, _ := getJSON(t, b.URL+"/auth/me", first.AccessToken, nil); st != http.StatusUnauthorized {
			t.Fatalf("first session after a forced login: %d", st)
		}
		if st, _ := getJSON(t, b.URL+"/auth/me", second.AccessToken, nil); st != http.StatusOK {
			t.Fatalf("forced session: %d", st)
		}
	})
	t.Run("single: a new login ends the others", func(t *testing.T) {
		b := startBroker(t, "SESSION_POLICY=single")
		first := redeem(t, b, devStart(t, b, "two@example.com", nil))
		redeem(t, b, devStart(t, b, "two@example.com", nil))
		if st, _ := refresh(t, b, first.RefreshToken); st != http.StatusBadRequest {
			t.Fatalf("first session's refresh after a new login: %d", st)
		}
	})
	t.Run("multiple: sessions coexist; list marks the current one; delete ends another", func(t *testing.T) {
		b := startBroker(t)
		a := devLogin(t, b, "three@example.com")
		c := devLogin(t, b, "three@example.com")
		var out struct {
			Sessions []struct {
				ID        string `json:"id"`
				Current   bool   `json:"current"`
				IP        string `json:"ip"`
				UserAgent string `json:"user_agent"`
			} `json:"sessions"`
		}
		if st, _ := getJSON(t, b.URL+"/auth/sessions", a.AccessToken, &out); st != http.StatusOK || len(out.Sessions) != 2 {
			t.Fatalf("sessions: %d %+v", st, out)
		}
		var other string
		current := 0
		for _, s := range out.Sessions {
			if s.IP == "" || s.UserAgent == "" {
				t.Fatalf("session without device info: %+v", s)
			}
			if s.Current {
				current++
			} else {
				other = s.ID
			}
		}
		if current != 1 {
			t.Fatalf("%d sessions marked current, want exactly 1", current)
		}
		if st, _, _ := doJSON(t, "DELETE", b.URL+"/auth/sessions/"+other, a.AccessToken, ""); st != http.StatusNoContent {
			t.Fatalf("delete other session: %d", st)
		}
		if st, _ := getJSON(t, b.URL+"/auth/me", c.AccessToken, nil); st != http.StatusUnauthorized {
			t.Fatalf("deleted session's token: %d", st)
		}
		// Another member's session id is not found, not deleted.
		x := devLogin(t, b, "stranger@example.com")
		var xs struct {
			Sessions []struct {
				ID string `json:"id"`
			} `json:"sessions"`
		}
		getJSON(t, b.URL+"/auth/sessions", x.AccessToken, &xs)
		if st, _, _ := doJSON(t, "DELETE", b.URL+"/auth/sessions/"+xs.Sessions[0].ID, a.AccessToken, ""); st != http.StatusNotFound {
			t.Fatalf("deleting another member's session: %d", st)
		}
	})
	t.Run("logout others keeps this session", func(t *testing.T) {
		b := startBroker(t)
		a := devLogin(t, b, "four@example.com")
		c := devLogin(t, b, "four@example.com")
		if st, _, _ := doJSON(t, "POST", b.URL+"/auth/logout", a.AccessToken, `{"scope":"others"}`); st != http.StatusNoContent {
			t.Fatalf("logout others: %d", st)
		}
		if st, _ := getJSON(t, b.URL+"/auth/me", a.AccessToken, nil); st != http.StatusOK {
			t.Fatalf("own session after logout others: %d", st)
		}
		if st, _ := getJSON(t, b.URL+"/auth/me", c.AccessToken, nil); st != http.StatusUnauthorized {
			t.Fatalf("other session after logout others: %d", st)
		}
	})
}

// TestRevokeAndIntrospect: RFC 7009 and RFC 7662.
func TestRevokeAndIntrospect(t *testing.T) {
	b := startBroker(t, "INTROSPECT_SECRET=s3cret-for-resource-servers")
	introspect := func(tok, secret string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", b.URL+"/auth/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if secret != "" {
			req.SetBasicAuth("api", secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	revoke := func(tok string) int {
		resp, err := http.PostForm(b.URL+"/auth/revoke", url.Values{"token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	a := devLogin(t, b, "introspect@example.com")
	if st, _ := introspect(a.AccessToken, ""); st != http.StatusUnauthorized {
		t.Fatalf("introspect without credentials: %d", st)
	}
	if st, _ := introspect(a.AccessToken, "wrong"); st != http.StatusUnauthorized {
		t.Fatalf("introspect with a wrong secret: %d", st)
	}
	st, out := introspect(a.AccessToken, "s3cret-for-resource-servers")
	if st != http.StatusOK || out["active"] != true || out["sub"] != a.Member.ID {
		t.Fatalf("introspect: %d %v", st, out)
	}
	if _, out := introspect(a.RefreshToken, "s3cret-for-resource-servers"); out["active"] != false {
		t.Fatalf("a refresh token introspected as active: %v", out)
	}
	if _, out := introspect("garbage", "s3cret-for-resource-servers"); out["active"] != false {
		t.Fatalf("garbage introspected: %v", out)
	}
	// Revoking the refresh token ends the session: refresh and access stop.
	if st := revoke(a.RefreshToken); st != http.StatusOK {
		t.Fatalf("revoke: %d", st)
	}
	if st, _ := refresh(t, b, a.RefreshToken); st != http.StatusBadRequest {
		t.Fatalf("refresh after revoke: %d", st)
	}
	if _, out := introspect(a.AccessToken, "s3cret-for-resource-servers"); out["active"] != false {
		t.Fatalf("access token of a revoked session is active: %v", out)
	}
	// Unknown tokens: still 200 (RFC 7009 §2.2), and nothing else changes.
	c := devLogin(t, b, "introspect@example.com")
	if st := revoke("not-a-token"); st != http.StatusOK {
		t.Fatalf("revoke garbage: %d", st)
	}
	if st := revoke(c.RefreshToken[:23] + strings.Repeat("A", 43)); st != http.StatusOK {
		t.Fatalf("revoke a forged token for a real session: %d", st)
	}
	if st, _ := refresh(t, b, c.RefreshToken); st != http.StatusOK {
		t.Fatalf("a forged revoke ended a real session: %d", st)
	}
}

// TestBadInputChangesNothing: oversized and malformed bodies get RFC 6749
// errors and the session is untouched.
func TestBadInputChangesNothing(t *testing.T) {
	b := startBroker(t)
	a := devLogin(t, b, "badinput@example.com")
	cases := []struct {
		name, ct, body string
		status         int
		code           string
	}{
		{"oversized body", "application/json", `{"grant_type":"refresh_token","refresh_token":"` + strings.Repeat("a", 100<<10) + `"}`, http.StatusRequestEntityTooLarge, "invalid_request"},
		{"malformed JSON", "application/json", `{"grant_type":`, http.StatusBadRequest, "invalid_request"},
		{"wrong content type", "text/plain", "grant_type=refresh_token", http.StatusBadRequest, "invalid_request"},
		{"missing grant_type", "application/json", `{}`, http.StatusBadRequest, "invalid_request"},
		{"unsupported grant", "application/json", `{"grant_type":"password","username":"a","password":"b"}`, http.StatusBadRequest, "unsupported_grant_type"},
		{"access token as refresh token", "application/json", `{"grant_type":"refresh_token","refresh_token":"` + a.AccessToken + `"}`, http.StatusBadRequest, "invalid_grant"},
		{"missing code", "application/json", `{"grant_type":"authorization_code"}`, http.StatusBadRequest, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(b.URL+"/auth/token", tc.ct, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				Error string `json:"error"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&out)
			if resp.StatusCode != tc.status || out.Error != tc.code {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, out.Error, tc.status, tc.code)
			}
		})
	}
	if st, _ := refresh(t, b, a.RefreshToken); st != http.StatusOK {
		t.Fatalf("session after bad input: %d", st)
	}
}
