package providertest

import (
	"net/http"
	"strconv"
	"testing"
)

// NewKakao starts a fake Kakao: /oauth/authorize, /oauth/token (client
// credentials only as form parameters; errors with error_code KOE…) and
// /v2/user/me with or without kakao_account.email. WithoutSecret makes the
// app one without a client secret.
func NewKakao(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return newServer(t, kindKakao, kakaoUser(), opts...)
}

// NewKakaoOIDC is NewKakao with OpenID Connect enabled: discovery at URL
// (the issuer), JWKS, and an id_token (without email_verified) in token
// responses.
func NewKakaoOIDC(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return newServer(t, kindKakao, kakaoUser(), append([]Option{func(s *Server) { s.oidc = true }}, opts...)...)
}

// kakaoAppID is the fake Kakao app's numeric id; tokens issued to "another
// app" report kakaoForeignAppID.
const (
	kakaoAppID        = 1048576
	kakaoForeignAppID = 2097152
)

func kakaoUser() User {
	return User{
		ID: "3141592653", Email: "ada@example.com", EmailVerified: true,
		Name: "에이다", Picture: "https://k.kakaocdn.net/dn/ada/img_640x640.jpg",
	}
}

// kakaoTokenInfo is GET /v1/user/access_token_info (Kakao Login REST API,
// "Retrieve token information"): the user, the remaining lifetime in
// seconds and the app the token was issued to.
func (s *Server) kakaoTokenInfo(w http.ResponseWriter, r *http.Request) {
	it, ok := s.bearer(r)
	if !ok {
		s.apiError(w, http.StatusUnauthorized, "-401", "this access token does not exist")
		return
	}
	id, err := strconv.ParseInt(it.user.ID, 10, 64)
	if err != nil {
		http.Error(w, "fake Kakao ids are numeric", http.StatusInternalServerError)
		return
	}
	app := s.AppID
	if it.foreign {
		app = kakaoForeignAppID
	}
	s.writeJSON(w, TokenInfo, http.StatusOK, map[string]any{"id": id, "expires_in": 21599, "app_id": app})
}

// kakaoMe is GET or POST /v2/user/me (Kakao Login REST API, "Retrieve
// user information").
func (s *Server) kakaoMe(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	it, ok := s.bearer(r)
	if !ok {
		s.apiError(w, http.StatusUnauthorized, "-401", "this access token does not exist")
		return
	}
	u := it.user
	id, err := strconv.ParseInt(u.ID, 10, 64)
	if err != nil {
		http.Error(w, "fake Kakao ids are numeric", http.StatusInternalServerError)
		return
	}
	account := map[string]any{
		"profile_nickname_needs_agreement": false,
		"profile_image_needs_agreement":    false,
	}
	props := map[string]any{"nickname": u.Name}
	if u.Picture != "" {
		props["profile_image"] = u.Picture
		props["thumbnail_image"] = u.Picture
	}
	if !u.KakaoLegacy {
		account["profile"] = map[string]any{
			"nickname": u.Name, "profile_image_url": u.Picture, "thumbnail_image_url": u.Picture,
			"is_default_image": u.Picture == "", "is_default_nickname": false,
		}
	}
	if u.Email != "" {
		account["has_email"] = true
		account["email_needs_agreement"] = false
		account["is_email_valid"] = !u.EmailInvalid
		account["is_email_verified"] = u.EmailVerified
		account["email"] = u.Email
	} else {
		// No consent to account_email (or no permission to ask for it).
		account["has_email"] = true
		account["email_needs_agreement"] = true
	}
	s.writeJSON(w, UserInfo, http.StatusOK, map[string]any{
		"id": id, "connected_at": "2024-05-01T09:00:00Z", "properties": props, "kakao_account": account,
	})
}
