// Package metrics exposes authbroker's Prometheus metrics. It owns its
// registry (no global default registry), so two brokers in one test
// process count separately.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every collector. Label values are bounded sets (provider
// names, outcomes, route patterns), never ids or user input.
type Metrics struct {
	reg          *prometheus.Registry
	logins       *prometheus.CounterVec
	refreshes    *prometheus.CounterVec
	reuse        prometheus.Counter
	requests     *prometheus.HistogramVec
	providerCall *prometheus.HistogramVec
	providerErr  *prometheus.CounterVec
	storeErr     *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	// sqlStatements counts statements sent to PostgreSQL.
	sqlStatements prometheus.Counter
}

// New registers the collectors. denylistSize reports the in-process
// denylist length at scrape time.
func New(denylistSize func() int) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authbroker_logins_total", Help: "Logins by provider and result (success, denied, provider_error, bad_state, disabled, already_signed_in, linked, error).",
	}, []string{"provider", "result"})
	m.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authbroker_refresh_total", Help: "Refresh grants by outcome (rotated, replayed, reuse_revoked, invalid, rate_limited, error).",
	}, []string{"outcome"})
	m.reuse = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authbroker_refresh_reuse_detected_total", Help: "Refresh tokens older than the previous one presented after the grace period; each revoked a session.",
	})
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "authbroker_http_request_duration_seconds", Help: "HTTP request latency by route pattern, method and status class.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method", "code"})
	m.providerCall = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "authbroker_provider_request_duration_seconds", Help: "Latency of calls to identity providers by provider and host.",
		Buckets: prometheus.DefBuckets,
	}, []string{"provider"})
	m.providerErr = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authbroker_provider_errors_total", Help: "Failed calls to identity providers (transport errors and 5xx).",
	}, []string{"provider"})
	m.storeErr = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authbroker_store_errors_total", Help: "Requests answered 503 because the database or Redis failed, by route.",
	}, []string{"route"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authbroker_rate_limited_total", Help: "Requests refused with 429 by limit name.",
	}, []string{"limit"})
	m.sqlStatements = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authbroker_sql_statements_total", Help: "Statements sent to PostgreSQL (a refresh with Redis sends none).",
	})
	m.reg.MustRegister(m.logins, m.refreshes, m.reuse, m.requests, m.providerCall, m.providerErr, m.storeErr, m.rateLimited, m.sqlStatements)
	if denylistSize != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authbroker_denylist_entries", Help: "Revoked sessions whose access tokens are still refused (in-process copy).",
		}, func() float64 { return float64(denylistSize()) }))
	}
	return m
}

// SQLStatement counts one statement sent to PostgreSQL.
func (m *Metrics) SQLStatement() { m.sqlStatements.Inc() }

// Login counts a login outcome (auth.Observer).
func (m *Metrics) Login(provider, result string) { m.logins.WithLabelValues(provider, result).Inc() }

// Refresh counts a refresh outcome (auth.Observer).
func (m *Metrics) Refresh(outcome string) {
	m.refreshes.WithLabelValues(outcome).Inc()
	if outcome == "reuse_revoked" {
		m.reuse.Inc()
	}
}

// StoreError counts a request that failed because a store did.
func (m *Metrics) StoreError(route string) { m.storeErr.WithLabelValues(Route(route)).Inc() }

// RateLimited counts a 429.
func (m *Metrics) RateLimited(limit string) { m.rateLimited.WithLabelValues(limit).Inc() }

// ProviderCall records one HTTP call to a provider.
func (m *Metrics) ProviderCall(provider string, d time.Duration, failed bool) {
	m.providerCall.WithLabelValues(provider).Observe(d.Seconds())
	if failed {
		m.providerErr.WithLabelValues(provider).Inc()
	}
}

// statusClass is "1xx" … "5xx"; anything outside 100–599 is "other".
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Method is the label value of an HTTP method: the standard methods by
// name, anything else a client invents as "other". A client chooses the
// method, so taking it as it comes would let anyone add a series (and the
// memory behind it) per request.
func Method(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// Route is the label value of a matched route: its pattern (a closed set,
// the routes the server registers), or "unmatched" for a path no route
// matches. Never the request path, which the client chooses.
func Route(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	return pattern
}

// Middleware observes request latency by route pattern, method and status
// class. Every label value comes from a closed set (Route, Method, 1xx–5xx),
// so no request can add a series.
func (m *Metrics) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		status := c.Response().Status
		if err != nil {
			if he, ok := err.(*echo.HTTPError); ok {
				status = he.Code
			}
		}
		m.requests.WithLabelValues(Route(c.Path()), Method(c.Request().Method), statusClass(status)).Observe(time.Since(start).Seconds())
		return err
	}
}
