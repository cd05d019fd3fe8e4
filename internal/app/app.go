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
	"net/http/pprof"
	"sync/atomic"
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
	// Handler serves every route of the public listener.
	Handler http.Handler
	// MetricsHandler serves /metrics, and /debug/pprof/ with
	// METRICS_PPROF=true, for the separate METRICS_ADDR listener.
	MetricsHandler http.Handler
	// Metrics is the Prometheus registry behind /metrics.
	Metrics *metrics.Metrics
	// draining is set by Drain: /readyz answers 503 from then on.
	draining atomic.Bool
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

// Build wires every part from cfg. Configuration the backends parse is
// checked first (Check: a problem there is a config.Problems, and nothing
// has been opened); then the database is opened, waiting for it up to
// DATABASE_WAIT. Migrations run here: a fresh database (or a new version)
// is ready before the first request.
func Build(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*App, error) {
	if err := Check(cfg); err != nil {
		return nil, err
	}
	a := &App{logger: logger, cfg: cfg}
	db, err := openDatabase(ctx, cfg, logger)
	if err != nil {
		return nil, err
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
			return nil, config.Problems{"REDIS_URL: " + err.Error()}
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
		// Named by its variable (JWT_KEY_FILE, JWT_SECRET, DATA_DIR).
		return nil, config.Problems{err.Error()}
	}
	resync := 500 * time.Millisecond
	if cfg.RedisURL != "" {
		// Redis pushes entries over pub/sub; the resync only repairs gaps.
		resync = 30 * time.Second
	}
	a.deny = token.NewDenyCache(denylist, resync, logger, time.Now)
	a.Metrics = metrics.New(a.deny.Len)
	a.MetricsHandler = metricsMux(a.Metrics, cfg.MetricsPprof)
	// First, so that a replica shutting down says so before anything else.
	ready = append([]handlers.Check{{Name: "shutdown", Ping: func(context.Context) error {
		if a.draining.Load() {
			return errors.New("shutting down")
		}
		return nil
	}}}, ready...)
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

// Drain marks the broker as shutting down: /readyz answers 503 from now
// on, so load balancers take this replica out while it still serves.
func (a *App) Drain() { a.draining.Store(true) }

// metricsMux is what the metrics listener serves: /metrics, and with
// pprof the net/http/pprof handlers under /debug/pprof/.
func metricsMux(m *metrics.Metrics, pprofOn bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	if pprofOn {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// AdminService returns the admin service (tests use it to inspect state).
func (a *App) AdminService() *admin.Service { return a.admin }
