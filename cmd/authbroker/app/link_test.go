package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authbroker/authbroker/providers/providertest"
)

// linkURL asks the broker for a one-time link URL as member tok.
func linkURL(t *testing.T, b *broker, provider, tok string) string {
	t.Helper()
	st, data, _ := doJSON(t, "POST", b.URL+"/auth/link/"+provider, tok, `{"return_to":"`+spaReturn+`"}`)
	var out struct {
		URL string `json:"url"`
	}
	_ = json.Unmarshal(data, &out)
	if st != http.StatusOK || out.URL == "" {
		t.Fatalf("link url: %d %s", st, data)
	}
	return out.URL
}

// followLink runs a link URL in br through the fake provider and returns
// the link_result the app receives.
func followLink(t *testing.T, br *browser, u string) string {
	t.Helper()
	resp, body := br.get(u)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("link start: %d %s", resp.StatusCode, body)
	}
	resp, body = br.get(providertest.SignIn(t, location(t, resp).String()).String())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("link callback: %d %s", resp.StatusCode, body)
	}
	back := location(t, resp)
	if !strings.HasPrefix(back.String(), spaReturn) || back.Query().Get("link_result") == "" || back.Query().Get("code") != "" {
		t.Fatalf("link came back to %s", back)
	}
	return back.Query().Get("link_result")
}

func identities(t *testing.T, b *broker, tok string) []string {
	t.Helper()
	var me struct {
		Identities []struct {
			Provider string `json:"provider"`
		} `json:"identities"`
	}
	if st, _ := getJSON(t, b.URL+"/auth/me", tok, &me); st != http.StatusOK {
		t.Fatalf("/auth/me: %d", st)
	}
	var out []string
	for _, i := range me.Identities {
		out = append(out, i.Provider)
	}
	return out
}

func TestAccountLinking(t *testing.T) {
	gh := providertest.NewGitHub(t)
	b := startBroker(t, gh.Env()...)

	t.Run("member links a provider after confirming", func(t *testing.T) {
		me := devLogin(t, b, "linker@example.com")
		br := newBrowser(t)
		result := followLink(t, br, linkURL(t, b, "github", me.AccessToken))
		if got := identities(t, b, me.AccessToken); len(got) != 1 {
			t.Fatalf("linked before confirmation: %v", got)
		}
		st, data, _ := doJSON(t, "POST", b.URL+"/auth/link/complete", me.AccessToken, `{"link_result":"`+result+`"}`)
		if st != http.StatusOK {
			t.Fatalf("complete: %d %s", st, data)
		}
		if got := identities(t, b, me.AccessToken); len(got) != 2 {
			t.Fatalf("identities after link: %v", got)
		}
		// Signing in with GitHub now reaches the same member.
		tr := b.login(t, newBrowser(t), "github", fakeSignIn(t))
		if tr.Member.ID != me.Member.ID {
			t.Fatalf("github login reached %s, want %s", tr.Member.ID, me.Member.ID)
		}
		// The last identity cannot be removed; one of two can.
		st, _, _ = doJSON(t, "DELETE", b.URL+"/auth/identities/github/"+gh.User().ID, me.AccessToken, "")
		if st != http.StatusNoContent {
			t.Fatalf("unlink: %d", st)
		}
		st, _, _ = doJSON(t, "DELETE", b.URL+"/auth/identities/dev/linker@example.com", me.AccessToken, "")
		if st != http.StatusConflict {
			t.Fatalf("unlink last identity: %d", st)
		}
	})

	t.Run("a link started by someone else never attaches the victim's account", func(t *testing.T) {
		gh.SetUser(providertest.User{ID: "777", Login: "victim", Email: "victim@example.com", EmailVerified: true, Name: "Victim"})
		attacker := devLogin(t, b, "attacker@example.com")
		victim := devLogin(t, b, "victim-dev@example.com")
		// The attacker makes a link URL and gets the victim's browser to open it.
		victimBrowser := newBrowser(t)
		result := followLink(t, victimBrowser, linkURL(t, b, "github", attacker.AccessToken))
		// The victim's app confirms with the victim's token: refused.
		st, data, _ := doJSON(t, "POST", b.URL+"/auth/link/complete", victim.AccessToken, `{"link_result":"`+result+`"}`)
		if st != http.StatusForbidden || !strings.Contains(string(data), "link_mismatch") {
			t.Fatalf("foreign link result: %d %s", st, data)
		}
		if got := identities(t, b, attacker.AccessToken); len(got) != 1 {
			t.Fatalf("attacker gained identities: %v", got)
		}
		// The victim's GitHub account is still free: signing in creates the victim's own member.
		tr := b.login(t, newBrowser(t), "github", fakeSignIn(t))
		if tr.Member.ID == attacker.Member.ID {
			t.Fatal("victim's GitHub account signs in as the attacker")
		}
	})

	t.Run("a link code is never a login code", func(t *testing.T) {
		me := devLogin(t, b, "codes@example.com")
		u, _ := url.Parse(linkURL(t, b, "github", me.AccessToken))
		code := u.Query().Get("link_code")
		verifier, _ := pkce()
		st, tr, _ := postJSON(t, b.URL+"/auth/token", map[string]string{"grant_type": "authorization_code", "code": code, "code_verifier": verifier}, "")
		if st != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Fatalf("link code at /auth/token: %d %s", st, tr.Error)
		}
	})
}

// TestDemotedAdminLosesAccessAtOnce: the role is in the token, so a
// demotion revokes the member's sessions.
func TestDemotedAdminLosesAccessAtOnce(t *testing.T) {
	b := startBroker(t, "ADMIN_EMAILS=boss@example.com")
	boss := devLogin(t, b, "boss@example.com")
	second := devLogin(t, b, "second@example.com")
	// Promoted by an admin (not by ADMIN_EMAILS, which a demotion cannot
	// override); the next refresh carries the new role.
	if st, data, _ := doJSON(t, "PATCH", b.URL+"/admin/api/members/"+second.Member.ID, boss.AccessToken, `{"role":"admin"}`); st != http.StatusOK {
		t.Fatalf("promote: %d %s", st, data)
	}
	st, second := refresh(t, b, second.RefreshToken)
	if st != http.StatusOK || second.Member.Role != "admin" {
		t.Fatalf("refresh after promotion: %d %s", st, second.Member.Role)
	}
	if st, _, _ := doJSON(t, "GET", b.URL+"/admin/api/members", second.AccessToken, ""); st != http.StatusOK {
		t.Fatalf("second admin before demotion: %d", st)
	}
	if st, data, _ := doJSON(t, "PATCH", b.URL+"/admin/api/members/"+second.Member.ID, boss.AccessToken, `{"role":"user"}`); st != http.StatusOK {
		t.Fatalf("demote: %d %s", st, data)
	}
	if st, _, _ := doJSON(t, "GET", b.URL+"/admin/api/members", second.AccessToken, ""); st != http.StatusUnauthorized {
		t.Fatalf("demoted admin's token: %d", st)
	}
}

// TestAdminEmailsWinOverDemotion: a member listed in ADMIN_EMAILS would be
// promoted again at the next sign-in, so demoting it is refused with the
// reason (on the API and the page alike), and nothing changes.
func TestAdminEmailsWinOverDemotion(t *testing.T) {
	b := startBroker(t, "ADMIN_EMAILS=boss@example.com, Listed@Example.com")
	boss := devLogin(t, b, "boss@example.com")
	listed := devLogin(t, b, "listed@example.com")
	if listed.Member.Role != "admin" {
		t.Fatalf("listed member's role: %s", listed.Member.Role)
	}
	st, data, _ := doJSON(t, "PATCH", b.URL+"/admin/api/members/"+listed.Member.ID, boss.AccessToken, `{"role":"user"}`)
	if st != http.StatusConflict || !strings.Contains(string(data), "ADMIN_EMAILS") {
		t.Fatalf("demote a listed admin: %d %s", st, data)
	}
	if st, _ := getJSON(t, b.URL+"/admin/api/members", listed.AccessToken, nil); st != http.StatusOK {
		t.Fatalf("listed admin after a refused demotion: %d", st)
	}
	// Signing in again keeps the role: there was nothing to undo.
	if again := devLogin(t, b, "listed@example.com"); again.Member.Role != "admin" {
		t.Fatalf("role after signing in again: %s", again.Member.Role)
	}
}
