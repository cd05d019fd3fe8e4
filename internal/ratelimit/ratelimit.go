// Package ratelimit limits request rates per key (client IP, session):
// shared across replicas through Redis (go-redis/redis_rate, GCRA) when
// Redis is configured, in-process (x/time/rate) otherwise.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Limit is a rate: PerMinute events per minute with a burst of the same size.
type Limit struct {
	Name      string
	PerMinute int
}

// Result says whether an event is allowed and, if not, when to retry.
type Result struct {
	Allowed    bool
	RetryAfter time.Duration
}

// Limiter decides whether one more event for key is within l.
type Limiter interface {
	Allow(ctx context.Context, l Limit, key string) (Result, error)
}

// Redis is a Limiter shared by every replica.
type Redis struct {
	l      *redis_rate.Limiter
	prefix string
}

// NewRedis returns a Redis-backed limiter; keys are stored under prefix.
func NewRedis(c redis.UniversalClient, prefix string) *Redis {
	return &Redis{l: redis_rate.NewLimiter(c), prefix: prefix}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, l Limit, key string) (Result, error) {
	res, err := r.l.Allow(ctx, r.prefix+l.Name+":"+key, redis_rate.PerMinute(l.PerMinute))
	if err != nil {
		return Result{}, fmt.Errorf("rate limit %s: %w", l.Name, err)
	}
	return Result{Allowed: res.Allowed > 0, RetryAfter: res.RetryAfter}, nil
}

// Memory is an in-process Limiter for single-replica deployments. Idle
// keys are dropped so memory stays bounded by active clients.
type Memory struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	now     func() time.Time
	lastGC  time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewMemory returns an in-process limiter; now is the clock.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{buckets: map[string]*bucket{}, now: now}
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, l Limit, key string) (Result, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.lastGC) > time.Minute {
		for k, b := range m.buckets {
			if now.Sub(b.seen) > 2*time.Minute {
				delete(m.buckets, k)
			}
		}
		m.lastGC = now
	}
	k := l.Name + ":" + key
	b, ok := m.buckets[k]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(float64(l.PerMinute)/60), l.PerMinute)}
		m.buckets[k] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return Result{Allowed: false, RetryAfter: time.Minute}, nil
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return Result{Allowed: false, RetryAfter: d}, nil
	}
	return Result{Allowed: true}, nil
}

// RetryAfterSeconds is the Retry-After header value: whole seconds, at least 1.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// Share is a Limiter that enforces, on each replica, that replica's share
// of a global figure: PerMinute divided by the number of live replicas
// (rounded up), counted by the Limiter it wraps (in-process). Requests
// spread over replicas by a load balancer then meet the global figure
// without a round trip to a shared store.
type Share struct {
	l        Limiter
	replicas func() int
}

// NewShare divides the limits given to l by replicas() (at least 1).
func NewShare(l Limiter, replicas func() int) *Share {
	return &Share{l: l, replicas: replicas}
}

// Allow implements Limiter.
func (s *Share) Allow(ctx context.Context, l Limit, key string) (Result, error) {
	if n := s.replicas(); n > 1 && l.PerMinute > 0 {
		l.PerMinute = (l.PerMinute + n - 1) / n
	}
	return s.l.Allow(ctx, l, key)
}
