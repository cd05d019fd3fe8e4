package providers_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/providers/providertest"
)

// grantCase is one provider type's token lifecycle against its fake.
type grantCase struct {
	name string
	fake func(t *testing.T, opts ...providertest.Option) *providertest.Server
	open func(s providers.Settings, o providers.Options) (providers.Provider, error)
	// rotates: every renewal answers a new refresh token (GitHub).
	rotates bool
}

func grantCases() []grantCase {
	return []grantCase{
		{name: "google", fake: func(t *testing.T, o ...providertest.Option) *providertest.Server {
			return providertest.NewGoogle(t, o...)
		},
			open: func(s providers.Settings, o providers.Options) (providers.Provider, error) {
				return providers.NewGoogle(s, o)
			}},
		{name: "oidc", fake: func(t *testing.T, o ...providertest.Option) *providertest.Server {
			return providertest.NewOIDC(t, o...)
		},
			open: func(s providers.Settings, o providers.Options) (providers.Provider, error) {
				return providers.NewOIDC(s, o)
			}},
		{name: "kakao", fake: func(t *testing.T, o ...providertest.Option) *providertest.Server {
			return providertest.NewKakao(t, o...)
		},
			open: func(s providers.Settings, o providers.Options) (providers.Provider, error) {
				return providers.NewKakao(s, o)
			}},
		{name: "naver", fake: func(t *testing.T, o ...providertest.Option) *providertest.Server {
			return providertest.NewNaver(t, o...)
		},
			open: func(s providers.Settings, o providers.Options) (providers.Provider, error) {
				return providers.NewNaver(s, o)
			}},
		{name: "github", rotates: true, fake: func(t *testing.T, o ...providertest.Option) *providertest.Server {
			return providertest.NewGitHub(t, append(o, providertest.WithExpiringUserTokens())...)
		}, open: func(s providers.Settings, o providers.Options) (providers.Provider, error) {
			return providers.NewGitHub(s, o)
		}},
	}
}

// TestGrantLifecycle: a sign-in with STORE_TOKENS hands back a grant with
// a refresh token and an expiry; Renew answers a new access token (and a
// new refresh token only where the provider rotates); the provider's
// "grant gone" answer is ErrGrantRevoked whatever its dialect; Revoke ends
// the grant at the fake.
func TestGrantLifecycle(t *testing.T) {
	for _, tc := range grantCases() {
		t.Run(tc.name, func(t *testing.T) {
			fake := tc.fake(t, providertest.WithTokenLifetime(time.Hour))
			set := fake.Provider()
			set.StoreTokens = true
			p, err := tc.open(set, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			prof, _ := mustLogin(t, p)
			g := prof.Grant
			if g == nil || g.AccessToken == "" || g.RefreshToken == "" {
				t.Fatalf("grant = %+v, want access and refresh tokens", g)
			}
			if g.Lifetime != time.Hour {
				t.Fatalf("lifetime = %v, want the hour the fake gives", g.Lifetime)
			}
			keeper, ok := p.(providers.TokenKeeper)
			if !ok {
				t.Fatalf("%T does not keep tokens", p)
			}
			renewed, err := keeper.Renew(context.Background(), g.RefreshToken)
			if err != nil {
				t.Fatalf("renew: %v", err)
			}
			noSecrets(t, err, g.RefreshToken)
			if renewed.AccessToken == "" || renewed.AccessToken == g.AccessToken {
				t.Fatalf("renewed access token %q, want a new one", renewed.AccessToken)
			}
			if rotated := renewed.RefreshToken != g.RefreshToken; rotated != tc.rotates {
				t.Fatalf("refresh token rotated = %v, want %v", rotated, tc.rotates)
			}
			if fake.Renewals() != 1 {
				t.Fatalf("renewals at the fake = %d, want 1", fake.Renewals())
			}
			if err := keeper.Revoke(context.Background(), renewed); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if fake.Revocations() != 1 || fake.HasGrant(fake.User().ID) {
				t.Fatalf("revocations = %d, grant held = %v; want 1, false", fake.Revocations(), fake.HasGrant(fake.User().ID))
			}
			_, err = keeper.Renew(context.Background(), renewed.RefreshToken)
			if !errors.Is(err, providers.ErrGrantRevoked) {
				t.Fatalf("renew after revoke: err = %v, want ErrGrantRevoked", err)
			}
			noSecrets(t, err, renewed.RefreshToken, renewed.AccessToken)
		})
	}
}

// TestRenewProviderDownIsNotRevoked: a token endpoint answering 503 is a
// transient failure, never "the grant is gone".
func TestRenewProviderDownIsNotRevoked(t *testing.T) {
	for _, tc := range grantCases() {
		t.Run(tc.name, func(t *testing.T) {
			fake := tc.fake(t)
			set := fake.Provider()
			set.StoreTokens = true
			p, err := tc.open(set, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			prof, _ := mustLogin(t, p)
			fake.Fail(providertest.Token, providertest.Fault{Status: 503})
			_, err = p.(providers.TokenKeeper).Renew(context.Background(), prof.Grant.RefreshToken)
			if err == nil || errors.Is(err, providers.ErrGrantRevoked) {
				t.Fatalf("err = %v, want a failure that is not ErrGrantRevoked", err)
			}
		})
	}
}

// TestGoogleOfflineAccess: with STORE_TOKENS Google is asked for
// access_type=offline; prompt=consent only when the login asks for it
// (the vault does when it holds no refresh token), and the fake, like
// Google, hands a refresh token out again only on such a consent.
func TestGoogleOfflineAccess(t *testing.T) {
	fake := providertest.NewGoogle(t)
	set := fake.Provider()
	set.StoreTokens = true
	p, err := providers.NewGoogle(set, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, consent := range []bool{false, true} {
		raw, err := p.AuthCodeURL(context.Background(), providers.AuthRequest{State: "s", Consent: consent, LoginHint: "108"})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(raw)
		q := u.Query()
		if q.Get("access_type") != "offline" || q.Get("login_hint") != "108" {
			t.Fatalf("authorize query %v: want access_type=offline and the login hint", q)
		}
		if got := q.Get("prompt") == "consent"; got != consent {
			t.Fatalf("prompt=consent sent = %v, want %v", got, consent)
		}
	}
	first, _ := mustLogin(t, p)
	if first.Grant.RefreshToken == "" {
		t.Fatal("first consent: no refresh token")
	}
	again, _ := mustLogin(t, p)
	if again.Grant.RefreshToken != "" {
		t.Fatal("a repeated sign-in without prompt=consent got a refresh token; Google gives none")
	}
	set.StoreTokens = false
	off, _ := providers.NewGoogle(set, testOptions())
	raw, _ := off.AuthCodeURL(context.Background(), providers.AuthRequest{State: "s"})
	if u, _ := url.Parse(raw); u.Query().Has("access_type") {
		t.Fatal("access_type sent without STORE_TOKENS")
	}
}

// TestOIDCOfflineAccessScope: a generic issuer that lists offline_access
// is asked for it when tokens are kept, and only then.
func TestOIDCOfflineAccessScope(t *testing.T) {
	fake := providertest.NewOIDC(t)
	for _, keep := range []bool{false, true} {
		set := fake.Provider()
		set.StoreTokens = keep
		p, _ := providers.NewOIDC(set, testOptions())
		raw, err := p.AuthCodeURL(context.Background(), providers.AuthRequest{State: "s"})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(raw)
		scopes := strings.Fields(u.Query().Get("scope"))
		if got := slices.Contains(scopes, "offline_access"); got != keep {
			t.Fatalf("STORE_TOKENS=%v: offline_access requested = %v", keep, got)
		}
	}
}

// TestKakaoRotatesNearExpiry: Kakao answers a new refresh token only when
// less than a month of the old one is left.
func TestKakaoRotatesNearExpiry(t *testing.T) {
	clk := newClock()
	fake := providertest.NewKakao(t, providertest.WithClock(clk.Now))
	set := fake.Provider()
	set.StoreTokens = true
	p, _ := providers.NewKakao(set, testOptions())
	prof, _ := mustLogin(t, p)
	k := providers.TokenKeeper(p)
	g1, err := k.Renew(context.Background(), prof.Grant.RefreshToken)
	if err != nil || g1.RefreshToken != prof.Grant.RefreshToken {
		t.Fatalf("renew with two months left: err %v, rotated %v; want the same refresh token", err, g1.RefreshToken != prof.Grant.RefreshToken)
	}
	clk.Advance(35 * 24 * time.Hour)
	g2, err := k.Renew(context.Background(), g1.RefreshToken)
	if err != nil || g2.RefreshToken == g1.RefreshToken {
		t.Fatalf("renew with 25 days left: err %v, want a new refresh token", err)
	}
	if _, err := k.Renew(context.Background(), g1.RefreshToken); !errors.Is(err, providers.ErrGrantRevoked) {
		t.Fatalf("the replaced refresh token: err = %v, want ErrGrantRevoked", err)
	}
}
