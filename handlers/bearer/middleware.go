package bearer

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// claimsKey is the echo.Context key under which Middleware stores *Claims.
const claimsKey = "github.com/authbroker/authbroker/handlers/bearer.claims"

// MiddlewareConfig configures MiddlewareWithConfig.
type MiddlewareConfig struct {
	// Cookie, when set, names a cookie holding the access token, read when
	// the request has no Bearer Authorization header (TOKEN_DELIVERY=cookie).
	// A cookie is sent by the browser on cross-site requests too: routes
	// that change state must add a CSRF defence (a custom request header
	// checked by CORS preflight, per the OAuth 2.0 for Browser-Based Apps
	// draft) on top of this middleware.
	Cookie string
}

// Middleware authenticates requests with an RFC 6750 §2.1 bearer token and
// stores the verified claims for FromContext. See MiddlewareWithConfig.
func Middleware(v *Verifier) echo.MiddlewareFunc {
	return MiddlewareWithConfig(v, MiddlewareConfig{})
}

// MiddlewareWithConfig is Middleware with options. Failures answer 401 with
// an RFC 6750 §3 challenge and a JSON body clients can act on:
//   - no token: `WWW-Authenticate: Bearer` without an error attribute
//     (RFC 6750 §3.1: the client did not try) and
//     {"error":"invalid_token","error_description":"missing bearer token"};
//   - expired token: error="invalid_token" and {"error":"token_expired"}, so
//     an interceptor knows to refresh;
//   - any other failure: error="invalid_token" and {"error":"invalid_token"}
//     with a short error_description (never the token).
//
// Tokens in the query string (RFC 6750 §2.3) are not accepted: they end up
// in logs and Referer headers.
func MiddlewareWithConfig(v *Verifier, cfg MiddlewareConfig) echo.MiddlewareFunc {
	if v == nil {
		panic("bearer: MiddlewareWithConfig needs a Verifier")
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			raw, err := extract(c, cfg.Cookie)
			if err != nil {
				return challenge(c, http.StatusUnauthorized, "invalid_token", err.Error())
			}
			if raw == "" {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, "Bearer")
				return c.JSON(http.StatusUnauthorized, errorBody{Error: "invalid_token", Description: "missing bearer token"})
			}
			claims, err := v.Verify(c.Request().Context(), raw)
			if err != nil {
				reason := "invalid token"
				var ve *Error
				if errors.As(err, &ve) {
					reason = ve.Reason
				}
				code := "invalid_token"
				if errors.Is(err, ErrExpired) {
					code = "token_expired"
				}
				setChallenge(c, "invalid_token", reason)
				return c.JSON(http.StatusUnauthorized, errorBody{Error: code, Description: reason})
			}
			c.Set(claimsKey, claims)
			return next(c)
		}
	}
}

// RequireRole lets a request through only when the verified token's role
// equals role; it must run after Middleware. Otherwise 403 with
// error="insufficient_scope" (RFC 6750 §3.1).
func RequireRole(role string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			claims := FromContext(c)
			if claims == nil {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, "Bearer")
				return c.JSON(http.StatusUnauthorized, errorBody{Error: "invalid_token", Description: "missing bearer token"})
			}
			if claims.Role != role {
				setChallenge(c, "insufficient_scope", "role "+role+" required")
				return c.JSON(http.StatusForbidden, errorBody{Error: "insufficient_scope"})
			}
			return next(c)
		}
	}
}

// FromContext returns the claims Middleware verified, or nil when the
// request did not pass through it.
func FromContext(c echo.Context) *Claims {
	claims, _ := c.Get(claimsKey).(*Claims)
	return claims
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// extract returns the token from the Authorization header, or from the
// cookie when there is no Bearer header. An empty token with a nil error
// means none was presented.
func extract(c echo.Context, cookie string) (string, error) {
	values := c.Request().Header.Values(echo.HeaderAuthorization)
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
		if ck, err := c.Cookie(cookie); err == nil {
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

func challenge(c echo.Context, status int, code, description string) error {
	setChallenge(c, code, description)
	return c.JSON(status, errorBody{Error: code, Description: description})
}

// setChallenge writes the RFC 6750 §3 WWW-Authenticate header. Descriptions
// are fixed phrases; characters RFC 6750 §3 forbids in error_description
// (controls, non-ASCII, '"' and '\') are dropped all the same.
func setChallenge(c echo.Context, code, description string) {
	c.Response().Header().Set(echo.HeaderWWWAuthenticate,
		`Bearer error="`+code+`", error_description="`+quote(description)+`"`)
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
