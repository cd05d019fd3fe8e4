package vault_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/secrets"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/testenv"
	"github.com/authbroker/authbroker/internal/vault"
	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/providers/providertest"
	"golang.org/x/oauth2"
)

const (
	brokerURL = "https://broker.example"
	appURL    = "https://app.example/done"
	window    = 10 * time.Minute
)

// replica is one broker's vault: its own registry and store handle over a
// shared database, all on one test clock.
type replica struct {
	v     *vault.Service
	db    *sqlstore.Store
	reg   *providers.Registry
	clock *clock.Fake
}

// world is a fake provider, a database and the secrets key the replicas share.
type world struct {
	fake  *providertest.Server
	typ   string
	dbURL string
	keys  *secrets.Keyring
	clock *clock.Fake
}

func newWorld(t testing.TB, dbURL string, fake *providertest.Server, typ string, clk *clock.Fake) *world {
	keys, err := secrets.Parse([]byte(secrets.NewKeyLine()))
	if err != nil {
		t.Fatal(err)
	}
	return &world{fake: fake, typ: typ, dbURL: dbURL, keys: keys, clock: clk}
}

func (w *world) replica(t testing.TB, storeTokens bool) *replica {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), w.dbURL, sqlstore.WithClock(w.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	set := w.fake.Provider()
	set.Name, set.StoreTokens = w.typ, storeTokens
	reg, err := providers.NewRegistry(providers.Setup{Env: []providers.Configured{{Type: w.typ, Settings: set, Enabled: true, Source: providers.SourceEnv}}},
		nil, providers.WithBaseURL(brokerURL, 3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	v := vault.New(vault.Deps{Store: db, Members: db, Audit: db, Keys: w.keys, Providers: reg,
		ReturnTo: func(raw string) bool { return raw == appURL }, DefaultReturn: appURL,
		Policy: vault.Policy{RefreshBefore: window, Lease: 5 * time.Second, Poll: 5 * time.Millisecond, BaseURL: brokerURL},
		Now:    w.clock.Now})
	return &replica{v: v, db: db, reg: reg, clock: w.clock}
}

// signIn runs a browser sign-in at the fake and stores member, identity
// and grant as the login service does.
func (r *replica) signIn(t testing.TB, name string) (store.Member, providers.Profile) {
	t.Helper()
	p, _ := r.reg.Get(name)
	verifier := oauth2.GenerateVerifier()
	raw, err := p.AuthCodeURL(context.Background(), providers.AuthRequest{State: "st", Nonce: "n", CodeChallenge: oauth2.S256ChallengeFromVerifier(verifier)})
	if err != nil {
		t.Fatal(err)
	}
	cb := providertest.SignIn(t, raw)
	prof, err := p.Exchange(context.Background(), providers.Callback{Code: cb.Query().Get("code"), State: "st", PKCEVerifier: verifier, Nonce: "n"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.db.FindIdentity(context.Background(), prof.Provider, prof.Subject)
	member := store.Member{ID: m.MemberID}
	if errors.Is(err, store.ErrNotFound) {
		now := r.clock.Now()
		member = store.Member{ID: testenv.RandomName("m"), Role: store.RoleUser, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
		if err := r.db.CreateMember(context.Background(), member, store.Identity{Provider: prof.Provider, Subject: prof.Subject,
			MemberID: member.ID, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.v.Keep(context.Background(), member.ID, prof); err != nil {
		t.Fatal(err)
	}
	return member, prof
}

func wantCode(t *testing.T, err error, status int, code string) *apierror.Error {
	t.Helper()
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Status != status || ae.Code != code {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
	return ae
}

func sqliteWorld(t *testing.T, fake *providertest.Server, typ string, clk *clock.Fake) *world {
	return newWorld(t, testenv.SQLiteURL(t), fake, typ, clk)
}

func TestFreshTokenIsHandedOutAsIs(t *testing.T) {
	clk := clock.NewFake(time.Now())
	fake := providertest.NewGoogle(t, providertest.WithClock(clk.Now))
	r := sqliteWorld(t, fake, "google", clk).replica(t, true)
	m, prof := r.signIn(t, "google")
	tok, err := r.v.Token(context.Background(), vault.Request{MemberID: m.ID, Provider: "google"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != prof.Grant.AccessToken || tok.TokenType != "Bearer" || !tok.ExpiresAt.Equal(clk.Now().UTC().Add(prof.Grant.Lifetime).Truncate(time.Microsecond)) {
		t.Fatalf("token %+v, want the stored one (lifetime %v)", tok, prof.Grant.Lifetime)
	}
	if fake.Renewals() != 0 {
		t.Fatalf("%d renewals for a fresh token", fake.Renewals())
	}
}

func TestTokenInsideTheWindowIsRenewedFirst(t *testing.T) {
	clk := clock.NewFake(time.Now())
	fake := providertest.NewGoogle(t, providertest.WithClock(clk.Now))
	r := sqliteWorld(t, fake, "google", clk).replica(t, true)
	m, prof := r.signIn(t, "google")
	clk.Advance(time.Hour - window + time.Second) // 9m59s left of the hour
	tok, err := r.v.Token(context.Background(), vault.Request{MemberID: m.ID, Provider: "google"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == prof.Grant.AccessToken || fake.Renewals() != 1 {
		t.Fatalf("renewals %d, same token %v: want one renewal and a new token", fake.Renewals(), tok.AccessToken == prof.Grant.AccessToken)
	}
	if got := tok.ExpiresAt.Sub(clk.Now()); got < 59*time.Minute {
		t.Fatalf("renewed token expires in %v, want about an hour", got)
	}
	// The fake's API takes the renewed token (it is the provider's own).
	again, _ := r.v.Token(context.Background(), vault.Request{MemberID: m.ID, Provider: "google"})
	if again.AccessToken != tok.AccessToken || fake.Renewals() != 1 {
		t.Fatal("the renewed token was not kept")
	}
}

// TestOneRenewalAcrossReplicas: 50 concurrent calls, half on each of two
// replicas sharing the database, cause one refresh at the provider, and
// every caller gets the same new token.
func TestOneRenewalAcrossReplicas(t *testing.T) {
	for _, b := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", testenv.SQLiteURL}, {"postgres", testenv.PostgresURL}} {
		t.Run(b.name, func(t *testing.T) {
			clk := clock.NewFake(time.Now())
			fake := providertest.NewGoogle(t, providertest.WithClock(clk.Now))
			w := newWorld(t, b.url(t), fake, "google", clk)
			a, bb := w.replica(t, true), w.replica(t, true)
			m, _ := a.signIn(t, "google")
			// Slow the provider so the calls really overlap.
			fake.Fail(providertest.Token, providertest.Fault{Delay: 150 * time.Millisecond})
			clk.Advance(55 * time.Minute)
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				tokens = map[string]int{}
			)
			for i := range 50 {
				r := a
				if i%2 == 1 {
					r = bb
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					tok, err := r.v.Token(context.Background(), vault.Request{MemberID: m.ID, Provider: "google"})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					tokens[tok.AccessToken]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if fake.Renewals() != 1 {
				t.Fatalf("%d refresh requests at the provider, want 1", fake.Renewals())
			}
			if len(tokens) != 1 {
				t.Fatalf("callers got %d different tokens, want 1: %v", len(tokens), tokens)
			}
		})
	}
}

func TestRevokedGrantAsksForReconnect(t *testing.T) {
	clk := clock.NewFake(time.Now())
	fake := providertest.NewGoogle(t, providertest.WithClock(clk.Now))
	r := sqliteWorld(t, fake, "google", clk).replica(t, true)
	m, prof := r.signIn(t, "google")
	fake.RevokeGrants(prof.Subject)
	clk.Advance(55 * time.Minute)
	_, err := r.v.Token(context.Background(), vault.Request{MemberID: m.ID, Provider: "google", ReturnTo: appURL})
	ae := wantCode(t, err, http.StatusConflict, apierror.CodeProviderReauth)
	u, perr := url.Parse(ae.ReauthURL)
	if perr != nil || u.Path != "/auth/google" || u.Query().Get("reauth") != prof.Subject || u.Query().Get("return_to") != appURL ||
		!strings.HasPrefix(ae.ReauthURL, brokerURL) {
		t.Fatalf("reauth_url %q", ae.ReauthURL)
	}
	rec, _ := r.db.GetProviderToken(context.Background(), "google", prof.Subject)
	if !rec.ReauthNeeded {
		t.Fatal("the identity is not marked reconnect-needed")
	}
	before := fake.Renewals()
	if _, err := r.v.Token(context.Background(), vault.Request{MemberID: m.ID, Provider: "google"}); err == nil {
		t.Fatal("a marked identity handed out a token")
	}
	if fake.Renewals() != before || fake.Count(providertest.Token) != 2 {
		// sign-in + the one refused refresh
		t.Fatalf("the provider was asked again (%d token requests)", fake.Count(providertest.Token))
	}
	if !r.v.NeedsConsent(context.Background(), "google", prof.Subject) {
		t.Fatal("a reconnect of a revoked grant does not ask for consent")
	}
	// Signing in again (with consent) stores a working grant.
	_, prof2 := r.signInConsent(t)
	if prof2.Grant.RefreshToken == "" {
		t.Fatal("the consent sign-in got no refresh token")
	}
	if _, err := r.v.Token(context.Background(), vault.Request{MemberID: m.ID, Provider: "google"}); err != nil {
		t.Fatalf("after reconnect: %v", err)
	}
}

// signInConsent signs in as the reauth URL does: prompt=consent.
func (r *replica) signInConsent(t *testing.T) (store.Member, providers.Profile) {
	t.Helper()
	p, _ := r.reg.Get("google")
	verifier := oauth2.GenerateVerifier()
	raw, _ := p.AuthCodeURL(context.Background(), providers.AuthRequest{State: "st", Nonce: "n", Consent: true,
		CodeChallenge: oauth2.S256ChallengeFromVerifier(verifier)})
	cb := providertest.SignIn(t, raw)
	prof, err := p.Exchange(context.Background(), providers.Callback{Code: cb.Query().Get("code"), State: "st", PKCEVerifier: verifier, Nonce: "n"})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := r.db.FindIdentity(context.Background(), prof.Provider, prof.Subject)
	if err := r.v.Keep(context.Background(), id.MemberID, prof); err != nil {
		t.Fatal(err)
	}
	return store.Member{ID: id.MemberID}, prof
}

func TestProviderDown(t *testing.T) {
	clk := clock.NewFake(time.Now())
	fake := providertest.NewKakao(t, providertest.WithClock(clk.Now), providertest.WithTokenLifetime(time.Hour))
	r := sqliteWorld(t, fake, "kakao", clk).replica(t, true)
	m, prof := r.signIn(t, "kakao")
	before, _ := r.db.GetProviderToken(context.Background(), "kakao", prof.Subject)
	fake.Fail(providertest.Token, providertest.Fault{Status: 503})

	// Inside the window but still valid: the held token, untouched.
	clk.Advance(55 * time.Minute)
	tok, err := r.v.Token(context.Background(), vault.Request{MemberID: m.ID, Provider: "kakao"})
	if err != nil || tok.AccessToken != prof.Grant.AccessToken {
		t.Fatalf("valid token while the provider is down: %v, same token %v", err, tok.AccessToken == prof.Grant.AccessToken)
	}
	// Expired: 503, and nothing changed.
	clk.Advance(10 * time.Minute)
	_, err = r.v.Token(context.Background(), vault.Request{MemberID: m.ID, Provider: "kakao"})
	wantCode(t, err, http.StatusServiceUnavailable, apierror.CodeUnavailable)
	after, _ := r.db.GetProviderToken(context.Background(), "kakao", prof.Subject)
	if after.Version != before.Version || string(after.Sealed) != string(before.Sealed) || after.ReauthNeeded || !after.LeaseUntil.IsZero() {
		t.Fatalf("the held grant changed: %+v -> %+v", before, after)
	}
	// The provider is back: the same call works without a restart.
	fake.Reset()
	if _, err := r.v.Token(context.Background(), vault.Request{MemberID: m.ID, Provider: "kakao"}); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestRequestChecks(t *testing.T) {
	clk := clock.NewFake(time.Now())
	fake := providertest.NewGoogle(t, providertest.WithClock(clk.Now))
	w := sqliteWorld(t, fake, "google", clk)
	r := w.replica(t, true)
	m, _ := r.signIn(t, "google")
	ctx := context.Background()

	_, err := r.v.Token(ctx, vault.Request{MemberID: m.ID, Provider: "google", Scopes: []string{"email", "https://www.googleapis.com/auth/calendar"}})
	ae := wantCode(t, err, http.StatusForbidden, apierror.CodeInsufficientScope)
	if ae.Scope != "https://www.googleapis.com/auth/calendar" {
		t.Fatalf("scope named %q", ae.Scope)
	}
	if _, err := r.v.Token(ctx, vault.Request{MemberID: m.ID, Provider: "google", Scopes: []string{"email"}}); err != nil {
		t.Fatalf("a held scope: %v", err)
	}
	wantCode(t, errOf(r.v.Token(ctx, vault.Request{MemberID: m.ID, Provider: "github"})), http.StatusNotFound, apierror.CodeNotFound)
	wantCode(t, errOf(r.v.Token(ctx, vault.Request{MemberID: "someone-else", Provider: "google"})), http.StatusNotFound, apierror.CodeNotFound)
	wantCode(t, errOf(r.v.Token(ctx, vault.Request{MemberID: m.ID, Provider: "google", Subject: "not-mine"})), http.StatusNotFound, apierror.CodeNotFound)
	wantCode(t, errOf(r.v.Token(ctx, vault.Request{MemberID: m.ID, Provider: "google", ReturnTo: "https://evil.example/"})), http.StatusBadRequest, apierror.CodeInvalidRequest)

	// A second Google account of the same member: subject is required.
	now := clk.Now()
	if err := r.db.LinkIdentity(ctx, store.Identity{Provider: "google", Subject: "second", MemberID: m.ID, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, errOf(r.v.Token(ctx, vault.Request{MemberID: m.ID, Provider: "google"})), http.StatusBadRequest, apierror.CodeInvalidRequest)
	// Linked but no token held: reconnect.
	wantCode(t, errOf(r.v.Token(ctx, vault.Request{MemberID: m.ID, Provider: "google", Subject: "second"})), http.StatusConflict, apierror.CodeProviderReauth)

	// STORE_TOKENS off: not kept, and Keep stores nothing.
	off := w.replica(t, false)
	wantCode(t, errOf(off.v.Token(ctx, vault.Request{MemberID: m.ID, Provider: "google"})), http.StatusNotFound, apierror.CodeNotFound)
}

func errOf(_ vault.Token, err error) error { return err }

// TestKeepHoldsOnToTheRefreshToken: Google answers a later sign-in without
// a refresh token; the one held stays.
func TestKeepHoldsOnToTheRefreshToken(t *testing.T) {
	clk := clock.NewFake(time.Now())
	fake := providertest.NewGoogle(t, providertest.WithClock(clk.Now))
	r := sqliteWorld(t, fake, "google", clk).replica(t, true)
	m, first := r.signIn(t, "google")
	_, second := r.signIn(t, "google")
	if first.Grant.RefreshToken == "" || second.Grant.RefreshToken != "" {
		t.Fatalf("fake: first refresh token %q, second %q", first.Grant.RefreshToken, second.Grant.RefreshToken)
	}
	clk.Advance(55 * time.Minute)
	tok, err := r.v.Token(context.Background(), vault.Request{MemberID: m.ID, Provider: "google"})
	if err != nil || tok.AccessToken == second.Grant.AccessToken {
		t.Fatalf("renewal with the held refresh token: %v", err)
	}
	if r.v.NeedsConsent(context.Background(), "google", first.Subject) {
		t.Fatal("consent asked although a refresh token is held")
	}
}

// TestRemovingRevokesAtTheProvider: unlink (or member deletion) revokes
// the grant there, with an audit entry; a failed removal revokes nothing.
func TestRemovingRevokesAtTheProvider(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		fake func(t *testing.T, o ...providertest.Option) *providertest.Server
	}{
		{"google", func(t *testing.T, o ...providertest.Option) *providertest.Server {
			return providertest.NewGoogle(t, o...)
		}},
		{"kakao", func(t *testing.T, o ...providertest.Option) *providertest.Server {
			return providertest.NewKakao(t, o...)
		}},
		{"naver", func(t *testing.T, o ...providertest.Option) *providertest.Server {
			return providertest.NewNaver(t, o...)
		}},
		{"github", func(t *testing.T, o ...providertest.Option) *providertest.Server {
			return providertest.NewGitHub(t, o...)
		}},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			clk := clock.NewFake(time.Now())
			fake := tc.fake(t, providertest.WithClock(clk.Now))
			r := sqliteWorld(t, fake, tc.typ, clk).replica(t, true)
			m, prof := r.signIn(t, tc.typ)
			ctx := context.Background()
			refused := errors.New("last identity")
			if err := r.v.Removing(ctx, vault.Actor{MemberID: m.ID}, m.ID, tc.typ, prof.Subject, func() error { return refused }); err != refused {
				t.Fatalf("err = %v", err)
			}
			if fake.Revocations() != 0 {
				t.Fatal("revoked although the removal failed")
			}
			err := r.v.Removing(ctx, vault.Actor{MemberID: m.ID, IP: "192.0.2.1"}, m.ID, tc.typ, prof.Subject, func() error {
				return r.db.DeleteMember(ctx, m.ID)
			})
			if err != nil {
				t.Fatal(err)
			}
			if fake.Revocations() != 1 {
				t.Fatalf("revocations at the fake = %d, want 1", fake.Revocations())
			}
			entries, _ := r.db.ListAudit(ctx, 0, 10)
			if len(entries) == 0 || entries[0].Action != "provider_token.revoke" || !strings.Contains(string(entries[0].Detail), `"result":"revoked"`) {
				t.Fatalf("audit %+v", entries)
			}
			for _, secret := range []string{prof.Grant.AccessToken, prof.Grant.RefreshToken} {
				if secret != "" && strings.Contains(string(entries[0].Detail), secret) {
					t.Fatal("the audit entry carries a token")
				}
			}
		})
	}
}

// TestSealedAtRest: the stored record opens only for its own identity and
// holds no token in clear.
func TestSealedAtRest(t *testing.T) {
	clk := clock.NewFake(time.Now())
	fake := providertest.NewGoogle(t, providertest.WithClock(clk.Now))
	r := sqliteWorld(t, fake, "google", clk).replica(t, true)
	m, prof := r.signIn(t, "google")
	rec, err := r.db.GetProviderToken(context.Background(), "google", prof.Subject)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{prof.Grant.AccessToken, prof.Grant.RefreshToken} {
		if strings.Contains(string(rec.Sealed), secret) {
			t.Fatal("a token is stored in clear")
		}
	}
	statuses, err := r.v.Statuses(context.Background(), m.ID)
	if err != nil || len(statuses) != 1 || !statuses[0].HasRefreshToken || statuses[0].ReauthNeeded {
		t.Fatalf("statuses %+v %v", statuses, err)
	}
}

// TestResealUnderANewKey: after a new secrets key is put first, Reseal
// re-seals every grant (once), and a vault holding only the new key then
// hands the tokens out.
func TestResealUnderANewKey(t *testing.T) {
	clk := clock.NewFake(time.Now())
	fake := providertest.NewGoogle(t, providertest.WithClock(clk.Now))
	oldLine, newLine := secrets.NewKeyLine(), secrets.NewKeyLine()
	w := sqliteWorld(t, fake, "google", clk)
	parse := func(lines ...string) *secrets.Keyring {
		kr, err := secrets.Parse([]byte(strings.Join(lines, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	w.keys = parse(oldLine)
	m, prof := w.replica(t, true).signIn(t, "google")

	w.keys = parse(newLine, oldLine)
	rotated := w.replica(t, true)
	if n, err := rotated.v.Reseal(context.Background()); err != nil || n != 1 {
		t.Fatalf("reseal: %d %v, want 1", n, err)
	}
	if n, err := rotated.v.Reseal(context.Background()); err != nil || n != 0 {
		t.Fatalf("second reseal: %d %v, want 0", n, err)
	}
	w.keys = parse(newLine)
	tok, err := w.replica(t, true).v.Token(context.Background(), vault.Request{MemberID: m.ID, Provider: "google"})
	if err != nil || tok.AccessToken != prof.Grant.AccessToken {
		t.Fatalf("with the new key only: %v", err)
	}
}
