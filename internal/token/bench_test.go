package token

import (
	"fmt"
	"testing"
	"time"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/internal/store"
)

var benchSubject = Subject{MemberID: "m_0123456789", SessionID: "AAAAAAAAAAAAAAAAAAAAAA", Role: "user", Email: "someone@example.com", Name: "Some One"}

// BenchmarkSign measures Issuer.Issue per algorithm.
func BenchmarkSign(b *testing.B) {
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			iss := NewIssuer(mustParse(b, alg, genPEM(b, alg)), "https://auth.example.com", "api", 15*time.Minute, nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := iss.Issue(benchSubject); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify measures bearer.Verifier.Verify against a Keyset, with
// the denylist lookup a protected request makes.
func BenchmarkVerify(b *testing.B) {
	deny := NewDenyCache(newFakeDenylist(), time.Hour, nil, nil)
	for i := range 1000 {
		deny.Add(store.Denied{SessionID: fmt.Sprint("revoked-", i), Until: time.Now().Add(time.Hour)})
	}
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			ks := mustParse(b, alg, genPEM(b, alg))
			raw, _, err := NewIssuer(ks, "https://auth.example.com", "api", 15*time.Minute, nil).Issue(benchSubject)
			if err != nil {
				b.Fatal(err)
			}
			v := &bearer.Verifier{Keys: ks, Issuer: "https://auth.example.com", Audience: "api", Revoked: func(c *bearer.Claims) bool { return deny.Contains(c.SessionID) }}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(b.Context(), raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDenyCacheContains measures the per-request denylist lookup with
// 10,000 live entries, from all cores at once.
func BenchmarkDenyCacheContains(b *testing.B) {
	c := NewDenyCache(newFakeDenylist(), time.Hour, nil, nil)
	batch := make([]store.Denied, 0, 10000)
	for i := range 10000 {
		batch = append(batch, store.Denied{SessionID: fmt.Sprint("revoked-", i), Until: time.Now().Add(time.Hour)})
	}
	c.merge(batch)
	// Half hits, half misses (a miss is the common case: a live session).
	sids := make([]string, 0, 20000)
	for i := range 20000 {
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
