package bearer_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/internal/token"
)

// jwksServer serves whatever document it currently holds and counts fetches.
type jwksServer struct {
	*httptest.Server
	doc     atomic.Pointer[[]byte]
	status  atomic.Int32
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, doc []byte) *jwksServer {
	s := &jwksServer{}
	s.set(doc)
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(s.status.Load()))
		_, _ = w.Write(*s.doc.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(doc []byte) { s.doc.Store(&doc) }

// fakeClock is a concurrency-safe settable clock.
type fakeClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestJWKSRoundTripEveryAlgorithm(t *testing.T) {
	for _, alg := range []string{bearer.ES256, bearer.RS256, bearer.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			k := newKey(t, alg)
			srv := newJWKSServer(t, k.ks.JWKS())
			v := verifier(bearer.NewJWKS(srv.URL, bearer.WithHTTPClient(srv.Client())))
			c, err := v.Verify(t.Context(), issue(t, k, alice))
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != alice.MemberID {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
}

func TestJWKSRotation(t *testing.T) {
	oldKey := newKey(t, bearer.ES256)
	oldTok := issue(t, oldKey, alice)

	srv := newJWKSServer(t, oldKey.ks.JWKS())
	clk := newClock(testNow)
	jwks := bearer.NewJWKS(srv.URL, bearer.WithHTTPClient(srv.Client()), bearer.WithJWKSClock(clk.Now))

	v := verifier(jwks)
	if _, err := v.Verify(t.Context(), oldTok); err != nil {
		t.Fatalf("before rotation: %v", err)
	}

	// The operator prepends a new key to the key file and restarts.
	fresh, err := token.GenerateKeyPEM(bearer.ES256)
	if err != nil {
		t.Fatal(err)
	}
	rotated := keyFromFile(t, bearer.ES256, append(fresh, oldKey.pemAll...))
	srv.set(rotated.ks.JWKS())
	newTok := issue(t, rotated, alice)
	if got := headerKid(t, newTok); got != rotated.ks.KeyID() || got == oldKey.ks.KeyID() {
		t.Fatalf("new token kid = %q, want the new key's %q", got, rotated.ks.KeyID())
	}
	// The rotated Keyset still verifies tokens signed before the rotation.
	if _, err := verifier(rotated.ks).Verify(t.Context(), oldTok); err != nil {
		t.Fatalf("rotated keyset, old token: %v", err)
	}

	// Within MinRefetch of the last fetch an unknown kid is not refetched.
	clk.Advance(bearer.DefaultMinRefetch / 2)
	if _, err := v.Verify(t.Context(), newTok); !errors.Is(err, bearer.ErrInvalid) {
		t.Fatalf("new kid inside MinRefetch: err = %v", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
	clk.Advance(bearer.DefaultMinRefetch)
	if _, err := v.Verify(t.Context(), newTok); err != nil {
		t.Fatalf("new token after refetch: %v", err)
	}
	if _, err := v.Verify(t.Context(), oldTok); err != nil {
		t.Fatalf("old token after rotation: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
}

func TestJWKSUnknownKidsAreRateLimited(t *testing.T) {
	k := newKey(t, bearer.ES256)
	srv := newJWKSServer(t, k.ks.JWKS())
	clk := newClock(testNow)
	jwks := bearer.NewJWKS(srv.URL, bearer.WithHTTPClient(srv.Client()), bearer.WithJWKSClock(clk.Now))

	for i := range 50 {
		if _, _, err := jwks.VerificationKey(t.Context(), fmt.Sprintf("made-up-%d", i)); !errors.Is(err, bearer.ErrUnknownKey) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
}

func TestJWKSConcurrentColdStartFetchesOnce(t *testing.T) {
	k := newKey(t, bearer.ES256)
	srv := newJWKSServer(t, k.ks.JWKS())
	v := verifier(bearer.NewJWKS(srv.URL, bearer.WithHTTPClient(srv.Client())))
	raw := issue(t, k, alice)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			if _, err := v.Verify(t.Context(), raw); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
}

func TestJWKSWithdrawnKeyStopsVerifyingAfterMaxAge(t *testing.T) {
	k := newKey(t, bearer.ES256)
	srv := newJWKSServer(t, k.ks.JWKS())
	clk := newClock(testNow)
	jwks := bearer.NewJWKS(srv.URL, bearer.WithHTTPClient(srv.Client()), bearer.WithJWKSClock(clk.Now))

	v := verifier(jwks)
	raw := issue(t, k, alice)
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	srv.set([]byte(`{"keys":[]}`)) // key withdrawn after a compromise
	clk.Advance(bearer.DefaultMaxAge / 2)
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Fatalf("inside MaxAge the cached key still verifies: %v", err)
	}
	// Past MaxAge the stale key still answers at once, while a background
	// refresh learns that it is gone.
	clk.Advance(bearer.DefaultMaxAge)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := v.Verify(t.Context(), raw)
		if errors.Is(err, bearer.ErrInvalid) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("after MaxAge: err = %v, want ErrInvalid once refreshed", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
}

func TestJWKSStaleKeyNeverWaitsForTheBroker(t *testing.T) {
	k := newKey(t, bearer.ES256)
	release := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			<-release // the broker hangs
		}
		_, _ = w.Write(k.ks.JWKS())
	}))
	defer srv.Close()
	defer close(release)
	clk := newClock(testNow)
	jwks := bearer.NewJWKS(srv.URL, bearer.WithHTTPClient(srv.Client()), bearer.WithJWKSClock(clk.Now))

	v := verifier(jwks)
	raw := issue(t, k, alice)
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * bearer.DefaultMaxAge)
	start := time.Now()
	for range 3 {
		if _, err := v.Verify(t.Context(), raw); err != nil {
			t.Fatalf("stale key while the refresh hangs: %v", err)
		}
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("verification waited %v for a hanging broker", waited)
	}
}

func TestJWKSStaleKeySurvivesBrokerOutage(t *testing.T) {
	k := newKey(t, bearer.ES256)
	srv := newJWKSServer(t, k.ks.JWKS())
	clk := newClock(testNow)
	jwks := bearer.NewJWKS(srv.URL, bearer.WithHTTPClient(srv.Client()), bearer.WithJWKSClock(clk.Now))

	v := verifier(jwks)
	raw := issue(t, k, alice)
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	srv.status.Store(http.StatusServiceUnavailable)
	clk.Advance(2 * bearer.DefaultMaxAge)
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Fatalf("known key during outage: %v", err)
	}
}

func TestJWKSFetchFailures(t *testing.T) {
	k := newKey(t, bearer.ES256)
	raw := issue(t, k, alice)
	// A valid JWKS followed by padding: only the size limit refuses it.
	big := append(k.ks.JWKS(), bytes.Repeat([]byte(" "), bearer.DefaultMaxBodyBytes)...)
	for name, setup := range map[string]func(s *jwksServer){
		"non-200 status":  func(s *jwksServer) { s.status.Store(http.StatusInternalServerError) },
		"body over limit": func(s *jwksServer) { s.set(big) },
		"not a JWK Set":   func(s *jwksServer) { s.set([]byte(`[1,2,3]`)) },
		"no keys member":  func(s *jwksServer) { s.set([]byte(`{}`)) },
		"not JSON at all": func(s *jwksServer) { s.set([]byte(`<html>`)) },
		"oct key is never trusted": func(s *jwksServer) {
			s.set([]byte(`{"keys":[{"kty":"oct","kid":"` + k.ks.KeyID() + `","k":"c2VjcmV0","alg":"HS256"}]}`))
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newJWKSServer(t, k.ks.JWKS())
			setup(srv)
			_, err := verifier(bearer.NewJWKS(srv.URL, bearer.WithHTTPClient(srv.Client()))).Verify(t.Context(), raw)
			if !errors.Is(err, bearer.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestJWKSHonoursContextWhileWaiting(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	defer srv.Close()
	defer close(release)
	jwks := bearer.NewJWKS(srv.URL, bearer.WithHTTPClient(srv.Client()))
	go func() { _, _, _ = jwks.VerificationKey(t.Context(), "a") }() // holds the fetch
	<-started
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := jwks.VerificationKey(ctx, "b"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := ec.PublicKey.Bytes()
	x, y := b64(pt[1:33]), b64(pt[33:65])
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	offCurveY := []byte(pt[33:65])
	offCurveY = append([]byte(nil), offCurveY...)
	offCurveY[31] ^= 1
	ecJWK := func(extra string) string {
		return `{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + y + `"` + extra + `}`
	}
	tests := []struct {
		name string
		keys string
		kept []string
	}{
		{"valid EC key kept", ecJWK(`,"kid":"a"`), []string{"a"}},
		{"alg inferred when absent, checked when present", ecJWK(`,"kid":"a","alg":"ES256"`), []string{"a"}},
		{"EC key with RS256 alg skipped", ecJWK(`,"kid":"a","alg":"RS256"`), nil},
		{"EC key marked for encryption skipped", ecJWK(`,"kid":"a","use":"enc"`), nil},
		{"key without kid skipped", ecJWK(``), nil},
		{"point not on the curve skipped", `{"kty":"EC","crv":"P-256","kid":"a","x":"` + x + `","y":"` + b64(offCurveY) + `"}`, nil},
		{"P-384 skipped", `{"kty":"EC","crv":"P-384","kid":"a","x":"` + x + `","y":"` + y + `"}`, nil},
		{"RSA under 2048 bits skipped", `{"kty":"RSA","kid":"a","n":"` + b64(small.N.Bytes()) + `","e":"AQAB"}`, nil},
		{"oct key skipped", `{"kty":"oct","kid":"a","k":"c2VjcmV0"}`, nil},
		{"unknown kty skipped, others kept", `{"kty":"ML-DSA","kid":"z"},` + ecJWK(`,"kid":"a"`), []string{"a"}},
		{"duplicate kid dropped altogether", ecJWK(`,"kid":"a"`) + `,` + ecJWK(`,"kid":"a"`), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := bearer.ParseJWKS([]byte(`{"keys":[` + tc.keys + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != len(tc.kept) {
				t.Fatalf("kept %d keys, want %v", len(keys), tc.kept)
			}
			for _, kid := range tc.kept {
				if _, ok := keys[kid]; !ok {
					t.Fatalf("kid %q missing", kid)
				}
			}
		})
	}
}

func headerKid(t *testing.T, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestJWKSRefreshesWhenMaxAgeRunsOut: a set served with max-age=60 is
// refetched (in the background) once 60 s have passed, while the known key
// keeps verifying; before that no fetch happens.
func TestJWKSRefreshesWhenMaxAgeRunsOut(t *testing.T) {
	k := newKey(t, bearer.ES256)
	var fetches atomic.Int32
	fetched := make(chan struct{}, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=60")
		_, _ = w.Write(k.ks.JWKS())
		fetched <- struct{}{}
	}))
	defer srv.Close()
	clk := newClock(testNow)
	v := verifier(bearer.NewJWKS(srv.URL, bearer.WithHTTPClient(srv.Client()), bearer.WithJWKSClock(clk.Now)))
	raw := issue(t, k, alice)
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	clk.Advance(59 * time.Second)
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	<-fetched // the first, synchronous fetch
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within max-age, want 1", n)
	}
	clk.Advance(2 * time.Second)
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Fatalf("stale known key refused: %v", err)
	}
	select {
	case <-fetched: // the background refresh
	case <-time.After(5 * time.Second):
		t.Fatal("no refetch after max-age ran out")
	}
}
