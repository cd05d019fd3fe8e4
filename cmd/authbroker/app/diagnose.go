package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/internal/secrets"
	"github.com/authbroker/authbroker/internal/store/redisstore"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/token"
	"github.com/authbroker/authbroker/providers"
)

// Finding levels, as `authbroker check` prints them.
const (
	LevelOK   = "ok"
	LevelWarn = "warn"
	LevelFail = "FAIL"
)

// Finding is one line of the report `authbroker check` prints.
type Finding struct {
	Level  string // LevelOK, LevelWarn or LevelFail
	Name   string // what was checked: "database", "redis", "provider google: token endpoint", …
	Detail string // never a secret
}

// Diagnose checks what a start would need, without starting: the
// configuration (Check and the production warnings), the key files, the
// database (reachable, schema version), Redis (reachable, persistence) and
// the endpoints of every enabled environment provider. It writes nothing:
// no migration, no generated key. Each step is bounded by timeout.
func Diagnose(ctx context.Context, cfg *config.Config, timeout time.Duration) []Finding {
	var out []Finding
	add := func(level, name, format string, args ...any) {
		out = append(out, Finding{Level: level, Name: name, Detail: fmt.Sprintf(format, args...)})
	}
	var problems config.Problems
	if err := Check(cfg); errors.As(err, &problems) {
		for _, p := range problems {
			add(LevelFail, "configuration", "%s", p)
		}
	} else {
		add(LevelOK, "configuration", "APP_ENV=%s, BASE_URL=%s", cfg.AppEnv, cfg.BaseURL)
	}
	for _, w := range cfg.Warnings() {
		add(LevelWarn, "configuration", "%s", w)
	}
	out = append(out, diagnoseKeys(cfg)...)

	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, timeout) }
	sctx, cancel := step()
	out = append(out, diagnoseDatabase(sctx, cfg)...)
	cancel()
	sctx, cancel = step()
	out = append(out, diagnoseRedis(sctx, cfg)...)
	cancel()
	sctx, cancel = step()
	out = append(out, diagnoseProviders(sctx, cfg, timeout)...)
	cancel()
	return out
}

func diagnoseKeys(cfg *config.Config) []Finding {
	var out []Finding
	switch {
	case cfg.JWTKeyFile != "" || cfg.JWTSecret != "":
		ks, err := token.LoadKeys(cfg)
		if err != nil {
			out = append(out, Finding{LevelFail, "signing key", err.Error()})
		} else {
			out = append(out, Finding{LevelOK, "signing key", fmt.Sprintf("%s, signing kid %s", ks.Alg(), ks.KeyID())})
		}
	default:
		out = append(out, Finding{LevelWarn, "signing key", "JWT_KEY_FILE not set: a development key under DATA_DIR (" + cfg.DataDir + ") is used, generated on first start; production refuses this"})
	}
	switch {
	case cfg.SecretsKeyFile != "":
		if _, err := secrets.Load(cfg.SecretsKeyFile); err != nil {
			out = append(out, Finding{LevelFail, "secrets key", "SECRETS_KEY_FILE: " + err.Error()})
		} else {
			out = append(out, Finding{LevelOK, "secrets key", "SECRETS_KEY_FILE readable"})
		}
	default:
		out = append(out, Finding{LevelWarn, "secrets key", "SECRETS_KEY_FILE not set: a development key under DATA_DIR (" + filepath.Clean(cfg.DataDir) + ") seals stored secrets; production refuses this"})
	}
	return out
}

func diagnoseDatabase(ctx context.Context, cfg *config.Config) []Finding {
	name := "database"
	if !sqlstore.IsPostgres(cfg.DatabaseURL) {
		// Opening SQLite creates the file: say so rather than do it.
		path := strings.TrimPrefix(strings.TrimPrefix(cfg.DatabaseURL, "sqlite://"), "sqlite:")
		if path, _, _ = strings.Cut(path, "?"); path != "" {
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				return []Finding{{LevelWarn, name, "SQLite file " + path + " does not exist yet: the first start creates it"}}
			}
		}
	}
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return []Finding{{LevelFail, name, "DATABASE_URL " + config.Redacted(cfg.DatabaseURL) + ": " + err.Error()}}
	}
	defer db.Close()
	if err := db.Ping(ctx); err != nil {
		return []Finding{{LevelFail, name, "DATABASE_URL " + config.Redacted(cfg.DatabaseURL) + ": " + err.Error()}}
	}
	cur, latest, err := db.SchemaVersion(ctx)
	switch {
	case err != nil:
		return []Finding{{LevelFail, name, err.Error()}}
	case cur < latest:
		return []Finding{{LevelWarn, name, fmt.Sprintf("%s reachable; schema at version %d of %d: the next start (or `authbroker migrate`) migrates", config.Redacted(cfg.DatabaseURL), cur, latest)}}
	case cur > latest:
		return []Finding{{LevelFail, name, fmt.Sprintf("schema at version %d, newer than this binary's %d: a newer release migrated it (see docs/OPERATIONS.md, rollback)", cur, latest)}}
	}
	return []Finding{{LevelOK, name, fmt.Sprintf("%s reachable, schema version %d (current)", config.Redacted(cfg.DatabaseURL), cur)}}
}

func diagnoseRedis(ctx context.Context, cfg *config.Config) []Finding {
	if cfg.RedisURL == "" {
		return []Finding{{LevelOK, "redis", "not configured: sessions, codes and the denylist live in the database (one replica)"}}
	}
	c, err := redisstore.Connect(cfg.RedisURL)
	if err != nil {
		return []Finding{{LevelFail, "redis", "REDIS_URL: " + err.Error()}}
	}
	defer c.Close()
	rs := redisstore.New(c, cfg.RedisPrefix)
	if err := rs.Ping(ctx); err != nil {
		return []Finding{{LevelFail, "redis", "REDIS_URL " + config.Redacted(cfg.RedisURL) + ": " + err.Error()}}
	}
	out := []Finding{{LevelOK, "redis", config.Redacted(cfg.RedisURL) + " reachable"}}
	for _, w := range rs.Durability(ctx) {
		out = append(out, Finding{LevelWarn, "redis", w})
	}
	return out
}

func diagnoseProviders(ctx context.Context, cfg *config.Config, timeout time.Duration) []Finding {
	reg, err := providers.NewRegistry(registrySetup(cfg, time.Now), nil, providers.WithBaseURL(cfg.BaseURL, timeout))
	if err != nil {
		return nil // Check has reported it
	}
	opts := providers.Options{BaseURL: cfg.BaseURL, Timeout: timeout}
	var out []Finding
	for _, e := range reg.Enabled() {
		if e.Source != providers.SourceEnv || e.Type == "dev" {
			continue
		}
		name := "provider " + e.Settings.Name
		if len(e.Missing) > 0 {
			out = append(out, Finding{LevelWarn, name, "incomplete: " + strings.Join(e.Missing, ", ") + " missing"})
			continue
		}
		for _, c := range providers.CheckEndpoints(ctx, e.Kind, e.Settings, opts) {
			level := LevelOK
			if !c.OK {
				level = LevelFail
			}
			out = append(out, Finding{level, name + ": " + c.Name, c.Detail})
		}
	}
	if len(out) == 0 {
		out = append(out, Finding{LevelWarn, "providers", "no provider configured in the environment (admins may add some at runtime)"})
	}
	return out
}
