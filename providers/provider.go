// Package providers holds one file per identity provider type behind a
// small interface, each with its Type (what it is called, which settings it
// takes, whether it does PKCE, how to open one), and the registry of the
// providers configured by environment variables or by an admin.
//
// Provider quirks (Naver's HTTP-200 errors, Kakao's optional email, GitHub's
// separate emails endpoint) are handled and commented in that provider's
// file, nowhere else; everything above this package sees a normalized Profile.
package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Profile is a provider's answer about the signed-in user, normalized.
type Profile struct {
	Provider string
	// Subject is the provider's stable user id, as a string (GitHub and
	// Kakao ids are numbers; they are formatted in base 10).
	Subject string
	Email   string
	// EmailVerified is true only when the provider asserts it (see each
	// provider's file); linking by email depends on it.
	EmailVerified bool
	Name          string
	AvatarURL     string
	// Raw is the provider's profile JSON as received (id_token claims for OIDC).
	Raw json.RawMessage
	// Grant is the provider's tokens from a browser sign-in (nil on the
	// native path): kept by the token vault when the provider is
	// configured with STORE_TOKENS, dropped otherwise. Never serialized.
	Grant *Grant `json:"-"`
}

// AuthRequest carries the per-login values that go into an authorize URL.
type AuthRequest struct {
	State string
	// CodeChallenge is the S256 PKCE challenge; providers that do not
	// support PKCE leave it out.
	CodeChallenge string
	// Nonce is sent to OIDC providers and checked in the id_token.
	Nonce string
	// Consent asks the provider to show its consent screen again
	// (prompt=consent): Google hands out a refresh token only on consent,
	// so the token vault asks for it when it holds none for the member.
	Consent bool
	// LoginHint names the account expected (a reconnect of a known
	// identity); providers that take login_hint send it.
	LoginHint string
}

// Callback carries what the broker has when the provider sends the browser back.
type Callback struct {
	Code         string
	State        string
	PKCEVerifier string
	Nonce        string
}

// Provider is what every identity provider implements.
type Provider interface {
	// Name is the registry key and the path segment in /auth/{name}.
	Name() string
	// DisplayName is shown on the login button.
	DisplayName() string
	// AuthCodeURL is where the browser goes to sign in at the provider. It
	// fails when the provider cannot be located (OIDC discovery).
	AuthCodeURL(ctx context.Context, r AuthRequest) (string, error)
	// Exchange trades an authorization code for the user's profile,
	// verifying the id_token and nonce where the provider is OIDC.
	Exchange(ctx context.Context, cb Callback) (Profile, error)
}

// IDTokenVerifier is implemented by OIDC providers: the native-app path
// (POST /auth/{provider}/token with id_token). When nonce is empty the
// token's nonce is not checked (the native path allows it; see SECURITY.md).
type IDTokenVerifier interface {
	VerifyIDToken(ctx context.Context, rawIDToken, nonce string) (Profile, error)
}

// AccessTokenProfiler is implemented by providers whose user API accepts an
// access token obtained elsewhere (the native-app path with access_token).
type AccessTokenProfiler interface {
	ProfileFromAccessToken(ctx context.Context, accessToken string) (Profile, error)
}

// Error is a failure the provider reported (an OAuth error code and
// description, a KOE code from Kakao, a resultcode from Naver). Handlers show
// Description to the user and log Code; never the request's secrets.
type Error struct {
	Provider    string
	Code        string
	Description string
	Err         error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Provider, e.Code)
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrInvalidToken is returned (wrapped) when a provider token presented on
// the native path fails verification: bad signature, foreign audience,
// expired, wrong issuer or nonce.
var ErrInvalidToken = errors.New("invalid provider token")
