package providers_test

import (
	"errors"
	"testing"

	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/providers/providertest"
)

// TestGitHubNativeNeedsTheSecret: without a client secret GitHub's "Check
// a token" cannot be asked, so the native path refuses every access token
// rather than accept one issued to another app.
func TestGitHubNativeNeedsTheSecret(t *testing.T) {
	gh := providertest.NewGitHub(t)
	cfg := gh.Provider()
	cfg.ClientSecret = ""
	p, err := providers.NewGitHub(cfg, providers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.ProfileFromAccessToken(t.Context(), gh.IssueAccessToken(gh.User()))
	if !errors.Is(err, providers.ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrInvalidToken", err)
	}
	if n := gh.Count(providertest.UserInfo); n != 0 {
		t.Fatalf("the profile API was called %d times", n)
	}
}
