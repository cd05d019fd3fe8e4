package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/secrets"
	"github.com/authbroker/authbroker/internal/token"
)

// The tests here run the real binary: the test executable re-executes
// itself with AUTHBROKER_RUN_MAIN=1, and TestMain then calls run() with the
// given arguments and exits with its status, signals and all, exactly as
// main does.
func TestMain(m *testing.M) {
	if os.Getenv("AUTHBROKER_RUN_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// process is a running authbroker binary.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	dir    string
	stderr *syncBuffer
	lines  chan string // stdout, line by line
	done   chan struct{}
	err    error // Wait's, once done is closed
}

// syncBuffer collects output written by another goroutine.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // closed and replaced on every write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written != nil {
		close(s.written)
		s.written = nil
	}
	return s.b.Write(p)
}

// waitFor waits until the output contains sub; false after within.
func (s *syncBuffer) waitFor(sub string, within time.Duration) bool {
	timeout := time.After(within)
	for {
		s.mu.Lock()
		if strings.Contains(s.b.String(), sub) {
			s.mu.Unlock()
			return true
		}
		if s.written == nil {
			s.written = make(chan struct{})
		}
		w := s.written
		s.mu.Unlock()
		select {
		case <-w:
		case <-timeout:
			return false
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startBinary runs `authbroker args…` in a fresh directory (no .env) with
// only env set (plus PATH and HOME).
func startBinary(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	p := &process{t: t, dir: t.TempDir(), stderr: &syncBuffer{}, lines: make(chan string, 100), done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Dir = p.dir
	// Under -race the child is race-enabled too; without the race
	// detector's default 1 s pause at exit, timings are the broker's own.
	p.cmd.Env = append([]string{"AUTHBROKER_RUN_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + p.dir, "GORACE=atexit_sleep_ms=0"}, env...)
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("stderr of the broker:\n%s", p.stderr.String())
		}
	})
	return p
}

var listeningLine = regexp.MustCompile(`^authbroker is listening on (\S+): open `)

// addr waits for the start-up line and returns the address it names: the
// one the broker actually listens on (LISTEN_ADDR may say port 0).
func (p *process) addr(within time.Duration) string {
	p.t.Helper()
	timeout := time.After(within)
	for {
		select {
		case line := <-p.lines:
			if m := listeningLine.FindStringSubmatch(line); m != nil {
				return m[1]
			}
		case <-p.done:
			p.t.Fatalf("the broker exited before listening: %v", p.err)
		case <-timeout:
			p.t.Fatalf("no start-up line within %s", within)
		}
	}
}

// wait waits for the process to exit and returns its status.
func (p *process) wait(within time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		p.t.Fatalf("the broker did not exit within %s", within)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("wait: %v", p.err)
	}
	return 0
}

// keyFile writes a fresh signing key for alg and returns its path.
func keyFile(t *testing.T, alg string) string {
	t.Helper()
	data, err := token.GenerateKeyPEM(alg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// secretsFile writes a fresh SECRETS_KEY_FILE and returns its path.
func secretsFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(path, []byte(secrets.NewKeyLine()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestConfigurationProblemsExit2: every configuration problem, whichever
// part of the broker detects it, stops start-up with exit status 2 and one
// "config:" line naming the variable, before anything is opened.
func TestConfigurationProblemsExit2(t *testing.T) {
	key := keyFile(t, "ES256")
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	prod := func(extra ...string) []string {
		return append([]string{"APP_ENV=production", "BASE_URL=https://auth.example.com", "JWT_KEY_FILE=" + key, "SECRETS_KEY_FILE=" + secretsFile(t),
			"GITHUB_CLIENT_ID=gh", "GITHUB_CLIENT_SECRET=ghs", "ALLOWED_RETURN_URLS=https://app.example.com/"}, extra...)
	}
	cases := []struct {
		name string
		env  []string
		want string // the variable the line names
	}{
		{"bad duration", []string{"ACCESS_TOKEN_TTL=15x"}, "ACCESS_TOKEN_TTL"},
		{"dev login in production", prod("DEV_LOGIN=true"), "DEV_LOGIN"},
		{"unknown REDIS_URL option", []string{"REDIS_URL=redis://127.0.0.1:6379/0?pool_sise=3"}, "REDIS_URL"},
		{"Sentinel URL without a master", []string{"REDIS_URL=redis-sentinel://127.0.0.1:26379"}, "REDIS_URL"},
		{"Cluster URL with a database", []string{"REDIS_URL=rediss-cluster://127.0.0.1:7000/1"}, "REDIS_URL"},
		{"JWT_KEY_FILE missing", []string{"JWT_KEY_FILE=/nonexistent/key.pem"}, "JWT_KEY_FILE"},
		{"JWT_KEY_FILE unparsable", []string{"JWT_KEY_FILE=" + garbage}, "JWT_KEY_FILE"},
		{"key not matching JWT_ALG", []string{"JWT_KEY_FILE=" + key, "JWT_ALG=RS256"}, "JWT_KEY_FILE"},
		{"HS256 secret and key file both", []string{"JWT_ALG=HS256", "JWT_SECRET=s", "JWT_KEY_FILE=" + key}, "JWT_SECRET"},
		{"trusted proxy that is no range", []string{"TRUSTED_PROXIES=lb.internal"}, "TRUSTED_PROXIES"},
		{"negative rate limit", []string{"RATE_LIMIT_AUTH=-5"}, "RATE_LIMIT_AUTH"},
		{"in-memory SQLite", []string{"DATABASE_URL=sqlite://:memory:"}, "DATABASE_URL"},
		{"malformed PostgreSQL URL", []string{"DATABASE_URL=postgres://user:s3cret@host:port/db"}, "DATABASE_URL"},
		{"metrics address", []string{"METRICS_ADDR=9090"}, "METRICS_ADDR"},
		{"listen address", []string{"LISTEN_ADDR=8080"}, "LISTEN_ADDR"},
		{"malformed provider endpoint", []string{"GITHUB_CLIENT_ID=gh", "GITHUB_CLIENT_SECRET=s", "GITHUB_TOKEN_URL=ftp://x"}, "GITHUB_TOKEN_URL"},
		{"Kakao app id not a number", []string{"KAKAO_CLIENT_ID=k", "KAKAO_APP_ID=my-app"}, "KAKAO_APP_ID"},
		{"production: http provider endpoint", prod("GITHUB_TOKEN_URL=http://github.internal/token"), "GITHUB_TOKEN_URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startBinary(t, tc.env, "serve")
			code := p.wait(30 * time.Second)
			stderr := strings.TrimSpace(p.stderr.String())
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			lines := strings.Split(stderr, "\n")
			for _, l := range lines {
				if !strings.HasPrefix(l, "config: ") {
					t.Fatalf("stderr line %q is not a config: line", l)
				}
			}
			if !strings.HasPrefix(lines[0], "config: "+tc.want+": ") || len(lines) != 1 {
				t.Fatalf("stderr %q: want one line naming %s", stderr, tc.want)
			}
			if strings.Contains(stderr, "s3cret") {
				t.Fatalf("stderr shows a password: %s", stderr)
			}
			// Nothing was opened: no database file, no generated key.
			if _, err := os.Stat(filepath.Join(p.dir, "data")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("./data exists after a refused start (%v)", err)
			}
		})
	}
}

// TestDatabaseUnreachable: PostgreSQL that does not answer is retried with
// backoff for DATABASE_WAIT, then the broker exits 1 with a line naming
// DATABASE_URL (and never the password).
func TestDatabaseUnreachable(t *testing.T) {
	start := time.Now()
	p := startBinary(t, []string{"DATABASE_URL=postgres://authbroker:s3cret@" + closedPort(t) + "/authbroker?sslmode=disable&connect_timeout=1",
		"DATABASE_WAIT=2s"}, "serve")
	code := p.wait(30 * time.Second)
	took := time.Since(start)
	stderr := p.stderr.String()
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr, "DATABASE_URL: the database did not answer within 2s") || strings.Contains(stderr, "s3cret") {
		t.Fatalf("stderr does not name DATABASE_URL (or shows the password):\n%s", stderr)
	}
	if n := strings.Count(stderr, "database.waiting"); n < 3 {
		t.Fatalf("%d attempts in 2s, want the backoff's retries:\n%s", n, stderr)
	}
	if took < 2*time.Second || took > 15*time.Second {
		t.Fatalf("gave up after %s, want about DATABASE_WAIT=2s", took)
	}
	t.Logf("unreachable PostgreSQL: %d attempts, exit 1 after %s", strings.Count(stderr, "database.waiting"), took.Round(10*time.Millisecond))
}

// slowBody opens a connection that sends a request's headers and the first
// byte of a 1000-byte body, then nothing more: a client trickling its body.
func slowBody(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSIGTERMExitsZero: the real binary, 20 clients trickling request
// bodies, and a SIGTERM. /readyz answers 503 at once; the listener stays
// open (and serves) for SHUTDOWN_DRAIN; the slow clients are cut at
// SHUTDOWN_TIMEOUT; the exit status is 0.
func TestSIGTERMExitsZero(t *testing.T) {
	const drain, bound = 1500 * time.Millisecond, 1500 * time.Millisecond
	p := startBinary(t, []string{"LISTEN_ADDR=127.0.0.1:0", "SHUTDOWN_DRAIN=" + drain.String(), "SHUTDOWN_TIMEOUT=" + bound.String(), "LOG_LEVEL=warn"}, "serve")
	addr := p.addr(30 * time.Second)
	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Second}
	// get returns the status and whether the answer asked to close the
	// connection (Connection: close).
	get := func(path string) (int, bool) {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, false
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Close
	}
	if st, _ := get("/readyz"); st != http.StatusOK {
		t.Fatalf("/readyz before SIGTERM: %d", st)
	}
	var slow []net.Conn
	for range 20 {
		slow = append(slow, slowBody(t, addr))
	}

	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The first probe after the signal already fails…
	var readyAfter time.Duration
	for {
		st, closing := get("/readyz")
		if st == http.StatusServiceUnavailable {
			readyAfter = time.Since(sent)
			if !closing {
				t.Errorf("answers during the drain do not ask clients to close their connections")
			}
			break
		}
		if st == 0 || time.Since(sent) > drain {
			t.Fatalf("/readyz after SIGTERM: %d", st)
		}
	}
	// …while the broker still serves.
	if st, _ := get("/healthz"); st != http.StatusOK {
		t.Fatalf("/healthz during the drain: %d (the listener closed early)", st)
	}
	code := p.wait(drain + bound + 10*time.Second)
	took := time.Since(sent)
	if code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0", code)
	}
	if took < drain+bound || took > drain+bound+5*time.Second {
		t.Fatalf("stopped %s after SIGTERM, want SHUTDOWN_DRAIN + SHUTDOWN_TIMEOUT = %s (the slow clients held it to the bound)", took, drain+bound)
	}
	for i, c := range slow {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("slow client %d still connected", i)
		}
	}
	t.Logf("SIGTERM: /readyz 503 after %s; exit 0 after %s (drain %s + bound %s, 20 slow-body clients cut)",
		readyAfter.Round(time.Millisecond), took.Round(time.Millisecond), drain, bound)
}

// TestSIGTERMWithoutStragglers: with nothing in flight the broker stops as
// soon as the drain ends, without waiting for the bound.
func TestSIGTERMWithoutStragglers(t *testing.T) {
	p := startBinary(t, []string{"LISTEN_ADDR=127.0.0.1:0", "SHUTDOWN_DRAIN=200ms", "SHUTDOWN_TIMEOUT=20s"}, "serve")
	addr := p.addr(30 * time.Second)
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the start-up line's address %s does not answer: %v", addr, err)
	}
	sent := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if took := time.Since(sent); took > 5*time.Second {
		t.Fatalf("stopped %s after SIGTERM with nothing in flight", took)
	}
}

// TestRedisLogsAreJSON: in production every line on stderr is JSON, go-redis's
// own complaints (a Redis that does not answer) included.
func TestRedisLogsAreJSON(t *testing.T) {
	p := startBinary(t, []string{"APP_ENV=production", "BASE_URL=https://auth.example.com", "JWT_KEY_FILE=" + keyFile(t, "ES256"), "SECRETS_KEY_FILE=" + secretsFile(t),
		"GITHUB_CLIENT_ID=gh", "GITHUB_CLIENT_SECRET=ghs", "ALLOWED_RETURN_URLS=https://app.example.com/",
		"LISTEN_ADDR=127.0.0.1:0", "REDIS_URL=redis://" + closedPort(t) + "/0?dial_timeout=200ms", "SHUTDOWN_DRAIN=0s",
		"DATABASE_URL=sqlite://./db.sqlite"}, "serve")
	p.addr(30 * time.Second)
	if !p.stderr.waitFor(`"msg":"redis.log"`, 20*time.Second) {
		t.Fatalf("no go-redis line within 20s:\n%s", p.stderr.String())
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(30 * time.Second)
	for _, line := range strings.Split(strings.TrimSpace(p.stderr.String()), "\n") {
		if !strings.HasPrefix(line, "{") || !strings.HasSuffix(line, "}") {
			t.Fatalf("not a JSON line: %q", line)
		}
	}
}

// TestProductionWarnings: settings production allows but rarely means are
// named at start-up, loudly, before the broker serves: an empty
// ALLOWED_RETURN_URLS, a rate limit turned off, and no provider anyone could
// sign in with (allowed: an operator may be mid-setup).
func TestProductionWarnings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"no return URLs, a limit off", []string{"GITHUB_CLIENT_ID=gh", "GITHUB_CLIENT_SECRET=ghs", "RATE_LIMIT_REFRESH=0"},
			[]string{`"msg":"config.warning","problem":"ALLOWED_RETURN_URLS: empty`, `"msg":"config.warning","problem":"RATE_LIMIT_REFRESH: 0 turns this rate limit off"`}},
		{"no provider complete", []string{"GITHUB_CLIENT_ID=gh", "ALLOWED_RETURN_URLS=https://app.example.com/"},
			[]string{`"msg":"provider.incomplete","provider":"github","missing":"GITHUB_CLIENT_SECRET"`, `"msg":"config.warning","problem":"providers: none is enabled`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startBinary(t, append([]string{"APP_ENV=production", "BASE_URL=https://auth.example.com", "JWT_KEY_FILE=" + keyFile(t, "ES256"),
				"SECRETS_KEY_FILE=" + secretsFile(t), "LISTEN_ADDR=127.0.0.1:0", "SHUTDOWN_DRAIN=0s", "DATABASE_URL=sqlite://./db.sqlite"}, tc.env...), "serve")
			p.addr(30 * time.Second)
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			p.wait(30 * time.Second)
			for _, want := range tc.want {
				if !strings.Contains(p.stderr.String(), want) {
					t.Errorf("stderr lacks %s:\n%s", want, p.stderr.String())
				}
			}
		})
	}
}
