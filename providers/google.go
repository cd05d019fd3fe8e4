package providers

// GoogleIssuer is Google's OpenID Connect issuer, the default of
// GOOGLE_ISSUER. Discovery lives at GoogleIssuer + "/.well-known/openid-configuration".
const GoogleIssuer = "https://accounts.google.com"

// NewGoogle builds Google sign-in: OpenID Connect with discovery from
// GOOGLE_ISSUER (tests and proxies point it elsewhere), scopes
// "openid email profile", PKCE S256, and the id_token verified by go-oidc
// plus our nonce check (see OIDC).
//
// What is particular to Google (Google Identity, "OpenID Connect" guide and
// "OpenID Connect API reference", developers.google.com/identity/openid-connect):
//   - The discovery document's issuer is https://accounts.google.com, but
//     id_tokens may still carry the legacy iss "accounts.google.com";
//     go-oidc accepts exactly that pair for this issuer and no other.
//   - email_verified is a real assertion (Google verified the address), so
//     Google logins can link to existing members by email.
//   - Google accepts client_secret_basic and client_secret_post; discovery
//     says so and basic is used.
//   - A web client always has a secret: GOOGLE_CLIENT_SECRET is required.
func NewGoogle(cfg Settings, o Options) (*OIDC, error) {
	if cfg.Issuer == "" {
		cfg.Issuer = GoogleIssuer
	}
	return newOIDC(GoogleType(), cfg, o), nil
}

// GoogleType is Sign in with Google.
func GoogleType() Type {
	return Type{
		Name: "google", Mark: "G", DisplayName: "Google", PKCE: true, DefaultScopes: []string{"openid", "email", "profile"},
		Fields: []Field{
			clientIDField("of an OAuth client of type Web application"),
			clientSecretField(true, ""),
			urlField(FieldIssuer, "Issuer", GoogleIssuer),
			urlField(FieldRevokeURL, "Revocation URL", "from discovery"),
			scopesField("openid email profile"),
			storeTokensField(),
		},
		Open: func(s Settings, o Options) (Provider, error) { return NewGoogle(s, o) },
	}
}
