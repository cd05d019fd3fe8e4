package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/internal/store/redisstore"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/token"
	"github.com/authbroker/authbroker/providers"
)

// Check finds the configuration problems that take the backends' own
// parsers to see — the form of DATABASE_URL, REDIS_URL and its options,
// the signing keys against JWT_ALG, the provider settings — without opening
// a connection or writing anything (no development key is generated). The
// error is a config.Problems, one line per problem naming the variable, as
// for the problems config.Load finds: both are configuration, and main
// exits 2 on either.
func Check(cfg *config.Config) error {
	var p config.Problems
	if err := sqlstore.CheckURL(cfg.DatabaseURL); err != nil {
		p = append(p, "DATABASE_URL: "+err.Error())
	}
	if cfg.RedisURL != "" {
		c, err := redisstore.Connect(cfg.RedisURL) // parses; does not dial
		if err != nil {
			p = append(p, "REDIS_URL: "+strings.TrimPrefix(err.Error(), "redis url: "))
		} else {
			_ = c.Close()
		}
	}
	if cfg.JWTKeyFile != "" || cfg.JWTSecret != "" || cfg.Production() {
		if _, err := token.LoadKeys(cfg); err != nil {
			p = append(p, err.Error())
		}
	}
	_, err := providers.NewRegistry(registrySetup(cfg, time.Now), nil, providers.WithBaseURL(cfg.BaseURL, cfg.ProviderTimeout))
	var pp providers.Problems
	switch {
	case errors.As(err, &pp):
		p = append(p, pp...)
	case err != nil:
		p = append(p, err.Error())
	}
	if len(p) > 0 {
		return p
	}
	return nil
}

// openDatabase opens DATABASE_URL. An unreachable PostgreSQL is tried
// again with growing pauses until cfg.DatabaseWait has passed since the
// first try (containers start in any order), then the last error is
// returned, naming DATABASE_URL. SQLite is a local file: no retries.
func openDatabase(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts ...sqlstore.Option) (*sqlstore.Store, error) {
	var db *sqlstore.Store
	open := func(attempt int) error {
		var err error
		db, err = sqlstore.Open(ctx, cfg.DatabaseURL, opts...)
		return err
	}
	if !sqlstore.IsPostgres(cfg.DatabaseURL) {
		if err := open(1); err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		return db, nil
	}
	b := backoff{first: 250 * time.Millisecond, max: 5 * time.Second, wait: cfg.DatabaseWait, now: time.Now, sleep: sleepCtx}
	err := b.retry(ctx, func(attempt int) error {
		err := open(attempt)
		if err != nil {
			logger.Warn("database.waiting", "attempt", attempt, "error", err.Error())
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: the database did not answer within %s (DATABASE_WAIT): %w", cfg.DatabaseWait, err)
	}
	return db, nil
}

// backoff retries an operation with pauses that double from first up to
// max, for as long as wait allows. now and sleep are the clock (tests pass
// a fake that moves on sleep).
type backoff struct {
	first, max, wait time.Duration
	now              func() time.Time
	sleep            func(ctx context.Context, d time.Duration) error
}

// retry calls op (attempt 1, 2, …) until it succeeds, ctx ends, or the next
// pause would end past wait after the first call; it returns op's last
// error, or ctx's.
func (b backoff) retry(ctx context.Context, op func(attempt int) error) error {
	deadline := b.now().Add(b.wait)
	pause := b.first
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		if err == nil {
			return nil
		}
		left := deadline.Sub(b.now())
		if left <= 0 {
			return err
		}
		if serr := b.sleep(ctx, min(pause, left)); serr != nil {
			return serr
		}
		pause = min(2*pause, b.max)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// registrySetup is the provider registry's part of cfg: the providers the
// environment configures and the dev provider.
func registrySetup(cfg *config.Config, now func() time.Time) providers.Setup {
	return providers.Setup{
		Env: cfg.EnvProviders(), Dev: cfg.DevLoginEnabled(), DevOnHold: cfg.DevLoginEnabled() && cfg.Production(),
		Production: cfg.Production(), Keep: cfg.LoginStateTTL, Now: now,
	}
}
