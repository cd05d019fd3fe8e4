package providers_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/providers/providertest"
)

// envOf is how the environment configures a fake: its type, on.
func envOf(f *providertest.Server, typ string, order int) providers.Configured {
	s := f.Provider()
	s.Name = typ
	return providers.Configured{Type: typ, Settings: s, Enabled: true, Order: order, Source: providers.SourceEnv}
}

// newRegistry builds a registry, failing the test on an error.
func newRegistry(t *testing.T, s providers.Setup) *providers.Registry {
	t.Helper()
	reg, err := providers.NewRegistry(s, nil, providers.WithBaseURL(brokerURL, 3*time.Second))
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
	reg := newRegistry(t, providers.Setup{Dev: true, Env: []providers.Configured{
		envOf(providertest.NewOIDC(t), "oidc", 40), envOf(providertest.NewNaver(t), "naver", 30),
		envOf(providertest.NewKakao(t), "kakao", 20), envOf(providertest.NewGitHub(t), "github", 10),
		envOf(providertest.NewGoogle(t), "google", 0),
	}})
	want := []string{"google", "github", "kakao", "naver", "oidc", "dev"}
	if got := names(reg.List()); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	for _, n := range want {
		p, ok := reg.Get(n)
		if !ok || p.Name() != n {
			t.Fatalf("Get(%q) = %v, %v", n, p, ok)
		}
		if e, _ := reg.Entry(n); e.Kind.Name != n {
			t.Errorf("%s: entry of type %q", n, e.Kind.Name)
		}
	}
	if _, ok := reg.Get("twitter"); ok {
		t.Fatal("unknown provider found")
	}
	if got := reg.CallbackURL("kakao"); got != brokerURL+"/auth/kakao/callback" {
		t.Fatalf("CallbackURL = %s", got)
	}
}

func TestRegistryDevNeverInProduction(t *testing.T) {
	reg := newRegistry(t, providers.Setup{Dev: true, DevOnHold: true, Production: true})
	if _, ok := reg.Get("dev"); ok {
		t.Fatal("the dev provider signs anyone in; it must not exist in production")
	}
	st := reg.Statuses()
	dev := st[len(st)-1]
	if dev.Name != "dev" || dev.Live || !slices.Equal(dev.Missing, []string{"APP_ENV"}) {
		t.Fatalf("dev status = %+v", dev)
	}
}

func TestRegistryRefusesMalformedSettings(t *testing.T) {
	for _, tc := range []struct {
		name       string
		typ        string
		settings   providers.Settings
		production bool
		want       []string
	}{
		{"a bad endpoint URL names the variable", "kakao", providers.Settings{ClientID: "x", APIURL: "kapi.kakao.com"}, false,
			[]string{`KAKAO_API_URL: "kapi.kakao.com" is not an absolute http(s) URL without credentials, query or fragment`}},
		{"http endpoints are refused in production", "github", providers.Settings{ClientID: "x", ClientSecret: "y", TokenURL: "http://ghe.internal/login/oauth/access_token"}, true,
			[]string{`GITHUB_TOKEN_URL: "http://ghe.internal/login/oauth/access_token" must be https when APP_ENV=production`}},
		{"a scope with a space is refused", "google", providers.Settings{ClientID: "x", ClientSecret: "y", Scopes: []string{"openid", "email profile"}}, false,
			[]string{`GOOGLE_SCOPES: "email profile" is not a scope (RFC 6749 §3.3: printable ASCII, no spaces, quotes or backslashes)`}},
		{"naver takes no scopes", "naver", providers.Settings{ClientID: "x", ClientSecret: "y", Scopes: []string{"email"}}, false,
			[]string{"NAVER_SCOPES: Naver takes its scopes from its own console"}},
		{"kakao's secret is optional", "kakao", providers.Settings{ClientID: "x"}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := providers.Configured{Type: tc.typ, Settings: tc.settings, Enabled: true}
			_, err := providers.NewRegistry(providers.Setup{Env: []providers.Configured{c}, Production: tc.production}, nil)
			var got []string
			if p, ok := err.(providers.Problems); ok {
				got = p
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("problems %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRegistryHalfConfigured: a provider missing its secret stays off (no
// login button) without stopping start-up, and its status names the
// variable once.
func TestRegistryHalfConfigured(t *testing.T) {
	var logs strings.Builder
	reg, err := providers.NewRegistry(providers.Setup{Env: []providers.Configured{
		{Type: "github", Settings: providers.Settings{Name: "github", ClientID: "x"}, Enabled: true},
		{Type: "naver", Settings: providers.Settings{Name: "naver", ClientID: "y"}, Enabled: true},
	}}, slog.New(slog.NewTextHandler(&logs, nil)), providers.WithBaseURL(brokerURL, 3*time.Second))
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
			if !st.Enabled || st.Live || st.Status != "off" || !slices.Equal(st.Missing, []string{"GITHUB_CLIENT_SECRET"}) {
				t.Errorf("github status = %+v", st)
			}
		case "naver":
			if !st.Enabled || st.Live || !slices.Equal(st.Missing, []string{"NAVER_CLIENT_SECRET"}) {
				t.Errorf("naver status = %+v", st)
			}
		}
	}
}

func TestRegistryStatuses(t *testing.T) {
	gh := providertest.NewGitHub(t)
	reg := newRegistry(t, providers.Setup{Env: []providers.Configured{envOf(gh, "github", 10)}})
	st := reg.Statuses()
	if got := len(st); got != 6 {
		t.Fatalf("%d statuses, want all six", got)
	}
	byName := map[string]providers.Status{}
	for _, s := range st {
		byName[s.Name] = s
	}
	g := byName["github"]
	if !g.Enabled || !g.Live || g.Source != providers.SourceEnv || g.ClientID != gh.ClientID || !g.ClientSecretSet || g.Status != "ok" ||
		g.CallbackURL != brokerURL+"/auth/github/callback" || !g.PKCE || !slices.Equal(g.Scopes, []string{"user:email"}) || len(g.Missing) != 0 {
		t.Errorf("github status = %+v", g)
	}
	goog := byName["google"]
	if goog.Enabled || goog.Live || !slices.Equal(goog.Missing, []string{"GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"}) || !slices.Equal(goog.Scopes, []string{"openid", "email", "profile"}) {
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
	if d := byName["dev"]; d.Live || !slices.Equal(d.Missing, []string{"DEV_LOGIN"}) {
		t.Errorf("dev status = %+v", d)
	}

	// A failure shows up, and nothing secret does.
	gh.Fail(providertest.Token, providertest.Fault{Code: "incorrect_client_credentials", Description: "The client_id and/or client_secret passed are incorrect."})
	p, _ := reg.Get("github")
	_, _, err := login(t, p)
	wantProviderError(t, err, "incorrect_client_credentials")
	for _, s := range reg.Statuses() {
		if s.Name == "github" && (s.LastError == "" || s.LastErrorAt.IsZero() || s.Status != s.LastError) {
			t.Errorf("github status has no last error: %+v", s)
		}
	}
	b, _ := json.Marshal(reg.Statuses())
	if strings.Contains(string(b), gh.ClientSecret) {
		t.Fatal("statuses carry the client secret")
	}
	if strings.Count(string(b), `"last_error_at"`) != 1 {
		t.Errorf("last_error_at should appear only for the failed provider: %s", b)
	}
}

func TestRegistryUnreachableIssuerDoesNotBlockStartup(t *testing.T) {
	dead := providertest.NewGoogle(t)
	c := envOf(dead, "google", 0)
	c.Settings.Issuer = "http://127.0.0.1:1" // refuses connections at once
	start := time.Now()
	reg := newRegistry(t, providers.Setup{Env: []providers.Configured{c}})
	if time.Since(start) > 500*time.Millisecond {
		t.Fatal("NewRegistry waited on the network")
	}
	p, ok := reg.Get("google")
	if !ok {
		t.Fatal("google is not enabled")
	}
	if err := p.(providers.Discoverer).Discover(context.Background()); err == nil {
		t.Fatal("discovery of a dead issuer succeeded")
	}
	for _, s := range reg.Statuses() {
		if s.Name == "google" && (!s.Live || !strings.Contains(s.LastError, "discovery")) {
			t.Fatalf("google status = %+v, want enabled with the discovery failure", s)
		}
	}
}

// TestRegistryAppliesStoredProviders: admin-stored providers come and go
// at runtime beside the environment ones, under free names, in their
// order; a name taken by an environment provider stays hidden.
func TestRegistryAppliesStoredProviders(t *testing.T) {
	gh := providertest.NewGitHub(t)
	reg := newRegistry(t, providers.Setup{Env: []providers.Configured{envOf(gh, "github", 10)}})
	company, line := providertest.NewOIDC(t), providertest.NewOIDC(t)
	stored := func(name string, f *providertest.Server, order int, version int64) providers.Configured {
		s := f.Provider()
		s.Name, s.DisplayName = name, strings.ToUpper(name)
		return providers.Configured{Type: "oidc", Settings: s, Enabled: true, Order: order, Version: version}
	}
	reg.Apply([]providers.Configured{stored("company", company, 5, 1), stored("line", line, 20, 1), stored("github", company, 0, 1)})
	if got := names(reg.List()); !slices.Equal(got, []string{"company", "github", "line"}) {
		t.Fatalf("List = %v", got)
	}
	p, _ := reg.Get("company")
	if _, _, err := login(t, p); err != nil {
		t.Fatalf("login through a stored provider: %v", err)
	}
	if got := reg.CallbackURL("company"); got != brokerURL+"/auth/company/callback" {
		t.Fatalf("callback %s", got)
	}
	var hidden int
	for _, s := range reg.Statuses() {
		if s.Name == "github" && s.Source == providers.SourceAdmin {
			hidden++
			if s.Live || !strings.HasPrefix(s.Status, "hidden") {
				t.Errorf("stored github shadowed by the environment one: %+v", s)
			}
		}
	}
	if hidden != 1 {
		t.Fatalf("%d stored github statuses, want 1", hidden)
	}
	if gp, _ := reg.Get("github"); gp.DisplayName() != "GitHub" {
		t.Fatal("the environment github was replaced by a stored one")
	}
	reg.Apply([]providers.Configured{stored("line", line, 20, 1)})
	if got := names(reg.List()); !slices.Equal(got, []string{"github", "line"}) {
		t.Fatalf("after removing company: %v", got)
	}
	if _, ok := reg.Lookup("company", 1); ok {
		t.Fatal("a removed provider still finishes logins")
	}
}

// TestRegistryVersionsFinishTheirLogins: a login started with one version
// of a provider's configuration finishes with it after an admin changed
// the configuration, for as long as a login state lives.
func TestRegistryVersionsFinishTheirLogins(t *testing.T) {
	clk := newClock()
	reg := newRegistry(t, providers.Setup{Keep: 10 * time.Minute, Now: clk.Now})
	fake := providertest.NewKakao(t)
	v1 := fake.Provider()
	v1.Name = "kakao-biz"
	reg.Apply([]providers.Configured{{Type: "kakao", Settings: v1, Enabled: true, Version: 1}})
	first, _ := reg.Get("kakao-biz")
	v2 := v1
	v2.ClientID = "another-app"
	reg.Apply([]providers.Configured{{Type: "kakao", Settings: v2, Enabled: true, Version: 2}})
	current, _ := reg.Get("kakao-biz")
	if current == first {
		t.Fatal("a changed configuration kept the old instance")
	}
	if p, ok := reg.Lookup("kakao-biz", 1); !ok || p != first {
		t.Fatal("a login started with version 1 does not finish with it")
	}
	if p, ok := reg.Lookup("kakao-biz", 2); !ok || p != current {
		t.Fatal("version 2 does not finish with the current provider")
	}
	reg.Apply([]providers.Configured{{Type: "kakao", Settings: v2, Enabled: true, Version: 2}})
	if again, _ := reg.Get("kakao-biz"); again != current {
		t.Fatal("an unchanged configuration was rebuilt (its discovery cache lost)")
	}
	clk.Advance(11 * time.Minute)
	reg.Apply([]providers.Configured{{Type: "kakao", Settings: v2, Enabled: true, Version: 2}})
	if p, _ := reg.Lookup("kakao-biz", 1); p == first {
		t.Fatal("version 1 outlived every login it could have started")
	}
	reg.Apply([]providers.Configured{{Type: "kakao", Settings: v2, Enabled: false, Version: 3}})
	if _, ok := reg.Lookup("kakao-biz", 2); ok {
		t.Fatal("a disabled provider finishes logins")
	}
}
