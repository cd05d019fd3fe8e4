// Package redisstore keeps the short-lived records of authbroker in Redis
// (BRIEF §5): login states, one-time codes, sessions with their refresh
// rotation, and the access-token denylist. It implements store.States,
// store.Codes, store.Sessions, store.Denylist, store.DenyWatcher and
// store.Pinger, and passes the storetest conformance suite.
//
// It works on a single server, behind Sentinel and on Redis Cluster (see
// Connect). Both keys of one session share the hash tag {session id}, so a
// refresh is one script on one slot; a member's session index lives in
// another slot and is kept outside that script.
//
// Layout, under the prefix given to New:
//
//	st:<id>               login state, JSON, expires with its TTL
//	code:<id>             one-time code, JSON, expires with its TTL
//	s:{<sid>}             session hash, expires at the session's ExpiresAt
//	s:{<sid>}:h           string, ring of the session's retired refresh hashes
//	                      (1024 slots of 8-byte prefixes, at most 8 KiB), created
//	                      by the first rotation, expires with the session hash
//	m:{<member>}:sessions sorted set of the member's session ids, score = created (unix ms)
//	denylist              sorted set of denied session ids, score = until (unix ms)
//
// and the pub/sub channel <prefix>denylist carries each new denylist entry
// as JSON to every replica.
//
// Times are kept in milliseconds. Redis 7.0 or later is required (GETDEL,
// ZADD GT, PEXPIREAT NX/GT, PEXPIRETIME).
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authbroker/authbroker/internal/store"
)

// Store is the Redis backend of the short-lived stores. It is safe for
// concurrent use; it holds no state of its own beyond the client and prefix.
type Store struct {
	c      redis.UniversalClient
	prefix string
}

var (
	_ store.States      = (*Store)(nil)
	_ store.Codes       = (*Store)(nil)
	_ store.Sessions    = (*Store)(nil)
	_ store.Denylist    = (*Store)(nil)
	_ store.DenyWatcher = (*Store)(nil)
	_ store.Pinger      = (*Store)(nil)
)

// New returns a Store that keeps its keys under prefix (for example "ab:"),
// so several deployments or test runs can share one Redis. New does not
// contact the server. The prefix must not contain '{' or '}': Redis Cluster
// hashes only the first {…} of a key, and a brace in the prefix would put
// every key in one slot and break the per-session hash tags; such a prefix
// is a programming error and panics.
func New(c redis.UniversalClient, prefix string) *Store {
	if strings.ContainsAny(prefix, "{}") {
		panic("redisstore: key prefix must not contain '{' or '}'")
	}
	return &Store{c: c, prefix: prefix}
}

// Ping reports whether Redis answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Keys. The session and member keys carry hash tags (see the package comment).
func (s *Store) stateKey(id string) string      { return s.prefix + "st:" + id }
func (s *Store) codeKey(id string) string       { return s.prefix + "code:" + id }
func (s *Store) sessionKey(sid string) string   { return s.prefix + "s:{" + sid + "}" }
func (s *Store) historyKey(sid string) string   { return s.sessionKey(sid) + ":h" }
func (s *Store) memberKey(member string) string { return s.prefix + "m:{" + member + "}:sessions" }
func (s *Store) denyKey() string                { return s.prefix + "denylist" }

// wrap turns a client error into the store's vocabulary: redis.Nil (no such
// key, or a script's nil answer) becomes store.ErrNotFound; anything else is
// a failure of Redis itself (connection, timeout, server error), wrapped
// with what was being done so the service can log it and answer 503.
func wrap(op string, err error) error {
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("redis: %s: %w", op, err)
}

// ms is t as unix milliseconds, the unit of every time kept in Redis.
func ms(t time.Time) int64 { return t.UnixMilli() }

// msCeil is t as unix milliseconds rounded up, for deadlines that must not
// end early (a denylist entry must last at least until its Until).
func msCeil(t time.Time) int64 {
	m := t.UnixMilli()
	if time.UnixMilli(m).Before(t) {
		m++
	}
	return m
}

// fromMS parses unix milliseconds kept by this package back into a UTC time.
func fromMS(v string) (time.Time, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q: %w", v, err)
	}
	return time.UnixMilli(n).UTC(), nil
}
