package bearer

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
)

// StaticKey is one verification key with the algorithm it is pinned to.
type StaticKey struct {
	Key any
	Alg string
}

// StaticKeys is a KeySource over keys known in advance, by kid: a shared
// HS256 secret (see SharedSecret) or public keys pinned in configuration.
// It must not be modified while in use.
type StaticKeys map[string]StaticKey

// VerificationKey implements KeySource.
func (s StaticKeys) VerificationKey(_ context.Context, kid string) (any, string, error) {
	k, ok := s[kid]
	if !ok {
		return nil, "", ErrUnknownKey
	}
	return k.Key, k.Alg, nil
}

// SharedSecret returns StaticKeys holding HS256 secrets, each under the kid
// the broker at issuer (its BASE_URL, the iss of its tokens) gives it
// (SecretKeyID). Pass the secret exactly as configured there (the raw
// string's bytes). During a rotation pass every secret still accepted.
//
// RFC 7518 §3.2 requires HS256 keys of at least 256 bits; the broker refuses
// shorter ones in production and so should a production verifier.
func SharedSecret(issuer string, secrets ...[]byte) (StaticKeys, error) {
	if len(secrets) == 0 {
		return nil, errors.New("bearer: no shared secret")
	}
	out := make(StaticKeys, len(secrets))
	for _, s := range secrets {
		if len(s) == 0 {
			return nil, errors.New("bearer: empty shared secret")
		}
		out[SecretKeyID(issuer, s)] = StaticKey{Key: append([]byte(nil), s...), Alg: HS256}
	}
	return out, nil
}

// SecretKeyID is the kid of an HS256 secret used by the broker at issuer:
// the first 16 bytes of HMAC-SHA256 keyed by the secret over a fixed label
// and the issuer, base64url. Every token carries its kid in the clear, so
// the kid must not be a plain hash of the secret (the RFC 7638 thumbprint of
// an oct key is one: unsalted, the same in every deployment, so a table of
// weak secrets' thumbprints would name a deployment's secret at a glance).
// A MAC keyed by the secret reveals no more than the token's own signature,
// and the issuer makes a guess cost one MAC per deployment, as testing it
// against a signature does.
func SecretKeyID(issuer string, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("authbroker HS256 key id\x00"))
	m.Write([]byte(issuer))
	return b64(m.Sum(nil)[:16])
}

// Thumbprint returns the RFC 7638 JWK thumbprint (SHA-256, base64url without
// padding) of a public key or an HMAC secret: the kid authbroker gives each
// public key, so a kid names exactly one key and can be recomputed by anyone
// who holds it. Supported: *ecdsa.PublicKey (P-256), *rsa.PublicKey,
// ed25519.PublicKey, []byte (kty "oct").
//
// The required members are serialised in lexicographic order with no
// whitespace (RFC 7638 §3.2, §3.3; RFC 8037 §2 for OKP). For an oct key the
// thumbprint is an unsalted hash of the secret, so the broker does not use
// it as a kid: HS256 secrets get SecretKeyID.
func Thumbprint(key any) (string, error) {
	var members string
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		x, y, err := ecCoordinates(k)
		if err != nil {
			return "", err
		}
		members = `{"crv":"P-256","kty":"EC","x":"` + b64(x) + `","y":"` + b64(y) + `"}`
	case *rsa.PublicKey:
		if k.N == nil || k.E <= 0 {
			return "", errors.New("bearer: invalid RSA public key")
		}
		members = `{"e":"` + b64(big.NewInt(int64(k.E)).Bytes()) + `","kty":"RSA","n":"` + b64(k.N.Bytes()) + `"}`
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", errors.New("bearer: invalid Ed25519 public key")
		}
		members = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(k) + `"}`
	case []byte:
		if len(k) == 0 {
			return "", errors.New("bearer: empty secret")
		}
		members = `{"k":"` + b64(k) + `","kty":"oct"}`
	default:
		return "", fmt.Errorf("bearer: no thumbprint for key type %T", key)
	}
	sum := sha256.Sum256([]byte(members))
	return b64(sum[:]), nil
}

// ecCoordinates returns the fixed-length (32-byte) affine coordinates of a
// P-256 public key, as JWK x and y require (RFC 7518 §6.2.1.2).
func ecCoordinates(k *ecdsa.PublicKey) (x, y []byte, err error) {
	if k.Curve != elliptic.P256() {
		return nil, nil, errors.New("bearer: only P-256 EC keys are supported")
	}
	p, err := k.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("bearer: invalid EC public key: %w", err)
	}
	// Uncompressed SEC 1 point: 0x04 || X || Y.
	return p[1:33], p[33:65], nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
