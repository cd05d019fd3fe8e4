package providers_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/providers/providertest"
	"golang.org/x/oauth2"
)

const brokerURL = "https://broker.example"

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func testOptions() providers.Options {
	return providers.Options{
		BaseURL:  brokerURL,
		Timeout:  3 * time.Second,
		Recorder: providers.NewRecorder(nil, nil),
	}
}

// flow is one login through a provider and its fake.
type flow struct {
	state, verifier, nonce string
	callback               *url.URL
}

// login runs a whole redirect login: AuthCodeURL, the fake's authorize
// endpoint (which consents at once), our callback URL, then Exchange.
func login(t *testing.T, p providers.Provider) (providers.Profile, flow, error) {
	t.Helper()
	f := flow{state: "st-" + t.Name(), nonce: "n-" + fmt.Sprint(time.Now().UnixNano())}
	req := providers.AuthRequest{State: f.state, Nonce: f.nonce}
	if typ, ok := providers.TypeOf(p.Name()); !ok || typ.PKCE {
		f.verifier = oauth2.GenerateVerifier()
		req.CodeChallenge = oauth2.S256ChallengeFromVerifier(f.verifier)
	}
	authURL, err := p.AuthCodeURL(context.Background(), req)
	if err != nil {
		return providers.Profile{}, f, err
	}
	f.callback = providertest.SignIn(t, authURL)
	wantCallback := brokerURL + "/auth/" + p.Name() + "/callback"
	if got := f.callback.Scheme + "://" + f.callback.Host + f.callback.Path; got != wantCallback {
		t.Fatalf("redirected to %s, want our callback %s", got, wantCallback)
	}
	q := f.callback.Query()
	if q.Get("state") != f.state {
		t.Fatalf("callback state = %q, want %q", q.Get("state"), f.state)
	}
	if e := q.Get("error"); e != "" {
		return providers.Profile{}, f, &providers.Error{Provider: p.Name(), Code: e, Description: q.Get("error_description")}
	}
	prof, err := p.Exchange(context.Background(), providers.Callback{
		Code: q.Get("code"), State: f.state, PKCEVerifier: f.verifier, Nonce: f.nonce,
	})
	return prof, f, err
}

func mustLogin(t *testing.T, p providers.Provider) (providers.Profile, flow) {
	t.Helper()
	prof, f, err := login(t, p)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return prof, f
}

func wantProviderError(t *testing.T, err error, code string) *providers.Error {
	t.Helper()
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *providers.Error %s", err, code)
	}
	if code != "" && pe.Code != code {
		t.Fatalf("error code = %q, want %q (%v)", pe.Code, code, err)
	}
	return pe
}

func wantInvalidToken(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, providers.ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrInvalidToken", err)
	}
}

// noSecrets fails if any secret appears in err's text.
func noSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error text %q carries a secret", err.Error())
		}
	}
}
