package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/authbroker/authbroker/internal/testenv"
	"github.com/authbroker/authbroker/providers/providertest"
)

func doJSON(t *testing.T, method, raw, bearerToken, body string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, raw, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+bearerToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data, resp.Header
}

// TestAdmin covers the admin API: authorization, disable, audit, providers.
func TestAdmin(t *testing.T) {
	b := startBroker(t, "ADMIN_EMAILS=boss@example.com", "GITHUB_CLIENT_ID=half-configured",
		"NAVER_CLIENT_ID=naver-app", "NAVER_CLIENT_SECRET=naver-secret-value-never-shown")
	boss := devLogin(t, b, "boss@example.com")
	user := devLogin(t, b, "user@example.com")
	if boss.Member.Role != "admin" || user.Member.Role != "user" {
		t.Fatalf("roles: boss %s user %s", boss.Member.Role, user.Member.Role)
	}
	routes := []struct{ method, path, body string }{
		{"GET", "/admin/api/members", ""},
		{"GET", "/admin/api/members/" + user.Member.ID, ""},
		{"PATCH", "/admin/api/members/" + user.Member.ID, `{"role":"admin"}`},
		{"POST", "/admin/api/members/" + user.Member.ID + "/revoke-sessions", ""},
		{"DELETE", "/admin/api/members/" + user.Member.ID, ""},
		{"DELETE", "/admin/api/sessions/whatever", ""},
		{"GET", "/admin/api/audit", ""},
		{"GET", "/admin/api/providers", ""},
	}
	t.Run("non-admin gets 403 on every admin route, no token 401", func(t *testing.T) {
		for _, r := range routes {
			if st, _, _ := doJSON(t, r.method, b.URL+r.path, user.AccessToken, r.body); st != http.StatusForbidden {
				t.Errorf("%s %s as user: %d", r.method, r.path, st)
			}
			if st, _, _ := doJSON(t, r.method, b.URL+r.path, "", r.body); st != http.StatusUnauthorized {
				t.Errorf("%s %s without token: %d", r.method, r.path, st)
			}
		}
	})
	t.Run("search finds the member", func(t *testing.T) {
		st, data, _ := doJSON(t, "GET", b.URL+"/admin/api/members?q=USER@", boss.AccessToken, "")
		var page struct {
			Members []struct{ ID string } `json:"members"`
		}
		_ = json.Unmarshal(data, &page)
		if st != http.StatusOK || len(page.Members) != 1 || page.Members[0].ID != user.Member.ID {
			t.Fatalf("search: %d %s", st, data)
		}
	})
	t.Run("provider status names the missing variable, never a secret", func(t *testing.T) {
		st, data, _ := doJSON(t, "GET", b.URL+"/admin/api/providers", boss.AccessToken, "")
		if st != http.StatusOK || !strings.Contains(string(data), "GITHUB_CLIENT_SECRET") || !strings.Contains(string(data), b.URL+"/auth/github/callback") {
			t.Fatalf("providers: %d %s", st, data)
		}
		if strings.Contains(string(data), "naver-secret-value-never-shown") || !strings.Contains(string(data), "naver-app") {
			t.Fatalf("provider status shows a secret or hides the client id: %s", data)
		}
	})
	t.Run("disable: refresh fails and the access token stops working at once", func(t *testing.T) {
		if st, _ := getJSON(t, b.URL+"/auth/me", user.AccessToken, nil); st != http.StatusOK {
			t.Fatalf("before: %d", st)
		}
		st, data, _ := doJSON(t, "PATCH", b.URL+"/admin/api/members/"+user.Member.ID, boss.AccessToken, `{"status":"disabled"}`)
		if st != http.StatusOK {
			t.Fatalf("disable: %d %s", st, data)
		}
		if st, _ := getJSON(t, b.URL+"/auth/me", user.AccessToken, nil); st != http.StatusUnauthorized {
			t.Fatalf("access token after disable: %d", st)
		}
		if st, _ := refresh(t, b, user.RefreshToken); st != http.StatusBadRequest {
			t.Fatalf("refresh after disable: %d", st)
		}
		// A disabled member cannot sign in again either.
		br := newBrowser(t)
		start, _ := b.startURL("dev", nil)
		resp, _ := br.get(start)
		cb := devSignIn(t, br, "user@example.com", "x")(location(t, resp).String())
		if resp, _ := br.get(cb.String()); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("login while disabled: %d", resp.StatusCode)
		}
	})
	t.Run("admin cannot demote or disable themselves", func(t *testing.T) {
		if st, _, _ := doJSON(t, "PATCH", b.URL+"/admin/api/members/"+boss.Member.ID, boss.AccessToken, `{"role":"user"}`); st != http.StatusBadRequest {
			t.Fatalf("self-demote: %d", st)
		}
	})
	t.Run("audit log records each action", func(t *testing.T) {
		st, data, _ := doJSON(t, "GET", b.URL+"/admin/api/audit", boss.AccessToken, "")
		var out struct {
			Entries []struct {
				ActorID  string `json:"actor_id"`
				Action   string `json:"action"`
				TargetID string `json:"target_id"`
				IP       string `json:"ip"`
			} `json:"entries"`
		}
		_ = json.Unmarshal(data, &out)
		if st != http.StatusOK || len(out.Entries) == 0 {
			t.Fatalf("audit: %d %s", st, data)
		}
		e := out.Entries[0]
		if e.Action != "member.disable" || e.ActorID != boss.Member.ID || e.TargetID != user.Member.ID || e.IP == "" {
			t.Fatalf("audit entry %+v", e)
		}
	})
	t.Run("delete removes the member", func(t *testing.T) {
		if st, _, _ := doJSON(t, "DELETE", b.URL+"/admin/api/members/"+user.Member.ID, boss.AccessToken, ""); st != http.StatusNoContent {
			t.Fatalf("delete: %d", st)
		}
		if st, _, _ := doJSON(t, "GET", b.URL+"/admin/api/members/"+user.Member.ID, boss.AccessToken, ""); st != http.StatusNotFound {
			t.Fatalf("get deleted: %d", st)
		}
	})
}

// TestMetricsMove: a login, a refresh and provider calls show up on /metrics.
func TestMetricsMove(t *testing.T) {
	gh := providertest.NewGitHub(t)
	b := startBroker(t, gh.Env()...)
	b.login(t, newBrowser(t), "github", fakeSignIn(t))
	tr := devLogin(t, b, "metrics@example.com")
	if st, _ := refresh(t, b, tr.RefreshToken); st != http.StatusOK {
		t.Fatal("refresh failed")
	}
	resp, err := http.Get(b.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`authbroker_logins_total{provider="dev",result="success"} 1`,
		`authbroker_refresh_total{outcome="rotated"} 1`,
		`authbroker_http_request_duration_seconds_count{code="2xx",method="POST",route="/auth/token"}`,
		`authbroker_denylist_entries 0`,
		`authbroker_logins_total{provider="github",result="success"} 1`,
		`authbroker_provider_request_duration_seconds_count{provider="github"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRateLimit: a burst over the limit gets 429 with Retry-After, both
// in-process and on Redis.
func TestRateLimit(t *testing.T) {
	for name, env := range map[string]func(t *testing.T) []string{
		"in-process": func(t *testing.T) []string { return nil },
		"redis": func(t *testing.T) []string {
			ru, prefix := testenv.Redis(t)
			return []string{"REDIS_URL=" + ru, "REDIS_PREFIX=" + prefix}
		},
	} {
		t.Run(name, func(t *testing.T) {
			b := startBroker(t, append(env(t), "RATE_LIMIT_AUTH=5")...)
			var limited *http.Response
			for i := 0; i < 20 && limited == nil; i++ {
				resp, _ := newBrowser(t).get(b.URL + "/auth/dev")
				if resp.StatusCode == http.StatusTooManyRequests {
					limited = resp
				}
			}
			if limited == nil {
				t.Fatal("20 starts in a burst were never limited")
			}
			if ra := limited.Header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Fatalf("Retry-After = %q", ra)
			}
		})
	}
}

func metricsContain(t *testing.T, b *broker, want string) bool {
	t.Helper()
	resp, err := http.Get(b.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(body), want)
}
