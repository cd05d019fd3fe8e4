package providers

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Settings configure one provider: what an operator sets with its
// environment variables (GITHUB_CLIENT_ID, …: the env tags are the
// variable names after the provider's prefix) or what an admin enters on
// the admin page. Which settings a provider takes, which are required and
// which are secret is its Type's business.
type Settings struct {
	// Name is the provider's path segment, /auth/{Name}: the type's name
	// for a provider configured by environment, any free name for one an
	// admin added (so several OIDC issuers can coexist).
	Name string `env:"-"`
	// DisplayName is the button text; empty means the type's.
	DisplayName  string   `env:"NAME"`
	ClientID     string   `env:"CLIENT_ID"`
	ClientSecret string   `env:"CLIENT_SECRET"`
	Issuer       string   `env:"ISSUER"`
	AuthURL      string   `env:"AUTH_URL"`
	TokenURL     string   `env:"TOKEN_URL"`
	APIURL       string   `env:"API_URL"`
	Scopes       []string `env:"SCOPES" envSeparator:","`
	// AppID is Kakao's numeric app id (the native path checks that an
	// access token was issued to it).
	AppID string `env:"APP_ID"`
	// StoreTokens keeps members' provider tokens in the token vault
	// (encrypted) so the app can ask for a fresh one: GET
	// /auth/identities/{provider}/token.
	StoreTokens bool `env:"STORE_TOKENS"`
	// RevokeURL overrides the revocation endpoint (RFC 7009) the vault
	// calls when a member unlinks or is deleted (OpenID Connect types:
	// discovery's revocation_endpoint otherwise).
	RevokeURL string `env:"REVOKE_URL"`
}

// Field keys: the JSON names of Settings on the admin API, and (upper-cased,
// after the provider's prefix) the environment variable names.
const (
	FieldClientID     = "client_id"
	FieldClientSecret = "client_secret"
	FieldIssuer       = "issuer"
	FieldAuthURL      = "auth_url"
	FieldTokenURL     = "token_url"
	FieldAPIURL       = "api_url"
	FieldScopes       = "scopes"
	FieldAppID        = "app_id"
	FieldDisplayName  = "display_name"
	FieldStoreTokens  = "store_tokens"
	FieldRevokeURL    = "revoke_url"
)

// Field is one setting a provider type takes.
type Field struct {
	Key      string `json:"key"`
	Label    string `json:"label"`
	Required bool   `json:"required,omitempty"`
	// Secret settings are write-only: never shown, never logged.
	Secret bool `json:"secret,omitempty"`
	// URL settings must be absolute http(s) URLs (https in production).
	URL bool `json:"url,omitempty"`
	// Bool settings are on/off ("true" or empty).
	Bool bool `json:"bool,omitempty"`
	// Default is what an empty value means (a public endpoint), shown as a hint.
	Default string `json:"default,omitempty"`
	Help    string `json:"help,omitempty"`
}

// Type is a kind of provider: everything the broker knows about it in one
// place (the provider's file), so the registry, the login page and the
// admin page repeat none of it.
type Type struct {
	Name        string `json:"type"`
	DisplayName string `json:"display_name"`
	// Mark is the short sign on the type's login button.
	Mark   string  `json:"mark"`
	Fields []Field `json:"fields"`
	// PKCE reports whether the login service sends an S256 challenge.
	PKCE bool `json:"pkce"`
	// DefaultScopes are requested when Settings.Scopes is empty.
	DefaultScopes []string `json:"default_scopes,omitempty"`
	// Open builds a provider from settings the registry has validated.
	Open func(s Settings, o Options) (Provider, error) `json:"-"`
}

// field returns the type's field with key, if it takes it.
func (t Type) field(key string) (Field, bool) {
	i := slices.IndexFunc(t.Fields, func(f Field) bool { return f.Key == key })
	if i < 0 {
		return Field{}, false
	}
	return t.Fields[i], true
}

// Value is the value of setting key in s ("" when empty; scopes joined by
// spaces).
func (s Settings) Value(key string) string {
	switch key {
	case FieldClientID:
		return s.ClientID
	case FieldClientSecret:
		return s.ClientSecret
	case FieldIssuer:
		return s.Issuer
	case FieldAuthURL:
		return s.AuthURL
	case FieldTokenURL:
		return s.TokenURL
	case FieldAPIURL:
		return s.APIURL
	case FieldScopes:
		return strings.Join(s.Scopes, " ")
	case FieldAppID:
		return s.AppID
	case FieldDisplayName:
		return s.DisplayName
	case FieldStoreTokens:
		if s.StoreTokens {
			return "true"
		}
	case FieldRevokeURL:
		return s.RevokeURL
	}
	return ""
}

// Problem is one thing wrong with a provider's settings, by field.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Missing lists the required fields of t that s leaves empty.
func (t Type) Missing(s Settings) []string {
	var out []string
	for _, f := range t.Fields {
		if f.Required && s.Value(f.Key) == "" {
			out = append(out, f.Key)
		}
	}
	return out
}

// scopeToken is RFC 6749 §3.3's scope-token: printable ASCII but space,
// double quote and backslash.
var scopeToken = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)

// Check validates s for t, one problem per field: URL shape (https when
// production), scope syntax, settings this type does not take. Required
// fields are not checked here (see Missing): a provider configured by
// environment with one missing stays off rather than stopping start-up.
func (t Type) Check(s Settings, production bool) []Problem {
	var out []Problem
	for _, key := range []string{FieldIssuer, FieldAuthURL, FieldTokenURL, FieldAPIURL, FieldRevokeURL} {
		v := s.Value(key)
		if v == "" {
			continue
		}
		if _, ok := t.field(key); !ok {
			out = append(out, Problem{key, fmt.Sprintf("%s does not take this setting", t.DisplayName)})
			continue
		}
		u, err := url.Parse(v)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			out = append(out, Problem{key, fmt.Sprintf("%q is not an absolute http(s) URL without credentials, query or fragment", v)})
		case production && u.Scheme != "https":
			out = append(out, Problem{key, fmt.Sprintf("%q must be https when APP_ENV=production", v)})
		}
	}
	for _, sc := range s.Scopes {
		if !scopeToken.MatchString(sc) {
			out = append(out, Problem{FieldScopes, fmt.Sprintf("%q is not a scope (RFC 6749 §3.3: printable ASCII, no spaces, quotes or backslashes)", sc)})
			break
		}
	}
	if len(s.Scopes) > 0 {
		if _, ok := t.field(FieldScopes); !ok {
			out = append(out, Problem{FieldScopes, fmt.Sprintf("%s takes its scopes from its own console", t.DisplayName)})
		}
	}
	if s.StoreTokens {
		if _, ok := t.field(FieldStoreTokens); !ok {
			out = append(out, Problem{FieldStoreTokens, fmt.Sprintf("%s does not take this setting", t.DisplayName)})
		}
	}
	if s.AppID != "" {
		if _, ok := t.field(FieldAppID); !ok {
			out = append(out, Problem{FieldAppID, fmt.Sprintf("%s does not take this setting", t.DisplayName)})
		} else if strings.Trim(s.AppID, "0123456789") != "" {
			out = append(out, Problem{FieldAppID, fmt.Sprintf("%q is not a numeric app id", s.AppID)})
		}
	}
	return out
}

// scopes is s.Scopes, or the type's defaults.
func (t Type) scopes(s Settings) []string {
	if len(s.Scopes) > 0 {
		return slices.Clone(s.Scopes)
	}
	return slices.Clone(t.DefaultScopes)
}

// Fields most types share.

func clientIDField(help string) Field {
	return Field{Key: FieldClientID, Label: "Client ID", Required: true, Help: help}
}

func clientSecretField(required bool, help string) Field {
	return Field{Key: FieldClientSecret, Label: "Client secret", Required: required, Secret: true, Help: help}
}

func urlField(key, label, def string) Field {
	return Field{Key: key, Label: label, URL: true, Default: def}
}

func storeTokensField() Field {
	return Field{Key: FieldStoreTokens, Label: "Keep members' tokens", Bool: true,
		Help: "store members' provider tokens, encrypted, so the app can get a fresh one (GET /auth/identities/{provider}/token)"}
}

func scopesField(def string) Field {
	return Field{Key: FieldScopes, Label: "Scopes", Default: def, Help: "space- or comma-separated"}
}
