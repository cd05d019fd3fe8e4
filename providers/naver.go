package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// Naver endpoints (NAVER Developers, "네이버 로그인 API 명세" and
// "네이버 회원 프로필 조회 API 명세").
const (
	naverAuthURL  = "https://nid.naver.com/oauth2.0/authorize"
	naverTokenURL = "https://nid.naver.com/oauth2.0/token"
	naverAPIURL   = "https://openapi.naver.com"
)

// Naver is Naver Login (네이버 로그인).
//
// Why it is odd (NAVER Developers: "네이버 로그인 API 명세" (login API),
// "네이버 회원 프로필 조회 API 명세" (profile API), "오픈 API 에러 코드"):
//   - The token endpoint can answer HTTP 200 with {"error", "error_description"}
//     (x/oauth2 turns that into *oauth2.RetrieveError, mapped to Error), and
//     sends expires_in as a string ("3600"), which x/oauth2 parses.
//   - client_id and client_secret go in the form body (the secret is
//     always required), and the token request carries the state as well.
//   - PKCE is not documented, so none is sent; the state, single use and
//     bound to the browser by the login service, is the CSRF defence.
//   - The profile (GET {api}/v1/nid/me) wraps everything in
//     {"resultcode","message","response":{…}}; resultcode other than "00"
//     is a failure even with HTTP 200 ("024" = authentication failed).
//   - response.id is a per-application identifier string, not the Naver ID.
//   - Naver never says whether the email was verified, so it never is here:
//     Naver logins do not link to existing members by email.
type Naver struct {
	base
	cfg    Settings
	oauth  *oauth2.Config
	apiURL string
}

// NaverType is Naver Login. Its consent items are chosen in the Naver
// console: it takes no scopes.
func NaverType() Type {
	return Type{
		Name: "naver", Mark: "N", DisplayName: "Naver", PKCE: false,
		Fields: []Field{
			clientIDField(""),
			clientSecretField(true, ""),
			urlField(FieldAuthURL, "Authorize URL", naverAuthURL),
			urlField(FieldTokenURL, "Token URL", naverTokenURL),
			urlField(FieldAPIURL, "API base URL", naverAPIURL),
			storeTokensField(),
		},
		Open: func(s Settings, o Options) (Provider, error) { return NewNaver(s, o) },
	}
}

// NewNaver builds Naver Login from its client id and secret and the
// optional authorize, token and API URLs.
func NewNaver(cfg Settings, o Options) (*Naver, error) {
	o = o.withDefaults()
	t := NaverType()
	n := &Naver{
		base:   newBase(orDefault(cfg.Name, t.Name), orDefault(cfg.DisplayName, t.DisplayName), o, ""),
		cfg:    cfg,
		apiURL: orDefault(cfg.APIURL, naverAPIURL),
	}
	n.oauth = &oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   orDefault(cfg.AuthURL, naverAuthURL),
			TokenURL:  orDefault(cfg.TokenURL, naverTokenURL),
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: o.callbackURL(n.name),
	}
	return n, nil
}

// Scopes is empty: Naver's consent items are set in its console.
func (n *Naver) Scopes() []string { return nil }

// AuthCodeURL is Naver's authorize URL with the state (no PKCE, no scope).
func (n *Naver) AuthCodeURL(_ context.Context, r AuthRequest) (string, error) {
	return n.oauth.AuthCodeURL(r.State), nil
}

// Exchange redeems the code (sending the state, as Naver documents) and
// reads /v1/nid/me.
func (n *Naver) Exchange(ctx context.Context, cb Callback) (Profile, error) {
	tok, err := n.oauth.Exchange(n.httpContext(ctx), cb.Code, oauth2.SetAuthURLParam("state", cb.State))
	if err != nil {
		return Profile{}, n.record(n.tokenError(err, cb.Code, nil))
	}
	prof, err := n.profile(ctx, tok.AccessToken)
	if err != nil {
		return Profile{}, n.record(err)
	}
	prof.Grant = grantOf(tok, nil)
	return prof, nil
}

// Renew refreshes the grant (Naver Login API, "접근 토큰 갱신"
// grant_type=refresh_token): the access token lasts an hour, the refresh
// token a year and is not rotated (the answer has none; the old one
// stays). Naver reports a refresh token it no longer honours with HTTP 200
// and error invalid_request ("invalid refresh_token") or invalid_grant.
func (n *Naver) Renew(ctx context.Context, refreshToken string) (Grant, error) {
	return n.renew(ctx, n.oauth, refreshToken, nil, func(re *oauth2.RetrieveError) bool {
		return re.ErrorCode == "invalid_request" && strings.Contains(strings.ToLower(re.ErrorDescription), "refresh")
	})
}

// Revoke deletes the grant (Naver Login API, "토큰 삭제": the token
// endpoint with grant_type=delete, the access token and
// service_provider=NAVER; form POST like every Naver token call). The
// answer is HTTP 200 with result "success", or an error object.
func (n *Naver) Revoke(ctx context.Context, g Grant) error {
	form := url.Values{
		"grant_type": {"delete"}, "client_id": {n.cfg.ClientID}, "client_secret": {n.cfg.ClientSecret},
		"access_token": {g.AccessToken}, "service_provider": {"NAVER"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.oauth.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("%s: delete token: %w", n.name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := n.do(req)
	if err != nil {
		return err
	}
	var body struct {
		Result string `json:"result"`
		Error  string `json:"error"`
	}
	_ = json.Unmarshal(resp.body, &body)
	if resp.status == http.StatusOK && body.Result == "success" {
		return nil
	}
	if body.Error != "" {
		return &Error{Provider: n.name, Code: body.Error, Description: "token delete refused"}
	}
	return n.statusError("token delete", resp.status)
}

// ProfileFromAccessToken reads /v1/nid/me with a token a native app got.
func (n *Naver) ProfileFromAccessToken(ctx context.Context, accessToken string) (Profile, error) {
	return n.profile(ctx, accessToken)
}

// naverMe is GET /v1/nid/me.
type naverMe struct {
	ResultCode string `json:"resultcode"`
	Message    string `json:"message"`
	Response   *struct {
		ID           string `json:"id"`
		Email        string `json:"email"`
		Name         string `json:"name"`
		Nickname     string `json:"nickname"`
		ProfileImage string `json:"profile_image"`
	} `json:"response"`
}

func (n *Naver) profile(ctx context.Context, accessToken string) (Profile, error) {
	resp, err := n.get(ctx, joinURL(n.apiURL, "/v1/nid/me"), accessToken, nil)
	if err != nil {
		return Profile{}, err
	}
	var me naverMe
	if err := json.Unmarshal(resp.body, &me); err != nil || me.ResultCode == "" {
		if resp.status != http.StatusOK {
			return Profile{}, n.failure(resp.status, n.statusError("GET /v1/nid/me", resp.status))
		}
		return Profile{}, &Error{Provider: n.name, Code: "malformed_response", Description: "GET /v1/nid/me is not a Naver profile answer", Err: err}
	}
	if me.ResultCode != "00" {
		return Profile{}, n.failure(resp.status, &Error{Provider: n.name, Code: me.ResultCode, Description: me.Message})
	}
	if resp.status != http.StatusOK {
		return Profile{}, n.statusError("GET /v1/nid/me", resp.status)
	}
	if me.Response == nil || strings.TrimSpace(me.Response.ID) == "" {
		return Profile{}, &Error{Provider: n.name, Code: "malformed_response", Description: "GET /v1/nid/me has no response.id"}
	}
	r := me.Response
	name := strings.TrimSpace(r.Name)
	if name == "" {
		name = r.Nickname
	}
	return Profile{
		Provider:      n.name,
		Subject:       r.ID,
		Email:         strings.TrimSpace(r.Email),
		EmailVerified: false,
		Name:          name,
		AvatarURL:     r.ProfileImage,
		Raw:           json.RawMessage(resp.body),
	}, nil
}

// failure marks authentication failures (HTTP 401, resultcode "024") as an
// invalid token, so the native path answers invalid_grant.
func (n *Naver) failure(status int, pe *Error) error {
	if status == http.StatusUnauthorized || pe.Code == "024" {
		return invalidToken(n.name, pe)
	}
	return pe
}
