package providers_test

import (
	"context"
	"testing"

	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/providers/providertest"
)

func newNaver(t *testing.T, fake *providertest.Server) *providers.Naver {
	t.Helper()
	p, err := providers.NewNaver(fake.Provider(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNaverLogin(t *testing.T) {
	fake := providertest.NewNaver(t)
	prof, f := mustLogin(t, newNaver(t, fake))
	u := fake.User()
	if prof.Subject != u.ID || prof.Email != u.Email || prof.Name != u.Name || prof.AvatarURL != u.Picture {
		t.Fatalf("profile = %+v", prof)
	}
	if prof.EmailVerified {
		t.Fatal("naver: email is never treated as verified")
	}
	auth := fake.LastRequest(t, providertest.Authorize).Query
	if auth.Has("code_challenge") {
		t.Error("naver documents no PKCE; none is sent")
	}
	tok := fake.LastRequest(t, providertest.Token)
	if tok.Form.Get("state") != f.state {
		t.Errorf("token request state = %q, want %q", tok.Form.Get("state"), f.state)
	}
	if tok.HasBasic || tok.Form.Get("client_secret") != fake.ClientSecret {
		t.Error("naver wants client credentials as form parameters")
	}
	if tok.Form.Has("code_verifier") {
		t.Error("no code_verifier without PKCE")
	}
}

func TestNaverNameFallsBackToNickname(t *testing.T) {
	fake := providertest.NewNaver(t)
	u := fake.User()
	u.Name = ""
	fake.SetUser(u)
	prof, _ := mustLogin(t, newNaver(t, fake))
	if prof.Name != u.Login {
		t.Fatalf("name = %q, want nickname %q", prof.Name, u.Login)
	}
}

func TestNaverErrors(t *testing.T) {
	t.Run("naver: HTTP 200 error", func(t *testing.T) {
		fake := providertest.NewNaver(t)
		fake.Fail(providertest.Token, providertest.Fault{Code: "invalid_request", Description: "no valid data in session"})
		_, _, err := login(t, newNaver(t, fake))
		pe := wantProviderError(t, err, "invalid_request")
		if pe.Description != "no valid data in session" {
			t.Fatalf("description = %q", pe.Description)
		}
	})
	t.Run("naver: resultcode error", func(t *testing.T) {
		fake := providertest.NewNaver(t)
		fake.Fail(providertest.UserInfo, providertest.Fault{Code: "028", Description: "Authentication header not exists"})
		_, _, err := login(t, newNaver(t, fake))
		wantProviderError(t, err, "028")
	})
	t.Run("naver: authentication failed on the native path", func(t *testing.T) {
		fake := providertest.NewNaver(t)
		_, err := newNaver(t, fake).ProfileFromAccessToken(context.Background(), "not-a-token")
		wantInvalidToken(t, err)
		wantProviderError(t, err, "024")
	})
	t.Run("naver: native access token", func(t *testing.T) {
		fake := providertest.NewNaver(t)
		u := fake.User()
		prof, err := newNaver(t, fake).ProfileFromAccessToken(context.Background(), fake.IssueAccessToken(u))
		if err != nil || prof.Subject != u.ID {
			t.Fatalf("%+v, %v", prof, err)
		}
	})
}
