package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/internal/store"
)

// MeView is GET /auth/me.
type MeView struct {
	MemberView
	Status     string           `json:"status"`
	CreatedAt  time.Time        `json:"created_at"`
	Identities []store.Identity `json:"identities"`
	SessionID  string           `json:"session_id"`
}

// Me returns the caller's member with linked identities.
func (s *Service) Me(ctx context.Context, c *bearer.Claims) (MeView, error) {
	m, err := s.d.MemberStore.GetMember(ctx, c.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return MeView{}, newErr(http.StatusUnauthorized, CodeInvalidToken, "the member no longer exists", nil)
	}
	if err != nil {
		return MeView{}, unavailable("get member", err)
	}
	if m.Status != store.StatusActive {
		return MeView{}, newErr(http.StatusUnauthorized, CodeInvalidToken, "the account is disabled", nil)
	}
	ids, err := s.d.MemberStore.ListIdentities(ctx, m.ID)
	if err != nil {
		return MeView{}, unavailable("list identities", err)
	}
	return MeView{MemberView: viewOf(m), Status: m.Status, CreatedAt: m.CreatedAt, Identities: ids, SessionID: c.SessionID}, nil
}

// Unlink removes one of the caller's identities (never the last one).
func (s *Service) Unlink(ctx context.Context, c *bearer.Claims, provider, subject string) error {
	err := s.d.Members.Unlink(ctx, c.Subject, provider, subject)
	switch {
	case errors.Is(err, store.ErrConflict):
		return newErr(http.StatusConflict, "last_identity", "the last linked identity cannot be removed", nil)
	case errors.Is(err, store.ErrNotFound):
		return newErr(http.StatusNotFound, CodeNotFound, "no such linked identity", nil)
	case err != nil:
		return unavailable("unlink", err)
	}
	return nil
}

// Introspection is the RFC 7662 §2.2 response.
type Introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       string `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Jti       string `json:"jti,omitempty"`
	Sid       string `json:"sid,omitempty"`
	Role      string `json:"role,omitempty"`
	Email     string `json:"email,omitempty"`
}

// Introspect reports whether an access token is active (RFC 7662). Refresh
// tokens are never reported active: inspecting one would need the same
// store decision as using it, and resource servers never hold them.
func (s *Service) Introspect(ctx context.Context, tok string) Introspection {
	c, err := s.d.Verifier.Verify(ctx, tok)
	if err != nil {
		return Introspection{Active: false}
	}
	out := Introspection{Active: true, TokenType: "Bearer", Sub: c.Subject, Iss: c.Issuer, Jti: c.ID, Sid: c.SessionID, Role: c.Role, Email: c.Email}
	if len(c.Audience) > 0 {
		out.Aud = c.Audience[0]
	}
	if c.ExpiresAt != nil {
		out.Exp = c.ExpiresAt.Unix()
	}
	if c.IssuedAt != nil {
		out.Iat = c.IssuedAt.Unix()
	}
	return out
}
