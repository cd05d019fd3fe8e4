// Package api is the example resource server: a small JSON API that accepts
// only authbroker access tokens. It shows the three things a backend does:
//
//   - verify the JWT offline against the broker's JWKS with handlers/bearer
//     (pinned algorithm, iss, aud, exp, typ at+jwt), so a protected request
//     costs no call to the broker;
//   - optionally ask the broker whether the token is still active (RFC 7662
//     introspection) on routes where a logout must take effect at once
//     rather than when the access token expires;
//   - answer browsers from the app's origin (CORS), with the 401 bodies the
//     JS client acts on ({"error":"token_expired"} means refresh and retry).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/authbroker/authbroker/handlers/bearer"
)

// Options configure Handler.
type Options struct {
	// Verifier checks access tokens; see NewVerifier. Required.
	Verifier *bearer.Verifier
	// AllowedOrigins are the browser apps (scheme://host:port) that may call
	// the API from script.
	AllowedOrigins []string
	// Introspection, when set, checks every verified token with the broker
	// as well, so revoked sessions are refused before their tokens expire.
	Introspection *Introspection
}

// NewVerifier returns a verifier for tokens issued by the broker at
// brokerURL (its BASE_URL, which is also the tokens' iss) for audience (the
// broker's JWT_AUDIENCE, "authbroker" by default). Keys come from
// brokerURL/.well-known/jwks.json, fetched when first needed, cached, and
// fetched again when a token names a key the cache does not know (rotation).
func NewVerifier(brokerURL, audience string, client *http.Client) *bearer.Verifier {
	brokerURL = strings.TrimRight(brokerURL, "/")
	return &bearer.Verifier{
		Keys:     bearer.NewJWKS(brokerURL+"/.well-known/jwks.json", client),
		Issuer:   brokerURL,
		Audience: audience,
		// Each token's signature is checked once; expiry on every request.
		Cache: bearer.NewCache(10_000, time.Minute),
	}
}

// Handler returns the API:
//
//	GET /api/hello   (Bearer) greets the member named by the token
//	GET /healthz     liveness
func Handler(o Options) http.Handler {
	if o.Verifier == nil {
		panic("api: Options.Verifier is required")
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins: o.AllowedOrigins,
		AllowMethods: []string{http.MethodGet, http.MethodPost},
		AllowHeaders: []string{echo.HeaderAuthorization, echo.HeaderContentType, echo.HeaderAccept},
		// Lets the app read the RFC 6750 challenge as well as the JSON body.
		ExposeHeaders: []string{echo.HeaderWWWAuthenticate},
		MaxAge:        600,
	}))
	e.Use(noStore)
	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })

	protected := []echo.MiddlewareFunc{bearer.Middleware(o.Verifier)}
	if o.Introspection != nil {
		protected = append(protected, o.Introspection.Middleware)
	}
	e.GET("/api/hello", hello, protected...)
	return e
}

// noStore keeps answers about a member out of shared and browser caches.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

// hello is GET /api/hello: what the verified claims say about the caller.
func hello(c echo.Context) error {
	claims := bearer.FromContext(c)
	who := claims.Name
	if who == "" {
		who = claims.Email
	}
	if who == "" {
		who = "member " + claims.Subject
	}
	return c.JSON(http.StatusOK, map[string]any{
		"message":    "Hello, " + who + "!",
		"member_id":  claims.Subject,
		"email":      claims.Email,
		"role":       claims.Role,
		"expires_at": claims.ExpiresAt.Time.UTC().Format(time.RFC3339),
	})
}

// Introspection asks the broker's /auth/introspect (RFC 7662) whether a
// token is still active. It costs one round trip per request, so use it
// where an immediate logout matters (payments, admin) and rely on the
// short access-token lifetime elsewhere.
type Introspection struct {
	// URL is the broker's introspection endpoint, BASE_URL/auth/introspect.
	URL string
	// Secret is the broker's INTROSPECT_SECRET (HTTP Basic password).
	Secret string
	// Client makes the calls; nil means a client with a 5 s timeout.
	Client *http.Client
}

// errUnavailable is an introspection call that did not produce an answer.
var errUnavailable = errors.New("introspection unavailable")

// Middleware runs after bearer.Middleware: it refuses a token the broker
// reports inactive with the same 401 invalid_token answer, and fails closed
// (503) when the broker cannot answer.
func (in *Introspection) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// RFC 6750 §2.1 / RFC 9110 §11.1: the scheme is case-insensitive.
		scheme, raw, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			raw = ""
		}
		raw = strings.TrimSpace(raw)
		active, err := in.Active(c.Request().Context(), raw)
		if err != nil {
			c.Logger().Errorf("introspect: %v", err)
			c.Response().Header().Set("Retry-After", "1")
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		}
		if !active {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer error="invalid_token", error_description="token revoked"`)
			return c.JSON(http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "token revoked"})
		}
		return next(c)
	}
}

// Active reports whether the broker considers token active.
func (in *Introspection) Active(ctx context.Context, token string) (bool, error) {
	client := in.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return false, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
	req.SetBasicAuth("resource-server", in.Secret)
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return false, fmt.Errorf("%w: status %d", errUnavailable, resp.StatusCode)
	}
	var body struct {
		Active bool `json:"active"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil {
		return false, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	return body.Active, nil
}
