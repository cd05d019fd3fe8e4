package providertest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Refresh-token lifetimes and rotation, as each provider documents them:
//   - Google: access 1 hour; the refresh token does not expire by itself
//     and is not rotated; it is issued only with access_type=offline, on
//     the first consent or when prompt=consent asks again.
//   - Kakao: access 6 hours (REST API), refresh 2 months; a refresh answers
//     a new refresh token only when less than a month of the old is left.
//   - Naver: access 1 hour, refresh 1 year, never rotated.
//   - GitHub: OAuth-app tokens never expire and have no refresh token; a
//     GitHub App with expiring user tokens issues 8-hour access tokens and
//     6-month refresh tokens, replaced at every refresh.
const (
	kakaoRefreshTTL     = 60 * 24 * time.Hour
	kakaoRotateWithin   = 30 * 24 * time.Hour
	naverRefreshTTL     = 365 * 24 * time.Hour
	githubRefreshTTL    = 184 * 24 * time.Hour
	defaultGoogleTTL    = 3599 * time.Second
	defaultKakaoTTL     = 21599 * time.Second
	defaultNaverTTL     = 3600 * time.Second
	defaultGitHubAppTTL = 8 * time.Hour
)

// refreshGrant is one refresh token and what it stands for.
type refreshGrant struct {
	user    User
	scope   string
	expires time.Time // zero: does not expire
	revoked bool
}

// WithTokenLifetime makes access tokens last d instead of the provider's
// usual lifetime, so the vault's renewal can be exercised in a test.
func WithTokenLifetime(d time.Duration) Option { return func(s *Server) { s.tokenTTL = d } }

// WithExpiringUserTokens makes a GitHub fake behave like a GitHub App with
// expiring user tokens: expires_in and a refresh token that rotates.
func WithExpiringUserTokens() Option { return func(s *Server) { s.expiring = true } }

// Renewals is how many refresh-token grants the fake answered with a new
// access token.
func (s *Server) Renewals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renewals
}

// Revocations is how many grants the fake ended at its revocation
// endpoint (Kakao unlink, GitHub grant delete, Naver token delete
// included).
func (s *Server) Revocations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked
}

// RevokeGrants ends every grant of the user with id at the provider, as
// when the member removes our app in the provider's account settings: the
// refresh tokens stop renewing and the access tokens stop working.
func (s *Server) RevokeGrants(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeUserLocked(userID)
}

// LiveTokens are the access and refresh tokens the fake would accept now:
// tests look for them where they must not be (a database in clear).
func (s *Server) LiveTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for tok := range s.tokens {
		out = append(out, tok)
	}
	for rt, g := range s.refresh {
		if !g.revoked {
			out = append(out, rt)
		}
	}
	return out
}

// HasGrant reports whether the user with id holds a live refresh token.
func (s *Server) HasGrant(userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.refresh {
		if g.user.ID == userID && !g.revoked {
			return true
		}
	}
	return false
}

func (s *Server) revokeUserLocked(userID string) {
	for _, g := range s.refresh {
		if g.user.ID == userID {
			g.revoked = true
		}
	}
	for tok, it := range s.tokens {
		if it.user.ID == userID {
			delete(s.tokens, tok)
		}
	}
}

// accessTTL is how long the fake's access tokens last (0: forever).
func (s *Server) accessTTL() time.Duration {
	if s.tokenTTL > 0 {
		return s.tokenTTL
	}
	switch s.kind {
	case kindKakao:
		return defaultKakaoTTL
	case kindNaver:
		return defaultNaverTTL
	case kindGitHub:
		if s.expiring {
			return defaultGitHubAppTTL
		}
		return 0
	}
	return defaultGoogleTTL
}

// newRefreshToken issues the refresh token of a code exchange, or "" when
// the provider would issue none.
func (s *Server) newRefreshToken(g *grant) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ttl time.Duration
	switch s.kind {
	case kindGoogle:
		if g.accessType != "offline" {
			return ""
		}
		if s.consent[g.user.ID] && !strings.Contains(" "+g.prompt+" ", " consent ") {
			// Consent was given before: Google answers no refresh token.
			return ""
		}
		s.consent[g.user.ID] = true
	case kindGitHub:
		if !s.expiring {
			return ""
		}
		ttl = githubRefreshTTL
	case kindKakao:
		ttl = kakaoRefreshTTL
	case kindNaver:
		ttl = naverRefreshTTL
	}
	return s.addRefreshLocked(g.user, g.scope, ttl)
}

func (s *Server) addRefreshLocked(u User, scope string, ttl time.Duration) string {
	rt := string(s.kind) + "_rt_" + randomString(24)
	rg := &refreshGrant{user: u, scope: scope}
	if ttl > 0 {
		rg.expires = s.now().Add(ttl)
	}
	s.refresh[rt] = rg
	return rt
}

// issueFor mints an access token of the grant whose refresh token is rt.
func (s *Server) issueFor(u User, scope, rt string) string {
	tok := string(s.kind) + "_at_" + randomString(24)
	s.mu.Lock()
	defer s.mu.Unlock()
	it := issued{user: u, scope: scope, refresh: rt}
	if ttl := s.accessTTL(); ttl > 0 {
		it.expires = s.now().Add(ttl)
	}
	s.tokens[tok] = it
	return tok
}

// refreshGrant answers grant_type=refresh_token the provider's way.
func (s *Server) refreshGrant(w http.ResponseWriter, rt string) {
	s.mu.Lock()
	rg, ok := s.refresh[rt]
	live := ok && !rg.revoked && (rg.expires.IsZero() || s.now().Before(rg.expires))
	var next string
	if live {
		s.renewals++
		rotate := s.kind == kindGitHub || (s.kind == kindKakao && rg.expires.Sub(s.now()) < kakaoRotateWithin)
		if rotate {
			delete(s.refresh, rt)
			ttl := githubRefreshTTL
			if s.kind == kindKakao {
				ttl = kakaoRefreshTTL
			}
			next = s.addRefreshLocked(rg.user, rg.scope, ttl)
		}
	}
	s.mu.Unlock()
	if !live {
		switch s.kind {
		case kindGitHub:
			s.tokenError(w, 0, "bad_refresh_token", "The refresh token passed is incorrect or expired.")
		case kindKakao:
			s.tokenError(w, 0, "KOE322", "invalid refresh token")
		case kindNaver:
			s.tokenError(w, 0, "invalid_request", "invalid refresh_token")
		default:
			s.tokenError(w, 0, "invalid_grant", "Token has been expired or revoked.")
		}
		return
	}
	grantRT := rt
	if next != "" {
		grantRT = next
	}
	at := s.issueFor(rg.user, rg.scope, grantRT)
	ttl := int(s.accessTTL().Seconds())
	body := map[string]any{"access_token": at, "token_type": "bearer", "expires_in": ttl}
	switch s.kind {
	case kindGoogle, kindOIDC:
		body["token_type"], body["scope"] = "Bearer", rg.scope
	case kindNaver:
		body["expires_in"] = strconv.Itoa(ttl)
	case kindGitHub:
		body["scope"] = rg.scope
		body["refresh_token"], body["refresh_token_expires_in"] = next, int(githubRefreshTTL.Seconds())
	case kindKakao:
		if next != "" {
			body["refresh_token"], body["refresh_token_expires_in"] = next, int(kakaoRefreshTTL.Seconds())
		}
	}
	s.writeJSON(w, Token, http.StatusOK, body)
}

// endGrantLocked revokes the grant tok belongs to (tok is a refresh or an
// access token); it reports whether tok was known.
func (s *Server) endGrantLocked(tok string) bool {
	if rg, ok := s.refresh[tok]; ok {
		rg.revoked = true
		for at, it := range s.tokens {
			if it.refresh == tok {
				delete(s.tokens, at)
			}
		}
		s.revoked++
		return true
	}
	it, ok := s.tokens[tok]
	if !ok {
		return false
	}
	if it.refresh != "" {
		return s.endGrantLocked(it.refresh)
	}
	delete(s.tokens, tok)
	s.revoked++
	return true
}

// revokeRFC7009 is Google's (and the OIDC fake's) revocation endpoint:
// token=… in a form; an unknown token is 400 invalid_token.
func (s *Server) revokeRFC7009(w http.ResponseWriter, r *http.Request) {
	tok := r.PostForm.Get("token")
	s.mu.Lock()
	ok := s.endGrantLocked(tok)
	s.mu.Unlock()
	if !ok {
		s.writeJSON(w, Revoke, http.StatusBadRequest, map[string]any{"error": "invalid_token", "error_description": "Token expired or revoked"})
		return
	}
	s.writeJSON(w, Revoke, http.StatusOK, map[string]any{})
}

// kakaoUnlink is POST /v1/user/unlink with the member's access token: the
// app is disconnected from the account, every token of it ends.
func (s *Server) kakaoUnlink(w http.ResponseWriter, r *http.Request) {
	it, ok := s.bearer(r)
	if !ok {
		s.apiError(w, http.StatusUnauthorized, "-401", "this access token does not exist")
		return
	}
	s.mu.Lock()
	s.revokeUserLocked(it.user.ID)
	s.revoked++
	s.mu.Unlock()
	id, _ := strconv.ParseInt(it.user.ID, 10, 64)
	s.writeJSON(w, Revoke, http.StatusOK, map[string]any{"id": id})
}

// githubDeleteGrant is DELETE /applications/{client_id}/grant: our client
// credentials in Basic auth, the token in the JSON body; 204 when done,
// 422 for a token GitHub does not know.
func (s *Server) githubDeleteGrant(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.ClientID || pass != s.ClientSecret || r.PathValue("client") != s.ClientID {
		s.writeJSON(w, Revoke, http.StatusNotFound, map[string]any{"message": "Not Found"})
		return
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10)).Decode(&body); err != nil {
		s.writeJSON(w, Revoke, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed"})
		return
	}
	s.mu.Lock()
	it, known := s.tokens[body.AccessToken]
	if known {
		s.revokeUserLocked(it.user.ID)
		s.revoked++
	}
	s.mu.Unlock()
	if !known {
		s.writeJSON(w, Revoke, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// naverDelete is Naver's token deletion (grant_type=delete at the token
// endpoint): HTTP 200 with result "success", or an error object.
func (s *Server) naverDelete(w http.ResponseWriter, at string) {
	s.mu.Lock()
	ok := s.endGrantLocked(at)
	s.mu.Unlock()
	if !ok {
		s.tokenError(w, 0, "invalid_request", "invalid access_token")
		return
	}
	s.writeJSON(w, Token, http.StatusOK, map[string]any{"access_token": at, "result": "success"})
}
