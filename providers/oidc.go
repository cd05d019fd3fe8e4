package providers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

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
	cfg    Settings
	scopes []string
	disc   *discovery
	// google asks for offline access the Google way (access_type=offline)
	// rather than with the offline_access scope.
	google bool
}

// OIDCType is any OpenID Connect issuer with discovery (Keycloak, Entra ID,
// Okta, Auth0, Dex, LINE, Apple's, a company's own…). An admin may add as
// many as they like, each under its own name.
func OIDCType() Type {
	return Type{
		Name: "oidc", Mark: "◆", DisplayName: "Single sign-on", PKCE: true, DefaultScopes: []string{"openid", "email", "profile"},
		Fields: []Field{
			{Key: FieldIssuer, Label: "Issuer", Required: true, URL: true, Help: "discovery is read from ISSUER/.well-known/openid-configuration"},
			clientIDField(""),
			clientSecretField(false, "empty for a public client (PKCE alone)"),
			urlField(FieldAuthURL, "Authorize URL", "from discovery"),
			urlField(FieldTokenURL, "Token URL", "from discovery"),
			urlField(FieldRevokeURL, "Revocation URL", "from discovery"),
			scopesField("openid email profile"),
			storeTokensField(),
		},
		Open: func(s Settings, o Options) (Provider, error) { return NewOIDC(s, o) },
	}
}

// NewOIDC builds an OpenID Connect provider from its issuer, client id,
// optional client secret (public clients use PKCE alone), optional endpoint
// overrides and scopes.
func NewOIDC(cfg Settings, o Options) (*OIDC, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("oidc: an issuer is required")
	}
	return newOIDC(OIDCType(), cfg, o), nil
}

func newOIDC(t Type, cfg Settings, o Options) *OIDC {
	o = o.withDefaults()
	p := &OIDC{base: newBase(orDefault(cfg.Name, t.Name), orDefault(cfg.DisplayName, t.DisplayName), o, ""), cfg: cfg, scopes: oidcScopes(cfg.Scopes),
		google: t.Name == GoogleType().Name}
	p.disc = newDiscovery(cfg.Issuer, &p.base)
	return p
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
		Scopes:       p.requested(meta),
	}
}

// requested are the scopes sent to the authorize endpoint. With
// STORE_TOKENS an issuer other than Google that lists offline_access in
// scopes_supported is asked for it: that scope is how OpenID Connect Core
// §11 requests a refresh token (Keycloak, Okta and Auth0 issue none
// without it). Google refuses the scope and takes access_type=offline
// instead (see AuthCodeURL).
func (p *OIDC) requested(meta discoveryMeta) []string {
	if p.cfg.StoreTokens && !p.google && slices.Contains(meta.ScopesSupported, "offline_access") && !slices.Contains(p.scopes, "offline_access") {
		return append(slices.Clone(p.scopes), "offline_access")
	}
	return p.scopes
}

// AuthCodeURL is the issuer's authorization endpoint with state, the S256
// challenge and the nonce. The endpoint comes from discovery; when the
// issuer cannot be reached that is the error, and the login start answers
// it (nothing is sent to a provider that cannot be located).
func (p *OIDC) AuthCodeURL(ctx context.Context, r AuthRequest) (string, error) {
	prov, meta, err := p.disc.get(ctx)
	if err != nil {
		return "", err
	}
	opts := authOptions(r)
	if r.Nonce != "" {
		opts = append(opts, oidc.Nonce(r.Nonce))
	}
	if p.cfg.StoreTokens && p.google {
		// Google's refresh tokens come only with access_type=offline
		// (Google Identity, "Using OAuth 2.0 for Web Server Applications",
		// "Refreshing an access token (offline access)").
		opts = append(opts, oauth2.AccessTypeOffline)
	}
	if r.Consent {
		// Google issues a refresh token on the first consent only; asking
		// for consent again is how to get one when none is held.
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "consent"))
	}
	if r.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", r.LoginHint))
	}
	return p.oauthConfig(prov, meta).AuthCodeURL(r.State, opts...), nil
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
	prof.Grant = grantOf(tok, p.requested(meta))
	return prof, nil
}

// Renew refreshes the grant at the token endpoint. Google keeps the
// refresh token (its answer has none: the old one stays); other issuers
// may rotate it. The refreshed id_token, if any, is not needed and not
// read.
func (p *OIDC) Renew(ctx context.Context, refreshToken string) (Grant, error) {
	prov, meta, err := p.disc.get(ctx)
	if err != nil {
		return Grant{}, err
	}
	return p.renew(ctx, p.oauthConfig(prov, meta), refreshToken, p.requested(meta), nil)
}

// Revoke revokes the grant at the issuer's revocation endpoint (RFC 7009;
// REVOKE_URL, else discovery's revocation_endpoint): the refresh token
// when one is held, which ends the whole grant at Google, else the access
// token. An issuer without the endpoint cannot be told.
func (p *OIDC) Revoke(ctx context.Context, g Grant) error {
	prov, meta, err := p.disc.get(ctx)
	if err != nil {
		return err
	}
	endpoint := orDefault(p.cfg.RevokeURL, meta.RevocationEndpoint)
	if endpoint == "" {
		return fmt.Errorf("%s: the issuer has no revocation endpoint (set REVOKE_URL)", p.name)
	}
	tok, hint := g.AccessToken, "access_token"
	if g.RefreshToken != "" {
		tok, hint = g.RefreshToken, "refresh_token"
	}
	return p.revokeRFC7009(ctx, endpoint, p.oauthConfig(prov, meta), tok, hint)
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
