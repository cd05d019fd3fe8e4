// Package app assembles authbroker from its configuration: storage
// backends, keys, providers, services and the HTTP handler. main runs it;
// end-to-end tests start it in-process against real stores.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/authbroker/authbroker/handlers"
	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/internal/admin"
	"github.com/authbroker/authbroker/internal/auth"
	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/internal/member"
	"github.com/authbroker/authbroker/internal/metrics"
	"github.com/authbroker/authbroker/internal/ratelimit"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/redisstore"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/token"
	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/templates"
)

// App is the broker assembled from configuration: what `authbroker serve`
// runs and what end-to-end tests start in-process.
type App struct {
	// Handler serves every route.
	Handler http.Handler
	// Metrics is the Prometheus registry behind /metrics.
	Metrics  *metrics.Metrics
	deny     *token.DenyCache
	sql      *sqlstore.Store
	closers  []func()
	logger   *slog.Logger
	cfg      *config.Config
	auth     *auth.Service
	registry *providers.Registry
	admin    *admin.Service
}

// Providers returns the enabled providers.
func (a *App) Providers() *providers.Registry { return a.registry }

// Auth returns the login and token service.
func (a *App) Auth() *auth.Service { return a.auth }

// Close releases connections, newest first.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// Build wires every part from cfg. Migrations run here: a fresh database
// (or a new version) is ready before the first request.
func Build(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*App, error) {
	a := &App{logger: logger, cfg: cfg}
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	a.sql = db
	a.closers = append(a.closers, db.Close)
	if err := db.Migrate(ctx); err != nil {
		a.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}

	var (
		states   store.States      = db
		codes    store.Codes       = db
		sessions store.Sessions    = db
		denylist store.Denylist    = db
		ready                      = []handlers.Check{{Name: "database", Ping: db.Ping}}
		limiter  ratelimit.Limiter = ratelimit.NewMemory(time.Now)
	)
	if cfg.RedisURL != "" {
		rc, err := redisstore.Connect(cfg.RedisURL)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("redis: %w", err)
		}
		a.closers = append(a.closers, func() { _ = rc.Close() })
		rs := redisstore.New(rc, cfg.RedisPrefix)
		states, codes, sessions, denylist = rs, rs, rs, rs
		ready = append(ready, handlers.Check{Name: "redis", Ping: rs.Ping})
		limiter = ratelimit.NewRedis(rc, cfg.RedisPrefix+"rl:")
	}

	keys, err := token.LoadKeys(cfg)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	resync := 500 * time.Millisecond
	if cfg.RedisURL != "" {
		// Redis pushes entries over pub/sub; the resync only repairs gaps.
		resync = 30 * time.Second
	}
	a.deny = token.NewDenyCache(denylist, resync, logger, time.Now)
	a.Metrics = metrics.New(a.deny.Len)
	// A fresh replica is not ready until it knows every revoked session:
	// otherwise it would honour access tokens logged out before it started.
	ready = append(ready, handlers.Check{Name: "denylist", Ping: func(ctx context.Context) error {
		select {
		case <-a.deny.Synced():
			return nil
		default:
			return errors.New("denylist not loaded yet")
		}
	}})
	// The cache spares repeat requests the signature check; revocation and
	// expiry are still checked on every request.
	verifier := &bearer.Verifier{Keys: keys, Issuer: cfg.BaseURL, Audience: cfg.JWTAudience, Revoked: a.deny.Contains,
		Cache: bearer.NewCache(50_000, time.Minute)}
	issuer := token.NewIssuer(keys, cfg.BaseURL, cfg.JWTAudience, cfg.AccessTokenTTL, time.Now)

	reg, err := providers.NewRegistry(cfg, logger, providers.WithCallObserver(a.Metrics.ProviderCall))
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("providers: %w", err)
	}
	a.registry = reg
	members := &member.Service{Members: db, LinkByEmail: cfg.LinkByEmail, AdminEmails: cfg.AdminEmails, Now: time.Now}
	a.auth = auth.New(auth.Deps{
		Config: cfg, Providers: reg, Members: members, MemberStore: db,
		States: states, Codes: codes, Sessions: sessions, Denylist: denylist, DenyCache: a.deny,
		Issuer: issuer, Verifier: verifier, Logger: logger, Now: time.Now, Observe: a.Metrics,
	})
	a.admin = &admin.Service{Members: db, Audit: db, Sessions: sessions, Auth: a.auth, Providers: reg, Now: time.Now,
		IsAdminEmail: members.IsAdminEmail}
	pages, err := templates.New()
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Handler = handlers.New(handlers.Deps{
		Config: cfg, Auth: a.auth, Providers: reg, Keys: keys, Verifier: verifier,
		Pages: pages, Logger: logger, Ready: ready, Limiter: limiter, Metrics: a.Metrics,
		Admin: a.admin,
	})
	return a, nil
}

// Background runs the deny cache and the purge of expired SQL rows until
// ctx ends.
func (a *App) Background(ctx context.Context) {
	go a.deny.Run(ctx)
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if err := a.sql.Purge(ctx, now); err != nil && ctx.Err() == nil {
					a.logger.Warn("purge.failed", "error", err.Error())
				}
			}
		}
	}()
}

// AdminService returns the admin service (tests use it to inspect state).
func (a *App) AdminService() *admin.Service { return a.admin }
