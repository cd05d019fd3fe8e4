package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authbroker/authbroker/internal/testenv"
	"github.com/authbroker/authbroker/providers/providertest"
)

// providerBody is the admin API's PUT body pointing a type at its fake.
func providerBody(t *testing.T, typ string, f *providertest.Server) (string, string) {
	t.Helper()
	p := f.Provider()
	body := map[string]any{"type": typ, "enabled": true, "client_id": p.ClientID, "client_secret": p.ClientSecret,
		"issuer": p.Issuer, "auth_url": p.AuthURL, "token_url": p.TokenURL, "api_url": p.APIURL}
	if typ == "google" {
		body["display_name"] = "Google Workspace"
	}
	b, _ := json.Marshal(body)
	return string(b), p.ClientSecret
}

// loginPageHas reports whether b's login page shows a button for name.
func loginPageHas(t *testing.T, b *broker, name string) bool {
	t.Helper()
	_, page := newBrowser(t).get(b.URL + "/")
	return strings.Contains(page, `data-provider="`+name+`"`)
}

// waitFor polls cond until it holds (true) or d passes (false), and says how long it took.
func waitFor(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > d {
			return time.Since(start), false
		}
		<-time.After(5 * time.Millisecond)
	}
}

// TestAdminConfiguresProvidersLive: on a fresh pair of replicas with no
// provider variables, an admin configures Google, GitHub, Kakao, Naver and
// an OIDC issuer through the admin API of one replica; each is live on the
// other within a second, members sign in through each there, and a
// disabled one is gone everywhere. No secret is stored in clear.
func TestAdminConfiguresProvidersLive(t *testing.T) {
	type pairSetup struct {
		env      []string
		sqliteAt string
		pg       string
	}
	setups := map[string]func(t *testing.T) pairSetup{
		"postgres+redis (announced)": func(t *testing.T) pairSetup {
			ru, prefix := testenv.Redis(t)
			pg := testenv.PostgresURL(t)
			return pairSetup{env: []string{"DATABASE_URL=" + pg, "REDIS_URL=" + ru, "REDIS_PREFIX=" + prefix}, pg: pg}
		},
		"sqlite (polled)": func(t *testing.T) pairSetup {
			path := t.TempDir() + "/shared.db"
			return pairSetup{env: []string{"DATABASE_URL=sqlite://" + path}, sqliteAt: path}
		},
	}
	for name, setup := range setups {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := setup(t)
			shared := append(s.env, "ADMIN_EMAILS=boss@example.com", "JWT_KEY_FILE="+writeKey(t), "SECRETS_KEY_FILE="+writeSecrets(t))
			a := startBroker(t, shared...)
			b := startBrokerWithBase(t, a, shared...)
			boss := devLogin(t, a, "boss@example.com")
			if got := strings.Count(mustGet(t, b.URL+"/"), "data-provider="); got != 1 {
				t.Fatalf("a fresh broker shows %d provider buttons, want only dev", got)
			}
			fakes := map[string]*providertest.Server{
				"google": providertest.NewGoogle(t), "github": providertest.NewGitHub(t), "kakao": providertest.NewKakao(t),
				"naver": providertest.NewNaver(t), "oidc": providertest.NewOIDC(t),
			}
			var secrets []string
			var slowest time.Duration
			for _, typ := range []string{"google", "github", "kakao", "naver", "oidc"} {
				pname := "my-" + typ
				body, secret := providerBody(t, typ, fakes[typ])
				secrets = append(secrets, secret)
				if st, out, _ := doJSON(t, http.MethodPut, a.URL+"/admin/api/providers/"+pname, boss.AccessToken, body); st != http.StatusOK {
					t.Fatalf("PUT %s: %d %s", pname, st, out)
				}
				took, ok := waitFor(5*time.Second, func() bool { return loginPageHas(t, b, pname) })
				if !ok {
					t.Fatalf("%s never reached the other replica", pname)
				}
				slowest = max(slowest, took)
				br := newBrowser(t)
				tr := b.login(t, br, pname, fakeSignIn(t))
				if tr.Member.Email != fakes[typ].User().Email {
					t.Fatalf("sign-in through %s on the other replica: member %+v", pname, tr.Member)
				}
			}
			t.Logf("propagation to the other replica: slowest of 5 changes %v", slowest)
			if slowest > time.Second {
				t.Errorf("a provider change took %v to reach the other replica, want < 1 s", slowest)
			}

			body, _ := providerBody(t, "kakao", fakes["kakao"])
			body = strings.Replace(body, `"enabled":true`, `"enabled":false`, 1)
			if st, out, _ := doJSON(t, http.MethodPut, a.URL+"/admin/api/providers/my-kakao", boss.AccessToken, body); st != http.StatusOK {
				t.Fatalf("disable: %d %s", st, out)
			}
			if _, ok := waitFor(time.Second, func() bool { return !loginPageHas(t, b, "my-kakao") }); !ok {
				t.Fatal("a disabled provider's button stayed on the other replica")
			}
			for _, r := range []*broker{a, b} {
				if resp, _ := newBrowser(t).get(r.URL + "/auth/my-kakao"); resp.StatusCode != http.StatusNotFound {
					t.Fatalf("/auth/my-kakao after disabling: %d", resp.StatusCode)
				}
			}

			// No client secret in clear, in PostgreSQL's table or SQLite's file.
			var stored []byte
			if s.pg != "" {
				conn, err := pgx.Connect(context.Background(), s.pg)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(context.Background())
				rows, err := conn.Query(context.Background(), `SELECT row_to_json(p)::text FROM provider_configs p`)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var row string
					_ = rows.Scan(&row)
					stored = append(stored, row...)
				}
				rows.Close()
				if len(stored) == 0 {
					t.Fatal("no provider rows in PostgreSQL")
				}
			} else {
				for _, f := range []string{s.sqliteAt, s.sqliteAt + "-wal"} {
					data, _ := os.ReadFile(f)
					stored = append(stored, data...)
				}
			}
			for _, secret := range secrets {
				if bytes.Contains(stored, []byte(secret)) {
					t.Fatalf("the client secret %q is stored in clear", secret)
				}
			}
			if st, out, _ := doJSON(t, http.MethodGet, a.URL+"/admin/api/providers", boss.AccessToken, ""); st != http.StatusOK || bytes.Contains(out, []byte(secrets[0])) {
				t.Fatalf("GET providers: %d, secret shown %v", st, bytes.Contains(out, []byte(secrets[0])))
			}
		})
	}
}

func mustGet(t *testing.T, u string) string {
	t.Helper()
	resp, body := newBrowser(t).get(u)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	return body
}
