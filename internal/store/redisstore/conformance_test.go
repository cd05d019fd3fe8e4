package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/redisstore"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/store/storetest"
	"github.com/authbroker/authbroker/internal/testenv"
)

// newStore returns a Store on the test Redis under a key prefix of its own,
// with its own client, both cleaned up with the test.
func newStore(t testing.TB, opts ...redisstore.Option) (*redisstore.Store, redis.UniversalClient) {
	s, c, _ := newStoreWithPrefix(t, opts...)
	return s, c
}

func newStoreWithPrefix(t testing.TB, opts ...redisstore.Option) (*redisstore.Store, redis.UniversalClient, string) {
	return newStoreOn(t, testenv.Redis, opts...)
}

// deployments are the Redis set-ups every suite runs on: a single server,
// a real 3-master Cluster, and a master with a replica behind Sentinel.
var deployments = []struct {
	name string
	url  func(testing.TB) (string, string)
}{
	{"redis", testenv.Redis},
	{"redis-cluster", testenv.RedisCluster},
	{"redis-sentinel", testenv.RedisSentinel},
}

// newStoreOn is newStore on the deployment that url describes.
func newStoreOn(t testing.TB, url func(testing.TB) (string, string), opts ...redisstore.Option) (*redisstore.Store, redis.UniversalClient, string) {
	t.Helper()
	u, prefix := url(t)
	c, err := redisstore.Connect(u)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return redisstore.New(c, prefix, opts...), c, prefix
}

// indexURLs are the SQL databases a Redis session store is tested with as
// its session index: the embedded default and production's.
var indexURLs = []struct {
	name string
	url  func(testing.TB) string
}{
	{"sqlite-index", testenv.SQLiteURL},
	{"postgres-index", testenv.PostgresURL},
}

// openIndex opens (and migrates, once per url) the SQL index at url with clk.
func openIndex(t testing.TB, url string, clk func() time.Time) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), url, sqlstore.WithClock(clk))
	if err != nil {
		t.Fatalf("open index: %v", err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate index: %v", err)
	}
	return s
}

// sessionsFixture is a Redis session store under a fresh prefix, with a
// fake clock shared by Redis and the SQL index at indexURL.
func sessionsFixture(t *testing.T, url func(testing.TB) (string, string), indexURL string) storetest.Sessions {
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Millisecond))
	s, c, prefix := newStoreOn(t, url, redisstore.WithClock(clk.Now))
	ix := openIndex(t, indexURL, clk.Now)
	return storetest.Sessions{
		Store: s.Sessions(ix),
		Clock: clk,
		Advance: func(d time.Duration) {
			clk.Advance(d)
			testenv.ShiftRedisTTLs(t, c, prefix, d)
		},
	}
}

func TestConformance(t *testing.T) {
	for _, d := range deployments {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			store1 := func(t *testing.T) *redisstore.Store { s, _, _ := newStoreOn(t, d.url); return s }
			t.Run("states", func(t *testing.T) {
				t.Parallel()
				storetest.RunStates(t, func(t *testing.T) store.States { return store1(t) })
			})
			t.Run("codes", func(t *testing.T) {
				t.Parallel()
				storetest.RunCodes(t, func(t *testing.T) store.Codes { return store1(t) })
			})
			for _, ix := range indexURLs {
				t.Run("sessions+"+ix.name, func(t *testing.T) {
					t.Parallel()
					url := ix.url(t)
					openIndex(t, url, time.Now) // migrate once
					storetest.RunSessions(t, func(t *testing.T) storetest.Sessions { return sessionsFixture(t, d.url, url) })
				})
			}
			t.Run("denylist", func(t *testing.T) {
				t.Parallel()
				storetest.RunDenylist(t, func(t *testing.T) store.Denylist { return store1(t) })
			})
			t.Run("replicas", func(t *testing.T) {
				t.Parallel()
				storetest.RunReplicas(t, func(t *testing.T) store.Replicas { return store1(t) })
			})
			t.Run("changes", func(t *testing.T) {
				t.Parallel()
				storetest.RunChanges(t, func(t *testing.T) store.Changes { return store1(t) })
			})
			t.Run("data marker", func(t *testing.T) {
				t.Parallel()
				storetest.RunDataMarker(t, func(t *testing.T) store.DataMarker { return store1(t) })
			})
		})
	}
}
