package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/store/storetest"
	"github.com/authbroker/authbroker/internal/testenv"
)

// backends are the two dialects every test here runs on: a fresh SQLite
// file, and a fresh database on the test PostgreSQL server.
var backends = []struct {
	name string
	url  func(testing.TB) string
}{
	{sqlstore.DialectSQLite, testenv.SQLiteURL},
	{sqlstore.DialectPostgres, testenv.PostgresURL},
}

// open opens and migrates a store at url, closed when the test ends.
func open(t testing.TB, url string, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, url, opts...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// TestConformance runs every store suite against both dialects. Each
// backend shares one migrated database between the suites (they use random
// ids throughout), and the suites run in parallel so their expiry waits
// overlap.
func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.url(t)
			s := open(t, url)
			t.Run("members", func(t *testing.T) {
				t.Parallel()
				storetest.RunMembers(t, func(*testing.T) storetest.MembersAndAudit { return s })
			})
			t.Run("states", func(t *testing.T) {
				t.Parallel()
				storetest.RunStates(t, func(*testing.T) store.States { return s })
			})
			t.Run("codes", func(t *testing.T) {
				t.Parallel()
				storetest.RunCodes(t, func(*testing.T) store.Codes { return s })
			})
			t.Run("sessions", func(t *testing.T) {
				t.Parallel()
				// Each subtest gets a handle of its own on the shared
				// database, running on the subtest's fake clock.
				storetest.RunSessions(t, func(t *testing.T) storetest.Sessions {
					clk := clock.NewFake(time.Now().UTC().Truncate(time.Millisecond))
					return storetest.Sessions{Store: open(t, url, sqlstore.WithClock(clk.Now)), Clock: clk, Advance: clk.Advance}
				})
			})
			t.Run("session index", func(t *testing.T) {
				t.Parallel()
				storetest.RunSessionIndex(t, func(*testing.T) store.SessionIndex { return s })
			})
			t.Run("meta", func(t *testing.T) {
				t.Parallel()
				storetest.RunMeta(t, func(*testing.T) store.Meta { return s })
			})
			t.Run("provider configs", func(t *testing.T) {
				t.Parallel()
				storetest.RunProviderConfigs(t, func(t *testing.T) store.ProviderConfigs { return open(t, b.url(t)) })
			})
			t.Run("replicas", func(t *testing.T) {
				t.Parallel()
				storetest.RunReplicas(t, func(t *testing.T) store.Replicas { return open(t, b.url(t)) })
			})
			t.Run("provider tokens", func(t *testing.T) {
				t.Parallel()
				storetest.RunProviderTokens(t, func(*testing.T) storetest.ProviderTokensAndMembers { return s })
			})
			t.Run("denylist", func(t *testing.T) {
				t.Parallel()
				storetest.RunDenylist(t, func(*testing.T) store.Denylist { return s })
			})
		})
	}
}
