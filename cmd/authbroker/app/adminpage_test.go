package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authbroker/authbroker/internal/store"
)

// TestAdminPage: an admin signs in to /admin through the broker itself
// (cookie session, PKCE, in either delivery mode), sees members, and acts
// through CSRF-protected forms; a non-admin is refused and a form without
// the CSRF token changes nothing.
func TestAdminPage(t *testing.T) {
	for _, mode := range []string{"code", "cookie"} {
		t.Run(mode, func(t *testing.T) { testAdminPage(t, mode) })
	}
}

func testAdminPage(t *testing.T, mode string) {
	b := startBroker(t, "ADMIN_EMAILS=boss@example.com", "TOKEN_DELIVERY="+mode)
	targetBr, targetToken := newBrowser(t), ""
	if mode == "cookie" {
		cookieLogin(t, b, targetBr, "someone@example.com")
	} else {
		targetToken = devLogin(t, b, "someone@example.com").AccessToken
	}
	targetAlive := func() int { st, _ := meOf(t, b, targetBr, targetToken); return st }
	_, targetID := meOf(t, b, targetBr, targetToken)

	adminSignIn := func(t *testing.T, email string) (*browser, *http.Response, string) {
		br := newBrowser(t)
		resp, body := br.get(b.URL + "/admin")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Continue with Dev sign-in") || !strings.Contains(body, `href="/admin/login/dev"`) {
			t.Fatalf("/admin signed out: %d", resp.StatusCode)
		}
		back := adminStart(t, b, br, email)
		// The login went to the admin page only: no app cookies, and the
		// code is the admin page's.
		for _, c := range br.c.Jar.Cookies(back) {
			if c.Name == "ab_access" || c.Name == "ab_refresh" {
				t.Fatalf("the admin sign-in left app cookie %s", c.Name)
			}
		}
		resp, body = br.get(back.String())
		return br, resp, body
	}

	t.Run("non-admin refused", func(t *testing.T) {
		_, resp, _ := adminSignIn(t, "someone@example.com")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("non-admin /admin/callback: %d", resp.StatusCode)
		}
	})
	t.Run("error wording is ours, never the query's", func(t *testing.T) {
		for _, code := range []string{"access_denied", "made_up"} {
			resp, body := newBrowser(t).get(b.URL + "/admin/callback?" + url.Values{"error": {code}, "error_description": {"Call support at evil.example"}}.Encode())
			if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "evil.example") || strings.Contains(body, "made_up") || !strings.Contains(body, "access_denied") {
				t.Fatalf("error=%s: %d", code, resp.StatusCode)
			}
		}
	})

	br, resp, _ := adminSignIn(t, "boss@example.com")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin callback: %d", resp.StatusCode)
	}
	// One session for the admin: the admin page's own (no stray app session).
	bosses, err := b.App.AdminService().List(t.Context(), store.MemberQuery{Search: "boss@", Limit: 5})
	if err != nil || len(bosses.Members) != 1 {
		t.Fatalf("boss: %v %+v", err, bosses)
	}
	if d, err := b.App.AdminService().Get(t.Context(), bosses.Members[0].ID); err != nil || len(d.Sessions) != 1 {
		t.Fatalf("admin sessions after one admin sign-in: %v %d", err, len(d.Sessions))
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
	memberURL := b.URL + "/admin/members/" + targetID

	t.Run("form without the CSRF token changes nothing", func(t *testing.T) {
		resp, _ := br.postForm(memberURL, url.Values{"action": {"disable"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("no csrf: %d", resp.StatusCode)
		}
		if st := targetAlive(); st != http.StatusOK {
			t.Fatalf("member affected by a rejected form: %d", st)
		}
	})
	t.Run("CSRF token in the query string changes nothing", func(t *testing.T) {
		resp, _ := br.postForm(memberURL+"?"+url.Values{"csrf": {csrf}}.Encode(), url.Values{"action": {"disable"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("csrf in the query: %d", resp.StatusCode)
		}
		if st := targetAlive(); st != http.StatusOK {
			t.Fatalf("member affected by a rejected form: %d", st)
		}
	})
	t.Run("a same-origin form as browsers send it is accepted", func(t *testing.T) {
		// Our pages' Referrer-Policy: no-referrer makes browsers send
		// Origin: null on their own form posts; Sec-Fetch-Site says same-origin.
		req, _ := http.NewRequest(http.MethodPost, memberURL, strings.NewReader(url.Values{"action": {"revoke_sessions"}, "csrf": {csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "null")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := br.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("same-origin form: %d", resp.StatusCode)
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
		if st := targetAlive(); st != http.StatusUnauthorized {
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
