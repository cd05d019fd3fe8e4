package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authbroker/authbroker/internal/jose"
)

// Subject is who an access token is for.
type Subject struct {
	MemberID  string
	SessionID string
	Role      string
	Email     string
	Name      string
}

// Issuer signs access tokens. It is safe for concurrent use.
type Issuer struct {
	keys     *Keyset
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// NewIssuer returns an Issuer signing with keys' current key. issuer is the
// broker's BASE_URL (the iss verifiers expect and the issuer of the
// discovery document), audience JWT_AUDIENCE, ttl ACCESS_TOKEN_TTL, now the
// clock (time.Now when nil). It panics on a nil Keyset, empty issuer or
// audience, or a non-positive ttl: those are wiring mistakes caught at start.
func NewIssuer(keys *Keyset, issuer, audience string, ttl time.Duration, now func() time.Time) *Issuer {
	if keys == nil || issuer == "" || audience == "" || ttl <= 0 {
		panic("token: NewIssuer needs keys, issuer, audience and a positive ttl")
	}
	if now == nil {
		now = time.Now
	}
	return &Issuer{keys: keys, issuer: issuer, audience: audience, ttl: ttl, now: now}
}

// TTL is the lifetime of the tokens this Issuer signs.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Issue signs an access token for s. The header carries typ "at+jwt"
// (RFC 9068 §2.1, RFC 8725 §3.11) and the signing key's kid; the claims are
// iss, sub (member id), aud, exp, iat, nbf, a random 128-bit jti (RFC 9068
// §2.2), sid, role, and email/name when known. It returns the compact
// token and the claims it holds.
func (i *Issuer) Issue(s Subject) (string, jose.Claims, error) {
	if s.MemberID == "" || s.SessionID == "" {
		return "", jose.Claims{}, errors.New("token: issue: member id and session id are required")
	}
	now := i.now()
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	claims := jose.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Subject:   s.MemberID,
			Audience:  jwt.ClaimStrings{i.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(i.ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		},
		SessionID: s.SessionID,
		Role:      s.Role,
		Email:     s.Email,
		Name:      s.Name,
		ClientID:  i.audience,
	}
	t := jwt.NewWithClaims(i.keys.method, claims)
	t.Header["typ"] = jose.TokenType
	t.Header["kid"] = i.keys.kid
	raw, err := t.SignedString(i.keys.signer)
	if err != nil {
		return "", jose.Claims{}, fmt.Errorf("token: sign %s: %w", i.keys.alg, err)
	}
	return raw, claims, nil
}
