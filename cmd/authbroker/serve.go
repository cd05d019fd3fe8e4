package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authbroker/authbroker/cmd/authbroker/app"
	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/internal/secrets"
	"github.com/authbroker/authbroker/internal/store/redisstore"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/token"
)

func migrate(ctx context.Context, cfg *config.Config) error {
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Migrate(ctx)
}

// serveExit is the exit status of a serve that returned err: 2 with one
// "config:" line per problem on stderr when the configuration was at fault
// (as for the problems config.Load finds), 1 with a serve.failed log line
// for anything else, 0 for nil.
func serveExit(err error, logger *slog.Logger, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var p config.Problems
	if errors.As(err, &p) {
		for _, line := range p {
			fmt.Fprintln(stderr, "config:", line)
		}
		return 2
	}
	logger.Error("serve.failed", "error", err.Error())
	return 1
}

// serve runs the broker until ctx ends (SIGINT or SIGTERM), then stops in
// three steps, each bounded:
//
//  1. Drain, for SHUTDOWN_DRAIN: /readyz answers 503 at once and responses
//     ask clients to close their connections, but the listener stays open
//     and every request is still served: a load balancer stops sending new
//     requests only after it notices (a failed probe, an endpoint update),
//     and until then it must not meet a closed port.
//  2. The listener closes; requests in flight get SHUTDOWN_TIMEOUT to
//     finish.
//  3. Connections still open then (a client trickling its body, a stuck
//     handler) are closed.
//
// A SIGTERM is the normal way to stop: serve returns nil (exit 0) however
// the third step went, and logs what it had to cut.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger, stdout io.Writer) error {
	return serveWith(ctx, cfg, logger, stdout, time.After)
}

// serveWith is serve with the shutdown timers taken from after (tests
// decide when the drain and the shutdown bound end).
func serveWith(ctx context.Context, cfg *config.Config, logger *slog.Logger, stdout io.Writer, after func(time.Duration) <-chan time.Time) error {
	// go-redis keeps one logger per process; its lines join ours.
	redis.SetLogger(redisstore.NewLogger(logger))
	for _, w := range cfg.Warnings() {
		logger.Warn("config.warning", "problem", w)
	}
	local := localFiles(cfg)
	a, err := app.Build(ctx, cfg, logger)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// Stopped while waiting for the database: nothing was served.
			logger.Info("serve.stopped", "before_start", true)
			return nil
		}
		return err
	}
	defer a.Close()
	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()
	a.Background(bg)

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	metricsAddr := ""
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("METRICS_ADDR: %w", err)
		}
		msrv := &http.Server{
			Handler:           a.MetricsHandler,
			ReadHeaderTimeout: 10 * time.Second,
			// pprof's CPU profile and trace stream for as long as asked.
			IdleTimeout: 120 * time.Second,
			ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		servers = append(servers, msrv)
		metricsAddr = mln.Addr().String()
		go func() { errc <- msrv.Serve(mln) }()
	}
	go func() { errc <- srv.Serve(ln) }()

	var names []string
	for _, p := range a.Providers().List() {
		names = append(names, p.Name())
	}
	addr := ln.Addr().String()
	logger.Info("serve.started", "addr", addr, "metrics_addr", metricsAddr, "base_url", cfg.BaseURL, "env", cfg.AppEnv,
		"database", config.Redacted(cfg.DatabaseURL), "redis", cfg.RedisURL != "", "providers", names)
	fmt.Fprintf(stdout, "authbroker is listening on %s: open %s/ to sign in\n", addr, cfg.BaseURL)
	for _, f := range local {
		fmt.Fprintln(stdout, f.report())
	}
	if metricsAddr != "" {
		fmt.Fprintf(stdout, "metrics on %s (/metrics)\n", metricsAddr)
	}

	select {
	case err := <-errc:
		for _, s := range servers {
			_ = s.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	// 1. Drain.
	stopping := time.Now()
	a.Drain()
	srv.SetKeepAlivesEnabled(false)
	logger.Info("serve.draining", "drain", cfg.Drain().String())
	if d := cfg.Drain(); d > 0 {
		<-after(d)
	}

	// 2. Close the listener; requests in flight get SHUTDOWN_TIMEOUT.
	logger.Info("serve.stopping", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithCancel(context.Background())
	bound := make(chan struct{})
	go func() {
		select {
		case <-after(cfg.ShutdownTimeout):
			close(bound)
			cancel()
		case <-sctx.Done():
		}
	}()
	err = srv.Shutdown(sctx)
	cancel()

	// 3. Whatever is left is cut.
	select {
	case <-bound:
		logger.Warn("serve.forced_close", "after", cfg.ShutdownTimeout.String(), "error", fmt.Sprint(err))
	default:
	}
	for _, s := range servers {
		_ = s.Close()
	}
	logger.Info("serve.stopped", "took", time.Since(stopping).Round(time.Millisecond).String())
	return nil
}

// localFile is a file a development start keeps under DATA_DIR (or the
// SQLite database), and whether it existed before this start.
type localFile struct {
	what, path string
	existed    bool
}

func (f localFile) report() string {
	if f.existed {
		return fmt.Sprintf("  %s: %s", f.what, f.path)
	}
	return fmt.Sprintf("  %s: %s (created now)", f.what, f.path)
}

// localFiles lists the generated keys and the SQLite database a start will
// use, so that the first start says where it put them.
func localFiles(cfg *config.Config) []localFile {
	var out []localFile
	add := func(what, path string) {
		_, err := os.Stat(path)
		out = append(out, localFile{what: what, path: path, existed: err == nil})
	}
	if cfg.JWTKeyFile == "" && cfg.JWTSecret == "" && !cfg.Production() {
		add("signing key (development)", token.DevKeyPath(cfg.DataDir, cfg.JWTAlg))
	}
	if cfg.SecretsKeyFile == "" && !cfg.Production() {
		add("secrets key (development)", filepath.Join(cfg.DataDir, secrets.DevFile))
	}
	if path, ok := strings.CutPrefix(cfg.DatabaseURL, "sqlite://"); ok {
		path, _, _ = strings.Cut(path, "?")
		add("SQLite database", path)
	}
	return out
}
