// Package testenv connects tests to the real PostgreSQL and Redis servers
// that scripts/test provides. Each call gets an isolated database or key
// prefix that is removed when the test ends.
//
// Locally a missing server skips the test with a message; under CI=true it
// fails, so a suite can never go green by silently skipping its backends.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// PostgresURL is the admin URL of the test PostgreSQL server.
func postgresAdminURL() string {
	if u := os.Getenv("AUTHBROKER_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func redisBaseURL() string {
	if u := os.Getenv("AUTHBROKER_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	Require(t, "%s unreachable: %v", what, err)
}

// Require is the one rule for a missing dependency (a server, Chromium,
// node): the test fails under CI=true and is skipped with the reason
// otherwise. scripts/test installs or starts everything a test requires.
func Require(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (required under CI=true; scripts/test provides it)", msg)
	}
	t.Skipf("%s (scripts/test provides it)", msg)
}

// RandomName returns a short random lowercase hex name with prefix.
func RandomName(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// PostgresURL creates a fresh, empty database for this test and returns its
// URL. The database is dropped at the end of the test.
func PostgresURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin := postgresAdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		unavailable(t, "PostgreSQL", err)
	}
	defer conn.Close(ctx)
	name := RandomName("authbroker_test_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse AUTHBROKER_TEST_POSTGRES: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Redis returns the URL of the test Redis server and a key prefix unique to
// this test; keys under the prefix are deleted at the end of the test.
func Redis(t testing.TB) (redisURL, prefix string) {
	t.Helper()
	redisURL = redisBaseURL()
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("parse AUTHBROKER_TEST_REDIS: %v", err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		unavailable(t, "Redis", err)
	}
	prefix = RandomName("abtest:") + ":"
	t.Cleanup(func() {
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return redisURL, prefix
}

// SQLiteURL returns a sqlite:// URL for a fresh database file in a
// temporary directory of this test.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("sqlite://%s/authbroker.db", t.TempDir())
}

// ShiftRedisTTLs makes d pass for the keys under prefix, as a fake clock
// makes it pass for everything else: each key's remaining TTL shrinks by d,
// and keys whose TTL runs out are deleted. Keys without a TTL are left
// alone. Stores set every Redis expiry relative to the caller's clock, so
// together with that clock's Advance this moves a Redis store through time
// without sleeping (and without touching Redis's own clock).
func ShiftRedisTTLs(t testing.TB, c redis.UniversalClient, prefix string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shift := func(ctx context.Context, node redis.Cmdable) error {
		iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			ttl, err := node.PTTL(ctx, k).Result()
			if err != nil {
				return err
			}
			switch {
			case ttl < 0: // no expiry, or gone meanwhile
			case ttl <= d:
				err = node.Del(ctx, k).Err()
			default:
				err = node.PExpire(ctx, k, ttl-d).Err()
			}
			if err != nil {
				return err
			}
		}
		return iter.Err()
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return shift(ctx, n) })
	} else {
		err = shift(ctx, c)
	}
	if err != nil {
		t.Fatalf("shift Redis TTLs: %v", err)
	}
}
