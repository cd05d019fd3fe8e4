package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

const providerTokenCols = `provider, subject, member_id, sealed, has_refresh, expires_at, scopes, reauth_needed, version, lease_until, updated_at`

func scanProviderToken(r rowScanner) (store.ProviderToken, error) {
	var (
		t      store.ProviderToken
		scopes string
	)
	err := r.Scan(&t.Provider, &t.Subject, &t.MemberID, &t.Sealed, &t.HasRefresh, scanTime(&t.Expiry), &scopes,
		&t.ReauthNeeded, &t.Version, scanTime(&t.LeaseUntil), scanTime(&t.UpdatedAt))
	t.Scopes = strings.Fields(scopes)
	return t, err
}

// PutProviderToken stores a sign-in's grant for a linked identity,
// replacing any held, in one statement: the identity row is the condition
// (nothing is stored for an identity that is not linked to the member).
func (s *Store) PutProviderToken(ctx context.Context, t store.ProviderToken) (store.ProviderToken, error) {
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = s.now()
	}
	row := s.db.QueryRowContext(ctx, s.q(`INSERT INTO provider_tokens (`+providerTokenCols+`)
		SELECT provider, subject, member_id, ?, ?, ?, ?, ?, 1, NULL, ? FROM identities
		WHERE provider = ? AND subject = ? AND member_id = ?
		ON CONFLICT (provider, subject) DO UPDATE SET member_id = excluded.member_id, sealed = excluded.sealed,
			has_refresh = excluded.has_refresh, expires_at = excluded.expires_at, scopes = excluded.scopes,
			reauth_needed = excluded.reauth_needed, version = provider_tokens.version + 1, lease_until = NULL,
			updated_at = excluded.updated_at
		RETURNING `+providerTokenCols),
		t.Sealed, t.HasRefresh, s.timeArg(t.Expiry), strings.Join(t.Scopes, " "), t.ReauthNeeded, s.timeArg(t.UpdatedAt),
		t.Provider, t.Subject, t.MemberID)
	out, err := scanProviderToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ProviderToken{}, fmt.Errorf("put provider token %s: identity not linked: %w", t.Provider, store.ErrNotFound)
	}
	if err != nil {
		return store.ProviderToken{}, fmt.Errorf("put provider token %s: %w", t.Provider, err)
	}
	return out, nil
}

// GetProviderToken returns an identity's grant or ErrNotFound.
func (s *Store) GetProviderToken(ctx context.Context, provider, subject string) (store.ProviderToken, error) {
	t, err := scanProviderToken(s.read.QueryRowContext(ctx, s.q(`SELECT `+providerTokenCols+` FROM provider_tokens
		WHERE provider = ? AND subject = ?`), provider, subject))
	if errors.Is(err, sql.ErrNoRows) {
		return store.ProviderToken{}, fmt.Errorf("get provider token %s: %w", provider, store.ErrNotFound)
	}
	if err != nil {
		return store.ProviderToken{}, fmt.Errorf("get provider token %s: %w", provider, err)
	}
	return t, nil
}

// ListProviderTokens returns a member's grants, by provider and subject.
func (s *Store) ListProviderTokens(ctx context.Context, memberID string) ([]store.ProviderToken, error) {
	rows, err := s.read.QueryContext(ctx, s.q(`SELECT `+providerTokenCols+` FROM provider_tokens
		WHERE member_id = ? ORDER BY provider, subject`), memberID)
	if err != nil {
		return nil, fmt.Errorf("list provider tokens: %w", err)
	}
	defer rows.Close()
	out := []store.ProviderToken{}
	for rows.Next() {
		t, err := scanProviderToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list provider tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list provider tokens: %w", err)
	}
	return out, nil
}

// PageProviderTokens reads the next page of every grant in key order.
func (s *Store) PageProviderTokens(ctx context.Context, afterProvider, afterSubject string, limit int) ([]store.ProviderToken, error) {
	rows, err := s.read.QueryContext(ctx, s.q(`SELECT `+providerTokenCols+` FROM provider_tokens
		WHERE provider > ? OR (provider = ? AND subject > ?) ORDER BY provider, subject LIMIT ?`), afterProvider, afterProvider, afterSubject, limit)
	if err != nil {
		return nil, fmt.Errorf("page provider tokens: %w", err)
	}
	defer rows.Close()
	out := []store.ProviderToken{}
	for rows.Next() {
		t, err := scanProviderToken(rows)
		if err != nil {
			return nil, fmt.Errorf("page provider tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("page provider tokens: %w", err)
	}
	return out, nil
}

// LeaseProviderToken is one conditional UPDATE: of any number of replicas
// asking at once, exactly one sees a row changed.
func (s *Store) LeaseProviderToken(ctx context.Context, provider, subject string, version int64, now, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE provider_tokens SET lease_until = ?
		WHERE provider = ? AND subject = ? AND version = ? AND (lease_until IS NULL OR lease_until <= ?)`),
		s.timeArg(until), provider, subject, version, s.timeArg(now))
	if err != nil {
		return false, fmt.Errorf("lease provider token %s: %w", provider, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("lease provider token %s: %w", provider, err)
	}
	return n == 1, nil
}

// UpdateProviderToken replaces the record at prevVersion and drops the lease.
func (s *Store) UpdateProviderToken(ctx context.Context, t store.ProviderToken, prevVersion int64) (store.ProviderToken, error) {
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = s.now()
	}
	row := s.db.QueryRowContext(ctx, s.q(`UPDATE provider_tokens SET sealed = ?, has_refresh = ?, expires_at = ?, scopes = ?,
		reauth_needed = ?, version = version + 1, lease_until = NULL, updated_at = ?
		WHERE provider = ? AND subject = ? AND version = ? RETURNING `+providerTokenCols),
		t.Sealed, t.HasRefresh, s.timeArg(t.Expiry), strings.Join(t.Scopes, " "), t.ReauthNeeded, s.timeArg(t.UpdatedAt),
		t.Provider, t.Subject, prevVersion)
	out, err := scanProviderToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		if _, gerr := s.GetProviderToken(ctx, t.Provider, t.Subject); errors.Is(gerr, store.ErrNotFound) {
			return store.ProviderToken{}, fmt.Errorf("update provider token %s: %w", t.Provider, store.ErrNotFound)
		}
		return store.ProviderToken{}, fmt.Errorf("update provider token %s: %w", t.Provider, store.ErrConflict)
	}
	if err != nil {
		return store.ProviderToken{}, fmt.Errorf("update provider token %s: %w", t.Provider, err)
	}
	return out, nil
}

// ReleaseProviderToken drops the lease of the record at version.
func (s *Store) ReleaseProviderToken(ctx context.Context, provider, subject string, version int64) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE provider_tokens SET lease_until = NULL
		WHERE provider = ? AND subject = ? AND version = ?`), provider, subject, version)
	if err != nil {
		return fmt.Errorf("release provider token %s: %w", provider, err)
	}
	return nil
}

// DeleteProviderToken forgets an identity's grant.
func (s *Store) DeleteProviderToken(ctx context.Context, provider, subject string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM provider_tokens WHERE provider = ? AND subject = ?`), provider, subject)
	if err != nil {
		return fmt.Errorf("delete provider token %s: %w", provider, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete provider token %s: %w", provider, store.ErrNotFound)
	}
	return nil
}
