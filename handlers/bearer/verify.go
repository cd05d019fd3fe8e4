package bearer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authbroker/authbroker/internal/jose"
)

// maxTokenBytes bounds the work an unauthenticated caller can cause. Our
// tokens are well under 1 KiB (RS256 with a long name is the largest).
const maxTokenBytes = 8 << 10

// Verifier checks authbroker access tokens. Build it with New; it is safe
// for concurrent use.
type Verifier struct {
	keys             KeySource
	issuer, audience string
	leeway           time.Duration
	now              func() time.Time
	checks           []Check
	cache            *cache
}

// Check is a rule applied to every token that passed verification, on every
// call, cached or not: a denylist of ended sessions, a call to the broker's
// introspection endpoint. A non-nil error refuses the token (fail closed):
// return ErrRevoked for an ended session (Verify: ErrInvalid, "session
// revoked"); any other error means the check could not decide (Verify:
// ErrUnavailable, so that clients retry rather than sign the user out).
type Check interface {
	Check(ctx context.Context, raw string, c *Claims) error
}

// CheckFunc adapts a function to Check.
type CheckFunc func(ctx context.Context, raw string, c *Claims) error

// Check implements Check.
func (f CheckFunc) Check(ctx context.Context, raw string, c *Claims) error { return f(ctx, raw, c) }

// Denylist is a Check over a set of ended sessions: denied reports whether
// the session is on it. It runs on every request, so it should be an
// in-memory lookup kept current by the application (the broker keeps its own
// this way, fed by Redis pub/sub).
func Denylist(denied func(ctx context.Context, sessionID string) (bool, error)) Check {
	return CheckFunc(func(ctx context.Context, _ string, c *Claims) error {
		ok, err := denied(ctx, c.SessionID)
		switch {
		case err != nil:
			return err
		case ok:
			return ErrRevoked
		}
		return nil
	})
}

// Option configures New.
type Option func(*Verifier)

// WithLeeway sets the clock skew tolerated on exp, nbf and iat: zero or
// above MaxLeeway means MaxLeeway (the default), negative means none.
func WithLeeway(d time.Duration) Option {
	return func(v *Verifier) {
		switch {
		case d == 0, d > MaxLeeway:
			v.leeway = MaxLeeway
		case d < 0:
			v.leeway = 0
		default:
			v.leeway = d
		}
	}
}

// WithClock sets the clock (time.Now by default), for tests.
func WithClock(now func() time.Time) Option {
	return func(v *Verifier) {
		if now != nil {
			v.now = now
		}
	}
}

// WithCheck adds a rule every verified token must pass (see Check). Checks
// run in the order given.
func WithCheck(c Check) Option {
	return func(v *Verifier) {
		if c != nil {
			v.checks = append(v.checks, c)
		}
	}
}

// WithCache remembers up to size tokens that passed verification, each at
// most maxAge, so a client presenting the same token on every request pays
// the signature check once (an ES256 verify costs tens of microseconds; a
// map lookup, tens of nanoseconds). A hit is still checked against the clock
// (exp, nbf) and every Check on each call, so expiry and revocation apply
// exactly as without the cache; maxAge bounds how long a key withdrawn from
// the key source keeps being honoured for tokens already seen.
func WithCache(size int, maxAge time.Duration) Option {
	return func(v *Verifier) {
		if size > 0 && maxAge > 0 {
			v.cache = newCache(size, maxAge)
		}
	}
}

// New returns a Verifier for the access tokens the broker at issuer (its
// BASE_URL, the iss of its tokens) issues for audience (its JWT_AUDIENCE),
// with keys from keys. The three are required.
func New(issuer, audience string, keys KeySource, opts ...Option) (*Verifier, error) {
	switch {
	case issuer == "":
		return nil, errors.New("bearer: New: issuer is required")
	case audience == "":
		return nil, errors.New("bearer: New: audience is required")
	case keys == nil:
		return nil, errors.New("bearer: New: a KeySource is required")
	}
	v := &Verifier{keys: keys, issuer: issuer, audience: audience, leeway: MaxLeeway, now: time.Now}
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

// CachedTokens is the number of tokens the verifier's cache holds (0
// without WithCache).
func (v *Verifier) CachedTokens() int {
	if v.cache == nil {
		return 0
	}
	return v.cache.Len()
}

// header is the part of the JOSE header Verify inspects itself, before any
// key is chosen.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// Verify checks raw and returns its claims. Rules, in order:
//   - header typ is at+jwt or application/at+jwt, case-insensitively
//     (RFC 9068 §4; RFC 8725 §3.11: explicit typing keeps other JWTs, such
//     as ID tokens, from being accepted as access tokens);
//   - no crit header (RFC 7515 §4.1.11: we understand no extensions);
//   - kid present and known to Keys; header alg equals the key's algorithm
//     (RFC 8725 §3.1: "none" and HS256-with-a-public-key confusion die here);
//   - signature valid; iss, aud, exp (required), nbf, iat checked with
//     leeway; sub and sid present; session not revoked.
//
// A token failing only on exp returns an error wrapping ErrExpired; any
// other failure wraps ErrInvalid. Errors never contain the token.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if v == nil || v.keys == nil {
		return nil, invalid("verifier not configured", nil)
	}
	if raw == "" {
		return nil, invalid("missing token", nil)
	}
	if len(raw) > maxTokenBytes {
		return nil, invalid("token too large", nil)
	}
	if v.cache != nil {
		if c, ok := v.cache.get(raw, v.now(), v.leeway); ok {
			if err := v.check(ctx, raw, c); err != nil {
				return nil, err
			}
			return c, nil
		}
	}
	h, err := parseHeader(raw)
	if err != nil {
		return nil, invalid("malformed token", err)
	}
	if !accessTokenType(h.Typ) {
		return nil, invalid("token type is not at+jwt", nil)
	}
	if h.Crit != nil {
		return nil, invalid("unsupported critical header", nil)
	}
	if h.Kid == "" {
		return nil, invalid("missing key id", nil)
	}
	key, alg, err := v.keys.VerificationKey(ctx, h.Kid)
	switch {
	case errors.Is(err, ErrUnknownKey):
		return nil, invalid("unknown key id", err)
	case err != nil:
		return nil, invalid("signing key unavailable", err)
	case key == nil || !jose.Supported(alg):
		return nil, invalid("signing key unavailable", nil)
	case h.Alg != alg:
		return nil, invalid("unexpected signing algorithm", nil)
	}

	opts := v.claimOptions(v.now)
	// WithValidMethods repeats the pin above inside the library, so the
	// rule holds even if the header check were ever loosened.
	opts = append(opts, jwt.WithValidMethods([]string{alg}), jwt.WithStrictDecoding())
	var w jose.Claims
	_, err = jwt.NewParser(opts...).ParseWithClaims(raw, &w, func(*jwt.Token) (any, error) {
		return key, nil
	})
	expired := false
	if err != nil {
		if !v.onlyExpired(err, &w) {
			return nil, invalid(reasonOf(err), err)
		}
		expired = true
	}
	if w.Subject == "" {
		return nil, invalid("missing sub", nil)
	}
	if w.SessionID == "" {
		return nil, invalid("missing sid", nil)
	}
	c := claimsOf(&w)
	if err := v.check(ctx, raw, c); err != nil {
		return nil, err
	}
	if expired {
		return nil, &Error{kind: ErrExpired, Reason: "token expired", cause: err}
	}
	if v.cache != nil {
		v.cache.put(raw, c, v.now())
	}
	return c, nil
}

// check runs the Checks; any error refuses the token.
func (v *Verifier) check(ctx context.Context, raw string, c *Claims) error {
	for _, ch := range v.checks {
		switch err := ch.Check(ctx, raw, c); {
		case err == nil:
		case errors.Is(err, ErrRevoked):
			return invalid("session revoked", err)
		default:
			return &Error{kind: ErrUnavailable, Reason: "token check unavailable", cause: err}
		}
	}
	return nil
}

// claimOptions are the registered-claim rules (golang-jwt checks iss and
// aud only when asked, and exp only when required).
func (v *Verifier) claimOptions(now func() time.Time) []jwt.ParserOption {
	return []jwt.ParserOption{
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(now),
	}
}

// onlyExpired reports whether err says the signature was good and exp is
// the one failed claim: the claims are checked again as of just before
// their own exp, where every rule but expiry still applies. Doing it this
// way does not depend on how the library joins several claim errors.
func (v *Verifier) onlyExpired(err error, c *jose.Claims) bool {
	if !errors.Is(err, jwt.ErrTokenExpired) || !errors.Is(err, jwt.ErrTokenInvalidClaims) ||
		errors.Is(err, jwt.ErrTokenSignatureInvalid) || c.ExpiresAt == nil {
		return false
	}
	at := c.ExpiresAt.Add(-time.Nanosecond)
	return jwt.NewValidator(v.claimOptions(func() time.Time { return at })...).Validate(c) == nil
}

// reasonOf turns a golang-jwt error into a client-safe reason.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "invalid signature"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "invalid issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "invalid audience"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token issued in the future"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing required claim"
	case errors.Is(err, jwt.ErrTokenInvalidSubject), errors.Is(err, jwt.ErrTokenInvalidId):
		return "invalid claims"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	}
	return "invalid token"
}

// parseHeader decodes the JOSE header of a compact JWS with exactly three
// segments.
func parseHeader(raw string) (header, error) {
	var h header
	if strings.Count(raw, ".") != 2 {
		return h, errors.New("not a compact JWS")
	}
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return h, errors.New("header is not base64url")
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, errors.New("header is not a JSON object")
	}
	return h, nil
}

// accessTokenType reports whether typ names the RFC 9068 media type. Media
// types compare case-insensitively and "application/" may be omitted
// (RFC 7515 §4.1.9).
func accessTokenType(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}
