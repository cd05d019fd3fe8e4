package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authbroker/authbroker/internal/auth"
)

// cookieNames are the broker's cookies. On https they carry the
// __Host-/__Secure- prefixes (browsers then refuse them without Secure, and
// __Host- pins them to our exact host and path /); on http://localhost, for
// development, they are plain and not Secure.
type cookieNames struct {
	secure  bool
	binding string // login state binding, path / (__Host-: no sibling subdomain can plant one)
	access  string // access token in cookie mode, path /
	refresh string // refresh token in cookie mode, path /auth (never sent elsewhere)
}

func newCookieNames(baseURL string) cookieNames {
	u, _ := url.Parse(baseURL)
	secure := u != nil && u.Scheme == "https"
	if secure {
		return cookieNames{secure: true, binding: "__Host-ab_login", access: "__Host-ab_access", refresh: "__Secure-ab_refresh"}
	}
	return cookieNames{binding: "ab_login", access: "ab_access", refresh: "ab_refresh"}
}

func (n cookieNames) cookie(name, value, path string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name: name, Value: value, Path: path, HttpOnly: true, Secure: n.secure,
		// Lax: the provider's redirect back is a top-level GET navigation,
		// which Lax still carries; cross-site POSTs do not get the cookie.
		SameSite: http.SameSiteLaxMode,
		MaxAge:   int(maxAge / time.Second),
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	return c
}

// setTokenCookies delivers a token pair as httpOnly cookies (TOKEN_DELIVERY=cookie).
func (a *API) setTokenCookies(c echo.Context, tr auth.TokenResponse) {
	c.SetCookie(a.cookies.cookie(a.cookies.access, tr.AccessToken, "/", time.Duration(tr.ExpiresIn)*time.Second))
	c.SetCookie(a.cookies.cookie(a.cookies.refresh, tr.RefreshToken, "/auth", time.Duration(tr.RefreshExpiresIn)*time.Second))
}

func (a *API) clearTokenCookies(c echo.Context) {
	c.SetCookie(a.cookies.cookie(a.cookies.access, "", "/", -1))
	c.SetCookie(a.cookies.cookie(a.cookies.refresh, "", "/auth", -1))
}

// csrfHeader must accompany cookie-authenticated POSTs: a cross-site form
// cannot set it, and a cross-origin script cannot send it without passing
// our CORS preflight (OAuth 2.0 for Browser-Based Apps, §6.1.3.2).
const csrfHeader = "X-AuthBroker-CSRF"

// csrf refuses unsafe requests that would be authenticated by our cookies
// unless they carry csrfHeader and, when the browser names an Origin, it is
// ours or an allowed app origin.
func (a *API) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if a.Config.TokenDelivery != "cookie" || r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
			return next(c)
		}
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			return next(c)
		}
		if _, err := r.Cookie(a.cookies.access); err != nil {
			if _, err := r.Cookie(a.cookies.refresh); err != nil {
				return next(c)
			}
		}
		origin := r.Header.Get("Origin")
		if r.Header.Get(csrfHeader) == "" || (origin != "" && origin != a.origin && !a.Auth.ReturnPolicy().AllowedOrigin(origin)) {
			return c.JSON(http.StatusForbidden, oauthError{Error: "csrf_rejected", Description: "cookie-authenticated requests need the " + csrfHeader + " header from an allowed origin"})
		}
		return next(c)
	}
}

// cookieExpiry runs before the bearer check in cookie mode: when the
// browser has dropped the expired access cookie but still holds the refresh
// cookie, the answer is token_expired (refresh now), not "never signed in".
func (a *API) cookieExpiry(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Header.Get("Authorization") == "" {
			if _, err := r.Cookie(a.cookies.access); err != nil {
				if _, err := r.Cookie(a.cookies.refresh); err == nil {
					c.Response().Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the access token expired"`)
					return c.JSON(http.StatusUnauthorized, oauthError{Error: "token_expired", Description: "the access token expired"})
				}
			}
		}
		return next(c)
	}
}
