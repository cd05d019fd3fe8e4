// Package sqlstore is authbroker's SQL backend: one implementation of every
// store contract (members and identities, the admin audit log, and — when no
// Redis is configured — login states, one-time codes, sessions and the
// access-token denylist) for both SQLite (modernc.org/sqlite, pure Go, the
// embedded default) and PostgreSQL (pgx through database/sql).
//
// Queries are written once with ? placeholders and rebound to $n for
// PostgreSQL; the few real differences between the dialects (row locks,
// time encoding, error codes) live in dialect.go. The schema is versioned by
// goose migrations embedded per dialect and applied by Migrate.
//
// Times are stored in UTC with microsecond precision, the finest both
// databases keep, so a value reads back identically on either backend.
// Expired short-lived rows are invisible to reads; Purge deletes them.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/authbroker/authbroker/internal/store"
)

// Dialect names returned by (*Store).Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Compile-time proof that Store implements every contract it is wired as.
var (
	_ store.Members         = (*Store)(nil)
	_ store.Audit           = (*Store)(nil)
	_ store.States          = (*Store)(nil)
	_ store.Codes           = (*Store)(nil)
	_ store.Sessions        = (*Store)(nil)
	_ store.SessionIndex    = (*Store)(nil)
	_ store.Denylist        = (*Store)(nil)
	_ store.Meta            = (*Store)(nil)
	_ store.Replicas        = (*Store)(nil)
	_ store.ProviderConfigs = (*Store)(nil)
)

// Store is a SQL database holding every authbroker record. It is safe for
// concurrent use.
type Store struct {
	dialect string
	// db takes every write and every transaction. On SQLite it is a single
	// connection: SQLite allows one writer at a time, and queueing writers
	// in Go (where waits honour the context) beats polling on SQLITE_BUSY.
	db *sql.DB
	// read serves plain reads. On SQLite it is a separate pool of
	// query-only connections, which WAL lets run alongside the writer; on
	// PostgreSQL it is db.
	read *sql.DB
	// path is the SQLite database file (empty on PostgreSQL); Migrate locks
	// a file next to it.
	path string
	now  func() time.Time
	// onStatement, when set, is called for every statement sent to
	// PostgreSQL (metrics: the proof that a refresh sends none).
	onStatement func()
}

// Option configures Open.
type Option func(*Store)

// WithClock sets the clock that decides expiry on reads (states, codes,
// sessions) and the expiry of rows stored with a TTL. The default is
// time.Now; tests pass a fake to cross expiry without sleeping.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// WithStatementObserver calls fn for every statement sent to PostgreSQL
// (through pgx's query tracer). SQLite statements are not observed.
func WithStatementObserver(fn func()) Option {
	return func(s *Store) { s.onStatement = fn }
}

// stmtTracer is a pgx.QueryTracer that counts statements.
type stmtTracer struct{ fn func() }

func (t stmtTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	t.fn()
	return ctx
}

func (stmtTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// Open connects to databaseURL: sqlite://PATH (sqlite://./data/x.db,
// sqlite:///abs/path; the parent directory is created) or a postgres:// or
// postgresql:// URL. It checks that the database answers but does not
// migrate: callers run Migrate at start-up.
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	if err := CheckURL(databaseURL); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	s := &Store{now: time.Now}
	for _, o := range opts {
		o(s)
	}
	var err error
	if IsPostgres(databaseURL) {
		err = s.openPostgres(ctx, databaseURL)
	} else {
		err = s.openSQLite(ctx, strings.TrimPrefix(databaseURL, "sqlite://"))
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// CheckURL reports what is wrong with the form of databaseURL, without
// opening anything: the configuration check at start-up, before the
// database is waited for. The error never repeats the URL (it may carry a
// password).
func CheckURL(databaseURL string) error {
	switch {
	case strings.HasPrefix(databaseURL, "sqlite://"):
		path := strings.TrimPrefix(databaseURL, "sqlite://")
		switch {
		case path == "":
			return errors.New("sqlite:// needs a file path (sqlite://./data/authbroker.db)")
		case path == ":memory:" || strings.HasPrefix(path, "file:"):
			// An in-memory database would be a different, empty database on
			// each of the two pools.
			return errors.New("sqlite:// takes a file path, not :memory: or a file: URI")
		case strings.ContainsAny(path, "?#"):
			return errors.New("sqlite:// takes a plain file path without query parameters")
		}
		return nil
	case IsPostgres(databaseURL):
		if _, err := pgx.ParseConfig(databaseURL); err != nil {
			// pgx's message may quote the URL, password included.
			return errors.New("malformed PostgreSQL URL")
		}
		return nil
	}
	return errors.New("unsupported URL (want sqlite://PATH or postgres://…)")
}

// IsPostgres reports whether databaseURL names a PostgreSQL database.
func IsPostgres(databaseURL string) bool {
	return strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://")
}

// sqliteDSN is the modernc.org/sqlite DSN for path. Every connection gets:
//   - busy_timeout: wait for a lock held by another process (a concurrent
//     `authbroker migrate`) instead of failing at once;
//   - foreign_keys: identities cascade with their member;
//   - _txlock=immediate: a transaction takes the write lock at BEGIN, so a
//     read-modify-write transaction never fails half-way trying to upgrade
//     a read lock another writer raced it to.
//
// WAL and synchronous=NORMAL are set on the writer only: WAL is a property
// of the file, and NORMAL is durable enough in WAL mode (a power cut may lose
// the last commits, never corrupt the file) at a fraction of FULL's fsyncs.
func sqliteDSN(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	if writer {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return path + "?" + q.Encode()
}

// openSQLite opens the file at path (CheckURL has accepted it).
func (s *Store) openSQLite(ctx context.Context, path string) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("open database: create directory %s: %w", dir, err)
		}
	}
	w, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	// The writer connects first so the file exists and is in WAL mode
	// before any query-only reader opens it.
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return fmt.Errorf("open database %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		_ = w.Close()
		return fmt.Errorf("open database %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return fmt.Errorf("open database %s: %w", path, err)
	}
	s.dialect, s.db, s.read, s.path = DialectSQLite, w, r, path
	return nil
}

func (s *Store) openPostgres(ctx context.Context, databaseURL string) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return errors.New("open database: malformed PostgreSQL URL")
	}
	if s.onStatement != nil {
		cfg.Tracer = stmtTracer{s.onStatement}
	}
	db := stdlib.OpenDB(*cfg)
	// Bounded so that a few replicas fit PostgreSQL's default
	// max_connections (100) with room for operators and migrations.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	// Recycled now and then so a fail-over or DNS change is picked up.
	db.SetConnMaxLifetime(time.Hour)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return fmt.Errorf("open database %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	s.dialect, s.db, s.read = DialectPostgres, db, db
	return nil
}

// Dialect is DialectSQLite or DialectPostgres.
func (s *Store) Dialect() string { return s.dialect }

// Close releases every connection.
func (s *Store) Close() {
	_ = s.db.Close()
	if s.read != s.db {
		_ = s.read.Close()
	}
}

// Ping reports whether the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.dialect, err)
	}
	if s.read != s.db {
		if err := s.read.PingContext(ctx); err != nil {
			return fmt.Errorf("ping %s readers: %w", s.dialect, err)
		}
	}
	return nil
}

// Purge deletes login states, one-time codes, sessions, session index rows
// and denylist entries that expired at or before now. Reads already ignore them; Purge only keeps
// the tables small, so callers run it every minute or so.
func (s *Store) Purge(ctx context.Context, now time.Time) error {
	at := s.timeArg(now)
	var errs []error
	for _, q := range []string{
		`DELETE FROM login_states WHERE expires_at <= ?`,
		`DELETE FROM one_time_codes WHERE expires_at <= ?`,
		`DELETE FROM sessions WHERE expires_at <= ?`,
		`DELETE FROM session_index WHERE expires_at <= ?`,
		`DELETE FROM denylist WHERE deny_until <= ?`,
	} {
		if _, err := s.db.ExecContext(ctx, s.q(q), at); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("purge expired rows: %w", err)
	}
	return nil
}

// inTx runs fn in a transaction on the writer and commits when fn returns
// nil. On SQLite the transaction holds the write lock from BEGIN
// (_txlock=immediate); on PostgreSQL it runs at READ COMMITTED and fn takes
// the row locks it needs (see forUpdate).
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
