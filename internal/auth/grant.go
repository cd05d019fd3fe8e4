package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/token"
	"github.com/authbroker/authbroker/providers"
)

// MemberView is the member as clients see it in token responses.
type MemberView struct {
	ID            string `json:"id"`
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name,omitempty"`
	Avatar        string `json:"avatar,omitempty"`
	Role          string `json:"role"`
}

func viewOf(m store.Member) MemberView {
	return MemberView{ID: m.ID, Email: m.Email, EmailVerified: m.EmailVerified, Name: m.Name, Avatar: m.AvatarURL, Role: m.Role}
}

// TokenResponse is the successful answer of the token endpoints
// (RFC 6749 §5.1 plus refresh_expires_in and the member).
type TokenResponse struct {
	AccessToken      string     `json:"access_token"`
	TokenType        string     `json:"token_type"`
	ExpiresIn        int        `json:"expires_in"`
	RefreshToken     string     `json:"refresh_token"`
	RefreshExpiresIn int        `json:"refresh_expires_in"`
	Member           MemberView `json:"member"`
	// SessionID is for the handlers (cookie mode, logging); not serialised.
	SessionID string `json:"-"`
}

// adminCodePrefix namespaces the codes of logins that return to the admin
// page (the prefix goes into the hashed key, as with link codes): Redeem
// never finds them, and RedeemAdmin finds nothing else.
const adminCodePrefix = "admin:"

// Redeem trades an app's one-time code and its PKCE verifier for a new
// session and its token pair (POST /auth/token). The verifier is required:
// every login that delivers a code was started with a challenge (see
// CheckStart).
func (s *Service) Redeem(ctx context.Context, code, verifier, userAgent, ip string) (TokenResponse, error) {
	return s.redeem(ctx, "", code, verifier, userAgent, ip)
}

// RedeemAdmin is Redeem for the admin page's callback, over the codes of
// logins that returned there.
func (s *Service) RedeemAdmin(ctx context.Context, code, verifier, userAgent, ip string) (TokenResponse, error) {
	return s.redeem(ctx, adminCodePrefix, code, verifier, userAgent, ip)
}

func (s *Service) redeem(ctx context.Context, prefix, code, verifier, userAgent, ip string) (TokenResponse, error) {
	if code == "" {
		return TokenResponse{}, errInvalidRequest("code is required")
	}
	if len(code) > 256 {
		return TokenResponse{}, errInvalidGrant("the code is invalid, expired or already used", nil)
	}
	// Checked before the code is taken: a code presented without its
	// verifier (a stolen one) stays usable by the client that holds it.
	if verifier == "" {
		return TokenResponse{}, errInvalidRequest("code_verifier is required (PKCE)")
	}
	if !validPKCEValue(verifier) {
		return TokenResponse{}, errInvalidRequest("code_verifier must be 43-128 unreserved characters")
	}
	c, err := s.d.Codes.TakeCode(ctx, lookupKey(prefix+code))
	if errors.Is(err, store.ErrNotFound) {
		return TokenResponse{}, errInvalidGrant("the code is invalid, expired or already used", nil)
	}
	if err != nil {
		return TokenResponse{}, unavailable("take code", err)
	}
	// A code issued without a challenge cannot be tied to this client: an
	// injected code (RFC 9700 §4.5, PKCE downgrade), or one from before PKCE
	// was required. Refuse rather than sign the client into that account.
	if c.CodeChallenge == "" {
		return TokenResponse{}, errInvalidGrant("this code was not issued for a PKCE client", nil)
	}
	// RFC 7636 §4.6.
	if subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(c.CodeChallenge)) != 1 {
		return TokenResponse{}, errInvalidGrant("code_verifier does not match the code_challenge", nil)
	}
	m, err := s.activeMember(ctx, c.MemberID)
	if err != nil {
		return TokenResponse{}, err
	}
	ua, addr := c.UserAgent, c.IP
	if userAgent != "" {
		ua = userAgent
	}
	if ip != "" {
		addr = ip
	}
	return s.createSession(ctx, m, c.Provider, ua, addr, c.RevokeOthers)
}

// activeMember loads a member and refuses a disabled or deleted one.
func (s *Service) activeMember(ctx context.Context, id string) (store.Member, error) {
	m, err := s.d.MemberStore.GetMember(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Member{}, errInvalidGrant("the member no longer exists", nil)
	}
	if err != nil {
		return store.Member{}, unavailable("get member", err)
	}
	if m.Status != store.StatusActive {
		return store.Member{}, newErr(http.StatusBadRequest, CodeInvalidGrant, "the account is disabled", nil)
	}
	return m, nil
}

// createSession starts a session for m and issues its first token pair.
// With revokeOthers the member's other sessions end once this one exists.
func (s *Service) createSession(ctx context.Context, m store.Member, provider, userAgent, ip string, revokeOthers bool) (TokenResponse, error) {
	now := s.d.Now().UTC()
	sid := token.NewSessionID()
	rt, hash := token.NewRefresh(sid)
	sess := store.Session{
		ID: sid, MemberID: m.ID, Provider: provider, UserAgent: truncate(userAgent, 256), IP: ip,
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(s.d.Config.RefreshTokenTTL),
	}
	if err := s.d.Sessions.CreateSession(ctx, sess, hash); err != nil {
		return TokenResponse{}, unavailable("create session", err)
	}
	if revokeOthers {
		if err := s.revokeMember(ctx, m.ID, sid); err != nil {
			return TokenResponse{}, err
		}
	}
	s.log.InfoContext(ctx, "session.created", "member_id", m.ID, "session_id", sid, "provider", provider)
	return s.pair(m, sess, rt, now)
}

// pair issues an access token for sess and packages it with rt.
func (s *Service) pair(m store.Member, sess store.Session, rt string, now time.Time) (TokenResponse, error) {
	at, _, err := s.d.Issuer.Issue(token.Subject{MemberID: m.ID, SessionID: sess.ID, Role: m.Role, Email: m.Email, Name: m.Name})
	if err != nil {
		return TokenResponse{}, AsError(fmt.Errorf("issue access token: %w", err))
	}
	return TokenResponse{
		AccessToken:      at,
		TokenType:        "Bearer",
		ExpiresIn:        int(s.d.Issuer.TTL() / time.Second),
		RefreshToken:     rt,
		RefreshExpiresIn: max(0, int(sess.ExpiresAt.Sub(now)/time.Second)),
		Member:           viewOf(m),
		SessionID:        sess.ID,
	}, nil
}

// Refresh rotates a refresh token (RFC 6749 §6, RFC 9700 §4.14.2): one
// atomic store call decides between rotation, the grace answer for a
// concurrent or retried use, and theft (the session is revoked and its
// access tokens denied).
func (s *Service) Refresh(ctx context.Context, refreshToken, ip string) (TokenResponse, error) {
	if refreshToken == "" {
		return TokenResponse{}, errInvalidRequest("refresh_token is required")
	}
	sid, presented, err := token.ParseRefresh(refreshToken)
	if err != nil {
		s.obs.Refresh("invalid")
		return TokenResponse{}, errInvalidGrant("the refresh token is invalid", nil)
	}
	next, nextHash := token.NewRefresh(sid)
	sealed, err := token.Seal(refreshToken, next)
	if err != nil {
		return TokenResponse{}, AsError(err)
	}
	now := s.d.Now().UTC()
	res, err := s.d.Sessions.RotateRefresh(ctx, store.Rotation{
		SessionID: sid, Presented: presented, Next: nextHash, Sealed: sealed,
		Now: now, Grace: s.d.Config.RefreshReuseGrace, IP: ip,
	})
	switch {
	case errors.Is(err, store.ErrReused):
		s.obs.Refresh("reuse_revoked")
		s.log.WarnContext(ctx, "refresh.reuse_detected", "session_id", sid, "outcome", "session_revoked")
		if derr := s.deny(ctx, sid); derr != nil {
			return TokenResponse{}, derr
		}
		return TokenResponse{}, errInvalidGrant("the refresh token was already used; the session has been revoked", nil)
	case errors.Is(err, store.ErrNotFound):
		s.obs.Refresh("invalid")
		return TokenResponse{}, errInvalidGrant("the refresh token is invalid, expired or revoked", nil)
	case err != nil:
		s.obs.Refresh("error")
		return TokenResponse{}, unavailable("rotate refresh token", err)
	}
	if res.Graced {
		next, err = token.Unseal(refreshToken, res.Sealed)
		if err != nil {
			s.obs.Refresh("invalid")
			return TokenResponse{}, errInvalidGrant("the refresh token is invalid", err)
		}
		s.obs.Refresh("grace")
	} else {
		s.obs.Refresh("rotated")
	}
	m, err := s.d.MemberStore.GetMember(ctx, res.Session.MemberID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return TokenResponse{}, unavailable("get member", err)
	}
	if err != nil || m.Status != store.StatusActive {
		// Disabled or deleted since the session began: end it for good
		// (best effort: the refusal stands either way).
		_ = s.endSession(ctx, sid)
		return TokenResponse{}, errInvalidGrant("the account is disabled", nil)
	}
	return s.pair(m, res.Session, next, now)
}

// NativeRequest is POST /auth/{provider}/token: a provider token obtained by
// a native app or a frontend that ran OAuth itself.
type NativeRequest struct {
	Provider    string
	IDToken     string
	AccessToken string
	Nonce       string
	Force       bool
	UserAgent   string
	IP          string
}

// NativeLogin verifies a provider token with the provider, runs
// oauth2Process and returns our token pair.
func (s *Service) NativeLogin(ctx context.Context, r NativeRequest) (TokenResponse, error) {
	p, ok := s.d.Providers.Get(r.Provider)
	if !ok {
		return TokenResponse{}, ErrUnknownProvider
	}
	var (
		profile providers.Profile
		err     error
	)
	switch {
	case r.IDToken != "":
		v, ok := p.(providers.IDTokenVerifier)
		if !ok {
			return TokenResponse{}, errInvalidRequest(p.DisplayName() + " does not issue id_tokens; send access_token")
		}
		profile, err = v.VerifyIDToken(ctx, r.IDToken, r.Nonce)
	case r.AccessToken != "":
		ap, ok := p.(providers.AccessTokenProfiler)
		if !ok {
			return TokenResponse{}, errInvalidRequest(p.DisplayName() + " accepts only id_token here")
		}
		profile, err = ap.ProfileFromAccessToken(ctx, r.AccessToken)
	default:
		return TokenResponse{}, errInvalidRequest("id_token or access_token is required")
	}
	if err != nil {
		s.obs.Login(r.Provider, "provider_error")
		s.log.WarnContext(ctx, "native.verify_failed", "provider", p.Name(), "error", err.Error())
		if errors.Is(err, providers.ErrInvalidToken) {
			return TokenResponse{}, errInvalidGrant("the provider token was rejected", err)
		}
		var pe *providers.Error
		if errors.As(err, &pe) {
			return TokenResponse{}, errInvalidGrant("the provider token was rejected", err)
		}
		return TokenResponse{}, providerFailure(p, err)
	}
	m, revokeOthers, err := s.admit(ctx, p.Name(), profile, r.Force)
	if err != nil {
		return TokenResponse{}, err
	}
	return s.createSession(ctx, m, p.Name(), r.UserAgent, r.IP, revokeOthers)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
