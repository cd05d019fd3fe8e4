package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/testenv"
)

// TestCheck runs `authbroker check` (the real binary) against good and
// broken set-ups: it says what is wrong, line by line, and its exit status
// tells a script whether to go on (0), fix the environment (1) or fix the
// configuration (2). Nothing it prints is a secret.
func TestCheck(t *testing.T) {
	redisURL, _ := testenv.Redis(t)
	pgURL := testenv.PostgresURL(t)
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMethodNotAllowed) // a token endpoint asked with GET: it answers
	}))
	defer provider.Close()
	down := "http://" + closedPort(t)
	github := func(base string) []string {
		return []string{"GITHUB_CLIENT_ID=gh-id", "GITHUB_CLIENT_SECRET=gh-very-secret", "GITHUB_AUTH_URL=" + base + "/login/oauth/authorize",
			"GITHUB_TOKEN_URL=" + base + "/login/oauth/access_token", "GITHUB_API_URL=" + base}
	}
	good := func(extra ...string) []string {
		env := append([]string{"DATABASE_URL=" + pgURL, "REDIS_URL=" + redisURL, "JWT_KEY_FILE=" + keyFile(t, "ES256"),
			"SECRETS_KEY_FILE=" + secretsFile(t)}, github(provider.URL)...)
		return append(env, extra...)
	}
	if got := startBinary(t, good(), "migrate").wait(60 * time.Second); got != 0 {
		t.Fatalf("migrate: exit %d", got)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		env    []string
		status int
		want   []string // lines (by prefix words) the report must hold
	}{
		{"everything reachable", good(), 0, []string{"ok configuration", "ok signing key ES256", "ok database", "ok redis", "ok provider github: Token URL"}},
		{"development defaults: warnings only", []string{"DATA_DIR=data"}, 0, []string{"warn signing key", "warn secrets key", "ok redis not configured"}},
		{"Redis down", good("REDIS_URL=redis://" + closedPort(t)), 1, []string{"FAIL redis"}},
		{"PostgreSQL down", good("DATABASE_URL=postgres://postgres@" + closedPort(t) + "/postgres?sslmode=disable"), 1, []string{"FAIL database"}},
		{"provider endpoint down", good(github(down)...), 1, []string{"FAIL provider github: Token URL", "ok redis"}},
		{"unparsable key file", good("JWT_KEY_FILE=" + garbage), 2, []string{"FAIL configuration", "JWT_KEY_FILE"}},
		{"unreadable secrets key", good("SECRETS_KEY_FILE=/nonexistent/secrets.key"), 1, []string{"FAIL secrets key", "SECRETS_KEY_FILE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startBinary(t, tc.env, "check", "-timeout", "3s")
			code := p.wait(30 * time.Second)
			var out []string
			for len(p.lines) > 0 { // all of stdout is in by the time the process is done
				out = append(out, <-p.lines)
			}
			// Columns are aligned with spaces; compare words.
			report := regexp.MustCompile(` {2,}`).ReplaceAllString(strings.Join(out, "\n"), " ")
			if got := code; got != tc.status {
				t.Fatalf("exit %d, want %d; report:\n%s\nstderr:\n%s", got, tc.status, report, p.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(report, w) {
					t.Errorf("report lacks %q:\n%s", w, report)
				}
			}
			for _, secret := range []string{"gh-very-secret", "PRIVATE KEY"} {
				if strings.Contains(report+p.stderr.String(), secret) {
					t.Errorf("the report shows %q", secret)
				}
			}
			if !strings.Contains(report, "checks: ") {
				t.Errorf("no summary line:\n%s", report)
			}
		})
	}
}

// TestHealthcheck: the command a FROM-scratch image's health check runs.
func TestHealthcheck(t *testing.T) {
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name      string
		env       []string
		args      []string
		unhealthy bool
		status    int
	}{
		{"LISTEN_ADDR answers 200", []string{"LISTEN_ADDR=" + addr}, nil, false, 0},
		{"wildcard LISTEN_ADDR asked on loopback", []string{"LISTEN_ADDR=0.0.0.0:" + addr[strings.LastIndex(addr, ":")+1:]}, nil, false, 0},
		{"explicit URL", nil, []string{"-url", srv.URL + "/healthz"}, false, 0},
		{"nothing listening", []string{"LISTEN_ADDR=" + closedPort(t)}, nil, false, 1},
		{"answers 503", []string{"LISTEN_ADDR=" + addr}, nil, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status.Store(http.StatusOK)
			if tc.unhealthy {
				status.Store(http.StatusServiceUnavailable)
			}
			p := startBinary(t, tc.env, append([]string{"healthcheck", "-timeout", "2s"}, tc.args...)...)
			if got := p.wait(10 * time.Second); got != tc.status {
				t.Fatalf("exit %d, want %d (stderr %s)", got, tc.status, p.stderr)
			}
		})
	}
}

// TestHelp: every command describes itself and its flags, and asking for
// help is not an error.
func TestHelp(t *testing.T) {
	var out, errb strings.Builder
	if code := run([]string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out.String(), "  "+c.name+" ") {
			t.Errorf("help does not list %s:\n%s", c.name, out.String())
		}
	}
	for _, tc := range []struct{ cmd, flag string }{
		{"check", "-timeout"}, {"healthcheck", "-url"}, {"keygen", "-alg"}, {"serve", ""}, {"migrate", ""}, {"secrets", ""},
	} {
		out.Reset()
		errb.Reset()
		if code := run([]string{tc.cmd, "-h"}, &out, &errb); code != 0 {
			t.Errorf("%s -h: exit %d", tc.cmd, code)
		}
		if !strings.Contains(errb.String(), "usage: authbroker "+tc.cmd) || !strings.Contains(errb.String(), tc.flag) {
			t.Errorf("%s -h:\n%s", tc.cmd, errb.String())
		}
	}
	out.Reset()
	run([]string{"version"}, &out, &errb)
	if v := out.String(); !strings.HasPrefix(v, "authbroker ") || !strings.Contains(v, "go1.") {
		t.Errorf("version %q: want version, commit and Go version", v)
	}
}
