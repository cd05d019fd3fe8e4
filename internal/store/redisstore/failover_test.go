package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/redisstore"
	"github.com/authbroker/authbroker/internal/testenv"
)

// TestSentinelFailoverKeepsSessions: behind Sentinel, the master is killed
// while sessions refresh as fast as they can. The replica takes over, the
// same client follows it without a restart, and every session written
// before the failover survives: none is lost, none is taken for stolen
// (rotations the replica had not received yet are recovered from the
// tokens, which prove them: store.Refresh's "ahead" rule).
func TestSentinelFailoverKeepsSessions(t *testing.T) {
	g := testenv.StartSentinelGroup(t)
	c, err := redisstore.Connect(g.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ss := redisstore.New(c, "ab:").Sessions(openIndex(t, testenv.SQLiteURL(t), time.Now))
	ctx := t.Context()

	const n = 20
	counters := make([]uint64, n)
	ids := make([]string, n)
	for i := range n {
		s := realisticSession(testenv.RandomName("fo"), time.Now())
		if _, err := ss.CreateSession(ctx, s, store.AdmitAlongside); err != nil {
			t.Fatal(err)
		}
		ids[i] = s.ID
	}
	lag := replicationLag(t, g)
	t.Logf("replication lag right after a write: %s", lag)

	var (
		stop          atomic.Bool
		wg            sync.WaitGroup
		ok, transient atomic.Int64
		mu            sync.Mutex
		lost          []string
		lastError     atomic.Int64
	)
	for i := range n {
		wg.Go(func() {
			for !stop.Load() {
				res, err := ss.Refresh(ctx, store.Refresh{SessionID: ids[i], Counter: counters[i], Now: time.Now(), Grace: 10 * time.Second})
				switch {
				case err == nil:
					counters[i] = res.Counter
					ok.Add(1)
				case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrReused):
					mu.Lock()
					lost = append(lost, fmt.Sprintf("%s: %v", ids[i], err))
					mu.Unlock()
					return
				default: // the master is gone: retry on the next one
					transient.Add(1)
					lastError.Store(time.Now().UnixNano())
					<-time.After(50 * time.Millisecond)
				}
			}
		})
	}
	<-time.After(time.Second)
	before := ok.Load()
	took := g.KillMaster()
	promoted := time.Now()
	// Keep refreshing until every client has succeeded on the new master.
	deadline := time.Now().Add(30 * time.Second)
	for ok.Load() < before+5*n && time.Now().Before(deadline) {
		<-time.After(100 * time.Millisecond)
	}
	<-time.After(time.Second)
	stop.Store(true)
	wg.Wait()
	resumed := time.Unix(0, lastError.Load()).Sub(promoted)
	t.Logf("failover: promoted %v after the kill; %d refreshes before, %d after; %d transient errors; clients resumed %v after the promotion",
		took, before, ok.Load()-before, transient.Load(), max(resumed, 0))
	if len(lost) > 0 {
		t.Fatalf("%d sessions lost or taken for stolen across the failover: %v", len(lost), lost)
	}
	if ok.Load() < before+5*n {
		t.Fatal("the client did not resume on the new master")
	}
	for i := range n {
		if _, err := ss.Refresh(ctx, store.Refresh{SessionID: ids[i], Counter: counters[i], Now: time.Now(), Grace: 10 * time.Second}); err != nil {
			t.Fatalf("session %d after the failover: %v", i, err)
		}
	}
}

// replicationLag writes to the master and measures how long the replica
// takes to acknowledge it (WAIT), the window in which a write can be lost
// to a failover.
func replicationLag(t *testing.T, g *testenv.SentinelGroup) time.Duration {
	t.Helper()
	m := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(g.MasterPort())})
	defer m.Close()
	ctx := context.Background()
	var worst time.Duration
	for i := range 20 {
		start := time.Now()
		m.Set(ctx, "lag-probe", i, time.Minute)
		n, err := m.Wait(ctx, 1, time.Second).Result()
		if err != nil || n < 1 {
			t.Fatalf("WAIT: %d %v", n, err)
		}
		worst = max(worst, time.Since(start))
	}
	info, _ := m.Info(ctx, "replication").Result()
	if !strings.Contains(info, "connected_slaves:1") {
		t.Fatalf("replica not connected: %s", info)
	}
	return worst
}
