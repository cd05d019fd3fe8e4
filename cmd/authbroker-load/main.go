// Command authbroker-load drives a running broker to measure what users
// feel: refresh latency and throughput, and the cost of a protected request
// next to a bare one. It signs in through the dev provider, so point it at a
// development broker (DEV_LOGIN on).
//
//	authbroker-load -url http://127.0.0.1:8080 -sessions 50 -concurrency 16 -duration 10s
//
// It prints one line per scenario: requests, errors, throughput, median and
// 99th percentile latency. Loops are bounded by -duration and stop by
// themselves; only the given URL is contacted.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "broker base URL (its BASE_URL)")
	sessions := flag.Int("sessions", 50, "sessions to sign in before measuring")
	conc := flag.Int("concurrency", 16, "concurrent clients")
	dur := flag.Duration("duration", 10*time.Second, "measuring time per scenario")
	redisURL := flag.String("redis", "", "the broker's Redis: also count Redis commands per refresh (INFO commandstats)")
	flag.Parse()
	if err := run(*base, *sessions, *conc, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "authbroker-load:", err)
		os.Exit(1)
	}
	if *redisURL == "" {
		return
	}
	if err := countRedis(*base, *redisURL, 200); err != nil {
		fmt.Fprintln(os.Stderr, "authbroker-load:", err)
		os.Exit(1)
	}
}

type pair struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

func run(base string, sessions, conc int, dur time.Duration) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2}}
	pairs := make([]pair, 0, sessions)
	for i := range sessions {
		p, err := login(base, fmt.Sprintf("load%d@example.com", i))
		if err != nil {
			return fmt.Errorf("sign in: %w", err)
		}
		pairs = append(pairs, p)
	}
	fmt.Printf("signed in %d sessions; %d clients, %s per scenario\n", len(pairs), conc, dur)

	get := func(path string) func(i int) error {
		return func(i int) error {
			req, _ := http.NewRequest(http.MethodGet, base+path, nil)
			req.Header.Set("Authorization", "Bearer "+pairs[i%len(pairs)].Access)
			return expect(client.Do(req))
		}
	}
	// Each client owns its sessions so refresh chains never cross.
	var mu sync.Mutex
	refresh := func(i int) error {
		idx := i % len(pairs)
		mu.Lock()
		rt := pairs[idx].Refresh
		mu.Unlock()
		body := fmt.Sprintf(`{"grant_type":"refresh_token","refresh_token":%q}`, rt)
		resp, err := client.Post(base+"/auth/token", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		var p pair
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			return err
		}
		mu.Lock()
		pairs[idx] = p
		mu.Unlock()
		return nil
	}
	scenarios := []struct {
		name string
		fn   func(i int) error
		conc int
	}{
		{"bare (GET /healthz)", get("/healthz"), conc},
		{"protected (GET /auth/sessions)", get("/auth/sessions"), conc},
		{"refresh (POST /auth/token)", refresh, min(conc, len(pairs))},
	}
	for _, s := range scenarios {
		r := measure(s.fn, s.conc, dur)
		fmt.Printf("%-32s %8d req %6d err %9.0f req/s  p50 %8s  p99 %8s\n", s.name, r.n, r.errs, r.rate, r.p50, r.p99)
	}
	return nil
}

type result struct {
	n, errs  int
	rate     float64
	p50, p99 time.Duration
}

// measure runs fn from conc workers for dur; worker w always calls fn(w),
// so each worker keeps to its own session (refresh chains never cross).
func measure(fn func(i int) error, conc int, dur time.Duration) result {
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var (
		wg   sync.WaitGroup
		errs atomic.Int64
		mu   sync.Mutex
		lats []time.Duration
	)
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := fn(w); err != nil {
					errs.Add(1)
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lats)
	r := result{n: len(lats), errs: int(errs.Load()), rate: float64(len(lats)) / el.Seconds()}
	if len(lats) > 0 {
		r.p50 = lats[len(lats)/2].Round(time.Microsecond)
		r.p99 = lats[len(lats)*99/100].Round(time.Microsecond)
	}
	return r
}

func expect(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

var hidden = regexp.MustCompile(`name="(state|code_challenge)" value="([^"]*)"`)

// login signs in through the dev provider, returning to the admin callback
// (always an allowed return URL), and redeems the one-time code.
func login(base, email string) (pair, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	loc := func(resp *http.Response, err error) (*url.URL, string, error) {
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 == 3 {
			u, err := resp.Location()
			return u, string(b), err
		}
		return nil, string(b), nil
	}
	authURL, _, err := loc(c.Get(base + "/auth/dev?return_to=" + url.QueryEscape(base+"/admin/callback")))
	if err != nil || authURL == nil {
		return pair{}, fmt.Errorf("start dev login (is DEV_LOGIN on?): %v", err)
	}
	_, page, err := loc(c.Get(authURL.String()))
	if err != nil {
		return pair{}, err
	}
	form := url.Values{"email": {email}, "name": {"Load " + email}}
	for _, m := range hidden.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], strings.ReplaceAll(m[2], "&#43;", "+"))
	}
	cb, _, err := loc(c.PostForm(authURL.Scheme+"://"+authURL.Host+authURL.Path, form))
	if err != nil || cb == nil {
		return pair{}, fmt.Errorf("dev form: %v", err)
	}
	back, _, err := loc(c.Get(cb.String()))
	if err != nil || back == nil {
		return pair{}, fmt.Errorf("callback: %v", err)
	}
	code := back.Query().Get("code")
	resp, err := c.Post(base+"/auth/token", "application/json", strings.NewReader(fmt.Sprintf(`{"grant_type":"authorization_code","code":%q}`, code)))
	if err != nil {
		return pair{}, err
	}
	defer resp.Body.Close()
	var p pair
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || p.Access == "" {
		return pair{}, fmt.Errorf("code exchange: status %d", resp.StatusCode)
	}
	return p, nil
}

// countRedis signs in one session, then refreshes it n times in sequence
// and reports the Redis commands the broker sent per refresh, from the
// server's own INFO commandstats (our INFO calls excluded).
func countRedis(base, redisURL string, n int) error {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	p, err := login(base, "redis-count@example.com")
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	before, err := commandStats(rc)
	if err != nil {
		return err
	}
	for range n {
		body := fmt.Sprintf(`{"grant_type":"refresh_token","refresh_token":%q}`, p.Refresh)
		resp, err := client.Post(base+"/auth/token", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("refresh: status %d", resp.StatusCode)
		}
	}
	after, err := commandStats(rc)
	if err != nil {
		return err
	}
	total := 0
	var parts []string
	for cmd, c := range after {
		if d := c - before[cmd]; d > 0 && cmd != "info" {
			total += d
			parts = append(parts, fmt.Sprintf("%s %.2f", cmd, float64(d)/float64(n)))
		}
	}
	slices.Sort(parts)
	fmt.Printf("redis commands per refresh: %.2f (%s) over %d refreshes\n", float64(total)/float64(n), strings.Join(parts, ", "), n)
	return nil
}

var statLine = regexp.MustCompile(`(?m)^cmdstat_([a-z|]+):calls=(\d+)`)

func commandStats(rc *redis.Client) (map[string]int, error) {
	s, err := rc.Info(context.Background(), "commandstats").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, m := range statLine.FindAllStringSubmatch(s, -1) {
		var v int
		fmt.Sscan(m[2], &v)
		out[m[1]] = v
	}
	return out, nil
}
