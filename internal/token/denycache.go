package token

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// Retry timing for a failed load or a broken subscription; the wait never
// exceeds the resync interval either.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
	// maxBatch bounds how many pushed entries are merged into one snapshot.
	maxBatch = 1024
)

// DenyCache is a replica's in-memory copy of the access-token denylist
// (BRIEF §5): logout must stop a session's access tokens on every replica at
// once, without a Redis round trip on every protected request.
//
// Contains is a lock-free read of an immutable map behind an atomic
// pointer; writers (Add, pushed entries, resyncs) build a new map under a
// mutex and swap it in. Pushed entries arriving together are merged into one
// new map, so a burst of revocations costs one copy, not one per entry.
//
// Entries are only ever added or extended, never removed before their
// Until: a resync merges the store's live entries into the current ones and
// drops those whose Until has passed, so an entry added locally or pushed
// while a resync was in flight is never lost.
type DenyCache struct {
	dl     store.Denylist
	resync time.Duration
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex // serialises writers
	entries atomic.Pointer[map[string]time.Time]

	syncOnce sync.Once
	synced   chan struct{}
}

// NewDenyCache returns a cache over dl, resynchronised every resync (which
// must be positive). Call Run to fill and maintain it. logger may be nil;
// now is the clock (time.Now when nil).
func NewDenyCache(dl store.Denylist, resync time.Duration, logger *slog.Logger, now func() time.Time) *DenyCache {
	if resync <= 0 {
		panic("token: NewDenyCache needs a positive resync interval")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	c := &DenyCache{dl: dl, resync: resync, logger: logger, now: now, synced: make(chan struct{})}
	empty := map[string]time.Time{}
	c.entries.Store(&empty)
	return c
}

// Contains reports whether session sid is denied. It never touches the
// store. An entry may outlive its Until by up to one resync interval; that
// only matters for tokens that have expired anyway.
func (c *DenyCache) Contains(sid string) bool {
	_, ok := (*c.entries.Load())[sid]
	return ok
}

// Len is the number of entries (for metrics).
func (c *DenyCache) Len() int { return len(*c.entries.Load()) }

// Synced is closed once the first load from the store has succeeded. A
// replica should not serve protected routes before (or should wait a bounded
// time), or it would honour tokens revoked before it started.
func (c *DenyCache) Synced() <-chan struct{} { return c.synced }

// Add records a revocation made by this replica, effective at once here;
// the caller also writes it to the shared Denylist for the other replicas.
func (c *DenyCache) Add(d store.Denied) { c.merge([]store.Denied{d}) }

// AddAll adds several entries in one snapshot: revoking k sessions costs
// one copy of the set, not k.
func (c *DenyCache) AddAll(ds []store.Denied) { c.merge(ds) }

// merge adds or extends entries in one new snapshot.
func (c *DenyCache) merge(ds []store.Denied) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := *c.entries.Load()
	var next map[string]time.Time
	for _, d := range ds {
		if d.SessionID == "" {
			continue
		}
		if until, ok := cur[d.SessionID]; ok && !d.Until.After(until) {
			continue
		}
		if next == nil {
			next = make(map[string]time.Time, len(cur)+len(ds))
			for k, v := range cur {
				next[k] = v
			}
		}
		next[d.SessionID] = d.Until
	}
	if next != nil {
		c.entries.Store(&next)
	}
}

// sync reloads the store's live entries, merges them with the current ones
// and drops the expired.
func (c *DenyCache) sync(ctx context.Context) error {
	live, err := c.dl.LiveDenied(ctx, c.now())
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	cur := *c.entries.Load()
	next := make(map[string]time.Time, max(len(cur), len(live)))
	for k, v := range cur {
		if v.After(now) {
			next[k] = v
		}
	}
	for _, d := range live {
		if d.SessionID != "" && d.Until.After(now) && d.Until.After(next[d.SessionID]) {
			next[d.SessionID] = d.Until
		}
	}
	c.entries.Store(&next)
	c.syncOnce.Do(func() { close(c.synced) })
	return nil
}

// Run fills the cache and keeps it current until ctx ends: a full load
// from the store now and every resync interval, and, when the store is a
// store.DenyWatcher, every entry it pushes as it happens. A broken
// subscription is re-established with jittered exponential backoff and
// followed by a full load, which covers entries missed in between; a failed
// load is retried the same way. Errors are logged, never fatal: the cache
// keeps what it has.
func (c *DenyCache) Run(ctx context.Context) {
	watcher, _ := c.dl.(store.DenyWatcher)
	limit := min(maxBackoff, c.resync)
	syncBackoff := newBackoff(min(minBackoff, limit), limit)
	subBackoff := newBackoff(min(minBackoff, limit), limit)
	ticker := time.NewTicker(c.resync)
	defer ticker.Stop()

	var (
		events    <-chan store.Denied
		subRetry  <-chan time.Time
		syncRetry <-chan time.Time
	)
	// Subscribe before loading, so nothing denied during the load is missed.
	subscribe := func() {
		ch, err := watcher.WatchDenied(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.logger.Warn("denylist.watch", "outcome", "subscribe_failed", "err", err)
				subRetry = time.After(subBackoff.next())
			}
			return
		}
		subBackoff.reset()
		events, subRetry = ch, nil
	}
	load := func() {
		if err := c.sync(ctx); err != nil {
			if ctx.Err() == nil {
				c.logger.Warn("denylist.resync", "outcome", "error", "err", err)
				syncRetry = time.After(syncBackoff.next())
			}
			return
		}
		syncBackoff.reset()
		syncRetry = nil
	}
	if watcher != nil {
		subscribe()
	}
	load()
	for {
		select {
		case <-ctx.Done():
			return
		case d, ok := <-events:
			if !ok {
				events = nil
				if ctx.Err() != nil {
					return
				}
				c.logger.Warn("denylist.watch", "outcome", "closed")
				subRetry = time.After(subBackoff.next())
				continue
			}
			c.merge(drain(d, events))
		case <-subRetry:
			subscribe()
			if events != nil {
				load()
			}
		case <-ticker.C:
			load()
		case <-syncRetry:
			load()
		}
	}
}

// drain collects first and whatever else is already waiting on ch.
func drain(first store.Denied, ch <-chan store.Denied) []store.Denied {
	batch := []store.Denied{first}
	for len(batch) < maxBatch {
		select {
		case d, ok := <-ch:
			if !ok {
				// The closed channel is seen again by Run's select.
				return batch
			}
			batch = append(batch, d)
		default:
			return batch
		}
	}
	return batch
}

// backoff is an exponential delay with jitter: each wait is a random
// duration between half and all of the current step, so replicas that lost
// Redis together do not reconnect in lockstep.
type backoff struct {
	base, limit, cur time.Duration
}

func newBackoff(base, limit time.Duration) *backoff {
	return &backoff{base: base, limit: limit, cur: base}
}

func (b *backoff) next() time.Duration {
	d := b.cur
	b.cur = min(b.cur*2, b.limit)
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.cur = b.base }
