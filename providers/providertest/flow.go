package providertest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// authorize is the authorization endpoint: it validates the request the
// way the provider does, then consents at once and redirects back with a
// code and the same state (RFC 6749 §4.1.2).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// Errors about the client or redirect_uri are shown, never redirected
	// (RFC 6749 §4.1.2.1).
	if q.Get("client_id") != s.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirectURI := q.Get("redirect_uri")
	if u, err := url.Parse(redirectURI); err != nil || !u.IsAbs() {
		http.Error(w, "redirect_uri must be an absolute URL", http.StatusBadRequest)
		return
	}
	back := func(v url.Values) {
		if st := q.Get("state"); st != "" {
			v.Set("state", st)
		}
		http.Redirect(w, r, withQuery(redirectURI, v), http.StatusFound)
	}
	if q.Get("response_type") != "code" {
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	}
	if m := q.Get("code_challenge_method"); m != "" && m != "S256" {
		back(url.Values{"error": {"invalid_request"}, "error_description": {"only S256 is accepted"}})
		return
	}
	if (s.kind == kindGoogle || s.kind == kindOIDC) && !strings.Contains(" "+q.Get("scope")+" ", " openid ") {
		back(url.Values{"error": {"invalid_scope"}, "error_description": {"openid scope is required"}})
		return
	}
	scope := q.Get("scope")
	if scope == "" {
		scope = s.defaultScope()
	}
	code := randomString(18)
	s.mu.Lock()
	s.codes[code] = &grant{
		user:        s.user,
		redirectURI: redirectURI,
		challenge:   q.Get("code_challenge"),
		nonce:       q.Get("nonce"),
		state:       q.Get("state"),
		scope:       scope,
		accessType:  q.Get("access_type"),
		prompt:      q.Get("prompt"),
	}
	s.mu.Unlock()
	back(url.Values{"code": {code}})
}

// token is the token endpoint: client authentication the provider's way,
// single-use codes, redirect_uri and PKCE checks, then the provider's
// response shape.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	form := r.PostForm
	if form == nil {
		s.tokenError(w, 0, "invalid_request", "the token request must be form-encoded")
		return
	}
	if msg := s.checkClient(r); msg != "" {
		code := "invalid_client"
		switch s.kind {
		case kindGitHub:
			code = "incorrect_client_credentials"
		case kindKakao:
			code = "KOE010"
		}
		s.tokenError(w, http.StatusUnauthorized, code, msg)
		return
	}
	switch form.Get("grant_type") {
	case "refresh_token":
		s.refreshGrant(w, form.Get("refresh_token"))
		return
	case "delete":
		if s.kind == kindNaver {
			s.naverDelete(w, form.Get("access_token"))
			return
		}
	}
	// GitHub documents no grant_type parameter; the others require it.
	if gt := form.Get("grant_type"); gt != "authorization_code" && (s.kind != kindGitHub || gt != "") {
		s.tokenError(w, 0, "unsupported_grant_type", "grant_type must be authorization_code")
		return
	}
	code := form.Get("code")
	s.mu.Lock()
	g, ok := s.codes[code]
	if ok && g.used {
		ok = false
	}
	if ok {
		g.used = true
	}
	s.mu.Unlock()
	if !ok {
		s.badCode(w, code)
		return
	}
	ru := form.Get("redirect_uri")
	switch s.kind {
	case kindNaver:
		// Naver's token request documents no redirect_uri.
	case kindGitHub:
		if ru != "" && ru != g.redirectURI {
			s.tokenError(w, 0, "redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.")
			return
		}
	default:
		if ru != g.redirectURI {
			s.tokenError(w, 0, "invalid_grant", "redirect_uri does not match the authorization request")
			return
		}
	}
	if s.kind == kindNaver && form.Get("state") == "" {
		s.tokenError(w, 0, "invalid_request", "state is required")
		return
	}
	if s.kind != kindNaver {
		if msg := checkPKCE(g.challenge, form.Get("code_verifier")); msg != "" {
			s.tokenError(w, 0, "invalid_grant", msg)
			return
		}
	}
	s.tokenSuccess(w, r, g)
}

// checkClient authenticates the client the way the provider documents;
// it returns why it failed, or "".
func (s *Server) checkClient(r *http.Request) string {
	form := r.PostForm
	user, pass, basic := r.BasicAuth()
	id, secret := form.Get("client_id"), form.Get("client_secret")
	switch s.kind {
	case kindGoogle, kindOIDC:
		// client_secret_basic or client_secret_post, not both (RFC 6749 §2.3).
		if basic && secret != "" {
			return "more than one client authentication method"
		}
		if basic {
			u, _ := url.QueryUnescape(user)
			p, _ := url.QueryUnescape(pass)
			id, secret = u, p
		}
	default:
		// GitHub, Kakao and Naver take credentials as form parameters only.
		if basic {
			return "client credentials must be sent as form parameters"
		}
	}
	if id != s.ClientID {
		return "unknown client_id"
	}
	if s.ClientSecret != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(s.ClientSecret)) != 1 {
		return "bad client credentials"
	}
	return ""
}

// checkPKCE verifies code_verifier against the S256 challenge (RFC 7636
// §4.6). A verifier without a challenge is refused too: it means the
// client believes it sent one.
func checkPKCE(challenge, verifier string) string {
	switch {
	case challenge == "" && verifier == "":
		return ""
	case challenge == "":
		return "code_verifier sent but no code_challenge was"
	case verifier == "":
		return "code_verifier is required"
	}
	sum := sha256.Sum256([]byte(verifier))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
		return "code_verifier does not match the code_challenge"
	}
	return ""
}

// badCode answers an unknown or reused code in the provider's words. Kakao
// really does echo the code in error_description.
func (s *Server) badCode(w http.ResponseWriter, code string) {
	switch s.kind {
	case kindGitHub:
		s.tokenError(w, 0, "bad_verification_code", "The code passed is incorrect or expired.")
	case kindKakao:
		s.tokenError(w, 0, "KOE320", "authorization code not found for code="+code)
	case kindNaver:
		s.tokenError(w, 0, "invalid_request", "no valid data in session")
	default:
		s.tokenError(w, 0, "invalid_grant", "Malformed auth code.")
	}
}

// tokenError writes a token-endpoint error in the provider's shape.
// status 0 means the provider's usual status for it.
func (s *Server) tokenError(w http.ResponseWriter, status int, code, desc string) {
	body := map[string]any{"error": code, "error_description": desc}
	switch s.kind {
	case kindGitHub:
		// GitHub answers token errors with HTTP 200 (GitHub Docs,
		// "Troubleshooting OAuth app access token request errors").
		if status == 0 || status == http.StatusUnauthorized {
			status = http.StatusOK
		}
		body["error_uri"] = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
	case kindNaver:
		// Naver answers token errors with HTTP 200.
		if status == 0 {
			status = http.StatusOK
		}
	case kindKakao:
		if strings.HasPrefix(code, "KOE") {
			body["error_code"] = code
			body["error"] = kakaoOAuthError(code)
		}
		if status == 0 {
			status = http.StatusBadRequest
		}
	default:
		if status == 0 {
			status = http.StatusBadRequest
		}
	}
	s.writeJSON(w, Token, status, body)
}

// kakaoOAuthError is the OAuth error Kakao sends with a KOE code.
func kakaoOAuthError(koe string) string {
	switch koe {
	case "KOE010", "KOE101":
		return "invalid_client"
	case "KOE006":
		return "invalid_request"
	}
	return "invalid_grant"
}

// tokenSuccess writes the provider's token response.
func (s *Server) tokenSuccess(w http.ResponseWriter, r *http.Request, g *grant) {
	rt := s.newRefreshToken(g)
	at := s.issueFor(g.user, g.scope, rt)
	ttl := int(s.accessTTL().Seconds())
	switch s.kind {
	case kindGitHub:
		if s.expiring {
			s.writeJSON(w, Token, http.StatusOK, map[string]any{"access_token": at, "scope": g.scope, "token_type": "bearer",
				"expires_in": ttl, "refresh_token": rt, "refresh_token_expires_in": int(githubRefreshTTL.Seconds())})
			return
		}
		// Form-encoded unless the client asked for JSON (GitHub Docs,
		// "Authorizing OAuth apps", step 2).
		if !strings.Contains(r.Header.Get("Accept"), "application/json") {
			v := url.Values{"access_token": {at}, "scope": {g.scope}, "token_type": {"bearer"}}
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			fmt.Fprint(w, v.Encode())
			return
		}
		s.writeJSON(w, Token, http.StatusOK, map[string]any{"access_token": at, "scope": g.scope, "token_type": "bearer"})
	case kindNaver:
		// expires_in is a string in Naver's answer.
		s.writeJSON(w, Token, http.StatusOK, map[string]any{
			"access_token": at, "refresh_token": rt, "token_type": "bearer", "expires_in": fmt.Sprint(ttl),
		})
	case kindKakao:
		body := map[string]any{
			"token_type": "bearer", "access_token": at, "expires_in": ttl,
			"refresh_token": rt, "refresh_token_expires_in": int(kakaoRefreshTTL.Seconds()),
		}
		if s.oidc {
			body["id_token"] = s.mintIDToken(g.user, g.nonce, at, s.currentForgery())
			body["scope"] = "openid"
		}
		s.writeJSON(w, Token, http.StatusOK, body)
	default:
		body := map[string]any{
			"access_token": at, "expires_in": ttl, "token_type": "Bearer", "scope": g.scope,
			"id_token": s.mintIDToken(g.user, g.nonce, at, s.currentForgery()),
		}
		if rt != "" {
			body["refresh_token"] = rt
		}
		s.writeJSON(w, Token, http.StatusOK, body)
	}
}

// apiError writes a profile-API error in the provider's shape.
func (s *Server) apiError(w http.ResponseWriter, status int, code, desc string) {
	switch s.kind {
	case kindNaver:
		// Naver reports profile failures in resultcode, with HTTP 200
		// unless told otherwise.
		if status == 0 {
			status = http.StatusOK
		}
		s.writeJSON(w, UserInfo, status, map[string]any{"resultcode": code, "message": desc})
	case kindKakao:
		if status == 0 {
			status = http.StatusUnauthorized
		}
		var n int
		fmt.Sscanf(code, "%d", &n)
		s.writeJSON(w, UserInfo, status, map[string]any{"msg": desc, "code": n})
	case kindGitHub:
		if status == 0 {
			status = http.StatusForbidden
		}
		s.writeJSON(w, UserInfo, status, map[string]any{"message": desc, "documentation_url": "https://docs.github.com/rest"})
	default:
		if status == 0 {
			status = http.StatusUnauthorized
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error=%q`, code))
		s.writeJSON(w, UserInfo, status, map[string]any{"error": code, "error_description": desc})
	}
}
