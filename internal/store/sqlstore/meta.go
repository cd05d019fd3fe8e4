package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// GetMeta returns the value under key or ErrNotFound.
func (s *Store) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.read.QueryRowContext(ctx, s.q(`SELECT value FROM meta WHERE key = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("meta %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("meta %s: %w", key, err)
	}
	return v, nil
}

// PutMeta sets key to value.
func (s *Store) PutMeta(ctx context.Context, key, value string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`), key, value); err != nil {
		return fmt.Errorf("put meta %s: %w", key, err)
	}
	return nil
}

// Heartbeat records replica id as seen at now, forgets the replicas not
// seen within ttl, and counts the rest, in one transaction.
func (s *Store) Heartbeat(ctx context.Context, id string, now time.Time, ttl time.Duration) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO replicas (id, seen_at) VALUES (?, ?)
			ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`), id, s.timeArg(now)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM replicas WHERE seen_at <= ?`), s.timeArg(now.Add(-ttl))); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM replicas`).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("heartbeat of replica %s: %w", id, err)
	}
	return max(n, 1), nil
}
