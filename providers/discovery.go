package providers

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// discovery fetches an issuer's OpenID Connect discovery document at first
// use and caches the resulting *oidc.Provider for the life of the process.
//
// It is lazy so that an unreachable issuer never blocks start-up (the broker
// must come up and serve its other providers); a failure is remembered for
// retry seconds so a dead issuer is not hammered by every login, and is
// recorded for the admin status. go-oidc's Provider keeps the HTTP client it
// was created with, so JWKS fetches share our timeout and body cap.
type discovery struct {
	issuer  string
	b       *base
	retry   time.Duration
	timeout time.Duration

	mu       sync.Mutex
	provider *oidc.Provider
	meta     discoveryMeta
	err      error
	failedAt time.Time
}

// discoveryMeta is what we read from the discovery document beyond what
// go-oidc exposes.
type discoveryMeta struct {
	TokenAuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	JWKSURI            string   `json:"jwks_uri"`
	RevocationEndpoint string   `json:"revocation_endpoint"`
	ScopesSupported    []string `json:"scopes_supported"`
}

// insecureEndpoint returns the first endpoint of the document that is
// plain http on a host other than loopback ("" when none is).
func insecureEndpoint(p *oidc.Provider, meta discoveryMeta) string {
	for _, raw := range []string{p.Endpoint().AuthURL, p.Endpoint().TokenURL, p.UserInfoEndpoint(), meta.JWKSURI, meta.RevocationEndpoint} {
		u, err := url.Parse(raw)
		if raw == "" || err != nil {
			continue
		}
		if h := u.Hostname(); u.Scheme != "https" && h != "localhost" && !net.ParseIP(h).IsLoopback() {
			return raw
		}
	}
	return ""
}

func newDiscovery(issuer string, b *base) *discovery {
	return &discovery{issuer: issuer, b: b, retry: b.opts.DiscoveryRetry, timeout: b.opts.Timeout}
}

// get returns the cached provider, discovering it if needed. The fetch runs
// on a context detached from the caller's cancellation (one impatient
// browser must not poison the cache for everyone) but bounded by the
// provider timeout.
func (d *discovery) get(ctx context.Context) (*oidc.Provider, discoveryMeta, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.provider != nil {
		return d.provider, d.meta, nil
	}
	if d.err != nil && d.b.opts.Now().Sub(d.failedAt) < d.retry {
		return nil, discoveryMeta{}, d.err
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.timeout)
	defer cancel()
	p, err := oidc.NewProvider(d.b.httpContext(dctx), d.issuer)
	var meta discoveryMeta
	if err == nil {
		err = p.Claims(&meta)
	}
	if err == nil && d.b.opts.HTTPSOnly {
		if bad := insecureEndpoint(p, meta); bad != "" {
			err = fmt.Errorf("the document names %s, which is not https (refused when APP_ENV=production)", bad)
		}
	}
	if err != nil {
		d.err = d.b.record(fmt.Errorf("%s: discovery at %s: %w", d.b.name, d.issuer, unwrapURLError(err)))
		d.failedAt = d.b.opts.Now()
		return nil, discoveryMeta{}, d.err
	}
	d.provider, d.meta, d.err = p, meta, nil
	return p, meta, nil
}

// authStyle picks how to authenticate at the token endpoint from the
// discovery document, never leaving x/oauth2 on auto-detect (which retries
// the same, single-use code a second way after any failure). OpenID
// Connect Discovery 1.0 §3: when the list is absent the default is
// client_secret_basic.
func (m discoveryMeta) authStyle(hasSecret bool) oauth2.AuthStyle {
	if !hasSecret {
		return oauth2.AuthStyleInParams
	}
	if len(m.TokenAuthMethods) == 0 || slices.Contains(m.TokenAuthMethods, "client_secret_basic") {
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams
}
