package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authbroker/authbroker/cmd/authbroker/app/apptest"
	"github.com/authbroker/authbroker/internal/testenv"
)

// The backend examples (examples/resource-server in Go with net/http and
// handlers/bearer, examples/express, examples/spring) run as real
// processes against a real broker: a valid token is accepted, an expired
// one is refused as token_expired, a token for another audience or
// tampered with as invalid_token.

// backendExample is one example API: prepare checks what it needs (and
// skips or fails the test without it) and returns how to start it trusting
// issuer for audience, and the output line that says it is listening.
type backendExample struct {
	name    string
	prepare func(t *testing.T) (cmd func(issuer, audience string) *exec.Cmd, listening func(line string) string)
}

func TestBackendExamplesVerifyTokens(t *testing.T) {
	for _, ex := range []backendExample{
		{"go", goExample},
		{"express", expressExample},
		{"spring", springExample},
	} {
		t.Run(ex.name, func(t *testing.T) {
			cmd, listening := ex.prepare(t)
			ln, _ := apptest.Listen(t)
			b := startBroker(t, ln, "ACCESS_TOKEN_TTL=6s", "DEV_LOGIN=true", "ALLOWED_RETURN_URLS="+testReturnTo)
			// Started together: the same example expecting our audience, and
			// one expecting another API's.
			var api, other string
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); api = runUntilListening(t, cmd(b.URL, b.Config.JWTAudience), listening) }()
			go func() { defer wg.Done(); other = runUntilListening(t, cmd(b.URL, "another-api"), listening) }()
			wg.Wait()
			if api == "" || other == "" {
				t.FailNow()
			}

			tr := signInDev(t, b, testReturnTo, "ada@example.com")
			status, body := getBody(t, api+"/api/hello", tr.AccessToken)
			var hello struct {
				MemberID string `json:"member_id"`
				Email    string `json:"email"`
				Role     string `json:"role"`
			}
			if err := json.Unmarshal(body, &hello); status != http.StatusOK || err != nil || hello.MemberID != tr.Member.ID || hello.Role != "user" {
				t.Fatalf("valid token: %d %s, want 200 with member %s", status, body, tr.Member.ID)
			}
			for name, c := range map[string]struct {
				url, token string
				status     int
				code       string
			}{
				"token for another audience": {other + "/api/hello", tr.AccessToken, http.StatusUnauthorized, "invalid_token"},
				"payload tampered":           {api + "/api/hello", tamper(t, tr.AccessToken), http.StatusUnauthorized, "invalid_token"},
				"no token":                   {api + "/api/hello", "", http.StatusUnauthorized, "invalid_token"},
				"member is not an admin":     {api + "/api/admin", tr.AccessToken, http.StatusForbidden, ""},
			} {
				status, code := getJSON(t, c.url, c.token)
				if status != c.status || (c.code != "" && code != c.code) {
					t.Errorf("%s: %d %q, want %d %q", name, status, code, c.status, c.code)
				}
			}

			eventually(t, 20*time.Second, "the example to refuse the token as expired", func() bool {
				status, code := getJSON(t, api+"/api/hello", tr.AccessToken)
				if status == http.StatusOK {
					return false
				}
				if status != http.StatusUnauthorized || code != "token_expired" {
					t.Fatalf("expired token: %d %q, want 401 token_expired", status, code)
				}
				return true
			})
			req, _ := http.NewRequest(http.MethodGet, api+"/api/hello", nil)
			req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if h := resp.Header.Get("WWW-Authenticate"); !strings.Contains(h, `error="invalid_token"`) {
				t.Errorf("expired token: WWW-Authenticate %q, want RFC 6750's error=\"invalid_token\"", h)
			}
		})
	}
}

// goExample builds examples/resource-server (net/http and handlers/bearer,
// no framework) and runs it on a free port with no clock leeway.
func goExample(t *testing.T) (func(issuer, audience string) *exec.Cmd, func(string) string) {
	bin := filepath.Join(t.TempDir(), "resource-server")
	build := exec.Command("go", "build", "-o", bin, "./examples/resource-server")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/resource-server: %v\n%s", err, out)
	}
	cmd := func(issuer, audience string) *exec.Cmd {
		c := exec.Command(bin)
		c.Env = append(os.Environ(), "LISTEN_ADDR=127.0.0.1:0", "AUTHBROKER_URL="+issuer, "JWT_AUDIENCE="+audience, "CLOCK_SKEW=-1s")
		return c
	}
	return cmd, listeningOn
}

// listeningOn is the URL in an example's "listening on URL" line, or "".
func listeningOn(line string) string {
	u, ok := strings.CutPrefix(line, "listening on ")
	if !ok {
		return ""
	}
	return u
}

// expressExample runs examples/express/server.mjs (scripts/test runs npm
// ci there) on a free port.
func expressExample(t *testing.T) (func(issuer, audience string) *exec.Cmd, func(string) string) {
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Require(t, "node not found: %v", err)
	}
	dir := filepath.Join("..", "..", "examples", "express")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "express")); err != nil {
		testenv.Require(t, "examples/express is not installed (cd examples/express && npm ci): %v", err)
	}
	cmd := func(issuer, audience string) *exec.Cmd {
		c := exec.Command(node, "server.mjs")
		c.Dir = dir
		c.Env = append(os.Environ(), "PORT=0", "AUTHBROKER_ISSUER="+issuer, "AUTHBROKER_AUDIENCE="+audience, "AUTHBROKER_CLOCK_TOLERANCE=0")
		return c
	}
	return cmd, listeningOn
}

// springJar is the example's build (scripts/test builds it with Maven).
const springJar = "../../examples/spring/target/authbroker-spring-example.jar"

// springExample runs examples/spring's jar on a free port; it is ready when
// Spring Boot says Tomcat started.
func springExample(t *testing.T) (func(issuer, audience string) *exec.Cmd, func(string) string) {
	if _, err := os.Stat(springJar); err != nil {
		if why := os.Getenv("AUTHBROKER_SPRING_UNAVAILABLE"); why != "" {
			// scripts/test could not build it on this machine and says why:
			// a skip, not a pass, and visible in the test output.
			t.Skipf("examples/spring not built: %s", why)
		}
		testenv.Require(t, "examples/spring is not built (cd examples/spring && mvn -B package): %v", err)
	}
	java, err := exec.LookPath("java")
	if err != nil {
		testenv.Require(t, "java not found: %v", err)
	}
	cmd := func(issuer, audience string) *exec.Cmd {
		ln, u := apptest.Listen(t)
		ln.Close()
		port := strings.TrimPrefix(u, "http://127.0.0.1:")
		c := exec.Command(java, "-XX:TieredStopAtLevel=1", "-jar", springJar)
		c.Env = append(os.Environ(), "PORT="+port, "AUTHBROKER_ISSUER="+issuer, "AUTHBROKER_AUDIENCE="+audience, "AUTHBROKER_CLOCK_SKEW=0s")
		return c
	}
	return cmd, func(line string) string {
		// "Tomcat started on port 12345 (http) with context path '/'"
		_, rest, ok := strings.Cut(line, "Tomcat started on port ")
		if !ok {
			return ""
		}
		port, _, _ := strings.Cut(rest, " ")
		return "http://127.0.0.1:" + port
	}
}

// runUntilListening starts cmd, reads its output until ready returns the
// URL it listens on, and stops it at the end of the test. Its output is
// printed if the test fails.
func runUntilListening(t *testing.T, cmd *exec.Cmd, ready func(line string) string) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	var mu sync.Mutex
	var lines []string
	found := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			if u := ready(sc.Text()); u != "" {
				select {
				case found <- u:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("%s output:\n  %s", filepath.Base(cmd.Path), strings.Join(lines, "\n  "))
			mu.Unlock()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	select {
	case u := <-found:
		return u
	case <-done:
		t.Errorf("%s exited before listening", filepath.Base(cmd.Path))
	case <-ctx.Done():
		t.Errorf("%s did not listen within %s", filepath.Base(cmd.Path), 90*time.Second)
	}
	return ""
}

// getBody sends GET u with a bearer token and returns status and body.
func getBody(t *testing.T, u, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}
