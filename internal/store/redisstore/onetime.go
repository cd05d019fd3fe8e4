package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// PutState stores a login state under id for ttl.
func (s *Store) PutState(ctx context.Context, id string, st store.LoginState, ttl time.Duration) error {
	return s.put(ctx, "put state", s.stateKey(id), st, ttl)
}

// TakeState returns and deletes a login state in one GETDEL: of concurrent
// takes exactly one gets it, the others get store.ErrNotFound.
func (s *Store) TakeState(ctx context.Context, id string) (store.LoginState, error) {
	var st store.LoginState
	return st, s.take(ctx, "take state", s.stateKey(id), &st)
}

// PutCode stores a one-time code under id for ttl.
func (s *Store) PutCode(ctx context.Context, id string, c store.Code, ttl time.Duration) error {
	return s.put(ctx, "put code", s.codeKey(id), c, ttl)
}

// TakeCode returns and deletes a one-time code in one GETDEL: of concurrent
// redemptions exactly one gets it, the others get store.ErrNotFound.
func (s *Store) TakeCode(ctx context.Context, id string) (store.Code, error) {
	var c store.Code
	return c, s.take(ctx, "take code", s.codeKey(id), &c)
}

// PutLinkCode stores a link code under id for ttl.
func (s *Store) PutLinkCode(ctx context.Context, id string, c store.LinkCode, ttl time.Duration) error {
	return s.put(ctx, "put link code", s.linkCodeKey(id), c, ttl)
}

// TakeLinkCode returns and deletes a link code in one GETDEL.
func (s *Store) TakeLinkCode(ctx context.Context, id string) (store.LinkCode, error) {
	var c store.LinkCode
	return c, s.take(ctx, "take link code", s.linkCodeKey(id), &c)
}

// PutPendingLink parks a finished link flow under id for ttl.
func (s *Store) PutPendingLink(ctx context.Context, id string, p store.PendingLink, ttl time.Duration) error {
	return s.put(ctx, "put pending link", s.pendingKey(id), p, ttl)
}

// TakePendingLink returns and deletes a pending link in one GETDEL.
func (s *Store) TakePendingLink(ctx context.Context, id string) (store.PendingLink, error) {
	var p store.PendingLink
	return p, s.take(ctx, "take pending link", s.pendingKey(id), &p)
}

// put writes v as JSON with a millisecond TTL (SET … PX). A TTL that is not
// positive is refused: Redis would reject it, and storing a record that is
// already dead is a caller's mistake worth surfacing.
func (s *Store) put(ctx context.Context, op, key string, v any, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("redis: %s: ttl %v is not positive", op, ttl)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	// Redis keeps TTLs in milliseconds: round up so a record never dies early.
	ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
	if err := s.c.Set(ctx, key, b, ttl).Err(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// take is GETDEL and a JSON decode into v. GETDEL is atomic on the server,
// which is the whole single-use guarantee.
func (s *Store) take(ctx context.Context, op, key string, v any) error {
	b, err := s.c.GetDel(ctx, key).Bytes()
	if err != nil {
		return wrap(op, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("redis: %s: decode: %w", op, err)
	}
	return nil
}
