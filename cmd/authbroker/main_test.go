package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestStartupRefusals: bad configuration exits 2 with one line per
// problem naming the variable, before anything is opened.
func TestStartupRefusals(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad duration", map[string]string{"ACCESS_TOKEN_TTL": "15x"}, `config: ACCESS_TOKEN_TTL: "15x" is not a duration`},
		{"dev login in production", map[string]string{"APP_ENV": "production", "DEV_LOGIN": "true", "BASE_URL": "https://a.example", "JWT_KEY_FILE": "/k.pem"}, "config: DEV_LOGIN:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir()) // no .env, no ./data
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			if code := run([]string{"serve"}, &out, &errb); code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("stderr %q lacks %q", errb.String(), tc.want)
			}
		})
	}
}

func TestKeygenAndVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"keygen", "-alg", "EdDSA"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "PRIVATE KEY") {
		t.Fatalf("keygen: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "authbroker ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command: %d", code)
	}
}
