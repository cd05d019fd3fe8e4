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
