package handlers

import (
	"net/http"
	"net/netip"
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

// clientIP keys the per-client limits: the client's address, or for IPv6
// its /64. One subscriber usually gets a whole /64 (RFC 6177 and common ISP
// practice) and can pick any address in it, so keying by the full address
// would give one client 2^64 separate budgets.
func clientIP(c echo.Context) string { return limitKey(c.RealIP()) }

// limitKey is the rate-limit key of an address: IPv4 as it is (IPv4-mapped
// IPv6 counts as IPv4), IPv6 as its /64 prefix, anything unparsable as given.
func limitKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
