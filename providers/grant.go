package providers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Grant is what a provider handed the broker for a member: the provider's
// own access token, its refresh token when it issues one, when the access
// token expires and the scopes granted. The token vault (internal/vault)
// keeps it, sealed, for providers configured with STORE_TOKENS; it never
// goes into JSON, a log line or an error.
type Grant struct {
	AccessToken  string
	RefreshToken string
	TokenType    string
	// Lifetime is how long AccessToken works from the provider's answer
	// (expires_in); zero means it does not expire (GitHub OAuth-app
	// tokens). The vault stamps it on its own clock.
	Lifetime time.Duration
	// Scopes are the scopes granted: the token response's scope when it
	// has one, else the scopes requested (RFC 6749 §5.1: the response may
	// omit scope when it equals the request).
	Scopes []string
}

// TokenKeeper is implemented by providers whose tokens the vault can keep:
// renew them with the refresh token and revoke them at the provider.
type TokenKeeper interface {
	// Renew trades refreshToken for a fresh grant. A provider that rotates
	// refresh tokens (Kakao near expiry, GitHub every time) answers a new
	// one; the others answer none and the grant keeps refreshToken (the
	// x/oauth2 TokenSource rule). ErrGrantRevoked (wrapped) means the
	// provider will not renew it again: the member must sign in there.
	Renew(ctx context.Context, refreshToken string) (Grant, error)
	// Revoke ends the grant at the provider, so the app loses access to the
	// member's account there (unlink, member deletion, an admin's revoke).
	// An already-gone grant is success.
	Revoke(ctx context.Context, g Grant) error
}

// ErrGrantRevoked is returned (wrapped) by Renew when the provider says the
// grant is gone: refresh token expired, revoked, or consent withdrawn.
var ErrGrantRevoked = errors.New("the provider no longer honours this grant")

// grantOf turns an x/oauth2 token into a Grant; requested are the scopes
// the login asked for (the answer when the response names none). The
// lifetime is the provider's expires_in as given, not x/oauth2's Expiry
// (counted on time.Now), so the vault can stamp it on its own clock.
func grantOf(tok *oauth2.Token, requested []string) *Grant {
	if tok == nil {
		return nil
	}
	g := &Grant{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.Type()}
	switch {
	case tok.ExpiresIn > 0:
		g.Lifetime = time.Duration(tok.ExpiresIn) * time.Second
	case !tok.Expiry.IsZero():
		g.Lifetime = time.Until(tok.Expiry)
	}
	if s, _ := tok.Extra("scope").(string); strings.TrimSpace(s) != "" {
		// RFC 6749 says space-separated; GitHub separates with commas.
		g.Scopes = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	} else {
		g.Scopes = slices.Clone(requested)
	}
	return g
}

// renew runs the refresh-token grant (RFC 6749 §6) through x/oauth2 with
// the provider's client: TokenSource semantics, so a response without a
// refresh token keeps the one sent. gone recognises the provider's own
// ways of saying the grant will never renew again, besides RFC 6749's
// invalid_grant (nil: only that).
func (b *base) renew(ctx context.Context, conf *oauth2.Config, refreshToken string, requested []string, gone func(*oauth2.RetrieveError) bool) (Grant, error) {
	if refreshToken == "" {
		return Grant{}, fmt.Errorf("%s: %w: no refresh token is held", b.name, ErrGrantRevoked)
	}
	// An expired token makes the source refresh at once.
	src := conf.TokenSource(b.httpContext(ctx), &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)})
	tok, err := src.Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || gone != nil && gone(re)) {
			return Grant{}, fmt.Errorf("%s: refresh: %w (%s)", b.name, ErrGrantRevoked, re.ErrorCode)
		}
		// The refresh token travels in the request body, never the URL, so
		// the error text cannot carry it; the response body is dropped.
		return Grant{}, b.record(b.tokenError(err, refreshToken, nil))
	}
	g := grantOf(tok, requested)
	if g.RefreshToken == "" {
		g.RefreshToken = refreshToken
	}
	return *g, nil
}

// revokeRFC7009 posts token to a revocation endpoint (RFC 7009 §2.1), with
// the client authenticated the way the token endpoint takes it. 200 is
// success; so is 400 invalid_token (§2.2: an invalid token is already
// revoked, and Google answers it for a grant that is gone).
func (b *base) revokeRFC7009(ctx context.Context, endpoint string, conf *oauth2.Config, token, hint string) error {
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	basic := conf.Endpoint.AuthStyle == oauth2.AuthStyleInHeader && conf.ClientSecret != ""
	if !basic {
		form.Set("client_id", conf.ClientID)
		if conf.ClientSecret != "" {
			form.Set("client_secret", conf.ClientSecret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("%s: revoke: %w", b.name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(conf.ClientID), url.QueryEscape(conf.ClientSecret))
	}
	resp, err := b.do(req)
	if err != nil {
		return err
	}
	if resp.status == http.StatusOK || (resp.status == http.StatusBadRequest && bytes.Contains(resp.body, []byte(`"invalid_token"`))) {
		return nil
	}
	return b.statusError("revocation endpoint", resp.status)
}
