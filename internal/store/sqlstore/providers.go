package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/authbroker/authbroker/internal/store"
)

const providerCols = `name, type, display_name, button_order, enabled, client_id, client_secret, settings, version, updated_at, updated_by`

const metaProviderGeneration = "provider_generation"

func scanProviderConfig(r rowScanner) (store.ProviderConfig, error) {
	var (
		c        store.ProviderConfig
		settings string
	)
	err := r.Scan(&c.Name, &c.Type, &c.DisplayName, &c.Order, &c.Enabled, &c.ClientID, &c.ClientSecret, &settings,
		&c.Version, scanTime(&c.UpdatedAt), &c.UpdatedBy)
	c.Settings = []byte(settings)
	return c, err
}

// ListProviderConfigs returns every stored provider, by name.
func (s *Store) ListProviderConfigs(ctx context.Context) ([]store.ProviderConfig, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+providerCols+` FROM provider_configs ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list provider configs: %w", err)
	}
	defer rows.Close()
	out := []store.ProviderConfig{}
	for rows.Next() {
		c, err := scanProviderConfig(rows)
		if err != nil {
			return nil, fmt.Errorf("list provider configs: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list provider configs: %w", err)
	}
	return out, nil
}

// GetProviderConfig returns one stored provider or ErrNotFound.
func (s *Store) GetProviderConfig(ctx context.Context, name string) (store.ProviderConfig, error) {
	c, err := scanProviderConfig(s.read.QueryRowContext(ctx, s.q(`SELECT `+providerCols+` FROM provider_configs WHERE name = ?`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.ProviderConfig{}, fmt.Errorf("get provider config %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.ProviderConfig{}, fmt.Errorf("get provider config %s: %w", name, err)
	}
	return c, nil
}

// bumpGeneration increments the provider generation inside tx and
// returns the new value.
func (s *Store) bumpGeneration(ctx context.Context, tx *sql.Tx) (int64, error) {
	var v string
	err := tx.QueryRowContext(ctx, s.q(`INSERT INTO meta (key, value) VALUES (?, '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS bigint) + 1 AS text) RETURNING value`), metaProviderGeneration).Scan(&v)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// PutProviderConfig creates or replaces a stored provider with optimistic
// concurrency on its version, bumping the generation in the same
// transaction.
func (s *Store) PutProviderConfig(ctx context.Context, c store.ProviderConfig, prevVersion int64) (store.ProviderConfig, error) {
	settings := string(c.Settings)
	if settings == "" {
		settings = "{}"
	}
	if _, err := jsonArg([]byte(settings)); err != nil {
		return store.ProviderConfig{}, fmt.Errorf("put provider config %s: settings: %w", c.Name, err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var cur int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT version FROM provider_configs WHERE name = ?`+s.forUpdate()), c.Name).Scan(&cur)
		switch {
		case errors.Is(err, sql.ErrNoRows) && prevVersion != 0:
			return store.ErrNotFound
		case err == nil && cur != prevVersion:
			return store.ErrConflict
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if c.Version, err = s.bumpGeneration(ctx, tx); err != nil {
			return err
		}
		args := []any{c.Type, c.DisplayName, c.Order, c.Enabled, c.ClientID, c.ClientSecret, settings, c.Version, s.timeArg(c.UpdatedAt), c.UpdatedBy, c.Name}
		if prevVersion == 0 {
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO provider_configs (type, display_name, button_order, enabled, client_id,
				client_secret, settings, version, updated_at, updated_by, name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), args...)
			if isUniqueViolation(err) {
				return store.ErrConflict
			}
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE provider_configs SET type = ?, display_name = ?, button_order = ?, enabled = ?,
			client_id = ?, client_secret = ?, settings = ?, version = ?, updated_at = ?, updated_by = ? WHERE name = ?`), args...)
		return err
	})
	if err != nil {
		return store.ProviderConfig{}, fmt.Errorf("put provider config %s: %w", c.Name, err)
	}
	c.Settings = []byte(settings)
	c.UpdatedAt = dbTime(c.UpdatedAt)
	return c, nil
}

// DeleteProviderConfig deletes a stored provider and bumps the generation.
func (s *Store) DeleteProviderConfig(ctx context.Context, name string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM provider_configs WHERE name = ?`), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		_, err = s.bumpGeneration(ctx, tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete provider config %s: %w", name, err)
	}
	return nil
}

// ProviderGeneration is the generation counter (0 before the first change).
func (s *Store) ProviderGeneration(ctx context.Context) (int64, error) {
	v, err := s.GetMeta(ctx, metaProviderGeneration)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}
