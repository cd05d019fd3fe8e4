package providertest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authbroker/authbroker/providers/providertest"
)

// code signs in at fake and returns a fresh authorization code.
func code(t *testing.T, fake *providertest.Server, redirectURI string) string {
	t.Helper()
	q := url.Values{"client_id": {fake.ClientID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "state": {"s"}}
	authURL := fake.Provider().AuthURL + "?" + q.Encode()
	loc := providertest.SignIn(t, authURL)
	if loc.Query().Get("state") != "s" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize redirect = %s", loc)
	}
	return loc.Query().Get("code")
}

func post(t *testing.T, tokenURL string, form url.Values, header http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestGitHubTokenAnswerFollowsAccept(t *testing.T) {
	fake := providertest.NewGitHub(t)
	cfg := fake.Provider()
	const cb = "https://broker.example/auth/github/callback"
	form := func() url.Values {
		return url.Values{"client_id": {fake.ClientID}, "client_secret": {fake.ClientSecret}, "code": {code(t, fake, cb)}, "redirect_uri": {cb}}
	}

	resp, body := post(t, cfg.TokenURL, form(), nil)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		t.Fatalf("without Accept: Content-Type %q", ct)
	}
	if v, _ := url.ParseQuery(body); v.Get("access_token") == "" || v.Get("token_type") != "bearer" {
		t.Fatalf("form answer = %q", body)
	}

	resp, body = post(t, cfg.TokenURL, form(), http.Header{"Accept": {"application/json"}})
	var tok map[string]any
	_ = json.Unmarshal([]byte(body), &tok)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || tok["access_token"] == nil {
		t.Fatalf("with Accept JSON: %s %q", resp.Header.Get("Content-Type"), body)
	}

	// A reused code: HTTP 200 with an error, as GitHub does.
	f := form()
	post(t, cfg.TokenURL, f, nil)
	resp, body = post(t, cfg.TokenURL, f, http.Header{"Accept": {"application/json"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"bad_verification_code"`) {
		t.Fatalf("reused code: %d %s", resp.StatusCode, body)
	}
}

func TestKakaoRefusesBasicAuth(t *testing.T) {
	fake := providertest.NewKakao(t)
	const cb = "https://broker.example/auth/kakao/callback"
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code(t, fake, cb)}, "redirect_uri": {cb}}
	req := http.Header{}
	r, _ := http.NewRequest(http.MethodPost, "http://x", nil)
	r.SetBasicAuth(fake.ClientID, fake.ClientSecret)
	req.Set("Authorization", r.Header.Get("Authorization"))
	resp, body := post(t, fake.Provider().TokenURL, form, req)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"error_code":"KOE010"`) {
		t.Fatalf("basic auth at Kakao: %d %s", resp.StatusCode, body)
	}
}

func TestNaverExpiresInIsAString(t *testing.T) {
	fake := providertest.NewNaver(t)
	const cb = "https://broker.example/auth/naver/callback"
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {fake.ClientID}, "client_secret": {fake.ClientSecret}, "code": {code(t, fake, cb)}, "state": {"s"}}
	_, body := post(t, fake.Provider().TokenURL, form, nil)
	var tok map[string]any
	if err := json.Unmarshal([]byte(body), &tok); err != nil {
		t.Fatal(err)
	}
	if _, ok := tok["expires_in"].(string); !ok {
		t.Fatalf("expires_in = %#v, want a string as Naver sends it", tok["expires_in"])
	}
}

// TestKakaoTokenInfoShape: GET /v1/user/access_token_info answers Kakao's
// documented fields (id, expires_in in seconds, app_id) with the app the
// token was issued to, and -401 for a token Kakao does not know.
func TestKakaoTokenInfoShape(t *testing.T) {
	fake := providertest.NewKakao(t)
	get := func(tok string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, fake.URL+"/v1/user/access_token_info", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	st, body := get(fake.IssueAccessToken(fake.User()))
	if st != http.StatusOK || body["id"] != float64(3141592653) || body["app_id"] != float64(fake.AppID) || body["expires_in"].(float64) <= 0 || len(body) != 3 {
		t.Fatalf("token info: %d %v", st, body)
	}
	if _, foreign := get(fake.IssueForeignAccessToken(fake.User())); foreign["app_id"] == float64(fake.AppID) {
		t.Fatalf("a foreign token reports our app: %v", foreign)
	}
	if st, body := get("unknown"); st != http.StatusUnauthorized || body["code"] != float64(-401) {
		t.Fatalf("unknown token: %d %v", st, body)
	}
}
