package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// claimsKey is the context key under which Middleware stores *Claims.
type claimsKey struct{}

// MiddlewareOption configures Middleware.
type MiddlewareOption func(*middleware)

type middleware struct {
	cookie string
}

// FromCookie reads the access token from the named cookie when the request
// has no Bearer Authorization header (the broker's TOKEN_DELIVERY=cookie).
// A cookie is sent by the browser on cross-site requests too: routes that
// change state must add a CSRF defence (a custom request header checked by
// CORS preflight) on top of this middleware.
func FromCookie(name string) MiddlewareOption {
	return func(m *middleware) { m.cookie = name }
}

// Middleware authenticates requests with an RFC 6750 §2.1 bearer token and
// stores the verified claims in the request context for FromContext.
// Failures answer 401 with an RFC 6750 §3 challenge and a JSON body clients
// can act on:
//   - no token: `WWW-Authenticate: Bearer` without an error attribute
//     (RFC 6750 §3.1: the client did not try) and
//     {"error":"invalid_token","error_description":"missing bearer token"};
//   - expired token: error="invalid_token" and {"error":"token_expired"}, so
//     an interceptor knows to refresh;
//   - any other failure: error="invalid_token" and {"error":"invalid_token"}
//     with a short error_description (never the token);
//   - a Check that could not answer: 503 {"error":"temporarily_unavailable"}
//     with Retry-After (see WriteError).
//
// Tokens in the query string (RFC 6750 §2.3) are not accepted: they end up
// in logs and Referer headers.
func (v *Verifier) Middleware(opts ...MiddlewareOption) func(http.Handler) http.Handler {
	var m middleware
	for _, o := range opts {
		o(&m)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, err := TokenFromRequest(r, m.cookie)
			if err != nil {
				writeChallenge(w, http.StatusUnauthorized, "invalid_token", "invalid_token", err.Error())
				return
			}
			if raw == "" {
				w.Header().Set("WWW-Authenticate", "Bearer")
				writeJSON(w, http.StatusUnauthorized, "invalid_token", "missing bearer token")
				return
			}
			claims, err := v.Verify(r.Context(), raw)
			if err != nil {
				WriteError(w, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), claims)))
		})
	}
}

// WriteError answers a request whose token Verify refused: 401 with the
// RFC 6750 challenge, {"error":"token_expired"} for ErrExpired and
// {"error":"invalid_token"} otherwise, with the error's Reason as
// error_description; 503 {"error":"temporarily_unavailable"} with
// Retry-After for ErrUnavailable.
func WriteError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrUnavailable) {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token could not be checked; retry shortly")
		return
	}
	reason := "invalid token"
	var ve *Error
	if errors.As(err, &ve) {
		reason = ve.Reason
	}
	code := "invalid_token"
	if errors.Is(err, ErrExpired) {
		code = "token_expired"
	}
	writeChallenge(w, http.StatusUnauthorized, "invalid_token", code, reason)
}

// RequireRole lets a request through only when the verified token's role
// equals role; it must run after Middleware. Otherwise 403 with
// error="insufficient_scope" (RFC 6750 §3.1), or 401 when no token was
// verified.
func RequireRole(role string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims := FromContext(r.Context())
			if claims == nil {
				w.Header().Set("WWW-Authenticate", "Bearer")
				writeJSON(w, http.StatusUnauthorized, "invalid_token", "missing bearer token")
				return
			}
			if claims.Role != role {
				writeChallenge(w, http.StatusForbidden, "insufficient_scope", "insufficient_scope", "role "+role+" required")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// NewContext returns ctx carrying verified claims (Middleware does this).
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// FromContext returns the claims Middleware verified, or nil when the
// request did not pass through it.
func FromContext(ctx context.Context) *Claims {
	c, _ := ctx.Value(claimsKey{}).(*Claims)
	return c
}

// TokenFromRequest returns the token from the Authorization header, or from
// the named cookie (when cookie is not empty) when there is no Bearer
// header. An empty token with a nil error means none was presented; an
// error means the header is malformed or repeated.
func TokenFromRequest(r *http.Request, cookie string) (string, error) {
	values := r.Header.Values("Authorization")
	if len(values) > 1 {
		return "", errors.New("more than one authorization header")
	}
	if len(values) == 1 {
		scheme, rest, _ := strings.Cut(values[0], " ")
		// The scheme is case-insensitive (RFC 9110 §11.1); other schemes
		// (Basic, …) are not ours and count as no bearer token.
		if strings.EqualFold(scheme, "Bearer") {
			tok := strings.TrimLeft(rest, " ")
			if !token68(tok) {
				return "", errors.New("malformed authorization header")
			}
			return tok, nil
		}
	}
	if cookie != "" {
		if ck, err := r.Cookie(cookie); err == nil {
			return ck.Value, nil
		}
	}
	return "", nil
}

// token68 reports whether s is an RFC 6750 §2.1 b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func token68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		ch := body[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		case ch == '-', ch == '.', ch == '_', ch == '~', ch == '+', ch == '/':
		default:
			return false
		}
	}
	return true
}

// writeChallenge writes the RFC 6750 §3 WWW-Authenticate header with
// challenge as its error, and a JSON body with code. Descriptions are fixed
// phrases; characters RFC 6750 §3 forbids in error_description (controls,
// non-ASCII, '"' and '\') are dropped all the same.
func writeChallenge(w http.ResponseWriter, status int, challenge, code, description string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="`+challenge+`", error_description="`+quote(description)+`"`)
	if code == "insufficient_scope" {
		description = ""
	}
	writeJSON(w, status, code, description)
}

func writeJSON(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, description})
}

func quote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\' {
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}
