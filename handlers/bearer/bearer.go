// Package bearer verifies authbroker access tokens. It is the public half of
// the token contract: other Go services import it to check the JWTs the
// broker issues (RFC 9068 profile), either against the broker's JWKS
// (NewJWKS) or against a shared HS256 secret (SharedSecret), and to guard
// Echo routes with RFC 6750 bearer authentication (Middleware, RequireRole).
//
// It lives under handlers/ rather than internal/ only so that code outside
// this module can import it; it depends on nothing inside the broker.
package bearer

import (
	"context"
	"errors"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the claims of an authbroker access token.
//
// sub is the member id (RFC 9068 §2.2) and sid the session the token
// belongs to (the IANA-registered claim of OpenID Connect Front-Channel
// Logout §3): revoking a session denies every access token carrying its sid
// until they expire.
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

// Errors returned by Verify. Every error Verify returns is an *Error whose
// kind is one of these two, so callers can branch with errors.Is:
// ErrExpired means "refresh and retry", ErrInvalid means "sign in again".
var (
	// ErrInvalid: the token must not be accepted (bad signature, wrong
	// issuer or audience, revoked session, malformed, unknown key, …).
	ErrInvalid = errors.New("invalid token")
	// ErrExpired: the token was valid in every respect but its exp (plus
	// leeway) has passed.
	ErrExpired = errors.New("token expired")
	// ErrUnknownKey is returned (possibly wrapped) by a KeySource that does
	// not know the requested kid. Verify reports it as ErrInvalid.
	ErrUnknownKey = errors.New("unknown key id")
)

// Error is the error returned by Verify. Reason is a short fixed phrase,
// safe to send to the client as an RFC 6750 error_description; it never
// contains any part of the token. Error() adds the underlying cause, which
// is meant for logs.
type Error struct {
	kind   error
	Reason string
	cause  error
}

func (e *Error) Error() string {
	kind := e.kindOrInvalid()
	var b strings.Builder
	b.WriteString(kind.Error())
	if e.Reason != "" && e.Reason != kind.Error() {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

// Unwrap exposes the kind (ErrInvalid or ErrExpired) and the cause.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kindOrInvalid()}
	}
	return []error{e.kindOrInvalid(), e.cause}
}

// kindOrInvalid makes an Error built outside this package (no kind) count
// as invalid rather than as nothing.
func (e *Error) kindOrInvalid() error {
	if e.kind == nil {
		return ErrInvalid
	}
	return e.kind
}

func invalid(reason string, cause error) error {
	return &Error{kind: ErrInvalid, Reason: reason, cause: cause}
}

// KeySource resolves the key that verifies a token signed under kid, and the
// one algorithm that key may be used with. Verify accepts a token only when
// its header alg equals that algorithm (RFC 8725 §3.1): the algorithm comes
// from the key, never from the token.
//
// For an unknown kid implementations return an error wrapping ErrUnknownKey.
// The key is *ecdsa.PublicKey (ES256), *rsa.PublicKey (RS256),
// ed25519.PublicKey (EdDSA) or []byte (HS256).
type KeySource interface {
	VerificationKey(ctx context.Context, kid string) (key any, alg string, err error)
}

// Algorithms authbroker signs with (JWT_ALG). Verify refuses any other,
// notably "none" (RFC 8725 §3.1, §3.2).
const (
	ES256 = "ES256"
	RS256 = "RS256"
	EdDSA = "EdDSA"
	HS256 = "HS256"
)

func supportedAlg(alg string) bool {
	switch alg {
	case ES256, RS256, EdDSA, HS256:
		return true
	}
	return false
}
