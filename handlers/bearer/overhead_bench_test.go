package bearer_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/handlers/bearer/echobearer"
	"github.com/authbroker/authbroker/internal/token"
)

// BenchmarkProtectedRequest compares a bare Echo handler with the same
// handler behind the bearer middleware (ES256 verify + in-process denylist
// lookup): the per-request price of protection, with no network in the way.
func BenchmarkProtectedRequest(b *testing.B) {
	k := newKey(b, bearer.ES256)
	iss := token.NewIssuer(k.ks, testIssuer, testAudience, 15*time.Minute, time.Now)
	raw, _, err := iss.Issue(token.Subject{MemberID: "m1", SessionID: "s1", Role: "user"})
	if err != nil {
		b.Fatal(err)
	}
	denied := map[string]bool{"other": true}
	deny := revokedIf(func(c *bearer.Claims) bool { return denied[c.SessionID] })
	plain, err := bearer.New(testIssuer, testAudience, k.ks, deny)
	if err != nil {
		b.Fatal(err)
	}
	cached, err := bearer.New(testIssuer, testAudience, k.ks, deny, bearer.WithCache(1000, time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	ok := func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }
	for _, tc := range []struct {
		name string
		mw   []echo.MiddlewareFunc
	}{
		{"bare", nil},
		{"protected", []echo.MiddlewareFunc{echobearer.Middleware(plain)}},
		{"protected+cache", []echo.MiddlewareFunc{echobearer.Middleware(cached)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := echo.New()
			e.GET("/r", ok, tc.mw...)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodGet, "/r", nil)
					req.Header.Set("Authorization", "Bearer "+raw)
					rec := httptest.NewRecorder()
					e.ServeHTTP(rec, req)
					if rec.Code != http.StatusNoContent {
						b.Fatalf("status %d", rec.Code)
					}
				}
			})
		})
	}
}
