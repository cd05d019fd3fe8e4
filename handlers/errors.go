package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authbroker/authbroker/internal/apierror"
)

// oauthError is the RFC 6749 §5.2 error body.
type oauthError struct {
	Error       string                `json:"error"`
	Description string                `json:"error_description,omitempty"`
	Fields      []apierror.FieldError `json:"fields,omitempty"`
	Scope       string                `json:"scope,omitempty"`
	ReauthURL   string                `json:"reauth_url,omitempty"`
}

// pageKey marks a request answered with HTML pages (browser routes).
const pageKey = "authbroker.page"

func markPage(c echo.Context) { c.Set(pageKey, true) }

func wantsPage(c echo.Context) bool {
	if v, ok := c.Get(pageKey).(bool); ok {
		return v
	}
	return c.Request().Method == http.MethodGet && c.Path() == "" && strings.Contains(c.Request().Header.Get("Accept"), "text/html")
}

// errorHandler is the one place that turns errors into HTTP answers: JSON
// error objects for the API, a readable page for browsers. Internal causes
// are logged, never shown.
func (a *API) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var (
		status = http.StatusInternalServerError
		body   oauthError
	)
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		body = oauthError{Error: apierror.CodeInvalidRequest, Description: http.StatusText(status)}
		switch status {
		case http.StatusNotFound:
			body = oauthError{Error: apierror.CodeNotFound, Description: "no such route"}
		case http.StatusRequestEntityTooLarge:
			body = oauthError{Error: apierror.CodeInvalidRequest, Description: "request body too large"}
		case http.StatusTooManyRequests:
			body = oauthError{Error: apierror.CodeRateLimited, Description: "too many requests; retry later"}
		case http.StatusUnauthorized:
			body = oauthError{Error: apierror.CodeInvalidToken, Description: "authentication required"}
		case http.StatusForbidden:
			body = oauthError{Error: apierror.CodeForbidden, Description: "not allowed"}
		}
		if status >= 500 {
			body = oauthError{Error: apierror.CodeServerError, Description: "internal error"}
			a.Logger.ErrorContext(c.Request().Context(), "http.error", "route", c.Path(), "error", err.Error())
		}
	} else {
		ae := apierror.As(err)
		status, body = ae.Status, oauthError{Error: ae.Code, Description: ae.Description, Fields: ae.Fields, Scope: ae.Scope, ReauthURL: ae.ReauthURL}
		if ra := ae.RetryAfterHeader(); ra != "" {
			c.Response().Header().Set("Retry-After", ra)
		}
		if ae.Challenge != "" {
			c.Response().Header().Set("WWW-Authenticate", ae.Challenge)
		}
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelError
		}
		if ae.Err != nil {
			a.Logger.Log(c.Request().Context(), level, "http.error", "route", c.Path(), "code", ae.Code, "error", ae.Err.Error())
		}
	}
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "1")
		if a.Metrics != nil {
			a.Metrics.StoreError(c.Path())
		}
	}
	if wantsPage(c) {
		_ = a.renderPage(c, status, "error", map[string]any{"Message": body.Description, "Code": body.Error, "Back": "/"})
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, body)
}

// renderPage renders a template page with status.
func (a *API) renderPage(c echo.Context, status int, name string, data any) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return a.Pages.Render(c.Response(), name, data)
}
