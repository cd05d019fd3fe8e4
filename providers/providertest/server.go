// Package providertest runs fake identity providers (httptest servers) that
// speak each provider's documented shapes, error shapes included, so the
// broker's providers, login service and end-to-end tests can sign in
// without the network.
//
// Every fake has the same controls: URL; SetUser for the profile the next
// sign-in returns; Requests/Count to assert what the broker sent (PKCE
// verifier, state, client authentication); Fail to inject faults per
// endpoint (5xx, a delay past the client timeout, malformed JSON, an
// oversized body, a provider error such as access_denied at the authorize
// endpoint or Naver's HTTP-200 token error); Provider/Env for the broker's
// configuration pointing at the fake.
//
// The authorize endpoint consents at once: it redirects to redirect_uri with
// a code and the same state (or error=access_denied when told to), so a
// plain http.Client or a real browser can "sign in" without a form.
package providertest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authbroker/authbroker/providers"
)

// Endpoint names a fake's endpoint, for Fail, Requests and Count.
type Endpoint string

// The endpoints a fake may serve (UserInfo is each provider's profile API:
// OIDC UserInfo, GitHub /user, Kakao /v2/user/me, Naver /v1/nid/me).
const (
	Discovery  Endpoint = "discovery"
	JWKS       Endpoint = "jwks"
	Authorize  Endpoint = "authorize"
	Token      Endpoint = "token"
	UserInfo   Endpoint = "userinfo"
	Emails     Endpoint = "emails"      // GitHub GET /user/emails
	CheckToken Endpoint = "check_token" // GitHub POST /applications/{client_id}/token
	TokenInfo  Endpoint = "token_info"  // Kakao GET /v1/user/access_token_info
	// Revoke ends a grant: Google's and OIDC's revocation endpoint (RFC
	// 7009), Kakao's POST /v1/user/unlink, GitHub's DELETE
	// /applications/{client_id}/grant. Naver deletes at its token endpoint
	// (grant_type=delete), counted by Revocations, not here.
	Revoke Endpoint = "revoke"
)

// User is the account the fake signs in. Fields a provider does not have
// are ignored by its fake.
type User struct {
	// ID is the subject: sub (Google, OIDC), the numeric id (GitHub, Kakao;
	// decimal digits), the per-app id (Naver).
	ID            string
	Email         string
	EmailVerified bool
	Name          string
	Picture       string
	// Login is the GitHub login or the Naver nickname.
	Login string
	// GitHubEmails is GitHub's /user/emails list; nil means one entry made
	// of Email (primary) and EmailVerified.
	GitHubEmails []GitHubEmail
	// EmailsPerPage is GitHub's /user/emails page size (default 30).
	EmailsPerPage int
	// EmailInvalid sets Kakao's is_email_valid to false.
	EmailInvalid bool
	// KakaoLegacy puts Kakao's nickname and image only in the legacy
	// properties object, not in kakao_account.profile.
	KakaoLegacy bool
	// EmailOnlyInUserInfo leaves email out of the id_token (OIDC fakes):
	// only the UserInfo endpoint has it.
	EmailOnlyInUserInfo bool
}

// GitHubEmail is one entry of GitHub's /user/emails.
type GitHubEmail struct {
	Email      string  `json:"email"`
	Primary    bool    `json:"primary"`
	Verified   bool    `json:"verified"`
	Visibility *string `json:"visibility"`
}

// Fault is what an endpoint does instead of (or before) answering normally.
type Fault struct {
	// Status answers with this HTTP status: with Code, in the provider's
	// error shape; without, as a bare upstream failure (use 5xx).
	Status int
	// Delay waits this long before answering (past the client's timeout).
	Delay time.Duration
	// Malformed answers 200 with a body that is not JSON.
	Malformed bool
	// Oversized answers normally but pads the JSON body past 1 MiB, so the
	// answer is valid and only a size cap refuses it.
	Oversized bool
	// Code is a provider error: at Authorize the redirect's error
	// (access_denied); at Token the OAuth error (Kakao: the KOE code, with
	// the OAuth error derived); at UserInfo Naver's resultcode or Kakao's
	// negative code. Status defaults to what the provider uses (Naver and
	// GitHub: 200).
	Code        string
	Description string
}

// Request is one request a fake received.
type Request struct {
	Endpoint Endpoint
	Method   string
	Path     string
	Query    url.Values
	Form     url.Values // POST form (token endpoint)
	Header   http.Header
	// BasicUser/BasicPassword are set when the request used HTTP Basic auth.
	BasicUser, BasicPassword string
	HasBasic                 bool
}

type kind string

const (
	kindGoogle kind = "google"
	kindOIDC   kind = "oidc"
	kindGitHub kind = "github"
	kindKakao  kind = "kakao"
	kindNaver  kind = "naver"
)

// Server is one fake provider.
type Server struct {
	// URL is the fake's base URL (http://127.0.0.1:port); the issuer for
	// OIDC fakes.
	URL string
	// ClientID and ClientSecret are the credentials the fake accepts.
	ClientID     string
	ClientSecret string
	// AppID is the numeric app id (Kakao): what access_token_info reports
	// for tokens issued to this app.
	AppID int64

	kind kind
	oidc bool
	srv  *httptest.Server
	key  *rsa.PrivateKey
	kid  string
	now  func() time.Time

	// tokenTTL is the access tokens' lifetime (0: the provider's own).
	tokenTTL time.Duration
	// expiring makes GitHub issue expiring user tokens with refresh tokens
	// (a GitHub App with the option on).
	expiring bool

	mu       sync.Mutex
	user     User
	codes    map[string]*grant
	tokens   map[string]issued
	refresh  map[string]*refreshGrant
	consent  map[string]bool // Google: users who consented to offline access
	renewals int
	revoked  int
	requests []Request
	faults   map[Endpoint]Fault
	forgery  Forgery
}

// grant is an authorization code and what it was issued for.
type grant struct {
	user        User
	redirectURI string
	challenge   string
	nonce       string
	state       string
	scope       string
	used        bool
	// accessType and prompt are Google's offline-access parameters.
	accessType, prompt string
}

// issued is an access token and what it stands for.
type issued struct {
	user    User
	scope   string
	foreign bool // issued to another app (GitHub check-token says 404)
	// expires is when the token stops working (zero: never).
	expires time.Time
	// refresh is the refresh token of the grant it belongs to ("" if none):
	// revoking the grant ends it too.
	refresh string
}

// Option adjusts a fake before it starts.
type Option func(*Server)

// WithoutSecret makes the fake a client without a secret (Kakao's secret is
// optional; a public OIDC client).
func WithoutSecret() Option { return func(s *Server) { s.ClientSecret = "" } }

// WithClock sets the fake's clock for id_token iat/exp.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

func newServer(t testing.TB, k kind, user User, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		ClientID:     string(k) + "-client-" + randomString(6),
		ClientSecret: string(k) + "-secret-" + randomString(12),
		kind:         k,
		now:          time.Now,
		user:         user,
		codes:        map[string]*grant{},
		tokens:       map[string]issued{},
		refresh:      map[string]*refreshGrant{},
		consent:      map[string]bool{},
		faults:       map[Endpoint]Fault{},
	}
	if k == kindKakao {
		s.AppID = kakaoAppID
	}
	for _, o := range opts {
		o(s)
	}
	if s.oidc {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatalf("providertest: generate key: %v", err)
		}
		s.key, s.kid = key, "fake-"+randomString(6)
	}
	mux := http.NewServeMux()
	s.routes(mux)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

func (s *Server) routes(mux *http.ServeMux) {
	handle := func(pattern string, ep Endpoint, h func(http.ResponseWriter, *http.Request)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if ep == UserInfo {
				// Like the real profile APIs, callable from a browser app
				// with the member's token (the example SPA does).
				w.Header().Set("Access-Control-Allow-Origin", "*")
			}
			f, ok := s.record(ep, r)
			if ok && s.applyFault(w, r, ep, f) {
				return
			}
			h(w, r)
		})
	}
	if s.oidc {
		handle("GET /.well-known/openid-configuration", Discovery, s.discovery)
		handle("GET "+s.paths().jwks, JWKS, s.jwks)
	}
	p := s.paths()
	handle("GET "+p.authorize, Authorize, s.authorize)
	handle("POST "+p.token, Token, s.token)
	switch s.kind {
	case kindGoogle, kindOIDC:
		handle("GET "+p.userinfo, UserInfo, s.oidcUserInfo)
		handle("POST /revoke", Revoke, s.revokeRFC7009)
	case kindGitHub:
		handle("GET /api/v3/user", UserInfo, s.githubUser)
		handle("GET /api/v3/user/emails", Emails, s.githubEmails)
		handle("POST /api/v3/applications/{client}/token", CheckToken, s.githubCheckToken)
		handle("DELETE /api/v3/applications/{client}/grant", Revoke, s.githubDeleteGrant)
	case kindKakao:
		handle("/v2/user/me", UserInfo, s.kakaoMe)
		handle("GET /v1/user/access_token_info", TokenInfo, s.kakaoTokenInfo)
		handle("POST /v1/user/unlink", Revoke, s.kakaoUnlink)
	case kindNaver:
		handle("GET /v1/nid/me", UserInfo, s.naverMe)
	}
	mux.HandleFunc("OPTIONS "+p.userinfo, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization")
		w.WriteHeader(http.StatusNoContent)
	})
}

type paths struct{ authorize, token, userinfo, jwks string }

// paths mirror each provider's real ones, so a wrong path in the broker
// shows up against the fake too.
func (s *Server) paths() paths {
	switch s.kind {
	case kindGoogle:
		return paths{"/o/oauth2/v2/auth", "/token", "/v1/userinfo", "/oauth2/v3/certs"}
	case kindGitHub:
		return paths{"/login/oauth/authorize", "/login/oauth/access_token", "/api/v3/user", ""}
	case kindKakao:
		return paths{"/oauth/authorize", "/oauth/token", "/v1/oidc/userinfo", "/.well-known/jwks.json"}
	case kindNaver:
		return paths{"/oauth2.0/authorize", "/oauth2.0/token", "/v1/nid/me", ""}
	}
	return paths{"/authorize", "/token", "/userinfo", "/jwks"}
}

// UserInfoURL is the fake's profile API (the UserInfo endpoint): what an
// app calls with a provider access token the broker handed it.
func (s *Server) UserInfoURL() string { return s.URL + s.paths().userinfo }

// SetUser sets the account that sign-ins from now on return.
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = u
}

// User is the account sign-ins currently return.
func (s *Server) User() User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

// Fail makes ep misbehave until Reset.
func (s *Server) Fail(ep Endpoint, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[ep] = f
}

// Reset clears faults and id_token forgery (not the records).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[Endpoint]Fault{}
	s.forgery = Honest
}

// Requests returns what ep received, oldest first.
func (s *Server) Requests(ep Endpoint) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Endpoint == ep {
			out = append(out, r)
		}
	}
	return out
}

// Count is how many requests ep received.
func (s *Server) Count(ep Endpoint) int { return len(s.Requests(ep)) }

// LastRequest is the most recent request to ep; it fails the test if none.
func (s *Server) LastRequest(t testing.TB, ep Endpoint) Request {
	t.Helper()
	rs := s.Requests(ep)
	if len(rs) == 0 {
		t.Fatalf("providertest: %s received no request", ep)
	}
	return rs[len(rs)-1]
}

// IssueAccessToken mints an access token for u as if u had signed in to
// our app, for native-path tests (POST /auth/{provider}/token).
func (s *Server) IssueAccessToken(u User) string {
	return s.issue(u, s.defaultScope(), false)
}

// IssueForeignAccessToken mints a token for u issued to some other app:
// the profile API accepts it, GitHub's check-token does not, and Kakao's
// access_token_info names the other app.
func (s *Server) IssueForeignAccessToken(u User) string {
	return s.issue(u, s.defaultScope(), true)
}

func (s *Server) issue(u User, scope string, foreign bool) string {
	tok := string(s.kind) + "_at_" + randomString(24)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = issued{user: u, scope: scope, foreign: foreign}
	return tok
}

func (s *Server) defaultScope() string {
	switch s.kind {
	case kindGitHub:
		return "user:email"
	case kindGoogle, kindOIDC:
		return "openid email profile"
	}
	return ""
}

// Provider is the broker configuration pointing at this fake.
func (s *Server) Provider() providers.Settings {
	p := providers.Settings{ClientID: s.ClientID, ClientSecret: s.ClientSecret}
	switch s.kind {
	case kindGoogle:
		p.Issuer = s.URL
	case kindOIDC:
		p.Issuer, p.DisplayName = s.URL, "Fake SSO"
	case kindGitHub:
		p.AuthURL, p.TokenURL, p.APIURL = s.URL+"/login/oauth/authorize", s.URL+"/login/oauth/access_token", s.URL+"/api/v3"
	case kindKakao:
		p.AuthURL, p.TokenURL, p.APIURL = s.URL+"/oauth/authorize", s.URL+"/oauth/token", s.URL
		p.AppID = fmt.Sprint(s.AppID)
		if s.oidc {
			p.Issuer = s.URL
		}
	case kindNaver:
		p.AuthURL, p.TokenURL, p.APIURL = s.URL+"/oauth2.0/authorize", s.URL+"/oauth2.0/token", s.URL
	}
	return p
}

// Env is Provider as environment lines (GITHUB_CLIENT_ID=…), for
// config.FromEnv in end-to-end tests.
func (s *Server) Env() []string {
	p := s.Provider()
	prefix := strings.ToUpper(string(s.kind)) + "_"
	var out []string
	for _, kv := range [][2]string{
		{"CLIENT_ID", p.ClientID}, {"CLIENT_SECRET", p.ClientSecret}, {"AUTH_URL", p.AuthURL},
		{"TOKEN_URL", p.TokenURL}, {"API_URL", p.APIURL}, {"ISSUER", p.Issuer}, {"NAME", p.DisplayName}, {"APP_ID", p.AppID},
	} {
		if kv[1] != "" {
			out = append(out, prefix+kv[0]+"="+kv[1])
		}
	}
	return out
}

// SignIn drives authURL like a browser that consents at once: it GETs
// it without following the redirect and returns the Location (the
// broker's callback with code and state, or with error). A non-redirect
// answer fails the test.
func SignIn(t testing.TB, authURL string) *url.URL {
	t.Helper()
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatalf("providertest: authorize: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("providertest: authorize answered %d, want a redirect", resp.StatusCode)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("providertest: authorize redirect: %v", err)
	}
	return loc
}

// record stores the request and returns the endpoint's fault, if any.
func (s *Server) record(ep Endpoint, r *http.Request) (Fault, bool) {
	req := Request{Endpoint: ep, Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
		if err := r.ParseForm(); err == nil {
			req.Form = cloneValues(r.PostForm)
		}
	}
	req.BasicUser, req.BasicPassword, req.HasBasic = r.BasicAuth()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	f, ok := s.faults[ep]
	return f, ok
}

// applyFault answers according to f; it reports whether the request is done.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, ep Endpoint, f Fault) bool {
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case f.Malformed:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"access_token": "x", "id": 1, "resultcode": "00", `)
		return true
	case f.Code != "":
		return s.providerError(w, r, ep, f)
	case f.Status != 0:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, "<html><body>%d upstream failure</body></html>", f.Status)
		return true
	}
	return false // Oversized and a bare Delay answer normally
}

// providerError writes f as the provider's own error shape.
func (s *Server) providerError(w http.ResponseWriter, r *http.Request, ep Endpoint, f Fault) bool {
	desc := f.Description
	switch ep {
	case Authorize:
		q := r.URL.Query()
		v := url.Values{"error": {f.Code}, "state": {q.Get("state")}}
		if desc == "" && f.Code == "access_denied" {
			desc = "The user denied the request."
		}
		if desc != "" {
			v.Set("error_description", desc)
		}
		http.Redirect(w, r, withQuery(q.Get("redirect_uri"), v), http.StatusFound)
	case Token:
		s.tokenError(w, f.Status, f.Code, desc)
	default:
		s.apiError(w, f.Status, f.Code, desc)
	}
	return true
}

// writeJSON answers v, padded past 1 MiB when ep is faulted Oversized.
func (s *Server) writeJSON(w http.ResponseWriter, ep Endpoint, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	f := s.faults[ep]
	s.mu.Unlock()
	if f.Oversized {
		body = pad(body)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// pad adds a 2 MiB member to a JSON object or array, keeping it valid.
func pad(body []byte) []byte {
	filler := strings.Repeat("a", 2<<20)
	switch {
	case len(body) > 1 && body[0] == '{':
		return slices.Concat([]byte(`{"_padding":"`+filler+`"`), commaIfMore(body[1:]), body[1:])
	case len(body) > 1 && body[0] == '[':
		return slices.Concat([]byte(`[{"_padding":"`+filler+`"}`), commaIfMore(body[1:]), body[1:])
	}
	return body
}

func commaIfMore(rest []byte) []byte {
	if len(rest) > 0 && rest[0] != '}' && rest[0] != ']' {
		return []byte(",")
	}
	return nil
}

// bearer returns the user of the request's access token.
func (s *Server) bearer(r *http.Request) (issued, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || (!strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token")) {
		return issued{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.tokens[strings.TrimSpace(tok)]
	if ok && !it.expires.IsZero() && !s.now().Before(it.expires) {
		return issued{}, false
	}
	return it, ok
}

func withQuery(rawURL string, v url.Values) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeJSON(r *http.Request, v any) error {
	return json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10)).Decode(v)
}
