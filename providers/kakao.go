package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Kakao endpoints (Kakao Developers, "Kakao Login > REST API").
const (
	kakaoAuthURL  = "https://kauth.kakao.com/oauth/authorize"
	kakaoTokenURL = "https://kauth.kakao.com/oauth/token"
	kakaoAPIURL   = "https://kapi.kakao.com"
	// KakaoIssuer is Kakao's OpenID Connect issuer, for KAKAO_ISSUER when
	// OpenID Connect is enabled in the Kakao console.
	KakaoIssuer = "https://kauth.kakao.com"
)

// Kakao is Kakao Login.
//
// Why it is odd (Kakao Developers: "Kakao Login > REST API", "Kakao Login >
// Troubleshooting" (KOE codes), "REST API > Reference" and "Error code"):
//   - The token endpoint takes client credentials only as form parameters,
//     and the client secret only when it is enabled in the console (so
//     KAKAO_CLIENT_SECRET is optional). AuthStyleInParams is set explicitly:
//     x/oauth2's auto-detect would try Basic first and then resend the same
//     single-use code.
//   - Its errors carry a Kakao code besides the OAuth one: kauth answers
//     {"error","error_description","error_code":"KOE320"}; kapi answers
//     {"msg","code":-401}. Both surface as Error.Code. error_description
//     can echo the authorization code, which is redacted.
//   - The subject is the numeric member id (int64), stored in base 10.
//   - Email is optional. Apps without business verification cannot ask
//     for account_email at all, and users may decline it; so no scope is
//     requested by default (the console's consent items apply) and a
//     missing email is never a failure. kakao_account.email counts as
//     verified only when is_email_verified && is_email_valid; an address
//     that is present but not both is kept, unverified.
//   - Nickname and image come from kakao_account.profile, falling back to
//     the legacy properties object.
//   - With OpenID Connect enabled (KAKAO_ISSUER=https://kauth.kakao.com),
//     an id_token in the token response is verified with our nonce, and
//     native apps may send id_tokens. Kakao's id_token has no
//     email_verified claim, so its email is never treated as verified.
//
// On the native path an access token is first tied to our app: GET
// /v1/user/access_token_info ("Retrieve token information") names the app
// it was issued to (app_id) and its user (id), and app_id must be
// KAKAO_APP_ID, the numeric app id of the Kakao console. /v2/user/me alone
// answers for a token of any Kakao app, so without KAKAO_APP_ID the native
// path refuses access tokens rather than sign in whoever holds a token that
// another app obtained.
type Kakao struct {
	base
	cfg    Settings
	oauth  *oauth2.Config
	apiURL string
	scopes []string
	disc   *discovery // nil unless KAKAO_ISSUER is set
	appID  int64      // KAKAO_APP_ID; 0 when not set
}

// KakaoType is Kakao Login, with OpenID Connect when the issuer is set.
func KakaoType() Type {
	return Type{
		Name: "kakao", Mark: "K", DisplayName: "Kakao", PKCE: true,
		Fields: []Field{
			clientIDField("the app's REST API key"),
			clientSecretField(false, "only when client secret is enabled in the Kakao console"),
			urlField(FieldIssuer, "OpenID Connect issuer", ""),
			urlField(FieldAuthURL, "Authorize URL", kakaoAuthURL),
			urlField(FieldTokenURL, "Token URL", kakaoTokenURL),
			urlField(FieldAPIURL, "API base URL", kakaoAPIURL),
			scopesField("the consent items set in the Kakao console"),
			storeTokensField(),
			{Key: FieldAppID, Label: "App ID", Help: "the numeric app ID of the Kakao Developers console; native sign-in with a Kakao access token needs it"},
		},
		Open: func(s Settings, o Options) (Provider, error) {
			k, err := NewKakao(s, o)
			if err != nil {
				return nil, err
			}
			if k.OIDC() {
				return kakaoOIDC{k}, nil
			}
			return k, nil
		},
	}
}

// NewKakao builds Kakao Login from its client id (the REST API key), the
// optional client secret and scopes (consent item ids), and the optional
// authorize, token and API URLs and OpenID Connect issuer.
func NewKakao(cfg Settings, o Options) (*Kakao, error) {
	var appID int64
	if cfg.AppID != "" {
		n, err := strconv.ParseInt(cfg.AppID, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("kakao: app id %q is not a number (the app ID of the Kakao Developers console)", cfg.AppID)
		}
		appID = n
	}
	o = o.withDefaults()
	t := KakaoType()
	k := &Kakao{
		base:   newBase(orDefault(cfg.Name, t.Name), orDefault(cfg.DisplayName, t.DisplayName), o, ""),
		cfg:    cfg,
		apiURL: orDefault(cfg.APIURL, kakaoAPIURL),
		scopes: slices.Clone(cfg.Scopes),
		appID:  appID,
	}
	if cfg.Issuer != "" {
		k.disc = newDiscovery(cfg.Issuer, &k.base)
		// Without a scope parameter Kakao includes openid by itself when
		// OIDC is on; an explicit list must name it or no id_token comes.
		if len(k.scopes) > 0 && !slices.Contains(k.scopes, "openid") {
			k.scopes = append([]string{"openid"}, k.scopes...)
		}
	}
	k.oauth = &oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   orDefault(cfg.AuthURL, kakaoAuthURL),
			TokenURL:  orDefault(cfg.TokenURL, kakaoTokenURL),
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: o.callbackURL(k.name),
		Scopes:      k.scopes,
	}
	return k, nil
}

// Scopes are the consent items requested explicitly (none by default).
func (k *Kakao) Scopes() []string { return slices.Clone(k.scopes) }

// OIDC reports whether Kakao's OpenID Connect is configured (KAKAO_ISSUER).
func (k *Kakao) OIDC() bool { return k.disc != nil }

// AuthCodeURL is Kakao's authorize URL with state, the S256 challenge and,
// with OpenID Connect, the nonce.
func (k *Kakao) AuthCodeURL(_ context.Context, r AuthRequest) (string, error) {
	opts := authOptions(r)
	if k.disc != nil && r.Nonce != "" {
		opts = append(opts, oidc.Nonce(r.Nonce))
	}
	return k.oauth.AuthCodeURL(r.State, opts...), nil
}

// Exchange redeems the code, verifies an id_token if OpenID Connect is on,
// and reads /v2/user/me.
func (k *Kakao) Exchange(ctx context.Context, cb Callback) (Profile, error) {
	tok, err := k.oauth.Exchange(k.httpContext(ctx), cb.Code, exchangeOptions(cb)...)
	if err != nil {
		return Profile{}, k.record(k.tokenError(err, cb.Code, kakaoErrorCode))
	}
	idSubject := ""
	if raw, _ := tok.Extra("id_token").(string); raw != "" && k.disc != nil {
		prov, _, err := k.disc.get(ctx)
		if err != nil {
			return Profile{}, err
		}
		idp, _, err := verifyIDToken(ctx, &k.base, prov, k.cfg.ClientID, raw, cb.Nonce, true)
		if err != nil {
			return Profile{}, k.record(err)
		}
		idSubject = idp.Subject
	}
	prof, err := k.profile(ctx, tok.AccessToken)
	if err != nil {
		return Profile{}, k.record(err)
	}
	if idSubject != "" && idSubject != prof.Subject {
		return Profile{}, k.record(invalidToken(k.name, fmt.Errorf("id_token sub %q is not the /v2/user/me id %q", idSubject, prof.Subject)))
	}
	prof.Grant = grantOf(tok, k.scopes)
	return prof, nil
}

// ProfileFromAccessToken serves the native path: the token must have been
// issued to our app (KAKAO_APP_ID, checked with access_token_info), then
// the profile is read as after a login, its email verification included.
func (k *Kakao) ProfileFromAccessToken(ctx context.Context, accessToken string) (Profile, error) {
	if k.appID == 0 {
		return Profile{}, fmt.Errorf("kakao: cannot check the token's app without KAKAO_APP_ID: %w", ErrInvalidToken)
	}
	user, err := k.tokenInfo(ctx, accessToken)
	if err != nil {
		return Profile{}, err
	}
	p, err := k.profile(ctx, accessToken)
	if err != nil {
		return Profile{}, err
	}
	if p.Subject != strconv.FormatInt(user, 10) {
		return Profile{}, invalidToken(k.name, fmt.Errorf("access_token_info id %d is not the /v2/user/me id %s", user, p.Subject))
	}
	return p, nil
}

// tokenInfo asks Kakao which app and user accessToken belongs to (GET
// /v1/user/access_token_info: {"id", "expires_in", "app_id"}) and returns
// the user id when the app is ours.
func (k *Kakao) tokenInfo(ctx context.Context, accessToken string) (int64, error) {
	const what = "GET /v1/user/access_token_info"
	resp, err := k.get(ctx, joinURL(k.apiURL, "/v1/user/access_token_info"), accessToken, nil)
	if err != nil {
		return 0, err
	}
	if resp.status != http.StatusOK {
		return 0, k.apiError(what, resp)
	}
	var info struct {
		ID        int64 `json:"id"`
		ExpiresIn int64 `json:"expires_in"`
		AppID     int64 `json:"app_id"`
	}
	if err := k.decode(what, resp.body, &info); err != nil {
		return 0, err
	}
	switch {
	case info.AppID != k.appID:
		return 0, invalidToken(k.name, fmt.Errorf("the token was issued to Kakao app %d, not KAKAO_APP_ID", info.AppID))
	case info.ID <= 0 || info.ExpiresIn <= 0:
		return 0, invalidToken(k.name, errors.New("access_token_info has no user or the token has expired"))
	}
	return info.ID, nil
}

// Renew refreshes the grant (Kakao Login REST API, "Refresh tokens"):
// the access token lasts 6 hours (12 on mobile), the refresh token 2
// months, and the answer carries a new refresh token only when less than
// a month of the old one is left; otherwise the old one stays. Kakao says
// a grant is gone with invalid_grant (KOE322: the refresh token is
// expired or was revoked by unlinking).
func (k *Kakao) Renew(ctx context.Context, refreshToken string) (Grant, error) {
	return k.renew(ctx, k.oauth, refreshToken, k.scopes, nil)
}

// Revoke unlinks the app from the member's Kakao account (POST
// /v1/user/unlink with the member's access token: Kakao's way of ending a
// grant; the tokens stop working and the next sign-in asks consent again).
// A token Kakao no longer knows means the link is already gone.
func (k *Kakao) Revoke(ctx context.Context, g Grant) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, joinURL(k.apiURL, "/v1/user/unlink"), nil)
	if err != nil {
		return fmt.Errorf("%s: unlink: %w", k.name, err)
	}
	req.Header.Set("Authorization", "Bearer "+g.AccessToken)
	resp, err := k.do(req)
	if err != nil {
		return err
	}
	if resp.status == http.StatusOK {
		return nil
	}
	return k.apiError("POST /v1/user/unlink", resp)
}

// kakaoOIDC is Kakao with OpenID Connect configured: only then can it
// verify id_tokens, so only then does the registry expose IDTokenVerifier.
type kakaoOIDC struct{ *Kakao }

// VerifyIDToken verifies a Kakao id_token (signature, iss, aud, exp, and
// nonce when given). Its email is kept but never verified: Kakao's id_token
// has no email_verified claim.
func (k kakaoOIDC) VerifyIDToken(ctx context.Context, rawIDToken, nonce string) (Profile, error) {
	prov, _, err := k.disc.get(ctx)
	if err != nil {
		return Profile{}, err
	}
	prof, _, err := verifyIDToken(ctx, &k.base, prov, k.cfg.ClientID, rawIDToken, nonce, nonce != "")
	prof.EmailVerified = false
	return prof, err
}

// Discover fetches Kakao's discovery document now (see OIDC.Discover).
func (k kakaoOIDC) Discover(ctx context.Context) error {
	_, _, err := k.disc.get(ctx)
	return err
}

// kakaoErrorCode reads the KOE code from a kauth error body.
func kakaoErrorCode(body []byte) string {
	var e struct {
		Code string `json:"error_code"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Code
}

// kakaoUser is the part of /v2/user/me we use.
type kakaoUser struct {
	ID           json.Number `json:"id"`
	KakaoAccount *struct {
		Profile *struct {
			Nickname        string `json:"nickname"`
			ProfileImageURL string `json:"profile_image_url"`
			IsDefaultImage  bool   `json:"is_default_image"`
		} `json:"profile"`
		Email           string `json:"email"`
		IsEmailValid    bool   `json:"is_email_valid"`
		IsEmailVerified bool   `json:"is_email_verified"`
	} `json:"kakao_account"`
	Properties *struct {
		Nickname     string `json:"nickname"`
		ProfileImage string `json:"profile_image"`
	} `json:"properties"`
}

func (k *Kakao) profile(ctx context.Context, accessToken string) (Profile, error) {
	resp, err := k.get(ctx, joinURL(k.apiURL, "/v2/user/me"), accessToken, nil)
	if err != nil {
		return Profile{}, err
	}
	if resp.status != http.StatusOK {
		return Profile{}, k.apiError("GET /v2/user/me", resp)
	}
	var u kakaoUser
	if err := k.decode("GET /v2/user/me", resp.body, &u); err != nil {
		return Profile{}, err
	}
	id, err := strconv.ParseInt(u.ID.String(), 10, 64)
	if err != nil || id <= 0 {
		return Profile{}, &Error{Provider: k.name, Code: "malformed_response", Description: "GET /v2/user/me has no numeric id"}
	}
	prof := Profile{Provider: k.name, Subject: strconv.FormatInt(id, 10), Raw: json.RawMessage(resp.body)}
	if a := u.KakaoAccount; a != nil {
		prof.Email = strings.TrimSpace(a.Email)
		prof.EmailVerified = prof.Email != "" && a.IsEmailVerified && a.IsEmailValid
		if p := a.Profile; p != nil {
			prof.Name = p.Nickname
			if !p.IsDefaultImage {
				prof.AvatarURL = p.ProfileImageURL
			}
		}
	}
	if p := u.Properties; p != nil {
		if prof.Name == "" {
			prof.Name = p.Nickname
		}
		if prof.AvatarURL == "" && (u.KakaoAccount == nil || u.KakaoAccount.Profile == nil) {
			prof.AvatarURL = p.ProfileImage
		}
	}
	return prof, nil
}

// apiError maps a kapi error ({"msg","code"}) of the call what; -401 or
// HTTP 401 means the token is not valid (Kakao "Error code": -401 invalid
// app key or token).
func (k *Kakao) apiError(what string, resp apiResponse) error {
	var e struct {
		Msg  string `json:"msg"`
		Code int    `json:"code"`
	}
	pe := k.statusError(what, resp.status)
	if json.Unmarshal(resp.body, &e) == nil && e.Code != 0 {
		pe.Code = strconv.Itoa(e.Code)
		pe.Description = e.Msg
	}
	if resp.status == http.StatusUnauthorized || pe.Code == "-401" {
		return invalidToken(k.name, pe)
	}
	return pe
}
