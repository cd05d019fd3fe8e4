package bearer_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/internal/token"
)

const (
	testIssuer   = "https://auth.example.com"
	testAudience = "authbroker"
)

// testNow is the fixed clock of every test.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

// key is one signing key as both the broker (Keyset) and an attacker with
// the private key or public material (priv, pubPEM) see it.
type key struct {
	alg    string
	ks     *token.Keyset
	priv   any    // signing key for jwt.SignedString
	pubPEM []byte // PKIX public key PEM (nil for HS256)
	pemAll []byte // the key file
}

func newKey(t testing.TB, alg string) key {
	t.Helper()
	data, err := token.GenerateKeyPEM(alg)
	if err != nil {
		t.Fatal(err)
	}
	return keyFromFile(t, alg, data)
}

func keyFromFile(t testing.TB, alg string, data []byte) key {
	t.Helper()
	ks, err := token.ParseKeys(alg, data, testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	k := key{alg: alg, ks: ks, pemAll: data}
	if alg == bearer.HS256 {
		line, _, _ := bytes.Cut(data, []byte("\n"))
		k.priv = line
		return k
	}
	block, _ := pem.Decode(data)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	k.priv = priv
	pub, _, _ := ks.VerificationKey(t.Context(), ks.KeyID())
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	k.pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return k
}

// verifier is the verifier under test: testIssuer, testAudience, the
// fixed clock, then opts.
func verifier(keys bearer.KeySource, opts ...bearer.Option) *bearer.Verifier {
	v, err := bearer.New(testIssuer, testAudience, keys, append([]bearer.Option{bearer.WithClock(clock)}, opts...)...)
	if err != nil {
		panic(err)
	}
	return v
}

// revokedIf is a Check refusing the sessions revoked reports (nil: none).
func revokedIf(revoked func(*bearer.Claims) bool) bearer.Option {
	return bearer.WithCheck(bearer.CheckFunc(func(_ context.Context, _ string, c *bearer.Claims) error {
		if revoked != nil && revoked(c) {
			return bearer.ErrRevoked
		}
		return nil
	}))
}

func issuer(k key) *token.Issuer {
	return token.NewIssuer(k.ks, testIssuer, testAudience, 15*time.Minute, clock)
}

func issue(t testing.TB, k key, s token.Subject) string {
	t.Helper()
	raw, _, err := issuer(k).Issue(s)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

var alice = token.Subject{MemberID: "m_alice", SessionID: "s_alice", Role: "user", Email: "alice@example.com", Name: "Alice"}

// validClaims are the claims the broker would issue at testNow.
func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss":  testIssuer,
		"sub":  "m_alice",
		"aud":  []string{testAudience},
		"exp":  testNow.Add(15 * time.Minute).Unix(),
		"iat":  testNow.Unix(),
		"nbf":  testNow.Unix(),
		"jti":  "j1",
		"sid":  "s_alice",
		"role": "user",
	}
}

// sign builds a token with any header and claims. A nil header value
// deletes that header member.
func sign(t testing.TB, method jwt.SigningMethod, signKey any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	raw, err := tok.SignedString(signKey)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
