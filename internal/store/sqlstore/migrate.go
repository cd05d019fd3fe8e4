package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds one directory of goose SQL migrations per dialect.
//
//go:embed migrations
var migrations embed.FS

// migrationsTable is goose's version table, named for authbroker so that a
// database shared with another goose-migrated application keeps two
// separate histories.
const migrationsTable = "authbroker_schema_version"

// migrateLockID is the PostgreSQL advisory lock Migrate holds: the ASCII of
// "authbrok", so that it never waits on another goose user's default lock.
const migrateLockID int64 = 0x61757468_62726f6b

// Migrate brings the schema to the newest version embedded in this binary.
// It is idempotent and safe to run from several replicas at once: on
// PostgreSQL the replicas queue on a session-level advisory lock and the
// later ones find nothing left to do; on SQLite they queue on an exclusive
// lock of a file next to the database.
func (s *Store) Migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations/"+s.dialect)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.dialect, err)
	}
	opts := []goose.ProviderOption{
		goose.WithTableName(migrationsTable),
		// Only our embedded SQL files: never Go migrations some other
		// package registered with goose's global registry.
		goose.WithDisableGlobalRegistry(true),
	}
	var dialect goose.Dialect
	switch s.dialect {
	case DialectPostgres:
		dialect = goose.DialectPostgres
		// Retry every second for up to ten minutes (or until ctx ends):
		// a replica that starts while another migrates simply waits.
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(migrateLockID),
			lock.WithLockTimeout(1, 600),
			lock.WithUnlockTimeout(1, 60),
		)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", s.dialect, err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case DialectSQLite:
		dialect = goose.DialectSQLite3
		unlock, err := lockFile(ctx, s.path+".migrate-lock")
		if err != nil {
			return fmt.Errorf("migrate %s: %w", s.dialect, err)
		}
		defer unlock()
	}
	// The provider is not closed: its Close would close s.db.
	p, err := goose.NewProvider(dialect, s.db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.dialect, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", s.dialect, err)
	}
	return nil
}

// SchemaVersion reports the schema version the database is at and the
// newest one this binary embeds; current < latest means `authbroker
// migrate` (or a start, which migrates) has work to do. It changes nothing.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	fsys, err := fs.Sub(migrations, "migrations/"+s.dialect)
	if err != nil {
		return 0, 0, fmt.Errorf("schema version %s: %w", s.dialect, err)
	}
	dialect := goose.DialectSQLite3
	if s.dialect == DialectPostgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, s.db, fsys, goose.WithTableName(migrationsTable), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return 0, 0, fmt.Errorf("schema version %s: %w", s.dialect, err)
	}
	current, latest, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("schema version %s: %w", s.dialect, err)
	}
	return current, latest, nil
}
