// Package bearer verifies the access tokens authbroker issues, for any Go
// service: a net/http server, Echo (package echobearer), gRPC or a queue
// consumer.
//
// An access token is a JWT of the RFC 9068 profile signed by the broker:
// typ "at+jwt", a kid naming the key, iss the broker's BASE_URL, aud the
// application (JWT_AUDIENCE), sub the member id and sid the session. Verify
// checks, in order: the type, no critical header, a known kid whose one
// algorithm equals the header's alg (the algorithm comes from the key, never
// from the token: "none" and HS256-with-a-public-key confusion fail here),
// the signature, iss, aud, exp (required), nbf and iat with a bounded leeway,
// sub and sid present, then the checks you add (a denylist, introspection).
//
// Construct a Verifier once and share it; it is safe for concurrent use:
//
//	keys := bearer.NewJWKS("https://auth.example.com/.well-known/jwks.json")
//	v, err := bearer.New("https://auth.example.com", "my-app", keys)
//	...
//	mux.Handle("/api/", v.Middleware()(api))
//
// Keys come from the broker's JSON Web Key Set (NewJWKS: fetched on first
// use, refetched when a token names an unknown kid at most once per
// DefaultMinRefetch (WithRefetchLimits), refreshed in the background when the document's Cache-Control
// max-age runs out, symmetric keys refused), from keys pinned in advance
// (StaticKeys, ParseJWKS) or from an HS256 secret shared with the broker
// (SharedSecret).
//
// Errors: every error Verify returns wraps ErrExpired ("refresh and retry"),
// ErrInvalid ("sign in again") or ErrUnavailable ("a check could not answer:
// retry shortly"), and carries a short Reason safe to send to the client; no
// error ever contains the token.
//
// A verifier that checks tokens offline accepts a logged-out session's
// access token until it expires (ACCESS_TOKEN_TTL, 15 minutes by default).
// Routes that must honour logout at once add WithCheck(Introspection(…)),
// which asks the broker on every request.
//
// This package lives under handlers/ rather than internal/ so that code
// outside the module can import it; it depends only on the token format
// (internal/jose), never on the broker's services.
package bearer

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/authbroker/authbroker/internal/jose"
)

// Claims are the claims of a verified access token, as plain Go values.
type Claims struct {
	// Subject (sub) is the member id (RFC 9068 §2.2).
	Subject string
	// SessionID (sid) is the session the token belongs to: ending the
	// session denies every access token carrying it.
	SessionID string
	// Role is "user" or "admin".
	Role string
	// Email and Name describe the member when the token was issued.
	Email, Name string
	// ClientID is the application the token was issued for (RFC 9068 §2.2);
	// the broker serves one application per audience, so it equals aud.
	ClientID string
	// Issuer (iss) is the broker's BASE_URL; Audience (aud) holds the
	// application.
	Issuer   string
	Audience []string
	// ID (jti) is unique per token.
	ID string
	// IssuedAt, NotBefore and ExpiresAt are iat, nbf and exp; NotBefore is
	// zero when the token has none.
	IssuedAt, NotBefore, ExpiresAt time.Time
}

// claimsOf turns the wire claims into Claims.
func claimsOf(w *jose.Claims) *Claims {
	c := &Claims{
		Subject: w.Subject, SessionID: w.SessionID, Role: w.Role, Email: w.Email, Name: w.Name,
		ClientID: w.ClientID, Issuer: w.Issuer, Audience: []string(w.Audience), ID: w.ID,
	}
	if w.IssuedAt != nil {
		c.IssuedAt = w.IssuedAt.Time
	}
	if w.NotBefore != nil {
		c.NotBefore = w.NotBefore.Time
	}
	if w.ExpiresAt != nil {
		c.ExpiresAt = w.ExpiresAt.Time
	}
	return c
}

// Errors returned by Verify. Every error Verify returns is an *Error whose
// kind is ErrInvalid, ErrExpired or ErrUnavailable, so callers can branch
// with errors.Is: ErrExpired means "refresh and retry", ErrInvalid "sign in
// again", ErrUnavailable "try again shortly" (a Check could not answer).
var (
	// ErrInvalid: the token must not be accepted (bad signature, wrong
	// issuer or audience, revoked session, malformed, unknown key, …).
	ErrInvalid = errors.New("invalid token")
	// ErrExpired: the token was valid in every respect but its exp (plus
	// leeway) has passed.
	ErrExpired = errors.New("token expired")
	// ErrUnavailable: a Check could not decide (the broker's introspection
	// endpoint did not answer, a denylist lookup failed). The token is not
	// accepted, but it is not known to be bad either: answer 503, not 401,
	// so that clients retry instead of signing the user out.
	ErrUnavailable = errors.New("token check unavailable")
	// ErrUnknownKey is returned (possibly wrapped) by a KeySource that does
	// not know the requested kid. Verify reports it as ErrInvalid.
	ErrUnknownKey = jose.ErrUnknownKey
	// ErrRevoked is what a Check returns for a token whose session has
	// ended. Verify reports it as ErrInvalid with reason "session revoked".
	ErrRevoked = errors.New("session revoked")
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

// Unwrap exposes the kind (ErrInvalid, ErrExpired or ErrUnavailable) and
// the cause.
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
// its header alg equals that algorithm (RFC 8725 §3.1).
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
	ES256 = jose.ES256
	RS256 = jose.RS256
	EdDSA = jose.EdDSA
	HS256 = jose.HS256
)

// MaxLeeway is the most clock skew Verify tolerates on exp, nbf and iat
// (RFC 7519 §4.1.4 allows "a small leeway"). It bounds how long past exp a
// token can still be accepted.
const MaxLeeway = jose.MaxLeeway
