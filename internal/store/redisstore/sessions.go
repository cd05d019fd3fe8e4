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
	// prev, sealed and rot (the previous hash, the sealed current token
	// and the time of the last rotation) are written by rotate.lua only.
)

// CreateSession writes the session hash with its first refresh hash, expiring
// at s.ExpiresAt, then adds it to the member's index.
//
// The session is written first so that an index entry always points to a
// session that exists or existed: ListSessions may then drop entries whose
// session is gone without racing a create in progress. If the index write
// fails the session is deleted again, so no live session is missing from
// the index that RevokeMemberSessions relies on.
func (s *Store) CreateSession(ctx context.Context, sess store.Session, refreshHash []byte) error {
	op := "create session " + sess.ID
	if len(refreshHash) == 0 {
		return fmt.Errorf("redis: %s: empty refresh hash", op)
	}
	sk := s.sessionKey(sess.ID)
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, sk)
		p.HSet(ctx, sk,
			fMember, sess.MemberID, fProvider, sess.Provider, fUA, sess.UserAgent, fIP, sess.IP,
			fCreated, ms(sess.CreatedAt), fUsed, ms(sess.LastUsedAt), fExp, ms(sess.ExpiresAt),
			fCur, refreshHash)
		p.PExpireAt(ctx, sk, sess.ExpiresAt)
		return nil
	})
	if err != nil {
		return wrap(op, err)
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

// RotateRefresh runs the refresh decision in one script call (one round
// trip, one hash slot). See store.Sessions for the rules. An empty r.IP
// keeps the stored IP: a rotation made for a revocation has no client.
func (s *Store) RotateRefresh(ctx context.Context, r store.Rotation) (store.Rotated, error) {
	op := "rotate refresh of session " + r.SessionID
	if len(r.Presented) == 0 || len(r.Next) == 0 {
		return store.Rotated{}, fmt.Errorf("redis: %s: empty token hash", op)
	}
	res, err := rotateScript.Run(ctx, s.c, []string{s.sessionKey(r.SessionID)},
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
		return store.Rotated{}, fmt.Errorf("redis: %s: unexpected script reply %v", op, res)
	}
	str := func(i int) string { v, _ := res[i].(string); return v }
	sess, err := decodeSession(r.SessionID, map[string]string{
		fMember: str(1), fProvider: str(2), fUA: str(3), fIP: str(4),
		fCreated: str(5), fUsed: str(6), fExp: str(7),
	})
	if err != nil {
		return store.Rotated{}, fmt.Errorf("redis: %s: %w", op, err)
	}
	out := store.Rotated{Session: sess, Graced: outcome == "graced"}
	if out.Graced {
		out.Sealed = []byte(str(8))
	}
	return out, nil
}

// GetSession returns a live session; Redis has already dropped expired ones.
func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	op := "get session " + id
	m, err := s.c.HGetAll(ctx, s.sessionKey(id)).Result()
	if err != nil {
		return store.Session{}, wrap(op, err)
	}
	if len(m) == 0 {
		return store.Session{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	sess, err := decodeSession(id, m)
	if err != nil {
		return store.Session{}, fmt.Errorf("redis: %s: %w", op, err)
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
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.sessionKey(id))
		}
		return nil
	}); err != nil {
		return nil, wrap(op, err)
	}
	var gone []any
	for i, cmd := range cmds {
		m := cmd.Val()
		if len(m) == 0 {
			gone = append(gone, ids[i])
			continue
		}
		sess, err := decodeSession(ids[i], m)
		if err != nil {
			return nil, fmt.Errorf("redis: %s: %w", op, err)
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

// takeSessions reads and deletes sessions in one pipeline (HGETALL then DEL
// per session; the sessions may live on different Cluster slots, so this
// cannot be one transaction). A session is returned only when this call's
// DEL removed it, so of concurrent revokers exactly one reports each session.
// With an error it still returns the sessions it is sure it deleted.
func (s *Store) takeSessions(ctx context.Context, ids []string) ([]store.Session, error) {
	gets := make([]*redis.MapStringStringCmd, len(ids))
	dels := make([]*redis.IntCmd, len(ids))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			k := s.sessionKey(id)
			gets[i] = p.HGetAll(ctx, k)
			dels[i] = p.Del(ctx, k)
		}
		return nil
	})
	out := make([]store.Session, 0, len(ids))
	for i, id := range ids {
		m := gets[i].Val()
		if gets[i].Err() != nil || dels[i].Err() != nil || dels[i].Val() != 1 || len(m) == 0 {
			continue
		}
		sess, derr := decodeSession(id, m)
		if derr != nil {
			err = cmp.Or(err, derr)
			continue
		}
		out = append(out, sess)
	}
	return out, err
}

// decodeSession builds a Session from the fields of its hash.
func decodeSession(id string, m map[string]string) (store.Session, error) {
	if m[fMember] == "" {
		return store.Session{}, errors.New("session record without member")
	}
	sess := store.Session{
		ID: id, MemberID: m[fMember], Provider: m[fProvider], UserAgent: m[fUA], IP: m[fIP],
	}
	var err error
	if sess.CreatedAt, err = fromMS(m[fCreated]); err != nil {
		return store.Session{}, fmt.Errorf("created: %w", err)
	}
	if sess.LastUsedAt, err = fromMS(m[fUsed]); err != nil {
		return store.Session{}, fmt.Errorf("last used: %w", err)
	}
	if sess.ExpiresAt, err = fromMS(m[fExp]); err != nil {
		return store.Session{}, fmt.Errorf("expires: %w", err)
	}
	return sess, nil
}
