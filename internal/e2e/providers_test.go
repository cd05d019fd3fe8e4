package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/authbroker/authbroker/providers/providertest"
)

// TestBrowserAdminAddsProvider: an admin of a broker with no provider
// variables adds Kakao (the fake) on the admin page; its button appears on
// the sign-in page and a member signs in through it; disabled, the button
// is gone and /auth/kakao answers 404. No restart anywhere.
func TestBrowserAdminAddsProvider(t *testing.T) {
	kakao := providertest.NewKakao(t)
	b := startBroker(t, nil, "ADMIN_EMAILS=ada@example.com", "DEV_LOGIN=true")
	p := newPage(t)

	p.do("open the admin page", chromedp.Navigate(b.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS(`a[data-provider="dev"]`)))
	p.do("sign in as the admin", chromedp.Click(chromedp.CSS(`a[data-provider="dev"]`)), chromedp.WaitVisible(chromedp.ID("dev-submit")),
		chromedp.Click(chromedp.ID("dev-submit")), chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/providers"]`)))
	p.do("open providers", chromedp.Click(chromedp.CSS(`a[href="/admin/providers"]`)), chromedp.WaitVisible(chromedp.ID("add-provider")))
	p.do("add a Kakao provider", chromedp.SetValue(chromedp.ID("new-type"), "kakao"),
		chromedp.Submit(chromedp.ID("add-provider")), chromedp.WaitVisible(chromedp.ID("provider-form")))
	s := kakao.Provider()
	p.do("fill the form and save",
		chromedp.SetValue(chromedp.ID("name"), "kakao"),
		chromedp.SetValue(chromedp.ID("client_id"), s.ClientID),
		chromedp.SetValue(chromedp.ID("client_secret"), s.ClientSecret),
		chromedp.SetValue(chromedp.ID("auth_url"), s.AuthURL),
		chromedp.SetValue(chromedp.ID("token_url"), s.TokenURL),
		chromedp.SetValue(chromedp.ID("api_url"), s.APIURL),
		chromedp.Click(chromedp.CSS(`#provider-form button[value="save"]`)),
		chromedp.WaitVisible(chromedp.ID("callback-url")))
	if got := p.text("#callback-url"); got != b.URL+"/auth/kakao/callback" {
		t.Fatalf("callback URL shown %q", got)
	}
	if v := evalJS[string](p, `document.getElementById("client_secret").value`); v != "" {
		t.Fatal("the secret field shows a value: it must be write-only")
	}
	p.screenshot("admin-provider.png")

	p.do("the sign-in page has a Kakao button", chromedp.Navigate(b.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`a[data-provider="kakao"]`)))
	p.do("continue with Kakao", chromedp.Click(chromedp.CSS(`a[data-provider="kakao"]`)), chromedp.WaitVisible(chromedp.CSS(".member")))
	if got := p.text(".member"); !strings.Contains(got, kakao.User().Email) {
		t.Fatalf("signed in as %q, want %s", got, kakao.User().Email)
	}

	p.do("disable it", chromedp.Navigate(b.URL+"/admin/providers/kakao"), chromedp.WaitVisible(chromedp.CSS(`button[value="disable"]`)),
		chromedp.Click(chromedp.CSS(`button[value="disable"]`)), chromedp.WaitVisible(chromedp.CSS(`button[value="enable"]`)))
	p.do("the button is gone", chromedp.Navigate(b.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`a[data-provider="dev"]`)))
	if n := evalJS[int](p, `document.querySelectorAll('a[data-provider="kakao"]').length`); n != 0 {
		t.Fatal("a disabled provider still has its button")
	}
	resp, err := http.Get(b.URL + "/auth/kakao")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/auth/kakao after disabling: %d, want 404", resp.StatusCode)
	}
}
