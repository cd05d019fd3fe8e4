package bearer_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/handlers/bearer/echobearer"
	"github.com/authbroker/authbroker/internal/token"
)

func TestMiddlewareResponses(t *testing.T) {
	k := newKey(t, bearer.ES256)
	v := verifier(k.ks, revokedIf(func(c *bearer.Claims) bool { return c.SessionID == "s_revoked" }),
		bearer.WithCheck(bearer.CheckFunc(func(_ context.Context, _ string, c *bearer.Claims) error {
			if c.SessionID == "s_unknown" {
				return errors.New("denylist unreachable")
			}
			return nil
		})))
	unknownTok := issue(t, k, token.Subject{MemberID: "m_carol", SessionID: "s_unknown", Role: "user"})
	userTok := issue(t, k, alice)
	adminTok := issue(t, k, token.Subject{MemberID: "m_admin", SessionID: "s_admin", Role: "admin"})
	revokedTok := issue(t, k, token.Subject{MemberID: "m_bob", SessionID: "s_revoked", Role: "user"})
	expiredClaims := validClaims()
	expiredClaims["iat"] = testNow.Add(-time.Hour).Unix()
	expiredClaims["nbf"] = testNow.Add(-time.Hour).Unix()
	expiredClaims["exp"] = testNow.Add(-time.Minute).Unix()
	expiredTok := sign(t, jwt.SigningMethodES256, k.priv, map[string]any{"typ": "at+jwt", "kid": k.ks.KeyID()}, expiredClaims)

	// The same routes through the net/http middleware and the Echo adapter:
	// both must answer alike.
	mux := http.NewServeMux()
	subject := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(bearer.FromContext(r.Context()).Subject))
	})
	mux.Handle("GET /me", v.Middleware()(subject))
	mux.Handle("GET /admin", v.Middleware()(bearer.RequireRole("admin")(subject)))
	mux.Handle("GET /cookie", v.Middleware(bearer.FromCookie("__Host-at"))(subject))
	mux.Handle("GET /unguarded-admin", bearer.RequireRole("admin")(subject))

	e := echo.New()
	ok := func(c echo.Context) error { return c.String(http.StatusOK, echobearer.FromContext(c).Subject) }
	e.GET("/me", ok, echobearer.Middleware(v))
	e.GET("/admin", ok, echobearer.Middleware(v), echobearer.RequireRole("admin"))
	e.GET("/cookie", ok, echobearer.Middleware(v, bearer.FromCookie("__Host-at")))
	e.GET("/unguarded-admin", ok, echobearer.RequireRole("admin"))
	servers := map[string]http.Handler{"net/http": mux, "echo": e}

	const (
		missingChallenge = `Bearer`
		invalidChallenge = `Bearer error="invalid_token", error_description="`
	)
	tests := []struct {
		name      string
		path      string
		auth      []string
		cookie    string
		status    int
		challenge string // exact WWW-Authenticate
		body      map[string]string
		subject   string
	}{
		{name: "valid bearer token passes and claims reach the handler", path: "/me", auth: []string{"Bearer " + userTok}, status: 200, subject: "m_alice"},
		{name: "scheme is case-insensitive", path: "/me", auth: []string{"bearer " + userTok}, status: 200, subject: "m_alice"},
		{name: "no token: bare challenge without error attribute", path: "/me", status: 401, challenge: missingChallenge,
			body: map[string]string{"error": "invalid_token", "error_description": "missing bearer token"}},
		{name: "another scheme counts as no token", path: "/me", auth: []string{"Basic dXNlcjpwYXNz"}, status: 401, challenge: missingChallenge,
			body: map[string]string{"error": "invalid_token", "error_description": "missing bearer token"}},
		{name: "empty bearer credentials are malformed", path: "/me", auth: []string{"Bearer "}, status: 401,
			challenge: invalidChallenge + `malformed authorization header"`,
			body:      map[string]string{"error": "invalid_token", "error_description": "malformed authorization header"}},
		{name: "two authorization headers refused", path: "/me", auth: []string{"Bearer " + userTok, "Bearer " + adminTok}, status: 401,
			challenge: invalidChallenge + `more than one authorization header"`,
			body:      map[string]string{"error": "invalid_token", "error_description": "more than one authorization header"}},
		{name: "bad signature: invalid_token with description", path: "/me", auth: []string{"Bearer " + tamper(t, userTok, "role", "admin")}, status: 401,
			challenge: invalidChallenge + `invalid signature"`,
			body:      map[string]string{"error": "invalid_token", "error_description": "invalid signature"}},
		{name: "expired: token_expired so the client refreshes", path: "/me", auth: []string{"Bearer " + expiredTok}, status: 401,
			challenge: invalidChallenge + `token expired"`,
			body:      map[string]string{"error": "token_expired", "error_description": "token expired"}},
		{name: "revoked session: invalid_token", path: "/me", auth: []string{"Bearer " + revokedTok}, status: 401,
			challenge: invalidChallenge + `session revoked"`,
			body:      map[string]string{"error": "invalid_token", "error_description": "session revoked"}},
		{name: "user on an admin route: 403 insufficient_scope", path: "/admin", auth: []string{"Bearer " + userTok}, status: 403,
			challenge: `Bearer error="insufficient_scope", error_description="role admin required"`,
			body:      map[string]string{"error": "insufficient_scope"}},
		{name: "admin on an admin route passes", path: "/admin", auth: []string{"Bearer " + adminTok}, status: 200, subject: "m_admin"},
		{name: "RequireRole without Middleware refuses", path: "/unguarded-admin", auth: []string{"Bearer " + adminTok}, status: 401, challenge: missingChallenge,
			body: map[string]string{"error": "invalid_token", "error_description": "missing bearer token"}},
		{name: "cookie delivery: token read from the cookie", path: "/cookie", cookie: userTok, status: 200, subject: "m_alice"},
		{name: "cookie delivery: the header wins over the cookie", path: "/cookie", auth: []string{"Bearer " + adminTok}, cookie: userTok, status: 200, subject: "m_admin"},
		{name: "cookie delivery: no cookie is no token", path: "/cookie", status: 401, challenge: missingChallenge,
			body: map[string]string{"error": "invalid_token", "error_description": "missing bearer token"}},
		{name: "cookie is ignored where not configured", path: "/me", cookie: userTok, status: 401, challenge: missingChallenge,
			body: map[string]string{"error": "invalid_token", "error_description": "missing bearer token"}},
	}
	tests = append(tests, struct {
		name      string
		path      string
		auth      []string
		cookie    string
		status    int
		challenge string
		body      map[string]string
		subject   string
	}{name: "a check that cannot answer: 503, not a sign-out", path: "/me", auth: []string{"Bearer " + unknownTok}, status: 503,
		body: map[string]string{"error": "temporarily_unavailable", "error_description": "the token could not be checked; retry shortly"}})
	for _, tc := range tests {
		for name, srv := range servers {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				req := httptest.NewRequest(http.MethodGet, tc.path, nil)
				for _, a := range tc.auth {
					req.Header.Add("Authorization", a)
				}
				if tc.cookie != "" {
					req.AddCookie(&http.Cookie{Name: "__Host-at", Value: tc.cookie})
				}
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != tc.status {
					t.Fatalf("status = %d, want %d (body %s)", rec.Code, tc.status, rec.Body)
				}
				if tc.status == 200 {
					if rec.Body.String() != tc.subject {
						t.Fatalf("handler saw subject %q, want %q", rec.Body, tc.subject)
					}
					return
				}
				if got := rec.Header().Get("WWW-Authenticate"); got != tc.challenge {
					t.Fatalf("WWW-Authenticate = %q, want %q", got, tc.challenge)
				}
				var body map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatalf("body %q: %v", rec.Body, err)
				}
				if len(body) != len(tc.body) {
					t.Fatalf("body = %v, want %v", body, tc.body)
				}
				for k, want := range tc.body {
					if body[k] != want {
						t.Fatalf("body = %v, want %v", body, tc.body)
					}
				}
			})
		}
	}
}
