// Package redisstore keeps the short-lived records of authbroker in Redis
// (BRIEF §5): login states, one-time codes, sessions with their refresh
// counters, the access-token denylist, the replica heartbeats and the data
// marker. It implements store.States, store.Codes, store.Sessions (with a
// SQL store.SessionIndex, see Sessions), store.Denylist, store.DenyWatcher,
// store.Replicas and store.DataMarker, and passes the storetest conformance
// suite.
//
// It works on a single server, behind Sentinel and on Redis Cluster (see
// Connect). A session is one key with its id as hash tag, so a refresh is
// one script on one slot.
//
// Layout, under the prefix given to New:
//
//	st:<id>      login state, JSON, expires with its TTL
//	code:<id>    one-time code, JSON, expires with its TTL
//	s:{<sid>}    session record (record.go), expires with the session
//	denylist     sorted set of denied session ids, score = until (unix ms)
//	replicas     sorted set of replica ids, score = last heartbeat (unix ms)
//	marker       the data marker (DataMarker)
//
// and the pub/sub channel <prefix>denylist carries each new denylist entry
// as JSON to every replica.
//
// Times are kept in milliseconds, and every expiry is set relative to the
// caller's clock (a TTL, never an absolute time), so a test clock moves
// Redis records as it moves SQL rows. Redis 7.0 or later is required
// (GETDEL, ZADD GT, PEXPIRETIME).
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
	now    func() time.Time
}

// Option configures New.
type Option func(*Store)

// WithClock sets the clock that decides expiry on reads (time.Now by default).
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

var (
	_ store.States      = (*Store)(nil)
	_ store.Codes       = (*Store)(nil)
	_ store.Denylist    = (*Store)(nil)
	_ store.DenyWatcher = (*Store)(nil)
	_ store.Replicas    = (*Store)(nil)
	_ store.DataMarker  = (*Store)(nil)
)

// New returns a Store that keeps its keys under prefix (for example "ab:"),
// so several deployments or test runs can share one Redis. New does not
// contact the server. The prefix must not contain '{' or '}': Redis Cluster
// hashes only the first {…} of a key, and a brace in the prefix would put
// every key in one slot and break the per-session hash tags; such a prefix
// is a programming error and panics.
func New(c redis.UniversalClient, prefix string, opts ...Option) *Store {
	if strings.ContainsAny(prefix, "{}") {
		panic("redisstore: key prefix must not contain '{' or '}'")
	}
	s := &Store{c: c, prefix: prefix, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Ping reports whether Redis answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Keys. The session and member keys carry hash tags (see the package comment).
func (s *Store) stateKey(id string) string    { return s.prefix + "st:" + id }
func (s *Store) codeKey(id string) string     { return s.prefix + "code:" + id }
func (s *Store) linkCodeKey(id string) string { return s.prefix + "link:" + id }
func (s *Store) pendingKey(id string) string  { return s.prefix + "pending:" + id }
func (s *Store) sessionKey(sid string) string { return s.prefix + "s:{" + sid + "}" }
func (s *Store) denyKey() string              { return s.prefix + "denylist" }
func (s *Store) replicasKey() string          { return s.prefix + "replicas" }
func (s *Store) markerKey() string            { return s.prefix + "marker" }

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
