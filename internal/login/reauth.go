package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/providers"
)

// finishReauth ends a sign-in started from a reauth_url (the token vault's
// 409 provider_reauth_required): the provider's new grant is kept for the
// identity and the browser goes back to the app with
// ?reconnected={provider}. No session is started and no code issued (the
// app's own session is untouched), which is why such a start needs no PKCE
// challenge.
//
// Only the identity named in the URL is renewed, and only when the account
// that signed in at the provider is that identity: whoever follows a reauth
// URL can at most renew the grant of their own provider account, with
// their own consent there.
func (s *Service) finishReauth(ctx context.Context, st store.LoginState, p providers.Provider, profile providers.Profile, returnTo *url.URL) (FinishResult, error) {
	// refuse answers on the app's return URL when there is one, as a
	// cancelled sign-in is.
	refuse := func(desc string) (FinishResult, error) {
		s.obs.Login(p.Name(), "reauth_refused")
		if returnTo != nil {
			return FinishResult{Redirect: withParams(returnTo, "error", apierror.CodeAccessDenied, "error_description", desc), Provider: p.Name()}, nil
		}
		return FinishResult{}, apierror.New(http.StatusForbidden, apierror.CodeAccessDenied, desc, nil)
	}
	if profile.Subject != st.Reauth {
		return refuse("you signed in at " + p.DisplayName() + " with another account than the one to reconnect")
	}
	id, err := s.d.MemberStore.FindIdentity(ctx, p.Name(), profile.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return refuse("this " + p.DisplayName() + " account is not linked to any member")
	}
	if err != nil {
		return FinishResult{}, apierror.Unavailable("find identity", err)
	}
	m, err := s.activeMember(ctx, id.MemberID)
	if err != nil {
		return FinishResult{}, err
	}
	if err := s.d.Vault.Keep(ctx, id.MemberID, profile); err != nil {
		return FinishResult{}, apierror.Unavailable("keep provider token", err)
	}
	s.obs.Login(p.Name(), "reauth")
	s.log.InfoContext(ctx, "login.reauth", "provider", p.Name(), "member_id", id.MemberID)
	res := FinishResult{Member: m, Provider: p.Name()}
	if returnTo != nil {
		res.Redirect = withParams(returnTo, "reconnected", p.Name())
	}
	return res, nil
}
