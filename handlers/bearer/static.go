package bearer

import (
	"context"
	"errors"

	"github.com/authbroker/authbroker/internal/jose"
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

// SecretKeyID is the kid the broker at issuer gives an HS256 secret: a MAC
// keyed by the secret (never a plain hash of it, which every token would
// publish). SharedSecret uses it; it is exported for verifiers that build
// their own KeySource.
func SecretKeyID(issuer string, secret []byte) string { return jose.SecretKeyID(issuer, secret) }

// Thumbprint returns the RFC 7638 JWK thumbprint of a public key: the kid
// the broker gives each public key, so anyone holding the key can recompute
// it. Supported: *ecdsa.PublicKey (P-256), *rsa.PublicKey,
// ed25519.PublicKey, []byte (kty "oct"; the broker does not use it as a kid,
// see SecretKeyID).
func Thumbprint(key any) (string, error) { return jose.Thumbprint(key) }
