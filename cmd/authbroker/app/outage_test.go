package app_test

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/testenv"
)

// ownRedis starts a private redis-server on a free loopback port (this
// test kills it, so it cannot use the shared one).
func ownRedis(t *testing.T, port int) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Require(t, "redis-server not installed")
	}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return cmd
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("redis-server did not start")
	return nil
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestRedisOutage: killing Redis gives clean 503s (never a token that was
// not stored), /readyz names Redis, and the broker recovers without a restart.
func TestRedisOutage(t *testing.T) {
	port := freePort(t)
	rs := ownRedis(t, port)
	b := startBroker(t, fmt.Sprintf("REDIS_URL=redis://127.0.0.1:%d/0", port))
	tr := devLogin(t, b, "outage@example.com")

	_ = rs.Process.Kill()
	_ = rs.Wait()

	st, out := refresh(t, b, tr.RefreshToken)
	if st != http.StatusServiceUnavailable || out.Error != "temporarily_unavailable" || out.AccessToken != "" || out.RefreshToken != "" {
		t.Fatalf("refresh with Redis down: %d %+v", st, out)
	}
	var ready struct {
		Checks map[string]string `json:"checks"`
	}
	if st, _ := getJSON(t, b.URL+"/readyz", "", &ready); st != http.StatusServiceUnavailable || ready.Checks["redis"] != "unavailable" || ready.Checks["database"] != "ok" {
		t.Fatalf("/readyz with Redis down: %d %v", st, ready.Checks)
	}
	if !metricsContain(t, b, `authbroker_store_errors_total{route="/auth/token"} 1`) {
		t.Error("the 503 is not counted in authbroker_store_errors_total")
	}
	// A login start cannot store its state: a clean error page, no redirect.
	if resp, _ := newBrowser(t).get(b.URL + "/auth/dev"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("login start with Redis down: %d", resp.StatusCode)
	}

	// Redis comes back (empty: this one keeps nothing on disk).
	ownRedis(t, port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, _ := getJSON(t, b.URL+"/readyz", "", nil); st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("broker did not recover after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Members live in SQL: the same person signs in again as the same member.
	again := devLogin(t, b, "outage@example.com")
	if again.Member.ID != tr.Member.ID {
		t.Fatalf("member changed across the outage: %s vs %s", again.Member.ID, tr.Member.ID)
	}
	if st, _ := refresh(t, b, again.RefreshToken); st != http.StatusOK {
		t.Fatalf("refresh after recovery: %d", st)
	}
}
