// Package app assembles authbroker from its configuration: storage
// backends, keys, providers, services and the HTTP handler. main runs it;
// end-to-end tests start it in-process against real stores.
//
// It is the composition root, so it sits with the command (as
// cmd/<binary>/app does in Kubernetes) rather than under internal/: it is
// the one package that imports both the services (internal/…) and their
// HTTP face (handlers/…), and nothing under internal/ imports handlers/.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authbroker/authbroker/handlers"
	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/internal/account"
	"github.com/authbroker/authbroker/internal/admin"
	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/internal/login"
	"github.com/authbroker/authbroker/internal/member"
	"github.com/authbroker/authbroker/internal/metrics"
	"github.com/authbroker/authbroker/internal/providerconfig"
	"github.com/authbroker/authbroker/internal/ratelimit"
	"github.com/authbroker/authbroker/internal/secrets"
	"github.com/authbroker/authbroker/internal/session"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/redisstore"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/token"
	"github.com/authbroker/authbroker/internal/vault"
	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/templates"
)

// Background timings.
const (
	// heartbeatEvery and replicaTTL: a replica counts as live for three
	// missed heartbeats.
	heartbeatEvery = 5 * time.Second
	replicaTTL     = 15 * time.Second
	// continuityEvery is how often a replica looks for lost Redis data.
	continuityEvery = 2 * time.Second
	// durabilityEvery is how often Redis's persistence settings are read.
	durabilityEvery = time.Minute
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
	draining  atomic.Bool
	cfg       *config.Config
	deny      *session.DenyCache
	sql       *sqlstore.Store
	redis     *redisstore.Store
	replicas  store.Replicas
	cont      *session.Continuity
	closers   []func()
	logger    *slog.Logger
	now       func() time.Time
	registry  *providers.Registry
	providers *providerconfig.Service
	admin     *admin.Service
	vault     *vault.Service
	// replicaID names this process in the replica heartbeats; liveReplicas
	// is the latest count (at least 1).
	replicaID    string
	liveReplicas atomic.Int64
	warnMu       sync.Mutex
	warnings     []string
}

// Providers returns the enabled providers.
func (a *App) Providers() *providers.Registry { return a.registry }

// Close releases connections, newest first.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// Option adjusts Build for tests.
type Option func(*options)

type options struct {
	now func() time.Time
}

// WithClock runs every time-dependent decision of the broker (expiry,
// grace, rate windows, token lifetimes) on now instead of time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// Build wires every part from cfg. Configuration the backends parse is
// checked first (Check: a problem there is a config.Problems, and nothing
// has been opened); then the database is opened, waiting for it up to
// DATABASE_WAIT. Migrations run here: a fresh database (or a new version)
// is ready before the first request.
func Build(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts ...Option) (*App, error) {
	if err := Check(cfg); err != nil {
		return nil, err
	}
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	now := o.now
	a := &App{logger: logger, now: now, replicaID: newReplicaID(), cfg: cfg}
	a.liveReplicas.Store(1)
	a.Metrics = metrics.New(func() int {
		if a.deny == nil {
			return 0
		}
		return a.deny.Len()
	})
	db, err := openDatabase(ctx, cfg, logger, sqlstore.WithClock(now), sqlstore.WithStatementObserver(a.Metrics.SQLStatement))
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
		states   store.States   = db
		codes    store.Codes    = db
		sessions store.Sessions = db
		denylist store.Denylist = db
		ready                   = []handlers.Check{{Name: "database", Ping: db.Ping}}
		// The token-endpoint limit is this replica's share of the global
		// figure, counted in-process: it never costs a round trip.
		tokenLimiter ratelimit.Limiter = ratelimit.NewShare(ratelimit.NewMemory(now), a.Replicas)
		limiter      ratelimit.Limiter = ratelimit.NewMemory(now)
	)
	a.replicas = db
	if cfg.RedisURL != "" {
		rc, err := redisstore.Connect(cfg.RedisURL)
		if err != nil {
			a.Close()
			return nil, config.Problems{"REDIS_URL: " + err.Error()}
		}
		a.closers = append(a.closers, func() { _ = rc.Close() })
		rs := redisstore.New(rc, cfg.RedisPrefix, redisstore.WithClock(now))
		a.redis = rs
		states, codes, denylist = rs, rs, rs
		sessions = rs.Sessions(db)
		a.replicas = rs
		ready = append(ready, handlers.Check{Name: "redis", Ping: rs.Ping})
		limiter = ratelimit.NewRedis(rc, cfg.RedisPrefix+"rl:")
	}

	keys, err := token.LoadKeys(cfg)
	if err != nil {
		a.Close()
		// Named by its variable (JWT_KEY_FILE, JWT_SECRET, DATA_DIR).
		return nil, config.Problems{err.Error()}
	}
	secretKeys, err := secrets.LoadConfigured(cfg.SecretsKeyFile, cfg.DataDir)
	if err != nil {
		a.Close()
		return nil, config.Problems{err.Error()}
	}
	resync := 500 * time.Millisecond
	if cfg.RedisURL != "" {
		// Redis pushes entries over pub/sub; the resync only repairs gaps.
		resync = 30 * time.Second
	}
	a.deny = session.NewDenyCache(denylist, resync, logger, now)
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
	revoked := a.deny.Contains
	if a.redis != nil {
		a.cont = session.NewContinuity(a.redis, db, cfg.AccessTokenTTL+bearer.MaxLeeway, now, logger)
		ready = append(ready, handlers.Check{Name: "redis_data", Ping: func(ctx context.Context) error {
			if a.cont.Checked() {
				return nil
			}
			return a.cont.Check(ctx)
		}})
	}
	// The cache spares repeat requests the signature check; revocation and
	// expiry are still checked on every request.
	verifier, err := bearer.New(cfg.BaseURL, cfg.JWTAudience, keys, bearer.WithClock(now),
		bearer.WithCheck(bearer.CheckFunc(func(_ context.Context, _ string, c *bearer.Claims) error {
			if revoked(c.SessionID) || a.cont != nil && !c.IssuedAt.IsZero() && a.cont.IssuedBeforeLoss(c.IssuedAt) {
				return bearer.ErrRevoked
			}
			return nil
		})),
		bearer.WithCache(50_000, time.Minute))
	if err != nil {
		a.Close()
		return nil, err
	}
	issuer := token.NewIssuer(keys, cfg.BaseURL, cfg.JWTAudience, cfg.AccessTokenTTL, now)

	reg, err := providers.NewRegistry(registrySetup(cfg, now), logger, providers.WithBaseURL(cfg.BaseURL, cfg.ProviderTimeout), providers.WithCallObserver(a.Metrics.ProviderCall))
	var problems providers.Problems
	if errors.As(err, &problems) {
		a.Close()
		return nil, config.Problems(problems)
	}
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("providers: %w", err)
	}
	a.registry = reg
	var changes store.Changes
	if a.redis != nil {
		changes = a.redis
	}
	a.providers = providerconfig.New(providerconfig.Deps{
		Store: db, Audit: db, Keys: secretKeys, Registry: reg, Changes: changes, Env: cfg.EnvProviders(),
		Production: cfg.Production(), Options: providers.Options{Timeout: cfg.ProviderTimeout}, Now: now, Logger: logger,
	})
	if err := a.providers.Load(ctx); err != nil {
		a.Close()
		if strings.HasPrefix(err.Error(), "SECRETS_KEY_FILE:") {
			return nil, config.Problems{err.Error()}
		}
		return nil, err
	}
	if cfg.Production() && len(reg.Enabled()) == 0 {
		// Not refused: an operator may be mid-setup. But nobody can sign
		// in, the admins included (the admin page signs in through a
		// provider), so say it loudly and say how to fix it.
		logger.Warn("config.warning", "problem", "providers: none is enabled, so nobody can sign in (the admin page included); "+
			"configure one with GOOGLE_, GITHUB_, KAKAO_, NAVER_ or OIDC_ variables (see provider.incomplete lines for what is missing)")
	}
	sess := session.New(session.Deps{
		Store: sessions, Denylist: denylist, Deny: a.deny, Members: db,
		Codec: session.NewCodec(secretKeys), Issuer: issuer,
		Verify: func(ctx context.Context, raw string) (string, string, error) {
			c, err := verifier.Verify(ctx, raw)
			if err != nil {
				return "", "", err
			}
			return c.Subject, c.SessionID, nil
		},
		Policy: session.Policy{
			Admission: cfg.SessionPolicy, RefreshTTL: cfg.RefreshTokenTTL,
			ReuseGrace: cfg.RefreshReuseGrace, RefreshLimit: cfg.RateLimitRefresh,
		},
		Now: now, Logger: logger, Observe: a.Metrics,
	})
	members := &member.Service{Members: db, LinkByEmail: cfg.LinkByEmail, AdminEmails: cfg.AdminEmails, Now: now}
	// Grants live in SQL beside the identities they belong to (they go
	// with them); the lease on the row is what makes renewal single-flight
	// across replicas, with or without Redis.
	appReturns := login.NewReturnPolicy(cfg.AllowedReturnURLs)
	var defaultReturn string
	if len(cfg.AllowedReturnURLs) > 0 {
		defaultReturn = cfg.AllowedReturnURLs[0]
	}
	a.vault = vault.New(vault.Deps{
		Store: db, Members: db, Audit: db, Keys: secretKeys, Providers: reg,
		ReturnTo:      func(raw string) bool { _, ok := appReturns.Check(raw); return ok },
		DefaultReturn: defaultReturn,
		Policy: vault.Policy{
			RefreshBefore: cfg.ProviderTokenRefreshBefore,
			// Longer than a renewal can take, so a live holder is never
			// overtaken; a dead one holds the identity up no longer.
			Lease:   cfg.ProviderTimeout + 5*time.Second,
			BaseURL: cfg.BaseURL,
		},
		Now: now, Logger: logger,
	})
	loginSvc := login.New(login.Deps{
		Policy: login.Policy{
			BaseURL: cfg.BaseURL, ReturnURLs: cfg.AllowedReturnURLs,
			StateTTL: cfg.LoginStateTTL, CodeTTL: cfg.CodeTTL, Delivery: login.DeliveryOf(cfg.TokenDelivery),
		},
		Providers: reg, Members: members, MemberStore: db,
		States: states, Codes: codes, Sessions: sess, Vault: a.vault,
		Logger: logger, Now: now, Observe: a.Metrics,
	})
	a.admin = &admin.Service{Members: db, Audit: db, Sessions: sess, Providers: reg, Vault: a.vault, Now: now,
		IsAdminEmail: members.IsAdminEmail}
	pages, err := templates.New()
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Handler = handlers.New(handlers.Deps{
		Config: cfg, Login: loginSvc, Account: account.New(db, members, a.vault), Sessions: sess, Providers: reg, Keys: keys, Verifier: verifier,
		Pages: pages, Logger: logger, Ready: ready, Warnings: a.Warnings,
		Limiter: limiter, TokenLimiter: tokenLimiter, Metrics: a.Metrics, Admin: a.admin, ProviderConfig: a.providers,
		Vault: a.vault,
	})
	if a.redis != nil {
		a.checkDurability(ctx)
	}
	return a, nil
}

func newReplicaID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Replicas is the number of live replicas last counted (at least 1).
func (a *App) Replicas() int { return int(a.liveReplicas.Load()) }

// Warnings are the operational warnings /readyz shows (Redis durability).
func (a *App) Warnings() []string {
	a.warnMu.Lock()
	defer a.warnMu.Unlock()
	return a.warnings
}

// checkDurability reads Redis's persistence settings, logs what they would
// lose and keeps the warnings for /readyz.
func (a *App) checkDurability(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	w := a.redis.Durability(ctx)
	a.warnMu.Lock()
	changed := fmt.Sprint(w) != fmt.Sprint(a.warnings)
	a.warnings = w
	a.warnMu.Unlock()
	if changed {
		for _, msg := range w {
			a.logger.Warn("redis.durability", "warning", msg)
		}
	}
}

// Background runs the deny cache, the replica heartbeat, the Redis
// continuity and durability checks, and the purge of expired SQL rows,
// until ctx ends.
func (a *App) Background(ctx context.Context) {
	go a.deny.Run(ctx)
	// Admin-configured providers: announced over Redis, polled without it.
	providerResync := 500 * time.Millisecond
	if a.redis != nil {
		providerResync = 30 * time.Second
	}
	go a.providers.Run(ctx, providerResync)
	every(ctx, heartbeatEvery, func() {
		n, err := a.replicas.Heartbeat(ctx, a.replicaID, a.now(), replicaTTL)
		if err != nil {
			if ctx.Err() == nil {
				a.logger.Warn("replicas.heartbeat_failed", "error", err.Error())
			}
			return
		}
		a.liveReplicas.Store(int64(n))
	})
	if a.cont != nil {
		go func() {
			if err := a.cont.Check(ctx); err != nil && ctx.Err() == nil {
				a.logger.Warn("continuity.check_failed", "error", err.Error())
			}
			a.cont.Run(ctx, continuityEvery)
		}()
		go func() {
			t := time.NewTicker(durabilityEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					a.checkDurability(ctx)
				}
			}
		}()
	}
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := a.sql.Purge(ctx, a.now()); err != nil && ctx.Err() == nil {
					a.logger.Warn("purge.failed", "error", err.Error())
				}
			}
		}
	}()
}

// every runs fn now and then every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	go func() {
		fn()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn()
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
