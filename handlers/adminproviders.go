package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/handlers/bearer/echobearer"
	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/providerconfig"
	"github.com/authbroker/authbroker/providers"
)

// registerProviderAdmin mounts provider management: the JSON API under
// api (Bearer, role admin) and the admin pages.
func (a *API) registerProviderAdmin(e *echo.Echo, api *echo.Group) {
	api.GET("/providers", a.adminProviders)
	api.PUT("/providers/:name", a.adminPutProvider)
	api.DELETE("/providers/:name", a.adminDeleteProvider)
	api.POST("/providers/:name/test", a.adminTestProvider)

	e.GET("/admin/providers", a.adminProvidersPage)
	e.GET("/admin/providers/:name", a.adminProviderPage)
	e.POST("/admin/providers/:name", a.adminProviderAction, a.sameOriginForm)
}

func providerActor(c echo.Context, claims *bearer.Claims) providerconfig.Actor {
	return providerconfig.Actor{MemberID: claims.Subject, IP: c.RealIP()}
}

// adminProviders is GET /admin/api/providers: every provider (environment
// and stored, enabled or not, never a secret) and the types an admin can add.
func (a *API) adminProviders(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"providers": a.ProviderConfig.Statuses(), "types": a.ProviderConfig.Types()})
}

// adminPutProvider is PUT /admin/api/providers/{name}: create or replace.
func (a *API) adminPutProvider(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	var in providerconfig.Input
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return apierror.InvalidRequest("the body must be a JSON object of provider settings: " + jsonProblem(err))
	}
	st, err := a.ProviderConfig.Put(c.Request().Context(), providerActor(c, echobearer.FromContext(c)), c.Param("name"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

// jsonProblem is a client-safe account of a JSON decoding error.
func jsonProblem(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return strings.TrimPrefix(msg, "json: ")
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return te.Field + " has the wrong type"
	}
	return "malformed JSON"
}

func (a *API) adminDeleteProvider(c echo.Context) error {
	if err := a.ProviderConfig.Delete(c.Request().Context(), providerActor(c, echobearer.FromContext(c)), c.Param("name")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *API) adminTestProvider(c echo.Context) error {
	res, err := a.ProviderConfig.Test(c.Request().Context(), c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// --- Pages -------------------------------------------------------------------

// pageCSP lets a page load the broker's own small scripts (the copy button)
// and nothing else.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// adminProvidersPage is GET /admin/providers: every provider, and a form to
// add one of each type.
func (a *API) adminProvidersPage(c echo.Context) error {
	claims, ok, err := a.requireAdminPage(c)
	if !ok {
		return err
	}
	c.Response().Header().Set("Content-Security-Policy", pageCSP)
	return a.renderPage(c, http.StatusOK, "admin_providers", map[string]any{
		"Me": claims, "Providers": a.ProviderConfig.Statuses(), "Types": a.ProviderConfig.Types(), "CSRF": a.csrfValue(c),
	})
}

// providerForm is what the provider page shows and posts.
type providerForm struct {
	Name, Type, TypeName, DisplayName, ClientID, Scopes string
	Order                                               int
	Enabled, SecretSet, New, Env                        bool
	Fields                                              []formField
	Status                                              providers.Status
	Test                                                *providerconfig.TestResult
	Errors                                              map[string]string
}

type formField struct {
	providers.Field
	Value string
}

// adminProviderPage is GET /admin/providers/{name}: the edit form of a
// stored provider, a read-only view of an environment one, or a new one
// (?type=kakao).
func (a *API) adminProviderPage(c echo.Context) error {
	claims, ok, err := a.requireAdminPage(c)
	if !ok {
		return err
	}
	name := c.Param("name")
	if name == "new" {
		name = "" // typed on the form
	}
	f, err := a.providerForm(name, c.QueryParam("type"))
	if err != nil {
		return err
	}
	return a.renderProviderPage(c, claims, f, http.StatusOK)
}

func (a *API) renderProviderPage(c echo.Context, claims *bearer.Claims, f providerForm, status int) error {
	c.Response().Header().Set("Content-Security-Policy", pageCSP)
	return a.renderPage(c, status, "admin_provider", map[string]any{"Me": claims, "F": f, "CSRF": a.csrfValue(c)})
}

// providerForm loads the form of name: its status, or a new provider of typ.
func (a *API) providerForm(name, typ string) (providerForm, error) {
	f := providerForm{Name: name, Errors: map[string]string{}}
	i := slices.IndexFunc(a.ProviderConfig.Statuses(), func(s providers.Status) bool {
		return name != "" && s.Name == name && (s.Source == providers.SourceAdmin || s.Enabled)
	})
	if i >= 0 {
		st := a.ProviderConfig.Statuses()[i]
		f.Status, f.Type, f.DisplayName, f.ClientID, f.Order, f.Enabled, f.SecretSet = st, st.Type, st.DisplayName, st.ClientID, st.Order, st.Enabled, st.ClientSecretSet
		f.Env = st.Source == providers.SourceEnv
		f.Scopes = strings.Join(st.Scopes, " ")
	} else {
		if typ == "" {
			return f, apierror.New(http.StatusNotFound, apierror.CodeNotFound, "no such provider", nil)
		}
		f.New, f.Type, f.Enabled = true, typ, true
		f.Status = providers.Status{Name: name, CallbackURL: a.Providers.CallbackURL(name)}
	}
	t, ok := providers.TypeOf(f.Type)
	if !ok {
		return f, apierror.InvalidRequest("unknown provider type")
	}
	f.TypeName = t.DisplayName
	if f.New {
		f.DisplayName = t.DisplayName
		f.Scopes = ""
	}
	for _, fl := range t.Fields {
		if fl.Key == providers.FieldClientID || fl.Key == providers.FieldClientSecret || fl.Key == providers.FieldScopes {
			continue
		}
		v := map[string]string{providers.FieldIssuer: f.Status.Issuer, providers.FieldAuthURL: f.Status.AuthURL,
			providers.FieldTokenURL: f.Status.TokenURL, providers.FieldAPIURL: f.Status.APIURL, providers.FieldAppID: f.Status.AppID,
			providers.FieldRevokeURL: f.Status.RevokeURL}[fl.Key]
		if fl.Key == providers.FieldStoreTokens && f.Status.StoreTokens {
			v = "true"
		}
		f.Fields = append(f.Fields, formField{Field: fl, Value: v})
	}
	return f, nil
}

// adminProviderAction is POST /admin/providers/{name}: save, enable,
// disable, test or delete, with the page's CSRF token.
func (a *API) adminProviderAction(c echo.Context) error {
	claims, ok, err := a.requireAdminPage(c)
	if !ok {
		return err
	}
	if err := a.checkAdminCSRF(c); err != nil {
		return err
	}
	ctx, name := c.Request().Context(), c.Param("name")
	if name == "new" {
		name = c.FormValue("name")
	}
	act := providerActor(c, claims)
	back := "/admin/providers/" + url.PathEscape(name)
	switch c.FormValue("action") {
	case "delete":
		if err := a.ProviderConfig.Delete(ctx, act, name); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/admin/providers")
	case "test":
		f, err := a.providerForm(name, "")
		if err != nil {
			return err
		}
		res, err := a.ProviderConfig.Test(ctx, name)
		if err != nil {
			return err
		}
		f.Test = &res
		return a.renderProviderPage(c, claims, f, http.StatusOK)
	case "enable", "disable":
		f, err := a.providerForm(name, "")
		if err != nil {
			return err
		}
		in := inputOf(f)
		in.Enabled = c.FormValue("action") == "enable"
		if _, err := a.ProviderConfig.Put(ctx, act, name, in); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, back)
	case "save":
		order, _ := strconv.Atoi(c.FormValue("order"))
		in := providerconfig.Input{
			Type: c.FormValue("type"), DisplayName: c.FormValue("display_name"), Order: order,
			Enabled: c.FormValue("enabled") == "on", ClientID: c.FormValue("client_id"),
			Scopes: strings.FieldsFunc(c.FormValue("scopes"), func(r rune) bool { return r == ' ' || r == ',' }),
			Issuer: c.FormValue("issuer"), AuthURL: c.FormValue("auth_url"), TokenURL: c.FormValue("token_url"),
			APIURL: c.FormValue("api_url"), AppID: c.FormValue("app_id"),
			StoreTokens: c.FormValue("store_tokens") == "true", RevokeURL: c.FormValue("revoke_url"),
		}
		// The secret field is write-only: left empty, the stored secret stays.
		if v := c.FormValue("client_secret"); v != "" || c.FormValue("clear_secret") == "on" {
			in.ClientSecret = &v
		}
		if _, err := a.ProviderConfig.Put(ctx, act, name, in); err != nil {
			ae := apierror.As(err)
			if len(ae.Fields) == 0 {
				return err
			}
			// Show the form again with a message by each wrong field.
			f, ferr := a.providerForm(name, in.Type)
			if ferr != nil {
				return err
			}
			if c.Param("name") == "new" {
				f.New, f.Name = true, name
			}
			f.DisplayName, f.ClientID, f.Order, f.Enabled, f.Scopes = in.DisplayName, in.ClientID, in.Order, in.Enabled, strings.Join(in.Scopes, " ")
			for i := range f.Fields {
				f.Fields[i].Value = c.FormValue(f.Fields[i].Key)
			}
			for _, fe := range ae.Fields {
				f.Errors[fe.Field] = fe.Message
			}
			return a.renderProviderPage(c, claims, f, http.StatusBadRequest)
		}
		return c.Redirect(http.StatusSeeOther, back)
	}
	return apierror.InvalidRequest("unknown action")
}

// inputOf is the stored provider of f as an Input, the secret kept.
func inputOf(f providerForm) providerconfig.Input {
	in := providerconfig.Input{Type: f.Type, DisplayName: f.DisplayName, Order: f.Order, Enabled: f.Enabled, ClientID: f.ClientID,
		Scopes: strings.Fields(f.Scopes)}
	for _, fl := range f.Fields {
		switch fl.Key {
		case providers.FieldIssuer:
			in.Issuer = fl.Value
		case providers.FieldAuthURL:
			in.AuthURL = fl.Value
		case providers.FieldTokenURL:
			in.TokenURL = fl.Value
		case providers.FieldAPIURL:
			in.APIURL = fl.Value
		case providers.FieldAppID:
			in.AppID = fl.Value
		case providers.FieldStoreTokens:
			in.StoreTokens = fl.Value == "true"
		case providers.FieldRevokeURL:
			in.RevokeURL = fl.Value
		}
	}
	if slices.Equal(in.Scopes, defaultScopesOf(f.Type)) {
		in.Scopes = nil
	}
	return in
}

func defaultScopesOf(typ string) []string {
	t, _ := providers.TypeOf(typ)
	return t.DefaultScopes
}

// liveProviders are the statuses of the providers that are configured
// (for the admin overview and its member filter).
func (a *API) liveProviders() []providers.Status {
	var out []providers.Status
	for _, st := range a.ProviderConfig.Statuses() {
		if st.Enabled || st.Source == providers.SourceAdmin {
			out = append(out, st)
		}
	}
	return out
}
