package providers_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authbroker/authbroker/providers"
	"golang.org/x/oauth2"
)

func TestDevLogin(t *testing.T) {
	d := providers.NewDev(providers.Options{BaseURL: brokerURL})
	verifier := oauth2.GenerateVerifier()
	challenge := oauth2.S256ChallengeFromVerifier(verifier)
	authURL, err := d.AuthCodeURL(t.Context(), providers.AuthRequest{State: "st1", CodeChallenge: challenge})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(authURL)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != brokerURL+"/auth/dev/authorize" || u.Query().Get("state") != "st1" {
		t.Fatalf("AuthCodeURL = %s", authURL)
	}

	// GET shows the form with the default user and the hidden fields.
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/auth/dev/authorize?"+u.RawQuery, nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{providers.DevDefaultEmail, `name="state" value="st1"`, `value="` + challenge + `"`, `action="` + brokerURL + `/auth/dev/authorize"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("form lacks %q", want)
		}
	}

	// POST redirects to the callback with a code and the same state.
	form := url.Values{"state": {"st1"}, "code_challenge": {challenge}, "email": {"Grace@Example.com"}, "name": {"Grace Hopper"}}
	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/auth/dev/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	d.ServeHTTP(rec, req)
	if rec.Code != http.StatusFound {
		t.Fatalf("POST answered %d", rec.Code)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if loc.Scheme+"://"+loc.Host+loc.Path != brokerURL+"/auth/dev/callback" || loc.Query().Get("state") != "st1" {
		t.Fatalf("redirect = %s", loc)
	}
	code := loc.Query().Get("code")

	prof, err := d.Exchange(context.Background(), providers.Callback{Code: code, State: "st1", PKCEVerifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	if prof.Subject != "grace@example.com" || prof.Email != "Grace@Example.com" || !prof.EmailVerified || prof.Name != "Grace Hopper" || prof.Provider != "dev" {
		t.Fatalf("profile = %+v", prof)
	}

	t.Run("dev: wrong PKCE verifier refused", func(t *testing.T) {
		_, err := d.Exchange(context.Background(), providers.Callback{Code: code, State: "st1", PKCEVerifier: oauth2.GenerateVerifier()})
		wantProviderError(t, err, "invalid_grant")
	})
	t.Run("dev: missing PKCE verifier refused", func(t *testing.T) {
		_, err := d.Exchange(context.Background(), providers.Callback{Code: code, State: "st1"})
		wantProviderError(t, err, "invalid_grant")
	})
	t.Run("dev: bad email shows the form again", func(t *testing.T) {
		form := url.Values{"state": {"st1"}, "email": {"not an email"}}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/auth/dev/authorize", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		d.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "Enter an email address") {
			t.Fatalf("answered %d: %s", rec.Code, rec.Body)
		}
	})
	t.Run("dev: form escapes what it echoes", func(t *testing.T) {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/auth/dev/authorize?state=%22%3E%3Cscript%3E", nil))
		if strings.Contains(rec.Body.String(), "<script>") {
			t.Fatal("state echoed unescaped")
		}
	})
}
