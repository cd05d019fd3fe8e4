package redisstore

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/authbroker/authbroker/internal/store"
)

// rotateSource is the refresh decision, kept in its own file for reading.
//
//go:embed rotate.lua
var rotateSource string

// rotateScript runs rotateSource. Run sends EVALSHA and falls back to EVAL
// only when the server has not cached the script yet (first use after a
// start or a SCRIPT FLUSH), so a refresh is one round trip.
var rotateScript = redis.NewScript(rotateSource)

// Session hash fields.
const (
	fMember   = "member"
	fProvider = "provider"
	fUA       = "ua"
	fIP       = "ip"
	fCreated  = "created"
	fUsed     = "used"
	fExp      = "exp"
	fCur      = "cur" // hash of the current refresh token
	// prev, sealed, rot and n (the previous hash, the sealed current token,
	// the time of the last rotation and the number of entries written to
	// the retired-hash ring) are written by rotate.lua only, as is the ring
	// itself, the session's history key.
)

// sessionFields are the fields a Session is decoded from, in the order
// decodeSession takes them. Reads ask for these alone, and never for the
// history key (up to 8 KiB of retired-hash prefixes): the refresh state
// stays in Redis.
var sessionFields = []string{fMember, fProvider, fUA, fIP, fCreated, fUsed, fExp}

// createScript writes a new session hash (and clears any stale history
// ring) unless the id is taken: one round trip, both keys in the session's
// slot. ARGV: expiry (ms), then field/value pairs.
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1`)

// CreateSession writes the session hash with its first refresh hash, expiring
// at s.ExpiresAt, then adds it to the member's index. It deletes any history
// key left under the same id; the first rotation creates the history key
// with the session's expiry (rotate.lua).
//
// The session is written first so that an index entry always points to a
// session that exists or existed: ListSessions may then drop entries whose
// session is gone without racing a create in progress. If the index write
// fails the session is deleted again, so no live session is missing from
// the index that RevokeMemberSessions relies on.
func (s *Store) CreateSession(ctx context.Context, sess store.Session, refreshHash []byte) error {
	op := "create session " + sess.ID
	if len(refreshHash) < store.MinHashLen {
		return fmt.Errorf("redis: %s: refresh hash shorter than %d bytes", op, store.MinHashLen)
	}
	sk := s.sessionKey(sess.ID)
	created, err := createScript.Run(ctx, s.c, []string{sk, s.historyKey(sess.ID)}, ms(sess.ExpiresAt),
		fMember, sess.MemberID, fProvider, sess.Provider, fUA, sess.UserAgent, fIP, sess.IP,
		fCreated, ms(sess.CreatedAt), fUsed, ms(sess.LastUsedAt), fExp, ms(sess.ExpiresAt),
		fCur, refreshHash).Int()
	if err != nil {
		return wrap(op, err)
	}
	if created == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrConflict)
	}

	// The index lives as long as the member's longest session: NX sets the
	// first expiry, GT only ever extends it.
	mk, exp := s.memberKey(sess.MemberID), ms(sess.ExpiresAt)
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, mk, redis.Z{Score: float64(ms(sess.CreatedAt)), Member: sess.ID})
		p.Do(ctx, "pexpireat", mk, exp, "nx")
		p.Do(ctx, "pexpireat", mk, exp, "gt")
		return nil
	})
	if err != nil {
		// Best effort: the session's refresh token is never handed out, and
		// the key expires anyway if this delete fails too.
		s.c.Del(context.WithoutCancel(ctx), sk)
		return wrap(op+": index", err)
	}
	return nil
}

// RotateRefresh runs the refresh decision in one script call on the session
// hash and its history key (one round trip, one hash slot). See
// store.Sessions for the rules. An empty r.IP keeps the stored IP: a
// rotation made for a revocation has no client.
func (s *Store) RotateRefresh(ctx context.Context, r store.Rotation) (store.Rotated, error) {
	op := "rotate refresh of session " + r.SessionID
	if len(r.Presented) == 0 || len(r.Next) < store.MinHashLen {
		return store.Rotated{}, fmt.Errorf("redis: %s: empty presented hash or next hash shorter than %d bytes", op, store.MinHashLen)
	}
	res, err := rotateScript.Run(ctx, s.c, []string{s.sessionKey(r.SessionID), s.historyKey(r.SessionID)},
		r.Presented, r.Next, r.Sealed, ms(r.Now), max(r.Grace.Milliseconds(), 0), r.IP).Slice()
	if err != nil {
		return store.Rotated{}, wrap(op, err)
	}
	outcome, _ := res[0].(string)
	switch {
	case outcome == "reused" && len(res) == 1:
		return store.Rotated{}, fmt.Errorf("%s: %w", op, store.ErrReused)
	case (outcome == "rotated" || outcome == "graced") && len(res) == 9:
	default:
		// Only the shape: the reply holds session data and a sealed token.
		return store.Rotated{}, fmt.Errorf("redis: %s: unexpected script reply (outcome %q, %d values)", op, outcome, len(res))
	}
	sess, ok, err := decodeSession(r.SessionID, res[1:8])
	if err == nil && !ok {
		err = errors.New("session record without member")
	}
	if err != nil {
		return store.Rotated{}, fmt.Errorf("redis: %s: %w", op, err)
	}
	out := store.Rotated{Session: sess, Graced: outcome == "graced"}
	if out.Graced {
		sealed, _ := res[8].(string)
		out.Sealed = []byte(sealed)
	}
	return out, nil
}

// GetSession returns a live session; Redis has already dropped expired ones.
func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	op := "get session " + id
	v, err := s.c.HMGet(ctx, s.sessionKey(id), sessionFields...).Result()
	if err != nil {
		return store.Session{}, wrap(op, err)
	}
	sess, ok, err := decodeSession(id, v)
	if err != nil {
		return store.Session{}, fmt.Errorf("redis: %s: %w", op, err)
	}
	if !ok {
		return store.Session{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return sess, nil
}

// ListSessions reads the member's index newest first, then every session
// hash in one pipeline. Entries whose session has expired or was revoked
// are skipped and removed from the index.
func (s *Store) ListSessions(ctx context.Context, memberID string) ([]store.Session, error) {
	op := "list sessions of member " + memberID
	mk := s.memberKey(memberID)
	ids, err := s.c.ZRevRange(ctx, mk, 0, -1).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]store.Session, 0, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.sessionKey(id), sessionFields...)
		}
		return nil
	}); err != nil {
		return nil, wrap(op, err)
	}
	var gone []any
	for i, cmd := range cmds {
		sess, ok, err := decodeSession(ids[i], cmd.Val())
		if err != nil {
			return nil, fmt.Errorf("redis: %s: %w", op, err)
		}
		if !ok {
			gone = append(gone, ids[i])
			continue
		}
		out = append(out, sess)
	}
	if len(gone) > 0 {
		// Housekeeping only: a failure leaves entries the next list skips again.
		s.c.ZRem(ctx, mk, gone...)
	}
	return out, nil
}

// RevokeSession deletes a session and returns it.
func (s *Store) RevokeSession(ctx context.Context, id string) (store.Session, error) {
	op := "revoke session " + id
	gone, err := s.takeSessions(ctx, []string{id})
	if len(gone) == 0 && err != nil {
		return store.Session{}, wrap(op, err)
	}
	if len(gone) == 0 {
		return store.Session{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	sess := gone[0]
	// The session is gone whatever happens here: a stale index entry left by
	// a failed ZREM is skipped and removed by the next ListSessions.
	s.c.ZRem(ctx, s.memberKey(sess.MemberID), id)
	return sess, nil
}

// RevokeMemberSessions deletes every session in the member's index except
// keep and returns the ones this call deleted. On Redis Cluster part of the
// sessions may be deleted when a node fails: the error then comes with the
// sessions that were deleted, so a caller can still deny their tokens.
func (s *Store) RevokeMemberSessions(ctx context.Context, memberID, keep string) ([]store.Session, error) {
	op := "revoke sessions of member " + memberID
	mk := s.memberKey(memberID)
	ids, err := s.c.ZRevRange(ctx, mk, 0, -1).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == keep })
	if len(ids) == 0 {
		return []store.Session{}, nil
	}
	gone, err := s.takeSessions(ctx, ids)
	if err != nil {
		return gone, wrap(op, err)
	}
	// Every listed session is now gone, deleted here or before; as in
	// RevokeSession a failed ZREM only leaves entries ListSessions skips.
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	s.c.ZRem(ctx, mk, members...)
	return gone, nil
}

// takeSessions reads and deletes sessions in one pipeline (HMGET, DEL of
// the hash, DEL of the history key per session; the sessions may live on
// different Cluster slots, so this cannot be one transaction). A session is
// returned only when this call's DEL removed its hash, so of concurrent
// revokers exactly one reports each session. The history key has a DEL of
// its own so that its count cannot blur that test. With an error it still
// returns the sessions it is sure it deleted.
func (s *Store) takeSessions(ctx context.Context, ids []string) ([]store.Session, error) {
	gets := make([]*redis.SliceCmd, len(ids))
	dels := make([]*redis.IntCmd, len(ids))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			k := s.sessionKey(id)
			gets[i] = p.HMGet(ctx, k, sessionFields...)
			dels[i] = p.Del(ctx, k)
			p.Del(ctx, s.historyKey(id))
		}
		return nil
	})
	out := make([]store.Session, 0, len(ids))
	for i, id := range ids {
		if gets[i].Err() != nil || dels[i].Err() != nil || dels[i].Val() != 1 {
			continue
		}
		sess, ok, derr := decodeSession(id, gets[i].Val())
		if derr != nil {
			err = cmp.Or(err, derr)
			continue
		}
		if ok {
			out = append(out, sess)
		}
	}
	return out, err
}

// decodeSession builds a Session from the values of sessionFields, as
// HMGET or rotate.lua return them; ok is false when the session does not
// exist (HMGET answers nil for every field of a missing key).
func decodeSession(id string, v []any) (sess store.Session, ok bool, err error) {
	if len(v) != len(sessionFields) {
		return store.Session{}, false, fmt.Errorf("%d session fields, want %d", len(v), len(sessionFields))
	}
	str := make([]string, len(v))
	for i, x := range v {
		str[i], _ = x.(string)
	}
	if v[0] == nil {
		return store.Session{}, false, nil
	}
	if str[0] == "" {
		return store.Session{}, false, errors.New("session record without member")
	}
	sess = store.Session{ID: id, MemberID: str[0], Provider: str[1], UserAgent: str[2], IP: str[3]}
	if sess.CreatedAt, err = fromMS(str[4]); err != nil {
		return store.Session{}, false, fmt.Errorf("created: %w", err)
	}
	if sess.LastUsedAt, err = fromMS(str[5]); err != nil {
		return store.Session{}, false, fmt.Errorf("last used: %w", err)
	}
	if sess.ExpiresAt, err = fromMS(str[6]); err != nil {
		return store.Session{}, false, fmt.Errorf("expires: %w", err)
	}
	return sess, true, nil
}
