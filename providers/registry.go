package providers

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Where a provider's configuration comes from.
const (
	// SourceEnv: environment variables (GITHUB_CLIENT_ID, …). Fixed for the
	// life of the process and never editable on the admin page.
	SourceEnv = "env"
	// SourceAdmin: stored by an admin (admin page or API), live on every
	// replica without a restart.
	SourceAdmin = "admin"
)

// Types lists every provider type an operator or an admin can configure,
// in the login page's default order. Adding a type is its file (with its
// Type), its fake in providertest, and a line here.
func Types() []Type {
	return []Type{GoogleType(), GitHubType(), KakaoType(), NaverType(), OIDCType()}
}

// TypeOf returns the type called name.
func TypeOf(name string) (Type, bool) {
	i := slices.IndexFunc(Types(), func(t Type) bool { return t.Name == name })
	if i < 0 {
		return Type{}, false
	}
	return Types()[i], true
}

// Configured is one provider as configured, enabled or not.
type Configured struct {
	Type     string
	Settings Settings
	Enabled  bool
	// Order sorts the login page's buttons (ascending, then by name).
	Order  int
	Source string
	// Version changes with every change of an admin-stored configuration
	// (0 for environment ones). A login remembers the version it started
	// with and finishes with it (see Registry.Lookup).
	Version int64
	// UpdatedAt and UpdatedBy are the last change of a stored configuration.
	UpdatedAt time.Time
	UpdatedBy string
}

// EnvPrefix is the variable prefix of a type's environment configuration.
func EnvPrefix(typ string) string { return strings.ToUpper(typ) + "_" }

// EnvVar is the environment variable of a field of type typ.
func EnvVar(typ, field string) string {
	if field == FieldDisplayName {
		field = "name"
	}
	return EnvPrefix(typ) + strings.ToUpper(field)
}

// Entry is a provider in the registry: its configuration, and what became
// of it.
type Entry struct {
	Configured
	Kind Type
	// Provider is nil when the provider is not enabled or could not be built.
	Provider Provider
	// Missing are the required fields left empty.
	Missing []string
	// Problems are settings that do not validate.
	Problems []Problem
	// Shadowed is set on a stored configuration hidden by an environment
	// one of the same name.
	Shadowed bool
}

// Registry holds the providers: those configured by environment variables
// (fixed), those an admin stored (replaced by Apply, at runtime, on every
// replica), and the dev provider. Reads are lock-free snapshots; it is safe
// for concurrent use.
type Registry struct {
	opts       Options
	env        []Configured
	dev        Provider
	devOnHold  bool
	production bool
	keep       time.Duration
	now        func() time.Time
	recorder   *Recorder

	mu  sync.Mutex // serialises Apply
	cur atomic.Pointer[snapshot]
}

type snapshot struct {
	list   []*Entry
	byName map[string]*Entry
	// old keeps superseded providers serving the logins they started.
	old map[versionKey]superseded
}

type versionKey struct {
	name    string
	version int64
}

type superseded struct {
	p     Provider
	until time.Time
}

// Setup is what NewRegistry builds from.
type Setup struct {
	// Env are the providers configured by environment variables.
	Env []Configured
	// Dev turns the dev provider on; DevOnHold says DEV_LOGIN asked for it
	// in production, where it stays off.
	Dev, DevOnHold bool
	// Production refuses http endpoints.
	Production bool
	// Keep is how long a superseded configuration still finishes the logins
	// it started (LOGIN_STATE_TTL).
	Keep time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Problems are configuration problems, one line each, naming the variable.
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "\n") }

// NewRegistry builds the environment-configured providers and the dev
// provider. OIDC discovery is not done here (it happens at first use), so an
// unreachable issuer does not stop start-up. A provider missing a required
// setting stays off and is reported by Statuses; a malformed setting stops
// start-up: the error is Problems, one line per variable.
func NewRegistry(s Setup, logger *slog.Logger, opts ...func(*Options)) (*Registry, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	rec := NewRecorder(s.Now, logger)
	o := Options{Recorder: rec, Logger: logger, HTTPSOnly: s.Production}
	for _, f := range opts {
		f(&o)
	}
	o = o.withDefaults()
	r := &Registry{opts: o, env: s.Env, devOnHold: s.DevOnHold, production: s.Production, keep: s.Keep, now: s.Now, recorder: rec}
	if s.Dev && !s.Production {
		r.dev = NewDev(o)
	}
	var problems Problems
	for _, c := range s.Env {
		t, ok := TypeOf(c.Type)
		if !ok {
			return nil, fmt.Errorf("providers: unknown type %q", c.Type)
		}
		for _, p := range t.Check(c.Settings, s.Production) {
			problems = append(problems, EnvVar(c.Type, p.Field)+": "+p.Message)
		}
		if c.Enabled {
			for _, m := range t.Missing(c.Settings) {
				// Half-configured: the provider stays off (no button), start-up
				// goes on, and the admin provider status names what is missing.
				logger.Warn("provider.incomplete", "provider", c.Settings.Name, "missing", EnvVar(c.Type, m))
			}
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	r.cur.Store(&snapshot{byName: map[string]*Entry{}, old: map[versionKey]superseded{}})
	r.Apply(nil)
	return r, nil
}

// Apply replaces the admin-stored providers with stored (the environment
// ones and the dev provider stay). Unchanged providers keep their instance
// (and with it their discovery cache); a changed one keeps serving, for
// Setup.Keep, the logins its previous version started.
func (r *Registry) Apply(stored []Configured) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.cur.Load()
	now := r.now()
	next := &snapshot{byName: map[string]*Entry{}, old: map[versionKey]superseded{}}
	for k, v := range prev.old {
		if now.Before(v.until) {
			next.old[k] = v
		}
	}
	add := func(c Configured) {
		if c.Settings.Name == "" {
			c.Settings.Name = c.Type
		}
		e := &Entry{Configured: c}
		if _, taken := next.byName[c.Settings.Name]; taken || c.Settings.Name == "dev" {
			e.Shadowed = true
			next.list = append(next.list, e)
			return
		}
		next.byName[c.Settings.Name] = e
		next.list = append(next.list, e)
		t, ok := TypeOf(c.Type)
		if !ok {
			e.Problems = []Problem{{Field: "type", Message: fmt.Sprintf("unknown provider type %q", c.Type)}}
			return
		}
		e.Kind = t
		e.Missing = t.Missing(c.Settings)
		e.Problems = t.Check(c.Settings, r.production)
		if !c.Enabled || len(e.Missing) > 0 || len(e.Problems) > 0 {
			return
		}
		if old, ok := prev.byName[c.Settings.Name]; ok && old.Provider != nil && sameConfig(old.Configured, c) {
			e.Provider = old.Provider
			return
		}
		p, err := t.Open(c.Settings, r.opts)
		if err != nil {
			e.Problems = append(e.Problems, Problem{Field: "", Message: err.Error()})
			return
		}
		e.Provider = p
	}
	for _, c := range r.env {
		c.Source = SourceEnv
		add(c)
	}
	for _, c := range stored {
		c.Source = SourceAdmin
		add(c)
	}
	if r.dev != nil {
		e := &Entry{Configured: Configured{Type: "dev", Settings: Settings{Name: "dev"}, Enabled: true, Source: SourceEnv, Order: 1 << 30}, Kind: DevType(), Provider: r.dev}
		next.byName["dev"] = e
		next.list = append(next.list, e)
	}
	// Providers replaced or removed keep finishing their logins.
	for name, old := range prev.byName {
		if old.Provider == nil {
			continue
		}
		if e, ok := next.byName[name]; ok && e.Provider == old.Provider {
			continue
		}
		next.old[versionKey{name, old.Version}] = superseded{p: old.Provider, until: now.Add(r.keep)}
	}
	slices.SortStableFunc(next.list, func(a, b *Entry) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.Settings.Name, b.Settings.Name))
	})
	r.cur.Store(next)
}

// sameConfig reports whether a provider built from a can serve b.
func sameConfig(a, b Configured) bool {
	return a.Type == b.Type && a.Source == b.Source && a.Version == b.Version && a.Enabled == b.Enabled &&
		a.Settings.Name == b.Settings.Name && a.Settings.DisplayName == b.Settings.DisplayName &&
		a.Settings.ClientID == b.Settings.ClientID && a.Settings.ClientSecret == b.Settings.ClientSecret &&
		a.Settings.Issuer == b.Settings.Issuer && a.Settings.AuthURL == b.Settings.AuthURL &&
		a.Settings.TokenURL == b.Settings.TokenURL && a.Settings.APIURL == b.Settings.APIURL &&
		a.Settings.AppID == b.Settings.AppID && slices.Equal(a.Settings.Scopes, b.Settings.Scopes) &&
		a.Settings.StoreTokens == b.Settings.StoreTokens && a.Settings.RevokeURL == b.Settings.RevokeURL
}

// Get returns the enabled provider called name.
func (r *Registry) Get(name string) (Provider, bool) {
	e, ok := r.cur.Load().byName[name]
	if !ok || e.Provider == nil {
		return nil, false
	}
	return e.Provider, true
}

// Entry returns the registry's entry for the enabled provider name.
func (r *Registry) Entry(name string) (Entry, bool) {
	e, ok := r.cur.Load().byName[name]
	if !ok || e.Provider == nil {
		return Entry{}, false
	}
	return *e, true
}

// Lookup returns the provider that finishes a login started with version
// version of provider name: the current one, or the one it replaced while
// that still serves (Setup.Keep). A provider disabled or removed since the
// login started finishes nothing.
func (r *Registry) Lookup(name string, version int64) (Provider, bool) {
	s := r.cur.Load()
	e, ok := s.byName[name]
	if !ok || e.Provider == nil {
		return nil, false
	}
	if e.Version == version {
		return e.Provider, true
	}
	if old, ok := s.old[versionKey{name, version}]; ok && r.now().Before(old.until) {
		return old.p, true
	}
	return e.Provider, true
}

// Enabled returns the entries of the enabled providers in button order.
func (r *Registry) Enabled() []Entry {
	s := r.cur.Load()
	out := make([]Entry, 0, len(s.list))
	for _, e := range s.list {
		if e.Provider != nil && !e.Shadowed {
			out = append(out, *e)
		}
	}
	return out
}

// List returns the enabled providers in button order.
func (r *Registry) List() []Provider {
	s := r.cur.Load()
	out := make([]Provider, 0, len(s.list))
	for _, e := range s.list {
		if e.Provider != nil && !e.Shadowed {
			out = append(out, e.Provider)
		}
	}
	return out
}

// Names returns the names of every provider the registry knows, enabled or
// not: the closed set of values a provider label may take (metrics).
func (r *Registry) Names() []string {
	s := r.cur.Load()
	out := make([]string, 0, len(s.byName))
	for name := range s.byName {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// CallbackURL is the redirect URI to register at the provider's console:
// BASE_URL/auth/{name}/callback.
func (r *Registry) CallbackURL(name string) string { return r.opts.callbackURL(name) }

// Status describes a provider for admins. It never contains a secret.
type Status struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	DisplayName string `json:"display_name"`
	// Enabled is the provider's switch: for an environment provider, its
	// client id is set; for a stored one, the admin turned it on.
	Enabled bool `json:"enabled"`
	// Live reports that it serves logins now (a button on the login page):
	// enabled, complete, valid, not hidden.
	Live            bool     `json:"live"`
	Source          string   `json:"source"`
	Order           int      `json:"order"`
	Version         int64    `json:"version,omitempty"`
	ClientID        string   `json:"client_id,omitempty"`
	ClientSecretSet bool     `json:"client_secret_set"`
	Scopes          []string `json:"scopes,omitempty"`
	Issuer          string   `json:"issuer,omitempty"`
	AuthURL         string   `json:"auth_url,omitempty"`
	TokenURL        string   `json:"token_url,omitempty"`
	APIURL          string   `json:"api_url,omitempty"`
	AppID           string   `json:"app_id,omitempty"`
	// StoreTokens: the token vault keeps members' grants (STORE_TOKENS).
	StoreTokens bool      `json:"store_tokens"`
	RevokeURL   string    `json:"revoke_url,omitempty"`
	CallbackURL string    `json:"callback_url"`
	PKCE        bool      `json:"pkce"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
	UpdatedBy   string    `json:"updated_by,omitempty"`
	// Missing names the required settings left empty: environment variables
	// for an environment provider, fields for a stored one.
	Missing []string `json:"missing,omitempty"`
	// Status is "ok", "off", or why the provider does not work: a setting
	// that does not validate, or the last failure talking to it.
	Status      string    `json:"status"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Statuses describes every provider, enabled or not, in button order, the
// environment types that are not configured at all, and the dev provider.
func (r *Registry) Statuses() []Status {
	s := r.cur.Load()
	out := make([]Status, 0, len(s.list)+len(Types()))
	seen := map[string]bool{}
	for _, e := range s.list {
		seen[e.Settings.Name] = true
		out = append(out, r.status(e))
	}
	// Environment types nobody configured still show what would enable them.
	for _, t := range Types() {
		if seen[t.Name] {
			continue
		}
		out = append(out, r.status(&Entry{Configured: Configured{Type: t.Name, Settings: Settings{Name: t.Name}, Source: SourceEnv, Order: 1 << 29}, Kind: t, Missing: t.Missing(Settings{})}))
	}
	if r.dev == nil {
		st := Status{Name: "dev", Type: "dev", DisplayName: "Dev sign-in", Source: SourceEnv, CallbackURL: r.CallbackURL("dev"), PKCE: true, Status: "off", Missing: []string{"DEV_LOGIN"}, Order: 1 << 30}
		if r.devOnHold {
			st.Missing = []string{"APP_ENV"}
		}
		out = append(out, st)
	}
	return out
}

func (r *Registry) status(e *Entry) Status {
	set := e.Settings
	st := Status{
		Name: set.Name, Type: e.Type, DisplayName: cmp.Or(set.DisplayName, e.Kind.DisplayName),
		Enabled: e.Enabled, Live: e.Provider != nil && !e.Shadowed, Source: e.Source, Order: e.Order, Version: e.Version,
		ClientID: set.ClientID, ClientSecretSet: set.ClientSecret != "", Scopes: set.Scopes,
		Issuer: set.Issuer, AuthURL: set.AuthURL, TokenURL: set.TokenURL, APIURL: set.APIURL, AppID: set.AppID,
		StoreTokens: set.StoreTokens, RevokeURL: set.RevokeURL,
		CallbackURL: r.CallbackURL(set.Name), PKCE: e.Kind.PKCE, UpdatedAt: e.UpdatedAt, UpdatedBy: e.UpdatedBy,
	}
	if len(st.Scopes) == 0 {
		st.Scopes = e.Kind.DefaultScopes
	}
	for _, m := range e.Missing {
		if e.Source == SourceEnv {
			m = EnvVar(e.Type, m)
		}
		st.Missing = append(st.Missing, m)
	}
	st.LastError, st.LastErrorAt = r.recorder.Last(set.Name)
	switch {
	case e.Shadowed:
		st.Status = "hidden: the name is taken by a provider configured by environment variables"
	case len(e.Problems) > 0:
		msgs := make([]string, len(e.Problems))
		for i, p := range e.Problems {
			msgs[i] = strings.TrimPrefix(p.Field+": "+p.Message, ": ")
		}
		st.Status = strings.Join(msgs, "; ")
	case !e.Enabled || len(e.Missing) > 0:
		st.Status = "off"
	case st.LastError != "":
		st.Status = st.LastError
	default:
		st.Status = "ok"
	}
	return st
}

// Discoverer is implemented by providers configured by OpenID Connect
// discovery (google, oidc, kakao with an issuer).
type Discoverer interface {
	Discover(ctx context.Context) error
}

// WithCallObserver reports every provider HTTP call to observe (metrics).
func WithCallObserver(observe func(provider string, d time.Duration, failed bool)) func(*Options) {
	return func(o *Options) { o.ObserveCall = observe }
}

// WithBaseURL sets the broker's public URL (callback URLs) and the timeout
// of provider calls.
func WithBaseURL(baseURL string, timeout time.Duration) func(*Options) {
	return func(o *Options) { o.BaseURL, o.Timeout = baseURL, timeout }
}
