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
		{"production refuses dev login", []string{"APP_ENV=production", "DEV_LOGIN=true", "BASE_URL=https://auth.example.com", "JWT_KEY_FILE=/k.pem", "SECRETS_KEY_FILE=/s.key"},
			[]string{"DEV_LOGIN: the dev provider signs anyone in; it is refused when APP_ENV=production"}},
		{"production refuses http base URL and a missing key", []string{"APP_ENV=production", "BASE_URL=http://auth.example.com"},
			[]string{`BASE_URL: "http://auth.example.com" must be https when APP_ENV=production`, "JWT_KEY_FILE: required when APP_ENV=production (run `authbroker keygen`)",
				"SECRETS_KEY_FILE: required when APP_ENV=production (run `authbroker keygen -secrets`)"}},
		{"production refuses a weak HS256 secret", []string{"APP_ENV=production", "BASE_URL=https://a.example", "JWT_ALG=HS256", "JWT_SECRET=short", "SECRETS_KEY_FILE=/s.key"},
			[]string{"JWT_SECRET: shorter than 32 bytes; refused when APP_ENV=production"}},
		{"return URL with a fragment", []string{"ALLOWED_RETURN_URLS=https://app.example.com/cb#x"},
			[]string{`ALLOWED_RETURN_URLS: "https://app.example.com/cb#x" is not an absolute http(s) URL without query or fragment`}},
		{"redis URL password is not echoed", []string{"REDIS_URL=http://user:hunter2@redis:6379"},
			[]string{`REDIS_URL: "http://user:xxxxx@redis:6379" is not a redis://, rediss://, redis-sentinel:// or redis-cluster:// URL`}},
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
	c, err := FromEnv([]string{"APP_ENV=production", "BASE_URL=https://auth.example.com/", "JWT_KEY_FILE=/etc/authbroker/key.pem", "SECRETS_KEY_FILE=/etc/authbroker/secrets.key"})
	if err != nil {
		t.Fatal(err)
	}
	if c.DevLoginEnabled() || c.BaseURL != "https://auth.example.com" {
		t.Fatalf("production: dev %v base %q", c.DevLoginEnabled(), c.BaseURL)
	}
}
