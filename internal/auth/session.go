package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/token"
)

// denyLeeway covers verifiers that accept a token slightly past its exp.
const denyLeeway = bearer.MaxLeeway

// deny puts sessions on the access-token denylist until every access token
// they may hold has expired, locally at once and for every other replica
// through the shared denylist.
func (s *Service) deny(ctx context.Context, sids ...string) error {
	until := s.d.Now().UTC().Add(s.d.Issuer.TTL() + denyLeeway)
	ds := make([]store.Denied, 0, len(sids))
	for _, sid := range sids {
		ds = append(ds, store.Denied{SessionID: sid, Until: until})
	}
	if s.d.DenyCache != nil {
		s.d.DenyCache.AddAll(ds)
	}
	for _, d := range ds {
		if err := s.d.Denylist.Deny(ctx, d); err != nil {
			return unavailable("deny session", err)
		}
	}
	return nil
}

// endSession deletes one session (already gone is fine: the outcome is the
// same) and denies its access tokens.
func (s *Service) endSession(ctx context.Context, sid string) error {
	if _, err := s.d.Sessions.RevokeSession(ctx, sid); err != nil && !errors.Is(err, store.ErrNotFound) {
		return unavailable("revoke session", err)
	}
	return s.deny(ctx, sid)
}

// revokeMember ends every session of memberID except keep.
func (s *Service) revokeMember(ctx context.Context, memberID, keep string) error {
	gone, err := s.d.Sessions.RevokeMemberSessions(ctx, memberID, keep)
	sids := make([]string, 0, len(gone))
	for _, g := range gone {
		sids = append(sids, g.ID)
	}
	// Deny what was deleted even when the revoke failed part-way (a Redis
	// Cluster node down): those sessions are gone, their tokens must be too.
	if derr := s.deny(ctx, sids...); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return unavailable("revoke sessions", err)
	}
	return nil
}

// RevokeAll ends every session of a member (admin disable, member delete).
func (s *Service) RevokeAll(ctx context.Context, memberID string) error {
	return s.revokeMember(ctx, memberID, "")
}

// Logout scopes (BRIEF §2).
const (
	ScopeLocal  = "local"
	ScopeOthers = "others"
	ScopeGlobal = "global"
)

// Logout ends the caller's session (local), every other session of the
// member (others) or all of them (global). Access tokens of ended sessions
// are refused at once by every replica.
func (s *Service) Logout(ctx context.Context, c *bearer.Claims, scope string) error {
	switch scope {
	case "", ScopeLocal:
		err := s.endSession(ctx, c.SessionID)
		if err == nil {
			s.log.InfoContext(ctx, "session.logout", "member_id", c.Subject, "session_id", c.SessionID, "scope", ScopeLocal)
		}
		return err
	case ScopeOthers:
		return s.revokeMember(ctx, c.Subject, c.SessionID)
	case ScopeGlobal:
		return s.revokeMember(ctx, c.Subject, "")
	default:
		return errInvalidRequest("scope must be local, others or global")
	}
}

// SessionView is a session as its member sees it.
type SessionView struct {
	store.Session
	Current bool `json:"current"`
}

// Sessions lists the member's live sessions, marking the caller's own.
func (s *Service) Sessions(ctx context.Context, c *bearer.Claims) ([]SessionView, error) {
	list, err := s.d.Sessions.ListSessions(ctx, c.Subject)
	if err != nil {
		return nil, unavailable("list sessions", err)
	}
	out := make([]SessionView, 0, len(list))
	for _, ss := range list {
		out = append(out, SessionView{Session: ss, Current: ss.ID == c.SessionID})
	}
	return out, nil
}

// EndSession ends one session of memberID; another member's session is
// reported as not found so ids cannot be probed.
func (s *Service) EndSession(ctx context.Context, memberID, sid string) error {
	ss, err := s.d.Sessions.GetSession(ctx, sid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && memberID != "" && ss.MemberID != memberID) {
		return newErr(http.StatusNotFound, CodeNotFound, "no such session", nil)
	}
	if err != nil {
		return unavailable("get session", err)
	}
	return s.endSession(ctx, sid)
}

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

// Revoke implements RFC 7009: a refresh token ends its session, an access
// token ends its session too; anything else is ignored (the endpoint
// answers 200 either way, §2.2). token_type_hint is not needed: the two
// kinds cannot be mistaken for each other, so both are simply tried (§2.1).
func (s *Service) Revoke(ctx context.Context, tok string) error {
	if tok == "" {
		return errInvalidRequest("token is required")
	}
	if sid, hash, err := token.ParseRefresh(tok); err == nil {
		// Proving possession without a "check" primitive: rotate to a
		// throwaway hash. Success means tok was this session's refresh
		// token; either way the chain is dead afterwards.
		_, err := s.d.Sessions.RotateRefresh(ctx, store.Rotation{
			SessionID: sid, Presented: hash, Next: token.Hash(randomToken(32)),
			Now: s.d.Now().UTC(), Grace: s.d.Config.RefreshReuseGrace,
		})
		switch {
		case err == nil:
			return s.endSession(ctx, sid)
		case errors.Is(err, store.ErrReused):
			return s.deny(ctx, sid) // the store already deleted it
		case errors.Is(err, store.ErrNotFound):
			return nil
		default:
			return unavailable("revoke", err)
		}
	}
	if c, err := s.d.Verifier.Verify(ctx, tok); err == nil {
		return s.endSession(ctx, c.SessionID)
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
