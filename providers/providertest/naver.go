package providertest

import (
	"net/http"
	"testing"
)

// NewNaver starts a fake Naver: /oauth2.0/authorize, /oauth2.0/token
// (credentials and state as form parameters; errors with HTTP 200;
// expires_in as a string) and /v1/nid/me ({resultcode, message, response}).
func NewNaver(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return newServer(t, kindNaver, User{
		ID: "32742776", Email: "ada@naver.com", Name: "에이다", Login: "ada",
		Picture: "https://phinf.pstatic.net/contact/ada.png",
	}, opts...)
}

// naverMe is GET /v1/nid/me (NAVER Developers, "네이버 회원 프로필 조회 API 명세").
func (s *Server) naverMe(w http.ResponseWriter, r *http.Request) {
	it, ok := s.bearer(r)
	if !ok {
		s.apiError(w, http.StatusUnauthorized, "024", "Authentication failed / 인증에 실패했습니다.")
		return
	}
	u := it.user
	resp := map[string]any{"id": u.ID}
	if u.Email != "" {
		resp["email"] = u.Email
	}
	if u.Name != "" {
		resp["name"] = u.Name
	}
	if u.Login != "" {
		resp["nickname"] = u.Login
	}
	if u.Picture != "" {
		resp["profile_image"] = u.Picture
	}
	s.writeJSON(w, UserInfo, http.StatusOK, map[string]any{"resultcode": "00", "message": "success", "response": resp})
}
