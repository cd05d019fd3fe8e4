package sqlstore_test

import (
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/testenv"
)

// BenchmarkRefresh is one client refreshing one session in a chain: the
// store step of a refresh without Redis (one transaction).
func BenchmarkRefresh(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := open(b, be.url(b))
			ctx := b.Context()
			now := time.Now().UTC()
			sess := store.Session{ID: testenv.RandomName("bench"), MemberID: "m", Provider: "dev", IP: "192.0.2.1",
				CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour), Claims: store.Claims{Role: store.RoleUser}}
			if _, err := s.CreateSession(ctx, sess, store.AdmitAlongside); err != nil {
				b.Fatal(err)
			}
			r := store.Refresh{SessionID: sess.ID, Now: now, Grace: 10 * time.Second, IP: "192.0.2.1", Limit: 1 << 30, Window: time.Minute}
			for b.Loop() {
				res, err := s.Refresh(ctx, r)
				if err != nil || !res.Rotated {
					b.Fatalf("refresh: %v", err)
				}
				r.Counter = res.Counter
			}
		})
	}
}
