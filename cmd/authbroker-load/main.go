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
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
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
	"golang.org/x/oauth2"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "broker base URL (its BASE_URL)")
	sessions := flag.Int("sessions", 50, "sessions to sign in before measuring")
	conc := flag.Int("concurrency", 16, "concurrent clients")
	dur := flag.Duration("duration", 10*time.Second, "measuring time per scenario")
	redisURL := flag.String("redis", "", "the broker's Redis: also count Redis commands per refresh (with MONITOR)")
	returnTo := flag.String("return-to", "http://localhost:5173/", "an allowed return URL of the broker (ALLOWED_RETURN_URLS; this is its development default)")
	flag.Parse()
	if err := run(*base, *returnTo, *sessions, *conc, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "authbroker-load:", err)
		os.Exit(1)
	}
	if *redisURL == "" {
		return
	}
	if err := countRedis(*base, *returnTo, *redisURL, 200); err != nil {
		fmt.Fprintln(os.Stderr, "authbroker-load:", err)
		os.Exit(1)
	}
}

type pair struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

func run(base, returnTo string, sessions, conc int, dur time.Duration) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2}}
	pairs := make([]pair, 0, sessions)
	for i := range sessions {
		p, err := login(base, returnTo, fmt.Sprintf("load%d@example.com", i))
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

// login signs in through the dev provider as an SPA does (return_to with a
// PKCE challenge) and redeems the one-time code with its verifier.
func login(base, returnTo, email string) (pair, error) {
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
	verifier := oauth2.GenerateVerifier()
	start := url.Values{"return_to": {returnTo}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	authURL, _, err := loc(c.Get(base + "/auth/dev?" + start.Encode()))
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
	resp, err := c.Post(base+"/auth/token", "application/json", strings.NewReader(fmt.Sprintf(`{"grant_type":"authorization_code","code":%q,"code_verifier":%q}`, code, verifier)))
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
// while watching Redis with MONITOR, and reports per refresh the commands
// the broker sent (round trips) and the commands those ran inside Redis
// scripts (MONITOR tags them "[0 lua]"; INFO commandstats cannot tell the
// two apart).
func countRedis(base, returnTo, redisURL string, n int) error {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	p, err := login(base, returnTo, "redis-count@example.com")
	if err != nil {
		return err
	}
	stop, err := monitor(opt)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second}
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
	time.Sleep(200 * time.Millisecond)
	lines := stop()
	top, inner := map[string]int{}, map[string]int{}
	for _, l := range lines {
		{
			m := monitorLine.FindStringSubmatch(l)
			if m == nil || strings.EqualFold(m[2], "monitor") || strings.EqualFold(m[2], "ping") {
				continue // our own connection, and the subscriber's keepalive
			}
			if m[1] == "lua" {
				inner[strings.ToLower(m[2])]++
			} else {
				top[strings.ToLower(m[2])]++
			}
		}
	}
	fmt.Printf("redis round trips per refresh: %s\n", perRefresh(top, n))
	fmt.Printf("redis commands run inside scripts per refresh: %s\n", perRefresh(inner, n))
	return nil
}

// monitor opens a raw connection in MONITOR mode (RESP simple strings,
// one per command Redis runs) and collects its lines; stop closes it and
// returns them.
func monitor(opt *redis.Options) (stop func() []string, err error) {
	conn, err := net.DialTimeout("tcp", opt.Addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	send := func(args ...string) (string, error) {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := conn.Write([]byte(b.String())); err != nil {
			return "", err
		}
		return r.ReadString('\n')
	}
	if opt.Password != "" {
		args := []string{"AUTH", opt.Password}
		if opt.Username != "" {
			args = []string{"AUTH", opt.Username, opt.Password}
		}
		if l, err := send(args...); err != nil || !strings.HasPrefix(l, "+OK") {
			conn.Close()
			return nil, fmt.Errorf("redis AUTH failed")
		}
	}
	if l, err := send("MONITOR"); err != nil || !strings.HasPrefix(l, "+OK") {
		conn.Close()
		return nil, fmt.Errorf("redis MONITOR refused: %q %v", l, err)
	}
	var collected []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			collected = append(collected, strings.TrimPrefix(strings.TrimRight(l, "\r\n"), "+"))
		}
	}()
	return func() []string {
		conn.Close()
		<-done
		return collected
	}, nil
}

// monitorLine matches `1700000000.123 [0 127.0.0.1:5000] "evalsha" …` and
// `… [0 lua] "hset" …`, capturing the source and the command.
var monitorLine = regexp.MustCompile(`^\d+\.\d+ \[\d+ ([^\]]+)\] "([A-Za-z|]+)"`)

func perRefresh(counts map[string]int, n int) string {
	total := 0
	var parts []string
	for cmd, c := range counts {
		total += c
		parts = append(parts, fmt.Sprintf("%s %.2f", cmd, float64(c)/float64(n)))
	}
	slices.Sort(parts)
	return fmt.Sprintf("%.2f (%s) over %d refreshes", float64(total)/float64(n), strings.Join(parts, ", "), n)
}
