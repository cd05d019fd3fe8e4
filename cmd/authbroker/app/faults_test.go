package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/secrets"
	"github.com/authbroker/authbroker/internal/testenv"
)

// Fault tests (issue: "sessions that never log a user out by mistake"):
// infrastructure fails while clients refresh, and no session may be lost
// or revoked because of it. Each test runs its own throwaway servers.

// writeSecrets writes a secrets key file for replicas (or restarts of one
// broker) to share: refresh tokens are MACed under it.
func writeSecrets(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(p, []byte(secrets.NewKeyLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// client is one signed-in device: the refresh token it holds and what
// happened to it.
type client struct {
	rt, at  string
	revoked atomic.Bool // invalid_grant: the session is gone
}

// refreshAll refreshes every client once, concurrently. keep reports
// whether a client keeps the new token (false: the answer was "lost").
// It returns the statuses seen.
func refreshAll(t *testing.T, b *broker, clients []*client, keep func(i int) bool) map[int]int {
	t.Helper()
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		wg       sync.WaitGroup
	)
	for i, c := range clients {
		wg.Go(func() {
			st, out := tryRefresh(b.URL, c.rt)
			mu.Lock()
			statuses[st]++
			mu.Unlock()
			switch {
			case st == http.StatusOK && keep(i):
				c.rt, c.at = out.RefreshToken, out.AccessToken
			case out.Error == "invalid_grant":
				c.revoked.Store(true)
			}
		})
	}
	wg.Wait()
	return statuses
}

// tryRefresh is refresh without failing the test on a transport error
// (the broker may be down): status 0 then.
func tryRefresh(base, rt string) (int, tokenResponse) {
	body := strings.NewReader(`{"grant_type":"refresh_token","refresh_token":"` + rt + `"}`)
	resp, err := http.Post(base+"/auth/token", "application/json", body)
	if err != nil {
		return 0, tokenResponse{}
	}
	defer resp.Body.Close()
	var out tokenResponse
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func revokedCount(clients []*client) int {
	n := 0
	for _, c := range clients {
		if c.revoked.Load() {
			n++
		}
	}
	return n
}

// TestPostgresOutage: PostgreSQL stopped for 20 s while every client
// refreshes on a 15 s schedule, some answers lost before the outage.
// With Redis, refreshes and protected requests go on (they touch no SQL)
// and only sign-in fails, with a clean 503; without Redis, refreshes fail
// with 503 and change nothing. Either way, once PostgreSQL is back, every
// retry succeeds: 0 sessions revoked, no restart.
func TestPostgresOutage(t *testing.T) {
	for _, withRedis := range []bool{true, false} {
		name := "postgres only"
		if withRedis {
			name = "postgres+redis"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pg := testenv.StartOwnPostgres(t)
			env := []string{"DATABASE_URL=" + pg.URL(), "INTROSPECT_SECRET=s3cret-introspection"}
			if withRedis {
				ru, prefix := testenv.Redis(t)
				env = append(env, "REDIS_URL="+ru, "REDIS_PREFIX="+prefix)
			}
			b := startBroker(t, env...)
			clients := make([]*client, 20)
			for i := range clients {
				clients[i] = &client{rt: devLogin(t, b, fmt.Sprintf("pg-outage-%d@example.com", i)).RefreshToken}
			}
			// Half the clients never receive this answer: they retry later
			// with the token they sent.
			refreshAll(t, b, clients, func(i int) bool { return i%2 == 0 })

			pg.Stop()
			outage := time.Now()
			for round := range 2 { // at 0 s and 15 s into the outage
				if round > 0 {
					<-time.After(time.Until(outage.Add(15 * time.Second)))
				}
				statuses := refreshAll(t, b, clients, func(int) bool { return true })
				if withRedis && statuses[http.StatusOK] != len(clients) {
					t.Fatalf("round %d with PostgreSQL down: statuses %v, want every refresh to succeed on Redis", round, statuses)
				}
				if !withRedis && statuses[http.StatusServiceUnavailable] != len(clients) {
					t.Fatalf("round %d with PostgreSQL down: statuses %v, want 503 for every refresh", round, statuses)
				}
			}
			if withRedis {
				// A resource server asking the broker about an access
				// token still gets an answer: verification is keys and
				// the in-memory denylist.
				if active := introspect(t, b, clients[0].at); !active {
					t.Fatal("introspection with PostgreSQL down: a live access token reported inactive")
				}
			}
			if resp, _ := newBrowser(t).get(b.URL + "/auth/dev/callback?state=x&code=y"); resp.StatusCode < 400 {
				t.Fatalf("sign-in with PostgreSQL down: %d, want an error page", resp.StatusCode)
			}
			if st, _ := getJSON(t, b.URL+"/readyz", "", nil); st != http.StatusServiceUnavailable {
				t.Fatalf("/readyz with PostgreSQL down: %d", st)
			}

			<-time.After(time.Until(outage.Add(20 * time.Second)))
			pg.Start()
			<-time.After(time.Until(outage.Add(30 * time.Second))) // the next 15 s round
			statuses := refreshAll(t, b, clients, func(int) bool { return true })
			if statuses[http.StatusOK] != len(clients) || revokedCount(clients) != 0 {
				t.Fatalf("after the outage: statuses %v, %d of %d sessions revoked; want every retry to succeed", statuses, revokedCount(clients), len(clients))
			}
			devLogin(t, b, "after-the-outage@example.com") // sign-in works again, no restart
		})
	}
}

// introspect asks POST /auth/introspect (RFC 7662) whether tok is active.
func introspect(t *testing.T, b *broker, tok string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.URL+"/auth/introspect", strings.NewReader("token="+tok))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("api", "s3cret-introspection")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Active bool `json:"active"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		t.Fatalf("introspect: %d", resp.StatusCode)
	}
	return out.Active
}

// binaryBroker is the real authbroker program, which a test can kill.
type binaryBroker struct {
	t    *testing.T
	url  string
	env  []string
	cmd  *exec.Cmd
	logs *bytes.Buffer
}

func startBinary(t *testing.T, env ...string) *binaryBroker {
	t.Helper()
	port := testenv.FreePort(t)
	b := &binaryBroker{t: t, url: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &bytes.Buffer{}}
	b.env = append(os.Environ(), append([]string{
		fmt.Sprintf("LISTEN_ADDR=127.0.0.1:%d", port), "BASE_URL=" + b.url, "DEV_LOGIN=true",
		"ALLOWED_RETURN_URLS=" + spaReturn, "LOG_LEVEL=warn",
	}, env...)...)
	b.start()
	t.Cleanup(func() {
		b.kill()
		if t.Failed() {
			t.Logf("broker log:\n%s", b.logs.String())
		}
	})
	return b
}

func (b *binaryBroker) start() {
	b.t.Helper()
	b.cmd = exec.Command(testenv.Binary(b.t), "serve")
	b.cmd.Env = b.env
	b.cmd.Dir = b.t.TempDir()
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(b.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatal("the broker did not become ready")
		}
		<-time.After(50 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL: no graceful shutdown, answers in
// flight are lost.
func (b *binaryBroker) kill() {
	if b.cmd != nil && b.cmd.Process != nil {
		_ = b.cmd.Process.Signal(syscall.SIGKILL)
		_ = b.cmd.Wait()
		b.cmd = nil
	}
}

// TestBrokerKilledMidLoad: the broker is killed (SIGKILL) while clients
// refresh as fast as they can, and restarted 15 s later. Half the clients
// lost the answer to their last refresh before the crash (the rotation was
// stored, the answer never arrived) and retry, after the grace period,
// with the token they sent; the others were mid-request. Every session
// survives.
func TestBrokerKilledMidLoad(t *testing.T) {
	t.Parallel()
	ru, prefix := testenv.Redis(t)
	data := t.TempDir()
	b := startBinary(t, "REDIS_URL="+ru, "REDIS_PREFIX="+prefix,
		"DATABASE_URL=sqlite://"+filepath.Join(data, "db.sqlite"), "DATA_DIR="+data,
		"RATE_LIMIT_AUTH=0", "RATE_LIMIT_TOKEN=1000000", "RATE_LIMIT_REFRESH=1000000")
	front := &broker{URL: b.url}
	clients := make([]*client, 32)
	for i := range clients {
		clients[i] = &client{rt: devLogin(t, front, fmt.Sprintf("killed-%d@example.com", i)).RefreshToken}
	}

	var (
		stop   atomic.Bool
		lose   atomic.Bool // the first half loses one answer, then waits
		lost   sync.WaitGroup
		wg     sync.WaitGroup
		ok     atomic.Int64
		failed atomic.Int64
	)
	lost.Add(len(clients) / 2)
	for i, c := range clients {
		wg.Go(func() {
			losing := i < len(clients)/2
			for !stop.Load() {
				if losing && lose.Load() {
					// The rotation is stored, the answer never arrives:
					// this client keeps the token it sent.
					tryRefresh(b.url, c.rt)
					lost.Done()
					for lose.Load() && !stop.Load() {
						<-time.After(10 * time.Millisecond)
					}
					losing = false
					continue
				}
				st, out := tryRefresh(b.url, c.rt)
				switch {
				case st == http.StatusOK:
					c.rt = out.RefreshToken
					ok.Add(1)
				case out.Error == "invalid_grant":
					c.revoked.Store(true)
					return
				default: // the broker is down: keep the token, retry later
					failed.Add(1)
					<-time.After(250 * time.Millisecond)
				}
			}
		})
	}
	<-time.After(2 * time.Second)
	lose.Store(true)
	lost.Wait()
	before := ok.Load()
	b.kill() // the second half is mid-load
	<-time.After(15 * time.Second)
	b.start()
	lose.Store(false)
	<-time.After(2 * time.Second)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d refreshes before the kill, %d after the restart, %d failed while it was down", before, ok.Load()-before, failed.Load())
	if before == 0 || ok.Load() == before || failed.Load() == 0 {
		t.Fatalf("the load did not span the crash: %d before, %d total, %d failed", before, ok.Load(), failed.Load())
	}
	if n := revokedCount(clients); n != 0 {
		t.Fatalf("%d of %d sessions revoked by a broker crash", n, len(clients))
	}
	for i, c := range clients {
		if st, out := tryRefresh(b.url, c.rt); st != http.StatusOK {
			t.Fatalf("client %d after the restart: %d %s", i, st, out.Error)
		}
	}
}

// TestLostAnswerRetriedAnHourLater: a client that never received its
// refresh answer retries an hour later (its token still the previous one,
// the current one unused) and gets the current token: no theft alarm.
func TestLostAnswerRetriedAnHourLater(t *testing.T) {
	for name, env := range backends(t) {
		t.Run(name, func(t *testing.T) {
			clk := clock.NewFake(time.Now())
			b := startBrokerWith(t, clk, env(t)...)
			tr := devLogin(t, b, "lost@example.com")
			clk.Advance(15 * time.Minute)
			st, lost := refresh(t, b, tr.RefreshToken)
			if st != http.StatusOK {
				t.Fatalf("refresh: %d", st)
			}
			clk.Advance(time.Hour)
			st, again := refresh(t, b, tr.RefreshToken)
			if st != http.StatusOK || again.RefreshToken != lost.RefreshToken {
				t.Fatalf("retry an hour later: %d %s, same token %v", st, again.Error, again.RefreshToken == lost.RefreshToken)
			}
			if st, _ := refresh(t, b, again.RefreshToken); st != http.StatusOK {
				t.Fatalf("the chain after the retry: %d", st)
			}
		})
	}
}

// TestRedisLosesItsData: Redis without persistence restarts empty. /readyz
// warned about it beforehand; afterwards no replica — neither the one that
// saw the logouts nor one started after the loss — accepts an access token
// issued before the loss (its logout may be among those lost), while new
// sign-ins work on both.
func TestRedisLosesItsData(t *testing.T) {
	t.Parallel()
	rs := testenv.StartOwnRedis(t)
	shared := []string{"REDIS_URL=" + rs.URL(), "DATABASE_URL=" + testenv.PostgresURL(t),
		"JWT_KEY_FILE=" + writeKey(t), "SECRETS_KEY_FILE=" + writeSecrets(t)}
	a := startBroker(t, shared...)
	waitReady(t, a)
	var ready struct {
		Status   string   `json:"status"`
		Warnings []string `json:"warnings"`
	}
	if st, _ := getJSON(t, a.URL+"/readyz", "", &ready); st != http.StatusOK || len(ready.Warnings) == 0 || !strings.Contains(ready.Warnings[0], "keeps nothing on disk") {
		t.Fatalf("/readyz on a Redis without persistence: %d %+v, want ready with a warning", st, ready)
	}

	var loggedOut []string
	for i := range 5 {
		tr := devLogin(t, a, fmt.Sprintf("lost-logout-%d@example.com", i))
		if st, _, _ := postJSON(t, a.URL+"/auth/logout", map[string]string{}, tr.AccessToken); st != http.StatusNoContent {
			t.Fatalf("logout: %d", st)
		}
		loggedOut = append(loggedOut, tr.AccessToken)
	}
	kept := devLogin(t, a, "kept@example.com") // issued before the loss, never logged out

	rs.Kill()
	rs.Start() // empty
	b := startBrokerWithBase(t, a, shared...)
	waitReady(t, b) // a load balancer sends nothing before
	for i, at := range append(loggedOut, kept.AccessToken) {
		if st, _ := getJSON(t, b.URL+"/auth/me", at, nil); st != http.StatusUnauthorized {
			t.Fatalf("fresh replica after the loss, access token %d issued before it: %d, want 401", i, st)
		}
	}
	// The replica that saw the loss refuses them too, once it has looked.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := getJSON(t, a.URL+"/auth/me", kept.AccessToken, nil)
		if st == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first replica still accepts a pre-loss token: %d", st)
		}
		<-time.After(100 * time.Millisecond)
	}
	// iat has one-second precision and the loss is recorded to the second:
	// a token issued within the second the loss was noticed cannot be told
	// from one issued before it and is refused too (its client refreshes).
	// Sign in from the next second on.
	for noticed := time.Now().Unix(); time.Now().Unix() <= noticed; {
		<-time.After(20 * time.Millisecond)
	}
	fresh := devLogin(t, b, "after-loss@example.com")
	for _, r := range []*broker{a, b} {
		if st, _ := getJSON(t, r.URL+"/auth/me", fresh.AccessToken, nil); st != http.StatusOK {
			t.Fatalf("a token issued after the loss on %s: %d", r.URL, st)
		}
	}
}

// TestReadyzQuietOnDurableRedis: a Redis with AOF and noeviction gets no
// durability warning.
func TestReadyzQuietOnDurableRedis(t *testing.T) {
	t.Parallel()
	rs := testenv.StartOwnRedis(t, "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction")
	b := startBroker(t, "REDIS_URL="+rs.URL())
	waitReady(t, b)
	var ready struct {
		Warnings []string `json:"warnings"`
	}
	if st, _ := getJSON(t, b.URL+"/readyz", "", &ready); st != http.StatusOK || len(ready.Warnings) != 0 {
		t.Fatalf("/readyz on a durable Redis: %d %v", st, ready.Warnings)
	}
}

// waitReady waits until /readyz answers 200, as a load balancer would
// before sending traffic.
func waitReady(t *testing.T, b *broker) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, _ := getJSON(t, b.URL+"/readyz", "", nil); st == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became ready", b.URL)
		}
		<-time.After(20 * time.Millisecond)
	}
}
