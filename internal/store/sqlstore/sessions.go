package sqlstore

import (
	"cmp"
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

const sessionCols = `id, member_id, provider, user_agent, ip, created_at, last_used_at, expires_at`

func scanSession(r rowScanner) (store.Session, error) {
	var ss store.Session
	err := r.Scan(&ss.ID, &ss.MemberID, &ss.Provider, &ss.UserAgent, &ss.IP,
		scanTime(&ss.CreatedAt), scanTime(&ss.LastUsedAt), scanTime(&ss.ExpiresAt))
	return ss, err
}

// Retired refresh hashes: refresh_history holds the first retiredPrefix
// bytes of each hash that stopped being current, oldest first, back to back,
// at most retiredKept of them (store.Sessions promises at least 1024). An
// 8-byte prefix is enough to recognise a replay: presenting a match without
// the token needs a 64-bit preimage of SHA-256. Hashes shorter than
// retiredPrefix are refused, so entries stay aligned.
const (
	retiredPrefix = store.MinHashLen
	retiredKept   = 1024
)

// CreateSession stores ss with the hash of its first refresh token;
// ErrConflict when the id is taken.
func (s *Store) CreateSession(ctx context.Context, ss store.Session, refreshHash []byte) error {
	if len(refreshHash) < store.MinHashLen || ss.ExpiresAt.IsZero() {
		return fmt.Errorf("create session %s: a refresh hash of at least %d bytes and an expiry are required", ss.ID, store.MinHashLen)
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sessions (`+sessionCols+`, refresh_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		ss.ID, ss.MemberID, ss.Provider, ss.UserAgent, ss.IP,
		s.timeArg(ss.CreatedAt), s.timeArg(ss.LastUsedAt), s.timeArg(ss.ExpiresAt), refreshHash)
	if isUniqueViolation(err) {
		return fmt.Errorf("create session %s: %w", ss.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create session %s: %w", ss.ID, err)
	}
	return nil
}

// RotateRefresh makes the whole refresh decision of store.Sessions in one
// transaction. The session row is locked first (SELECT … FOR UPDATE on
// PostgreSQL; SQLite's immediate transaction holds the write lock), so of
// concurrent callers presenting the current token exactly one finds it
// current and rotates; the others then find it previous and are graced.
// Hashes are compared in constant time.
func (s *Store) RotateRefresh(ctx context.Context, r store.Rotation) (store.Rotated, error) {
	if len(r.Next) < store.MinHashLen {
		return store.Rotated{}, fmt.Errorf("rotate session %s: next refresh hash shorter than %d bytes", r.SessionID, store.MinHashLen)
	}
	now := r.Now
	var (
		out    store.Rotated
		reused bool
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			ss                               store.Session
			current, previous, seal, history []byte
			rotatedAt                        time.Time
		)
		row := tx.QueryRowContext(ctx, s.q(`SELECT `+sessionCols+`, refresh_hash, previous_hash, sealed, rotated_at,
			refresh_history FROM sessions WHERE id = ? AND expires_at > ?`+s.forUpdate()), r.SessionID, s.timeArg(now))
		err := row.Scan(&ss.ID, &ss.MemberID, &ss.Provider, &ss.UserAgent, &ss.IP,
			scanTime(&ss.CreatedAt), scanTime(&ss.LastUsedAt), scanTime(&ss.ExpiresAt),
			&current, &previous, &seal, scanTime(&rotatedAt), &history)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		isPrevious := len(r.Presented) > 0 && len(previous) > 0 && subtle.ConstantTimeCompare(r.Presented, previous) == 1
		switch {
		case len(r.Presented) > 0 && subtle.ConstantTimeCompare(r.Presented, current) == 1:
			ss.LastUsedAt = dbTime(now)
			if r.IP != "" {
				ss.IP = r.IP
			}
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE sessions SET refresh_hash = ?, previous_hash = ?, sealed = ?,
				rotated_at = ?, last_used_at = ?, ip = ?, refresh_history = ? WHERE id = ?`),
				r.Next, r.Presented, r.Sealed, s.timeArg(now), s.timeArg(now), ss.IP,
				retire(history, current), ss.ID); err != nil {
				return err
			}
			out = store.Rotated{Session: ss}
			return nil
		case isPrevious && now.Sub(rotatedAt) <= r.Grace:
			out = store.Rotated{Session: ss, Graced: true, Sealed: seal}
			return nil
		case isPrevious || wasRetired(history, r.Presented):
			// The previous token after the grace, or any older retired one:
			// theft is assumed and the session ends (RFC 9700 §4.14.2). The
			// previous hash is in the history too, except in a session last
			// rotated before the history was kept.
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE id = ?`), ss.ID); err != nil {
				return err
			}
			reused = true
			return nil
		default:
			return store.ErrNotFound
		}
	})
	if err != nil {
		return store.Rotated{}, fmt.Errorf("rotate session %s: %w", r.SessionID, err)
	}
	if reused {
		return store.Rotated{}, fmt.Errorf("rotate session %s: %w", r.SessionID, store.ErrReused)
	}
	return out, nil
}

// retire returns history with the prefix of hash appended, keeping the
// newest retiredKept entries. A hash too short to have a prefix (stored
// before CreateSession checked the length) is left out rather than
// misaligning every later entry.
func retire(history, hash []byte) []byte {
	if len(hash) < retiredPrefix {
		return history
	}
	out := append(slices.Clip(history), hash[:retiredPrefix]...)
	if excess := len(out) - retiredKept*retiredPrefix; excess > 0 {
		out = out[excess:]
	}
	return out
}

// wasRetired reports whether the prefix of presented is an entry of
// history. Every entry is compared, in constant time, so the time taken
// does not tell how recently a token was retired.
func wasRetired(history, presented []byte) bool {
	if len(presented) < retiredPrefix {
		return false
	}
	p := presented[:retiredPrefix]
	match := 0
	for i := 0; i+retiredPrefix <= len(history); i += retiredPrefix {
		match |= subtle.ConstantTimeCompare(history[i:i+retiredPrefix], p)
	}
	return match == 1
}

// GetSession returns a live session or ErrNotFound.
func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	row := s.read.QueryRowContext(ctx, s.q(`SELECT `+sessionCols+` FROM sessions WHERE id = ? AND expires_at > ?`),
		id, s.timeArg(s.now()))
	ss, err := scanSession(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("get session %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session %s: %w", id, err)
	}
	return ss, nil
}

// ListSessions returns a member's live sessions, newest first.
func (s *Store) ListSessions(ctx context.Context, memberID string) ([]store.Session, error) {
	rows, err := s.read.QueryContext(ctx, s.q(`SELECT `+sessionCols+` FROM sessions
		WHERE member_id = ? AND expires_at > ? ORDER BY created_at DESC, id DESC`), memberID, s.timeArg(s.now()))
	if err != nil {
		return nil, fmt.Errorf("list sessions of %s: %w", memberID, err)
	}
	out, err := collectSessions(rows)
	if err != nil {
		return nil, fmt.Errorf("list sessions of %s: %w", memberID, err)
	}
	return out, nil
}

// RevokeSession deletes a session and returns it; ErrNotFound if absent or
// already expired (an expired row is deleted all the same).
func (s *Store) RevokeSession(ctx context.Context, id string) (store.Session, error) {
	row := s.db.QueryRowContext(ctx, s.q(`DELETE FROM sessions WHERE id = ? RETURNING `+sessionCols), id)
	ss, err := scanSession(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("revoke session %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("revoke session %s: %w", id, err)
	}
	if !ss.ExpiresAt.After(s.now()) {
		return store.Session{}, fmt.Errorf("revoke session %s: %w", id, store.ErrNotFound)
	}
	return ss, nil
}

// RevokeMemberSessions deletes every session of a member except keep (may
// be empty) in one statement and returns the live ones it deleted, newest
// first.
func (s *Store) RevokeMemberSessions(ctx context.Context, memberID, keep string) ([]store.Session, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`DELETE FROM sessions WHERE member_id = ? AND id <> ? RETURNING `+sessionCols),
		memberID, keep)
	if err != nil {
		return nil, fmt.Errorf("revoke sessions of %s: %w", memberID, err)
	}
	all, err := collectSessions(rows)
	if err != nil {
		return nil, fmt.Errorf("revoke sessions of %s: %w", memberID, err)
	}
	now := s.now()
	live := all[:0]
	for _, ss := range all {
		if ss.ExpiresAt.After(now) {
			live = append(live, ss)
		}
	}
	// RETURNING has no ORDER BY.
	slices.SortFunc(live, func(a, b store.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return live, nil
}

func collectSessions(rows *sql.Rows) ([]store.Session, error) {
	defer rows.Close()
	out := []store.Session{}
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	return out, rows.Err()
}
