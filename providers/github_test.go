package providers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/providers/providertest"
)

func newGitHub(t *testing.T, fake *providertest.Server) *providers.GitHub {
	t.Helper()
	p, err := providers.NewGitHub(fake.Provider(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGitHubEmails(t *testing.T) {
	private := "private"
	for _, tc := range []struct {
		name      string
		emails    []providertest.GitHubEmail
		perPage   int
		wantEmail string
	}{
		{"github: primary verified email chosen", []providertest.GitHubEmail{
			{Email: "old@example.com", Verified: true, Visibility: &private},
			{Email: "ada@example.com", Primary: true, Verified: true, Visibility: &private},
		}, 0, "ada@example.com"},
		{"github: no verified email → no email", []providertest.GitHubEmail{
			{Email: "ada@example.com", Primary: true, Verified: false},
			{Email: "other@example.com", Verified: true},
		}, 0, ""},
		{"github: no emails → no email", []providertest.GitHubEmail{}, 0, ""},
		{"github: primary verified email on a later page", []providertest.GitHubEmail{
			{Email: "a@example.com", Verified: true},
			{Email: "b@example.com", Verified: true},
			{Email: "ada@example.com", Primary: true, Verified: true},
		}, 1, "ada@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := providertest.NewGitHub(t)
			u := fake.User()
			u.GitHubEmails, u.EmailsPerPage = tc.emails, tc.perPage
			fake.SetUser(u)
			prof, _ := mustLogin(t, newGitHub(t, fake))
			if prof.Email != tc.wantEmail || prof.EmailVerified != (tc.wantEmail != "") {
				t.Fatalf("email = %q verified=%v, want %q", prof.Email, prof.EmailVerified, tc.wantEmail)
			}
			if prof.Subject != u.ID || prof.Name != u.Name {
				t.Fatalf("profile = %+v", prof)
			}
		})
	}
}

func TestGitHubTokenRequest(t *testing.T) {
	fake := providertest.NewGitHub(t)
	_, f := mustLogin(t, newGitHub(t, fake))
	auth := fake.LastRequest(t, providertest.Authorize)
	if auth.Query.Get("scope") != "user:email" || auth.Query.Get("code_challenge_method") != "S256" {
		t.Errorf("authorize query = %v", auth.Query)
	}
	tok := fake.LastRequest(t, providertest.Token)
	if got := tok.Header.Get("Accept"); got != "application/json" {
		t.Errorf("token request Accept = %q, want application/json", got)
	}
	if tok.HasBasic || tok.Form.Get("client_id") != fake.ClientID || tok.Form.Get("client_secret") != fake.ClientSecret {
		t.Errorf("GitHub wants client credentials as parameters: basic=%v", tok.HasBasic)
	}
	if tok.Form.Get("code_verifier") != f.verifier {
		t.Error("PKCE verifier not sent")
	}
	if fake.LastRequest(t, providertest.UserInfo).Header.Get("Authorization") == "" {
		t.Error("GET /user without Authorization")
	}
}

func TestGitHubNameFallsBackToLogin(t *testing.T) {
	fake := providertest.NewGitHub(t)
	u := fake.User()
	u.Name = ""
	fake.SetUser(u)
	prof, _ := mustLogin(t, newGitHub(t, fake))
	if prof.Name != u.Login {
		t.Fatalf("name = %q, want login %q", prof.Name, u.Login)
	}
}

func TestGitHubWithoutEmailScope(t *testing.T) {
	fake := providertest.NewGitHub(t)
	cfg := fake.Provider()
	cfg.Scopes = []string{"read:user"}
	p, err := providers.NewGitHub(cfg, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	prof, _ := mustLogin(t, p)
	if prof.Email != "" || prof.Subject == "" {
		t.Fatalf("a token without user:email still signs in, without email: %+v", prof)
	}
}

func TestGitHubCodeReplayed(t *testing.T) {
	fake := providertest.NewGitHub(t)
	p := newGitHub(t, fake)
	_, f := mustLogin(t, p)
	code := f.callback.Query().Get("code")
	_, err := p.Exchange(context.Background(), providers.Callback{Code: code, State: f.state, PKCEVerifier: f.verifier})
	// GitHub answers HTTP 200 {"error":"bad_verification_code"}.
	wantProviderError(t, err, "bad_verification_code")
	noSecrets(t, err, code, fake.ClientSecret)
}

func TestGitHubNativeAccessToken(t *testing.T) {
	fake := providertest.NewGitHub(t)
	p := newGitHub(t, fake)
	ctx := context.Background()
	u := fake.User()

	prof, err := p.ProfileFromAccessToken(ctx, fake.IssueAccessToken(u))
	if err != nil || prof.Subject != u.ID || prof.Email != u.Email {
		t.Fatalf("own token: %+v, %v", prof, err)
	}
	check := fake.LastRequest(t, providertest.CheckToken)
	if !check.HasBasic || check.BasicUser != fake.ClientID {
		t.Errorf("check-token must use Basic auth with our client credentials")
	}

	t.Run("github: token of another app refused", func(t *testing.T) {
		foreign := fake.IssueForeignAccessToken(u)
		_, err := p.ProfileFromAccessToken(ctx, foreign)
		wantInvalidToken(t, err)
		noSecrets(t, err, foreign, fake.ClientSecret)
	})
	t.Run("github: unknown token refused", func(t *testing.T) {
		_, err := p.ProfileFromAccessToken(ctx, "gho_unknown")
		wantInvalidToken(t, err)
	})
}

func TestGitHubDefaults(t *testing.T) {
	p, err := providers.NewGitHub(providertest.NewGitHub(t).Provider(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "github" || !providers.GitHubType().PKCE || strings.Join(p.Scopes(), " ") != "user:email" {
		t.Fatalf("name %q scopes %v", p.Name(), p.Scopes())
	}
	def, err := providers.NewGitHub(providers.Settings{ClientID: "id", ClientSecret: "secret"}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := def.AuthCodeURL(t.Context(), providers.AuthRequest{State: "s", CodeChallenge: "c"})
	if !strings.HasPrefix(got, "https://github.com/login/oauth/authorize?") || !strings.Contains(got, "redirect_uri=https%3A%2F%2Fbroker.example%2Fauth%2Fgithub%2Fcallback") {
		t.Fatalf("default authorize URL = %s", got)
	}
}
