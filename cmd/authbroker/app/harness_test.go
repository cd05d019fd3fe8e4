package app_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authbroker/authbroker/cmd/authbroker/app"
	"github.com/authbroker/authbroker/cmd/authbroker/app/apptest"
	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/token"
	"github.com/authbroker/authbroker/providers/providertest"
)

// spaReturn is the SPA callback the tests allow.
const spaReturn = "http://app.test/callback"

// broker is one authbroker instance started in-process over real stores.
type broker struct {
	URL        string
	MetricsURL string
	App        *app.App
	Config     *config.Config
}

// startBroker starts a broker (see apptest.Start) that allows the SPA
// return URL and the dev provider; env overrides.
func startBroker(t *testing.T, env ...string) *broker {
	t.Helper()
	b := apptest.Start(t, nil, append([]string{"ALLOWED_RETURN_URLS=" + spaReturn, "DEV_LOGIN=true"}, env...)...)
	return &broker{URL: b.URL, MetricsURL: b.MetricsURL, App: b.App, Config: b.Config}
}

// startBrokerWith is startBroker on the fake clock clk.
func startBrokerWith(t *testing.T, clk *clock.Fake, env ...string) *broker {
	t.Helper()
	b := apptest.StartWith(t, apptest.Options{Now: clk.Now, Env: append([]string{"ALLOWED_RETURN_URLS=" + spaReturn, "DEV_LOGIN=true"}, env...)})
	return &broker{URL: b.URL, App: b.App}
}

// browser is a cookie-keeping client that does not follow redirects, so
// each hop of the flow is asserted.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(raw string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(raw)
	if err != nil {
		b.t.Fatalf("GET %s: %v", raw, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) postForm(raw string, v url.Values) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(raw, v)
	if err != nil {
		b.t.Fatalf("POST %s: %v", raw, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func location(t *testing.T, resp *http.Response) *url.URL {
	t.Helper()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want a redirect", resp.StatusCode)
	}
	u, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// pkce returns a fresh verifier and its S256 challenge, as the SPA makes them.
func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// startURL is the SPA's /auth/{provider} link: return_to and a fresh PKCE
// challenge, plus extra; it returns the verifier that redeems the code.
func (b *broker) startURL(provider string, extra url.Values) (string, string) {
	verifier, challenge := pkce()
	q := url.Values{"return_to": {spaReturn}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return b.URL + "/auth/" + provider + "?" + q.Encode(), verifier
}

// tokenResponse is POST /auth/token's answer.
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
	Member           struct {
		ID    string `json:"id"`
		Email string `json:"email"`
		Name  string `json:"name"`
		Role  string `json:"role"`
	} `json:"member"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// postJSON posts a JSON body (optionally with a bearer token) and decodes the answer.
func postJSON(t *testing.T, raw string, body any, bearerToken string) (int, tokenResponse, http.Header) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, raw, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if bearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+bearerToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", raw, err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &tr)
	return resp.StatusCode, tr, resp.Header
}

// getJSON GETs with a bearer token and decodes into out.
func getJSON(t *testing.T, raw, bearerToken string, out any) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, raw, nil)
	if bearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+bearerToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", raw, err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode, resp.Header
}

// verifyFromJWKS verifies an access token the way a resource server would:
// only through our published JWKS.
func (b *broker) verifyFromJWKS(t *testing.T, tok string) *bearer.Claims {
	t.Helper()
	v, err := bearer.New(b.URL, "authbroker", bearer.NewJWKS(b.URL+"/.well-known/jwks.json", bearer.WithHTTPClient(&http.Client{Timeout: 5 * time.Second})))
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("access token does not verify through JWKS: %v", err)
	}
	return c
}

// login runs the whole browser flow for provider: start (with the SPA's
// PKCE challenge) → provider → callback → one-time code → POST /auth/token.
// signIn drives the provider's sign-in step and returns the callback URL.
func (b *broker) login(t *testing.T, br *browser, provider string, signIn func(authURL string) *url.URL) tokenResponse {
	t.Helper()
	start, verifier := b.startURL(provider, nil)
	resp, _ := br.get(start)
	authURL := location(t, resp)
	cb := signIn(authURL.String())
	resp, body := br.get(cb.String())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: status %d: %s", resp.StatusCode, body)
	}
	back := location(t, resp)
	if !strings.HasPrefix(back.String(), spaReturn+"?") {
		t.Fatalf("callback redirected to %s, want the SPA", back)
	}
	code := back.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", back)
	}
	status, tr, _ := postJSON(t, b.URL+"/auth/token", map[string]string{"grant_type": "authorization_code", "code": code, "code_verifier": verifier}, "")
	if status != http.StatusOK {
		t.Fatalf("code exchange: %d %s: %s", status, tr.Error, tr.Description)
	}
	return tr
}

// fakeSignIn is the sign-in step at a providertest fake.
func fakeSignIn(t *testing.T) func(string) *url.URL {
	return func(authURL string) *url.URL { return providertest.SignIn(t, authURL) }
}

// devSignIn fills the dev provider's form.
func devSignIn(t *testing.T, br *browser, email, name string) func(string) *url.URL {
	return func(authURL string) *url.URL {
		resp, body := br.get(authURL)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("dev form: %d", resp.StatusCode)
		}
		form := url.Values{"email": {email}, "name": {name}}
		for _, field := range []string{"state", "code_challenge"} {
			form.Set(field, hiddenValue(body, field))
		}
		u, _ := url.Parse(authURL)
		action := u.Scheme + "://" + u.Host + u.Path
		resp, _ = br.postForm(action, form)
		return location(t, resp)
	}
}

// hiddenValue extracts <input … name="field" value="…"> from a page.
func hiddenValue(page, field string) string {
	i := strings.Index(page, `name="`+field+`"`)
	if i < 0 {
		return ""
	}
	rest := page[i:]
	j := strings.Index(rest, `value="`)
	if j < 0 {
		return ""
	}
	rest = rest[j+len(`value="`):]
	return strings.ReplaceAll(rest[:strings.Index(rest, `"`)], "&#43;", "+")
}

func memberQuery() store.MemberQuery { return store.MemberQuery{Limit: 200} }

// startBrokerWithBase starts another replica of primary: same public
// BASE_URL (tokens carry it as iss), its own listener.
func startBrokerWithBase(t *testing.T, primary *broker, env ...string) *broker {
	t.Helper()
	return startBroker(t, append(env, "BASE_URL="+primary.URL)...)
}

// writeKey writes a fresh ES256 signing key for replicas to share.
func writeKey(t *testing.T) string {
	t.Helper()
	pemBytes, err := token.GenerateKeyPEM("ES256")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
