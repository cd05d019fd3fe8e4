package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/authbroker/authbroker/internal/app"
	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
)

func migrate(ctx context.Context, cfg *config.Config) error {
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Migrate(ctx)
}

func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger, stdout io.Writer) error {
	a, err := app.Build(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()
	a.Background(bg)

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.ListenAddr, err)
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	var names []string
	for _, p := range a.Providers().List() {
		names = append(names, p.Name())
	}
	logger.Info("serve.started", "addr", ln.Addr().String(), "base_url", cfg.BaseURL, "env", cfg.AppEnv,
		"database", config.Redacted(cfg.DatabaseURL), "redis", cfg.RedisURL != "", "providers", names)
	fmt.Fprintf(stdout, "authbroker is listening: open %s/ to sign in\n", cfg.BaseURL)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Graceful shutdown: stop accepting, let in-flight requests finish.
	logger.Info("serve.stopping")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("serve.stopped")
	return nil
}
