package bearer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/internal/token"
)

// TestCacheKeepsTheRules: a cached token is still refused once its session
// is revoked or it expires, and a tampered copy never hits the cache.
func TestCacheKeepsTheRules(t *testing.T) {
	k := newKey(t, bearer.ES256)
	now := testNow
	clk := func() time.Time { return now }
	iss := token.NewIssuer(k.ks, testIssuer, testAudience, time.Minute, clk)
	raw, _, err := iss.Issue(token.Subject{MemberID: "m1", SessionID: "s1", Role: "user"})
	if err != nil {
		t.Fatal(err)
	}
	revoked := false
	v := verifier(k.ks, bearer.WithClock(clk), revokedIf(func(*bearer.Claims) bool { return revoked }), bearer.WithCache(10, time.Minute))
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if v.CachedTokens() != 1 {
		t.Fatalf("cache len %d after a good token", v.CachedTokens())
	}
	if c, err := v.Verify(ctx, raw); err != nil || c.SessionID != "s1" {
		t.Fatalf("cached verify: %v", err)
	}
	t.Run("tampered copy is verified in full and refused", func(t *testing.T) {
		if _, err := v.Verify(ctx, raw[:len(raw)-2]+"AA"); !errors.Is(err, bearer.ErrInvalid) {
			t.Fatalf("tampered: %v", err)
		}
	})
	t.Run("revoked session refused from cache", func(t *testing.T) {
		revoked = true
		defer func() { revoked = false }()
		if _, err := v.Verify(ctx, raw); !errors.Is(err, bearer.ErrInvalid) {
			t.Fatalf("revoked: %v", err)
		}
	})
	t.Run("expiry applies to cached tokens", func(t *testing.T) {
		now = testNow.Add(time.Minute + bearer.MaxLeeway + time.Second)
		defer func() { now = testNow }()
		if _, err := v.Verify(ctx, raw); !errors.Is(err, bearer.ErrExpired) {
			t.Fatalf("expired: %v", err)
		}
	})
	t.Run("bounded size", func(t *testing.T) {
		for i := range 30 {
			r, _, _ := iss.Issue(token.Subject{MemberID: "m", SessionID: "s" + string(rune('a'+i)), Role: "user"})
			if _, err := v.Verify(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if v.CachedTokens() > 10 {
			t.Fatalf("cache grew to %d", v.CachedTokens())
		}
	})
}

// TestCacheGivesMemoryBack: tokens that can no longer be used leave the
// cache at the next sweep (once per maxAge), so it shrinks when traffic
// falls instead of holding every token it ever saw.
func TestCacheGivesMemoryBack(t *testing.T) {
	k := newKey(t, bearer.ES256)
	now := testNow
	clk := func() time.Time { return now }
	iss := token.NewIssuer(k.ks, testIssuer, testAudience, 15*time.Minute, clk)
	v := verifier(k.ks, bearer.WithClock(clk), bearer.WithCache(1000, time.Minute))
	for i := range 200 {
		raw, _, err := iss.Issue(token.Subject{MemberID: "m", SessionID: fmt.Sprint("s", i), Role: "user"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(t.Context(), raw); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.CachedTokens(); n != 200 {
		t.Fatalf("%d cached, want 200", n)
	}
	now = now.Add(2 * time.Minute)
	raw, _, _ := iss.Issue(token.Subject{MemberID: "m", SessionID: "fresh", Role: "user"})
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	if n := v.CachedTokens(); n != 1 {
		t.Fatalf("%d cached after the sweep, want only the fresh token", n)
	}
}
