package redisstore_test

import (
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/testenv"
)

// BenchmarkRefresh is one client refreshing one session in a chain: the
// latency of a refresh's store step (one EVALSHA round trip), with the
// per-session limit counted in the script.
func BenchmarkRefresh(b *testing.B) {
	st, _ := newStore(b)
	ss := st.Sessions(openIndex(b, testenv.SQLiteURL(b), time.Now))
	ctx := b.Context()
	now := time.Now().UTC()
	s := realisticSession(testenv.RandomName("bench"), now)
	if _, err := ss.CreateSession(ctx, s, store.AdmitAlongside); err != nil {
		b.Fatal(err)
	}
	r := store.Refresh{SessionID: s.ID, Now: now, Grace: 10 * time.Second, IP: "192.0.2.1", Limit: 1 << 30, Window: time.Minute}
	for b.Loop() {
		res, err := ss.Refresh(ctx, r)
		if err != nil || !res.Rotated {
			b.Fatalf("refresh %d: rotated=%v err=%v", r.Counter, res.Rotated, err)
		}
		r.Counter = res.Counter
	}
}

// BenchmarkRefreshParallel is many clients refreshing their own sessions
// at once: throughput, which should be bounded by Redis.
func BenchmarkRefreshParallel(b *testing.B) {
	st, _ := newStore(b)
	ss := st.Sessions(openIndex(b, testenv.SQLiteURL(b), time.Now))
	ctx := b.Context()
	now := time.Now().UTC()
	// Many more clients than CPUs, as many browsers refresh at once; each
	// waits on the network most of the time.
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		s := realisticSession(testenv.RandomName("bench"), now)
		if _, err := ss.CreateSession(ctx, s, store.AdmitAlongside); err != nil {
			b.Error(err)
			return
		}
		r := store.Refresh{SessionID: s.ID, Now: now, Grace: 10 * time.Second, IP: "192.0.2.1", Limit: 1 << 30, Window: time.Minute}
		for pb.Next() {
			res, err := ss.Refresh(ctx, r)
			if err != nil {
				b.Error(err)
				return
			}
			r.Counter = res.Counter
		}
	})
}
