package providers

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/authbroker/authbroker/internal/config"
)

// Registry holds the enabled providers, built once from configuration, and
// describes all of them (enabled or not) for the admin page.
type Registry struct {
	opts      Options
	specs     []spec
	enabled   map[string]Provider
	recorder  *Recorder
	devOnHold bool
}

// spec is one line of the provider table: how to describe a provider when
// it is off and how to build it when it is on. Adding a provider is one
// file, one fake in providertest, and one line here.
type spec struct {
	name     string
	display  string
	prefix   string
	cfg      config.Provider
	required []string // variables (without prefix) that must be set when enabled
	enabled  bool
	scopes   func() []string
	pkce     bool
	build    func(config.Provider, Options) (Provider, error)
}

// NewRegistry builds every enabled provider: a provider is enabled when its
// client id is set; the dev provider when DEV_LOGIN allows it, and never in
// production. OIDC discovery is not done here (it happens at first use),
// so an unreachable issuer does not stop start-up. A provider missing a
// required setting stays disabled and is reported by Statuses; a malformed
// endpoint URL stops start-up: the error is a config.Problems, one line per
// variable.
//
// opts adjust the Options every provider is built with (metrics hooks).
func NewRegistry(cfg *config.Config, logger *slog.Logger, opts ...func(*Options)) (*Registry, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rec := NewRecorder(nil, logger)
	o := Options{BaseURL: cfg.BaseURL, Timeout: cfg.ProviderTimeout, Recorder: rec, Logger: logger, HTTPSOnly: cfg.Production()}
	for _, f := range opts {
		f(&o)
	}
	o = o.withDefaults()
	r := &Registry{opts: o, enabled: map[string]Provider{}, recorder: rec}

	oidcDisplay := cfg.OIDC.Name
	if oidcDisplay == "" {
		oidcDisplay = "Single sign-on"
	}
	r.specs = []spec{
		{name: "google", display: "Google", prefix: "GOOGLE_", cfg: cfg.Google, required: []string{"CLIENT_ID", "CLIENT_SECRET"},
			scopes: func() []string { return oidcScopes(cfg.Google.Scopes) }, pkce: true,
			build: func(c config.Provider, o Options) (Provider, error) { return NewGoogle(c, o) }},
		{name: "github", display: "GitHub", prefix: "GITHUB_", cfg: cfg.GitHub, required: []string{"CLIENT_ID", "CLIENT_SECRET"},
			scopes: func() []string { return orDefaultScopes(cfg.GitHub.Scopes, "user:email") }, pkce: true,
			build: func(c config.Provider, o Options) (Provider, error) { return NewGitHub(c, o) }},
		{name: "kakao", display: "Kakao", prefix: "KAKAO_", cfg: cfg.Kakao, required: []string{"CLIENT_ID"},
			scopes: func() []string { return slices.Clone(cfg.Kakao.Scopes) }, pkce: true,
			build: func(c config.Provider, o Options) (Provider, error) {
				k, err := NewKakao(c, o)
				if err != nil {
					return nil, err
				}
				if k.OIDC() {
					return kakaoOIDC{k}, nil
				}
				return k, nil
			}},
		{name: "naver", display: "Naver", prefix: "NAVER_", cfg: cfg.Naver, required: []string{"CLIENT_ID", "CLIENT_SECRET"},
			scopes: func() []string { return nil }, pkce: false,
			build: func(c config.Provider, o Options) (Provider, error) { return NewNaver(c, o) }},
		{name: "oidc", display: oidcDisplay, prefix: "OIDC_", cfg: cfg.OIDC, required: []string{"ISSUER", "CLIENT_ID"},
			scopes: func() []string { return oidcScopes(cfg.OIDC.Scopes) }, pkce: true,
			build: func(c config.Provider, o Options) (Provider, error) { return NewOIDC(c, o) }},
	}
	for i := range r.specs {
		r.specs[i].enabled = r.specs[i].cfg.Enabled()
	}

	var problems config.Problems
	for _, s := range r.specs {
		if !s.enabled {
			continue
		}
		if missing := s.missing(); len(missing) > 0 {
			// Half-configured: the provider stays off (no button), start-up
			// goes on, and the admin provider status names what is missing
			// — an operator mid-setup sees it there instead of a dead broker.
			for _, m := range missing {
				logger.Warn("provider.incomplete", "provider", s.name, "missing", m)
			}
			continue
		}
		p, err := s.build(s.cfg, o)
		if err != nil {
			problems = append(problems, problemLines(err)...)
			continue
		}
		r.enabled[s.name] = p
	}
	if cfg.DevLoginEnabled() && !cfg.Production() {
		r.enabled["dev"] = NewDev(o)
	}
	r.devOnHold = cfg.DevLoginEnabled() && cfg.Production()
	if len(problems) > 0 {
		return nil, problems
	}
	return r, nil
}

func problemLines(err error) config.Problems {
	if p, ok := err.(config.Problems); ok {
		return p
	}
	return config.Problems{err.Error()}
}

// missing names the required variables that are empty.
func (s spec) missing() []string {
	var out []string
	for _, v := range s.required {
		var val string
		switch v {
		case "CLIENT_ID":
			val = s.cfg.ClientID
		case "CLIENT_SECRET":
			val = s.cfg.ClientSecret
		case "ISSUER":
			val = s.cfg.Issuer
		}
		if val == "" {
			out = append(out, s.prefix+v)
		}
	}
	return out
}

// Get returns the enabled provider called name.
func (r *Registry) Get(name string) (Provider, bool) {
	p, ok := r.enabled[name]
	return p, ok
}

// List returns the enabled providers in a stable order: google, github,
// kakao, naver, oidc, dev.
func (r *Registry) List() []Provider {
	out := make([]Provider, 0, len(r.enabled))
	for _, s := range r.specs {
		if p, ok := r.enabled[s.name]; ok {
			out = append(out, p)
		}
	}
	if p, ok := r.enabled["dev"]; ok {
		out = append(out, p)
	}
	return out
}

// CallbackURL is the redirect URI to register at the provider's console:
// BASE_URL/auth/{name}/callback.
func (r *Registry) CallbackURL(name string) string { return r.opts.callbackURL(name) }

// Recorder is the failure recorder the providers report to.
func (r *Registry) Recorder() *Recorder { return r.recorder }

// Statuses describes all six providers, enabled or not, in List order:
// missing settings by variable name, the callback URL, scopes, PKCE, the
// client id (never the secret) and the last failure.
func (r *Registry) Statuses() []Status {
	out := make([]Status, 0, len(r.specs)+1)
	for _, s := range r.specs {
		st := Status{
			Name:        s.name,
			DisplayName: s.display,
			Enabled:     r.enabled[s.name] != nil,
			ClientID:    s.cfg.ClientID,
			Missing:     s.missing(),
			CallbackURL: r.CallbackURL(s.name),
			Scopes:      s.scopes(),
			PKCE:        s.pkce,
		}
		if sp, ok := r.enabled[s.name].(interface{ Scopes() []string }); ok {
			st.Scopes = sp.Scopes()
		}
		st.LastError, st.LastErrorAt = r.recorder.Last(s.name)
		out = append(out, st)
	}
	dev := Status{Name: "dev", DisplayName: "Dev sign-in", Enabled: r.enabled["dev"] != nil, CallbackURL: r.CallbackURL("dev"), PKCE: true}
	if !dev.Enabled {
		dev.Missing = []string{"DEV_LOGIN"}
		if r.devOnHold {
			dev.Missing = []string{"APP_ENV"}
		}
	}
	return append(out, dev)
}

// Discoverer is implemented by providers configured by OpenID Connect
// discovery (google, oidc).
type Discoverer interface {
	Discover(ctx context.Context) error
}

// Discover runs discovery for every enabled OIDC provider concurrently and
// waits for all (each bounded by the provider timeout). Failures are
// recorded for Statuses and retried at first use. Call it in the
// background after start-up to surface a broken issuer early; it is never
// required.
func (r *Registry) Discover(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range r.List() {
		if d, ok := p.(Discoverer); ok {
			wg.Go(func() { _ = d.Discover(ctx) })
		}
	}
	wg.Wait()
}

// WithCallObserver reports every provider HTTP call to observe (metrics).
func WithCallObserver(observe func(provider string, d time.Duration, failed bool)) func(*Options) {
	return func(o *Options) { o.ObserveCall = observe }
}
