package login

import (
	"context"
	"crypto/subtle"
	"errors"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/session"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/providers"
)

// MemberView is the member as clients see it in token responses.
type MemberView = session.MemberView

// TokenResponse is the successful answer of the token endpoints.
type TokenResponse = session.Tokens

func viewOf(m store.Member) MemberView { return session.ViewOf(m) }

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
		return TokenResponse{}, apierror.InvalidRequest("code is required")
	}
	if len(code) > 256 {
		return TokenResponse{}, apierror.InvalidGrant("the code is invalid, expired or already used", nil)
	}
	// Checked before the code is taken: a code presented without its
	// verifier (a stolen one) stays usable by the client that holds it.
	if verifier == "" {
		return TokenResponse{}, apierror.InvalidRequest("code_verifier is required (PKCE)")
	}
	if !validPKCEValue(verifier) {
		return TokenResponse{}, apierror.InvalidRequest("code_verifier must be 43-128 unreserved characters")
	}
	c, err := s.d.Codes.TakeCode(ctx, lookupKey(prefix+code))
	if errors.Is(err, store.ErrNotFound) {
		return TokenResponse{}, apierror.InvalidGrant("the code is invalid, expired or already used", nil)
	}
	if err != nil {
		return TokenResponse{}, apierror.Unavailable("take code", err)
	}
	// A code issued without a challenge cannot be tied to this client: an
	// injected code (RFC 9700 §4.5, PKCE downgrade), or one from before PKCE
	// was required. Refuse rather than sign the client into that account.
	if c.CodeChallenge == "" {
		return TokenResponse{}, apierror.InvalidGrant("this code was not issued for a PKCE client", nil)
	}
	// RFC 7636 §4.6.
	if subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(c.CodeChallenge)) != 1 {
		return TokenResponse{}, apierror.InvalidGrant("code_verifier does not match the code_challenge", nil)
	}
	ua, addr := c.UserAgent, c.IP
	if userAgent != "" {
		ua = userAgent
	}
	if ip != "" {
		addr = ip
	}
	return s.d.Sessions.Start(ctx, session.Start{MemberID: c.MemberID, Provider: c.Provider, UserAgent: ua, IP: addr, Force: c.RevokeOthers})
}

// activeMember loads a member and refuses a disabled or deleted one.
func (s *Service) activeMember(ctx context.Context, id string) (store.Member, error) {
	m, err := s.d.MemberStore.GetMember(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Member{}, apierror.InvalidGrant("the member no longer exists", nil)
	}
	if err != nil {
		return store.Member{}, apierror.Unavailable("get member", err)
	}
	if m.Status != store.StatusActive {
		return store.Member{}, apierror.New(400, apierror.CodeInvalidGrant, "the account is disabled", nil)
	}
	return m, nil
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
			return TokenResponse{}, apierror.InvalidRequest(p.DisplayName() + " does not issue id_tokens; send access_token")
		}
		profile, err = v.VerifyIDToken(ctx, r.IDToken, r.Nonce)
	case r.AccessToken != "":
		ap, ok := p.(providers.AccessTokenProfiler)
		if !ok {
			return TokenResponse{}, apierror.InvalidRequest(p.DisplayName() + " accepts only id_token here")
		}
		profile, err = ap.ProfileFromAccessToken(ctx, r.AccessToken)
	default:
		return TokenResponse{}, apierror.InvalidRequest("id_token or access_token is required")
	}
	if err != nil {
		s.obs.Login(r.Provider, "provider_error")
		s.log.WarnContext(ctx, "native.verify_failed", "provider", p.Name(), "error", err.Error())
		if errors.Is(err, providers.ErrInvalidToken) {
			return TokenResponse{}, apierror.InvalidGrant("the provider token was rejected", err)
		}
		var pe *providers.Error
		if errors.As(err, &pe) {
			return TokenResponse{}, apierror.InvalidGrant("the provider token was rejected", err)
		}
		return TokenResponse{}, providerFailure(p, err)
	}
	m, err := s.admit(ctx, p.Name(), profile, r.Force)
	if err != nil {
		return TokenResponse{}, err
	}
	return s.d.Sessions.Start(ctx, session.Start{MemberID: m.ID, Provider: p.Name(), UserAgent: r.UserAgent, IP: r.IP, Force: r.Force})
}
