package providerconfig_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/providerconfig"
	"github.com/authbroker/authbroker/internal/secrets"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/testenv"
	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/providers/providertest"
)

const brokerURL = "https://broker.example"

type fixture struct {
	svc  *providerconfig.Service
	db   *sqlstore.Store
	reg  *providers.Registry
	keys *secrets.Keyring
	path string
}

func newFixture(t *testing.T, keys *secrets.Keyring, env ...providers.Configured) *fixture {
	t.Helper()
	url := testenv.SQLiteURL(t)
	db, err := sqlstore.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if keys == nil {
		keys, _ = secrets.Parse([]byte(secrets.NewKeyLine()))
	}
	reg, err := providers.NewRegistry(providers.Setup{Env: env, Keep: time.Minute}, nil, providers.WithBaseURL(brokerURL, 3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	svc := providerconfig.New(providerconfig.Deps{Store: db, Audit: db, Keys: keys, Registry: reg, Env: env,
		Options: providers.Options{Timeout: 3 * time.Second}})
	if err := svc.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, db: db, reg: reg, keys: keys, path: strings.TrimPrefix(url, "sqlite://")}
}

var admin = providerconfig.Actor{MemberID: "admin-1", IP: "192.0.2.9"}

func ptr(s string) *string { return &s }

// kakaoInput configures the Kakao fake.
func kakaoInput(f *providertest.Server) providerconfig.Input {
	p := f.Provider()
	return providerconfig.Input{Type: "kakao", DisplayName: "Kakao", Enabled: true, ClientID: p.ClientID,
		ClientSecret: ptr(p.ClientSecret), AuthURL: p.AuthURL, TokenURL: p.TokenURL, APIURL: p.APIURL}
}

func fieldErrors(t *testing.T, err error) map[string]string {
	t.Helper()
	var e *apierror.Error
	if !errors.As(err, &e) || e.Code != apierror.CodeInvalidRequest {
		t.Fatalf("err = %v, want invalid_request with fields", err)
	}
	out := map[string]string{}
	for _, f := range e.Fields {
		out[f.Field] = f.Message
	}
	return out
}

func TestPutValidatesEachField(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name   string
		pname  string
		in     providerconfig.Input
		fields []string
	}{
		{"unknown type", "x", providerconfig.Input{Type: "myspace"}, []string{"type"}},
		{"a name that is not a path segment", "Company SSO", providerconfig.Input{Type: "oidc", ClientID: "c", Issuer: "https://sso.example.com"}, []string{"name"}},
		{"a name the broker uses", "token", providerconfig.Input{Type: "oidc", ClientID: "c", Issuer: "https://sso.example.com"}, []string{"name"}},
		{"oidc without issuer and client id", "company", providerconfig.Input{Type: "oidc"}, []string{"issuer", "client_id"}},
		{"a relative endpoint", "gh", providerconfig.Input{Type: "github", ClientID: "c", ClientSecret: ptr("s"), TokenURL: "/login/oauth/access_token"}, []string{"token_url"}},
		{"a scope with a quote", "company", providerconfig.Input{Type: "oidc", ClientID: "c", Issuer: "https://sso.example.com", Scopes: []string{`openid"`}}, []string{"scopes"}},
		{"an app id for a type without one", "gh", providerconfig.Input{Type: "github", ClientID: "c", ClientSecret: ptr("s"), AppID: "12"}, []string{"app_id"}},
		{"github without a secret", "gh", providerconfig.Input{Type: "github", ClientID: "c"}, []string{"client_secret"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Put(t.Context(), admin, tc.pname, tc.in)
			got := fieldErrors(t, err)
			for _, want := range tc.fields {
				if _, ok := got[want]; !ok {
					t.Errorf("no message for %s: %v", want, got)
				}
			}
			if len(got) != len(tc.fields) {
				t.Errorf("messages %v, want exactly %v", got, tc.fields)
			}
			if list, _ := f.db.ListProviderConfigs(t.Context()); len(list) != 0 {
				t.Fatalf("a refused put stored %d providers", len(list))
			}
		})
	}
}

func TestEnvironmentProvidersAreReadOnly(t *testing.T) {
	gh := providertest.NewGitHub(t)
	s := gh.Provider()
	s.Name = "github"
	f := newFixture(t, nil, providers.Configured{Type: "github", Settings: s, Enabled: true, Source: providers.SourceEnv})
	_, err := f.svc.Put(t.Context(), admin, "github", providerconfig.Input{Type: "github", ClientID: "x", ClientSecret: ptr("y")})
	var e *apierror.Error
	if !errors.As(err, &e) || e.Status != 409 || !strings.Contains(e.Description, "GITHUB_CLIENT_ID") {
		t.Fatalf("put over an environment provider: %v, want 409 naming GITHUB_CLIENT_ID", err)
	}
	if err := f.svc.Delete(t.Context(), admin, "github"); !errors.As(err, &e) || e.Status != 409 {
		t.Fatalf("delete of an environment provider: %v", err)
	}
}

// TestSecretsAreSealedAtRest: the client secret never reaches the database
// in clear, an omitted secret keeps the stored one, the audit log names
// what changed without any value, and the provider works.
func TestSecretsAreSealedAtRest(t *testing.T) {
	f := newFixture(t, nil)
	fake := providertest.NewKakao(t)
	in := kakaoInput(fake)
	secret := *in.ClientSecret
	st, err := f.svc.Put(t.Context(), admin, "kakao-biz", in)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Live || !st.ClientSecretSet || st.Source != providers.SourceAdmin || st.CallbackURL != brokerURL+"/auth/kakao-biz/callback" {
		t.Fatalf("status %+v", st)
	}
	p, ok := f.reg.Get("kakao-biz")
	if !ok {
		t.Fatal("the stored provider is not live")
	}
	authURL, err := p.AuthCodeURL(t.Context(), providers.AuthRequest{State: "s"})
	if err != nil {
		t.Fatal(err)
	}
	cb := providertest.SignIn(t, authURL)
	if _, err := p.Exchange(t.Context(), providers.Callback{Code: cb.Query().Get("code"), State: "s"}); err != nil {
		t.Fatalf("sign-in through the stored provider: %v", err)
	}
	if got := fake.LastRequest(t, providertest.Token).Form.Get("client_secret"); got != secret {
		t.Fatalf("the token request carried %q, want the stored secret", got)
	}

	// Update without a secret: kept.
	in.ClientSecret, in.DisplayName = nil, "Kakao for business"
	if _, err := f.svc.Put(t.Context(), admin, "kakao-biz", in); err != nil {
		t.Fatal(err)
	}
	stored, _ := f.db.GetProviderConfig(t.Context(), "kakao-biz")
	if pt, err := f.keys.Open("authbroker provider client secret v1", stored.ClientSecret, []byte("kakao-biz")); err != nil || string(pt) != secret {
		t.Fatalf("the secret after an update without one: %q %v", pt, err)
	}

	f.db.Close()
	raw, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(f.path + "-wal")
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(wal, []byte(secret)) {
		t.Fatal("the client secret is in the SQLite file in clear")
	}
	db, _ := sqlstore.Open(context.Background(), "sqlite://"+f.path)
	defer db.Close()
	entries, err := db.ListAudit(context.Background(), 0, 10)
	if err != nil || len(entries) != 2 {
		t.Fatalf("audit %v %v", entries, err)
	}
	var detail struct {
		Changed []string `json:"changed"`
	}
	_ = json.Unmarshal(entries[0].Detail, &detail)
	if entries[0].Action != "provider.update" || strings.Join(detail.Changed, ",") != "display_name" || entries[1].Action != "provider.create" {
		t.Fatalf("audit: %s %s / %s", entries[0].Action, entries[0].Detail, entries[1].Action)
	}
	for _, e := range entries {
		if bytes.Contains(e.Detail, []byte(secret)) || e.ActorID != "admin-1" || e.IP != "192.0.2.9" {
			t.Fatalf("audit entry %+v", e)
		}
	}
}

// TestLostKeyFileIsAClearError: with another secrets key, the stored
// secret does not open and Load names SECRETS_KEY_FILE and the provider.
func TestLostKeyFileIsAClearError(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.svc.Put(t.Context(), admin, "kakao-biz", kakaoInput(providertest.NewKakao(t))); err != nil {
		t.Fatal(err)
	}
	other, _ := secrets.Parse([]byte(secrets.NewKeyLine()))
	svc := providerconfig.New(providerconfig.Deps{Store: f.db, Audit: f.db, Keys: other, Registry: f.reg})
	err := svc.Load(t.Context())
	if err == nil || !strings.HasPrefix(err.Error(), "SECRETS_KEY_FILE:") || !strings.Contains(err.Error(), "kakao-biz") {
		t.Fatalf("load with another key: %v", err)
	}
}

// TestRotateSecrets: after a new key is put first, rotate re-seals every
// secret under it; the old key can then go.
func TestRotateSecrets(t *testing.T) {
	oldKey := secrets.NewKeyLine()
	oldRing, _ := secrets.Parse([]byte(oldKey))
	f := newFixture(t, oldRing)
	for _, name := range []string{"kakao-a", "kakao-b"} {
		if _, err := f.svc.Put(t.Context(), admin, name, kakaoInput(providertest.NewKakao(t))); err != nil {
			t.Fatal(err)
		}
	}
	newKey := secrets.NewKeyLine()
	both, _ := secrets.Parse([]byte(newKey + "\n" + oldKey))
	svc := providerconfig.New(providerconfig.Deps{Store: f.db, Audit: f.db, Keys: both, Registry: f.reg})
	if n, err := svc.RotateSecrets(t.Context()); err != nil || n != 2 {
		t.Fatalf("rotate: %d %v", n, err)
	}
	if n, _ := svc.RotateSecrets(t.Context()); n != 0 {
		t.Fatalf("a second rotate re-sealed %d", n)
	}
	onlyNew, _ := secrets.Parse([]byte(newKey))
	if err := providerconfig.New(providerconfig.Deps{Store: f.db, Audit: f.db, Keys: onlyNew, Registry: f.reg}).Load(t.Context()); err != nil {
		t.Fatalf("load with only the new key after rotation: %v", err)
	}
}

func TestTestChecksEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	good := providertest.NewOIDC(t)
	p := good.Provider()
	in := providerconfig.Input{Type: "oidc", Enabled: true, ClientID: p.ClientID, ClientSecret: ptr(p.ClientSecret), Issuer: p.Issuer}
	if _, err := f.svc.Put(t.Context(), admin, "company", in); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Test(t.Context(), "company")
	if err != nil || !res.OK || len(res.Checks) < 2 {
		t.Fatalf("test of a working issuer: %+v %v", res, err)
	}
	in.Issuer = "http://127.0.0.1:1"
	if _, err := f.svc.Put(t.Context(), admin, "company", in); err != nil {
		t.Fatal(err)
	}
	if res, err := f.svc.Test(t.Context(), "company"); err != nil || res.OK || res.Checks[0].OK {
		t.Fatalf("test of a dead issuer: %+v %v", res, err)
	}
}

// TestStoreTokensOnAStoredProvider: turning the token vault on for a
// stored provider takes effect at once (the registry builds the provider
// again), shows in its status and is named in the audit entry.
func TestStoreTokensOnAStoredProvider(t *testing.T) {
	f := newFixture(t, nil)
	in := kakaoInput(providertest.NewKakao(t))
	if _, err := f.svc.Put(t.Context(), admin, "kakao", in); err != nil {
		t.Fatal(err)
	}
	e, _ := f.reg.Entry("kakao")
	if e.Settings.StoreTokens {
		t.Fatal("kept tokens without being asked")
	}
	in.StoreTokens, in.ClientSecret = true, nil
	st, err := f.svc.Put(t.Context(), admin, "kakao", in)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := f.reg.Entry("kakao")
	if !st.StoreTokens || !after.Settings.StoreTokens || after.Provider == e.Provider {
		t.Fatalf("status %v, settings %v, provider rebuilt %v", st.StoreTokens, after.Settings.StoreTokens, after.Provider != e.Provider)
	}
	entries, err := f.db.ListAudit(t.Context(), 0, 10)
	if err != nil || len(entries) == 0 || !strings.Contains(string(entries[0].Detail), "store_tokens") {
		t.Fatalf("audit %v %+v", err, entries)
	}
}
