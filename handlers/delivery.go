package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/handlers/bearer/echobearer"
	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/login"
	"github.com/authbroker/authbroker/internal/session"
)

// delivery is how the app's tokens travel, chosen once from
// TOKEN_DELIVERY: in JSON bodies the app holds (code mode), or in httpOnly
// cookies the browser holds and script never reads (cookie mode). Every
// difference between the two modes on the HTTP side is a method here.
type delivery interface {
	// authn is the bearer check of protected routes.
	authn(v *bearer.Verifier) echo.MiddlewareFunc
	// writeTokens answers a successful grant.
	writeTokens(c echo.Context, tr login.TokenResponse) error
	// refreshToken is the refresh token a request presents.
	refreshToken(c echo.Context, fromBody string) string
	// loggedOut clears what the client holds after a logout of scope.
	loggedOut(c echo.Context, scope string)
	// started hands the browser a session the login's callback started
	// (cookie mode: the cookies; in code mode the callback starts none).
	started(c echo.Context, tr login.TokenResponse)
	// ambient reports whether credentials ride along by themselves
	// (cookies): unsafe requests then need the CSRF rules, and CORS must
	// allow credentials.
	ambient() bool
}

func newDelivery(mode login.Delivery, names cookieNames) delivery {
	if mode == login.DeliverCookies {
		return cookieDelivery{names}
	}
	return bodyDelivery{}
}

// bodyDelivery: the token pair in the JSON body; bearer tokens in the
// Authorization header only.
type bodyDelivery struct{}

func (bodyDelivery) authn(v *bearer.Verifier) echo.MiddlewareFunc { return echobearer.Middleware(v) }

func (bodyDelivery) writeTokens(c echo.Context, tr login.TokenResponse) error {
	noStoreTokens(c)
	return c.JSON(http.StatusOK, tr)
}

func (bodyDelivery) refreshToken(_ echo.Context, fromBody string) string { return fromBody }
func (bodyDelivery) loggedOut(echo.Context, string)                      {}
func (bodyDelivery) started(echo.Context, login.TokenResponse)           {}
func (bodyDelivery) ambient() bool                                       { return false }

// cookieDelivery: the access token in a cookie for every path, the refresh
// token in one for /auth only; bodies carry no token value.
type cookieDelivery struct{ names cookieNames }

// authn accepts the Authorization header or the access cookie; a browser
// that dropped the expired access cookie but still holds the refresh
// cookie is told token_expired (refresh now), not "never signed in".
func (d cookieDelivery) authn(v *bearer.Verifier) echo.MiddlewareFunc {
	verify := echobearer.Middleware(v, bearer.FromCookie(d.names.access))
	return func(next echo.HandlerFunc) echo.HandlerFunc { return d.cookieExpiry(verify(next)) }
}

func (d cookieDelivery) writeTokens(c echo.Context, tr login.TokenResponse) error {
	noStoreTokens(c)
	d.started(c, tr)
	return c.JSON(http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": tr.ExpiresIn, "refresh_expires_in": tr.RefreshExpiresIn, "member": tr.Member,
	})
}

func (d cookieDelivery) refreshToken(c echo.Context, fromBody string) string {
	if fromBody != "" {
		return fromBody
	}
	if ck, err := c.Cookie(d.names.refresh); err == nil {
		return ck.Value
	}
	return ""
}

// loggedOut clears the cookies unless only the member's other sessions ended.
func (d cookieDelivery) loggedOut(c echo.Context, scope string) {
	if scope == session.ScopeOthers {
		return
	}
	c.SetCookie(d.names.cookie(d.names.access, "", "/", -1))
	c.SetCookie(d.names.cookie(d.names.refresh, "", "/auth", -1))
}

func (cookieDelivery) ambient() bool { return true }

// cookieExpiry runs before the bearer check (see authn).
func (d cookieDelivery) cookieExpiry(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Header.Get("Authorization") == "" {
			if _, err := r.Cookie(d.names.access); err != nil {
				if _, err := r.Cookie(d.names.refresh); err == nil {
					return &apierror.Error{Status: http.StatusUnauthorized, Code: apierror.CodeTokenExpired, Description: "the access token expired",
						Challenge: `Bearer error="invalid_token", error_description="the access token expired"`}
				}
			}
		}
		return next(c)
	}
}

// started sets a token pair as httpOnly cookies.
func (d cookieDelivery) started(c echo.Context, tr login.TokenResponse) {
	c.SetCookie(d.names.cookie(d.names.access, tr.AccessToken, "/", time.Duration(tr.ExpiresIn)*time.Second))
	c.SetCookie(d.names.cookie(d.names.refresh, tr.RefreshToken, "/auth", time.Duration(tr.RefreshExpiresIn)*time.Second))
}

func noStoreTokens(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Pragma", "no-cache")
}
