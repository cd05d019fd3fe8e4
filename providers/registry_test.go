package providers_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/providers/providertest"
)

// registryFor builds a registry from the environment a fake describes.
func registryFor(t *testing.T, fakes ...*providertest.Server) *providers.Registry {
	t.Helper()
	env := []string{"BASE_URL=" + brokerURL, "DEV_LOGIN=false", "PROVIDER_TIMEOUT=3s"}
	for _, f := range fakes {
		env = append(env, f.Env()...)
	}
	cfg, err := config.FromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := providers.NewRegistry(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func names(ps []providers.Provider) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name())
	}
	return out
}

func TestRegistryEnablesConfiguredProvidersInOrder(t *testing.T) {
	env := []string{"BASE_URL=" + brokerURL}
	for _, f := range []*providertest.Server{
		providertest.NewOIDC(t), providertest.NewNaver(t), providertest.NewKakao(t), providertest.NewGitHub(t), providertest.NewGoogle(t),
	} {
		env = append(env, f.Env()...)
	}
	cfg, err := config.FromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := providers.NewRegistry(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"google", "github", "kakao", "naver", "oidc", "dev"}
	if got := names(reg.List()); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	for _, n := range want {
		p, ok := reg.Get(n)
		if !ok || p.Name() != n {
			t.Fatalf("Get(%q) = %v, %v", n, p, ok)
		}
		if _, ok := p.(providers.PKCESupporter); !ok {
			t.Errorf("%s does not say whether it takes PKCE", n)
		}
	}
	if _, ok := reg.Get("twitter"); ok {
		t.Fatal("unknown provider found")
	}
	if got := reg.CallbackURL("kakao"); got != brokerURL+"/auth/kakao/callback" {
		t.Fatalf("CallbackURL = %s", got)
	}
}

func TestRegistryOnlyEnabled(t *testing.T) {
	reg := registryFor(t, providertest.NewGitHub(t))
	if got := names(reg.List()); !slices.Equal(got, []string{"github"}) {
		t.Fatalf("List = %v, want only github", got)
	}
	if _, ok := reg.Get("google"); ok {
		t.Fatal("google is not configured")
	}
}

func TestRegistryDevNeverInProduction(t *testing.T) {
	on := true
	cfg := &config.Config{BaseURL: brokerURL, AppEnv: "production", DevLogin: &on, ProviderTimeout: time.Second}
	reg, err := providers.NewRegistry(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Get("dev"); ok {
		t.Fatal("the dev provider signs anyone in; it must not exist in production")
	}
	st := reg.Statuses()
	dev := st[len(st)-1]
	if dev.Name != "dev" || dev.Enabled || !slices.Equal(dev.Missing, []string{"APP_ENV"}) {
		t.Fatalf("dev status = %+v", dev)
	}
}

func TestRegistryRefusesIncompleteSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"registry: bad endpoint URL names the variable", []string{"KAKAO_CLIENT_ID=x", "KAKAO_API_URL=kapi.kakao.com"},
			[]string{`KAKAO_API_URL: "kapi.kakao.com" is not an absolute http(s) URL without query or fragment`}},
		{"registry: kakao secret is optional", []string{"KAKAO_CLIENT_ID=x"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.FromEnv(append([]string{"BASE_URL=" + brokerURL}, tc.env...))
			if err != nil {
				t.Fatal(err)
			}
			_, err = providers.NewRegistry(cfg, nil)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var problems config.Problems
			if p, ok := err.(config.Problems); ok {
				problems = p
			}
			if !slices.Equal([]string(problems), tc.want) {
				t.Fatalf("err = %#v, want %q", err, tc.want)
			}
		})
	}
}

// TestRegistryHalfConfigured: a provider missing its secret stays off (no
// login button) without stopping start-up, and its status names the variable.
func TestRegistryHalfConfigured(t *testing.T) {
	cfg, err := config.FromEnv([]string{"BASE_URL=" + brokerURL, "GITHUB_CLIENT_ID=x", "NAVER_CLIENT_ID=y"})
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	reg, err := providers.NewRegistry(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"github", "naver"} {
		if _, ok := reg.Get(name); ok {
			t.Errorf("%s enabled without its secret", name)
		}
	}
	// The warning names the variable as the operator must set it.
	for _, want := range []string{"missing=GITHUB_CLIENT_SECRET", "missing=NAVER_CLIENT_SECRET"} {
		if !strings.Contains(logs.String(), want) || strings.Contains(logs.String(), "GITHUB_GITHUB") {
			t.Errorf("log %q lacks %s", logs.String(), want)
		}
	}
	for _, st := range reg.Statuses() {
		switch st.Name {
		case "github":
			if st.Enabled || !slices.Equal(st.Missing, []string{"GITHUB_CLIENT_SECRET"}) {
				t.Errorf("github status = %+v", st)
			}
		case "naver":
			if st.Enabled || !slices.Equal(st.Missing, []string{"NAVER_CLIENT_SECRET"}) {
				t.Errorf("naver status = %+v", st)
			}
		}
	}
}

func TestRegistryStatuses(t *testing.T) {
	gh := providertest.NewGitHub(t)
	reg := registryFor(t, gh)
	st := reg.Statuses()
	if got := len(st); got != 6 {
		t.Fatalf("%d statuses, want all six", got)
	}
	byName := map[string]providers.Status{}
	for _, s := range st {
		byName[s.Name] = s
	}
	g := byName["github"]
	if !g.Enabled || g.ClientID != gh.ClientID || g.CallbackURL != brokerURL+"/auth/github/callback" || !g.PKCE || !slices.Equal(g.Scopes, []string{"user:email"}) || len(g.Missing) != 0 {
		t.Errorf("github status = %+v", g)
	}
	goog := byName["google"]
	if goog.Enabled || !slices.Equal(goog.Missing, []string{"GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"}) || !slices.Equal(goog.Scopes, []string{"openid", "email", "profile"}) {
		t.Errorf("google status = %+v", goog)
	}
	if n := byName["naver"]; n.PKCE || !slices.Equal(n.Missing, []string{"NAVER_CLIENT_ID", "NAVER_CLIENT_SECRET"}) {
		t.Errorf("naver status = %+v", n)
	}
	if o := byName["oidc"]; o.DisplayName != "Single sign-on" || !slices.Equal(o.Missing, []string{"OIDC_ISSUER", "OIDC_CLIENT_ID"}) {
		t.Errorf("oidc status = %+v", o)
	}
	if k := byName["kakao"]; !slices.Equal(k.Missing, []string{"KAKAO_CLIENT_ID"}) {
		t.Errorf("kakao status = %+v (secret optional)", k)
	}
	if d := byName["dev"]; d.Enabled || !slices.Equal(d.Missing, []string{"DEV_LOGIN"}) {
		t.Errorf("dev status = %+v", d)
	}

	// A failure shows up, and nothing secret does.
	gh.Fail(providertest.Token, providertest.Fault{Code: "incorrect_client_credentials", Description: "The client_id and/or client_secret passed are incorrect."})
	p, _ := reg.Get("github")
	_, _, err := login(t, p)
	wantProviderError(t, err, "incorrect_client_credentials")
	for _, s := range reg.Statuses() {
		if s.Name == "github" && (s.LastError == "" || s.LastErrorAt.IsZero()) {
			t.Errorf("github status has no last error: %+v", s)
		}
	}
	b, _ := json.Marshal(reg.Statuses())
	if strings.Contains(string(b), gh.ClientSecret) {
		t.Fatal("statuses carry the client secret")
	}
	if !strings.Contains(string(b), `"last_error_at"`) || strings.Count(string(b), `"last_error_at"`) != 1 {
		t.Errorf("last_error_at should appear only for the failed provider: %s", b)
	}
}

func TestRegistryUnreachableIssuerDoesNotBlockStartup(t *testing.T) {
	dead := providertest.NewGoogle(t)
	env := dead.Env()
	// Port 1 on loopback refuses connections at once.
	for i, kv := range env {
		if strings.HasPrefix(kv, "GOOGLE_ISSUER=") {
			env[i] = "GOOGLE_ISSUER=http://127.0.0.1:1"
		}
	}
	cfg, err := config.FromEnv(append([]string{"BASE_URL=" + brokerURL, "PROVIDER_TIMEOUT=2s"}, env...))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	reg, err := providers.NewRegistry(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Fatal("NewRegistry waited on the network")
	}
	reg.Discover(context.Background())
	for _, s := range reg.Statuses() {
		if s.Name == "google" {
			if !s.Enabled || !strings.Contains(s.LastError, "discovery") {
				t.Fatalf("google status = %+v, want enabled with the discovery failure", s)
			}
		}
	}
}
