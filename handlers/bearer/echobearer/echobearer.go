// Package echobearer guards Echo routes with authbroker access tokens: the
// Echo face of package bearer, kept apart so that net/http services do not
// import Echo.
//
//	v, _ := bearer.New(issuer, audience, bearer.NewJWKS(issuer+"/.well-known/jwks.json"))
//	e.GET("/me", me, echobearer.Middleware(v))
//	e.GET("/admin", admin, echobearer.Middleware(v), echobearer.RequireRole("admin"))
//
// Responses are those of bearer.Verifier.Middleware.
package echobearer

import (
	"github.com/labstack/echo/v4"

	"github.com/authbroker/authbroker/handlers/bearer"
)

// Middleware authenticates requests with v (see bearer.Verifier.Middleware)
// and makes the claims available to FromContext.
func Middleware(v *bearer.Verifier, opts ...bearer.MiddlewareOption) echo.MiddlewareFunc {
	return echo.WrapMiddleware(v.Middleware(opts...))
}

// RequireRole lets a request through only when the verified token's role
// equals role (see bearer.RequireRole); it must run after Middleware.
func RequireRole(role string) echo.MiddlewareFunc {
	return echo.WrapMiddleware(bearer.RequireRole(role))
}

// FromContext returns the claims Middleware verified, or nil.
func FromContext(c echo.Context) *bearer.Claims {
	return bearer.FromContext(c.Request().Context())
}
