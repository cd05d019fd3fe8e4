package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authbroker/authbroker/providers/providertest"
)

// TestLoginEveryProvider drives the full browser flow for each provider
// against its fake: start → provider → callback → one-time code exchange,
// and checks the access token verifies through JWKS with sub = the member.
func TestLoginEveryProvider(t *testing.T) {
	fakes := map[string]func(t *testing.T) *providertest.Server{
		"google": func(t *testing.T) *providertest.Server { return providertest.NewGoogle(t) },
		"github": func(t *testing.T) *providertest.Server { return providertest.NewGitHub(t) },
		"kakao":  func(t *testing.T) *providertest.Server { return providertest.NewKakao(t) },
		"naver":  func(t *testing.T) *providertest.Server { return providertest.NewNaver(t) },
		"oidc":   func(t *testing.T) *providertest.Server { return providertest.NewOIDC(t) },
	}
	for name, mk := range fakes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := mk(t)
			b := startBroker(t, f.Env()...)
			tr := b.login(t, newBrowser(t), name, fakeSignIn(t))
			c := b.verifyFromJWKS(t, tr.AccessToken)
			if c.Subject != tr.Member.ID || tr.Member.ID == "" {
				t.Fatalf("sub %q, member %q", c.Subject, tr.Member.ID)
			}
			var me struct {
				ID         string `json:"id"`
				Identities []struct {
					Provider string `json:"provider"`
					Subject  string `json:"subject"`
				} `json:"identities"`
			}
			if st, _ := getJSON(t, b.URL+"/auth/me", tr.AccessToken, &me); st != http.StatusOK {
				t.Fatalf("/auth/me: %d", st)
			}
			if me.ID != c.Subject || len(me.Identities) != 1 || me.Identities[0].Provider != name || me.Identities[0].Subject != f.User().ID {
				t.Fatalf("/auth/me = %+v", me)
			}
			// PKCE went to providers that support it; state always.
			tok := f.LastRequest(t, providertest.Token)
			if name != "naver" && tok.Form.Get("code_verifier") == "" {
				t.Fatalf("%s: no PKCE verifier on the token request", name)
			}
			// A second login of the same identity is the same member.
			tr2 := b.login(t, newBrowser(t), name, fakeSignIn(t))
			if tr2.Member.ID != tr.Member.ID {
				t.Fatalf("second login created member %s, want %s", tr2.Member.ID, tr.Member.ID)
			}
		})
	}
	t.Run("dev", func(t *testing.T) {
		t.Parallel()
		b := startBroker(t)
		br := newBrowser(t)
		tr := b.login(t, br, "dev", devSignIn(t, br, "grace@example.com", "Grace Hopper"))
		c := b.verifyFromJWKS(t, tr.AccessToken)
		if c.Subject != tr.Member.ID || tr.Member.Email != "grace@example.com" || tr.Member.Name != "Grace Hopper" {
			t.Fatalf("claims %+v member %+v", c, tr.Member)
		}
	})
}

// TestLoginRejections: each attack or failure is refused, creates nothing,
// and fails if its defence is removed.
func TestLoginRejections(t *testing.T) {
	g := providertest.NewGoogle(t)
	b := startBroker(t, g.Env()...)

	startAt := func(br *browser, provider string) *url.URL {
		start, _ := b.startURL(provider, nil)
		resp, body := br.get(start)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("start: %d %s", resp.StatusCode, body)
		}
		return location(t, resp)
	}
	memberCount := func() int {
		page, err := b.App.AdminService().List(t.Context(), memberQuery())
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Members)
	}

	t.Run("state replayed", func(t *testing.T) {
		br := newBrowser(t)
		cb := providertest.SignIn(t, startAt(br, "google").String())
		if resp, _ := br.get(cb.String()); resp.StatusCode != http.StatusFound {
			t.Fatalf("first callback: %d", resp.StatusCode)
		}
		resp, body := br.get(cb.String())
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already used") {
			t.Fatalf("replayed callback: %d", resp.StatusCode)
		}
	})
	t.Run("state from another browser", func(t *testing.T) {
		before := memberCount()
		g.SetUser(providertest.User{ID: "other-browser-1", Email: "victim@example.com", EmailVerified: true, Name: "V"})
		attacker := newBrowser(t)
		cb := providertest.SignIn(t, startAt(attacker, "google").String())
		victim := newBrowser(t)
		resp, body := victim.get(cb.String())
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "another browser") {
			t.Fatalf("callback in another browser: %d", resp.StatusCode)
		}
		if memberCount() != before {
			t.Fatal("a member was created")
		}
	})
	t.Run("state unknown", func(t *testing.T) {
		resp, _ := newBrowser(t).get(b.URL + "/auth/google/callback?code=x&state=" + strings.Repeat("A", 43))
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("unknown state: %d", resp.StatusCode)
		}
	})
	t.Run("state for another provider (mix-up)", func(t *testing.T) {
		br := newBrowser(t)
		cb := providertest.SignIn(t, startAt(br, "google").String())
		mixed := b.URL + "/auth/dev/callback?" + cb.RawQuery
		if resp, _ := br.get(mixed); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("mix-up: %d", resp.StatusCode)
		}
	})
	t.Run("open redirect refused, nothing stored", func(t *testing.T) {
		for _, rt := range []string{"https://evil.example/callback", "http://app.test.evil.example/callback", "http://app.test/callbackx", "//evil.example"} {
			resp, _ := newBrowser(t).get(b.URL + "/auth/google?return_to=" + url.QueryEscape(rt))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("return_to %s: %d", rt, resp.StatusCode)
			}
			if len(resp.Cookies()) != 0 || resp.Header.Get("Location") != "" {
				t.Fatalf("return_to %s: stored something", rt)
			}
		}
	})
	t.Run("unknown provider: 404", func(t *testing.T) {
		if resp, _ := newBrowser(t).get(b.URL + "/auth/myspace"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown provider: %d", resp.StatusCode)
		}
	})
	t.Run("PKCE mismatch at the code exchange", func(t *testing.T) {
		br := newBrowser(t)
		_, challenge := pkce()
		resp, _ := br.get(b.URL + "/auth/google?" + url.Values{"return_to": {spaReturn}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode())
		resp, _ = br.get(providertest.SignIn(t, location(t, resp).String()).String())
		code := location(t, resp).Query().Get("code")
		wrong := strings.Repeat("w", 43)
		st, tr, _ := postJSON(t, b.URL+"/auth/token", map[string]string{"grant_type": "authorization_code", "code": code, "code_verifier": wrong}, "")
		if st != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Fatalf("wrong verifier: %d %s", st, tr.Error)
		}
		// The code was single use: even the right verifier cannot retry it.
		st, tr, _ = postJSON(t, b.URL+"/auth/token", map[string]string{"grant_type": "authorization_code", "code": code, "code_verifier": strings.Repeat("v", 43)}, "")
		if st != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Fatalf("code reused: %d %s", st, tr.Error)
		}
	})
	t.Run("plain PKCE method refused", func(t *testing.T) {
		resp, _ := newBrowser(t).get(b.URL + "/auth/google?" + url.Values{"return_to": {spaReturn}, "code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"plain"}}.Encode())
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain: %d", resp.StatusCode)
		}
	})
	for _, tc := range []struct {
		name    string
		forgery providertest.Forgery
	}{
		{"nonce mismatch", providertest.WrongNonce},
		{"forged id_token signature", providertest.BadSignature},
		{"id_token for another audience", providertest.WrongAudience},
		{"expired id_token", providertest.Expired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := memberCount()
			g.SetUser(providertest.User{ID: "forged-" + tc.name, Email: "forged@example.com", EmailVerified: true})
			g.ForgeIDTokens(tc.forgery)
			defer g.ForgeIDTokens(providertest.Honest)
			br := newBrowser(t)
			resp, body := br.get(providertest.SignIn(t, startAt(br, "google").String()).String())
			if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "provider_error") {
				t.Fatalf("%s: %d", tc.name, resp.StatusCode)
			}
			if memberCount() != before {
				t.Fatal("a member was created")
			}
		})
	}
	t.Run("consent denied goes back to the app with the error", func(t *testing.T) {
		g.Fail(providertest.Authorize, providertest.Fault{Code: "access_denied", Description: "The user denied access"})
		defer g.Reset()
		br := newBrowser(t)
		resp, _ := br.get(providertest.SignIn(t, startAt(br, "google").String()).String())
		back := location(t, resp)
		if !strings.HasPrefix(back.String(), spaReturn) || back.Query().Get("error") != "access_denied" || back.Query().Get("code") != "" {
			t.Fatalf("denied: %s", back)
		}
	})
}

// TestProviderQuirksEndToEnd: Naver's HTTP-200 error and Kakao without email.
func TestProviderQuirksEndToEnd(t *testing.T) {
	t.Run("naver: HTTP 200 error from the token endpoint is an error page", func(t *testing.T) {
		n := providertest.NewNaver(t)
		b := startBroker(t, n.Env()...)
		n.Fail(providertest.Token, providertest.Fault{Status: http.StatusOK, Code: "invalid_request", Description: "no valid data in session"})
		br := newBrowser(t)
		start, _ := b.startURL("naver", nil)
		resp, _ := br.get(start)
		resp, body := br.get(providertest.SignIn(t, location(t, resp).String()).String())
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "provider_error") {
			t.Fatalf("naver 200 error: %d", resp.StatusCode)
		}
	})
	t.Run("kakao: no email still signs in", func(t *testing.T) {
		k := providertest.NewKakao(t)
		k.SetUser(providertest.User{ID: "4242424242", Name: "무명"})
		b := startBroker(t, k.Env()...)
		tr := b.login(t, newBrowser(t), "kakao", fakeSignIn(t))
		if tr.Member.ID == "" || tr.Member.Email != "" || tr.Member.Name != "무명" {
			t.Fatalf("member %+v", tr.Member)
		}
	})
	t.Run("provider timeout is an error page", func(t *testing.T) {
		gh := providertest.NewGitHub(t)
		b := startBroker(t, append(gh.Env(), "PROVIDER_TIMEOUT=300ms")...)
		gh.Fail(providertest.Token, providertest.Fault{Delay: 2e9})
		br := newBrowser(t)
		start, _ := b.startURL("github", nil)
		resp, _ := br.get(start)
		resp, _ = br.get(providertest.SignIn(t, location(t, resp).String()).String())
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("timeout: %d", resp.StatusCode)
		}
	})
}
