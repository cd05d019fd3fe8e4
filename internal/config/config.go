// Package config loads authbroker's one configuration struct from the
// environment (plus an optional .env file) and validates it once, in main.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/joho/godotenv"

	"github.com/authbroker/authbroker/providers"
)

// Config is every setting of the broker. Field tags name the environment
// variables; .env.example documents each one.
type Config struct {
	ListenAddr  string `env:"LISTEN_ADDR" envDefault:":8080"`
	BaseURL     string `env:"BASE_URL" envDefault:"http://localhost:8080"`
	AppEnv      string `env:"APP_ENV" envDefault:"development"`
	DatabaseURL string `env:"DATABASE_URL" envDefault:"sqlite://./data/authbroker.db"`
	RedisURL    string `env:"REDIS_URL"`
	// RedisPrefix namespaces every key, so several brokers can share a Redis.
	RedisPrefix string `env:"REDIS_PREFIX" envDefault:"ab:"`
	LogLevel    string `env:"LOG_LEVEL" envDefault:"info"`

	AccessTokenTTL    time.Duration `env:"ACCESS_TOKEN_TTL" envDefault:"15m"`
	RefreshTokenTTL   time.Duration `env:"REFRESH_TOKEN_TTL" envDefault:"336h"`
	RefreshReuseGrace time.Duration `env:"REFRESH_REUSE_GRACE" envDefault:"10s"`
	LoginStateTTL     time.Duration `env:"LOGIN_STATE_TTL" envDefault:"10m"`
	CodeTTL           time.Duration `env:"CODE_TTL" envDefault:"60s"`
	ProviderTimeout   time.Duration `env:"PROVIDER_TIMEOUT" envDefault:"10s"`
	// ProviderTokenRefreshBefore renews a kept provider access token that
	// expires within it before handing it out (GET
	// /auth/identities/{provider}/token), so the app never gets one that
	// dies mid-call.
	ProviderTokenRefreshBefore time.Duration `env:"PROVIDER_TOKEN_REFRESH_BEFORE" envDefault:"10m"`
	// ShutdownDrain is how long, after SIGTERM, the broker keeps accepting
	// requests while /readyz answers 503, so load balancers stop sending
	// new ones before the listener closes. Unset: see Drain.
	ShutdownDrain *time.Duration `env:"SHUTDOWN_DRAIN"`
	// ShutdownTimeout bounds how long requests in flight when the drain
	// ends get to finish; connections still open then are closed.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	// DatabaseWait is how long start-up retries an unreachable database
	// (containers start in any order) before giving up.
	DatabaseWait time.Duration `env:"DATABASE_WAIT" envDefault:"60s"`

	// MetricsAddr is the listen address of /metrics (and pprof), apart
	// from the public one; empty: no metrics listener.
	MetricsAddr string `env:"METRICS_ADDR"`
	// MetricsPprof serves net/http/pprof on MetricsAddr.
	MetricsPprof bool `env:"METRICS_PPROF" envDefault:"false"`

	AllowedReturnURLs []string `env:"ALLOWED_RETURN_URLS" envSeparator:","`
	TokenDelivery     string   `env:"TOKEN_DELIVERY" envDefault:"code"`
	SessionPolicy     string   `env:"SESSION_POLICY" envDefault:"multiple"`
	LinkByEmail       string   `env:"LINK_BY_EMAIL" envDefault:"verified"`
	AdminEmails       []string `env:"ADMIN_EMAILS" envSeparator:","`
	// DevLogin defaults to true in development and false in production.
	DevLogin *bool `env:"DEV_LOGIN"`

	JWTAlg      string `env:"JWT_ALG" envDefault:"ES256"`
	JWTKeyFile  string `env:"JWT_KEY_FILE"`
	JWTSecret   string `env:"JWT_SECRET"`
	JWTAudience string `env:"JWT_AUDIENCE" envDefault:"authbroker"`
	// DataDir holds generated development keys.
	DataDir string `env:"DATA_DIR" envDefault:"./data"`
	// SecretsKeyFile holds the keys every server-side secret derives from
	// (refresh-token MACs); generated under DataDir in development.
	SecretsKeyFile string `env:"SECRETS_KEY_FILE"`

	IntrospectSecret string `env:"INTROSPECT_SECRET"`
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed for client IPs.
	TrustedProxies []string `env:"TRUSTED_PROXIES" envSeparator:","`

	RateLimitAuth    int `env:"RATE_LIMIT_AUTH" envDefault:"30"`
	RateLimitToken   int `env:"RATE_LIMIT_TOKEN" envDefault:"60"`
	RateLimitRefresh int `env:"RATE_LIMIT_REFRESH" envDefault:"20"`

	// Providers configured by environment variables: each type's settings
	// under its prefix (providers.Settings names the variables). A provider
	// is on when its client id is set.
	Google providers.Settings `envPrefix:"GOOGLE_"`
	GitHub providers.Settings `envPrefix:"GITHUB_"`
	Kakao  providers.Settings `envPrefix:"KAKAO_"`
	Naver  providers.Settings `envPrefix:"NAVER_"`
	OIDC   providers.Settings `envPrefix:"OIDC_"`
}

// Production reports whether APP_ENV is production.
func (c *Config) Production() bool { return c.AppEnv == "production" }

// Drain is SHUTDOWN_DRAIN, defaulting to 5s in production (a load
// balancer's probe interval) and 0 in development (Ctrl-C stops at once).
func (c *Config) Drain() time.Duration {
	if c.ShutdownDrain != nil {
		return *c.ShutdownDrain
	}
	if c.Production() {
		return 5 * time.Second
	}
	return 0
}

// DevLoginEnabled reports whether the dev provider is on.
func (c *Config) DevLoginEnabled() bool {
	if c.DevLogin != nil {
		return *c.DevLogin
	}
	return !c.Production()
}

// Problems is the list of configuration problems, one line each, each
// naming the variable.
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "\n") }

// Load reads the environment (and dotenvFile when it exists; real
// environment variables win) into a Config and validates it. A non-nil error
// is a Problems value.
func Load(dotenvFile string) (*Config, error) {
	if dotenvFile != "" {
		if _, err := os.Stat(dotenvFile); err == nil {
			if err := godotenv.Load(dotenvFile); err != nil {
				return nil, Problems{fmt.Sprintf("%s: %v", dotenvFile, err)}
			}
		}
	}
	return FromEnv(os.Environ())
}

// FromEnv parses an environment given as KEY=VALUE pairs (tests pass their own).
func FromEnv(environ []string) (*Config, error) {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	var c Config
	var problems Problems
	if err := env.ParseWithOptions(&c, env.Options{Environment: vars}); err != nil {
		problems = append(problems, parseProblems(err, vars)...)
	}
	// A variable that did not parse has its one line already; its zero
	// value would only add a second, misleading one.
	failed := map[string]bool{}
	for _, line := range problems {
		name, _, _ := strings.Cut(line, ":")
		failed[name] = true
	}
	for _, line := range c.validate() {
		if name, _, _ := strings.Cut(line, ":"); !failed[name] {
			problems = append(problems, line)
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if len(c.AllowedReturnURLs) == 0 && !c.Production() {
		// Development convenience: the example SPA (go run ./examples/spa)
		// works out of the box. Production has no default.
		c.AllowedReturnURLs = []string{"http://localhost:5173/"}
	}
	return &c, nil
}

// parseProblems turns env's aggregate error into one line per variable.
func parseProblems(err error, vars map[string]string) Problems {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return Problems{err.Error()}
	}
	var out Problems
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			name := envName(reflect.TypeOf(Config{}), pe.Name, "")
			kind := strings.TrimPrefix(pe.Type.String(), "*")
			switch kind {
			case "time.Duration":
				kind = "a duration (like 15m or 336h)"
			case "int":
				kind = "an integer"
			case "bool":
				kind = "true or false"
			}
			out = append(out, fmt.Sprintf("%s: %q is not %s", name, vars[name], kind))
			continue
		}
		out = append(out, e.Error())
	}
	return out
}

// envName finds the environment variable of the struct field called field.
func envName(t reflect.Type, field, prefix string) string {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("envPrefix") != "" {
			if n := envName(f.Type, field, prefix+f.Tag.Get("envPrefix")); n != "" {
				return n
			}
			continue
		}
		if f.Name == field {
			return prefix + strings.Split(f.Tag.Get("env"), ",")[0]
		}
	}
	if prefix == "" {
		return field
	}
	return ""
}

func oneOf(name, v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return ""
		}
	}
	return fmt.Sprintf("%s: %q is not one of %s", name, v, strings.Join(allowed, ", "))
}

func (c *Config) validate() Problems {
	var p Problems
	add := func(s string) {
		if s != "" {
			p = append(p, s)
		}
	}
	add(oneOf("APP_ENV", c.AppEnv, "development", "production"))
	add(oneOf("TOKEN_DELIVERY", c.TokenDelivery, "code", "cookie"))
	add(oneOf("SESSION_POLICY", c.SessionPolicy, "multiple", "single", "single_confirm"))
	add(oneOf("LINK_BY_EMAIL", c.LinkByEmail, "verified", "never"))
	add(oneOf("JWT_ALG", c.JWTAlg, "ES256", "RS256", "EdDSA", "HS256"))
	add(oneOf("LOG_LEVEL", c.LogLevel, "debug", "info", "warn", "error"))

	base, err := url.Parse(c.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		add(fmt.Sprintf("BASE_URL: %q is not an absolute http(s) URL", c.BaseURL))
	}
	switch {
	case strings.HasPrefix(c.DatabaseURL, "sqlite://"), strings.HasPrefix(c.DatabaseURL, "postgres://"), strings.HasPrefix(c.DatabaseURL, "postgresql://"):
	default:
		add(fmt.Sprintf("DATABASE_URL: %q is not sqlite://PATH or postgres://…", c.DatabaseURL))
	}
	if c.RedisURL != "" {
		// The forms redisstore.Connect accepts (TestRedisSchemesAgree keeps
		// the two lists equal); its options are checked by app.Check.
		scheme, _, _ := strings.Cut(c.RedisURL, "://")
		if !slices.Contains(RedisSchemes(), strings.ToLower(scheme)) || !strings.Contains(c.RedisURL, "://") {
			add(fmt.Sprintf("REDIS_URL: %q is not a URL of %s", redact(c.RedisURL), strings.Join(schemeList(RedisSchemes()), ", ")))
		}
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			add(fmt.Sprintf("%s: %s must be positive", name, d))
		}
	}
	positive("ACCESS_TOKEN_TTL", c.AccessTokenTTL)
	positive("REFRESH_TOKEN_TTL", c.RefreshTokenTTL)
	positive("LOGIN_STATE_TTL", c.LoginStateTTL)
	positive("CODE_TTL", c.CodeTTL)
	positive("PROVIDER_TIMEOUT", c.ProviderTimeout)
	positive("SHUTDOWN_TIMEOUT", c.ShutdownTimeout)
	positive("DATABASE_WAIT", c.DatabaseWait)
	if c.ShutdownDrain != nil && *c.ShutdownDrain < 0 {
		add(fmt.Sprintf("SHUTDOWN_DRAIN: %s must not be negative", *c.ShutdownDrain))
	}
	for _, rl := range []struct {
		name string
		v    int
	}{{"RATE_LIMIT_AUTH", c.RateLimitAuth}, {"RATE_LIMIT_TOKEN", c.RateLimitToken}, {"RATE_LIMIT_REFRESH", c.RateLimitRefresh}} {
		if rl.v < 0 {
			add(fmt.Sprintf("%s: %d must not be negative (0 turns the limit off)", rl.name, rl.v))
		}
	}
	for _, p := range c.TrustedProxies {
		if _, err := ParseTrustedProxy(p); err != nil {
			add(fmt.Sprintf("TRUSTED_PROXIES: %q is not an IP address or CIDR range (like 10.0.0.0/8)", p))
		}
	}
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		add(fmt.Sprintf("LISTEN_ADDR: %q is not host:port (like :8080 or 127.0.0.1:8080)", c.ListenAddr))
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			add(fmt.Sprintf("METRICS_ADDR: %q is not host:port (like :9090 or 127.0.0.1:9090)", c.MetricsAddr))
		} else if c.MetricsAddr == c.ListenAddr {
			add(fmt.Sprintf("METRICS_ADDR: %q is LISTEN_ADDR; metrics need a listener of their own", c.MetricsAddr))
		}
	}
	if c.MetricsPprof && c.MetricsAddr == "" {
		add("METRICS_PPROF: needs METRICS_ADDR (pprof is served only on the metrics listener)")
	}
	if c.RefreshReuseGrace < 0 {
		add(fmt.Sprintf("REFRESH_REUSE_GRACE: %s must not be negative", c.RefreshReuseGrace))
	}
	if c.ProviderTokenRefreshBefore < 0 {
		add(fmt.Sprintf("PROVIDER_TOKEN_REFRESH_BEFORE: %s must not be negative", c.ProviderTokenRefreshBefore))
	}
	if c.RefreshTokenTTL > 0 && c.AccessTokenTTL > c.RefreshTokenTTL {
		add("ACCESS_TOKEN_TTL: must not be longer than REFRESH_TOKEN_TTL")
	}
	for _, r := range c.AllowedReturnURLs {
		u, err := url.Parse(strings.TrimSpace(r))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			add(fmt.Sprintf("ALLOWED_RETURN_URLS: %q is not an absolute http(s) URL without query or fragment", r))
		}
	}
	if c.Production() {
		for _, r := range c.AllowedReturnURLs {
			if u, err := url.Parse(strings.TrimSpace(r)); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
				add(fmt.Sprintf("ALLOWED_RETURN_URLS: %q must be https when APP_ENV=production (codes travel in the URL)", r))
			}
		}
	}
	if c.JWTAlg == "HS256" && c.JWTSecret == "" && c.JWTKeyFile == "" && c.Production() {
		add("JWT_SECRET: required with JWT_ALG=HS256 in production")
	}
	if c.Production() {
		if c.DevLoginEnabled() {
			add("DEV_LOGIN: the dev provider signs anyone in; it is refused when APP_ENV=production")
		}
		if base != nil && base.Scheme != "https" {
			add(fmt.Sprintf("BASE_URL: %q must be https when APP_ENV=production", c.BaseURL))
		}
		if c.JWTAlg == "HS256" {
			if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
				add("JWT_SECRET: shorter than 32 bytes; refused when APP_ENV=production")
			}
		} else if c.JWTKeyFile == "" {
			add("JWT_KEY_FILE: required when APP_ENV=production (run `authbroker keygen`)")
		}
		if c.SecretsKeyFile == "" {
			add("SECRETS_KEY_FILE: required when APP_ENV=production (run `authbroker keygen -secrets`)")
		}
	}
	if c.OIDC.ClientID != "" && c.OIDC.Issuer == "" {
		add("OIDC_ISSUER: required when OIDC_CLIENT_ID is set")
	}
	return p
}

// Warnings are settings that are allowed but probably not what a
// production operator wants; start-up logs each, naming the variable.
func (c *Config) Warnings() []string {
	var w []string
	if !c.Production() {
		return w
	}
	if len(c.AllowedReturnURLs) == 0 {
		w = append(w, "ALLOWED_RETURN_URLS: empty; logins can only end on the broker's own page or in a native app (no SPA can receive a code or cookies), and no origin passes CORS")
	}
	for _, rl := range []struct {
		name string
		v    int
	}{{"RATE_LIMIT_AUTH", c.RateLimitAuth}, {"RATE_LIMIT_TOKEN", c.RateLimitToken}, {"RATE_LIMIT_REFRESH", c.RateLimitRefresh}} {
		if rl.v == 0 {
			w = append(w, rl.name+": 0 turns this rate limit off")
		}
	}
	return w
}

// RedisSchemes are the REDIS_URL schemes the broker accepts (see
// redisstore.Connect for their forms).
func RedisSchemes() []string {
	return []string{"redis", "rediss", "unix", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster"}
}

func schemeList(schemes []string) []string {
	out := make([]string, len(schemes))
	for i, s := range schemes {
		out[i] = s + "://"
	}
	return out
}

// ParseTrustedProxy parses one TRUSTED_PROXIES entry: a CIDR range, or a
// single address (as its /32 or /128).
func ParseTrustedProxy(entry string) (netip.Prefix, error) {
	entry = strings.TrimSpace(entry)
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(entry)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// redact hides a password in a URL so it can appear in an error line.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Redacted is a printable copy of a URL with any password hidden.
func Redacted(raw string) string { return redact(raw) }

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// EnvProviders are the providers configured by environment variables, for
// the registry: every type, on when its client id is set.
func (c *Config) EnvProviders() []providers.Configured {
	var out []providers.Configured
	for i, p := range []struct {
		typ string
		s   providers.Settings
	}{{"google", c.Google}, {"github", c.GitHub}, {"kakao", c.Kakao}, {"naver", c.Naver}, {"oidc", c.OIDC}} {
		if p.s.ClientID == "" && p.s.ClientSecret == "" && p.s.Issuer == "" && p.s.AuthURL == "" &&
			p.s.TokenURL == "" && p.s.APIURL == "" && len(p.s.Scopes) == 0 && p.s.AppID == "" {
			continue
		}
		p.s.Name = p.typ
		out = append(out, providers.Configured{Type: p.typ, Settings: p.s, Enabled: p.s.ClientID != "", Order: i * 10, Source: providers.SourceEnv})
	}
	return out
}
