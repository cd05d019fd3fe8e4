package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c, err := FromEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != ":8080" || c.DatabaseURL != "sqlite://./data/authbroker.db" || c.RedisURL != "" ||
		c.AccessTokenTTL != 15*time.Minute || c.RefreshTokenTTL != 14*24*time.Hour || c.RefreshReuseGrace != 10*time.Second ||
		c.JWTAlg != "ES256" || c.TokenDelivery != "code" || c.SessionPolicy != "multiple" || c.LinkByEmail != "verified" ||
		!c.DevLoginEnabled() || c.Production() {
		t.Fatalf("defaults: %+v", c)
	}
}

// prod is a valid production configuration; cases add to it.
func prod(extra ...string) []string {
	return append([]string{"APP_ENV=production", "BASE_URL=https://auth.example.com", "JWT_KEY_FILE=/k.pem", "SECRETS_KEY_FILE=/s.key",
		"GITHUB_CLIENT_ID=gh", "GITHUB_CLIENT_SECRET=ghs", "ALLOWED_RETURN_URLS=https://app.example.com/"}, extra...)
}

func TestProblems(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want []string
	}{
		{"bad duration names the variable", []string{"ACCESS_TOKEN_TTL=15x"}, []string{`ACCESS_TOKEN_TTL: "15x" is not a duration (like 15m or 336h)`}},
		{"every problem on its own line", []string{"ACCESS_TOKEN_TTL=15x", "TOKEN_DELIVERY=carrier-pigeon", "JWT_ALG=none"},
			[]string{`ACCESS_TOKEN_TTL: "15x" is not a duration (like 15m or 336h)`, `TOKEN_DELIVERY: "carrier-pigeon" is not one of code, cookie`, `JWT_ALG: "none" is not one of ES256, RS256, EdDSA, HS256`}},
		{"bad bool", []string{"DEV_LOGIN=maybe"}, []string{`DEV_LOGIN: "maybe" is not true or false`}},
		{"bad provider int-free nested var", []string{"RATE_LIMIT_AUTH=lots"}, []string{`RATE_LIMIT_AUTH: "lots" is not an integer`}},
		{"production refuses dev login", prod("DEV_LOGIN=true"),
			[]string{"DEV_LOGIN: the dev provider signs anyone in; it is refused when APP_ENV=production"}},
		{"production refuses http base URL and missing keys", prod("BASE_URL=http://auth.example.com", "JWT_KEY_FILE=", "SECRETS_KEY_FILE="),
			[]string{`BASE_URL: "http://auth.example.com" must be https when APP_ENV=production`, "JWT_KEY_FILE: required when APP_ENV=production (run `authbroker keygen`)",
				"SECRETS_KEY_FILE: required when APP_ENV=production (run `authbroker keygen -secrets`)"}},
		{"production refuses a weak HS256 secret", prod("JWT_ALG=HS256", "JWT_SECRET=short", "JWT_KEY_FILE="),
			[]string{"JWT_SECRET: shorter than 32 bytes; refused when APP_ENV=production"}},
		{"trusted proxy that is no address or range", []string{"TRUSTED_PROXIES=10.0.0.0/8, lb.internal ,10.1.0.0/33"},
			[]string{`TRUSTED_PROXIES: " lb.internal " is not an IP address or CIDR range (like 10.0.0.0/8)`, `TRUSTED_PROXIES: "10.1.0.0/33" is not an IP address or CIDR range (like 10.0.0.0/8)`}},
		{"negative rate limit", []string{"RATE_LIMIT_TOKEN=-1"}, []string{"RATE_LIMIT_TOKEN: -1 must not be negative (0 turns the limit off)"}},
		{"negative drain, zero database wait", []string{"SHUTDOWN_DRAIN=-1s", "DATABASE_WAIT=0s"},
			[]string{"DATABASE_WAIT: 0s must be positive", "SHUTDOWN_DRAIN: -1s must not be negative"}},
		{"listen address", []string{"LISTEN_ADDR=8080"}, []string{`LISTEN_ADDR: "8080" is not host:port (like :8080 or 127.0.0.1:8080)`}},
		{"metrics address", []string{"METRICS_ADDR=9090"}, []string{`METRICS_ADDR: "9090" is not host:port (like :9090 or 127.0.0.1:9090)`}},
		{"metrics on the public listener", []string{"METRICS_ADDR=:8080"}, []string{`METRICS_ADDR: ":8080" is LISTEN_ADDR; metrics need a listener of their own`}},
		{"pprof without a metrics listener", []string{"METRICS_PPROF=true"}, []string{"METRICS_PPROF: needs METRICS_ADDR (pprof is served only on the metrics listener)"}},
		{"return URL with a fragment", []string{"ALLOWED_RETURN_URLS=https://app.example.com/cb#x"},
			[]string{`ALLOWED_RETURN_URLS: "https://app.example.com/cb#x" is not an absolute http(s) URL without query or fragment`}},
		{"redis URL password is not echoed", []string{"REDIS_URL=http://user:hunter2@redis:6379"},
			[]string{`REDIS_URL: "http://user:xxxxx@redis:6379" is not a URL of redis://, rediss://, unix://, redis-sentinel://, rediss-sentinel://, redis-cluster://, rediss-cluster://`}},
		{"sqlite or postgres only", []string{"DATABASE_URL=mysql://x"}, []string{`DATABASE_URL: "mysql://x" is not sqlite://PATH or postgres://…`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromEnv(tc.env)
			var p Problems
			if !errors.As(err, &p) {
				t.Fatalf("err = %v, want Problems", err)
			}
			if !slices.Equal([]string(p), tc.want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(p, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestProductionAccepted(t *testing.T) {
	c, err := FromEnv(prod("BASE_URL=https://auth.example.com/", "TRUSTED_PROXIES=10.0.0.0/8,192.0.2.7,2001:db8::/32",
		"KAKAO_CLIENT_ID=k", "KAKAO_TOKEN_URL=http://127.0.0.1:9000/oauth/token")) // a loopback sidecar may speak http
	if err != nil {
		t.Fatal(err)
	}
	if c.DevLoginEnabled() || c.BaseURL != "https://auth.example.com" {
		t.Fatalf("production: dev %v base %q", c.DevLoginEnabled(), c.BaseURL)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Fatalf("warnings for a complete configuration: %q", w)
	}
}

// TestRedisSchemes: every scheme redisstore documents passes validation
// (redisstore's TestConfigSchemesConnect checks that it connects them).
func TestRedisSchemes(t *testing.T) {
	for _, s := range RedisSchemes() {
		if _, err := FromEnv([]string{"REDIS_URL=" + s + "://h1/m"}); err != nil {
			t.Errorf("REDIS_URL=%s://…: %v", s, err)
		}
	}
}

// TestWarnings: production settings that are allowed but rarely meant are
// named at start-up.
func TestWarnings(t *testing.T) {
	c, err := FromEnv(prod("ALLOWED_RETURN_URLS=", "RATE_LIMIT_AUTH=0"))
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	if !strings.Contains(w, "ALLOWED_RETURN_URLS: empty") || !strings.Contains(w, "RATE_LIMIT_AUTH: 0 turns this rate limit off") {
		t.Fatalf("warnings: %s", w)
	}
}
