package providertest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Forgery makes the fake issue an id_token that a correct verifier must
// refuse.
type Forgery int

// The forgeries.
const (
	Honest               Forgery = iota // a valid id_token
	WrongAudience                       // aud is another client
	WrongNonce                          // nonce is not the one from the authorize request
	BadSignature                        // payload altered after signing
	Expired                             // exp an hour ago
	WrongIssuer                         // iss is another issuer
	WrongAccessTokenHash                // at_hash binds another access token
)

// NewGoogle starts a fake Google: OpenID Connect discovery at URL (the
// issuer), JWKS, an authorize endpoint, a token endpoint accepting
// client_secret_basic or _post, RS256 id_tokens carrying the authorize
// request's nonce, and UserInfo.
func NewGoogle(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return newServer(t, kindGoogle, User{
		ID: "108234567890123456789", Email: "ada@example.com", EmailVerified: true,
		Name: "Ada Lovelace", Picture: "https://lh3.googleusercontent.com/a/ada",
	}, append([]Option{func(s *Server) { s.oidc = true }}, opts...)...)
}

// NewOIDC starts a generic OpenID Connect issuer, like NewGoogle with
// generic paths (/authorize, /token, /userinfo, /jwks).
func NewOIDC(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return newServer(t, kindOIDC, User{
		ID: "0f9c2b5e-7d1a-4c3e-9b8f-ada000000001", Email: "ada@example.com", EmailVerified: true,
		Name: "Ada Lovelace", Picture: "https://sso.example.com/ada.png",
	}, append([]Option{func(s *Server) { s.oidc = true }}, opts...)...)
}

// ForgeIDTokens makes the token endpoint issue forged id_tokens until Reset.
func (s *Server) ForgeIDTokens(f Forgery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgery = f
}

func (s *Server) currentForgery() Forgery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forgery
}

// IDToken mints an id_token for u as this issuer would for our client
// (with nonce, when non-empty), forged as f: for native-path tests
// (POST /auth/{provider}/token with id_token).
func (s *Server) IDToken(t testing.TB, u User, nonce string, f Forgery) string {
	t.Helper()
	if !s.oidc {
		t.Fatalf("providertest: %s fake issues no id_tokens", s.kind)
	}
	return s.mintIDToken(u, nonce, "", f)
}

func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	p := s.paths()
	doc := map[string]any{
		"issuer":                                s.URL,
		"authorization_endpoint":                s.URL + p.authorize,
		"token_endpoint":                        s.URL + p.token,
		"userinfo_endpoint":                     s.URL + p.userinfo,
		"jwks_uri":                              s.URL + p.jwks,
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"code_challenge_methods_supported":      []string{"plain", "S256"},
		"claims_supported":                      []string{"aud", "email", "email_verified", "exp", "iat", "iss", "name", "picture", "sub", "nonce"},
	}
	if s.kind == kindGoogle || s.kind == kindOIDC {
		doc["revocation_endpoint"] = s.URL + "/revoke"
	}
	if s.kind == kindOIDC {
		doc["scopes_supported"] = []string{"openid", "email", "profile", "offline_access"}
	}
	if s.kind == kindKakao {
		doc["token_endpoint_auth_methods_supported"] = []string{"client_secret_post"}
		doc["claims_supported"] = []string{"aud", "email", "exp", "iat", "iss", "nickname", "picture", "sub", "nonce", "auth_time"}
	}
	s.writeJSON(w, Discovery, http.StatusOK, doc)
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &s.key.PublicKey, KeyID: s.kid, Algorithm: string(jose.RS256), Use: "sig"}}}
	s.writeJSON(w, JWKS, http.StatusOK, set)
}

// mintIDToken signs an id_token for u (OpenID Connect Core 1.0 §2).
// accessToken, when set, is bound by at_hash (§3.1.3.6).
func (s *Server) mintIDToken(u User, nonce, accessToken string, f Forgery) string {
	now := s.now()
	claims := map[string]any{
		"iss": s.URL,
		"sub": u.ID,
		"aud": s.ClientID,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	if s.kind == kindKakao {
		claims["auth_time"] = now.Unix()
		claims["nickname"] = u.Name
		if u.Picture != "" {
			claims["picture"] = u.Picture
		}
		if u.Email != "" {
			claims["email"] = u.Email // Kakao sends no email_verified claim
		}
	} else {
		claims["azp"] = s.ClientID
		if u.Email != "" && !u.EmailOnlyInUserInfo {
			claims["email"] = u.Email
			claims["email_verified"] = u.EmailVerified
		}
		if u.Name != "" {
			claims["name"] = u.Name
		}
		if u.Picture != "" {
			claims["picture"] = u.Picture
		}
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
	}
	switch f {
	case WrongAudience:
		claims["aud"] = "someone-else.apps.example.com"
		claims["azp"] = "someone-else.apps.example.com"
	case WrongNonce:
		claims["nonce"] = "not-the-nonce-" + randomString(6)
	case Expired:
		claims["iat"] = now.Add(-2 * time.Hour).Unix()
		claims["exp"] = now.Add(-time.Hour).Unix()
	case WrongIssuer:
		claims["iss"] = "https://issuer.example.net"
	case WrongAccessTokenHash:
		sum := sha256.Sum256([]byte("some-other-access-token"))
		claims["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: s.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", s.kid))
	if err != nil {
		panic(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		panic(err)
	}
	if f == BadSignature {
		// Re-encode the payload with another subject and keep the
		// original signature: only signature verification can tell.
		parts := strings.Split(raw, ".")
		claims["sub"] = "attacker"
		body, _ := jwtPayload(claims)
		parts[1] = body
		raw = strings.Join(parts, ".")
	}
	return raw
}

func jwtPayload(claims map[string]any) (string, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// oidcUserInfo is the UserInfo endpoint (OpenID Connect Core 1.0 §5.3).
func (s *Server) oidcUserInfo(w http.ResponseWriter, r *http.Request) {
	it, ok := s.bearer(r)
	if !ok {
		s.apiError(w, http.StatusUnauthorized, "invalid_token", "Invalid Credentials")
		return
	}
	u := it.user
	body := map[string]any{"sub": u.ID}
	if u.Email != "" {
		body["email"] = u.Email
		body["email_verified"] = u.EmailVerified
	}
	if u.Name != "" {
		body["name"] = u.Name
	}
	if u.Picture != "" {
		body["picture"] = u.Picture
	}
	s.writeJSON(w, UserInfo, http.StatusOK, body)
}
