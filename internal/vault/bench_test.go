package vault_test

import (
	"context"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/testenv"
	"github.com/authbroker/authbroker/internal/vault"
	"github.com/authbroker/authbroker/providers/providertest"
)

// BenchmarkToken is GET /auth/identities/{provider}/token without HTTP:
// "fresh" hands out the kept token (one row read, one AES-GCM open);
// "renew" renews it first at the provider fake (lease, refresh grant over
// loopback HTTP, seal, compare-and-set) on every call.
func BenchmarkToken(b *testing.B) {
	for _, db := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", testenv.SQLiteURL}, {"postgres", testenv.PostgresURL}} {
		for _, mode := range []string{"fresh", "renew"} {
			b.Run(mode+"/"+db.name, func(b *testing.B) {
				clk := clock.NewFake(time.Now())
				fake := providertest.NewGoogle(b, providertest.WithClock(clk.Now))
				w := newWorld(b, db.url(b), fake, "google", clk)
				r := w.replica(b, true)
				m, _ := r.signIn(b, "google")
				req := vault.Request{MemberID: m.ID, Provider: "google"}
				b.ResetTimer()
				for b.Loop() {
					if mode == "renew" {
						clk.Advance(55 * time.Minute)
					}
					if _, err := r.v.Token(context.Background(), req); err != nil {
						b.Fatal(err)
					}
				}
				if mode == "renew" && fake.Renewals() < b.N {
					b.Fatalf("%d renewals for %d calls", fake.Renewals(), b.N)
				}
			})
		}
	}
}
