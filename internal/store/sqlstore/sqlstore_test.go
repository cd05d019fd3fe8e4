package sqlstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/clock"

	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/testenv"
)

func TestOpenSQLitePaths(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(dir string) string
		file func(dir string) string
	}{
		{"absolute path, parent directories created",
			func(dir string) string { return "sqlite://" + dir + "/a/b/auth.db" },
			func(dir string) string { return filepath.Join(dir, "a", "b", "auth.db") }},
		{"relative path from the working directory",
			func(string) string { return "sqlite://./data/auth.db" },
			func(dir string) string { return filepath.Join(dir, "data", "auth.db") }},
		{"relative path without ./",
			func(string) string { return "sqlite://auth.db" },
			func(dir string) string { return filepath.Join(dir, "auth.db") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			s := open(t, tc.url(dir))
			if s.Dialect() != sqlstore.DialectSQLite {
				t.Fatalf("dialect = %q", s.Dialect())
			}
			if err := s.Ping(context.Background()); err != nil {
				t.Fatalf("ping: %v", err)
			}
			if _, err := os.Stat(tc.file(dir)); err != nil {
				t.Fatalf("database file: %v", err)
			}
			// WAL: readers do not block the writer.
			if _, err := os.Stat(tc.file(dir) + "-wal"); err != nil {
				t.Fatalf("WAL file: %v", err)
			}
		})
	}
}

func TestOpenRefusesBadURLs(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"no scheme", "./data/auth.db"},
		{"other database", "mysql://root@localhost/auth"},
		{"sqlite without path", "sqlite://"},
		{"sqlite in memory", "sqlite://:memory:"},
		{"sqlite URI", "sqlite://file:auth.db?cache=shared"},
		{"sqlite with parameters", "sqlite://./auth.db?_pragma=foreign_keys(0)"},
		{"postgres with a bad port", "postgres://user:s3cret@127.0.0.1:notaport/auth"},
		{"postgres nobody listens on", "postgres://user:s3cret@127.0.0.1:1/auth?connect_timeout=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlstore.Open(context.Background(), tc.url)
			if err == nil {
				s.Close()
				t.Fatalf("open %q succeeded", tc.url)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error reveals the password: %v", err)
			}
		})
	}
}

// TestMigrate checks that migrations can run twice, and from several
// processes at once, as replicas do when they start together.
func TestMigrate(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.url(t)
			ctx := context.Background()
			const replicas = 6
			var (
				wg   sync.WaitGroup
				errs = make([]error, replicas)
			)
			for i := range replicas {
				wg.Go(func() {
					s, err := sqlstore.Open(ctx, url)
					if err != nil {
						errs[i] = err
						return
					}
					defer s.Close()
					errs[i] = s.Migrate(ctx)
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
			}
			s := open(t, url) // migrates once more: nothing to do
			if s.Dialect() != b.name {
				t.Fatalf("dialect = %q, want %q", s.Dialect(), b.name)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("third migrate: %v", err)
			}
			// The schema is usable.
			if _, err := s.ListMembers(ctx, store.MemberQuery{}); err != nil {
				t.Fatalf("list members: %v", err)
			}
		})
	}
}

// TestExpiryAndPurge checks that expired rows are invisible on read and
// that Purge deletes them, and only them: turning the clock back after the
// purge shows which rows are physically gone.
func TestExpiryAndPurge(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
			clk := clock.NewFake(base)
			url := b.url(t)
			s := open(t, url, sqlstore.WithClock(clk.Now))

			put := func(id string, ttl time.Duration) {
				t.Helper()
				if err := s.PutState(ctx, id, store.LoginState{Provider: "google", CreatedAt: base}, ttl); err != nil {
					t.Fatalf("put state: %v", err)
				}
				if err := s.PutCode(ctx, id, store.Code{MemberID: "m", CreatedAt: base}, ttl); err != nil {
					t.Fatalf("put code: %v", err)
				}
				sess := store.Session{ID: id, MemberID: "m-" + id, Provider: "google", CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(ttl)}
				if _, err := s.CreateSession(ctx, sess, store.AdmitAlongside); err != nil {
					t.Fatalf("create session: %v", err)
				}
				publish := func(context.Context) error { return nil }
				if err := s.AdmitIndexed(ctx, sess, func(context.Context, []store.Session) ([]string, error) { return nil, nil }, publish); err != nil {
					t.Fatalf("index session: %v", err)
				}
				if err := s.Deny(ctx, store.Denied{SessionID: id, Until: base.Add(ttl)}); err != nil {
					t.Fatalf("deny: %v", err)
				}
			}
			present := func(id string) (state, code, session, denied bool) {
				t.Helper()
				_, err := s.GetSession(ctx, id)
				session = err == nil
				_, err = s.IndexedSession(ctx, id)
				if indexed := err == nil; indexed != session {
					t.Fatalf("session %s: stored %v, indexed %v", id, session, indexed)
				}
				live, err := s.LiveDenied(ctx, clk.Now())
				if err != nil {
					t.Fatalf("live denied: %v", err)
				}
				for _, d := range live {
					denied = denied || d.SessionID == id
				}
				// Takes last: they consume the rows.
				_, err = s.TakeState(ctx, id)
				state = err == nil
				_, err = s.TakeCode(ctx, id)
				code = err == nil
				return state, code, session, denied
			}

			put("short", time.Minute)
			put("short-purged", time.Minute)
			put("long", time.Hour)

			clk.Advance(2 * time.Minute)
			if st, c, se, d := present("short"); st || c || se || d {
				t.Fatalf("expired rows visible: state %v, code %v, session %v, denied %v", st, c, se, d)
			}
			if _, err := s.Refresh(ctx, store.Refresh{SessionID: "short-purged", Now: clk.Now()}); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("refresh an expired session: %v, want store.ErrNotFound", err)
			}

			if err := s.Purge(ctx, clk.Now()); err != nil {
				t.Fatalf("purge: %v", err)
			}
			clk = clock.NewFake(base) // back in time: rows still stored would show
			s = open(t, url, sqlstore.WithClock(clk.Now))
			if st, c, se, d := present("short-purged"); st || c || se || d {
				t.Fatalf("purged rows still stored: state %v, code %v, session %v, denied %v", st, c, se, d)
			}
			if st, c, se, d := present("long"); !st || !c || !se || !d {
				t.Fatalf("live rows purged: state %v, code %v, session %v, denied %v", st, c, se, d)
			}
		})
	}
}

func TestPutWithoutTTLIsRefused(t *testing.T) {
	s := open(t, testenv.SQLiteURL(t))
	if err := s.PutState(context.Background(), "id", store.LoginState{}, 0); err == nil {
		t.Fatal("put state with ttl 0 succeeded")
	}
}
