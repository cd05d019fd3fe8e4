package providers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/authbroker/authbroker/internal/config"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDC is an OpenID Connect provider configured by discovery: the generic
// "oidc" provider (any issuer: Keycloak, Auth0, Okta, Entra ID, Dex, …) and
// Google, which is the same protocol with fixed defaults (see google.go).
//
// Why it is written the way it is:
//   - The id_token is verified with go-oidc (signature against the
//     issuer's JWKS, iss, aud = our client id, exp). go-oidc does not
//     check the nonce (OpenID Connect Core 1.0 §3.1.3.7 step 11 leaves it
//     to the client), so we compare it ourselves, in constant time.
//   - email_verified is honoured as sent; an absent claim means unverified,
//     so linking by email never trusts an issuer that does not assert it.
//   - When the id_token has no email (some issuers put only sub in it), the
//     UserInfo endpoint fills the gap, used only when its sub matches the
//     id_token's (Core §5.3.2: otherwise the response must not be used).
//   - The client authentication method comes from discovery
//     (token_endpoint_auth_methods_supported), never x/oauth2's auto-detect.
//
// It implements IDTokenVerifier for the native path. It deliberately does
// not implement AccessTokenProfiler: an access token carries no audience
// that UserInfo checks, so any other application the user has signed in to
// at the same issuer could replay its token here and be taken for the user
// (token substitution). Native apps send the id_token instead.
type OIDC struct {
	base
	cfg    config.Provider
	scopes []string
	disc   *discovery
}

// NewOIDC builds the generic provider from OIDC_ISSUER, OIDC_CLIENT_ID,
// OIDC_CLIENT_SECRET (optional: public clients use PKCE alone) and
// OIDC_NAME (the button text, default "Single sign-on").
func NewOIDC(cfg config.Provider, o Options) (*OIDC, error) {
	if cfg.Issuer == "" {
		return nil, config.Problems{"OIDC_ISSUER: required when OIDC_CLIENT_ID is set"}
	}
	display := cfg.Name
	if display == "" {
		display = "Single sign-on"
	}
	return newOIDC("oidc", display, "OIDC_", cfg, o)
}

func newOIDC(name, display, prefix string, cfg config.Provider, o Options) (*OIDC, error) {
	if err := checkURLs(prefix, cfg); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	p := &OIDC{base: newBase(name, display, o, ""), cfg: cfg, scopes: oidcScopes(cfg.Scopes)}
	p.disc = newDiscovery(cfg.Issuer, &p.base)
	return p, nil
}

// oidcScopes is the configured scope list (default openid email profile),
// always including openid: without it there is no id_token to verify.
func oidcScopes(configured []string) []string {
	scopes := []string{"openid", "email", "profile"}
	if len(configured) > 0 {
		scopes = slices.Clone(configured)
	}
	if !slices.Contains(scopes, "openid") {
		scopes = append([]string{"openid"}, scopes...)
	}
	return scopes
}

// PKCE reports true: every OIDC provider we target accepts S256, and one
// that ignores the parameters loses nothing (RFC 7636 §4.5).
func (p *OIDC) PKCE() bool { return true }

// Scopes are the scopes requested at the authorize endpoint.
func (p *OIDC) Scopes() []string { return slices.Clone(p.scopes) }

// Discover fetches the discovery document now (it is otherwise fetched at
// first use), so a broken issuer shows up on the admin page early.
func (p *OIDC) Discover(ctx context.Context) error {
	_, _, err := p.disc.get(ctx)
	return err
}

func (p *OIDC) oauthConfig(prov *oidc.Provider, meta discoveryMeta) *oauth2.Config {
	ep := prov.Endpoint()
	if p.cfg.AuthURL != "" {
		ep.AuthURL = p.cfg.AuthURL
	}
	if p.cfg.TokenURL != "" {
		ep.TokenURL = p.cfg.TokenURL
	}
	ep.AuthStyle = meta.authStyle(p.cfg.ClientSecret != "")
	return &oauth2.Config{
		ClientID:     p.cfg.ClientID,
		ClientSecret: p.cfg.ClientSecret,
		Endpoint:     ep,
		RedirectURL:  p.opts.callbackURL(p.name),
		Scopes:       p.scopes,
	}
}

// AuthCodeURL is the issuer's authorization endpoint with state, the S256
// challenge and the nonce. The endpoint comes from discovery; when the
// issuer cannot be reached the browser is sent straight back to our own
// callback with error=temporarily_unavailable (an RFC 6749 §4.1.2.1 code),
// so the login service shows its usual provider-error outcome instead of
// redirecting to nowhere.
func (p *OIDC) AuthCodeURL(r AuthRequest) string {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.Timeout)
	defer cancel()
	prov, meta, err := p.disc.get(ctx)
	if err != nil {
		return unavailableURL(p.opts, p.name, p.display, r.State)
	}
	opts := authOptions(r)
	if r.Nonce != "" {
		opts = append(opts, oidc.Nonce(r.Nonce))
	}
	return p.oauthConfig(prov, meta).AuthCodeURL(r.State, opts...)
}

// unavailableURL sends the browser back to our callback with an OAuth
// error response, for when the provider cannot even be located.
func unavailableURL(o Options, name, display, state string) string {
	v := url.Values{
		"error":             {"temporarily_unavailable"},
		"error_description": {display + " cannot be reached right now; try again shortly"},
		"state":             {state},
	}
	return o.callbackURL(name) + "?" + v.Encode()
}

// Exchange redeems the code (with the PKCE verifier), then verifies the
// id_token from the token response, including the nonce of this login.
func (p *OIDC) Exchange(ctx context.Context, cb Callback) (Profile, error) {
	prov, meta, err := p.disc.get(ctx)
	if err != nil {
		return Profile{}, err
	}
	tok, err := p.oauthConfig(prov, meta).Exchange(p.httpContext(ctx), cb.Code, exchangeOptions(cb)...)
	if err != nil {
		return Profile{}, p.record(p.tokenError(err, cb.Code, nil))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Profile{}, p.record(&Error{Provider: p.name, Code: "missing_id_token", Description: "the token response carried no id_token"})
	}
	prof, idt, err := verifyIDToken(ctx, &p.base, prov, p.cfg.ClientID, raw, cb.Nonce, true)
	if err != nil {
		// A token straight from the token endpoint that fails verification
		// means misconfiguration (client id, issuer) or an attack: both
		// belong on the admin page.
		return Profile{}, p.record(err)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Profile{}, p.record(invalidToken(p.name, err))
		}
	}
	if prof.Email == "" && prov.UserInfoEndpoint() != "" {
		p.fillFromUserInfo(ctx, prov, tok, &prof)
	}
	return prof, nil
}

// VerifyIDToken verifies an id_token a native app obtained itself. When
// nonce is non-empty the token must carry exactly it; when empty, the
// token's nonce is not checked (the app may have used one for its own
// purposes); audience, issuer, signature and expiry always are.
func (p *OIDC) VerifyIDToken(ctx context.Context, rawIDToken, nonce string) (Profile, error) {
	prov, _, err := p.disc.get(ctx)
	if err != nil {
		return Profile{}, err
	}
	prof, _, err := verifyIDToken(ctx, &p.base, prov, p.cfg.ClientID, rawIDToken, nonce, nonce != "")
	return prof, err
}

// fillFromUserInfo adds email and name from the UserInfo endpoint. A
// failure leaves the profile without email: the login still succeeds.
func (p *OIDC) fillFromUserInfo(ctx context.Context, prov *oidc.Provider, tok *oauth2.Token, prof *Profile) {
	ui, err := prov.UserInfo(p.httpContext(ctx), oauth2.StaticTokenSource(tok))
	if err != nil {
		p.record(fmt.Errorf("%s: userinfo: %w", p.name, unwrapURLError(err)))
		return
	}
	if ui.Subject != prof.Subject {
		p.record(&Error{Provider: p.name, Code: "userinfo_subject_mismatch", Description: "UserInfo answered for another subject; ignored"})
		return
	}
	var c idClaims
	if err := ui.Claims(&c); err != nil {
		return
	}
	prof.Email = strings.TrimSpace(c.Email)
	prof.EmailVerified = prof.Email != "" && bool(c.EmailVerified)
	if prof.Name == "" {
		prof.Name = c.name()
	}
	if prof.AvatarURL == "" {
		prof.AvatarURL = c.Picture
	}
}

// idClaims are the standard claims we map (OpenID Connect Core 1.0 §5.1).
type idClaims struct {
	Subject           string   `json:"sub"`
	Email             string   `json:"email"`
	EmailVerified     flexBool `json:"email_verified"`
	Name              string   `json:"name"`
	GivenName         string   `json:"given_name"`
	FamilyName        string   `json:"family_name"`
	PreferredUsername string   `json:"preferred_username"`
	Nickname          string   `json:"nickname"`
	Picture           string   `json:"picture"`
}

func (c idClaims) name() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.GivenName != "" || c.FamilyName != "":
		return strings.TrimSpace(c.GivenName + " " + c.FamilyName)
	case c.PreferredUsername != "":
		return c.PreferredUsername
	}
	return c.Nickname
}

// flexBool accepts true/false and the strings "true"/"false": some issuers
// (Cognito among them) send email_verified as a string.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch t := v.(type) {
	case bool:
		*b = flexBool(t)
	case string:
		*b = flexBool(strings.EqualFold(t, "true"))
	default:
		*b = false
	}
	return nil
}

// verifyIDToken checks signature, iss, aud and exp with go-oidc, then the
// nonce (go-oidc leaves that to us). With checkNonce the token's nonce
// must equal nonce exactly, an absent one included. Failures wrap
// ErrInvalidToken.
func verifyIDToken(ctx context.Context, b *base, prov *oidc.Provider, clientID, raw, nonce string, checkNonce bool) (Profile, *oidc.IDToken, error) {
	v := prov.Verifier(&oidc.Config{ClientID: clientID, Now: b.opts.Now})
	idt, err := v.Verify(b.httpContext(ctx), raw)
	if err != nil {
		return Profile{}, nil, invalidToken(b.name, err)
	}
	if checkNonce && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return Profile{}, nil, invalidToken(b.name, errors.New("id_token nonce does not match this login"))
	}
	var c idClaims
	var rawClaims json.RawMessage
	if err := idt.Claims(&c); err != nil {
		return Profile{}, nil, invalidToken(b.name, err)
	}
	if err := idt.Claims(&rawClaims); err != nil {
		return Profile{}, nil, invalidToken(b.name, err)
	}
	if idt.Subject == "" {
		return Profile{}, nil, invalidToken(b.name, errors.New("id_token has no sub"))
	}
	email := strings.TrimSpace(c.Email)
	return Profile{
		Provider:      b.name,
		Subject:       idt.Subject,
		Email:         email,
		EmailVerified: email != "" && bool(c.EmailVerified),
		Name:          c.name(),
		AvatarURL:     c.Picture,
		Raw:           rawClaims,
	}, idt, nil
}

// checkURLs validates the endpoint overrides of one provider, naming the
// variable that is wrong.
func checkURLs(prefix string, cfg config.Provider) error {
	var problems config.Problems
	for _, f := range []struct{ name, value string }{
		{"AUTH_URL", cfg.AuthURL}, {"TOKEN_URL", cfg.TokenURL}, {"API_URL", cfg.APIURL}, {"ISSUER", cfg.Issuer},
	} {
		if f.value == "" {
			continue
		}
		u, err := url.Parse(f.value)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			problems = append(problems, fmt.Sprintf("%s%s: %q is not an absolute http(s) URL without query or fragment", prefix, f.name, f.value))
		}
	}
	if len(problems) > 0 {
		return problems
	}
	return nil
}
