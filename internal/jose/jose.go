// Package jose holds the format of the broker's access tokens: the claims
// it writes, the algorithms it signs with and how each key gets its kid.
// The issuer (internal/token) and the public verifier (handlers/bearer)
// both build on it, so the format is written down once and neither depends
// on the other.
package jose

import (
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
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithms the broker signs with (JWT_ALG). Verifiers refuse any other,
// notably "none" (RFC 8725 §3.1, §3.2).
const (
	ES256 = "ES256"
	RS256 = "RS256"
	EdDSA = "EdDSA"
	HS256 = "HS256"
)

// Supported reports whether alg is one of the four algorithms.
func Supported(alg string) bool {
	switch alg {
	case ES256, RS256, EdDSA, HS256:
		return true
	}
	return false
}

// MaxLeeway is the most clock skew a verifier tolerates on exp, nbf and iat
// (RFC 7519 §4.1.4 allows "a small leeway"). It bounds how long past exp a
// token can still be accepted, which is why the broker keeps a revoked
// session on its denylist this long after the session's last token expires.
const MaxLeeway = 30 * time.Second

// ErrUnknownKey is returned (possibly wrapped) by a key source that does not
// know the requested kid.
var ErrUnknownKey = errors.New("unknown key id")

// Claims are the claims of an access token as they travel in the JWT
// (RFC 9068 profile). sub is the member id and sid the session the token
// belongs to (the IANA-registered claim of OpenID Connect Front-Channel
// Logout §3): revoking a session denies every access token carrying its sid.
type Claims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
	Role      string `json:"role"`
	Email     string `json:"email,omitempty"`
	Name      string `json:"name,omitempty"`
	// ClientID is the application the token was issued for (RFC 9068 §2.2).
	// The broker serves one application per audience, so it equals aud.
	ClientID string `json:"client_id,omitempty"`
}

// TokenType is the JOSE typ of an access token (RFC 9068 §2.1).
const TokenType = "at+jwt"

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
// padding) of a public key or an HMAC secret: the kid the broker gives each
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
		x, y, err := ECCoordinates(k)
		if err != nil {
			return "", err
		}
		members = `{"crv":"P-256","kty":"EC","x":"` + b64(x) + `","y":"` + b64(y) + `"}`
	case *rsa.PublicKey:
		if k.N == nil || k.E <= 0 {
			return "", errors.New("jose: invalid RSA public key")
		}
		members = `{"e":"` + b64(big.NewInt(int64(k.E)).Bytes()) + `","kty":"RSA","n":"` + b64(k.N.Bytes()) + `"}`
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", errors.New("jose: invalid Ed25519 public key")
		}
		members = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(k) + `"}`
	case []byte:
		if len(k) == 0 {
			return "", errors.New("jose: empty secret")
		}
		members = `{"k":"` + b64(k) + `","kty":"oct"}`
	default:
		return "", fmt.Errorf("jose: no thumbprint for key type %T", key)
	}
	sum := sha256.Sum256([]byte(members))
	return b64(sum[:]), nil
}

// ECCoordinates returns the fixed-length (32-byte) affine coordinates of a
// P-256 public key, as JWK x and y require (RFC 7518 §6.2.1.2).
func ECCoordinates(k *ecdsa.PublicKey) (x, y []byte, err error) {
	if k.Curve != elliptic.P256() {
		return nil, nil, errors.New("jose: only P-256 EC keys are supported")
	}
	p, err := k.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("jose: invalid EC public key: %w", err)
	}
	// Uncompressed SEC 1 point: 0x04 || X || Y.
	return p[1:33], p[33:65], nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
