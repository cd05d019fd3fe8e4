package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/member"
	"github.com/authbroker/authbroker/internal/session"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/providers"
)

// StartRequest is GET /auth/{provider}.
type StartRequest struct {
	Provider string
	ReturnTo string
	// CodeChallenge/Method are the SPA's own PKCE pair for the one-time code.
	CodeChallenge       string
	CodeChallengeMethod string
	Force               bool
	// Binding is the browser's existing state-binding cookie value, if any.
	Binding string
	// LinkMemberID is set when a signed-in member links another provider.
	LinkMemberID string
	// Reauth is the subject of an identity whose provider grant the vault
	// lost (the reauth_url of a 409 provider_reauth_required): the
	// provider is told which account to expect and, when no refresh token
	// is held, asked for consent again. It renews the grant only (see
	// finishReauth), so it needs no PKCE challenge.
	Reauth string
}

// StartResult tells the handler where to send the browser and which
// binding cookie value to (re)set.
type StartResult struct {
	RedirectURL string
	Binding     string
}

// CheckStart validates what a login start carries, before anything is
// stored: return_to on the allow-list, a well-formed S256 challenge, and a
// challenge at all whenever the login will end in a one-time code. Code
// delivery has no client authentication, so whoever redeems a code is a
// public client, and PKCE is what ties the code to the tab that started
// the login (RFC 9700 §2.1.1: required for public clients). The login page
// runs the same check, so an app learns of a missing challenge before its
// user signs in at a provider.
func (s *Service) CheckStart(r StartRequest) error {
	if r.ReturnTo != "" {
		if _, ok := s.ReturnPolicy().Check(r.ReturnTo); !ok {
			return apierror.InvalidRequest("return_to is not an allowed return URL")
		}
	}
	if r.CodeChallenge != "" || r.CodeChallengeMethod != "" {
		if r.CodeChallengeMethod != "S256" {
			return apierror.InvalidRequest("code_challenge_method must be S256")
		}
		if len(r.CodeChallenge) != 43 || !validPKCEValue(r.CodeChallenge) {
			return apierror.InvalidRequest("code_challenge must be a base64url S256 challenge")
		}
	}
	if r.CodeChallenge == "" && r.LinkMemberID == "" && r.Reauth == "" && s.deliversCode(r.ReturnTo) {
		return apierror.InvalidRequest("code_challenge and code_challenge_method=S256 are required: the one-time code is redeemed with its code_verifier (PKCE)")
	}
	return nil
}

// deliversCode reports whether a login returning to returnTo ends in a
// one-time code: always when it returns to the admin page (which redeems
// its codes itself, in either delivery mode), and in code delivery for any
// return URL. Without return_to the browser gets a page, never a code.
func (s *Service) deliversCode(returnTo string) bool {
	if returnTo == "" {
		return false
	}
	if _, admin := s.admin.Check(returnTo); admin {
		return true
	}
	return s.d.Policy.Delivery == DeliverCode
}

// StartLogin validates the request (CheckStart), stores the login state
// and returns the provider's authorize URL. Nothing is stored when
// validation fails.
func (s *Service) StartLogin(ctx context.Context, r StartRequest) (StartResult, error) {
	entry, ok := s.d.Providers.Entry(r.Provider)
	if !ok {
		return StartResult{}, ErrUnknownProvider
	}
	p := entry.Provider
	if err := s.CheckStart(r); err != nil {
		return StartResult{}, err
	}
	binding := r.Binding
	if len(r.Reauth) > 256 || (r.Reauth != "" && r.LinkMemberID != "") {
		return StartResult{}, apierror.InvalidRequest("reauth is not a subject")
	}
	if len(binding) < 43 || len(binding) > 64 {
		binding = randomToken(32)
	}
	state := randomToken(32)
	st := store.LoginState{
		Provider:      p.Name(),
		Binding:       lookupKey(binding),
		ReturnTo:      r.ReturnTo,
		CodeChallenge: r.CodeChallenge,
		Force:         r.Force,
		LinkMemberID:  r.LinkMemberID,
		Reauth:        r.Reauth,
		CreatedAt:     s.d.Now().UTC(),
		Nonce:         randomToken(24),
		// The callback finishes with this version of the provider's
		// configuration, even if an admin changes it meanwhile.
		ProviderVersion: entry.Version,
	}
	areq := providers.AuthRequest{State: state, Nonce: st.Nonce}
	if r.Reauth != "" {
		areq.LoginHint = r.Reauth
		areq.Consent = s.d.Vault.NeedsConsent(ctx, p.Name(), r.Reauth)
	}
	if entry.Kind.PKCE {
		st.PKCEVerifier = oauth2.GenerateVerifier()
		areq.CodeChallenge = oauth2.S256ChallengeFromVerifier(st.PKCEVerifier)
	}
	authURL, err := p.AuthCodeURL(ctx, areq)
	if err != nil {
		// Nothing stored yet: the provider cannot even be located.
		s.obs.Login(p.Name(), "provider_error")
		s.log.WarnContext(ctx, "login.start_failed", "provider", p.Name(), "error", err.Error())
		return StartResult{}, providerFailure(p, err)
	}
	if err := s.d.States.PutState(ctx, lookupKey(state), st, s.d.Policy.StateTTL); err != nil {
		return StartResult{}, apierror.Unavailable("store login state", err)
	}
	return StartResult{RedirectURL: authURL, Binding: binding}, nil
}

// FinishRequest is GET /auth/{provider}/callback.
type FinishRequest struct {
	Provider         string
	State            string
	Code             string
	Error            string
	ErrorDescription string
	Binding          string
	UserAgent        string
	IP               string
}

// FinishResult tells the handler how to answer the browser.
type FinishResult struct {
	// Redirect is where to send the browser (return_to with a code, or with
	// error parameters); empty means render the success page.
	Redirect string
	Member   store.Member
	Provider string
	// Tokens is set in cookie delivery mode: the handler sets the cookies.
	Tokens *TokenResponse
	// Linked is set when the login linked a provider to a signed-in member.
	Linked bool
}

// FinishLogin checks the state (single use, same browser, same provider),
// exchanges the code and ends the flow the state was started for: a link
// parked for confirmation, a reauth that renews a kept grant, or a
// sign-in (oauth2Process, then the result delivered to the app). Any
// failure before oauth2Process creates nothing.
func (s *Service) FinishLogin(ctx context.Context, r FinishRequest) (FinishResult, error) {
	st, p, err := s.takeState(ctx, r)
	if err != nil {
		return FinishResult{}, err
	}
	returnTo, _ := s.ReturnPolicy().Check(st.ReturnTo)
	if r.Error != "" {
		return s.refused(r, p, returnTo)
	}
	if r.Code == "" || len(r.Code) > 2048 {
		return FinishResult{}, apierror.InvalidRequest("the sign-in response has no code")
	}
	start := s.d.Now()
	profile, err := p.Exchange(ctx, providers.Callback{Code: r.Code, State: r.State, PKCEVerifier: st.PKCEVerifier, Nonce: st.Nonce})
	if err != nil {
		s.obs.Login(r.Provider, "provider_error")
		s.log.WarnContext(ctx, "login.exchange_failed", "provider", p.Name(), "error", err.Error(), "elapsed", s.d.Now().Sub(start).String())
		return FinishResult{}, providerFailure(p, err)
	}

	switch {
	case st.LinkMemberID != "":
		return s.pendLink(ctx, st, p, profile, returnTo)
	case st.Reauth != "":
		return s.finishReauth(ctx, st, p, profile, returnTo)
	}
	m, err := s.admit(ctx, p.Name(), profile, st.Force)
	if err != nil {
		e := apierror.As(err)
		// The app can offer "sign in here anyway" (force=true).
		if returnTo != nil && e.Code == apierror.CodeAlreadySignedIn {
			return FinishResult{Redirect: withParams(returnTo, "error", e.Code, "error_description", e.Description), Provider: p.Name(), Member: m}, nil
		}
		return FinishResult{}, e
	}
	return s.deliver(ctx, r, st, p, m, returnTo)
}

// takeState takes the login state of a callback, once, and checks that it
// belongs to this provider and this browser. It returns the provider as
// configured when the login started.
func (s *Service) takeState(ctx context.Context, r FinishRequest) (store.LoginState, providers.Provider, error) {
	if _, ok := s.d.Providers.Get(r.Provider); !ok {
		return store.LoginState{}, nil, ErrUnknownProvider
	}
	badState := func(desc string) (store.LoginState, providers.Provider, error) {
		s.obs.Login(r.Provider, "bad_state")
		return store.LoginState{}, nil, apierror.InvalidRequest(desc)
	}
	if r.State == "" || len(r.State) > 256 {
		return badState("the sign-in response has no valid state; start again")
	}
	// Take first: whatever happens next, this state can never be used again.
	st, err := s.d.States.TakeState(ctx, lookupKey(r.State))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return badState("this sign-in link has expired or was already used; start again")
	case err != nil:
		return store.LoginState{}, nil, apierror.Unavailable("take login state", err)
	}
	p, ok := s.d.Providers.Lookup(r.Provider, st.ProviderVersion)
	if !ok {
		return store.LoginState{}, nil, ErrUnknownProvider
	}
	// A state issued for another provider is a mix-up attempt (RFC 9700 §4.4).
	if st.Provider != p.Name() {
		return badState("the sign-in response does not belong to this provider")
	}
	// Login CSRF defence (RFC 9700 §4.7): the state is bound to the browser
	// that started the login.
	if r.Binding == "" || subtle.ConstantTimeCompare([]byte(lookupKey(r.Binding)), []byte(st.Binding)) != 1 {
		return badState("this sign-in was started in another browser; start again here")
	}
	return st, p, nil
}

// refused answers a callback carrying the provider's error: on the app's
// return URL when there is one, with a code of our known set and the
// provider's description cut short.
func (s *Service) refused(r FinishRequest, p providers.Provider, returnTo *url.URL) (FinishResult, error) {
	s.obs.Login(r.Provider, "denied")
	code := r.Error
	if code != apierror.CodeAccessDenied && code != "consent_required" && code != "login_required" {
		code = apierror.CodeAccessDenied
	}
	desc := r.ErrorDescription
	if len(desc) > 300 {
		desc = desc[:300]
	}
	if desc == "" {
		desc = "sign-in was cancelled at " + p.DisplayName()
	}
	if returnTo != nil {
		return FinishResult{Redirect: withParams(returnTo, "error", code, "error_description", desc), Provider: p.Name()}, nil
	}
	return FinishResult{}, apierror.New(http.StatusForbidden, code, desc, nil)
}

// deliver hands the admitted member's sign-in to where it was going: a
// one-time code on the return URL (always for the admin page, for apps in
// code delivery), or in cookie delivery a session whose tokens the handler
// sets as cookies. Without a return URL the browser gets our page.
func (s *Service) deliver(ctx context.Context, r FinishRequest, st store.LoginState, p providers.Provider, m store.Member, returnTo *url.URL) (FinishResult, error) {
	res := FinishResult{Member: m, Provider: p.Name()}
	switch {
	case returnTo != nil && s.deliversCode(st.ReturnTo):
		// The admin page's codes live in a namespace of their own: an
		// app's code never signs in to the admin page, nor an admin code
		// to an app.
		prefix := ""
		if _, toAdmin := s.admin.Check(st.ReturnTo); toAdmin {
			prefix = adminCodePrefix
		}
		code := randomToken(32)
		c := store.Code{MemberID: m.ID, Provider: p.Name(), CodeChallenge: st.CodeChallenge, UserAgent: r.UserAgent, IP: r.IP, RevokeOthers: st.Force, CreatedAt: s.d.Now().UTC()}
		if err := s.d.Codes.PutCode(ctx, lookupKey(prefix+code), c, s.d.Policy.CodeTTL); err != nil {
			return FinishResult{}, apierror.Unavailable("store one-time code", err)
		}
		res.Redirect = withParams(returnTo, "code", code)
	case s.d.Policy.Delivery == DeliverCookies:
		tr, err := s.d.Sessions.Start(ctx, session.Start{MemberID: m.ID, Provider: p.Name(), UserAgent: r.UserAgent, IP: r.IP, Force: st.Force})
		if err != nil {
			return FinishResult{}, err
		}
		res.Tokens = &tr
		if returnTo != nil {
			res.Redirect = returnTo.String()
		}
	}
	return res, nil
}

// admit is what every sign-in does once a provider has vouched for
// profile, in the browser flow and on the native path alike: oauth2Process,
// the member's other sessions brought up to date, and the early check of
// SESSION_POLICY=single_confirm (advisory: the session store decides
// atomically when the session is created; checking here lets the app hear
// already_signed_in on its return URL). It counts the outcome.
func (s *Service) admit(ctx context.Context, provider string, profile providers.Profile, force bool) (store.Member, error) {
	pr, err := s.d.Members.OAuth2Process(ctx, profile)
	switch {
	case errors.Is(err, member.ErrDisabled):
		s.obs.Login(provider, "disabled")
		return store.Member{}, apierror.New(http.StatusForbidden, apierror.CodeAccountDisabled, "this account is disabled; contact the administrator", err)
	case err != nil:
		s.obs.Login(provider, "error")
		return store.Member{}, apierror.Unavailable("oauth2Process", err)
	}
	if !pr.Created {
		// The sign-in may have changed what the member's other sessions
		// put in access tokens (a new email or name, ADMIN_EMAILS).
		if err := s.d.Sessions.UpdateClaims(ctx, pr.Member); err != nil {
			s.log.WarnContext(ctx, "login.update_session_claims_failed", "member_id", pr.Member.ID, "error", err.Error())
		}
	}
	if s.d.Sessions.AdmitsAlone() && !force {
		live, err := s.d.Sessions.HasLive(ctx, pr.Member.ID)
		if err != nil {
			return store.Member{}, err
		}
		if live {
			s.obs.Login(provider, "already_signed_in")
			return pr.Member, session.ErrAlreadySignedIn
		}
	}
	// The provider's tokens are a convenience for the app: a vault that
	// cannot keep them fails the token endpoint later, not this sign-in.
	if err := s.d.Vault.Keep(ctx, pr.Member.ID, profile); err != nil {
		s.log.WarnContext(ctx, "login.keep_provider_token_failed", "provider", provider, "member_id", pr.Member.ID, "error", err.Error())
	}
	s.log.InfoContext(ctx, "login.succeeded", "provider", provider, "member_id", pr.Member.ID, "created", pr.Created, "linked", pr.Linked)
	s.obs.Login(provider, "success")
	return pr.Member, nil
}

// providerFailure turns a provider error into a page-safe error: the
// provider's own error code and description when it sent one, never tokens.
func providerFailure(p providers.Provider, err error) *apierror.Error {
	var pe *providers.Error
	desc := p.DisplayName() + " did not complete the sign-in; try again"
	if errors.As(err, &pe) && pe.Description != "" {
		desc = p.DisplayName() + " said: " + pe.Description
	}
	if errors.Is(err, context.DeadlineExceeded) {
		desc = p.DisplayName() + " did not answer in time; try again"
	}
	return apierror.New(http.StatusBadGateway, apierror.CodeProviderError, desc, err)
}

// ReturnPolicy is the allow-list of return URLs.
func (s *Service) ReturnPolicy() ReturnPolicy { return s.ret }
