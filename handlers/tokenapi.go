package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authbroker/authbroker/handlers/bearer/echobearer"
	"github.com/authbroker/authbroker/internal/account"
	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/login"
	"github.com/authbroker/authbroker/internal/session"
	"github.com/authbroker/authbroker/internal/vault"
)

// tokenRequest is the union of the token API's parameters. Anything else a
// client sends (token_type_hint, client_id…) is ignored.
type tokenRequest struct {
	GrantType, Code, CodeVerifier, RefreshToken string
	IDToken, AccessToken, Nonce, Token          string
	Scope, All, Force, ReturnTo, LinkResult     string
}

// fields maps each parameter name to where it goes: one table for JSON and
// form bodies alike.
func (r *tokenRequest) fields() map[string]*string {
	return map[string]*string{
		"grant_type": &r.GrantType, "code": &r.Code, "code_verifier": &r.CodeVerifier, "refresh_token": &r.RefreshToken,
		"id_token": &r.IDToken, "access_token": &r.AccessToken, "nonce": &r.Nonce, "token": &r.Token,
		"scope": &r.Scope, "all": &r.All, "force": &r.Force, "return_to": &r.ReturnTo, "link_result": &r.LinkResult,
	}
}

// boolParams may be sent as JSON booleans.
var boolParams = map[string]bool{"all": true, "force": true}

var errBadBody = &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidRequest, Description: "the body must be a JSON object or a form of string parameters"}

// parseTokenRequest reads a JSON or form body (RFC 6749 §4.1.3 uses forms;
// SPAs prefer JSON). Parameters in the query string are ignored: tokens in
// URLs end up in logs. Repeated form parameters are refused (RFC 6749 §3.2).
func parseTokenRequest(contentType string, body []byte) (tokenRequest, error) {
	var r tokenRequest
	fields := r.fields()
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil && len(body) == 0 {
		return r, nil
	}
	switch {
	case err != nil:
		return r, &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidRequest, Description: "Content-Type must be application/json or application/x-www-form-urlencoded"}
	case mt == "application/json":
		if len(strings.TrimSpace(string(body))) == 0 {
			return r, nil
		}
		var raw map[string]any
		if err := json.Unmarshal(body, &raw); err != nil {
			return r, errBadBody
		}
		for k, v := range raw {
			dst, ok := fields[k]
			if !ok {
				continue
			}
			switch t := v.(type) {
			case string:
				*dst = t
			case bool:
				if !boolParams[k] {
					return r, errBadBody
				}
				if t {
					*dst = "true"
				}
			case nil:
			default:
				return r, &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidRequest, Description: "parameter " + k + " must be a string"}
			}
		}
		return r, nil
	case mt == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return r, errBadBody
		}
		for k, v := range vals {
			if len(v) > 1 {
				return r, &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidRequest, Description: "parameter " + k + " is repeated"}
			}
			if dst, ok := fields[k]; ok {
				*dst = v[0]
			}
		}
		return r, nil
	default:
		if len(body) == 0 {
			return r, nil
		}
		return r, &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidRequest, Description: "Content-Type must be application/json or application/x-www-form-urlencoded"}
	}
}

// readTokenRequest reads the body (BodyLimit caps it) and parses it.
func readTokenRequest(c echo.Context) (tokenRequest, error) {
	r := c.Request()
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			var he *echo.HTTPError
			if errors.As(err, &he) {
				return tokenRequest{}, he
			}
			return tokenRequest{}, errBadBody
		}
		body = b
	}
	return parseTokenRequest(r.Header.Get(echo.HeaderContentType), body)
}

// token is POST /auth/token.
func (a *API) token(c echo.Context) error {
	req, err := readTokenRequest(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var tr login.TokenResponse
	switch req.GrantType {
	case "authorization_code":
		tr, err = a.Login.Redeem(ctx, req.Code, req.CodeVerifier, c.Request().UserAgent(), c.RealIP())
	case "refresh_token":
		rt := a.delivery.refreshToken(c, req.RefreshToken)
		// The token is authenticated here, once; the per-session refresh
		// limit is counted by the store in the same call as the refresh.
		tok, perr := a.Sessions.ParseRefresh(rt)
		if perr != nil {
			return perr
		}
		tr, err = a.Sessions.Refresh(ctx, tok, c.RealIP())
	case "":
		return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidRequest, Description: "grant_type is required"}
	default:
		return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeUnsupportedGrantType, Description: "grant_type must be authorization_code or refresh_token"}
	}
	if err != nil {
		return err
	}
	return a.delivery.writeTokens(c, tr)
}

// native is POST /auth/{provider}/token.
func (a *API) native(c echo.Context) error {
	req, err := readTokenRequest(c)
	if err != nil {
		return err
	}
	tr, err := a.Login.NativeLogin(c.Request().Context(), login.NativeRequest{
		Provider: c.Param("provider"), IDToken: req.IDToken, AccessToken: req.AccessToken, Nonce: req.Nonce,
		Force: req.Force == "true", UserAgent: c.Request().UserAgent(), IP: c.RealIP(),
	})
	if err != nil {
		return err
	}
	return a.delivery.writeTokens(c, tr)
}

// logout is POST /auth/logout (Bearer): scope local|others|global, all=true = global.
func (a *API) logout(c echo.Context) error {
	req, err := readTokenRequest(c)
	if err != nil {
		return err
	}
	scope := req.Scope
	if scope == "" {
		scope = c.QueryParam("scope")
	}
	if req.All == "true" || c.QueryParam("all") == "true" {
		scope = session.ScopeGlobal
	}
	claims := echobearer.FromContext(c)
	if err := a.Sessions.Logout(c.Request().Context(), claims.Subject, claims.SessionID, scope); err != nil {
		return err
	}
	a.delivery.loggedOut(c, scope)
	return c.NoContent(http.StatusNoContent)
}

// revoke is POST /auth/revoke (RFC 7009): 200 whatever the token was.
func (a *API) revoke(c echo.Context) error {
	req, err := readTokenRequest(c)
	if err != nil {
		return err
	}
	if err := a.Sessions.Revoke(c.Request().Context(), req.Token); err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}

// introspect is POST /auth/introspect (RFC 7662), for resource servers that
// hold INTROSPECT_SECRET (HTTP Basic, any user name). Without a configured
// secret the endpoint is off.
func (a *API) introspect(c echo.Context) error {
	secret := a.Config.IntrospectSecret
	_, pass, ok := c.Request().BasicAuth()
	if secret == "" || !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(secret)) != 1 {
		return &apierror.Error{Status: http.StatusUnauthorized, Code: apierror.CodeInvalidClient,
			Description: "introspection needs HTTP Basic with INTROSPECT_SECRET", Challenge: `Basic realm="introspection"`}
	}
	req, err := readTokenRequest(c)
	if err != nil {
		return err
	}
	if req.Token == "" {
		return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidRequest, Description: "token is required"}
	}
	return c.JSON(http.StatusOK, a.introspection(c.Request().Context(), req.Token))
}

// introspectionResponse is the RFC 7662 §2.2 response.
type introspectionResponse struct {
	Active    bool   `json:"active"`
	TokenType string `json:"token_type,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       string `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Jti       string `json:"jti,omitempty"`
	Sid       string `json:"sid,omitempty"`
	Role      string `json:"role,omitempty"`
	Email     string `json:"email,omitempty"`
}

// introspection reports whether an access token is active (RFC 7662): the
// broker's own verifier, with its denylist. Refresh tokens are never
// reported active: inspecting one would need the same store decision as
// using it, and resource servers never hold them.
func (a *API) introspection(ctx context.Context, tok string) introspectionResponse {
	c, err := a.Verifier.Verify(ctx, tok)
	if err != nil {
		return introspectionResponse{Active: false}
	}
	out := introspectionResponse{Active: true, TokenType: "Bearer", Sub: c.Subject, Iss: c.Issuer, Jti: c.ID,
		Sid: c.SessionID, Role: c.Role, Email: c.Email, Exp: c.ExpiresAt.Unix(), Iat: c.IssuedAt.Unix()}
	if len(c.Audience) > 0 {
		out.Aud = c.Audience[0]
	}
	if c.IssuedAt.IsZero() {
		out.Iat = 0
	}
	return out
}

// caller is who the verified access token of c speaks for.
func caller(c echo.Context) account.Caller {
	claims := echobearer.FromContext(c)
	return account.Caller{MemberID: claims.Subject, SessionID: claims.SessionID, IP: c.RealIP()}
}

// me is GET /auth/me.
func (a *API) me(c echo.Context) error {
	v, err := a.Account.Me(c.Request().Context(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// sessions is GET /auth/sessions.
func (a *API) sessions(c echo.Context) error {
	claims := echobearer.FromContext(c)
	list, err := a.Sessions.List(c.Request().Context(), claims.Subject, claims.SessionID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"sessions": list})
}

// endSession is DELETE /auth/sessions/{id}.
func (a *API) endSession(c echo.Context) error {
	if err := a.Sessions.EndOwned(c.Request().Context(), echobearer.FromContext(c).Subject, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// link is POST /auth/link/{provider} (Bearer): returns a URL on our origin
// that starts a login whose result is linked to the caller. The browser
// must navigate there itself (top level) so the state is bound to it.
func (a *API) link(c echo.Context) error {
	req, err := readTokenRequest(c)
	if err != nil {
		return err
	}
	u, err := a.Login.LinkURL(c.Request().Context(), caller(c).MemberID, c.Param("provider"), req.ReturnTo)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"url": u, "expires_in": int(a.Config.CodeTTL / time.Second)})
}

// completeLink is POST /auth/link/complete (Bearer): confirms the account
// parked under link_result (see login.Service.CompleteLink).
func (a *API) completeLink(c echo.Context) error {
	req, err := readTokenRequest(c)
	if err != nil {
		return err
	}
	id, err := a.Login.CompleteLink(c.Request().Context(), caller(c).MemberID, req.LinkResult)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"identity": id})
}

// providerToken is GET /auth/identities/{provider}/token: the member's
// own provider access token, renewed first when it is about to expire.
func (a *API) providerToken(c echo.Context) error {
	q := c.QueryParams()
	t, err := a.Vault.Token(c.Request().Context(), vault.Request{
		MemberID: caller(c).MemberID,
		Provider: c.Param("provider"),
		Subject:  q.Get("subject"),
		Scopes:   strings.Fields(q.Get("scope")),
		ReturnTo: q.Get("return_to"),
	})
	if err != nil {
		return err
	}
	body := providerTokenResponse{AccessToken: t.AccessToken, TokenType: t.TokenType, Scope: strings.Join(t.Scopes, " ")}
	if !t.ExpiresAt.IsZero() {
		body.ExpiresAt = t.ExpiresAt.Unix()
	}
	noStoreTokens(c)
	return c.JSON(http.StatusOK, body)
}

// providerTokenResponse is the provider token handed to the app.
type providerTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	// ExpiresAt is Unix seconds; absent for a token that does not expire.
	ExpiresAt int64  `json:"expires_at,omitempty"`
	Scope     string `json:"scope"`
}

// unlink is DELETE /auth/identities/{provider}/{subject}.
func (a *API) unlink(c echo.Context) error {
	if err := a.Account.Unlink(c.Request().Context(), caller(c), c.Param("provider"), c.Param("subject")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
