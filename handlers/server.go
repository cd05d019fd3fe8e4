// Package handlers is authbroker's HTTP surface: thin Echo handlers that read
// a request, call one login.Service method and write the answer. Status codes
// and error bodies are chosen in one place (errors.go).
package handlers

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/internal/account"
	"github.com/authbroker/authbroker/internal/admin"
	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/internal/login"
	"github.com/authbroker/authbroker/internal/metrics"
	"github.com/authbroker/authbroker/internal/providerconfig"
	"github.com/authbroker/authbroker/internal/ratelimit"
	"github.com/authbroker/authbroker/internal/session"
	"github.com/authbroker/authbroker/internal/token"
	"github.com/authbroker/authbroker/internal/vault"
	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/templates"
)

// Check is a named readiness probe (database, Redis).
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Deps is what the HTTP layer needs.
type Deps struct {
	Config *config.Config
	// Login runs sign-ins and links; Account serves a member's own
	// account (me, unlink).
	Login     *login.Service
	Account   *account.Service
	Sessions  *session.Service
	Providers *providers.Registry
	Keys      *token.Keyset
	Verifier  *bearer.Verifier
	Pages     *templates.Renderer
	Logger    *slog.Logger
	Ready     []Check
	// Warnings, when set, lists operational warnings /readyz shows without
	// failing (a Redis that does not persist).
	Warnings func() []string
	// Limiter enforces RATE_LIMIT_AUTH; nil disables it.
	Limiter ratelimit.Limiter
	// TokenLimiter enforces RATE_LIMIT_TOKEN on the token endpoints,
	// in-process (see ratelimit.Share); nil disables it. RATE_LIMIT_REFRESH
	// is the session store's (store.Refresh.Limit).
	TokenLimiter ratelimit.Limiter
	// Metrics, when set, observes requests (and counts rate limits and
	// store failures). /metrics itself is served on its own listener
	// (METRICS_ADDR), never here.
	Metrics *metrics.Metrics
	// Admin, when set, serves /admin and /admin/api.
	Admin *admin.Service
	// ProviderConfig manages admin-configured providers (with Admin).
	ProviderConfig *providerconfig.Service
	// Vault hands out members' kept provider tokens
	// (GET /auth/identities/{provider}/token).
	Vault *vault.Service
}

// API bundles what route registrars need.
type API struct {
	Deps
	cookies cookieNames
	// origin is scheme://host of BASE_URL, computed once.
	origin string
	// delivery is how tokens travel (TOKEN_DELIVERY), chosen once.
	delivery delivery
	// Authn verifies the bearer token (header, or cookie in cookie mode).
	Authn echo.MiddlewareFunc
}

// New builds the Echo server with every route.
func New(d Deps) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.IPExtractor = ipExtractor(d.Config.TrustedProxies)
	api := &API{Deps: d, cookies: newCookieNames(d.Config.BaseURL), origin: baseOrigin(d.Config.BaseURL)}
	api.delivery = newDelivery(login.DeliveryOf(d.Config.TokenDelivery), api.cookies)
	e.HTTPErrorHandler = api.errorHandler

	e.Use(dropMalformedRequestID, middleware.RequestIDWithConfig(middleware.RequestIDConfig{
		RequestIDHandler: func(c echo.Context, id string) {
			c.Set("request_id", id)
		},
	}))
	e.Use(api.requestLog)
	e.Use(middleware.Recover())
	e.Use(securityHeaders)
	e.Use(middleware.BodyLimit("64K"))
	if d.Metrics != nil {
		e.Use(d.Metrics.Middleware)
	}

	api.Authn = api.delivery.authn(d.Verifier)

	e.GET("/healthz", api.healthz)
	e.GET("/readyz", api.readyz)
	e.GET("/openapi.yaml", api.openAPI)
	e.GET("/.well-known/jwks.json", api.jwks)
	e.GET("/.well-known/openid-configuration", api.openidConfiguration)
	e.StaticFS("/static", templates.Static())
	registerJSClient(e)

	e.GET("/", api.loginPage)
	cors := middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins:     d.Login.ReturnPolicy().Origins(),
		AllowMethods:     []string{http.MethodGet, http.MethodPost, http.MethodDelete},
		AllowHeaders:     []string{"Authorization", "Content-Type", csrfHeader},
		AllowCredentials: api.delivery.ambient(),
		MaxAge:           600,
	})
	authLimit := api.limitBy(ratelimit.Limit{Name: "auth", PerMinute: d.Config.RateLimitAuth}, clientIP)
	tokenLimit := api.limitWith(d.TokenLimiter, ratelimit.Limit{Name: "token", PerMinute: d.Config.RateLimitToken}, clientIP)
	a := e.Group("/auth", cors, api.csrf)
	a.POST("/token", api.token, tokenLimit)
	a.POST("/logout", api.logout, api.Authn)
	a.POST("/revoke", api.revoke)
	// Introspection is read-only and authenticated by HTTP Basic (resource
	// servers), so it stays outside the CSRF rule of the group.
	e.POST("/auth/introspect", api.introspect, cors)
	a.GET("/me", api.me, api.Authn)
	a.GET("/sessions", api.sessions, api.Authn)
	a.DELETE("/sessions/:id", api.endSession, api.Authn)
	a.POST("/link/complete", api.completeLink, api.Authn)
	a.POST("/link/:provider", api.link, api.Authn)
	a.DELETE("/identities/:provider/:subject", api.unlink, api.Authn)
	a.GET("/identities/:provider/token", api.providerToken, api.Authn)
	if h, ok := devHandler(d.Providers); ok {
		// An HTML form of our own, so the same-origin rule of forms
		// rather than the API's CSRF header.
		e.Match([]string{http.MethodGet, http.MethodPost}, "/auth/dev/authorize", echo.WrapHandler(h), api.sameOriginForm)
	}
	a.GET("/:provider", api.start, authLimit)
	a.GET("/:provider/callback", api.callback, authLimit)
	a.POST("/:provider/token", api.native, tokenLimit)
	// Preflight for routes that only exist as POST/DELETE.
	a.OPTIONS("/*", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })

	if d.Admin != nil {
		api.registerAdmin(e)
	}
	return e
}

// devHandler finds the dev provider's form handler when it is enabled.
func devHandler(reg *providers.Registry) (http.Handler, bool) {
	p, ok := reg.Get("dev")
	if !ok {
		return nil, false
	}
	h, ok := p.(http.Handler)
	return h, ok
}

// ipExtractor trusts X-Forwarded-For only from configured proxies; by
// default the peer address is the client (a forged header changes nothing).
func ipExtractor(trusted []string) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	var opts []echo.TrustOption
	opts = append(opts, echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false))
	for _, entry := range trusted {
		// config refused entries that do not parse.
		if p, err := config.ParseTrustedProxy(entry); err == nil {
			opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// maxRequestIDLen bounds an X-Request-Id taken from the client.
const maxRequestIDLen = 64

// dropMalformedRequestID removes a client's X-Request-Id unless it looks
// like a request id (1–64 characters of A–Z a–z 0–9 . _ : -), so that the
// RequestID middleware after it generates one instead. A load balancer's
// id is kept for correlating logs; anything else would be echoed into a
// response header and every log line of the request (a 50 kB id made
// 50 kB log lines).
func dropMalformedRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if id := h.Get(echo.HeaderXRequestID); id != "" && !validRequestID(id) {
			h.Del(echo.HeaderXRequestID)
		}
		return next(c)
	}
}

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch ch := id[i]; {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '.', ch == '_', ch == ':', ch == '-':
		default:
			return false
		}
	}
	return true
}

// securityHeaders sets headers every response carries; pages get a strict
// CSP (no script at all), API answers never get cached.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if c.Request().URL.Path != "/.well-known/jwks.json" && c.Request().URL.Path != "/.well-known/openid-configuration" && !strings.HasPrefix(c.Request().URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		return next(c)
	}
}

// requestLog writes one line per request with its id; never query strings
// (they carry codes and states) or headers (they carry tokens).
func (a *API) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		req := c.Request()
		path := c.Path()
		if path == "" {
			path = "unmatched"
		}
		a.Logger.LogAttrs(req.Context(), slog.LevelInfo, "http.request",
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("method", metrics.Method(req.Method)),
			slog.String("route", path),
			slog.Int("status", c.Response().Status),
			slog.Duration("duration", time.Since(start)),
			slog.String("ip", c.RealIP()),
		)
		return nil
	}
}

// baseOrigin is scheme://host of BASE_URL.
func baseOrigin(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	return u.Scheme + "://" + u.Host
}
