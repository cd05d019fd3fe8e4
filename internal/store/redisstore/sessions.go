package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authbroker/authbroker/internal/store"
)

// refreshSource is the refresh decision, kept in its own file for reading.
//
//go:embed refresh.lua
var refreshSource string

// refreshScript runs refreshSource. Run sends EVALSHA and falls back to EVAL
// only when the server has not cached the script yet (first use after a
// start or a SCRIPT FLUSH), so a refresh is one round trip.
var refreshScript = redis.NewScript(refreshSource)

// claimsScript replaces the claims of a session record, if it still
// exists, keeping its header, IP and TTL. ARGV[1]: the new claims part
// (u16 length + bytes).
var claimsScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local clen = struct.unpack('>I2', v, 44)
redis.call('SET', KEYS[1], string.sub(v, 1, 43) .. ARGV[1] .. string.sub(v, 46 + clen), 'KEEPTTL')
return 1`)

// Sessions is the Redis backend of store.Sessions: one record per session
// (see record.go), listed by member in a SQL index (store.SessionIndex).
//
// Why the index is in SQL: a per-member key in Redis (a sorted set of ids)
// costs ~150 bytes for the first session of a member, more than the session
// itself; in SQL the row is written once per login and read only by
// listing and revocation, never by a refresh. So a refresh is one Redis
// round trip and no SQL, and a live session costs one Redis key.
//
// Ordering makes the two agree: a session is indexed (in an open SQL
// transaction holding the member's admission lock) before its record is
// written, and the index commits only after the record is written; a
// session whose record is gone (revoked, expired, Redis lost its data) is a
// ghost row that listing and admission remove as they meet it.
type Sessions struct {
	s     *Store
	index store.SessionIndex
}

var _ store.Sessions = (*Sessions)(nil)

// Sessions returns the session store over this Redis, listing sessions in index.
func (s *Store) Sessions(index store.SessionIndex) *Sessions {
	return &Sessions{s: s, index: index}
}

// CreateSession indexes the session under the member's lock, applies the
// admission to the member's other sessions and writes the record.
func (ss *Sessions) CreateSession(ctx context.Context, sess store.Session, a store.Admission) ([]store.Session, error) {
	op := "create session " + sess.ID
	ttl := sess.ExpiresAt.Sub(sess.LastUsedAt)
	if sess.ID == "" || ttl <= 0 {
		return nil, fmt.Errorf("redis: %s: id and a future expiry are required", op)
	}
	val, err := encodeRecord(record{
		state:  store.RefreshState{RotatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt, WindowStart: sess.CreatedAt},
		used:   sess.LastUsedAt,
		member: sess.MemberID, claims: sess.Claims, ip: sess.IP,
	})
	if err != nil {
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	var (
		ended     []store.Session
		published bool
	)
	decide := func(ctx context.Context, indexed []store.Session) ([]string, error) {
		live, drop, err := ss.live(ctx, indexed)
		if err != nil {
			return nil, err
		}
		switch {
		case a == store.AdmitIfAlone && len(live) > 0:
			return nil, store.ErrSignedIn
		case a == store.AdmitAlone && len(live) > 0:
			gone, err := ss.take(ctx, ids(live))
			if err != nil {
				return nil, err
			}
			ended = gone
			drop = append(drop, ids(live)...)
		}
		return drop, nil
	}
	publish := func(ctx context.Context) error {
		// The TTL is relative to the caller's clock, like every time here:
		// the record lives as long as the session says, whatever Redis's
		// clock reads.
		ok, err := ss.s.c.SetNX(ctx, ss.s.sessionKey(sess.ID), val, ttl).Result()
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrConflict
		}
		published = true
		return nil
	}
	if err := ss.index.AdmitIndexed(ctx, sess, decide, publish); err != nil {
		if published {
			// The index did not commit after the record was written: the
			// token of this session is never handed out, remove its record.
			ss.s.c.Del(context.WithoutCancel(ctx), ss.s.sessionKey(sess.ID))
		}
		return nil, wrapOp(op, err)
	}
	return ended, nil
}

// Refresh runs the refresh decision in one script call (one round trip).
func (ss *Sessions) Refresh(ctx context.Context, r store.Refresh) (store.Refreshed, error) {
	op := "refresh session " + r.SessionID
	if r.Counter > maxCounter {
		return store.Refreshed{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	res, err := refreshScript.Run(ctx, ss.s.c, []string{ss.s.sessionKey(r.SessionID)},
		r.Counter, ms(r.Now), max(r.Grace.Milliseconds(), 0), packIP(r.IP), max(r.Limit, 0), max(r.Window.Milliseconds(), 0)).Slice()
	if err != nil {
		return store.Refreshed{}, wrap(op, err)
	}
	outcome, _ := res[0].(string)
	switch {
	case outcome == "reused" && len(res) == 1:
		return store.Refreshed{}, fmt.Errorf("%s: %w", op, store.ErrReused)
	case outcome == "limited" && len(res) == 2:
		wait, _ := res[1].(int64)
		return store.Refreshed{}, fmt.Errorf("%s: %w", op, &store.LimitError{RetryAfter: time.Duration(wait) * time.Millisecond})
	case (outcome == "rotated" || outcome == "replayed") && len(res) == 2:
	default:
		return store.Refreshed{}, fmt.Errorf("redis: %s: unexpected script reply (outcome %q, %d values)", op, outcome, len(res))
	}
	raw, _ := res[1].(string)
	rec, err := decodeRecord([]byte(raw))
	if err != nil {
		return store.Refreshed{}, fmt.Errorf("redis: %s: %w", op, err)
	}
	return store.Refreshed{Session: rec.session(r.SessionID), Counter: rec.state.Counter, Rotated: outcome == "rotated"}, nil
}

// GetSession returns a live session: its record, with the device from the index.
func (ss *Sessions) GetSession(ctx context.Context, id string) (store.Session, error) {
	op := "get session " + id
	raw, err := ss.s.c.Get(ctx, ss.s.sessionKey(id)).Bytes()
	if err != nil {
		return store.Session{}, wrap(op, err)
	}
	rec, err := decodeRecord(raw)
	if err != nil {
		return store.Session{}, fmt.Errorf("redis: %s: %w", op, err)
	}
	if !ss.s.now().Before(rec.state.ExpiresAt) {
		return store.Session{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	sess := rec.session(id)
	dev, err := ss.index.IndexedSession(ctx, id)
	switch {
	case err == nil:
		sess = withDevice(sess, dev)
	case !errors.Is(err, store.ErrNotFound):
		return store.Session{}, wrapOp(op, err)
	}
	return sess, nil
}

// ListSessions lists the member's indexed sessions whose record is live,
// newest first; rows whose record is gone are removed from the index.
func (ss *Sessions) ListSessions(ctx context.Context, memberID string) ([]store.Session, error) {
	op := "list sessions of member " + memberID
	indexed, err := ss.index.IndexedSessions(ctx, memberID)
	if err != nil {
		return nil, wrapOp(op, err)
	}
	live, ghosts, err := ss.live(ctx, indexed)
	if err != nil {
		return nil, wrap(op, err)
	}
	if len(ghosts) > 0 {
		// Housekeeping only: the next listing finds them again.
		_ = ss.index.Unindex(ctx, ghosts...)
	}
	return live, nil
}

// RevokeSession deletes a session's record and its index row. The session
// has ended once the record is gone; a failure to unindex leaves a ghost row
// that listing removes later.
func (ss *Sessions) RevokeSession(ctx context.Context, id string) (store.Session, error) {
	op := "revoke session " + id
	gone, err := ss.take(ctx, []string{id})
	if err != nil {
		return store.Session{}, wrap(op, err)
	}
	_ = ss.index.Unindex(ctx, id)
	if len(gone) == 0 {
		return store.Session{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return gone[0], nil
}

// RevokeMemberSessions deletes every indexed session of the member except
// keep and returns those whose record this call deleted.
func (ss *Sessions) RevokeMemberSessions(ctx context.Context, memberID, keep string) ([]store.Session, error) {
	op := "revoke sessions of member " + memberID
	indexed, err := ss.index.IndexedSessions(ctx, memberID)
	if err != nil {
		return nil, wrapOp(op, err)
	}
	var targets []string
	for _, s := range indexed {
		if s.ID != keep {
			targets = append(targets, s.ID)
		}
	}
	if len(targets) == 0 {
		return []store.Session{}, nil
	}
	gone, err := ss.take(ctx, targets)
	if err != nil {
		// Some records may be gone: the caller still denies those.
		return gone, wrap(op, err)
	}
	_ = ss.index.Unindex(ctx, targets...)
	return gone, nil
}

// UpdateSessionClaims rewrites the claims of each of the member's records.
func (ss *Sessions) UpdateSessionClaims(ctx context.Context, memberID string, c store.Claims) error {
	op := "update session claims of member " + memberID
	claims, err := encodeClaims(memberID, c)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	part := append([]byte{byte(len(claims) >> 8), byte(len(claims))}, claims...)
	indexed, err := ss.index.IndexedSessions(ctx, memberID)
	if err != nil {
		return wrapOp(op, err)
	}
	_, err = ss.s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range indexed {
			// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT,
			// and claims change rarely.
			claimsScript.Eval(ctx, p, []string{ss.s.sessionKey(s.ID)}, part)
		}
		return nil
	})
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// live reads the records of indexed sessions in one pipeline and returns
// the live sessions (index data with their records) and the ids whose
// record is gone.
func (ss *Sessions) live(ctx context.Context, indexed []store.Session) (live []store.Session, gone []string, err error) {
	live = []store.Session{}
	if len(indexed) == 0 {
		return live, nil, nil
	}
	cmds := make([]*redis.StringCmd, len(indexed))
	if _, err := ss.s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range indexed {
			cmds[i] = p.Get(ctx, ss.s.sessionKey(s.ID))
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, err
	}
	now := ss.s.now()
	for i, cmd := range cmds {
		raw, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			gone = append(gone, indexed[i].ID)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		rec, err := decodeRecord(raw)
		if err != nil {
			return nil, nil, err
		}
		if !now.Before(rec.state.ExpiresAt) {
			continue
		}
		live = append(live, withDevice(rec.session(indexed[i].ID), indexed[i]))
	}
	return live, gone, nil
}

// take deletes records in one pipeline (GETDEL each; the records may live
// on different Cluster slots, so this cannot be one transaction) and
// returns the sessions whose record this call deleted, so that of
// concurrent revokers exactly one reports each session. With an error it
// still returns the sessions it is sure it deleted.
func (ss *Sessions) take(ctx context.Context, ids []string) ([]store.Session, error) {
	cmds := make([]*redis.StringCmd, len(ids))
	_, err := ss.s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.GetDel(ctx, ss.s.sessionKey(id))
		}
		return nil
	})
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	out := make([]store.Session, 0, len(ids))
	now := ss.s.now()
	for i, cmd := range cmds {
		raw, cerr := cmd.Bytes()
		if cerr != nil {
			continue
		}
		rec, derr := decodeRecord(raw)
		if derr != nil {
			err = errors.Join(err, derr)
			continue
		}
		if now.Before(rec.state.ExpiresAt) {
			out = append(out, rec.session(ids[i]))
		}
	}
	return out, err
}

// session is the Session a record describes (without the device).
func (r record) session(id string) store.Session {
	return store.Session{ID: id, MemberID: r.member, IP: r.ip, LastUsedAt: r.used, ExpiresAt: r.state.ExpiresAt, Claims: r.claims}
}

// withDevice completes s with what the index keeps. The IP is the record's
// (the latest); the index's (the first) fills in only when the record has none.
func withDevice(s, dev store.Session) store.Session {
	s.Provider, s.UserAgent, s.CreatedAt = dev.Provider, dev.UserAgent, dev.CreatedAt
	if s.IP == "" {
		s.IP = dev.IP
	}
	return s
}

func ids(ss []store.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

// wrapOp wraps an error that may come from the SQL index or from Redis.
func wrapOp(op string, err error) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrSignedIn) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return wrap(op, err)
}
