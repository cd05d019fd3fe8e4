package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authbroker/authbroker/internal/apierror"
)

// cookieNames are the broker's cookies. On https they carry the
// __Host-/__Secure- prefixes (browsers then refuse them without Secure, and
// __Host- pins them to our exact host and path /); on http://localhost, for
// development, they are plain and not Secure.
type cookieNames struct {
	secure  bool
	binding string // login state binding, path / (__Host-: no sibling subdomain can plant one)
	access  string // access token in cookie mode, path /
	refresh string // refresh token in cookie mode, path /auth (never sent elsewhere)
}

func newCookieNames(baseURL string) cookieNames {
	u, _ := url.Parse(baseURL)
	secure := u != nil && u.Scheme == "https"
	if secure {
		return cookieNames{secure: true, binding: "__Host-ab_login", access: "__Host-ab_access", refresh: "__Secure-ab_refresh"}
	}
	return cookieNames{binding: "ab_login", access: "ab_access", refresh: "ab_refresh"}
}

func (n cookieNames) cookie(name, value, path string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name: name, Value: value, Path: path, HttpOnly: true, Secure: n.secure,
		// Lax: the provider's redirect back is a top-level GET navigation,
		// which Lax still carries; cross-site POSTs do not get the cookie.
		SameSite: http.SameSiteLaxMode,
		MaxAge:   int(maxAge / time.Second),
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	return c
}

// csrfHeader must accompany every state-changing API request in cookie
// mode: a cross-site form cannot set it, and a cross-origin script cannot
// send it without passing our CORS preflight (OAuth 2.0 for Browser-Based
// Apps, §6.1.3.2).
const csrfHeader = "X-AuthBroker-CSRF"

// unsafeMethod reports whether a request with method may change state or
// set cookies (everything but GET, HEAD, OPTIONS).
func unsafeMethod(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// csrf guards the JSON API (/auth/…, /admin/api/…) when
// TOKEN_DELIVERY=cookie. There our cookies authenticate requests, and the
// token endpoints answer with Set-Cookie, so every unsafe request must
// carry csrfHeader and, when the browser names an Origin, come from ours or
// an allowed app origin — whether or not it carries a cookie: a cross-site
// form posting a provider token to POST /auth/{provider}/token carries none
// and would still sign the browser in (login CSRF).
//
// A request authenticated by a Bearer header is let through: browsers
// never add one by themselves, and a cross-origin script cannot send one
// without the preflight. In code mode no route reads or sets a token
// cookie, so there is nothing to forge.
func (a *API) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if !a.delivery.ambient() || !unsafeMethod(r.Method) {
			return next(c)
		}
		if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
			return next(c)
		}
		if r.Header.Get(csrfHeader) == "" || !a.fromAllowedPage(r, true) {
			return errCSRF
		}
		return next(c)
	}
}

// sameOriginForm guards the HTML forms (the admin page, the dev sign-in
// form): an unsafe request must come from a page of our own origin, and a
// request from another site is refused before anything is read. The admin
// forms also carry a CSRF token; this check keeps a forgotten token from
// being the only line.
func (a *API) sameOriginForm(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if unsafeMethod(r.Method) && !a.fromAllowedPage(r, false) {
			return errCSRF
		}
		return next(c)
	}
}

// fromAllowedPage reports whether an unsafe request comes from a page of
// our origin or, with apps, of an allowed app origin. Sec-Fetch-Site
// decides when the browser sends it (all current ones do): it cannot be
// set by a page, and unlike Origin it is not blanked to "null" by our pages'
// Referrer-Policy: no-referrer. Without it, Origin decides: absent (not a
// browser) or an allowed one passes; "null" and any other origin do not.
func (a *API) fromAllowedPage(r *http.Request, apps bool) bool {
	origin := r.Header.Get("Origin")
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "same-site", "cross-site":
		return apps && origin != "" && origin != "null" && a.Login.ReturnPolicy().AllowedOrigin(origin)
	}
	switch {
	case origin == "", origin == a.origin:
		return true
	case apps && origin != "null":
		return a.Login.ReturnPolicy().AllowedOrigin(origin)
	}
	return false
}

// errCSRF is the answer to a request refused by csrf or sameOriginForm.
var errCSRF = &apierror.Error{Status: http.StatusForbidden, Code: apierror.CodeCSRFRejected,
	Description: "state-changing requests need the " + csrfHeader + " header (cookie mode) and must come from an allowed origin"}
