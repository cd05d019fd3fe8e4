package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/authbroker/authbroker/docs"

	"github.com/labstack/echo/v4"
)

// jwks is GET /.well-known/jwks.json (RFC 7517): current and previous public keys.
func (a *API) jwks(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/jwk-set+json", a.Keys.JWKS())
}

// openidConfiguration is GET /.well-known/openid-configuration: the
// metadata a verifier or an OIDC client library reads to find our keys and
// endpoints (RFC 8414 fields plus the OIDC discovery fields it requires).
func (a *API) openidConfiguration(c echo.Context) error {
	base := a.Config.BaseURL
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, map[string]any{
		"issuer":                                        base,
		"jwks_uri":                                      base + "/.well-known/jwks.json",
		"authorization_endpoint":                        base + "/",
		"token_endpoint":                                base + "/auth/token",
		"revocation_endpoint":                           base + "/auth/revoke",
		"introspection_endpoint":                        base + "/auth/introspect",
		"userinfo_endpoint":                             base + "/auth/me",
		"end_session_endpoint":                          base + "/auth/logout",
		"response_types_supported":                      []string{"code"},
		"grant_types_supported":                         []string{"authorization_code", "refresh_token"},
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         []string{a.Keys.Alg()},
		"token_endpoint_auth_methods_supported":         []string{"none"},
		"code_challenge_methods_supported":              []string{"S256"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"revocation_endpoint_auth_methods_supported":    []string{"none"},
	})
}

// healthz is GET /healthz: the process is alive.
func (a *API) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is GET /readyz: every dependency answers; 503 names the failing one.
func (a *API) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	for _, ch := range a.Ready {
		if err := ch.Ping(ctx); err != nil {
			checks[ch.Name] = "unavailable"
			ok = false
			a.Logger.WarnContext(ctx, "ready.check_failed", "check", ch.Name, "error", err.Error())
		} else {
			checks[ch.Name] = "ok"
		}
	}
	body := map[string]any{"status": "ok", "checks": checks}
	if a.Warnings != nil {
		if w := a.Warnings(); len(w) > 0 {
			body["warnings"] = w
		}
	}
	if !ok {
		body["status"] = "unavailable"
		return c.JSON(http.StatusServiceUnavailable, body) // the readiness report, not an error body
	}
	return c.JSON(http.StatusOK, body)
}

// openAPI is GET /openapi.yaml: the OpenAPI 3.1 description of every route
// (docs/openapi.yaml; the test suite validates live responses against it).
func (a *API) openAPI(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/yaml", []byte(docs.OpenAPI))
}
