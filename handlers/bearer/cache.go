package bearer

import (
	"sync"
	"time"
)

// cache remembers tokens that passed full verification (WithCache). A hit
// is re-checked against the clock (exp and nbf with the verifier's leeway);
// the verifier runs its Checks on every call. Expired or failed tokens are
// never cached. Entries are keyed by the token alone, which is why each
// Verifier owns its cache (one shared by verifiers with different issuers
// or audiences would let one accept the other's tokens).
type cache struct {
	mu        sync.RWMutex
	entries   map[string]cacheEntry
	size      int
	maxAge    time.Duration
	lastSweep time.Time
}

type cacheEntry struct {
	claims *Claims
	added  time.Time
}

// newCache returns a cache of at most size tokens, each kept at most maxAge.
func newCache(size int, maxAge time.Duration) *cache {
	return &cache{entries: make(map[string]cacheEntry, size), size: size, maxAge: maxAge}
}

// get returns the cached claims of raw if they are still usable at now.
func (c *cache) get(raw string, now time.Time, leeway time.Duration) (*Claims, bool) {
	c.mu.RLock()
	e, ok := c.entries[raw]
	c.mu.RUnlock()
	if !ok || now.Sub(e.added) > c.maxAge {
		return nil, false
	}
	cl := e.claims
	if !now.Before(cl.ExpiresAt.Add(leeway)) {
		return nil, false
	}
	if !cl.NotBefore.IsZero() && now.Add(leeway).Before(cl.NotBefore) {
		return nil, false
	}
	cp := *cl
	cp.Audience = append([]string(nil), cl.Audience...)
	return &cp, true
}

// put stores verified claims. Once per maxAge it first sweeps out the
// entries that can no longer be used (older than maxAge, or expired) into
// a new map, so the cache gives memory back when traffic falls: a Go map
// never shrinks by deleting. When still full, an arbitrary entry makes
// room (Go's map iteration order is random, which is fair enough here).
func (c *cache) put(raw string, cl *Claims, now time.Time) {
	cp := *cl
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.lastSweep) >= c.maxAge {
		c.sweepLocked(now)
	}
	if len(c.entries) >= c.size {
		for k := range c.entries {
			delete(c.entries, k)
			if len(c.entries) < c.size {
				break
			}
		}
	}
	c.entries[raw] = cacheEntry{claims: &cp, added: now}
}

// sweepLocked keeps the usable entries only, in a map of their size.
func (c *cache) sweepLocked(now time.Time) {
	live := make(map[string]cacheEntry, len(c.entries)/2)
	for k, e := range c.entries {
		if now.Sub(e.added) <= c.maxAge && now.Before(e.claims.ExpiresAt.Add(MaxLeeway)) {
			live[k] = e
		}
	}
	c.entries, c.lastSweep = live, now
}

// Len is the number of cached tokens.
func (c *cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
