package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// Login states and one-time codes share one shape: an id (hashed by the
// caller), a JSON document and an expiry, taken exactly once.

// PutState stores st under id until ttl elapses.
func (s *Store) PutState(ctx context.Context, id string, st store.LoginState, ttl time.Duration) error {
	if err := s.putOnce(ctx, "login_states", id, st, ttl); err != nil {
		return fmt.Errorf("put state: %w", err)
	}
	return nil
}

// TakeState returns and deletes the state in one statement: of concurrent
// calls exactly one gets the row; the rest, and calls after expiry, get
// ErrNotFound.
func (s *Store) TakeState(ctx context.Context, id string) (store.LoginState, error) {
	var st store.LoginState
	if err := s.takeOnce(ctx, "login_states", id, &st); err != nil {
		return store.LoginState{}, fmt.Errorf("take state: %w", err)
	}
	return st, nil
}

// PutCode stores c under id until ttl elapses.
func (s *Store) PutCode(ctx context.Context, id string, c store.Code, ttl time.Duration) error {
	if err := s.putOnce(ctx, "one_time_codes", id, c, ttl); err != nil {
		return fmt.Errorf("put code: %w", err)
	}
	return nil
}

// TakeCode returns and deletes the code atomically (see TakeState).
func (s *Store) TakeCode(ctx context.Context, id string) (store.Code, error) {
	var c store.Code
	if err := s.takeOnce(ctx, "one_time_codes", id, &c); err != nil {
		return store.Code{}, fmt.Errorf("take code: %w", err)
	}
	return c, nil
}

// One-time records of other kinds share the table under a prefix of their
// own, so no id of one kind can take a record of another.
const (
	linkCodeKey    = "link:"
	pendingLinkKey = "pending:"
)

// PutLinkCode stores a link code (see store.Codes).
func (s *Store) PutLinkCode(ctx context.Context, id string, c store.LinkCode, ttl time.Duration) error {
	if err := s.putOnce(ctx, "one_time_codes", linkCodeKey+id, c, ttl); err != nil {
		return fmt.Errorf("put link code: %w", err)
	}
	return nil
}

// TakeLinkCode returns and deletes a link code atomically.
func (s *Store) TakeLinkCode(ctx context.Context, id string) (store.LinkCode, error) {
	var c store.LinkCode
	if err := s.takeOnce(ctx, "one_time_codes", linkCodeKey+id, &c); err != nil {
		return store.LinkCode{}, fmt.Errorf("take link code: %w", err)
	}
	return c, nil
}

// PutPendingLink parks a finished link flow (see store.Codes).
func (s *Store) PutPendingLink(ctx context.Context, id string, p store.PendingLink, ttl time.Duration) error {
	if err := s.putOnce(ctx, "one_time_codes", pendingLinkKey+id, p, ttl); err != nil {
		return fmt.Errorf("put pending link: %w", err)
	}
	return nil
}

// TakePendingLink returns and deletes a pending link atomically.
func (s *Store) TakePendingLink(ctx context.Context, id string) (store.PendingLink, error) {
	var p store.PendingLink
	if err := s.takeOnce(ctx, "one_time_codes", pendingLinkKey+id, &p); err != nil {
		return store.PendingLink{}, fmt.Errorf("take pending link: %w", err)
	}
	return p, nil
}

// putOnce upserts v as JSON into table (a constant of this file). A put
// over an existing id replaces it, as SET does on Redis.
func (s *Store) putOnce(ctx context.Context, table, id string, v any, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("ttl %s is not positive", ttl)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO `+table+` (id, data, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at`),
		id, string(data), s.timeArg(s.now().Add(ttl)))
	return err
}

// takeOnce deletes the row of id and decodes it into dst. DELETE …
// RETURNING is one atomic statement on both backends: two callers cannot
// both see the row. An expired row is deleted too, and reported absent.
func (s *Store) takeOnce(ctx context.Context, table, id string, dst any) error {
	var (
		data    string
		expires time.Time
	)
	err := s.db.QueryRowContext(ctx, s.q(`DELETE FROM `+table+` WHERE id = ? RETURNING data, expires_at`), id).
		Scan(&data, scanTime(&expires))
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	if !expires.After(s.now()) {
		return store.ErrNotFound
	}
	return json.Unmarshal([]byte(data), dst)
}
