package app_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// metricsBody is the broker's /metrics page (on its metrics listener).
func metricsBody(t *testing.T, b *broker) string {
	t.Helper()
	resp, err := http.Get(b.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// seriesLines is /metrics without Go runtime and process metrics, whose
// values move by themselves: the broker's own series, one line each.
func seriesLines(body string) []string {
	var out []string
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "authbroker_") {
			out = append(out, line)
		}
	}
	return out
}

// TestMetricsLabelsAreBounded: no request can add a series to /metrics.
// Invented methods, invented paths under every route prefix, and unknown
// providers on the login and native routes all land on label values from
// a closed set; after the first of each kind, hundreds more add nothing.
func TestMetricsLabelsAreBounded(t *testing.T) {
	b := startBroker(t)
	send := func(round, n int) {
		for i := range n {
			method := fmt.Sprintf("X%dM%d%s", round, i, strings.Repeat("Z", i%50))
			paths := []string{
				fmt.Sprintf("/nowhere/%d/%d", round, i),
				fmt.Sprintf("/auth/p%d%d", round, i),
				fmt.Sprintf("/auth/p%d%d/callback?state=s&code=c", round, i),
				fmt.Sprintf("/admin/api/x%d%d", round, i),
				fmt.Sprintf("/static/x%d%d.css", round, i),
			}
			for _, p := range paths {
				for _, m := range []string{method, http.MethodGet, http.MethodPost} {
					req, _ := http.NewRequest(m, b.URL+p, nil)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
				}
			}
			// An unknown provider on the native path.
			resp, err := http.Post(b.URL+fmt.Sprintf("/auth/q%d%d/token", round, i), "application/json", strings.NewReader(`{"access_token":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	send(0, 5) // every kind of request once: the "other" and "unmatched" series exist now
	before := seriesLines(metricsBody(t, b))
	send(1, 200)
	after := seriesLines(metricsBody(t, b))
	if len(after) != len(before) {
		var added []string
		seen := map[string]bool{}
		for _, l := range before {
			name, _, _ := strings.Cut(l, " ")
			seen[name] = true
		}
		for _, l := range after {
			if name, _, _ := strings.Cut(l, " "); !seen[name] && len(added) < 5 {
				added = append(added, name)
			}
		}
		t.Fatalf("/metrics grew from %d to %d series lines after 200 invented requests; new: %v", len(before), len(after), added)
	}
	t.Logf("/metrics: %d broker series lines before and after 1,200 invented requests", len(after))
}

// TestRequestIDFromClientIsBounded: a load balancer's request id is kept;
// an oversized or odd one is replaced by our own, so it never reaches a
// response header or a log line.
func TestRequestIDFromClientIsBounded(t *testing.T) {
	b := startBroker(t)
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"uuid kept", "4f1c2a8e-5d0b-4c6e-9a7f-2b3c4d5e6f70", true},
		{"64 characters kept", strings.Repeat("a", 64), true},
		{"65 characters replaced", strings.Repeat("a", 65), false},
		{"50 kB replaced", strings.Repeat("x", 50<<10), false},
		{"spaces replaced", "id with spaces", false},
		{"quote and angle brackets replaced", `"><script>`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, b.URL+"/healthz", nil)
			req.Header.Set("X-Request-Id", tc.sent)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := resp.Header.Get("X-Request-Id")
			if tc.kept && got != tc.sent {
				t.Fatalf("id %q answered as %q, want it kept", tc.sent, got)
			}
			if !tc.kept && (got == tc.sent || got == "" || len(got) > 64) {
				t.Fatalf("id of %d bytes answered as %d bytes %.40q, want a fresh id", len(tc.sent), len(got), got)
			}
		})
	}
}

// TestMetricsOnTheirOwnListener: the public listener has no /metrics (nor
// pprof); the metrics listener has /metrics, and pprof only when
// METRICS_PPROF is on.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	get := func(u string) int {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	b := startBroker(t)
	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		if st := get(b.URL + p); st != http.StatusNotFound {
			t.Errorf("public %s: %d, want 404", p, st)
		}
	}
	if st := get(b.MetricsURL + "/metrics"); st != http.StatusOK {
		t.Fatalf("metrics listener /metrics: %d", st)
	}
	if st := get(b.MetricsURL + "/debug/pprof/"); st != http.StatusNotFound {
		t.Fatalf("pprof without METRICS_PPROF: %d", st)
	}
	withPprof := startBroker(t, "METRICS_ADDR=127.0.0.1:0", "METRICS_PPROF=true")
	if st := get(withPprof.MetricsURL + "/debug/pprof/"); st != http.StatusOK {
		t.Fatalf("pprof with METRICS_PPROF=true: %d", st)
	}
	if st := get(withPprof.URL + "/debug/pprof/"); st != http.StatusNotFound {
		t.Fatalf("pprof on the public listener: %d", st)
	}
}
