package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/internal/testenv"
)

// lineWriter hands each written line to a channel (serve's stdout).
type lineWriter struct{ lines chan string }

func (w lineWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.lines <- l
	}
	return len(p), nil
}

// timers are serve's shutdown timers, fired by the test.
type timers struct {
	drain, bound time.Duration
	drainC       chan time.Time
	boundC       chan time.Time
}

func (tm *timers) after(d time.Duration) <-chan time.Time {
	switch d {
	case tm.drain:
		return tm.drainC
	case tm.bound:
		return tm.boundC
	}
	panic("unexpected timer " + d.String())
}

// running is serveWith running in the background.
type running struct {
	lines   chan string // its stdout, line by line
	done    chan error  // its result
	sigterm context.CancelFunc
}

// launchServe starts serveWith with env; cancelling sigterm stands for
// SIGTERM. The test's end stops it.
func launchServe(t *testing.T, logs io.Writer, after func(time.Duration) <-chan time.Time, env ...string) *running {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.FromEnv(append([]string{"LISTEN_ADDR=127.0.0.1:0", "DATABASE_URL=sqlite://" + filepath.Join(dir, "db.sqlite"), "DATA_DIR=" + dir}, env...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, sigterm := context.WithCancel(context.Background())
	r := &running{lines: make(chan string, 10), done: make(chan error, 1), sigterm: sigterm}
	finished := make(chan struct{})
	go func() {
		r.done <- serveWith(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), lineWriter{r.lines}, after)
		close(finished)
	}()
	t.Cleanup(func() {
		sigterm()
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Error("serve did not return")
		}
	})
	return r
}

// addr waits for the start-up line and returns the address it names.
func (r *running) addr(t *testing.T, within time.Duration) string {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case line := <-r.lines:
			if m := listeningLine.FindStringSubmatch(line); m != nil {
				return m[1]
			}
		case err := <-r.done:
			t.Fatalf("serve returned before listening: %v", err)
		case <-timeout:
			t.Fatalf("serve did not start within %s", within)
		}
	}
}

// TestGracefulShutdown walks serve's shutdown step by step, the test
// deciding when the drain and the bound end: after SIGTERM /readyz is 503
// while every other request is still served, including one that was
// half-sent when the signal came; when the drain ends the listener closes
// but clients trickling a body keep the server waiting; at the bound they
// are cut and serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	tm := &timers{drain: time.Hour, bound: 2 * time.Hour, drainC: make(chan time.Time), boundC: make(chan time.Time)}
	r := launchServe(t, io.Discard, tm.after, "SHUTDOWN_DRAIN=1h", "SHUTDOWN_TIMEOUT=2h")
	addr := r.addr(t, 60*time.Second)
	done, sigterm := r.done, r.sigterm
	base := "http://" + addr

	var slow []net.Conn
	for range 20 {
		slow = append(slow, slowBody(t, addr))
	}
	// A request half-sent before the signal, finished during the drain.
	half, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	body := `{"grant_type":"refresh_token","refresh_token":"x"}`
	if _, err := io.WriteString(half, "POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body[:10]); err != nil {
		t.Fatal(err)
	}

	sigterm()
	get := func(path string) int {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Draining: readiness fails at once, everything else is served.
	deadline := time.Now().Add(10 * time.Second)
	for get("/readyz") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz never turned 503 after SIGTERM")
		}
	}
	if st := get("/healthz"); st != http.StatusOK {
		t.Fatalf("/healthz while draining: %d", st)
	}
	if _, err := io.WriteString(half, body[10:]); err != nil {
		t.Fatal(err)
	}
	_ = half.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, _ := io.ReadAll(io.LimitReader(half, 12))
	if !strings.HasPrefix(string(reply), "HTTP/1.1 400") {
		t.Fatalf("the request in flight at SIGTERM got %q, want its answer (400 invalid_grant)", reply)
	}

	// The drain ends: the listener closes; the slow clients still hold.
	tm.drainC <- time.Now()
	deadline = time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener stayed open after the drain")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("serve returned (%v) while 20 requests were in flight, before the bound", err)
	default:
	}

	// The bound: the stragglers are cut, serve returns nil.
	tm.boundC <- time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return at the bound")
	}
	for i, c := range slow {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("slow client %d still connected", i)
		}
	}
}

// TestDatabaseComesUpLate: containers start in any order. The broker waits
// for a PostgreSQL that is not there yet (with backoff, up to
// DATABASE_WAIT) and starts as soon as it answers.
func TestDatabaseComesUpLate(t *testing.T) {
	pg, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	// A loopback port that refuses connections until the test forwards it
	// to the real server.
	port := closedPort(t)
	late := *pg
	late.Host = port
	logs := &syncBuffer{}
	r := launchServe(t, logs, time.After, "DATABASE_URL="+late.String(), "DATABASE_WAIT=60s", "SHUTDOWN_DRAIN=0s")
	if !logs.waitFor("database.waiting", 30*time.Second) {
		t.Fatalf("no database.waiting line:\n%s", logs.String())
	}
	select {
	case line := <-r.lines:
		t.Fatalf("started without a database: %s", line)
	case err := <-r.done:
		t.Fatalf("gave up at once: %v", err)
	default:
	}
	ln, err := net.Listen("tcp", port)
	if err != nil {
		t.Fatalf("the reserved port was taken meanwhile: %v", err)
	}
	defer ln.Close()
	go forward(ln, pg.Host)
	addr := r.addr(t, 30*time.Second)
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz once the database answered: %v", err)
	}
	resp.Body.Close()
}

// forward copies every connection accepted on ln to target and back.
func forward(ln net.Listener, target string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer u.Close()
			go func() { _, _ = io.Copy(u, c) }()
			_, _ = io.Copy(c, u)
		}()
	}
}
