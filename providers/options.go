package providers

import (
	"log/slog"
	"net/http"
	"time"
)

// Options are what every provider constructor needs besides its own
// config.Provider. The registry fills them from config.Config; tests set them
// directly.
type Options struct {
	// BaseURL is the broker's public URL; callbacks are BaseURL/auth/{name}/callback.
	BaseURL string
	// Timeout bounds every HTTP call to the provider (x/oauth2's default
	// client has none).
	Timeout time.Duration
	// Recorder remembers failures for the admin status; nil records nothing.
	Recorder *Recorder
	// Logger receives provider failures; nil discards them.
	Logger *slog.Logger
	// Now is the clock for id_token expiry; nil means time.Now.
	Now func() time.Time
	// Transport is the base round tripper; nil means a clone of
	// http.DefaultTransport. Every response body read through it is capped.
	Transport http.RoundTripper
	// ObserveCall, when set, is told the duration and outcome of every
	// HTTP call to a provider (metrics). failed: transport error or 5xx.
	ObserveCall func(provider string, d time.Duration, failed bool)
	// DiscoveryRetry is how long a failed OIDC discovery is remembered
	// before the next attempt; zero means 5s.
	DiscoveryRetry time.Duration
	// HTTPSOnly refuses endpoints a discovery document names over plain
	// http (loopback excepted), as configuration refuses configured ones
	// in production: codes, tokens and profiles travel there.
	HTTPSOnly bool
}

const (
	defaultTimeout        = 10 * time.Second
	defaultDiscoveryRetry = 5 * time.Second
)

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if o.DiscoveryRetry <= 0 {
		o.DiscoveryRetry = defaultDiscoveryRetry
	}
	return o
}

// callbackURL is where a provider sends the browser back: one distinct
// path per provider, which is the mix-up defence of RFC 9700 §4.4.2.
func (o Options) callbackURL(name string) string {
	return o.BaseURL + "/auth/" + name + "/callback"
}
