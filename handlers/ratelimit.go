package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/authbroker/authbroker/internal/ratelimit"
)

// limitBy refuses a request with 429 and Retry-After once key(c) has used
// up l.
func (a *API) limitBy(l ratelimit.Limit, key func(c echo.Context) string) echo.MiddlewareFunc {
	return a.limitWith(a.Limiter, l, key)
}

// limitWith is limitBy with another limiter.
func (a *API) limitWith(lim ratelimit.Limiter, l ratelimit.Limit, key func(c echo.Context) string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := a.allow(c, lim, l, key(c)); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// allow checks one event for key against l. A limiter failure (Redis down)
// lets the request through: the request itself then meets the same outage
// and answers 503, and a broken limiter must not lock every user out.
func (a *API) allow(c echo.Context, lim ratelimit.Limiter, l ratelimit.Limit, key string) error {
	if lim == nil || l.PerMinute <= 0 || key == "" {
		return nil
	}
	res, err := lim.Allow(c.Request().Context(), l, key)
	if err != nil {
		a.Logger.WarnContext(c.Request().Context(), "ratelimit.failed", "limit", l.Name, "error", err.Error())
		return nil
	}
	if res.Allowed {
		return nil
	}
	if a.Metrics != nil {
		a.Metrics.RateLimited(l.Name)
	}
	c.Response().Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(res.RetryAfter)))
	return echo.NewHTTPError(http.StatusTooManyRequests)
}

func clientIP(c echo.Context) string { return c.RealIP() }
