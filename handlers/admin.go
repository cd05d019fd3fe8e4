package handlers

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/handlers/bearer/echobearer"
	"github.com/authbroker/authbroker/internal/admin"
	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/login"
	"github.com/authbroker/authbroker/internal/session"
	"github.com/authbroker/authbroker/internal/store"
)

// registerAdmin mounts the admin JSON API (Bearer, role admin) and the
// admin pages (cookie session, CSRF token) over the same service.
func (a *API) registerAdmin(e *echo.Echo) {
	// In cookie mode Authn accepts the app's access cookie: the API's CSRF
	// rule applies here as on /auth.
	api := e.Group("/admin/api", a.csrf, a.Authn, echobearer.RequireRole(store.RoleAdmin))
	api.GET("/members", a.adminListMembers)
	api.GET("/members/:id", a.adminGetMember)
	api.PATCH("/members/:id", a.adminPatchMember)
	api.POST("/members/:id/revoke-sessions", a.adminRevokeSessions)
	api.DELETE("/members/:id", a.adminDeleteMember)
	api.DELETE("/members/:id/provider-tokens/:provider/:subject", a.adminRevokeProviderToken)
	api.DELETE("/sessions/:sid", a.adminEndSession)
	api.GET("/audit", a.adminAudit)
	a.registerProviderAdmin(e, api)

	e.GET("/admin", a.adminPage)
	e.GET("/admin/login/:provider", a.adminLogin)
	e.GET("/admin/callback", a.adminCallback)
	e.GET("/admin/members/:id", a.adminMemberPage)
	e.POST("/admin/members/:id", a.adminMemberAction, a.sameOriginForm)
	e.POST("/admin/sessions/:sid/revoke", a.adminSessionAction, a.sameOriginForm)
	e.POST("/admin/logout", a.adminLogout, a.sameOriginForm)
}

func actor(c echo.Context, claims *bearer.Claims) admin.Actor {
	return admin.Actor{MemberID: claims.Subject, IP: c.RealIP()}
}

func (a *API) adminListMembers(c echo.Context) error {
	limit, _ := strconv.Atoi(c.QueryParam("limit"))
	page, err := a.Admin.List(c.Request().Context(), store.MemberQuery{
		Search: c.QueryParam("q"), Provider: c.QueryParam("provider"), Cursor: c.QueryParam("cursor"), Limit: limit,
	})
	if err != nil {
		return err
	}
	if page.Members == nil {
		page.Members = []store.Member{}
	}
	return c.JSON(http.StatusOK, map[string]any{"members": page.Members, "next_cursor": page.NextCursor})
}

func (a *API) adminGetMember(c echo.Context) error {
	d, err := a.Admin.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

// adminPatchMember changes role and/or status: {"role":"admin"}, {"status":"disabled"}.
func (a *API) adminPatchMember(c echo.Context) error {
	var body struct {
		Role   *string `json:"role"`
		Status *string `json:"status"`
	}
	if err := c.Bind(&body); err != nil {
		return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidRequest, Description: "the body must be a JSON object with role and/or status"}
	}
	ctx, act, id := c.Request().Context(), actor(c, echobearer.FromContext(c)), c.Param("id")
	var (
		m   store.Member
		err error
	)
	if body.Role == nil && body.Status == nil {
		return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidRequest, Description: "nothing to change: send role and/or status"}
	}
	if body.Role != nil {
		if m, err = a.Admin.SetRole(ctx, act, id, *body.Role); err != nil {
			return err
		}
	}
	if body.Status != nil {
		if m, err = a.Admin.SetStatus(ctx, act, id, *body.Status); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, m)
}

func (a *API) adminRevokeSessions(c echo.Context) error {
	if err := a.Admin.RevokeSessions(c.Request().Context(), actor(c, echobearer.FromContext(c)), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *API) adminDeleteMember(c echo.Context) error {
	if err := a.Admin.Delete(c.Request().Context(), actor(c, echobearer.FromContext(c)), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// adminRevokeProviderToken ends a member's kept provider grant.
func (a *API) adminRevokeProviderToken(c echo.Context) error {
	err := a.Admin.RevokeProviderToken(c.Request().Context(), actor(c, echobearer.FromContext(c)), c.Param("id"), c.Param("provider"), c.Param("subject"))
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *API) adminEndSession(c echo.Context) error {
	if err := a.Admin.EndSession(c.Request().Context(), actor(c, echobearer.FromContext(c)), c.Param("sid")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *API) adminAudit(c echo.Context) error {
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	limit, _ := strconv.Atoi(c.QueryParam("limit"))
	entries, err := a.Admin.AuditLog(c.Request().Context(), before, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": entries})
}

// --- Admin pages --------------------------------------------------------------

// Admin page cookies. SameSite=Strict: no other site can make the browser
// send them; on https the __Host- prefix keeps a sibling subdomain from
// planting them (which would defeat the double-submit CSRF token).
const (
	adminAccessCookie  = "ab_admin_at"
	adminRefreshCookie = "ab_admin_rt"
	adminCSRFCookie    = "ab_admin_csrf"
	// adminPKCECookie holds the PKCE verifier of an admin sign-in between
	// /admin/login/{provider} and /admin/callback. SameSite=Lax: the
	// callback is reached through the provider's cross-site redirect, on
	// which browsers do not send Strict cookies.
	adminPKCECookie = "ab_admin_pkce"
)

func (a *API) adminCookieName(name string) string {
	if a.cookies.secure {
		return "__Host-" + name
	}
	return name
}

func (a *API) adminCookie(name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: a.adminCookieName(name), Value: value, Path: "/", HttpOnly: true, Secure: a.cookies.secure, SameSite: http.SameSiteStrictMode, MaxAge: int(maxAge / time.Second)}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	return c
}

func (a *API) setAdminSession(c echo.Context, tr login.TokenResponse) {
	c.SetCookie(a.adminCookie(adminAccessCookie, tr.AccessToken, time.Duration(tr.RefreshExpiresIn)*time.Second))
	c.SetCookie(a.adminCookie(adminRefreshCookie, tr.RefreshToken, time.Duration(tr.RefreshExpiresIn)*time.Second))
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	c.SetCookie(a.adminCookie(adminCSRFCookie, base64.RawURLEncoding.EncodeToString(b), time.Duration(tr.RefreshExpiresIn)*time.Second))
}

// adminSession returns the signed-in admin's claims, refreshing an expired
// access token with the refresh cookie. ok=false: show the sign-in page.
func (a *API) adminSession(c echo.Context) (*bearer.Claims, bool) {
	ctx := c.Request().Context()
	if ck, err := c.Cookie(a.adminCookieName(adminAccessCookie)); err == nil {
		claims, err := a.Verifier.Verify(ctx, ck.Value)
		if err == nil {
			return claims, true
		}
		if errors.Is(err, bearer.ErrExpired) {
			if rt, err := c.Cookie(a.adminCookieName(adminRefreshCookie)); err == nil {
				if tok, err := a.Sessions.ParseRefresh(rt.Value); err == nil {
					if tr, err := a.Sessions.Refresh(ctx, tok, c.RealIP()); err == nil {
						a.setAdminSession(c, tr)
						if claims, err := a.Verifier.Verify(ctx, tr.AccessToken); err == nil {
							return claims, true
						}
					}
				}
			}
		}
	}
	return nil, false
}

func (a *API) adminLoginPage(c echo.Context) error {
	return a.renderPage(c, http.StatusOK, "admin_login", map[string]any{"Providers": a.providerButtons("/admin/login/", nil)})
}

// adminLogin is GET /admin/login/{provider}: the admin page is a PKCE
// client of the broker like any app. It keeps the verifier in a cookie and
// starts a login that returns to /admin/callback with its challenge.
func (a *API) adminLogin(c echo.Context) error {
	markPage(c)
	verifier := oauth2.GenerateVerifier()
	ck := a.adminCookie(adminPKCECookie, verifier, a.Config.LoginStateTTL)
	ck.SameSite = http.SameSiteLaxMode
	c.SetCookie(ck)
	q := url.Values{
		"return_to":             {a.Config.BaseURL + "/admin/callback"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
	}
	return c.Redirect(http.StatusFound, "/auth/"+url.PathEscape(c.Param("provider"))+"?"+q.Encode())
}

// requireAdminPage resolves the admin session or answers with the sign-in
// page (not signed in) or a 403 page (not an admin).
func (a *API) requireAdminPage(c echo.Context) (*bearer.Claims, bool, error) {
	markPage(c)
	claims, ok := a.adminSession(c)
	if !ok {
		return nil, false, a.adminLoginPage(c)
	}
	if claims.Role != store.RoleAdmin {
		return nil, false, &apierror.Error{Status: http.StatusForbidden, Code: apierror.CodeForbidden, Description: "your account does not have the admin role"}
	}
	return claims, true, nil
}

// checkAdminCSRF compares the form's csrf field with the admin's CSRF
// cookie. Only the POST body counts: a token in the query string would
// land in logs, histories and Referer headers.
func (a *API) checkAdminCSRF(c echo.Context) error {
	ck, err := c.Cookie(a.adminCookieName(adminCSRFCookie))
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(c.Request().PostFormValue("csrf"))) != 1 {
		return &apierror.Error{Status: http.StatusForbidden, Code: apierror.CodeCSRFRejected, Description: "the form has expired; reload the page and try again"}
	}
	return nil
}

func (a *API) csrfValue(c echo.Context) string {
	if ck, err := c.Cookie(a.adminCookieName(adminCSRFCookie)); err == nil {
		return ck.Value
	}
	return ""
}

// adminCallbackErrors is what the admin callback says for each error code
// a login can come back with. The wording is ours: the query string is
// anyone's to write, so its error_description is never shown on our origin.
var adminCallbackErrors = map[string]string{
	apierror.CodeAccessDenied:    "The sign-in was cancelled or refused at the provider.",
	"consent_required":           "The provider needs your consent again; sign in once more.",
	"login_required":             "The provider needs you to sign in again.",
	apierror.CodeAlreadySignedIn: "This account is signed in on another device, and SESSION_POLICY=single_confirm allows one session.",
}

// adminCallback finishes the admin sign-in: the login came back here with
// a one-time code of the admin namespace, redeemed server-side with the
// verifier adminLogin kept, into the admin cookie session.
func (a *API) adminCallback(c echo.Context) error {
	markPage(c)
	verifier := ""
	if ck, err := c.Cookie(a.adminCookieName(adminPKCECookie)); err == nil {
		verifier = ck.Value
		c.SetCookie(a.adminCookie(adminPKCECookie, "", -1))
	}
	if e := c.QueryParam("error"); e != "" {
		desc, ok := adminCallbackErrors[e]
		if !ok {
			e, desc = apierror.CodeAccessDenied, "The sign-in did not complete; try again."
		}
		return &apierror.Error{Status: http.StatusForbidden, Code: e, Description: desc}
	}
	code := c.QueryParam("code")
	if code == "" {
		return c.Redirect(http.StatusSeeOther, "/admin")
	}
	tr, err := a.Login.RedeemAdmin(c.Request().Context(), code, verifier, c.Request().UserAgent(), c.RealIP())
	if err != nil {
		return err
	}
	if tr.Member.Role != store.RoleAdmin {
		_ = a.Sessions.End(c.Request().Context(), tr.SessionID)
		return &apierror.Error{Status: http.StatusForbidden, Code: apierror.CodeForbidden, Description: "your account does not have the admin role"}
	}
	a.setAdminSession(c, tr)
	return c.Redirect(http.StatusSeeOther, "/admin")
}

// adminPage is GET /admin: members (search, pages), providers, audit log.
func (a *API) adminPage(c echo.Context) error {
	claims, ok, err := a.requireAdminPage(c)
	if !ok {
		return err
	}
	ctx := c.Request().Context()
	page, err := a.Admin.List(ctx, store.MemberQuery{Search: c.QueryParam("q"), Provider: c.QueryParam("provider"), Cursor: c.QueryParam("cursor"), Limit: 25})
	if err != nil {
		return err
	}
	entries, err := a.Admin.AuditLog(ctx, 0, 20)
	if err != nil {
		return err
	}
	next := ""
	if page.NextCursor != "" {
		next = "/admin?" + url.Values{"q": {c.QueryParam("q")}, "provider": {c.QueryParam("provider")}, "cursor": {page.NextCursor}}.Encode()
	}
	return a.renderPage(c, http.StatusOK, "admin", map[string]any{
		"Me": claims, "Members": page.Members, "Next": next, "Q": c.QueryParam("q"), "Provider": c.QueryParam("provider"),
		"Providers": a.liveProviders(), "Audit": entries, "CSRF": a.csrfValue(c),
	})
}

// adminMemberPage is GET /admin/members/{id}.
func (a *API) adminMemberPage(c echo.Context) error {
	claims, ok, err := a.requireAdminPage(c)
	if !ok {
		return err
	}
	d, err := a.Admin.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return a.renderPage(c, http.StatusOK, "admin_member", map[string]any{"Me": claims, "D": d, "CSRF": a.csrfValue(c), "Self": d.Member.ID == claims.Subject})
}

// adminMemberAction is POST /admin/members/{id} with action and csrf.
func (a *API) adminMemberAction(c echo.Context) error {
	claims, ok, err := a.requireAdminPage(c)
	if !ok {
		return err
	}
	if err := a.checkAdminCSRF(c); err != nil {
		return err
	}
	ctx, act, id := c.Request().Context(), actor(c, claims), c.Param("id")
	switch c.Request().PostFormValue("action") {
	case "make_admin":
		_, err = a.Admin.SetRole(ctx, act, id, store.RoleAdmin)
	case "make_user":
		_, err = a.Admin.SetRole(ctx, act, id, store.RoleUser)
	case "disable":
		_, err = a.Admin.SetStatus(ctx, act, id, store.StatusDisabled)
	case "enable":
		_, err = a.Admin.SetStatus(ctx, act, id, store.StatusActive)
	case "revoke_sessions":
		err = a.Admin.RevokeSessions(ctx, act, id)
	case "revoke_provider_token":
		f := c.Request().PostForm
		err = a.Admin.RevokeProviderToken(ctx, act, id, f.Get("provider"), f.Get("subject"))
	case "delete":
		if err = a.Admin.Delete(ctx, act, id); err == nil {
			return c.Redirect(http.StatusSeeOther, "/admin")
		}
	default:
		err = &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidRequest, Description: "unknown action"}
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/members/"+url.PathEscape(id))
}

// adminSessionAction is POST /admin/sessions/{sid}/revoke.
func (a *API) adminSessionAction(c echo.Context) error {
	claims, ok, err := a.requireAdminPage(c)
	if !ok {
		return err
	}
	if err := a.checkAdminCSRF(c); err != nil {
		return err
	}
	if err := a.Admin.EndSession(c.Request().Context(), actor(c, claims), c.Param("sid")); err != nil {
		return err
	}
	back := "/admin"
	if m := c.Request().PostFormValue("member"); m != "" {
		back = "/admin/members/" + url.PathEscape(m)
	}
	return c.Redirect(http.StatusSeeOther, back)
}

// adminLogout is POST /admin/logout: ends the admin's session.
func (a *API) adminLogout(c echo.Context) error {
	claims, ok, err := a.requireAdminPage(c)
	if !ok {
		return err
	}
	if err := a.checkAdminCSRF(c); err != nil {
		return err
	}
	if err := a.Sessions.Logout(c.Request().Context(), claims.Subject, claims.SessionID, session.ScopeLocal); err != nil {
		return err
	}
	for _, n := range []string{adminAccessCookie, adminRefreshCookie, adminCSRFCookie} {
		c.SetCookie(a.adminCookie(n, "", -1))
	}
	return c.Redirect(http.StatusSeeOther, "/admin")
}
