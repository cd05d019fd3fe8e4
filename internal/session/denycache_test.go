package session_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/session"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/redisstore"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/testenv"
)

// sqliteDenylist is a real SQL denylist in a fresh file, on clk.
func sqliteDenylist(t testing.TB, clk func() time.Time) *sqlstore.Store {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), testenv.SQLiteURL(t), sqlstore.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func runCache(t testing.TB, c *session.DenyCache) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-c.Synced():
	case <-time.After(5 * time.Second):
		t.Fatal("the deny cache never loaded")
	}
}

// eventually polls cond (a real event from another goroutine or server).
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("not within %v: %s", within, what)
		}
		<-time.After(2 * time.Millisecond)
	}
	return time.Since(start)
}

// TestDenyCacheFollowsRedisAcrossARestart: a logout on another replica
// reaches this one through pub/sub; Redis restarts; once it is back, a
// logout reaches this replica again within a second, without a restart.
func TestDenyCacheFollowsRedisAcrossARestart(t *testing.T) {
	rs := testenv.StartOwnRedis(t)
	connect := func() *redisstore.Store {
		c, err := redisstore.Connect(rs.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return redisstore.New(c, "ab:")
	}
	here, other := connect(), connect()
	_ = other.Deny(t.Context(), store.Denied{SessionID: "before-start", Until: time.Now().Add(time.Hour)})
	// A long resync: everything below must come from pushes and resubscribing.
	c := session.NewDenyCache(here, time.Hour, nil, nil)
	runCache(t, c)
	if !c.Contains("before-start") {
		t.Fatal("the first load missed an entry")
	}
	if err := other.Deny(t.Context(), store.Denied{SessionID: "pushed", Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "a logout on another replica", func() bool { return c.Contains("pushed") })

	rs.Kill()
	<-time.After(3 * time.Second) // an outage long enough for the backoff to grow
	rs.Start()
	var back time.Time
	eventually(t, 5*time.Second, "Redis accepting logouts again", func() bool {
		back = time.Now()
		return other.Deny(t.Context(), store.Denied{SessionID: "after-restart", Until: time.Now().Add(time.Hour)}) == nil
	})
	took := eventually(t, 2*time.Second, "a logout after the restart", func() bool { return c.Contains("after-restart") })
	t.Logf("a logout made as Redis came back (%s) reached this replica after %v", back.Format(time.TimeOnly), took)
	if took > time.Second {
		t.Fatalf("the logout after the restart took %v, want < 1 s", took)
	}
	if !c.Contains("pushed") {
		t.Fatal("an entry known before the restart was lost (Redis came back empty; the cache must keep it)")
	}
}

// TestDenyCacheResyncsFromSQL: without Redis, other replicas' logouts
// arrive with the periodic resync.
func TestDenyCacheResyncsFromSQL(t *testing.T) {
	db := sqliteDenylist(t, time.Now)
	c := session.NewDenyCache(db, 10*time.Millisecond, nil, nil)
	runCache(t, c)
	if err := db.Deny(t.Context(), store.Denied{SessionID: "other-replica", Until: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "periodic resync", func() bool { return c.Contains("other-replica") })
}

// TestDenyCacheExpiryAndLocalAdds: local entries survive a resync that does
// not know them yet; an earlier Until never shortens an entry; the sweep
// drops entries once their Until has passed.
func TestDenyCacheExpiryAndLocalAdds(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	db := sqliteDenylist(t, clk.Now)
	_ = db.Deny(t.Context(), store.Denied{SessionID: "short", Until: clk.Now().Add(time.Minute)})
	c := session.NewDenyCache(db, 10*time.Millisecond, nil, clk.Now)
	runCache(t, c)
	c.Add(store.Denied{SessionID: "local", Until: clk.Now().Add(time.Hour)})
	markers := waitLoads(t, db, c)
	if !c.Contains("short") || !c.Contains("local") || c.Len() != 2+markers {
		t.Fatalf("after a resync: short=%v local=%v len=%d", c.Contains("short"), c.Contains("local"), c.Len())
	}
	c.Add(store.Denied{SessionID: "local", Until: clk.Now().Add(time.Second)})
	clk.Advance(2 * time.Minute)
	markers += waitLoads(t, db, c)
	if c.Contains("short") || !c.Contains("local") || c.Len() != 1+markers {
		t.Fatalf("after expiry: short=%v local=%v len=%d", c.Contains("short"), c.Contains("local"), c.Len())
	}
}

// waitLoads waits for two more resyncs of c (each merging and sweeping):
// it denies a marker entry and waits for the cache to have it. It returns
// how many markers it added.
func waitLoads(t *testing.T, db *sqlstore.Store, c *session.DenyCache) int {
	t.Helper()
	for range 2 {
		marker := testenv.RandomName("marker-")
		_ = db.Deny(t.Context(), store.Denied{SessionID: marker, Until: time.Now().Add(100 * 365 * 24 * time.Hour)})
		eventually(t, 5*time.Second, "a resync", func() bool { return c.Contains(marker) })
	}
	return 2
}

func TestDenyCacheConcurrentReadsAndWrites(t *testing.T) {
	db := sqliteDenylist(t, time.Now)
	c := session.NewDenyCache(db, time.Millisecond, nil, nil)
	runCache(t, c)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				c.Add(store.Denied{SessionID: fmt.Sprint(w, "-", i), Until: time.Now().Add(time.Minute)})
			}
		})
		wg.Go(func() {
			for i := range 2000 {
				c.Contains(fmt.Sprint(w, "-", i%200))
			}
		})
	}
	wg.Wait()
	if c.Len() != 800 {
		t.Fatalf("Len = %d, want 800", c.Len())
	}
}

// BenchmarkDenyCacheAdd is the in-process part of a logout (one entry
// added) next to 0 and 60,000 denied sessions: the cost must not grow
// with the list (it was a copy of the whole set, 12.5 ms at 60k).
func BenchmarkDenyCacheAdd(b *testing.B) {
	for _, n := range []int{0, 60_000} {
		b.Run(fmt.Sprintf("denied=%d", n), func(b *testing.B) {
			c := session.NewDenyCache(sqliteDenylist(b, time.Now), time.Hour, nil, nil)
			until := time.Now().Add(time.Hour)
			for i := range n {
				c.Add(store.Denied{SessionID: fmt.Sprint("old-", i), Until: until})
			}
			i := 0
			for b.Loop() {
				c.Add(store.Denied{SessionID: fmt.Sprint("new-", i), Until: until})
				i++
			}
		})
	}
}

// BenchmarkDenyCacheContains is the per-request lookup with 60,000 live
// entries, from all cores at once (half hits, half misses).
func BenchmarkDenyCacheContains(b *testing.B) {
	c := session.NewDenyCache(sqliteDenylist(b, time.Now), time.Hour, nil, nil)
	until := time.Now().Add(time.Hour)
	for i := range 60_000 {
		c.Add(store.Denied{SessionID: fmt.Sprint("revoked-", i), Until: until})
	}
	sids := make([]string, 0, 120_000)
	for i := range 120_000 {
		sids = append(sids, fmt.Sprint("revoked-", i))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Contains(sids[i%len(sids)])
			i++
		}
	})
}

// BenchmarkLogout is a logout's whole denylist cost through the session
// service on Redis (the session's record deleted, the in-process entry
// added, the shared entry written and announced) next to 0 and 60,000
// denied sessions: logout throughput must not fall as the list grows.
func BenchmarkLogout(b *testing.B) {
	for _, n := range []int{0, 60_000} {
		b.Run(fmt.Sprintf("denied=%d", n), func(b *testing.B) {
			url, prefix := testenv.Redis(b)
			rc, err := redisstore.Connect(url)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = rc.Close() })
			rs := redisstore.New(rc, prefix)
			db := sqliteDenylist(b, time.Now)
			deny := session.NewDenyCache(rs, time.Hour, nil, nil)
			until := time.Now().Add(time.Hour)
			for i := range n {
				d := store.Denied{SessionID: fmt.Sprint("old-", i), Until: until}
				deny.Add(d)
				if err := rs.Deny(b.Context(), d); err != nil {
					b.Fatal(err)
				}
			}
			f := newBenchService(b, rs.Sessions(db), rs, deny)
			i := 0
			for b.Loop() {
				if err := f.End(b.Context(), fmt.Sprint("sid-", i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
