package login

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/providers"
)

// Account linking runs in three steps so that a link can only ever join an
// account to the member who is signed in *in the browser that signed in at
// the provider*:
//
//  1. LinkURL (bearer): a one-time URL that starts a login at the provider.
//  2. FinishLogin: the provider account is not linked yet; it is parked
//     under a one-time link_result handed to the app's return_to.
//  3. CompleteLink (bearer): the app confirms; the parked account is linked
//     only if the caller is the member who asked for it.
//
// Linking in step 2 directly would let anyone send a victim through their
// own link URL and attach the victim's provider account to their member.
//
// Link codes and parked results are records of their own in the one-time
// store (store.LinkCode, store.PendingLink), each kind in its own key
// space, so a link code can never be redeemed as a login code or the other
// way round.

// LinkURL returns a one-time URL on our origin that starts a login at
// provider whose identity will be offered for linking to the caller's
// member. return_to (required) receives ?link_result=… to confirm.
func (s *Service) LinkURL(ctx context.Context, memberID, provider, returnTo string) (string, error) {
	if _, ok := s.d.Providers.Get(provider); !ok {
		return "", ErrUnknownProvider
	}
	if _, ok := s.ret.Check(returnTo); !ok {
		return "", apierror.InvalidRequest("return_to is required and must be an allowed return URL")
	}
	code := randomToken(32)
	if err := s.d.Codes.PutLinkCode(ctx, lookupKey(code), store.LinkCode{MemberID: memberID, Provider: provider, CreatedAt: s.d.Now().UTC()}, s.d.Policy.CodeTTL); err != nil {
		return "", apierror.Unavailable("store link code", err)
	}
	q := url.Values{"link_code": {code}, "return_to": {returnTo}}
	return s.d.Policy.BaseURL + "/auth/" + provider + "?" + q.Encode(), nil
}

// TakeLinkCode redeems a link code for provider, returning the member id.
func (s *Service) TakeLinkCode(ctx context.Context, code, provider string) (string, error) {
	c, err := s.d.Codes.TakeLinkCode(ctx, lookupKey(code))
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Provider != provider) {
		return "", apierror.InvalidRequest("the link request has expired or was already used")
	}
	if err != nil {
		return "", apierror.Unavailable("take link code", err)
	}
	if _, err := s.activeMember(ctx, c.MemberID); err != nil {
		return "", err
	}
	return c.MemberID, nil
}

// pendLink parks the provider account of a finished link flow and sends
// the browser back to the app to confirm it.
func (s *Service) pendLink(ctx context.Context, st store.LoginState, p providers.Provider, profile providers.Profile, returnTo *url.URL) (FinishResult, error) {
	if returnTo == nil {
		return FinishResult{}, apierror.InvalidRequest("a link flow needs a return URL")
	}
	raw, err := json.Marshal(profile)
	if err != nil {
		return FinishResult{}, apierror.As(err)
	}
	// The grant is not in raw (Profile.Grant is never serialized): it is
	// parked sealed beside it.
	grant, err := s.d.Vault.Park(profile)
	if err != nil {
		return FinishResult{}, apierror.As(err)
	}
	result := randomToken(32)
	c := store.PendingLink{MemberID: st.LinkMemberID, Provider: p.Name(), Profile: raw, Grant: grant, CreatedAt: s.d.Now().UTC()}
	if err := s.d.Codes.PutPendingLink(ctx, lookupKey(result), c, s.d.Policy.CodeTTL); err != nil {
		return FinishResult{}, apierror.Unavailable("store pending link", err)
	}
	s.obs.Login(p.Name(), "link_pending")
	return FinishResult{Redirect: withParams(returnTo, "link_result", result), Provider: p.Name()}, nil
}

// CompleteLink links the provider account parked under result to the
// caller, who must be the member that started the link.
func (s *Service) CompleteLink(ctx context.Context, memberID, result string) (store.Identity, error) {
	if result == "" || len(result) > 256 {
		return store.Identity{}, apierror.InvalidRequest("link_result is required")
	}
	pending, err := s.d.Codes.TakePendingLink(ctx, lookupKey(result))
	if errors.Is(err, store.ErrNotFound) {
		return store.Identity{}, apierror.InvalidGrant("the link result is invalid, expired or already used", nil)
	}
	if err != nil {
		return store.Identity{}, apierror.Unavailable("take pending link", err)
	}
	if pending.MemberID != memberID {
		s.log.WarnContext(ctx, "link.foreign_result", "member_id", memberID)
		return store.Identity{}, apierror.New(http.StatusForbidden, apierror.CodeLinkMismatch, "this link was started by another account", nil)
	}
	var profile providers.Profile
	if err := json.Unmarshal(pending.Profile, &profile); err != nil {
		return store.Identity{}, apierror.As(err)
	}
	if profile.Grant, err = s.d.Vault.Unpark(profile, pending.Grant); err != nil {
		// Linking still works; the app's token call will ask for a reauth.
		s.log.WarnContext(ctx, "link.unpark_provider_token_failed", "provider", profile.Provider, "error", err.Error())
	}
	id, err := s.d.Members.Link(ctx, memberID, profile)
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.Identity{}, apierror.New(http.StatusConflict, apierror.CodeIdentityInUse, "this "+profile.Provider+" account is already linked to another member", err)
	case err != nil:
		return store.Identity{}, apierror.As(err)
	}
	if err := s.d.Vault.Keep(ctx, memberID, profile); err != nil {
		s.log.WarnContext(ctx, "link.keep_provider_token_failed", "provider", profile.Provider, "member_id", memberID, "error", err.Error())
	}
	s.obs.Login(profile.Provider, "linked")
	s.log.InfoContext(ctx, "link.completed", "member_id", memberID, "provider", profile.Provider)
	return id, nil
}
