// Command authbroker-load drives a running broker to measure what users
// feel and what a refresh costs: refresh latency and throughput next to a
// bare handler's in the same run, and, when told where to look, the broker's
// CPU per refresh, the Redis round trips and commands per refresh (MONITOR),
// the Redis memory a session uses after 1 and 10,000 rotations, and the SQL
// statements a refresh sends. It signs in through the dev provider, so
// point it at a development broker (DEV_LOGIN on).
//
//	authbroker-load -url http://127.0.0.1:8080 -sessions 32 -concurrency 32 -duration 10s
//	authbroker-load -url … -pid 1234 -redis redis://127.0.0.1:6379/0 -memory
//	authbroker-load -url … -redis redis://127.0.0.1:6379/0 -count 25   # round trips only
//
// Loops are bounded by -duration and stop by themselves; only the given URL
// (and the given Redis/PostgreSQL, read-only) are contacted.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/redis/go-redis/v9"
)

type flags struct {
	base, name, returnTo  string
	metricsURL            string
	sessions, conc, count int
	dur                   time.Duration
	pid                   int
	redisURL, pgURL       string
	memory                bool
}

func main() {
	var f flags
	flag.StringVar(&f.base, "url", "http://127.0.0.1:8080", "broker base URL (its BASE_URL)")
	flag.StringVar(&f.metricsURL, "metrics", "", "the broker's metrics listener (http://METRICS_ADDR): PostgreSQL statements per refresh; default -url (brokers that served /metrics on the public port)")
	flag.StringVar(&f.name, "name", "", "a name for this configuration in the summary row")
	flag.StringVar(&f.returnTo, "return-to", "http://localhost:5173/", "an allowed return URL of the broker (the SPA)")
	flag.IntVar(&f.sessions, "sessions", 32, "sessions to sign in before measuring")
	flag.IntVar(&f.conc, "concurrency", 32, "concurrent clients")
	flag.DurationVar(&f.dur, "duration", 10*time.Second, "measuring time per scenario")
	flag.IntVar(&f.pid, "pid", 0, "the broker's process id: report its CPU time per refresh (Linux /proc)")
	flag.StringVar(&f.redisURL, "redis", "", "the broker's Redis: Redis CPU per refresh, and with -memory the bytes per session")
	flag.StringVar(&f.pgURL, "postgres", "", "the broker's PostgreSQL database URL: transactions per refresh (pg_stat_database)")
	flag.BoolVar(&f.memory, "memory", false, "with -redis: MEMORY USAGE of one session after 1 and 10,000 rotations")
	flag.IntVar(&f.count, "count", 0, "only count Redis round trips and commands over this many refreshes (one per session; MONITOR on -redis)")
	flag.Parse()
	if f.metricsURL == "" {
		f.metricsURL = f.base
	}
	var err error
	if f.count > 0 {
		err = countRedis(f)
	} else {
		err = run(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "authbroker-load:", err)
		os.Exit(1)
	}
}

type pair struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

func run(f flags) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: f.conc * 2}}
	pairs := make([]pair, 0, f.sessions)
	for i := range f.sessions {
		p, err := login(f, fmt.Sprintf("load%d@example.com", i))
		if err != nil {
			return fmt.Errorf("sign in: %w", err)
		}
		pairs = append(pairs, p)
	}
	fmt.Printf("signed in %d sessions; %d clients, %s per scenario\n", len(pairs), f.conc, f.dur)

	get := func(path string) func(i int) error {
		return func(i int) error {
			req, _ := http.NewRequest(http.MethodGet, f.base+path, nil)
			req.Header.Set("Authorization", "Bearer "+pairs[i%len(pairs)].Access)
			return expect(client.Do(req))
		}
	}
	// Each worker owns its session, so refresh chains never cross.
	var mu sync.Mutex
	refresh := func(i int) error {
		idx := i % len(pairs)
		mu.Lock()
		rt := pairs[idx].Refresh
		mu.Unlock()
		p, err := refreshOnce(client, f.base, rt)
		if err != nil {
			return err
		}
		mu.Lock()
		pairs[idx] = p
		mu.Unlock()
		return nil
	}
	bare := measure(get("/healthz"), f.conc, f.dur)
	report("bare (GET /healthz)", bare)
	report("protected (GET /auth/me)", measure(get("/auth/me"), f.conc, f.dur))

	cpu0, cpuErr := processCPU(f.pid)
	rcpu0, _ := redisCPU(f.redisURL)
	stmts0, stmtsErr := metric(client, f.metricsURL, "authbroker_sql_statements_total")
	xact0, _ := pgTransactions(f.pgURL)
	ref := measure(refresh, min(f.conc, len(pairs)), f.dur)
	report("refresh (POST /auth/token)", ref)
	sum := summary{name: f.name, ref: ref, bare: bare}
	if f.pid > 0 && cpuErr == nil {
		if cpu1, err := processCPU(f.pid); err == nil {
			sum.brokerCPU = (cpu1 - cpu0) / time.Duration(max(ref.n, 1))
			fmt.Printf("broker CPU per refresh: %s\n", sum.brokerCPU)
		}
	}
	if f.redisURL != "" {
		if rcpu1, err := redisCPU(f.redisURL); err == nil {
			sum.redisCPU = (rcpu1 - rcpu0) / time.Duration(max(ref.n, 1))
			fmt.Printf("redis CPU per refresh: %s\n", sum.redisCPU)
		}
	}
	if stmts1, err := metric(client, f.metricsURL, "authbroker_sql_statements_total"); err == nil && stmtsErr == nil {
		sum.sqlStmts = fmt.Sprintf("%.2f", (stmts1-stmts0)/float64(max(ref.n, 1)))
		fmt.Printf("PostgreSQL statements per refresh (broker's pgx tracer): %s\n", sum.sqlStmts)
	}
	if f.pgURL != "" {
		time.Sleep(time.Second) // pg_stat_database is updated when backends report
		if xact1, err := pgTransactions(f.pgURL); err == nil {
			sum.sqlXacts = fmt.Sprintf("%.2f", float64(xact1-xact0)/float64(max(ref.n, 1)))
			fmt.Printf("PostgreSQL transactions per refresh (pg_stat_database.xact_commit): %s\n", sum.sqlXacts)
		}
	}
	if f.memory && f.redisURL != "" {
		var err error
		if sum.mem1, sum.mem10k, err = sessionMemory(f, client); err != nil {
			return err
		}
	}
	fmt.Println(sum.row())
	return nil
}

// summary is one configuration's row of the BENCHMARKS.md table.
type summary struct {
	name               string
	ref, bare          result
	brokerCPU          time.Duration
	redisCPU           time.Duration
	sqlStmts, sqlXacts string
	mem1, mem10k       int64
}

func (s summary) row() string {
	dash := func(v string) string {
		if v == "" {
			return "—"
		}
		return v
	}
	mem := "—"
	if s.mem1 > 0 {
		mem = fmt.Sprintf("%d / %d", s.mem1, s.mem10k)
	}
	cpu := "—"
	if s.brokerCPU > 0 {
		cpu = fmt.Sprintf("%d µs", s.brokerCPU.Microseconds())
		if s.redisCPU > 0 {
			cpu += fmt.Sprintf(" (+ Redis %d µs)", s.redisCPU.Microseconds())
		}
	}
	return fmt.Sprintf("| %s | %.0f | %s | %s | %.0f | %.2f | %s | %s | %s |", s.name, s.ref.rate,
		ms(s.ref.p50), ms(s.ref.p99), s.bare.rate, s.ref.rate/s.bare.rate, cpu, mem, dash(s.sqlStmts+" stmts, "+s.sqlXacts+" txns"))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func report(name string, r result) {
	fmt.Printf("%-32s %8d req %6d err %9.0f req/s  p50 %8s  p99 %8s\n", name, r.n, r.errs, r.rate, r.p50, r.p99)
}

func refreshOnce(c *http.Client, base, rt string) (pair, error) {
	body := fmt.Sprintf(`{"grant_type":"refresh_token","refresh_token":%q}`, rt)
	resp, err := c.Post(base+"/auth/token", "application/json", strings.NewReader(body))
	if err != nil {
		return pair{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return pair{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	var p pair
	err = json.NewDecoder(resp.Body).Decode(&p)
	return p, err
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
		wg.Go(func() {
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
		})
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

// login signs in through the dev provider as a SPA does: a PKCE challenge,
// the provider's form, the one-time code on the return URL, and the code
// exchange with the verifier.
func login(f flags, email string) (pair, error) {
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
	var v [32]byte
	_, _ = rand.Read(v[:])
	verifier := base64.RawURLEncoding.EncodeToString(v[:])
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"return_to": {f.returnTo}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	authURL, page, err := loc(c.Get(f.base + "/auth/dev?" + q.Encode()))
	if err != nil || authURL == nil {
		return pair{}, fmt.Errorf("start dev login (is DEV_LOGIN on, %s allowed?): %v %.200s", f.returnTo, err, page)
	}
	_, page, err = loc(c.Get(authURL.String()))
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
	back, page, err := loc(c.Get(cb.String()))
	if err != nil || back == nil {
		return pair{}, fmt.Errorf("callback: %v %.200s", err, page)
	}
	code := back.Query().Get("code")
	body := fmt.Sprintf(`{"grant_type":"authorization_code","code":%q,"code_verifier":%q}`, code, verifier)
	resp, err := c.Post(f.base+"/auth/token", "application/json", strings.NewReader(body))
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

// processCPU is the user+system CPU time of a process (Linux /proc).
func processCPU(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("no pid")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the ")" that ends the command name; utime and stime
	// are fields 14 and 15, in clock ticks (100 per second on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat")
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond, nil
}

// redisCPU is Redis's user+system CPU time (INFO cpu).
func redisCPU(redisURL string) (time.Duration, error) {
	if redisURL == "" {
		return 0, fmt.Errorf("no redis")
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return 0, err
	}
	c := redis.NewClient(opt)
	defer c.Close()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		return 0, err
	}
	var total float64
	for _, l := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			x, _ := strconv.ParseFloat(v, 64)
			total += x
		}
	}
	return time.Duration(total * float64(time.Second)), nil
}

// metric reads an unlabelled counter from the broker's /metrics.
func metric(c *http.Client, base, name string) (float64, error) {
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no metric %s", name)
}

// pgTransactions is the committed transactions of the database at dbURL.
func pgTransactions(dbURL string) (int64, error) {
	if dbURL == "" {
		return 0, fmt.Errorf("no postgres")
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRow(`SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	return n, err
}

// sessionMemory signs in one session, rotates it once and 10,000 times,
// and sums MEMORY USAGE over every Redis key that names the session or its
// member (the session record, and any per-member index).
func sessionMemory(f flags, client *http.Client) (after1, after10k int64, err error) {
	opt, err := redis.ParseURL(f.redisURL)
	if err != nil {
		return 0, 0, err
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	p, err := login(f, "memory@example.com")
	if err != nil {
		return 0, 0, err
	}
	usage := func() (int64, error) {
		claims := jwtClaims(p.Access)
		var total int64
		for _, id := range []string{claims.SessionID, claims.Subject} {
			iter := rc.Scan(context.Background(), 0, "*"+id+"*", 1000).Iterator()
			for iter.Next(context.Background()) {
				n, err := rc.MemoryUsage(context.Background(), iter.Val()).Result()
				if err != nil {
					return 0, err
				}
				total += n
			}
			if err := iter.Err(); err != nil {
				return 0, err
			}
		}
		return total, nil
	}
	for i := 1; i <= 10_000; i++ {
		if p, err = refreshOnce(client, f.base, p.Refresh); err != nil {
			return 0, 0, fmt.Errorf("rotation %d: %w", i, err)
		}
		if i == 1 {
			if after1, err = usage(); err != nil {
				return 0, 0, err
			}
		}
	}
	after10k, err = usage()
	fmt.Printf("redis bytes per session (MEMORY USAGE of its keys): %d after 1 rotation, %d after 10,000\n", after1, after10k)
	return after1, after10k, err
}

type claims struct {
	Subject   string `json:"sub"`
	SessionID string `json:"sid"`
}

func jwtClaims(tok string) claims {
	var c claims
	parts := strings.Split(tok, ".")
	if len(parts) == 3 {
		if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
			_ = json.Unmarshal(b, &c)
		}
	}
	return c
}

// countRedis signs in f.count sessions, then refreshes each once while
// watching Redis with MONITOR, and reports per refresh the commands the
// broker sent (round trips) and the commands those ran inside Redis scripts
// (MONITOR tags them "[0 lua]"; INFO commandstats cannot tell the two
// apart). One refresh per session and few of them keep within the default
// rate limits, which stay on.
func countRedis(f flags) error {
	opt, err := redis.ParseURL(f.redisURL)
	if err != nil {
		return err
	}
	pairs := make([]pair, f.count)
	for i := range pairs {
		if pairs[i], err = login(f, fmt.Sprintf("redis-count-%d@example.com", i)); err != nil {
			return err
		}
	}
	stop, err := monitor(opt)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, p := range pairs {
		if _, err := refreshOnce(client, f.base, p.Refresh); err != nil {
			stop()
			return fmt.Errorf("refresh: %w", err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	lines := stop()
	top, inner := map[string]int{}, map[string]int{}
	for _, l := range lines {
		m := monitorLine.FindStringSubmatch(l)
		if m == nil || background(strings.ToLower(m[2]), l) {
			continue
		}
		if m[1] == "lua" {
			inner[strings.ToLower(m[2])]++
		} else {
			top[strings.ToLower(m[2])]++
		}
	}
	fmt.Printf("redis round trips per refresh: %s\n", perRefresh(top, len(pairs)))
	fmt.Printf("redis commands run inside scripts per refresh: %s\n", perRefresh(inner, len(pairs)))
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

// background reports whether a MONITOR line is the broker's periodic work
// rather than a refresh: our own MONITOR, the subscriber's keepalive, the
// replica heartbeat and data-marker scripts, the durability check and the
// denylist resync. They run on timers, not per request.
func background(cmd, line string) bool {
	switch cmd {
	case "monitor", "ping", "subscribe", "config", "zrangebyscore", "zremrangebyscore":
		return true
	}
	return strings.Contains(line, `replicas"`) || strings.Contains(line, `marker"`)
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
