package sqlstore_test

import (
	"context"
	"testing"

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
			s := open(t, b.url(t))
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
				storetest.RunSessions(t, func(*testing.T) store.Sessions { return s })
			})
			t.Run("denylist", func(t *testing.T) {
				t.Parallel()
				storetest.RunDenylist(t, func(*testing.T) store.Denylist { return s })
			})
		})
	}
}
