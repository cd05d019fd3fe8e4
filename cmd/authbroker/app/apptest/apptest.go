// Package apptest starts a real authbroker in-process for end-to-end
// tests: app.Build over real stores (a fresh SQLite file unless the
// environment says otherwise), served on a loopback port.
package apptest

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authbroker/authbroker/cmd/authbroker/app"
	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/internal/testenv"
)

// Broker is a running broker.
type Broker struct {
	// URL is where this instance listens (its BASE_URL unless env set one).
	URL string
	// MetricsURL is the base URL of its metrics listener (/metrics), as
	// METRICS_ADDR serves it apart from the public one.
	MetricsURL string
	App        *app.App
	Config     *config.Config
	logs       *lockedBuffer
}

// Listen reserves a loopback port: BASE_URL must be known before Build.
func Listen(t testing.TB) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://" + ln.Addr().String()
}

// Start builds and serves a broker on ln (nil: a new loopback port). The
// environment is test defaults — BASE_URL of the listener, SQLite in a
// temporary directory, keys generated there, rate limits off — followed by
// env, whose entries win. The broker's log is printed if the test fails.
func Start(t testing.TB, ln net.Listener, env ...string) *Broker {
	t.Helper()
	return StartWith(t, Options{Listener: ln, Env: env})
}

// Options are StartWith's: Start's arguments plus a clock.
type Options struct {
	Listener net.Listener
	// Now, when set, is the broker's clock (app.WithClock): tests move it
	// to cross grace periods and expiries without sleeping.
	Now func() time.Time
	Env []string
}

// StartWith is Start with Options.
func StartWith(t testing.TB, o Options) *Broker {
	t.Helper()
	ln, env := o.Listener, o.Env
	if ln == nil {
		ln, _ = Listen(t)
	}
	base := "http://" + ln.Addr().String()
	cfg, err := config.FromEnv(append([]string{
		"BASE_URL=" + base,
		"DATABASE_URL=" + testenv.SQLiteURL(t),
		"DATA_DIR=" + t.TempDir(),
		"RATE_LIMIT_AUTH=0", "RATE_LIMIT_TOKEN=0", "RATE_LIMIT_REFRESH=0",
	}, env...))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	var opts []app.Option
	if o.Now != nil {
		opts = append(opts, app.WithClock(o.Now))
	}
	a, err := app.Build(ctx, cfg, logger, opts...)
	if err != nil {
		cancel()
		t.Fatalf("app.Build: %v", err)
	}
	a.Background(ctx)
	srv := httptest.NewUnstartedServer(validateResponses(t, a.Handler))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	msrv := httptest.NewServer(a.MetricsHandler)
	t.Cleanup(func() {
		cancel()
		msrv.Close()
		srv.Close()
		a.Close()
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	return &Broker{URL: base, MetricsURL: msrv.URL, App: a, Config: cfg, logs: logs}
}

// lockedBuffer collects log output from concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
