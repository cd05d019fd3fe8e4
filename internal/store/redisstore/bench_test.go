package redisstore_test

import (
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/testenv"
)

// BenchmarkRotateRefresh is one client refreshing one session in a chain,
// each rotation presenting the previous one's Next: the latency of a
// refresh's store step (one EVALSHA round trip). Past 1024 iterations the
// retired-hash ring is full, so this is the steady state of a long-lived
// session, where each rotation overwrites the ring's oldest 8-byte slot.
func BenchmarkRotateRefresh(b *testing.B) {
	st, _ := newStore(b)
	ctx := b.Context()
	now := time.Now().UTC()
	s := testSession(testenv.RandomName("bench"), "member", now)
	cur := hashOf(s.ID, 0)
	if err := st.CreateSession(ctx, s, cur); err != nil {
		b.Fatal(err)
	}
	sealed := make([]byte, 12+65+16) // the size of token.Seal's output
	i := 0
	for b.Loop() {
		i++
		next := hashOf(s.ID, i)
		res, err := st.RotateRefresh(ctx, store.Rotation{
			SessionID: s.ID, Presented: cur, Next: next, Sealed: sealed,
			Now: now, Grace: 10 * time.Second, IP: "192.0.2.1",
		})
		if err != nil || res.Graced {
			b.Fatalf("rotation %d: graced=%v err=%v", i, res.Graced, err)
		}
		cur = next
	}
}

// BenchmarkRotateRefreshParallel is many clients refreshing their own
// sessions at once: throughput, which should be bounded by Redis.
func BenchmarkRotateRefreshParallel(b *testing.B) {
	st, _ := newStore(b)
	ctx := b.Context()
	now := time.Now().UTC()
	sealed := make([]byte, 12+65+16)
	// Many more clients than CPUs, as many browsers refresh at once; each
	// waits on the network most of the time.
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		s := testSession(testenv.RandomName("bench"), "member", now)
		cur := hashOf(s.ID, 0)
		if err := st.CreateSession(ctx, s, cur); err != nil {
			b.Error(err)
			return
		}
		i := 0
		for pb.Next() {
			i++
			next := hashOf(s.ID, i)
			if _, err := st.RotateRefresh(ctx, store.Rotation{
				SessionID: s.ID, Presented: cur, Next: next, Sealed: sealed,
				Now: now, Grace: 10 * time.Second, IP: "192.0.2.1",
			}); err != nil {
				b.Error(err)
				return
			}
			cur = next
		}
	})
}
