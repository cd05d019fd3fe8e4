package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAdminPage: an admin signs in to /admin through the broker itself
// (cookie session), sees members, and acts through CSRF-protected forms; a
// non-admin is refused and a form without the CSRF token changes nothing.
func TestAdminPage(t *testing.T) {
	b := startBroker(t, "ADMIN_EMAILS=boss@example.com")
	target := devLogin(t, b, "someone@example.com")

	adminSignIn := func(t *testing.T, email string) (*browser, *http.Response, string) {
		br := newBrowser(t)
		resp, body := br.get(b.URL + "/admin")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Continue with Dev sign-in") {
			t.Fatalf("/admin signed out: %d", resp.StatusCode)
		}
		start := b.URL + "/auth/dev?" + url.Values{"return_to": {b.URL + "/admin/callback"}}.Encode()
		resp, _ = br.get(start)
		cb := devSignIn(t, br, email, "Boss")(location(t, resp).String())
		resp, _ = br.get(cb.String())
		back := location(t, resp)
		resp, body = br.get(back.String())
		return br, resp, body
	}

	t.Run("non-admin refused", func(t *testing.T) {
		_, resp, _ := adminSignIn(t, "someone@example.com")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("non-admin /admin/callback: %d", resp.StatusCode)
		}
	})

	br, resp, _ := adminSignIn(t, "boss@example.com")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin callback: %d", resp.StatusCode)
	}
	resp, page := br.get(b.URL + "/admin")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "someone@example.com") || !strings.Contains(page, "Audit log") {
		t.Fatalf("/admin: %d", resp.StatusCode)
	}
	if !strings.Contains(page, "/auth/dev/callback") {
		t.Fatal("provider status does not show the dev callback URL")
	}
	csrf := hiddenValue(page, "csrf")
	if csrf == "" {
		t.Fatal("no CSRF token in the page")
	}
	memberURL := b.URL + "/admin/members/" + target.Member.ID

	t.Run("form without the CSRF token changes nothing", func(t *testing.T) {
		resp, _ := br.postForm(memberURL, url.Values{"action": {"disable"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("no csrf: %d", resp.StatusCode)
		}
		if st, _ := getJSON(t, b.URL+"/auth/me", target.AccessToken, nil); st != http.StatusOK {
			t.Fatalf("member affected by a rejected form: %d", st)
		}
	})
	t.Run("CSRF token in the query string changes nothing", func(t *testing.T) {
		resp, _ := br.postForm(memberURL+"?"+url.Values{"csrf": {csrf}}.Encode(), url.Values{"action": {"disable"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("csrf in the query: %d", resp.StatusCode)
		}
		if st, _ := getJSON(t, b.URL+"/auth/me", target.AccessToken, nil); st != http.StatusOK {
			t.Fatalf("member affected by a rejected form: %d", st)
		}
	})
	t.Run("disable through the page", func(t *testing.T) {
		resp, _ := br.postForm(memberURL, url.Values{"action": {"disable"}, "csrf": {csrf}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("disable: %d", resp.StatusCode)
		}
		_, detail := br.get(memberURL)
		if !strings.Contains(detail, "disabled") {
			t.Fatal("member page does not show the member disabled")
		}
		if st, _ := getJSON(t, b.URL+"/auth/me", target.AccessToken, nil); st != http.StatusUnauthorized {
			t.Fatalf("disabled member's token: %d", st)
		}
		_, page := br.get(b.URL + "/admin")
		if !strings.Contains(page, "member.disable") {
			t.Fatal("audit log on the page lacks the action")
		}
	})
	t.Run("sign out", func(t *testing.T) {
		resp, _ := br.postForm(b.URL+"/admin/logout", url.Values{"csrf": {csrf}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		_, page := br.get(b.URL + "/admin")
		if !strings.Contains(page, "Continue with Dev sign-in") {
			t.Fatal("still signed in after logout")
		}
	})
}
