package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

const sessionCols = `id, member_id, provider, user_agent, ip, created_at, last_used_at, expires_at, role, email, email_verified, name`

func scanSession(r rowScanner) (store.Session, error) {
	var ss store.Session
	err := r.Scan(&ss.ID, &ss.MemberID, &ss.Provider, &ss.UserAgent, &ss.IP,
		scanTime(&ss.CreatedAt), scanTime(&ss.LastUsedAt), scanTime(&ss.ExpiresAt),
		&ss.Claims.Role, &ss.Claims.Email, &ss.Claims.EmailVerified, &ss.Claims.Name)
	return ss, err
}

// lockMember serialises the session admissions of one member for the rest
// of tx. PostgreSQL takes a transaction-scoped advisory lock on the member
// id (no row needs to exist); SQLite needs nothing: the immediate
// transaction already holds the database's single write lock.
func (s *Store) lockMember(ctx context.Context, tx *sql.Tx, memberID string) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "authbroker session admission "+memberID)
	return err
}

// CreateSession stores ss with refresh counter 0 and applies the admission
// rule under the member's lock, in one transaction.
func (s *Store) CreateSession(ctx context.Context, ss store.Session, a store.Admission) ([]store.Session, error) {
	if ss.ID == "" || ss.MemberID == "" || ss.ExpiresAt.IsZero() {
		return nil, fmt.Errorf("create session %s: id, member and expiry are required", ss.ID)
	}
	var ended []store.Session
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockMember(ctx, tx, ss.MemberID); err != nil {
			return err
		}
		var err error
		ended, err = s.admit(ctx, tx, ss.MemberID, a)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO sessions (`+sessionCols+`, counter, floor, rotated_at, window_start, window_count)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, 0)`),
			ss.ID, ss.MemberID, ss.Provider, ss.UserAgent, ss.IP,
			s.timeArg(ss.CreatedAt), s.timeArg(ss.LastUsedAt), s.timeArg(ss.ExpiresAt),
			ss.Claims.Role, ss.Claims.Email, ss.Claims.EmailVerified, ss.Claims.Name,
			s.timeArg(ss.CreatedAt), s.timeArg(ss.CreatedAt))
		if isUniqueViolation(err) {
			return store.ErrConflict
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create session %s: %w", ss.ID, err)
	}
	return ended, nil
}

// admit applies a to the member's live sessions inside tx: AdmitIfAlone
// refuses while one exists, AdmitAlone deletes and returns them.
func (s *Store) admit(ctx context.Context, tx *sql.Tx, memberID string, a store.Admission) ([]store.Session, error) {
	switch a {
	case store.AdmitIfAlone:
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM sessions WHERE member_id = ? AND expires_at > ?`),
			memberID, s.timeArg(s.now())).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, store.ErrSignedIn
		}
	case store.AdmitAlone:
		rows, err := tx.QueryContext(ctx, s.q(`DELETE FROM sessions WHERE member_id = ? RETURNING `+sessionCols), memberID)
		if err != nil {
			return nil, err
		}
		all, err := collectSessions(rows)
		if err != nil {
			return nil, err
		}
		return s.liveNewestFirst(all), nil
	}
	return nil, nil
}

// Refresh makes the whole refresh decision (store.Refresh.Decide) in one
// transaction. The session row is locked first (SELECT … FOR UPDATE on
// PostgreSQL; SQLite's immediate transaction holds the write lock), so of
// concurrent callers presenting the current counter exactly one rotates;
// the others then find it previous and replay.
func (s *Store) Refresh(ctx context.Context, r store.Refresh) (store.Refreshed, error) {
	var (
		out     store.Refreshed
		outcome store.Outcome
		wait    time.Duration
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			ss    store.Session
			st    store.RefreshState
			wc    int64
			c, fl int64
		)
		err := tx.QueryRowContext(ctx, s.q(`SELECT `+sessionCols+`, counter, floor, rotated_at, window_start, window_count
			FROM sessions WHERE id = ?`+s.forUpdate()), r.SessionID).Scan(
			&ss.ID, &ss.MemberID, &ss.Provider, &ss.UserAgent, &ss.IP,
			scanTime(&ss.CreatedAt), scanTime(&ss.LastUsedAt), scanTime(&ss.ExpiresAt),
			&ss.Claims.Role, &ss.Claims.Email, &ss.Claims.EmailVerified, &ss.Claims.Name,
			&c, &fl, scanTime(&st.RotatedAt), scanTime(&st.WindowStart), &wc)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		st.Counter, st.Floor, st.WindowCount, st.ExpiresAt = uint64(c), uint64(fl), int(wc), ss.ExpiresAt
		var next store.RefreshState
		outcome, next, wait = r.Decide(st)
		switch outcome {
		case store.OutcomeExpired:
			return store.ErrNotFound
		case store.OutcomeLimited:
			return nil
		case store.OutcomeReused:
			_, err := tx.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE id = ?`), ss.ID)
			return err
		}
		ss.LastUsedAt = dbTime(r.Now)
		if r.IP != "" {
			ss.IP = r.IP
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE sessions SET counter = ?, floor = ?, rotated_at = ?, window_start = ?,
			window_count = ?, last_used_at = ?, ip = ? WHERE id = ?`),
			int64(next.Counter), int64(next.Floor), s.timeArg(next.RotatedAt), s.timeArg(next.WindowStart),
			next.WindowCount, s.timeArg(r.Now), ss.IP, ss.ID); err != nil {
			return err
		}
		out = store.Refreshed{Session: ss, Counter: next.Counter, Rotated: outcome == store.OutcomeRotated}
		return nil
	})
	switch {
	case err != nil:
		return store.Refreshed{}, fmt.Errorf("refresh session %s: %w", r.SessionID, err)
	case outcome == store.OutcomeReused:
		return store.Refreshed{}, fmt.Errorf("refresh session %s: %w", r.SessionID, store.ErrReused)
	case outcome == store.OutcomeLimited:
		return store.Refreshed{}, fmt.Errorf("refresh session %s: %w", r.SessionID, &store.LimitError{RetryAfter: wait})
	}
	return out, nil
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
	return s.liveNewestFirst(all), nil
}

// UpdateSessionClaims sets the claims of the member's live sessions.
func (s *Store) UpdateSessionClaims(ctx context.Context, memberID string, c store.Claims) error {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE sessions SET role = ?, email = ?, email_verified = ?, name = ? WHERE member_id = ? AND expires_at > ?`),
		c.Role, c.Email, c.EmailVerified, c.Name, memberID, s.timeArg(s.now())); err != nil {
		return fmt.Errorf("update session claims of %s: %w", memberID, err)
	}
	return nil
}

// liveNewestFirst keeps the unexpired sessions of all, newest first
// (RETURNING has no ORDER BY).
func (s *Store) liveNewestFirst(all []store.Session) []store.Session {
	now := s.now()
	live := all[:0]
	for _, ss := range all {
		if ss.ExpiresAt.After(now) {
			live = append(live, ss)
		}
	}
	slices.SortFunc(live, func(a, b store.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return live
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
