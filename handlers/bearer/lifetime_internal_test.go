package bearer

import (
	"testing"
	"time"
)

// TestJWKSLifetimeFollowsCacheControl: the set stays fresh for the
// document's max-age, bounded by the refetch limits, so a broker can say
// how long its keys may be cached without letting a header disable the
// rate limit or keep a withdrawn key alive past MaxAge.
func TestJWKSLifetimeFollowsCacheControl(t *testing.T) {
	j := NewJWKS("https://broker.test/.well-known/jwks.json", WithRefetchLimits(30*time.Second, time.Hour))
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", time.Hour},
		{"public, max-age=300", 5 * time.Minute},
		{"max-age=\"120\"", 2 * time.Minute},
		{"MAX-AGE=600, must-revalidate", 10 * time.Minute},
		{"max-age=5", 30 * time.Second},     // below the refetch limit
		{"max-age=999999999999", time.Hour}, // above MaxAge
		{"max-age=-1", time.Hour},           // not a delta-seconds: ignored
		{"max-age=soon", time.Hour},         // idem
		{"no-store", 30 * time.Second},      // revalidate, but rate-limited
		{"public, no-cache, max-age=300", 30 * time.Second},
	} {
		if got := j.lifetime(tc.header); got != tc.want {
			t.Errorf("Cache-Control %q: lifetime %v, want %v", tc.header, got, tc.want)
		}
	}
}
