// Package session runs what happens to a session after sign-in: it starts
// one for an admitted member under SESSION_POLICY, refreshes it (one store
// call: rotation, replay or theft), lists and ends sessions, keeps their
// claims current, and denies the access tokens of ended sessions on every
// replica.
//
// A refresh reads no member: the session carries the claims its access
// tokens need (store.Session.Claims), and whatever changes a member's role,
// email or name updates its sessions (UpdateClaims) or ends them.
package session

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/token"
)

// Admission rules (SESSION_POLICY).
const (
	PolicyMultiple      = "multiple"
	PolicySingle        = "single"
	PolicySingleConfirm = "single_confirm"
)

// Policy is the resolved session configuration, built once at start-up.
type Policy struct {
	// Admission is SESSION_POLICY: PolicyMultiple, PolicySingle or
	// PolicySingleConfirm.
	Admission string
	// RefreshTTL is how long a session lives (REFRESH_TOKEN_TTL).
	RefreshTTL time.Duration
	// ReuseGrace is REFRESH_REUSE_GRACE (see store.Refresh).
	ReuseGrace time.Duration
	// RefreshLimit is the most refreshes one session may make per minute
	// (RATE_LIMIT_REFRESH); 0 turns the limit off.
	RefreshLimit int
}

// admission is the store rule for a new login.
func (p Policy) admission(force bool) store.Admission {
	switch {
	case p.Admission == PolicySingle, p.Admission == PolicySingleConfirm && force:
		return store.AdmitAlone
	case p.Admission == PolicySingleConfirm:
		return store.AdmitIfAlone
	}
	return store.AdmitAlongside
}

// refreshWindow is the window of RefreshLimit.
const refreshWindow = time.Minute

// Members is what the service reads of members: the member a new session
// is for, before and after it is created.
type Members interface {
	GetMember(ctx context.Context, id string) (store.Member, error)
}

// Observer counts refresh outcomes (rotated, replayed, reuse_revoked,
// invalid, rate_limited, error). Implemented by the metrics package.
type Observer interface {
	Refresh(outcome string)
}

// Deps is what a Service needs; app.Build makes it once.
type Deps struct {
	Store    store.Sessions
	Denylist store.Denylist
	// Deny is this replica's denylist copy: an ended session is denied here
	// at once, before the shared denylist reaches the other replicas.
	Deny    *DenyCache
	Members Members
	Codec   *Codec
	Issuer  *token.Issuer
	// Verify checks an access token (RFC 7009 revocation with an access
	// token); it returns the token's member and session.
	Verify func(ctx context.Context, raw string) (memberID, sessionID string, err error)
	Policy Policy
	Now    func() time.Time
	Logger *slog.Logger
	// Observe may be nil.
	Observe Observer
}

// Service runs sessions. It is safe for concurrent use and keeps no
// per-session state: any replica serves any session.
type Service struct {
	d   Deps
	obs Observer
}

type nopObserver struct{}

func (nopObserver) Refresh(string) {}

// New returns a Service over d.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{d: d, obs: d.Observe}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	return s
}

// MemberView is the member as clients see it in token responses. Refresh
// responses describe the member as the session knows it (no avatar: that
// is /auth/me's).
type MemberView struct {
	ID            string `json:"id"`
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name,omitempty"`
	Avatar        string `json:"avatar,omitempty"`
	Role          string `json:"role"`
}

// ViewOf is the view of a member.
func ViewOf(m store.Member) MemberView {
	return MemberView{ID: m.ID, Email: m.Email, EmailVerified: m.EmailVerified, Name: m.Name, Avatar: m.AvatarURL, Role: m.Role}
}

// Tokens is the successful answer of the token endpoints (RFC 6749 §5.1,
// plus refresh_expires_in and the member).
type Tokens struct {
	AccessToken      string     `json:"access_token"`
	TokenType        string     `json:"token_type"`
	ExpiresIn        int        `json:"expires_in"`
	RefreshToken     string     `json:"refresh_token"`
	RefreshExpiresIn int        `json:"refresh_expires_in"`
	Member           MemberView `json:"member"`
	// SessionID is for the handlers (cookie mode, logging); not serialised.
	SessionID string `json:"-"`
}

// ClaimsOf is what a session says about m.
func ClaimsOf(m store.Member) store.Claims {
	return store.Claims{Role: m.Role, Email: m.Email, EmailVerified: m.EmailVerified, Name: m.Name}
}

// Start is a new session for a member who has just signed in.
type Start struct {
	MemberID  string
	Provider  string
	UserAgent string
	IP        string
	// Force asks SESSION_POLICY=single_confirm to end the member's other
	// sessions instead of refusing.
	Force bool
}

// Start creates a session and its first token pair. SESSION_POLICY is
// decided by the store atomically with the creation, so concurrent logins
// cannot slip past single_confirm. The member is read before (a disabled or
// deleted member gets no session) and again after the session exists: an
// admin who disabled or changed the member in between either sees the new
// session when ending or updating the member's sessions, or is seen here.
func (s *Service) Start(ctx context.Context, r Start) (Tokens, error) {
	m, err := s.activeMember(ctx, r.MemberID)
	if err != nil {
		return Tokens{}, err
	}
	now := s.d.Now().UTC()
	sess := store.Session{
		ID: NewSessionID(), MemberID: m.ID, Provider: r.Provider, UserAgent: truncate(r.UserAgent, 256), IP: r.IP,
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(s.d.Policy.RefreshTTL), Claims: ClaimsOf(m),
	}
	ended, err := s.d.Store.CreateSession(ctx, sess, s.d.Policy.admission(r.Force))
	switch {
	case errors.Is(err, store.ErrSignedIn):
		return Tokens{}, ErrAlreadySignedIn
	case err != nil:
		return Tokens{}, apierror.Unavailable("create session", err)
	}
	if err := s.deny(ctx, ids(ended)...); err != nil {
		return Tokens{}, err
	}
	after, err := s.d.Members.GetMember(ctx, m.ID)
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && after.Status != store.StatusActive:
		_ = s.End(ctx, sess.ID)
		return Tokens{}, errDisabled
	case err != nil:
		_ = s.End(ctx, sess.ID)
		return Tokens{}, apierror.Unavailable("get member", err)
	case ClaimsOf(after) != sess.Claims:
		if err := s.d.Store.UpdateSessionClaims(ctx, m.ID, ClaimsOf(after)); err != nil {
			_ = s.End(ctx, sess.ID)
			return Tokens{}, apierror.Unavailable("update session claims", err)
		}
		sess.Claims, m = ClaimsOf(after), after
	}
	s.d.Logger.InfoContext(ctx, "session.created", "member_id", m.ID, "session_id", sess.ID, "provider", r.Provider, "ended", len(ended))
	return s.tokens(sess, 0, ViewOf(m), now)
}

// ErrAlreadySignedIn answers a single_confirm login while another session
// is live; the app can offer to sign in with force=true.
var ErrAlreadySignedIn = apierror.New(http.StatusConflict, apierror.CodeAlreadySignedIn,
	"you are already signed in on another device; sign in again with force=true to end that session", nil)

var errDisabled = apierror.New(http.StatusForbidden, apierror.CodeAccountDisabled, "this account is disabled; contact the administrator", nil)

// activeMember loads a member for a new session; a deleted or disabled one
// is refused.
func (s *Service) activeMember(ctx context.Context, id string) (store.Member, error) {
	m, err := s.d.Members.GetMember(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Member{}, apierror.InvalidGrant("the member no longer exists", nil)
	case err != nil:
		return store.Member{}, apierror.Unavailable("get member", err)
	case m.Status != store.StatusActive:
		return store.Member{}, errDisabled
	}
	return m, nil
}

// ParseRefresh authenticates a refresh token at the edge: its MAC is
// checked here, once, before any store is asked.
func (s *Service) ParseRefresh(raw string) (RefreshToken, error) {
	if raw == "" {
		return RefreshToken{}, apierror.InvalidRequest("refresh_token is required")
	}
	rt, err := s.d.Codec.Parse(raw)
	switch {
	case errors.Is(err, ErrLegacy):
		s.obs.Refresh("invalid")
		return RefreshToken{}, apierror.InvalidGrant("this refresh token was issued before the broker's upgrade; sign in again", nil)
	case err != nil:
		s.obs.Refresh("invalid")
		return RefreshToken{}, apierror.InvalidGrant("the refresh token is invalid", nil)
	}
	return rt, nil
}

// Refresh answers a refresh grant (RFC 6749 §6, RFC 9700 §4.14.2) with one
// store call: a rotation, a replay of the current token (the previous one
// presented again: a lost answer, a racing tab), or theft (the session is
// deleted and its access tokens denied). It reads no member.
func (s *Service) Refresh(ctx context.Context, rt RefreshToken, ip string) (Tokens, error) {
	now := s.d.Now().UTC()
	res, err := s.d.Store.Refresh(ctx, store.Refresh{
		SessionID: rt.SessionID, Counter: rt.Counter, Now: now, Grace: s.d.Policy.ReuseGrace, IP: ip,
		Limit: s.d.Policy.RefreshLimit, Window: refreshWindow,
	})
	var limited *store.LimitError
	switch {
	case errors.Is(err, store.ErrReused):
		s.obs.Refresh("reuse_revoked")
		s.d.Logger.WarnContext(ctx, "refresh.reuse_detected", "session_id", rt.SessionID, "outcome", "session_revoked")
		if derr := s.deny(ctx, rt.SessionID); derr != nil {
			return Tokens{}, derr
		}
		return Tokens{}, apierror.InvalidGrant("the refresh token was already used; the session has been revoked", nil)
	case errors.Is(err, store.ErrNotFound):
		s.obs.Refresh("invalid")
		return Tokens{}, apierror.InvalidGrant("the refresh token is invalid, expired or revoked", nil)
	case errors.As(err, &limited):
		s.obs.Refresh("rate_limited")
		return Tokens{}, apierror.RateLimited(limited.RetryAfter)
	case err != nil:
		s.obs.Refresh("error")
		return Tokens{}, apierror.Unavailable("refresh session", err)
	}
	if res.Rotated {
		s.obs.Refresh("rotated")
	} else {
		s.obs.Refresh("replayed")
	}
	c := res.Session.Claims
	view := MemberView{ID: res.Session.MemberID, Email: c.Email, EmailVerified: c.EmailVerified, Name: c.Name, Role: c.Role}
	return s.tokens(res.Session, res.Counter, view, now)
}

// tokens issues an access token for sess and packs it with the refresh
// token of counter.
func (s *Service) tokens(sess store.Session, counter uint64, m MemberView, now time.Time) (Tokens, error) {
	at, _, err := s.d.Issuer.Issue(token.Subject{MemberID: sess.MemberID, SessionID: sess.ID, Role: sess.Claims.Role, Email: sess.Claims.Email, Name: sess.Claims.Name})
	if err != nil {
		return Tokens{}, apierror.As(err)
	}
	return Tokens{
		AccessToken:      at,
		TokenType:        "Bearer",
		ExpiresIn:        int(s.d.Issuer.TTL() / time.Second),
		RefreshToken:     s.d.Codec.Format(sess.ID, counter),
		RefreshExpiresIn: max(0, int(sess.ExpiresAt.Sub(now)/time.Second)),
		Member:           m,
		SessionID:        sess.ID,
	}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func ids(ss []store.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}
