// Package providerconfig is the providers an admin configures at runtime:
// validated, their client secret sealed under SECRETS_KEY_FILE, stored in
// SQL, audited, and applied to the provider registry of every replica
// within a second, without a restart.
//
// Environment variables win: a provider configured by them (GITHUB_…) is
// shown but never editable here, and a stored provider cannot take its
// name.
package providerconfig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/secrets"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/providers"
)

// secretPurpose separates provider client secrets from every other use of
// the secrets keys.
const secretPurpose = "authbroker provider client secret v1"

// topic is the store.Changes topic of provider changes.
const topic = "providers"

// Input is a provider as the admin API takes it (PUT /admin/api/providers/{name}).
type Input struct {
	Type        string `json:"type"`
	DisplayName string `json:"display_name"`
	Order       int    `json:"order"`
	Enabled     bool   `json:"enabled"`
	ClientID    string `json:"client_id"`
	// ClientSecret is write-only: absent keeps the stored secret, "" clears it.
	ClientSecret *string  `json:"client_secret"`
	Scopes       []string `json:"scopes"`
	Issuer       string   `json:"issuer"`
	AuthURL      string   `json:"auth_url"`
	TokenURL     string   `json:"token_url"`
	APIURL       string   `json:"api_url"`
	AppID        string   `json:"app_id"`
	// StoreTokens has the token vault keep members' grants; RevokeURL
	// overrides where they are revoked (Google, OIDC).
	StoreTokens bool   `json:"store_tokens"`
	RevokeURL   string `json:"revoke_url"`
}

// stored is the settings JSON of a stored provider: everything but the
// fields that have columns of their own.
type stored struct {
	Scopes   []string `json:"scopes,omitempty"`
	Issuer   string   `json:"issuer,omitempty"`
	AuthURL  string   `json:"auth_url,omitempty"`
	TokenURL string   `json:"token_url,omitempty"`
	APIURL   string   `json:"api_url,omitempty"`
	AppID    string   `json:"app_id,omitempty"`
	// StoreTokens and RevokeURL: see Input.
	StoreTokens bool   `json:"store_tokens,omitempty"`
	RevokeURL   string `json:"revoke_url,omitempty"`
}

// Actor is who changes a provider, for the audit log.
type Actor struct {
	MemberID string
	IP       string
}

// Service manages stored providers. It is safe for concurrent use.
type Service struct {
	store    store.ProviderConfigs
	audit    store.Audit
	keys     *secrets.Keyring
	reg      *providers.Registry
	changes  store.Changes // nil: replicas poll
	env      map[string]string
	prod     bool
	opts     providers.Options
	now      func() time.Time
	log      *slog.Logger
	mu       sync.Mutex // serialises reloads
	loadedAt int64      // generation last applied
}

// Deps is what New needs.
type Deps struct {
	Store    store.ProviderConfigs
	Audit    store.Audit
	Keys     *secrets.Keyring
	Registry *providers.Registry
	// Changes, when set (Redis), tells the other replicas at once;
	// without it they poll the generation.
	Changes store.Changes
	// Env are the providers configured by environment variables.
	Env        []providers.Configured
	Production bool
	// Options are the provider options (for the reachability test).
	Options providers.Options
	Now     func() time.Time
	Logger  *slog.Logger
}

// New returns a Service; call Load before serving.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	env := map[string]string{}
	for _, c := range d.Env {
		env[c.Settings.Name] = providers.EnvVar(c.Type, providers.FieldClientID)
	}
	return &Service{store: d.Store, audit: d.Audit, keys: d.Keys, reg: d.Registry, changes: d.Changes, env: env,
		prod: d.Production, opts: d.Options, now: d.Now, log: d.Logger, loadedAt: -1}
}

// Load reads every stored provider and applies them to the registry, if
// anything changed since the last load. A client secret that does not open
// (SECRETS_KEY_FILE lost or replaced) is an error naming the provider: the
// broker must not start half-configured without saying why.
func (s *Service) Load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	gen, err := s.store.ProviderGeneration(ctx)
	if err != nil {
		return fmt.Errorf("providers: %w", err)
	}
	if gen == s.loadedAt {
		return nil
	}
	list, err := s.store.ListProviderConfigs(ctx)
	if err != nil {
		return fmt.Errorf("providers: %w", err)
	}
	cfgs := make([]providers.Configured, 0, len(list))
	for _, c := range list {
		conf, err := s.configured(c)
		if err != nil {
			return err
		}
		cfgs = append(cfgs, conf)
	}
	s.reg.Apply(cfgs)
	s.loadedAt = gen
	return nil
}

// configured turns a stored provider into the registry's form, opening its secret.
func (s *Service) configured(c store.ProviderConfig) (providers.Configured, error) {
	var st stored
	if err := json.Unmarshal(c.Settings, &st); err != nil {
		return providers.Configured{}, fmt.Errorf("stored provider %s: settings: %w", c.Name, err)
	}
	set := providers.Settings{Name: c.Name, DisplayName: c.DisplayName, ClientID: c.ClientID, Scopes: st.Scopes,
		Issuer: st.Issuer, AuthURL: st.AuthURL, TokenURL: st.TokenURL, APIURL: st.APIURL, AppID: st.AppID,
		StoreTokens: st.StoreTokens, RevokeURL: st.RevokeURL}
	if len(c.ClientSecret) > 0 {
		secret, err := s.keys.Open(secretPurpose, c.ClientSecret, []byte(c.Name))
		if err != nil {
			return providers.Configured{}, fmt.Errorf("SECRETS_KEY_FILE: the stored client secret of provider %q does not open: "+
				"the key that sealed it is not in the file (restore the previous key file, or re-enter the secret on the admin page)", c.Name)
		}
		set.ClientSecret = string(secret)
	}
	return providers.Configured{Type: c.Type, Settings: set, Enabled: c.Enabled, Order: c.Order, Source: providers.SourceAdmin,
		Version: c.Version, UpdatedAt: c.UpdatedAt, UpdatedBy: c.UpdatedBy}, nil
}

// Run keeps the registry current until ctx ends: on every announcement of
// a change (Redis), and on a generation poll every resync (the only signal
// without Redis; with it, the repair of a missed announcement).
func (s *Service) Run(ctx context.Context, resync time.Duration) {
	t := time.NewTicker(resync)
	defer t.Stop()
	var changed <-chan struct{}
	watch := func() {
		if s.changes == nil {
			return
		}
		ch, err := s.changes.Watch(ctx, topic)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("providers.watch_failed", "error", err.Error())
			}
			return
		}
		changed = ch
	}
	reload := func() {
		if err := s.Load(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("providers.reload_failed", "error", err.Error())
		}
	}
	watch()
	reload() // whatever changed before the subscription
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changed:
			if !ok {
				changed = nil
				watch()
			}
			reload()
		case <-t.C:
			if changed == nil {
				watch()
			}
			reload()
		}
	}
}

// announce tells every replica, then reloads here.
func (s *Service) announce(ctx context.Context) {
	if s.changes != nil {
		if err := s.changes.Announce(ctx, topic); err != nil {
			s.log.Warn("providers.announce_failed", "error", err.Error())
		}
	}
	if err := s.Load(ctx); err != nil {
		s.log.Error("providers.reload_failed", "error", err.Error())
	}
}

// Statuses lists every provider: environment ones, stored ones, and the
// types nobody configured.
func (s *Service) Statuses() []providers.Status { return s.reg.Statuses() }

// Types lists the provider types an admin can add, with their fields.
func (s *Service) Types() []providers.Type { return providers.Types() }

// namePattern is a provider name: a path segment of lower-case letters,
// digits and dashes.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// reserved names are paths of the broker itself under /auth/.
var reserved = []string{"token", "logout", "revoke", "introspect", "me", "sessions", "link", "identities", "dev", "callback", "authorize", "admin", "new"}

// Put creates or replaces the stored provider name from in: validated
// field by field, the secret sealed (an omitted secret keeps the stored
// one), audited with the fields that changed, and live everywhere.
func (s *Service) Put(ctx context.Context, actor Actor, name string, in Input) (providers.Status, error) {
	if v, ok := s.env[name]; ok {
		return providers.Status{}, apierror.New(http.StatusConflict, apierror.CodeProviderByEnv,
			fmt.Sprintf("%s is configured by environment variables (%s); change it there, or remove them to manage it here", name, v), nil)
	}
	typ, fields := s.validate(name, in)
	if len(fields) > 0 {
		return providers.Status{}, apierror.Invalid("the provider settings are not valid", fields)
	}
	old, err := s.store.GetProviderConfig(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		old = store.ProviderConfig{}
	case err != nil:
		return providers.Status{}, apierror.Unavailable("get provider config", err)
	}
	next := store.ProviderConfig{Name: name, Type: in.Type, DisplayName: strings.TrimSpace(in.DisplayName), Order: in.Order,
		Enabled: in.Enabled, ClientID: strings.TrimSpace(in.ClientID), ClientSecret: old.ClientSecret,
		UpdatedAt: s.now().UTC(), UpdatedBy: actor.MemberID}
	secretChanged := false
	if in.ClientSecret != nil {
		secretChanged = true
		next.ClientSecret = nil
		if *in.ClientSecret != "" {
			if next.ClientSecret, err = s.keys.Seal(secretPurpose, []byte(*in.ClientSecret), []byte(name)); err != nil {
				return providers.Status{}, apierror.As(err)
			}
		}
	}
	set := stored{Scopes: in.Scopes, Issuer: in.Issuer, AuthURL: in.AuthURL, TokenURL: in.TokenURL, APIURL: in.APIURL, AppID: in.AppID,
		StoreTokens: in.StoreTokens, RevokeURL: in.RevokeURL}
	if next.Settings, err = json.Marshal(set); err != nil {
		return providers.Status{}, apierror.As(err)
	}
	// A required secret must exist, entered now or stored before.
	if f := secretField(typ); f.Required && len(next.ClientSecret) == 0 {
		return providers.Status{}, apierror.Invalid("the provider settings are not valid", []apierror.FieldError{{Field: providers.FieldClientSecret, Message: "required"}})
	}
	saved, err := s.store.PutProviderConfig(ctx, next, old.Version)
	switch {
	case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound):
		return providers.Status{}, apierror.New(http.StatusConflict, apierror.CodeConflict, "the provider changed meanwhile; reload and try again", err)
	case err != nil:
		return providers.Status{}, apierror.Unavailable("put provider config", err)
	}
	action, changed := "provider.create", changedFields(old, saved, secretChanged)
	if old.Version != 0 {
		action = "provider.update"
	}
	if err := s.record(ctx, actor, action, name, map[string]any{"type": saved.Type, "changed": changed}); err != nil {
		return providers.Status{}, err
	}
	s.log.InfoContext(ctx, "provider.saved", "provider", name, "type", saved.Type, "member_id", actor.MemberID, "changed", strings.Join(changed, ","))
	s.announce(ctx)
	return s.status(name), nil
}

// Delete removes the stored provider name; its button and /auth/{name}
// are gone on every replica.
func (s *Service) Delete(ctx context.Context, actor Actor, name string) error {
	if v, ok := s.env[name]; ok {
		return apierror.New(http.StatusConflict, apierror.CodeProviderByEnv,
			fmt.Sprintf("%s is configured by environment variables (%s); remove them to turn it off", name, v), nil)
	}
	err := s.store.DeleteProviderConfig(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return apierror.New(http.StatusNotFound, apierror.CodeNotFound, "no such provider", nil)
	case err != nil:
		return apierror.Unavailable("delete provider config", err)
	}
	if err := s.record(ctx, actor, "provider.delete", name, nil); err != nil {
		return err
	}
	s.announce(ctx)
	return nil
}

// TestResult is what POST /admin/api/providers/{name}/test answers.
type TestResult struct {
	OK     bool              `json:"ok"`
	Checks []providers.Check `json:"checks"`
}

// Test checks that a configured provider's endpoints answer (discovery and
// keys for OpenID Connect).
func (s *Service) Test(ctx context.Context, name string) (TestResult, error) {
	var conf providers.Configured
	if c, err := s.store.GetProviderConfig(ctx, name); err == nil {
		if conf, err = s.configured(c); err != nil {
			return TestResult{}, apierror.As(err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return TestResult{}, apierror.Unavailable("get provider config", err)
	} else if e, ok := s.reg.Entry(name); ok && e.Source == providers.SourceEnv {
		conf = e.Configured
	} else {
		return TestResult{}, apierror.New(http.StatusNotFound, apierror.CodeNotFound, "no such provider", nil)
	}
	typ, ok := providers.TypeOf(conf.Type)
	if !ok {
		return TestResult{}, apierror.InvalidRequest("unknown provider type")
	}
	res := TestResult{OK: true, Checks: providers.CheckEndpoints(ctx, typ, conf.Settings, s.opts)}
	for _, c := range res.Checks {
		res.OK = res.OK && c.OK
	}
	if m := typ.Missing(conf.Settings); len(m) > 0 {
		res.OK = false
		res.Checks = append(res.Checks, providers.Check{Name: "Settings", Detail: "missing " + strings.Join(m, ", ")})
	}
	return res, nil
}

// RotateSecrets re-seals every stored client secret not sealed under the
// current secrets key (`authbroker secrets rotate`), and returns how many.
func (s *Service) RotateSecrets(ctx context.Context) (int, error) {
	list, err := s.store.ListProviderConfigs(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range list {
		if len(c.ClientSecret) == 0 || s.keys.IsCurrent(c.ClientSecret) {
			continue
		}
		pt, err := s.keys.Open(secretPurpose, c.ClientSecret, []byte(c.Name))
		if err != nil {
			return n, fmt.Errorf("provider %s: %w", c.Name, err)
		}
		prev := c.Version
		if c.ClientSecret, err = s.keys.Seal(secretPurpose, pt, []byte(c.Name)); err != nil {
			return n, err
		}
		if _, err := s.store.PutProviderConfig(ctx, c, prev); err != nil {
			return n, fmt.Errorf("provider %s: %w", c.Name, err)
		}
		n++
	}
	if n > 0 {
		s.announce(ctx)
	}
	return n, nil
}

// validate checks in for name, one message per field.
func (s *Service) validate(name string, in Input) (providers.Type, []apierror.FieldError) {
	var out []apierror.FieldError
	add := func(field, msg string) { out = append(out, apierror.FieldError{Field: field, Message: msg}) }
	if !namePattern.MatchString(name) {
		add("name", "1-32 lower-case letters, digits or dashes, starting with a letter (it is the path /auth/{name})")
	} else if slices.Contains(reserved, name) {
		add("name", fmt.Sprintf("%q is a path of the broker itself", name))
	}
	typ, ok := providers.TypeOf(in.Type)
	if !ok {
		names := make([]string, 0, len(providers.Types()))
		for _, t := range providers.Types() {
			names = append(names, t.Name)
		}
		add("type", "one of "+strings.Join(names, ", "))
		return typ, out
	}
	if len(in.DisplayName) > 64 {
		add("display_name", "at most 64 characters")
	}
	if in.Order < -1000 || in.Order > 1000 {
		add("order", "between -1000 and 1000")
	}
	set := providers.Settings{Name: name, ClientID: strings.TrimSpace(in.ClientID), Scopes: in.Scopes, Issuer: in.Issuer,
		AuthURL: in.AuthURL, TokenURL: in.TokenURL, APIURL: in.APIURL, AppID: in.AppID, StoreTokens: in.StoreTokens, RevokeURL: in.RevokeURL}
	for _, m := range typ.Missing(set) {
		if m != providers.FieldClientSecret {
			add(m, "required")
		}
	}
	for _, p := range typ.Check(set, s.prod) {
		add(p.Field, p.Message)
	}
	return typ, out
}

func secretField(t providers.Type) providers.Field {
	for _, f := range t.Fields {
		if f.Key == providers.FieldClientSecret {
			return f
		}
	}
	return providers.Field{}
}

// changedFields names what differs between two versions, never a value.
func changedFields(old, next store.ProviderConfig, secret bool) []string {
	var out []string
	if old.Version == 0 {
		out = append(out, "created")
	}
	if old.Type != next.Type {
		out = append(out, "type")
	}
	if old.DisplayName != next.DisplayName {
		out = append(out, "display_name")
	}
	if old.Order != next.Order {
		out = append(out, "order")
	}
	if old.Enabled != next.Enabled {
		out = append(out, "enabled")
	}
	if old.ClientID != next.ClientID {
		out = append(out, "client_id")
	}
	if secret {
		out = append(out, "client_secret")
	}
	var a, b stored
	_ = json.Unmarshal(old.Settings, &a)
	_ = json.Unmarshal(next.Settings, &b)
	for _, f := range []struct {
		name string
		same bool
	}{
		{"scopes", slices.Equal(a.Scopes, b.Scopes)}, {"issuer", a.Issuer == b.Issuer}, {"auth_url", a.AuthURL == b.AuthURL},
		{"token_url", a.TokenURL == b.TokenURL}, {"api_url", a.APIURL == b.APIURL}, {"app_id", a.AppID == b.AppID},
		{"store_tokens", a.StoreTokens == b.StoreTokens}, {"revoke_url", a.RevokeURL == b.RevokeURL},
	} {
		if !f.same {
			out = append(out, f.name)
		}
	}
	return out
}

func (s *Service) record(ctx context.Context, a Actor, action, target string, detail any) error {
	var raw json.RawMessage
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return apierror.As(err)
		}
		raw = b
	}
	if err := s.audit.AppendAudit(ctx, store.AuditEntry{At: s.now().UTC(), ActorID: a.MemberID, Action: action, TargetID: target, IP: a.IP, Detail: raw}); err != nil {
		return apierror.Unavailable("append audit", err)
	}
	return nil
}

// status is the registry's status of name.
func (s *Service) status(name string) providers.Status {
	for _, st := range s.reg.Statuses() {
		if st.Name == name && st.Source == providers.SourceAdmin {
			return st
		}
	}
	return providers.Status{Name: name}
}
