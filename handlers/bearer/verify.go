package bearer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxLeeway is the most clock skew Verify tolerates on exp, nbf and iat
// (RFC 7519 §4.1.4 allows "a small leeway"). It bounds how long past exp a
// token can still be accepted, which is why the broker keeps a revoked
// session on its denylist this long after the session's last token expires.
const MaxLeeway = 30 * time.Second

// maxTokenBytes bounds the work an unauthenticated caller can cause. Our
// tokens are well under 1 KiB (RS256 with a long name is the largest).
const maxTokenBytes = 8 << 10

// Verifier checks authbroker access tokens. Its zero value is unusable:
// Keys, Issuer and Audience are required (a verifier without them fails
// closed, refusing every token). A Verifier is safe for concurrent use; set
// its fields before the first call.
type Verifier struct {
	// Keys resolves the key for a token's kid.
	Keys KeySource
	// Issuer and Audience must equal the token's iss and be one of its aud
	// values (RFC 9068 §4, RFC 8725 §3.8, §3.9).
	Issuer, Audience string
	// Leeway tolerates clock skew on exp, nbf and iat. Zero means
	// MaxLeeway; negative means none; values above MaxLeeway are capped.
	Leeway time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Revoked reports whether a token's session has been revoked (or the
	// token must be refused for another reason known to the caller, such as
	// the broker's Redis having lost the logouts made before it was issued);
	// such tokens are invalid even before they expire. It is called on every
	// request, so it must be an in-memory lookup (see session.DenyCache in the
	// broker).
	Revoked func(c *Claims) bool
	// Cache, when set, skips the signature check for tokens that already
	// passed it (see Cache); expiry and Revoked are still checked each time.
	Cache *Cache
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
	if v == nil || v.Keys == nil || v.Issuer == "" || v.Audience == "" {
		return nil, invalid("verifier not configured", nil)
	}
	if raw == "" {
		return nil, invalid("missing token", nil)
	}
	if len(raw) > maxTokenBytes {
		return nil, invalid("token too large", nil)
	}
	if v.Cache != nil {
		if c, ok := v.Cache.get(raw, v.now()(), v.leeway()); ok {
			if v.Revoked != nil && v.Revoked(c) {
				return nil, invalid("session revoked", nil)
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
	key, alg, err := v.Keys.VerificationKey(ctx, h.Kid)
	switch {
	case errors.Is(err, ErrUnknownKey):
		return nil, invalid("unknown key id", err)
	case err != nil:
		return nil, invalid("signing key unavailable", err)
	case key == nil || !supportedAlg(alg):
		return nil, invalid("signing key unavailable", nil)
	case h.Alg != alg:
		return nil, invalid("unexpected signing algorithm", nil)
	}

	now := v.now()
	opts := v.claimOptions(now)
	// WithValidMethods repeats the pin above inside the library, so the
	// rule holds even if the header check were ever loosened.
	opts = append(opts, jwt.WithValidMethods([]string{alg}), jwt.WithStrictDecoding())
	var c Claims
	_, err = jwt.NewParser(opts...).ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) {
		return key, nil
	})
	expired := false
	if err != nil {
		if !v.onlyExpired(err, &c) {
			return nil, invalid(reasonOf(err), err)
		}
		expired = true
	}
	if c.Subject == "" {
		return nil, invalid("missing sub", nil)
	}
	if c.SessionID == "" {
		return nil, invalid("missing sid", nil)
	}
	if v.Revoked != nil && v.Revoked(&c) {
		return nil, invalid("session revoked", nil)
	}
	if expired {
		return nil, &Error{kind: ErrExpired, Reason: "token expired", cause: err}
	}
	if v.Cache != nil {
		v.Cache.put(raw, &c, now())
	}
	return &c, nil
}

func (v *Verifier) now() func() time.Time {
	if v.Now != nil {
		return v.Now
	}
	return time.Now
}

func (v *Verifier) leeway() time.Duration {
	switch {
	case v.Leeway == 0, v.Leeway > MaxLeeway:
		return MaxLeeway
	case v.Leeway < 0:
		return 0
	}
	return v.Leeway
}

// claimOptions are the registered-claim rules (golang-jwt checks iss and
// aud only when asked, and exp only when required).
func (v *Verifier) claimOptions(now func() time.Time) []jwt.ParserOption {
	return []jwt.ParserOption{
		jwt.WithIssuer(v.Issuer),
		jwt.WithAudience(v.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway()),
		jwt.WithTimeFunc(now),
	}
}

// onlyExpired reports whether err says the signature was good and exp is
// the one failed claim: the claims are checked again as of just before
// their own exp, where every rule but expiry still applies. Doing it this
// way does not depend on how the library joins several claim errors.
func (v *Verifier) onlyExpired(err error, c *Claims) bool {
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
