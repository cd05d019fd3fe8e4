package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// Deny adds an entry or extends an existing one; an entry never shrinks, so
// a late, shorter Deny cannot re-admit tokens an earlier one refused.
func (s *Store) Deny(ctx context.Context, d store.Denied) error {
	if d.Until.IsZero() {
		return fmt.Errorf("deny session %s: until is required", d.SessionID)
	}
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO denylist (session_id, deny_until) VALUES (?, ?)
		ON CONFLICT (session_id) DO UPDATE SET deny_until =
			CASE WHEN excluded.deny_until > denylist.deny_until THEN excluded.deny_until ELSE denylist.deny_until END`),
		d.SessionID, s.timeArg(d.Until)); err != nil {
		return fmt.Errorf("deny session %s: %w", d.SessionID, err)
	}
	return nil
}

// LiveDenied returns every entry with Until after now.
func (s *Store) LiveDenied(ctx context.Context, now time.Time) ([]store.Denied, error) {
	rows, err := s.read.QueryContext(ctx, s.q(`SELECT session_id, deny_until FROM denylist WHERE deny_until > ?`), s.timeArg(now))
	if err != nil {
		return nil, fmt.Errorf("list denylist: %w", err)
	}
	defer rows.Close()
	out := []store.Denied{}
	for rows.Next() {
		var d store.Denied
		if err := rows.Scan(&d.SessionID, scanTime(&d.Until)); err != nil {
			return nil, fmt.Errorf("list denylist: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list denylist: %w", err)
	}
	return out, nil
}
