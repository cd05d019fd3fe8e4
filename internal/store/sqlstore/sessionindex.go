package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/authbroker/authbroker/internal/store"
)

// The session index (store.SessionIndex): the sessions of each member, for
// a Sessions backend that keeps their refresh state in Redis.

const indexCols = `id, member_id, provider, user_agent, ip, created_at, expires_at`

func scanIndexed(r rowScanner) (store.Session, error) {
	var ss store.Session
	err := r.Scan(&ss.ID, &ss.MemberID, &ss.Provider, &ss.UserAgent, &ss.IP, scanTime(&ss.CreatedAt), scanTime(&ss.ExpiresAt))
	ss.LastUsedAt = ss.CreatedAt
	return ss, err
}

// AdmitIndexed implements store.SessionIndex: decide and the insert run in
// one transaction holding the member's admission lock, and publish runs
// before the commit so that the next admission of the member, waiting on
// the lock, finds the published record.
func (s *Store) AdmitIndexed(ctx context.Context, ss store.Session, decide func(context.Context, []store.Session) ([]string, error), publish func(context.Context) error) error {
	if ss.ID == "" || ss.MemberID == "" || ss.ExpiresAt.IsZero() {
		return fmt.Errorf("index session %s: id, member and expiry are required", ss.ID)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockMember(ctx, tx, ss.MemberID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+indexCols+` FROM session_index
			WHERE member_id = ? AND expires_at > ? ORDER BY created_at DESC, id DESC`), ss.MemberID, s.timeArg(s.now()))
		if err != nil {
			return err
		}
		indexed, err := collectIndexed(rows)
		if err != nil {
			return err
		}
		drop, err := decide(ctx, indexed)
		if err != nil {
			return err
		}
		if err := unindex(ctx, tx, s, drop); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO session_index (`+indexCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			ss.ID, ss.MemberID, ss.Provider, ss.UserAgent, ss.IP, s.timeArg(ss.CreatedAt), s.timeArg(ss.ExpiresAt))
		if isUniqueViolation(err) {
			return store.ErrConflict
		}
		if err != nil {
			return err
		}
		return publish(ctx)
	})
	if err != nil {
		return fmt.Errorf("index session %s: %w", ss.ID, err)
	}
	return nil
}

// IndexedSessions returns a member's indexed unexpired sessions, newest first.
func (s *Store) IndexedSessions(ctx context.Context, memberID string) ([]store.Session, error) {
	rows, err := s.read.QueryContext(ctx, s.q(`SELECT `+indexCols+` FROM session_index
		WHERE member_id = ? AND expires_at > ? ORDER BY created_at DESC, id DESC`), memberID, s.timeArg(s.now()))
	if err != nil {
		return nil, fmt.Errorf("indexed sessions of %s: %w", memberID, err)
	}
	out, err := collectIndexed(rows)
	if err != nil {
		return nil, fmt.Errorf("indexed sessions of %s: %w", memberID, err)
	}
	return out, nil
}

// IndexedSession returns one indexed unexpired session or ErrNotFound.
func (s *Store) IndexedSession(ctx context.Context, id string) (store.Session, error) {
	ss, err := scanIndexed(s.read.QueryRowContext(ctx, s.q(`SELECT `+indexCols+` FROM session_index WHERE id = ? AND expires_at > ?`),
		id, s.timeArg(s.now())))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("indexed session %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("indexed session %s: %w", id, err)
	}
	return ss, nil
}

// Unindex removes sessions from the index.
func (s *Store) Unindex(ctx context.Context, ids ...string) error {
	if err := unindex(ctx, s.db, s, ids); err != nil {
		return fmt.Errorf("unindex sessions: %w", err)
	}
	return nil
}

// unindex deletes ids in batches (one statement per 500 ids).
func unindex(ctx context.Context, db execer, s *Store, ids []string) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		q := `DELETE FROM session_index WHERE id IN (?` + strings.Repeat(", ?", n-1) + `)`
		if _, err := db.ExecContext(ctx, s.q(q), args...); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func collectIndexed(rows *sql.Rows) ([]store.Session, error) {
	defer rows.Close()
	out := []store.Session{}
	for rows.Next() {
		ss, err := scanIndexed(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	return out, rows.Err()
}
