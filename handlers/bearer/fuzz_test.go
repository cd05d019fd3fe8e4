package bearer_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authbroker/authbroker/handlers/bearer"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, must
// fail with ErrInvalid or ErrExpired, and may succeed only for a token whose
// signed part (header and payload) is exactly one the key holder signed.
func FuzzVerify(f *testing.F) {
	ec := newKey(f, bearer.ES256)
	hs := newKey(f, bearer.HS256)
	signed := map[string]bool{}
	seed := func(raw string) {
		signed[raw[:strings.LastIndex(raw, ".")]] = true
		f.Add(raw)
	}
	seed(issue(f, ec, alice))
	seed(issue(f, hs, alice))
	f.Add(sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"typ": "at+jwt", "kid": ec.ks.KeyID()}, validClaims()))
	f.Add(sign(f, jwt.SigningMethodHS256, ec.pubPEM, map[string]any{"typ": "at+jwt", "kid": ec.ks.KeyID()}, validClaims()))
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJFUzI1NiJ9.e30.")
	verifiers := []*bearer.Verifier{verifier(ec.ks), verifier(hs.ks)}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, v := range verifiers {
			c, err := v.Verify(t.Context(), raw)
			if err != nil {
				if !errors.Is(err, bearer.ErrInvalid) && !errors.Is(err, bearer.ErrExpired) {
					t.Fatalf("error of no kind: %v", err)
				}
				continue
			}
			if c == nil {
				t.Fatal("nil claims without error")
			}
			if !signed[raw[:strings.LastIndex(raw, ".")]] {
				t.Fatalf("accepted a token that was never signed: %q", raw)
			}
		}
	})
}
