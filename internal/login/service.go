// Package auth is the broker's login and token service: it runs a login
// from start to callback, turns it into a session and our own token pair,
// and rotates, revokes and inspects those tokens. Handlers translate HTTP to
// calls on Service and Service errors (*apierror.Error) back to HTTP; every rule lives
// here.
package login

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/authbroker/authbroker/internal/member"
	"github.com/authbroker/authbroker/internal/session"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/providers"
)

// Deps is everything the service needs; main builds it once.
type Deps struct {
	Policy      Policy
	Providers   *providers.Registry
	Members     *member.Service
	MemberStore store.Members
	States      store.States
	Codes       store.Codes
	Sessions    *session.Service
	// Vault keeps the provider tokens of sign-ins (internal/vault); nil
	// keeps none.
	Vault  Vault
	Logger *slog.Logger
	// Now is the clock; tests move it to exercise expiry and grace periods.
	Now func() time.Time
	// Observe receives login outcomes for metrics; may be nil.
	Observe Observer
}

// Policy is the login service's configuration, resolved once by the
// composition root (app.Build) from the environment.
type Policy struct {
	// BaseURL is the broker's public URL: link URLs and the admin page's
	// callback are under it.
	BaseURL string
	// ReturnURLs are the apps' allowed return URLs (ALLOWED_RETURN_URLS).
	ReturnURLs []string
	// StateTTL bounds a login from start to callback (LOGIN_STATE_TTL);
	// CodeTTL a one-time code, link code or pending link (CODE_TTL).
	StateTTL, CodeTTL time.Duration
	// Delivery is how a finished browser login reaches an app.
	Delivery Delivery
}

// Delivery is how a finished browser login reaches an app
// (TOKEN_DELIVERY). The admin page is not an app: its logins always end in
// a code of its own.
type Delivery int

const (
	// DeliverCode sends the browser to the app with a one-time code the
	// app redeems with its PKCE verifier (TOKEN_DELIVERY=code).
	DeliverCode Delivery = iota
	// DeliverCookies starts the session on the callback; the handler sets
	// its tokens as httpOnly cookies (TOKEN_DELIVERY=cookie).
	DeliverCookies
)

// DeliveryOf reads TOKEN_DELIVERY (validated by config): "cookie" or code.
func DeliveryOf(tokenDelivery string) Delivery {
	if tokenDelivery == "cookie" {
		return DeliverCookies
	}
	return DeliverCode
}

// Vault is what logins and links ask of the provider token vault
// (implemented by internal/vault).
type Vault interface {
	// Keep stores the grant a sign-in brought for member's identity.
	Keep(ctx context.Context, memberID string, p providers.Profile) error
	// NeedsConsent reports whether signing in as the identity should ask
	// the provider for consent again (no usable refresh token is held).
	NeedsConsent(ctx context.Context, provider, subject string) bool
	// Park seals a pending link's grant; Unpark opens it at confirmation.
	Park(p providers.Profile) ([]byte, error)
	Unpark(p providers.Profile, box []byte) (*providers.Grant, error)
}

// noVault keeps nothing.
type noVault struct{}

func (noVault) Keep(context.Context, string, providers.Profile) error      { return nil }
func (noVault) NeedsConsent(context.Context, string, string) bool          { return false }
func (noVault) Park(providers.Profile) ([]byte, error)                     { return nil, nil }
func (noVault) Unpark(providers.Profile, []byte) (*providers.Grant, error) { return nil, nil }

// Observer receives login outcomes worth counting. Implemented by the
// metrics package.
type Observer interface {
	Login(provider, result string)
}

type nopObserver struct{}

func (nopObserver) Login(string, string) {}

// Service runs logins and token operations. It is safe for concurrent use
// and holds no per-request state: any replica can finish what another began.
type Service struct {
	d   Deps
	log *slog.Logger
	obs Observer
	ret ReturnPolicy
	// admin matches the admin page's callback: logins returning there
	// always end in an admin code (see deliversCode).
	admin ReturnPolicy
}

// New returns a Service over d.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Vault == nil {
		d.Vault = noVault{}
	}
	obs := d.Observe
	if obs == nil {
		obs = nopObserver{}
	}
	adminCallback := d.Policy.BaseURL + "/admin/callback"
	return &Service{d: d, log: d.Logger, obs: obs,
		ret:   NewReturnPolicy(append([]string{adminCallback}, d.Policy.ReturnURLs...)),
		admin: NewReturnPolicy([]string{adminCallback}),
	}
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms; if it does we
		// must not continue with predictable values.
		panic("crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// lookupKey hashes a one-time value (state, code, binding) so a store read
// never reveals a value that can be presented back.
func lookupKey(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// s256 is the PKCE S256 transform (RFC 7636 §4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// validPKCEValue reports whether v has the RFC 7636 §4.1 shape of a
// code_verifier (43–128 unreserved characters); S256 challenges are 43.
func validPKCEValue(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}
