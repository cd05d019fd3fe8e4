package handlers

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/authbroker/authbroker/internal/login"
)

// providerButton is one button on the login page.
type providerButton struct {
	Name, Type, DisplayName, Href, Mark string
}

// loginPage is GET /: a button per enabled provider, carrying return_to and
// the SPA's PKCE challenge through to /auth/{provider}.
func (a *API) loginPage(c echo.Context) error {
	markPage(c)
	keep := url.Values{}
	for _, k := range []string{"return_to", "code_challenge", "code_challenge_method", "force"} {
		if v := c.QueryParam(k); v != "" {
			keep.Set(k, v)
		}
	}
	// The buttons start logins with these parameters: refuse now what the
	// start would refuse after the user has picked a provider.
	if err := a.Login.CheckStart(login.StartRequest{ReturnTo: keep.Get("return_to"), CodeChallenge: keep.Get("code_challenge"), CodeChallengeMethod: keep.Get("code_challenge_method")}); err != nil {
		return err
	}
	return a.renderPage(c, http.StatusOK, "login", map[string]any{"Providers": a.providerButtons("/auth/", keep)})
}

// providerButtons is one button per enabled provider, each linking to
// prefix + provider name (/auth/{provider}, or the admin page's own start)
// with query.
func (a *API) providerButtons(prefix string, query url.Values) []providerButton {
	var buttons []providerButton
	for _, e := range a.Providers.Enabled() {
		p := e.Provider
		href := prefix + url.PathEscape(p.Name())
		if len(query) > 0 {
			href += "?" + query.Encode()
		}
		buttons = append(buttons, providerButton{Name: p.Name(), Type: e.Kind.Name, DisplayName: p.DisplayName(), Href: href, Mark: e.Kind.Mark})
	}
	return buttons
}

// start is GET /auth/{provider}.
func (a *API) start(c echo.Context) error {
	markPage(c)
	req := login.StartRequest{
		Provider:            c.Param("provider"),
		ReturnTo:            c.QueryParam("return_to"),
		CodeChallenge:       c.QueryParam("code_challenge"),
		CodeChallengeMethod: c.QueryParam("code_challenge_method"),
		Force:               c.QueryParam("force") == "true",
		Reauth:              c.QueryParam("reauth"),
	}
	if ck, err := c.Cookie(a.cookies.binding); err == nil {
		req.Binding = ck.Value
	}
	if lc := c.QueryParam("link_code"); lc != "" {
		memberID, err := a.Login.TakeLinkCode(c.Request().Context(), lc, req.Provider)
		if err != nil {
			return err
		}
		req.LinkMemberID = memberID
	}
	res, err := a.Login.StartLogin(c.Request().Context(), req)
	if err != nil {
		return err
	}
	c.SetCookie(a.cookies.cookie(a.cookies.binding, res.Binding, "/", a.Config.LoginStateTTL))
	return c.Redirect(http.StatusFound, res.RedirectURL)
}

// callback is GET /auth/{provider}/callback.
func (a *API) callback(c echo.Context) error {
	markPage(c)
	q := c.QueryParams()
	req := login.FinishRequest{
		Provider:         c.Param("provider"),
		State:            q.Get("state"),
		Code:             q.Get("code"),
		Error:            q.Get("error"),
		ErrorDescription: q.Get("error_description"),
		UserAgent:        c.Request().UserAgent(),
		IP:               c.RealIP(),
	}
	if ck, err := c.Cookie(a.cookies.binding); err == nil {
		req.Binding = ck.Value
	}
	res, err := a.Login.FinishLogin(c.Request().Context(), req)
	if err != nil {
		return err
	}
	if res.Tokens != nil {
		a.delivery.started(c, *res.Tokens)
	}
	if res.Redirect != "" {
		return c.Redirect(http.StatusFound, res.Redirect)
	}
	m := res.Member
	return a.renderPage(c, http.StatusOK, "success", map[string]any{
		"ID": m.ID, "Name": m.Name, "Email": m.Email, "Avatar": m.AvatarURL, "Provider": res.Provider, "Linked": res.Linked,
	})
}
