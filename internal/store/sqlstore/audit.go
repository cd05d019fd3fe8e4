package sqlstore

import (
	"context"
	"fmt"

	"github.com/authbroker/authbroker/internal/store"
)

// Paging bounds of ListAudit.
const (
	defaultAuditPage = 50
	maxAuditPage     = 500
)

// AppendAudit records one admin action. The id is assigned by the
// database; a zero At means now.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	detail, err := jsonArg(e.Detail)
	if err != nil {
		return fmt.Errorf("append audit %s: detail: %w", e.Action, err)
	}
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO audit_log (at, actor_id, action, target_id, ip, detail)
		VALUES (?, ?, ?, ?, ?, ?)`),
		s.timeArg(e.At), e.ActorID, e.Action, e.TargetID, e.IP, detail); err != nil {
		return fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return nil
}

// ListAudit returns entries newest first, at most limit (50 when limit is
// not positive, never more than 500), with id < before when before > 0.
func (s *Store) ListAudit(ctx context.Context, before int64, limit int) ([]store.AuditEntry, error) {
	if limit <= 0 {
		limit = defaultAuditPage
	}
	limit = min(limit, maxAuditPage)
	query := `SELECT id, at, actor_id, action, target_id, ip, detail FROM audit_log`
	args := []any{}
	if before > 0 {
		query += ` WHERE id < ?`
		args = append(args, before)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.read.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	out := []store.AuditEntry{}
	for rows.Next() {
		var (
			e      store.AuditEntry
			detail []byte
		)
		if err := rows.Scan(&e.ID, scanTime(&e.At), &e.ActorID, &e.Action, &e.TargetID, &e.IP, &detail); err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		if len(detail) > 0 {
			e.Detail = detail
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}
