package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// GitHub endpoints (GitHub Docs, "Authorizing OAuth apps" and the REST
// API reference "Users" / "Emails"). GitHub Enterprise Server uses
// https://HOST/login/oauth/… and https://HOST/api/v3: set the three URLs.
const (
	githubAuthURL  = "https://github.com/login/oauth/authorize"
	githubTokenURL = "https://github.com/login/oauth/access_token"
	githubAPIURL   = "https://api.github.com"
	// githubEmailPages bounds how many /user/emails pages we follow
	// (100 addresses a page): enough for anyone, finite for a hostile server.
	githubEmailPages = 10
)

// GitHub is sign-in with a GitHub OAuth app.
//
// Why it is odd (GitHub Docs, "Authorizing OAuth apps"; REST API "Get the
// authenticated user", "List email addresses for the authenticated user",
// "Check a token"):
//   - Not OpenID Connect: no id_token. The profile is GET {api}/user, whose
//     email is only the *public* address (often null), so the address we
//     use comes from GET {api}/user/emails: the entry that is primary and
//     verified. No such entry means no email, never an unverified one.
//   - /user/emails is paginated with a Link header (rel="next"); we follow
//     it, bounded, and never to another host (the token would go with it).
//   - The token endpoint answers form-encoded unless sent
//     Accept: application/json, and reports a bad code with HTTP 200 and
//     {"error":"bad_verification_code"}; x/oauth2 turns that into an error.
//   - Client credentials go in the POST parameters; PKCE S256 is accepted
//     since July 2025 (GitHub changelog 2025-07-14).
//   - The subject is the numeric user id (logins can be renamed).
//   - OAuth-app tokens do not expire and have no refresh token. A GitHub
//     App with "expiring user tokens" answers expires_in (8 hours) and a
//     refresh_token (6 months) that is replaced at every refresh (GitHub
//     Docs, "Refreshing user access tokens"); the vault handles both.
//   - On the native path an access token is first checked with "Check a
//     token" (POST /applications/{client_id}/token, Basic auth with our
//     client credentials): a token issued to another app is refused rather
//     than taken for its user.
type GitHub struct {
	base
	cfg    Settings
	oauth  *oauth2.Config
	apiURL string
	scopes []string
}

// GitHubType is sign-in with a GitHub OAuth app: github.com, or GitHub
// Enterprise Server with the three URLs set.
func GitHubType() Type {
	return Type{
		Name: "github", Mark: "GH", DisplayName: "GitHub", PKCE: true, DefaultScopes: []string{"user:email"},
		Fields: []Field{
			clientIDField("of the OAuth app (Settings > Developer settings > OAuth Apps)"),
			clientSecretField(true, ""),
			urlField(FieldAuthURL, "Authorize URL", githubAuthURL),
			urlField(FieldTokenURL, "Token URL", githubTokenURL),
			urlField(FieldAPIURL, "API base URL", githubAPIURL),
			scopesField("user:email"),
			storeTokensField(),
		},
		Open: func(s Settings, o Options) (Provider, error) { return NewGitHub(s, o) },
	}
}

// NewGitHub builds a GitHub provider from its client id and secret and the
// optional authorize, token and API base URLs (/user and /user/emails are
// appended to the API base).
func NewGitHub(cfg Settings, o Options) (*GitHub, error) {
	o = o.withDefaults()
	t := GitHubType()
	g := &GitHub{
		base:   newBase(orDefault(cfg.Name, t.Name), orDefault(cfg.DisplayName, t.DisplayName), o, "application/json"),
		cfg:    cfg,
		apiURL: orDefault(cfg.APIURL, githubAPIURL),
		scopes: t.scopes(cfg),
	}
	g.oauth = &oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   orDefault(cfg.AuthURL, githubAuthURL),
			TokenURL:  orDefault(cfg.TokenURL, githubTokenURL),
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: o.callbackURL(g.name),
		Scopes:      g.scopes,
	}
	return g, nil
}

// Scopes are the scopes requested at the authorize endpoint.
func (g *GitHub) Scopes() []string { return slices.Clone(g.scopes) }

// AuthCodeURL is GitHub's authorize URL with state and the S256 challenge.
func (g *GitHub) AuthCodeURL(_ context.Context, r AuthRequest) (string, error) {
	return g.oauth.AuthCodeURL(r.State, authOptions(r)...), nil
}

// Exchange redeems the code and reads the user and their primary verified email.
func (g *GitHub) Exchange(ctx context.Context, cb Callback) (Profile, error) {
	tok, err := g.oauth.Exchange(g.httpContext(ctx), cb.Code, exchangeOptions(cb)...)
	if err != nil {
		return Profile{}, g.record(g.tokenError(err, cb.Code, nil))
	}
	prof, err := g.profile(ctx, tok.AccessToken)
	if err != nil {
		return Profile{}, g.record(err)
	}
	prof.Grant = grantOf(tok, g.scopes)
	return prof, nil
}

// Renew refreshes an expiring user token (grant_type=refresh_token at the
// token endpoint). GitHub answers HTTP 200 with bad_refresh_token for a
// refresh token it no longer honours (used, expired or revoked).
func (g *GitHub) Renew(ctx context.Context, refreshToken string) (Grant, error) {
	return g.renew(ctx, g.oauth, refreshToken, g.scopes, func(re *oauth2.RetrieveError) bool {
		return re.ErrorCode == "bad_refresh_token"
	})
}

// Revoke deletes the app's authorization for the member (REST API "Delete
// an app authorization": DELETE /applications/{client_id}/grant with our
// client credentials and the token in the body), which revokes every token
// of the grant. 404 and 422 mean GitHub does not know the token any more.
func (g *GitHub) Revoke(ctx context.Context, gr Grant) error {
	body, err := json.Marshal(map[string]string{"access_token": gr.AccessToken})
	if err != nil {
		return err
	}
	u := joinURL(g.apiURL, "/applications/"+url.PathEscape(g.cfg.ClientID)+"/grant")
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(g.cfg.ClientID, g.cfg.ClientSecret)
	req.Header.Set("Content-Type", "application/json")
	setGitHubHeaders(req.Header)
	resp, err := g.do(req)
	if err != nil {
		return err
	}
	switch resp.status {
	case http.StatusNoContent, http.StatusOK, http.StatusNotFound, http.StatusUnprocessableEntity:
		return nil
	}
	return g.statusError("delete an app authorization", resp.status)
}

// ProfileFromAccessToken serves the native path: the token must belong to
// our OAuth app, then the profile is read as after a login. Without a
// secret "Check a token" cannot be asked, and a token issued to any other
// app would pass: refuse rather than skip the check.
func (g *GitHub) ProfileFromAccessToken(ctx context.Context, accessToken string) (Profile, error) {
	if g.cfg.ClientSecret == "" {
		return Profile{}, fmt.Errorf("%s: cannot check the token's app without a client secret: %w", g.name, ErrInvalidToken)
	}
	if err := g.checkToken(ctx, accessToken); err != nil {
		return Profile{}, err
	}
	return g.profile(ctx, accessToken)
}

// checkToken asks GitHub whether accessToken was issued to our app.
// Invalid or foreign tokens answer 404 (422 for a malformed request).
func (g *GitHub) checkToken(ctx context.Context, accessToken string) error {
	body, err := json.Marshal(map[string]string{"access_token": accessToken})
	if err != nil {
		return err
	}
	u := joinURL(g.apiURL, "/applications/"+url.PathEscape(g.cfg.ClientID)+"/token")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(g.cfg.ClientID, g.cfg.ClientSecret)
	req.Header.Set("Content-Type", "application/json")
	setGitHubHeaders(req.Header)
	resp, err := g.do(req)
	if err != nil {
		return err
	}
	switch resp.status {
	case http.StatusOK:
		return nil
	case http.StatusNotFound, http.StatusUnprocessableEntity:
		return invalidToken(g.name, errors.New("GitHub does not know this token for our OAuth app"))
	}
	return g.record(g.statusError("check a token", resp.status))
}

func setGitHubHeaders(h http.Header) {
	h.Set("Accept", "application/vnd.github+json")
	h.Set("X-GitHub-Api-Version", "2022-11-28")
}

// githubUser is the part of GET /user we use.
type githubUser struct {
	ID        int64  `json:"id"`
	Login     string `json:"login"`
	Name      string `json:"name"`
	AvatarURL string `json:"avatar_url"`
}

// githubEmail is one entry of GET /user/emails.
type githubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

func (g *GitHub) profile(ctx context.Context, accessToken string) (Profile, error) {
	h := http.Header{}
	setGitHubHeaders(h)
	resp, err := g.get(ctx, joinURL(g.apiURL, "/user"), accessToken, h)
	if err != nil {
		return Profile{}, err
	}
	if resp.status == http.StatusUnauthorized {
		return Profile{}, invalidToken(g.name, g.statusError("GET /user", resp.status))
	}
	if resp.status != http.StatusOK {
		return Profile{}, g.statusError("GET /user", resp.status)
	}
	var u githubUser
	if err := g.decode("GET /user", resp.body, &u); err != nil {
		return Profile{}, err
	}
	if u.ID <= 0 {
		return Profile{}, &Error{Provider: g.name, Code: "malformed_response", Description: "GET /user has no numeric id"}
	}
	email, err := g.primaryVerifiedEmail(ctx, accessToken)
	if err != nil {
		return Profile{}, err
	}
	name := strings.TrimSpace(u.Name)
	if name == "" {
		name = u.Login
	}
	return Profile{
		Provider:      g.name,
		Subject:       strconv.FormatInt(u.ID, 10),
		Email:         email,
		EmailVerified: email != "",
		Name:          name,
		AvatarURL:     u.AvatarURL,
		Raw:           json.RawMessage(resp.body),
	}, nil
}

// primaryVerifiedEmail walks /user/emails for the primary, verified
// address. A token without the user:email scope (403) or an endpoint the
// server does not offer (404) means no email, not a failed login.
func (g *GitHub) primaryVerifiedEmail(ctx context.Context, accessToken string) (string, error) {
	base, err := url.Parse(g.apiURL)
	if err != nil {
		return "", err
	}
	h := http.Header{}
	setGitHubHeaders(h)
	next := joinURL(g.apiURL, "/user/emails?per_page=100")
	for page := 0; page < githubEmailPages && next != ""; page++ {
		resp, err := g.get(ctx, next, accessToken, h)
		if err != nil {
			return "", err
		}
		switch resp.status {
		case http.StatusOK:
		case http.StatusForbidden, http.StatusNotFound:
			return "", nil
		case http.StatusUnauthorized:
			return "", invalidToken(g.name, g.statusError("GET /user/emails", resp.status))
		default:
			return "", g.statusError("GET /user/emails", resp.status)
		}
		var emails []githubEmail
		if err := g.decode("GET /user/emails", resp.body, &emails); err != nil {
			return "", err
		}
		for _, e := range emails {
			if e.Primary && e.Verified && strings.TrimSpace(e.Email) != "" {
				return strings.TrimSpace(e.Email), nil
			}
		}
		next = sameHostNext(base, resp.header.Get("Link"))
	}
	return "", nil
}

// sameHostNext returns the rel="next" target of an RFC 8288 Link header,
// or "" when there is none or it points at another scheme or host.
func sameHostNext(base *url.URL, link string) string {
	for _, part := range strings.Split(link, ",") {
		target, params, ok := strings.Cut(part, ";")
		if !ok {
			continue
		}
		target = strings.TrimSpace(target)
		if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
			continue
		}
		isNext := false
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "rel") && slices.Contains(strings.Fields(strings.Trim(v, `"`)), "next") {
				isNext = true
			}
		}
		if !isNext {
			continue
		}
		u, err := base.Parse(target[1 : len(target)-1])
		if err != nil || u.Scheme != base.Scheme || u.Host != base.Host {
			return ""
		}
		return u.String()
	}
	return ""
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func orDefaultScopes(configured []string, def ...string) []string {
	if len(configured) > 0 {
		return slices.Clone(configured)
	}
	return def
}
