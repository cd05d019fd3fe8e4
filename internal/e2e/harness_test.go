package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authbroker/authbroker/cmd/authbroker/app/apptest"
	"github.com/authbroker/authbroker/examples/resource-server/api"
	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/internal/config"
)

// serve starts h on a listener from listen and stops it at the end of the test.
func serve(t *testing.T, ln net.Listener, h http.Handler) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
}

// broker is an authbroker built with app.Build and served on 127.0.0.1.
type broker struct {
	URL        string
	MetricsURL string
	Config     *config.Config
}

// startBroker starts a broker on ln (see apptest.Start); env entries win
// over the test defaults.
func startBroker(t *testing.T, ln net.Listener, env ...string) *broker {
	t.Helper()
	b := apptest.Start(t, ln, env...)
	return &broker{URL: b.URL, MetricsURL: b.MetricsURL, Config: b.Config}
}

// refreshes is the number of refresh grants the broker has answered, by
// any outcome (rotated, grace, reuse_revoked, invalid), from /metrics.
func (b *broker) refreshes(t *testing.T) int {
	t.Helper()
	total := 0
	for _, n := range b.refreshOutcomes(t) {
		total += n
	}
	return total
}

// refreshOutcomes is authbroker_refresh_total by outcome, from /metrics.
func (b *broker) refreshOutcomes(t *testing.T) map[string]int {
	t.Helper()
	resp, err := http.Get(b.MetricsURL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "authbroker_refresh_total{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		outcome := ""
		if _, rest, ok := strings.Cut(f[0], `outcome="`); ok {
			outcome, _, _ = strings.Cut(rest, `"`)
		}
		out[outcome] += int(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	return out
}

// me calls the broker's protected GET /auth/me with token and returns the
// status and the error code of a refusal.
func (b *broker) me(t *testing.T, token string) (int, string) {
	t.Helper()
	return getJSON(t, b.URL+"/auth/me", token)
}

// getJSON sends GET url with a bearer token and returns the status and the
// body's "error" member.
func getJSON(t *testing.T, u, token string) (int, string) {
	t.Helper()
	status, raw := getBody(t, u, token)
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(raw, &body)
	return status, body.Error
}

// resourceServer is the example API (examples/resource-server) trusting the
// broker, with a record of every call it answered.
type resourceServer struct {
	URL string
	// Verifier checks like the API (JWKS, iss, aud, no clock leeway, so an
	// access token is refused the moment its exp passes) but offline only,
	// without the API's introspection.
	Verifier *bearer.Verifier

	// slowRefusal is how long to hold back the next 401 (nanoseconds).
	slowRefusal atomic.Int64

	mu    sync.Mutex
	calls []apiCall
}

// apiCall is one answered request to the API.
type apiCall struct {
	Token  string // the bearer token presented
	Status int
	Error  string // the error code of a 401
}

// startResourceServer serves the example API for the app at appOrigin. With
// introspectSecret it also asks the broker about every token, so logouts
// take effect at once.
func startResourceServer(t *testing.T, b *broker, appOrigin, introspectSecret string) *resourceServer {
	t.Helper()
	// Negative means no leeway at all (zero would mean bearer.MaxLeeway):
	// expiry is observable within a few seconds of ACCESS_TOKEN_TTL.
	v, err := api.NewVerifier(b.URL, b.Config.JWTAudience, introspectSecret, &http.Client{Timeout: 5 * time.Second}, bearer.WithLeeway(-1))
	if err != nil {
		t.Fatal(err)
	}
	opts := api.Options{Verifier: v, AllowedOrigins: []string{appOrigin}}
	// The tests' own verifier checks tokens offline only (no introspection),
	// to tell a logout seen by introspection from an expiry.
	offline, err := api.NewVerifier(b.URL, b.Config.JWTAudience, "", &http.Client{Timeout: 5 * time.Second}, bearer.WithLeeway(-1))
	if err != nil {
		t.Fatal(err)
	}
	rs := &resourceServer{Verifier: offline}
	h := api.Handler(opts)
	ln, u := apptest.Listen(t)
	rs.URL = u
	serve(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		call := apiCall{Token: strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), Status: rec.Code}
		if rec.Code == http.StatusUnauthorized {
			var body struct {
				Error string `json:"error"`
			}
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			call.Error = body.Error
			if d := rs.slowRefusal.Swap(0); d > 0 {
				time.Sleep(time.Duration(d))
			}
		}
		rs.mu.Lock()
		rs.calls = append(rs.calls, call)
		rs.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	return rs
}

// delayNextRefusal holds the next 401 back for d before answering it.
func (rs *resourceServer) delayNextRefusal(d time.Duration) { rs.slowRefusal.Store(int64(d)) }

// Calls returns the calls answered so far.
func (rs *resourceServer) Calls() []apiCall {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]apiCall(nil), rs.calls...)
}

// spaConfig is window.AUTHBROKER_SPA, the example SPA's settings (see
// examples/spa/config.js).
type spaConfig struct {
	BaseURL     string        `json:"baseUrl"`
	APIURL      string        `json:"apiUrl"`
	Delivery    string        `json:"delivery"`
	Persist     string        `json:"persist"`
	AutoRefresh bool          `json:"autoRefresh"`
	Providers   []spaProvider `json:"providers"`
	// ProviderAPI is the provider API the SPA calls with the member's
	// provider token (null: none).
	ProviderAPI *spaProviderAPI `json:"providerApi"`
}

type spaProviderAPI struct {
	Provider string `json:"provider"`
	URL      string `json:"url"`
}

type spaProvider struct {
	Name  string `json:"name"`
	Label string `json:"label"`
}

// serveSPA serves examples/spa on ln, as is, except config.js, which is
// cfg; and /avatar.svg, a local picture for fake accounts (the page must
// not reach for the network).
func serveSPA(t *testing.T, ln net.Listener, cfg spaConfig) {
	t.Helper()
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, "window.AUTHBROKER_SPA = %s;\n", js)
	})
	mux.HandleFunc("GET /avatar.svg", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		io.WriteString(w, avatarSVG)
	})
	mux.Handle("GET /", http.FileServer(http.Dir("../../examples/spa")))
	serve(t, ln, mux)
}

const avatarSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">` +
	`<circle cx="48" cy="48" r="48" fill="#6f42c1"/>` +
	`<text x="48" y="60" font-family="sans-serif" font-size="36" font-weight="700" fill="#fff" text-anchor="middle">AL</text></svg>`

// tokenResponse is the broker's POST /auth/token answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Member       struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"member"`
}

// signInDev signs in with the dev provider the way a browser would, with a
// plain HTTP client and a cookie jar: start with a PKCE challenge, post the
// dev form, follow the redirects until the broker sends the browser to
// returnTo with a one-time code, and redeem it.
func signInDev(t *testing.T, b *broker, returnTo, email string) tokenResponse {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	appURL, err := url.Parse(returnTo)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Host == appURL.Host {
				return http.ErrUseLastResponse // the app is not running; the code is in the URL
			}
			return nil
		},
	}
	verifier := randomVerifier(t)
	sum := sha256.Sum256([]byte(verifier))
	start := b.URL + "/auth/dev?" + url.Values{
		"return_to":             {returnTo},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}.Encode()
	resp, err := client.Get(start)
	if err != nil {
		t.Fatalf("start login: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dev form: status %d", resp.StatusCode)
	}
	form := resp.Request.URL.Query() // the form's address carries state and code_challenge
	resp, err = client.PostForm(b.URL+"/auth/dev/authorize", url.Values{
		"state": {form.Get("state")}, "code_challenge": {form.Get("code_challenge")},
		"email": {email}, "name": {"Ada Lovelace"},
	})
	if err != nil {
		t.Fatalf("post dev form: %v", err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("after the dev form: status %d, want a redirect to the app (%v)", resp.StatusCode, err)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("redirect to the app has no code: %s", loc.Redacted())
	}
	body, _ := json.Marshal(map[string]string{"grant_type": "authorization_code", "code": code, "code_verifier": verifier})
	resp, err = http.Post(b.URL+"/auth/token", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("redeem code: %v", err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("redeem code: status %d, err %v", resp.StatusCode, err)
	}
	return tr
}

func randomVerifier(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// eventually polls cond every 100 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expired waits until the resource server's verifier refuses token as
// expired (and for no other reason).
func expired(t *testing.T, rs *resourceServer, token string) {
	t.Helper()
	eventually(t, 15*time.Second, "the access token to expire", func() bool {
		_, err := rs.Verifier.Verify(context.Background(), token)
		return errors.Is(err, bearer.ErrExpired)
	})
}
