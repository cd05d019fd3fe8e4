package token

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authbroker/authbroker/handlers/bearer"
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
	// A map stands in for the deny cache's lookup (session.DenyCache has
	// its own benchmark).
	denied := map[string]bool{}
	for i := range 1000 {
		denied[fmt.Sprint("revoked-", i)] = true
	}
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			ks := mustParse(b, alg, genPEM(b, alg))
			raw, _, err := NewIssuer(ks, "https://auth.example.com", "api", 15*time.Minute, nil).Issue(benchSubject)
			if err != nil {
				b.Fatal(err)
			}
			v, err := bearer.New("https://auth.example.com", "api", ks, bearer.WithCheck(bearer.Denylist(func(_ context.Context, sid string) (bool, error) { return denied[sid], nil })))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(b.Context(), raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
