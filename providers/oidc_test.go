package providers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/providers/providertest"
)

func newGoogle(t *testing.T, fake *providertest.Server, o providers.Options) *providers.OIDC {
	t.Helper()
	p, err := providers.NewGoogle(fake.Provider(), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGoogleLogin(t *testing.T) {
	fake := providertest.NewGoogle(t)
	p := newGoogle(t, fake, testOptions())

	prof, f := mustLogin(t, p)
	want := fake.User()
	if prof.Provider != "google" || prof.Subject != want.ID || prof.Email != want.Email || !prof.EmailVerified || prof.Name != want.Name || prof.AvatarURL != want.Picture {
		t.Fatalf("profile = %+v, want user %+v", prof, want)
	}
	var claims map[string]any
	if err := json.Unmarshal(prof.Raw, &claims); err != nil || claims["sub"] != want.ID {
		t.Fatalf("Raw = %s, want the id_token claims", prof.Raw)
	}

	auth := fake.LastRequest(t, providertest.Authorize)
	for k, v := range map[string]string{"scope": "openid email profile", "nonce": f.nonce, "code_challenge_method": "S256", "state": f.state} {
		if got := auth.Query.Get(k); got != v {
			t.Errorf("authorize %s = %q, want %q", k, got, v)
		}
	}
	tok := fake.LastRequest(t, providertest.Token)
	if tok.Form.Get("code_verifier") != f.verifier {
		t.Errorf("token request code_verifier = %q, want the login's verifier", tok.Form.Get("code_verifier"))
	}
	if !tok.HasBasic || tok.Form.Get("client_secret") != "" {
		t.Errorf("token request should use client_secret_basic (advertised by discovery), got basic=%v form=%v", tok.HasBasic, tok.Form)
	}
	if tok.Form.Get("redirect_uri") != brokerURL+"/auth/google/callback" {
		t.Errorf("redirect_uri = %q", tok.Form.Get("redirect_uri"))
	}
}

// TestGoogleIDTokenRefused: every id_token check is a rule; each case fails
// if the check it names is removed.
func TestGoogleIDTokenRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		forgery providertest.Forgery
	}{
		{"google: nonce mismatch refused", providertest.WrongNonce},
		{"google: foreign audience refused", providertest.WrongAudience},
		{"google: forged signature refused", providertest.BadSignature},
		{"google: expired refused", providertest.Expired},
		{"google: foreign issuer refused", providertest.WrongIssuer},
		{"google: at_hash of another access token refused", providertest.WrongAccessTokenHash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := providertest.NewGoogle(t)
			o := testOptions()
			p := newGoogle(t, fake, o)
			fake.ForgeIDTokens(tc.forgery)
			_, _, err := login(t, p)
			wantInvalidToken(t, err)
			if msg, _ := o.Recorder.Last("google"); msg == "" {
				t.Error("a refused id_token from the token endpoint should be recorded for the admin status")
			}
		})
	}
}

func TestGoogleUnverifiedEmailStaysUnverified(t *testing.T) {
	fake := providertest.NewGoogle(t)
	u := fake.User()
	u.EmailVerified = false
	fake.SetUser(u)
	prof, _ := mustLogin(t, newGoogle(t, fake, testOptions()))
	if prof.Email != u.Email || prof.EmailVerified {
		t.Fatalf("profile = %+v, want email kept unverified", prof)
	}
}

func TestGoogleNativeIDToken(t *testing.T) {
	fake := providertest.NewGoogle(t)
	p := newGoogle(t, fake, testOptions())
	u := fake.User()
	ctx := context.Background()

	prof, err := p.VerifyIDToken(ctx, fake.IDToken(t, u, "app-nonce", providertest.Honest), "app-nonce")
	if err != nil || prof.Subject != u.ID || !prof.EmailVerified {
		t.Fatalf("VerifyIDToken = %+v, %v", prof, err)
	}
	if _, err := p.VerifyIDToken(ctx, fake.IDToken(t, u, "app-nonce", providertest.Honest), ""); err != nil {
		t.Fatalf("without a nonce to compare, a valid token is accepted: %v", err)
	}
	for _, tc := range []struct {
		name     string
		forgery  providertest.Forgery
		tokNonce string
		nonce    string
	}{
		{"google native: nonce mismatch refused", providertest.Honest, "app-nonce", "another-nonce"},
		{"google native: missing nonce refused", providertest.Honest, "", "expected"},
		{"google native: foreign audience refused", providertest.WrongAudience, "", ""},
		{"google native: forged signature refused", providertest.BadSignature, "", ""},
		{"google native: expired refused", providertest.Expired, "", ""},
		{"google native: foreign issuer refused", providertest.WrongIssuer, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.VerifyIDToken(ctx, fake.IDToken(t, u, tc.tokNonce, tc.forgery), tc.nonce)
			wantInvalidToken(t, err)
		})
	}
}

func TestGoogleIsNotAnAccessTokenProfiler(t *testing.T) {
	var p providers.Provider = newGoogle(t, providertest.NewGoogle(t), testOptions())
	if _, ok := p.(providers.AccessTokenProfiler); ok {
		t.Fatal("google must not accept bare access tokens (token substitution); native apps send id_tokens")
	}
}

func TestOIDCDiscoveryIsLazyCachedAndRetried(t *testing.T) {
	fake := providertest.NewOIDC(t)
	clk := newClock()
	o := testOptions()
	o.Now = clk.Now
	o.DiscoveryRetry = time.Minute
	fake.Fail(providertest.Discovery, providertest.Fault{Status: 503})

	p, err := providers.NewOIDC(fake.Provider(), o)
	if err != nil {
		t.Fatal(err)
	}
	if n := fake.Count(providertest.Discovery); n != 0 {
		t.Fatalf("construction fetched discovery %d times; it must be lazy", n)
	}

	// Unreachable: AuthCodeURL fails (the login start answers it) rather
	// than sending the browser anywhere.
	if u, err := p.AuthCodeURL(t.Context(), providers.AuthRequest{State: "s"}); err == nil || u != "" {
		t.Fatalf("AuthCodeURL with discovery down = %q, %v; want an error", u, err)
	}
	if msg, at := o.Recorder.Last("oidc"); !strings.Contains(msg, "discovery") || at.IsZero() {
		t.Errorf("recorded failure = %q at %v, want the discovery error", msg, at)
	}

	// Within the backoff nothing is fetched again.
	fake.Reset()
	_, _ = p.AuthCodeURL(t.Context(), providers.AuthRequest{State: "s"})
	if n := fake.Count(providertest.Discovery); n != 1 {
		t.Fatalf("discovery fetched %d times within the backoff, want 1", n)
	}

	// After it, discovery is retried, succeeds and is cached.
	clk.Advance(2 * time.Minute)
	mustLogin(t, p)
	mustLogin(t, p)
	if n := fake.Count(providertest.Discovery); n != 2 {
		t.Fatalf("discovery fetched %d times, want 2 (one failure, one success then cached)", n)
	}
}

func TestOIDCEmailVerifiedHonoured(t *testing.T) {
	for _, verified := range []bool{true, false} {
		fake := providertest.NewOIDC(t)
		u := fake.User()
		u.EmailVerified = verified
		fake.SetUser(u)
		p, err := providers.NewOIDC(fake.Provider(), testOptions())
		if err != nil {
			t.Fatal(err)
		}
		prof, _ := mustLogin(t, p)
		if prof.EmailVerified != verified || prof.Email != u.Email {
			t.Errorf("email_verified=%v: profile %+v", verified, prof)
		}
		if p.DisplayName() != "Fake SSO" || p.Name() != "oidc" {
			t.Errorf("name %q display %q", p.Name(), p.DisplayName())
		}
	}
}

func TestOIDCEmailFromUserInfo(t *testing.T) {
	fake := providertest.NewOIDC(t)
	u := fake.User()
	u.EmailOnlyInUserInfo = true
	fake.SetUser(u)
	p, err := providers.NewOIDC(fake.Provider(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	prof, _ := mustLogin(t, p)
	if prof.Email != u.Email || !prof.EmailVerified {
		t.Fatalf("profile = %+v, want the email from UserInfo", prof)
	}
	if fake.Count(providertest.UserInfo) != 1 {
		t.Fatal("UserInfo was not asked")
	}
}

func TestOIDCPublicClient(t *testing.T) {
	fake := providertest.NewOIDC(t, providertest.WithoutSecret())
	p, err := providers.NewOIDC(fake.Provider(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	mustLogin(t, p)
	tok := fake.LastRequest(t, providertest.Token)
	if tok.HasBasic || tok.Form.Get("client_id") != fake.ClientID {
		t.Fatalf("a client without secret sends client_id as a parameter: basic=%v form=%v", tok.HasBasic, tok.Form)
	}
}

func TestOIDCRequiresIssuer(t *testing.T) {
	cfg := providertest.NewOIDC(t).Provider()
	cfg.Issuer = ""
	if _, err := providers.NewOIDC(cfg, testOptions()); err == nil {
		t.Fatal("an OIDC provider without issuer was built")
	}
	if m := providers.OIDCType().Missing(cfg); !slices.Equal(m, []string{providers.FieldIssuer}) {
		t.Fatalf("missing %v, want the issuer", m)
	}
	cfg.Name = "oidc"
	reg := newRegistry(t, providers.Setup{Env: []providers.Configured{{Type: "oidc", Settings: cfg, Enabled: true}}})
	for _, st := range reg.Statuses() {
		if st.Name == "oidc" && (st.Live || !slices.Equal(st.Missing, []string{"OIDC_ISSUER"})) {
			t.Fatalf("status %+v, want off naming OIDC_ISSUER", st)
		}
	}
}

// TestOIDCDiscoveryHTTPSOnly: in production (HTTPSOnly) a discovery
// document naming a plain-http endpoint is refused, as a configured http
// endpoint is; loopback (a local issuer, the fakes) passes.
func TestOIDCDiscoveryHTTPSOnly(t *testing.T) {
	var issuer string
	doc := func(tokenURL string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"issuer": issuer, "authorization_endpoint": issuer + "/authorize", "token_endpoint": tokenURL,
				"jwks_uri": issuer + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"},
			})
		})
	}
	for _, tc := range []struct {
		name      string
		tokenURL  func() string
		httpsOnly bool
		ok        bool
	}{
		{"http token endpoint refused in production", func() string { return "http://idp.example/token" }, true, false},
		{"http token endpoint allowed in development", func() string { return "http://idp.example/token" }, false, true},
		{"loopback http allowed in production", func() string { return issuer + "/token" }, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Handler
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
			defer srv.Close()
			issuer = srv.URL
			h = doc(tc.tokenURL())
			o := testOptions()
			o.HTTPSOnly = tc.httpsOnly
			p, err := providers.NewOIDC(providers.Settings{ClientID: "c", ClientSecret: "s", Issuer: issuer}, o)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Discover(t.Context())
			if (err == nil) != tc.ok {
				t.Fatalf("Discover: %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && !strings.Contains(err.Error(), "http://idp.example/token") {
				t.Fatalf("error does not name the endpoint: %v", err)
			}
		})
	}
}
