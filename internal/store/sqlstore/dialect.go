package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// q adapts a query written with ? placeholders to the store's dialect.
func (s *Store) q(query string) string {
	if s.dialect == DialectPostgres {
		return rebind(query)
	}
	return query
}

// rebind numbers ? placeholders as PostgreSQL's $1, $2, … A ? inside a
// single-quoted literal is left alone; an escaped quote (two in a row)
// toggles twice, so it needs no special case.
func rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// forUpdate is the row-lock clause for a SELECT that precedes an UPDATE in
// the same transaction. SQLite has no row locks and needs none: the
// transaction already holds the database's single write lock.
func (s *Store) forUpdate() string {
	if s.dialect == DialectPostgres {
		return " FOR UPDATE"
	}
	return ""
}

// sqliteTime is how SQLite columns hold times: UTC, fixed width, so that
// text comparison (expires_at > ?, keyset pagination) is time order.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

// dbTime is t as stored: UTC, cut to microseconds (PostgreSQL's precision,
// applied on both backends so a value reads back identically on either).
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// timeArg is t as a query argument; the zero time is NULL.
func (s *Store) timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = dbTime(t)
	if s.dialect == DialectSQLite {
		return t.Format(sqliteTime)
	}
	return t
}

// timeScanner reads a time column of either backend into dst; NULL is the
// zero time.
type timeScanner struct{ dst *time.Time }

func scanTime(dst *time.Time) timeScanner { return timeScanner{dst} }

// Scan implements sql.Scanner.
func (ts timeScanner) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*ts.dst = time.Time{}
	case time.Time:
		*ts.dst = dbTime(v)
	case string:
		return ts.parse(v)
	case []byte:
		return ts.parse(string(v))
	default:
		return fmt.Errorf("scan time: unsupported type %T", src)
	}
	return nil
}

func (ts timeScanner) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("scan time: %w", err)
	}
	*ts.dst = dbTime(t)
	return nil
}

// jsonArg is a JSON document as a query argument: text (SQLite TEXT and
// PostgreSQL json both take text and keep it verbatim), NULL when empty.
// It is checked here because PostgreSQL would refuse invalid JSON and
// SQLite would not: both backends refuse it alike.
func jsonArg(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if !json.Valid(b) {
		return nil, errors.New("not valid JSON")
	}
	return string(b), nil
}

// isUniqueViolation reports whether err is a primary-key or unique
// constraint violation on either backend.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// isForeignKeyViolation reports whether err is a foreign-key violation
// (an identity for a member that does not exist).
func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}
