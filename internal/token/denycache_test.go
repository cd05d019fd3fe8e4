package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// fakeDenylist is an in-memory store.Denylist. Its watcher half lives in
// watchingDenylist so tests can choose whether the backend pushes.
type fakeDenylist struct {
	mu        sync.Mutex
	entries   map[string]time.Time
	failLoads int // LiveDenied fails this many more times
	loads     atomic.Int32
}

func newFakeDenylist() *fakeDenylist { return &fakeDenylist{entries: map[string]time.Time{}} }

func (f *fakeDenylist) Deny(_ context.Context, d store.Denied) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d.Until.After(f.entries[d.SessionID]) {
		f.entries[d.SessionID] = d.Until
	}
	return nil
}

func (f *fakeDenylist) LiveDenied(_ context.Context, now time.Time) ([]store.Denied, error) {
	f.loads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failLoads > 0 {
		f.failLoads--
		return nil, errors.New("redis: connection refused")
	}
	var out []store.Denied
	for sid, until := range f.entries {
		if until.After(now) {
			out = append(out, store.Denied{SessionID: sid, Until: until})
		}
	}
	return out, nil
}

type watchingDenylist struct {
	*fakeDenylist
	subs chan chan store.Denied // each subscription's channel, for the test to drive
}

func (w *watchingDenylist) WatchDenied(ctx context.Context) (<-chan store.Denied, error) {
	ch := make(chan store.Denied, 8)
	w.subs <- ch
	return ch, nil
}

// fakeTime is a settable clock safe for concurrent use.
type fakeTime struct{ ns atomic.Int64 }

func (c *fakeTime) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeTime) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newFakeTime() *fakeTime {
	c := &fakeTime{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func nextSub(t *testing.T, dl *watchingDenylist) chan store.Denied {
	t.Helper()
	select {
	case ch := <-dl.subs:
		return ch
	case <-time.After(5 * time.Second):
		t.Fatal("no subscription")
		return nil
	}
}

func startCache(t *testing.T, dl store.Denylist, resync time.Duration, clk *fakeTime) *DenyCache {
	t.Helper()
	c := NewDenyCache(dl, resync, nil, clk.Now)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func TestDenyCacheFollowsPushesAndResubscribes(t *testing.T) {
	clk := newFakeTime()
	base := newFakeDenylist()
	_ = base.Deny(t.Context(), store.Denied{SessionID: "before-start", Until: clk.Now().Add(time.Minute)})
	dl := &watchingDenylist{fakeDenylist: base, subs: make(chan chan store.Denied, 4)}
	// A long resync: everything below must come from pushes and resubscription.
	c := startCache(t, dl, time.Hour, clk)

	sub := nextSub(t, dl)
	<-c.Synced()
	if !c.Contains("before-start") {
		t.Fatal("initial load missed an entry")
	}
	sub <- store.Denied{SessionID: "pushed", Until: clk.Now().Add(time.Minute)}
	eventually(t, "pushed entry", func() bool { return c.Contains("pushed") })

	// The subscription breaks; an entry denied meanwhile reaches the store only.
	_ = base.Deny(t.Context(), store.Denied{SessionID: "while-down", Until: clk.Now().Add(time.Minute)})
	close(sub)
	sub = nextSub(t, dl)
	eventually(t, "resync after resubscribing", func() bool { return c.Contains("while-down") })
	sub <- store.Denied{SessionID: "after-reconnect", Until: clk.Now().Add(time.Minute)}
	eventually(t, "push on the new subscription", func() bool { return c.Contains("after-reconnect") })
	if c.Contains("never-denied") {
		t.Fatal("Contains invented an entry")
	}
}

func TestDenyCacheResyncsWithoutWatcher(t *testing.T) {
	clk := newFakeTime()
	dl := newFakeDenylist()
	c := startCache(t, dl, 10*time.Millisecond, clk)
	<-c.Synced()
	_ = dl.Deny(t.Context(), store.Denied{SessionID: "other-replica", Until: clk.Now().Add(time.Minute)})
	eventually(t, "periodic resync", func() bool { return c.Contains("other-replica") })
}

func TestDenyCacheRetriesFailedLoads(t *testing.T) {
	clk := newFakeTime()
	dl := newFakeDenylist()
	dl.failLoads = 3
	_ = dl.Deny(t.Context(), store.Denied{SessionID: "s", Until: clk.Now().Add(time.Minute)})
	// Resync is long: recovery must come from the retry backoff.
	c := startCache(t, dl, time.Hour, clk)
	select {
	case <-c.Synced():
	case <-time.After(5 * time.Second):
		t.Fatal("never synced after transient failures")
	}
	if !c.Contains("s") {
		t.Fatal("entry missing after recovery")
	}
}

func TestDenyCacheExpiryAndLocalAdds(t *testing.T) {
	clk := newFakeTime()
	dl := newFakeDenylist()
	_ = dl.Deny(t.Context(), store.Denied{SessionID: "short", Until: clk.Now().Add(time.Minute)})
	c := NewDenyCache(dl, time.Hour, nil, clk.Now)
	if err := c.sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A local revocation not yet visible in the store survives a resync.
	c.Add(store.Denied{SessionID: "local", Until: clk.Now().Add(time.Hour)})
	if err := c.sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !c.Contains("short") || !c.Contains("local") || c.Len() != 2 {
		t.Fatalf("entries after resync: short=%v local=%v len=%d", c.Contains("short"), c.Contains("local"), c.Len())
	}
	// Adding an earlier Until never shortens an entry.
	c.Add(store.Denied{SessionID: "local", Until: clk.Now().Add(time.Second)})
	clk.Advance(2 * time.Minute)
	if err := c.sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c.Contains("short") || !c.Contains("local") || c.Len() != 1 {
		t.Fatalf("after expiry: short=%v local=%v len=%d", c.Contains("short"), c.Contains("local"), c.Len())
	}
}

func TestDenyCacheContainsNeverTouchesTheStore(t *testing.T) {
	clk := newFakeTime()
	dl := newFakeDenylist()
	c := NewDenyCache(dl, time.Hour, nil, clk.Now)
	if err := c.sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := dl.loads.Load()
	for i := range 1000 {
		c.Contains(fmt.Sprint("s", i))
	}
	if dl.loads.Load() != before {
		t.Fatal("Contains reached the store")
	}
}

func TestDenyCacheConcurrentReadsAndWrites(t *testing.T) {
	clk := newFakeTime()
	dl := newFakeDenylist()
	c := NewDenyCache(dl, time.Hour, nil, clk.Now)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				c.Add(store.Denied{SessionID: fmt.Sprint(w, "-", i), Until: clk.Now().Add(time.Minute)})
			}
		})
		wg.Go(func() {
			for i := range 2000 {
				c.Contains(fmt.Sprint(w, "-", i%200))
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			_ = c.sync(context.Background())
		}
	})
	wg.Wait()
	if c.Len() != 800 {
		t.Fatalf("Len = %d, want 800", c.Len())
	}
}
