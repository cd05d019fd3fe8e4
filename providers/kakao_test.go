package providers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/providers/providertest"
)

func newKakao(t *testing.T, fake *providertest.Server) *providers.Kakao {
	t.Helper()
	p, err := providers.NewKakao(fake.Provider(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKakaoEmail(t *testing.T) {
	for _, tc := range []struct {
		name         string
		edit         func(*providertest.User)
		wantEmail    bool
		wantVerified bool
	}{
		{"kakao: verified email", func(*providertest.User) {}, true, true},
		{"kakao: without email", func(u *providertest.User) { u.Email = "" }, false, false},
		{"kakao: email unverified", func(u *providertest.User) { u.EmailVerified = false }, true, false},
		{"kakao: email invalid is unverified", func(u *providertest.User) { u.EmailInvalid = true }, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := providertest.NewKakao(t)
			u := fake.User()
			tc.edit(&u)
			fake.SetUser(u)
			prof, _ := mustLogin(t, newKakao(t, fake))
			if (prof.Email != "") != tc.wantEmail || (tc.wantEmail && prof.Email != u.Email) || prof.EmailVerified != tc.wantVerified {
				t.Fatalf("email %q verified %v, want present=%v verified=%v", prof.Email, prof.EmailVerified, tc.wantEmail, tc.wantVerified)
			}
			if prof.Subject != u.ID || prof.Name != u.Name || prof.AvatarURL != u.Picture {
				t.Fatalf("profile = %+v", prof)
			}
		})
	}
}

func TestKakaoLegacyProperties(t *testing.T) {
	fake := providertest.NewKakao(t)
	u := fake.User()
	u.KakaoLegacy = true
	fake.SetUser(u)
	prof, _ := mustLogin(t, newKakao(t, fake))
	if prof.Name != u.Name || prof.AvatarURL != u.Picture {
		t.Fatalf("profile = %+v, want nickname and image from properties", prof)
	}
}

func TestKakaoClientAuthInParams(t *testing.T) {
	t.Run("kakao: client credentials as form parameters", func(t *testing.T) {
		fake := providertest.NewKakao(t)
		_, f := mustLogin(t, newKakao(t, fake))
		tok := fake.LastRequest(t, providertest.Token)
		if tok.HasBasic || tok.Form.Get("client_secret") != fake.ClientSecret || tok.Form.Get("client_id") != fake.ClientID {
			t.Fatalf("basic=%v, want credentials in the form", tok.HasBasic)
		}
		if tok.Form.Get("code_verifier") != f.verifier {
			t.Fatal("PKCE verifier not sent")
		}
		if fake.Count(providertest.Token) != 1 {
			t.Fatal("the code was sent more than once")
		}
		if q := fake.LastRequest(t, providertest.Authorize).Query; q.Has("scope") || q.Has("nonce") {
			t.Fatalf("no scope (console consent items apply) and no nonce without OIDC: %v", q)
		}
	})
	t.Run("kakao: client secret optional", func(t *testing.T) {
		fake := providertest.NewKakao(t, providertest.WithoutSecret())
		mustLogin(t, newKakao(t, fake))
		if fake.LastRequest(t, providertest.Token).Form.Has("client_secret") {
			t.Fatal("no client_secret is sent when none is configured")
		}
	})
}

func TestKakaoErrors(t *testing.T) {
	t.Run("kakao: KOE error surfaced, code redacted", func(t *testing.T) {
		fake := providertest.NewKakao(t)
		p := newKakao(t, fake)
		_, f := mustLogin(t, p)
		code := f.callback.Query().Get("code")
		_, err := p.Exchange(context.Background(), providers.Callback{Code: code, State: f.state, PKCEVerifier: f.verifier})
		pe := wantProviderError(t, err, "KOE320")
		if !strings.Contains(pe.Description, "authorization code not found") {
			t.Errorf("description = %q", pe.Description)
		}
		noSecrets(t, err, code, fake.ClientSecret)
	})
	t.Run("kakao: unregistered redirect URI", func(t *testing.T) {
		fake := providertest.NewKakao(t)
		fake.Fail(providertest.Token, providertest.Fault{Code: "KOE006", Description: "redirect_uri mismatch"})
		_, _, err := login(t, newKakao(t, fake))
		wantProviderError(t, err, "KOE006")
	})
	t.Run("kakao: invalid token on the native path", func(t *testing.T) {
		fake := providertest.NewKakao(t)
		_, err := newKakao(t, fake).ProfileFromAccessToken(context.Background(), "not-a-token")
		wantInvalidToken(t, err)
		wantProviderError(t, err, "-401")
	})
	t.Run("kakao: consent missing (-402) is a provider error", func(t *testing.T) {
		fake := providertest.NewKakao(t)
		fake.Fail(providertest.UserInfo, providertest.Fault{Status: 403, Code: "-402", Description: "insufficient scopes."})
		_, _, err := login(t, newKakao(t, fake))
		wantProviderError(t, err, "-402")
	})
}

// TestKakaoNativeAccessToken: /v2/user/me answers for a token of any Kakao
// app, so the native path first asks access_token_info which app the token
// belongs to and refuses any but KAKAO_APP_ID (and every token when it is
// not configured): a token another app obtained never signs its holder in.
func TestKakaoNativeAccessToken(t *testing.T) {
	t.Run("kakao native: a token of our app signs in, its email verified as /v2/user/me says", func(t *testing.T) {
		fake := providertest.NewKakao(t)
		u := fake.User()
		prof, err := newKakao(t, fake).ProfileFromAccessToken(context.Background(), fake.IssueAccessToken(u))
		if err != nil || prof.Subject != u.ID || prof.Email != u.Email || !prof.EmailVerified {
			t.Fatalf("%+v, %v", prof, err)
		}
		if fake.Count(providertest.TokenInfo) != 1 {
			t.Fatal("access_token_info was not asked")
		}
	})
	t.Run("kakao native: a token issued to another Kakao app is refused", func(t *testing.T) {
		fake := providertest.NewKakao(t)
		_, err := newKakao(t, fake).ProfileFromAccessToken(context.Background(), fake.IssueForeignAccessToken(fake.User()))
		wantInvalidToken(t, err)
		if fake.Count(providertest.UserInfo) != 0 {
			t.Fatal("the profile of a foreign token was read")
		}
	})
	t.Run("kakao native: without KAKAO_APP_ID every access token is refused", func(t *testing.T) {
		fake := providertest.NewKakao(t)
		cfg := fake.Provider()
		cfg.AppID = ""
		p, err := providers.NewKakao(cfg, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.ProfileFromAccessToken(context.Background(), fake.IssueAccessToken(fake.User()))
		wantInvalidToken(t, err)
		if !strings.Contains(err.Error(), "KAKAO_APP_ID") || fake.Count(providertest.TokenInfo)+fake.Count(providertest.UserInfo) != 0 {
			t.Fatalf("err = %v; Kakao asked %d times", err, fake.Count(providertest.TokenInfo)+fake.Count(providertest.UserInfo))
		}
	})
	t.Run("kakao native: access_token_info failing is a provider error", func(t *testing.T) {
		fake := providertest.NewKakao(t)
		fake.Fail(providertest.TokenInfo, providertest.Fault{Status: http.StatusInternalServerError})
		_, err := newKakao(t, fake).ProfileFromAccessToken(context.Background(), fake.IssueAccessToken(fake.User()))
		wantProviderError(t, err, "http_500")
	})
	t.Run("kakao: KAKAO_APP_ID must be the numeric app id", func(t *testing.T) {
		cfg := providertest.NewKakao(t).Provider()
		cfg.AppID = "my-app"
		_, err := providers.NewKakao(cfg, testOptions())
		if err == nil || !strings.Contains(err.Error(), "app id") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestKakaoOIDC(t *testing.T) {
	fake := providertest.NewKakaoOIDC(t)
	reg := newRegistry(t, providers.Setup{Env: []providers.Configured{envOf(fake, "kakao", 0)}})
	p, _ := reg.Get("kakao")
	v, ok := p.(providers.IDTokenVerifier)
	if !ok {
		t.Fatal("with KAKAO_ISSUER set, kakao verifies id_tokens")
	}

	prof, f := mustLogin(t, p)
	if q := fake.LastRequest(t, providertest.Authorize).Query; q.Get("nonce") != f.nonce {
		t.Fatalf("nonce not sent: %v", q)
	}
	if !prof.EmailVerified {
		t.Fatal("the /v2/user/me verification flags still apply")
	}

	t.Run("kakao oidc: nonce mismatch refused", func(t *testing.T) {
		fake.ForgeIDTokens(providertest.WrongNonce)
		defer fake.Reset()
		_, _, err := login(t, p)
		wantInvalidToken(t, err)
	})
	t.Run("kakao oidc: id_token email never verified", func(t *testing.T) {
		prof, err := v.VerifyIDToken(context.Background(), fake.IDToken(t, fake.User(), "n1", providertest.Honest), "n1")
		if err != nil || prof.Email == "" || prof.EmailVerified || prof.Name != fake.User().Name {
			t.Fatalf("%+v, %v", prof, err)
		}
	})
	t.Run("kakao oidc: foreign audience refused", func(t *testing.T) {
		_, err := v.VerifyIDToken(context.Background(), fake.IDToken(t, fake.User(), "", providertest.WrongAudience), "")
		wantInvalidToken(t, err)
	})

	plain := newRegistry(t, providers.Setup{Env: []providers.Configured{envOf(providertest.NewKakao(t), "kakao", 0)}})
	pk, _ := plain.Get("kakao")
	if _, ok := pk.(providers.IDTokenVerifier); ok {
		t.Fatal("without KAKAO_ISSUER, kakao must not claim to verify id_tokens")
	}
}
