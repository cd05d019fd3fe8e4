package handlers

import (
	"net/http"
	"strings"
	"testing"
)

// TestCookieNames: on https every cookie a sibling subdomain could toss is
// __Host- (pinned to our host, path /); the refresh cookie is path /auth, so
// __Secure-; on http://localhost the names are plain (prefixes need Secure).
func TestCookieNames(t *testing.T) {
	secure := newCookieNames("https://auth.example.com")
	if !secure.secure || secure.binding != "__Host-ab_login" || secure.access != "__Host-ab_access" || secure.refresh != "__Secure-ab_refresh" {
		t.Fatalf("https names: %+v", secure)
	}
	for _, c := range []*http.Cookie{secure.cookie(secure.binding, "v", "/", 60), secure.cookie(secure.access, "v", "/", 60)} {
		if !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Fatalf("__Host- cookie %s not valid as such: %+v", c.Name, c)
		}
	}
	a := &API{cookies: secure}
	if got := a.adminCookie(adminCSRFCookie, "v", 60); got.Name != "__Host-ab_admin_csrf" || got.Path != "/" || !got.Secure || got.SameSite != http.SameSiteStrictMode {
		t.Fatalf("admin CSRF cookie on https: %+v", got)
	}
	plain := newCookieNames("http://localhost:8080")
	if plain.secure || strings.HasPrefix(plain.binding, "__") || strings.HasPrefix(plain.access, "__") {
		t.Fatalf("http names: %+v", plain)
	}
}

// TestLimitKey: the per-client limits key IPv6 by its /64 (a client owns the
// whole prefix and can rotate through it), IPv4 by the address.
func TestLimitKey(t *testing.T) {
	for _, tc := range []struct {
		name, a, b string
		same       bool
	}{
		{"IPv6 in one /64 share a budget", "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", true},
		{"IPv6 in another /64 do not", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"IPv6 zones ignored", "fe80::1%eth0", "fe80::2%eth1", true},
		{"IPv4 by address", "192.0.2.1", "192.0.2.2", false},
		{"IPv4-mapped IPv6 is IPv4", "::ffff:192.0.2.1", "192.0.2.1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := limitKey(tc.a) == limitKey(tc.b); got != tc.same {
				t.Fatalf("limitKey(%q) = %q, limitKey(%q) = %q", tc.a, limitKey(tc.a), tc.b, limitKey(tc.b))
			}
		})
	}
}
