// Package vault is the provider token vault: for providers configured with
// STORE_TOKENS it keeps each member's provider grant (access token,
// refresh token, expiry, scopes), sealed under SECRETS_KEY_FILE, and hands
// the app a fresh access token on demand, renewing it first when it
// expires within the renewal window.
//
// Why it is built this way:
//   - One renewal per grant across every replica. A refresh token may be
//     single-use (GitHub rotates it at every renewal, Kakao near its end),
//     so two replicas renewing at once could leave the member with a dead
//     grant. Callers on one replica share one renewal (singleflight); the
//     replicas share a lease on the grant's row (store.ProviderTokens), and
//     those without it wait for the new version rather than renew too.
//   - The grant is sealed with the identity (provider, subject) as
//     associated data: a sealed grant copied to another identity's row does
//     not open.
//   - A provider that says the grant is gone (ErrGrantRevoked) marks the
//     identity "reconnect needed"; a provider that is down changes nothing,
//     and a token that is still valid is handed out meanwhile.
package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/secrets"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/providers"
)

// Purposes of the secrets keys: grants at rest, and grants parked in a
// pending link (see Park).
const (
	sealPurpose   = "authbroker provider token v1"
	parkPurpose   = "authbroker parked provider token v1"
	defaultPoll   = 25 * time.Millisecond
	defaultWindow = 10 * time.Minute
)

// Policy is the vault's resolved configuration.
type Policy struct {
	// RefreshBefore renews a token that expires within it
	// (PROVIDER_TOKEN_REFRESH_BEFORE).
	RefreshBefore time.Duration
	// Lease is how long one replica may take to renew before another may
	// try: longer than a provider call can last (PROVIDER_TIMEOUT).
	Lease time.Duration
	// Poll is how often a waiting caller looks for another replica's result.
	Poll time.Duration
	// BaseURL builds reauth URLs: BaseURL/auth/{provider}?reauth=….
	BaseURL string
}

// Deps is what New needs.
type Deps struct {
	Store     store.ProviderTokens
	Members   store.Members
	Audit     store.Audit
	Keys      *secrets.Keyring
	Providers *providers.Registry
	// ReturnTo checks a return URL against the allow-list; DefaultReturn is
	// where a reauth returns when the app names none ("" = the broker's page).
	ReturnTo      func(raw string) bool
	DefaultReturn string
	Policy        Policy
	Now           func() time.Time
	Logger        *slog.Logger
}

// Service is the vault. It is safe for concurrent use.
type Service struct {
	d   Deps
	pol Policy
	sf  singleflight.Group
}

// New returns a Service over d.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	pol := d.Policy
	if pol.Poll <= 0 {
		pol.Poll = defaultPoll
	}
	if pol.Lease <= 0 {
		pol.Lease = 30 * time.Second
	}
	if pol.RefreshBefore < 0 {
		pol.RefreshBefore = defaultWindow
	}
	return &Service{d: d, pol: pol}
}

// keeper returns the provider when it keeps tokens: configured with
// STORE_TOKENS and able to renew and revoke.
func (s *Service) keeper(provider string) (providers.TokenKeeper, bool) {
	e, ok := s.d.Providers.Entry(provider)
	if !ok || !e.Settings.StoreTokens || e.Provider == nil {
		return nil, false
	}
	k, ok := e.Provider.(providers.TokenKeeper)
	return k, ok
}

// Keeps reports whether the vault keeps provider's tokens.
func (s *Service) Keeps(provider string) bool {
	_, ok := s.keeper(provider)
	return ok
}

// sealed is a grant as it is sealed.
type sealed struct {
	AccessToken  string `json:"a"`
	RefreshToken string `json:"r,omitempty"`
	TokenType    string `json:"t,omitempty"`
}

func aad(provider, subject string) []byte { return []byte(provider + "\x00" + subject) }

func (s *Service) seal(provider, subject string, g providers.Grant) ([]byte, error) {
	b, err := json.Marshal(sealed{AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, TokenType: g.TokenType})
	if err != nil {
		return nil, err
	}
	return s.d.Keys.Seal(sealPurpose, b, aad(provider, subject))
}

// open returns the grant of rec, tokens and all.
func (s *Service) open(rec store.ProviderToken) (providers.Grant, error) {
	b, err := s.d.Keys.Open(sealPurpose, rec.Sealed, aad(rec.Provider, rec.Subject))
	if err != nil {
		return providers.Grant{}, fmt.Errorf("open provider token %s: %w", rec.Provider, err)
	}
	var v sealed
	if err := json.Unmarshal(b, &v); err != nil {
		return providers.Grant{}, fmt.Errorf("open provider token %s: %w", rec.Provider, err)
	}
	return providers.Grant{AccessToken: v.AccessToken, RefreshToken: v.RefreshToken, TokenType: v.TokenType, Scopes: rec.Scopes}, nil
}

// Keep stores the grant of a finished sign-in (or confirmed link) of
// member for its identity, when the provider keeps tokens. A grant
// without a refresh token keeps the one held, unless that one is known to
// be dead: Google answers a refresh token only on consent, and a later
// sign-in must not lose it.
func (s *Service) Keep(ctx context.Context, memberID string, p providers.Profile) error {
	if p.Grant == nil || p.Grant.AccessToken == "" || !s.Keeps(p.Provider) {
		return nil
	}
	g := *p.Grant
	if g.RefreshToken == "" {
		if old, err := s.d.Store.GetProviderToken(ctx, p.Provider, p.Subject); err == nil && old.HasRefresh && !old.ReauthNeeded {
			if og, err := s.open(old); err == nil {
				g.RefreshToken = og.RefreshToken
			}
		}
	}
	box, err := s.seal(p.Provider, p.Subject, g)
	if err != nil {
		return err
	}
	_, err = s.d.Store.PutProviderToken(ctx, store.ProviderToken{Provider: p.Provider, Subject: p.Subject, MemberID: memberID,
		Sealed: box, HasRefresh: g.RefreshToken != "", Expiry: s.expiry(g), Scopes: g.Scopes, UpdatedAt: s.d.Now().UTC()})
	if err != nil {
		return fmt.Errorf("keep provider token: %w", err)
	}
	return nil
}

// expiry stamps a grant's lifetime on the vault's clock (zero: none).
func (s *Service) expiry(g providers.Grant) time.Time {
	if g.Lifetime <= 0 {
		return time.Time{}
	}
	return s.d.Now().UTC().Add(g.Lifetime)
}

// Park seals a grant for a pending link (the one-time code store holds it
// until the member confirms): nil when there is none to keep.
func (s *Service) Park(p providers.Profile) ([]byte, error) {
	if p.Grant == nil || !s.Keeps(p.Provider) {
		return nil, nil
	}
	b, err := json.Marshal(struct {
		sealed
		Expiry time.Time `json:"e,omitzero"`
		Scopes []string  `json:"s,omitempty"`
	}{sealed{p.Grant.AccessToken, p.Grant.RefreshToken, p.Grant.TokenType}, s.expiry(*p.Grant), p.Grant.Scopes})
	if err != nil {
		return nil, err
	}
	return s.d.Keys.Seal(parkPurpose, b, aad(p.Provider, p.Subject))
}

// Unpark opens what Park sealed for p's identity (nil when box is empty).
func (s *Service) Unpark(p providers.Profile, box []byte) (*providers.Grant, error) {
	if len(box) == 0 {
		return nil, nil
	}
	b, err := s.d.Keys.Open(parkPurpose, box, aad(p.Provider, p.Subject))
	if err != nil {
		return nil, err
	}
	var v struct {
		sealed
		Expiry time.Time `json:"e,omitzero"`
		Scopes []string  `json:"s,omitempty"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	g := &providers.Grant{AccessToken: v.AccessToken, RefreshToken: v.RefreshToken, TokenType: v.TokenType, Scopes: v.Scopes}
	if !v.Expiry.IsZero() {
		// At least a second, so a token that expired while parked stays
		// an expiring one (and is renewed at first use).
		g.Lifetime = max(v.Expiry.Sub(s.d.Now()), time.Second)
	}
	return g, nil
}

// NeedsConsent reports whether a sign-in of the identity should ask the
// provider for consent again: the vault keeps the provider's tokens and
// holds no usable refresh token for it (Google hands one out only on
// consent).
func (s *Service) NeedsConsent(ctx context.Context, provider, subject string) bool {
	if subject == "" || !s.Keeps(provider) {
		return false
	}
	rec, err := s.d.Store.GetProviderToken(ctx, provider, subject)
	if err != nil {
		return errors.Is(err, store.ErrNotFound)
	}
	return !rec.HasRefresh || rec.ReauthNeeded
}

// Request is GET /auth/identities/{provider}/token.
type Request struct {
	MemberID string
	Provider string
	// Subject picks the identity when the member has several at provider.
	Subject string
	// Scopes the app needs; a grant without one of them is refused.
	Scopes []string
	// ReturnTo is where a reauth URL returns (an allowed return URL).
	ReturnTo string
}

// Token is a provider access token handed to the app.
type Token struct {
	AccessToken string
	TokenType   string
	// ExpiresAt is zero for a token that does not expire.
	ExpiresAt time.Time
	Scopes    []string
}

// Token returns a provider access token of the member's identity at
// req.Provider, renewed first when it expires within the renewal window.
func (s *Service) Token(ctx context.Context, req Request) (Token, error) {
	keeper, ok := s.keeper(req.Provider)
	if !ok {
		if _, known := s.d.Providers.Entry(req.Provider); !known {
			return Token{}, apierror.New(http.StatusNotFound, apierror.CodeNotFound, "no such provider", nil)
		}
		return Token{}, apierror.New(http.StatusNotFound, apierror.CodeNotFound,
			"the broker does not keep "+req.Provider+" tokens (the provider's STORE_TOKENS setting is off)", nil)
	}
	if req.ReturnTo != "" && (s.d.ReturnTo == nil || !s.d.ReturnTo(req.ReturnTo)) {
		return Token{}, apierror.InvalidRequest("return_to is not an allowed return URL")
	}
	subject, err := s.identity(ctx, req)
	if err != nil {
		return Token{}, err
	}
	rec, err := s.d.Store.GetProviderToken(ctx, req.Provider, subject)
	if errors.Is(err, store.ErrNotFound) {
		return Token{}, s.reauth(req, subject, "no "+req.Provider+" token is held for this identity yet: sign in there again")
	}
	if err != nil {
		return Token{}, apierror.Unavailable("get provider token", err)
	}
	if missing := missingScopes(rec.Scopes, req.Scopes); len(missing) > 0 {
		e := apierror.New(http.StatusForbidden, apierror.CodeInsufficientScope,
			"the "+req.Provider+" grant lacks the scope "+strings.Join(missing, " ")+" (add it to the provider's scopes; members then sign in again)", nil)
		e.Scope = strings.Join(missing, " ")
		return Token{}, e
	}
	if !s.due(rec) && !rec.ReauthNeeded {
		return s.hand(rec)
	}
	key := rec.Provider + "\x00" + rec.Subject
	v, err, _ := s.sf.Do(key, func() (any, error) {
		// The renewal outlives an impatient first caller: the others
		// share its result.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*s.pol.Lease)
		defer cancel()
		return s.renew(rctx, keeper, rec, req)
	})
	if err != nil {
		return Token{}, err
	}
	return v.(Token), nil
}

// identity resolves the subject of the member's identity at the provider.
func (s *Service) identity(ctx context.Context, req Request) (string, error) {
	ids, err := s.d.Members.ListIdentities(ctx, req.MemberID)
	if err != nil {
		return "", apierror.Unavailable("list identities", err)
	}
	var at []string
	for _, id := range ids {
		if id.Provider == req.Provider {
			at = append(at, id.Subject)
		}
	}
	switch {
	case req.Subject != "" && slices.Contains(at, req.Subject):
		return req.Subject, nil
	case req.Subject != "" || len(at) == 0:
		return "", apierror.New(http.StatusNotFound, apierror.CodeNotFound, "no such linked identity", nil)
	case len(at) > 1:
		return "", apierror.InvalidRequest(fmt.Sprintf("the member has %d %s identities: name one with subject", len(at), req.Provider))
	}
	return at[0], nil
}

// due reports whether rec's access token must be renewed before use.
func (s *Service) due(rec store.ProviderToken) bool {
	return !rec.Expiry.IsZero() && !s.d.Now().Add(s.pol.RefreshBefore).Before(rec.Expiry)
}

// valid reports whether rec's access token still works now.
func (s *Service) valid(rec store.ProviderToken) bool {
	return rec.Expiry.IsZero() || s.d.Now().Before(rec.Expiry)
}

func (s *Service) hand(rec store.ProviderToken) (Token, error) {
	g, err := s.open(rec)
	if err != nil {
		return Token{}, apierror.As(err)
	}
	typ := g.TokenType
	if typ == "" || strings.EqualFold(typ, "bearer") {
		typ = "Bearer"
	}
	return Token{AccessToken: g.AccessToken, TokenType: typ, ExpiresAt: rec.Expiry, Scopes: rec.Scopes}, nil
}

// renew renews rec's grant once across replicas: it takes the lease and
// renews, or waits for the replica that holds it.
func (s *Service) renew(ctx context.Context, keeper providers.TokenKeeper, rec store.ProviderToken, req Request) (Token, error) {
	for {
		switch {
		case rec.ReauthNeeded:
			return Token{}, s.reauth(req, rec.Subject, "the member revoked the "+req.Provider+" grant or it expired: sign in there again")
		case !s.due(rec):
			return s.hand(rec)
		case !rec.HasRefresh:
			if s.valid(rec) {
				return s.hand(rec)
			}
			return Token{}, s.reauth(req, rec.Subject, "the "+req.Provider+" token expired and no refresh token is held: sign in there again")
		}
		now := s.d.Now()
		won, err := s.d.Store.LeaseProviderToken(ctx, rec.Provider, rec.Subject, rec.Version, now, now.Add(s.pol.Lease))
		if err != nil {
			return s.stale(rec, apierror.Unavailable("lease provider token", err))
		}
		if won {
			return s.renewHeld(ctx, keeper, rec, req)
		}
		next, err := s.await(ctx, rec)
		if err != nil {
			return s.stale(rec, err)
		}
		if next.Version != rec.Version && !next.ReauthNeeded && s.valid(next) {
			// Another replica renewed: its token is the answer, even when
			// the provider's lifetime is shorter than the window.
			return s.hand(next)
		}
		rec = next
	}
}

// await polls until rec moves on (another replica's renewal landed) or
// its lease lapses (the holder died: the caller may take it).
func (s *Service) await(ctx context.Context, rec store.ProviderToken) (store.ProviderToken, error) {
	t := time.NewTicker(s.pol.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return rec, apierror.Unavailable("wait for the provider token renewal", ctx.Err())
		case <-t.C:
		}
		cur, err := s.d.Store.GetProviderToken(ctx, rec.Provider, rec.Subject)
		if errors.Is(err, store.ErrNotFound) {
			return rec, apierror.New(http.StatusNotFound, apierror.CodeNotFound, "no such linked identity", err)
		}
		if err != nil {
			return rec, apierror.Unavailable("get provider token", err)
		}
		if cur.Version != rec.Version || cur.LeaseUntil.IsZero() || !s.d.Now().Before(cur.LeaseUntil) {
			return cur, nil
		}
	}
}

// renewHeld renews at the provider while holding the lease.
func (s *Service) renewHeld(ctx context.Context, keeper providers.TokenKeeper, rec store.ProviderToken, req Request) (Token, error) {
	g, err := s.open(rec)
	if err != nil {
		_ = s.d.Store.ReleaseProviderToken(ctx, rec.Provider, rec.Subject, rec.Version)
		return Token{}, apierror.As(err)
	}
	ng, err := keeper.Renew(ctx, g.RefreshToken)
	if errors.Is(err, providers.ErrGrantRevoked) {
		s.d.Logger.WarnContext(ctx, "vault.grant_revoked", "provider", rec.Provider, "member_id", rec.MemberID, "error", err.Error())
		marked := rec
		marked.ReauthNeeded, marked.UpdatedAt = true, s.d.Now().UTC()
		if _, uerr := s.d.Store.UpdateProviderToken(ctx, marked, rec.Version); uerr != nil {
			_ = s.d.Store.ReleaseProviderToken(ctx, rec.Provider, rec.Subject, rec.Version)
		}
		return Token{}, s.reauth(req, rec.Subject, "the member revoked the "+req.Provider+" grant or it expired: sign in there again")
	}
	if err != nil {
		// The provider is down or refused for another reason: nothing
		// changes, the lease goes, the next call tries again.
		s.d.Logger.WarnContext(ctx, "vault.renew_failed", "provider", rec.Provider, "member_id", rec.MemberID, "error", err.Error())
		_ = s.d.Store.ReleaseProviderToken(ctx, rec.Provider, rec.Subject, rec.Version)
		return s.stale(rec, apierror.New(http.StatusServiceUnavailable, apierror.CodeUnavailable,
			req.Provider+" did not renew the token; try again", err))
	}
	if len(ng.Scopes) == 0 {
		ng.Scopes = rec.Scopes
	}
	box, err := s.seal(rec.Provider, rec.Subject, ng)
	if err != nil {
		_ = s.d.Store.ReleaseProviderToken(ctx, rec.Provider, rec.Subject, rec.Version)
		return Token{}, apierror.As(err)
	}
	next := rec
	next.Sealed, next.HasRefresh, next.Expiry, next.Scopes, next.ReauthNeeded, next.UpdatedAt =
		box, ng.RefreshToken != "", s.expiry(ng), ng.Scopes, false, s.d.Now().UTC()
	stored, err := s.d.Store.UpdateProviderToken(ctx, next, rec.Version)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		// The lease lapsed and another replica wrote (or the identity was
		// unlinked meanwhile): theirs stands.
		cur, gerr := s.d.Store.GetProviderToken(ctx, rec.Provider, rec.Subject)
		if gerr != nil {
			return Token{}, apierror.New(http.StatusNotFound, apierror.CodeNotFound, "no such linked identity", gerr)
		}
		return s.hand(cur)
	}
	if err != nil {
		// Renewed at the provider but not stored: hand the new token out;
		// a rotated refresh token may be lost, which the next call turns
		// into a reconnect rather than a wrong answer.
		s.d.Logger.ErrorContext(ctx, "vault.store_failed", "provider", rec.Provider, "member_id", rec.MemberID, "error", err.Error())
		return Token{AccessToken: ng.AccessToken, TokenType: bearerType(ng.TokenType), ExpiresAt: next.Expiry, Scopes: ng.Scopes}, nil
	}
	s.d.Logger.InfoContext(ctx, "vault.renewed", "provider", rec.Provider, "member_id", rec.MemberID, "rotated", ng.RefreshToken != g.RefreshToken)
	return s.hand(stored)
}

// stale answers a failed renewal: the held token while it still works
// (better a token with minutes left than none), else err.
func (s *Service) stale(rec store.ProviderToken, err error) (Token, error) {
	if s.valid(rec) && !rec.ReauthNeeded {
		return s.hand(rec)
	}
	return Token{}, err
}

func bearerType(t string) string {
	if t == "" || strings.EqualFold(t, "bearer") {
		return "Bearer"
	}
	return t
}

// reauth is the 409 that sends the member to sign in at the provider again.
func (s *Service) reauth(req Request, subject, desc string) error {
	q := url.Values{"reauth": {subject}}
	rt := req.ReturnTo
	if rt == "" {
		rt = s.d.DefaultReturn
	}
	if rt != "" {
		q.Set("return_to", rt)
	}
	e := apierror.New(http.StatusConflict, apierror.CodeProviderReauth, desc, nil)
	e.ReauthURL = s.pol.BaseURL + "/auth/" + url.PathEscape(req.Provider) + "?" + q.Encode()
	return e
}

func missingScopes(held, want []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(held, w) {
			out = append(out, w)
		}
	}
	return out
}
