// Package member turns a provider's answer into a member of the
// application: the oauth2Process step of a login (BRIEF §4), and the
// linking and unlinking of further providers by a signed-in member.
//
// The rules, in order, for a sign-in with profile p:
//  1. (p.Provider, p.Subject) is linked: that member signs in; the identity
//     takes the provider's latest answer and the member's blanks are filled.
//  2. Else, with LINK_BY_EMAIL=verified, a provider-verified p.Email that a
//     member has verified too: the identity is linked to that member.
//  3. Else a new member is created with p as its first identity.
//
// A verified email in ADMIN_EMAILS makes the member an admin. A disabled
// member is refused before anything is written. Concurrent first logins of
// one identity end with one member: the store's uniqueness of (provider,
// subject) decides, and the losers look again and find the winner.
//
// A member record is written with optimistic concurrency (store.Members.
// UpdateMember): a login changes only the profile blanks, the email
// verification, last_login_at and the ADMIN_EMAILS promotion, re-applied to
// a fresh read whenever the record changed in between. Status and role as
// an admin set them concurrently are never written back over, and a member
// disabled during a login fails that login.
package member

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/authbroker/authbroker/internal/email"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/providers"
)

// ErrDisabled is returned when the member a login or link resolves to is
// disabled. The member record is left as the admin set it. A sign-in
// refused this way has written nothing; a link (or a login that links by
// email) that an admin disables concurrently may have linked the identity,
// which gives nobody access: every login of a disabled member is refused.
var ErrDisabled = errors.New("member disabled")

// ErrInvalidProfile is returned for a profile without provider or subject:
// a provider bug, never something to store.
var ErrInvalidProfile = errors.New("profile without provider or subject")

// attempts bounds how often a login looks again after losing a race (a
// concurrent first login, link or delete). One retry settles a lost race;
// the rest absorb the rare case of a race lost twice. (Member writes need
// no retry here: the store's UpdateMember is read-modify-write.)
const attempts = 4

// Service applies the member rules to provider profiles.
type Service struct {
	Members store.Members
	// LinkByEmail is "verified" (the default when empty): a sign-in whose
	// provider verified the email joins the member that verified it too;
	// "never": every new provider account is a new member.
	LinkByEmail string
	// AdminEmails are granted the admin role when a sign-in proves one of
	// them (compared by email.Key; surrounding spaces ignored).
	AdminEmails []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Result is the outcome of OAuth2Process.
type Result struct {
	Member store.Member
	// Created: this login created the member.
	Created bool
	// Linked: this login linked the identity to an existing member by
	// verified email.
	Linked bool
}

// OAuth2Process finds or creates the member for a provider sign-in (see
// the package comment). ErrDisabled when that member is disabled.
func (s *Service) OAuth2Process(ctx context.Context, p providers.Profile) (Result, error) {
	if p.Provider == "" || p.Subject == "" {
		return Result{}, fmt.Errorf("oauth2Process: %w", ErrInvalidProfile)
	}
	var err error
	for range attempts {
		var res Result
		res, err = s.process(ctx, p)
		// ErrConflict: a concurrent login created or linked this identity
		// first. ErrNotFound: a record read a moment ago was deleted
		// meanwhile. Either way, the next look sees the settled state.
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return Result{}, fmt.Errorf("oauth2Process %s: %w", p.Provider, err)
		}
		return res, nil
	}
	return Result{}, fmt.Errorf("oauth2Process %s: still racing after %d attempts: %w", p.Provider, attempts, err)
}

func (s *Service) process(ctx context.Context, p providers.Profile) (Result, error) {
	now := s.now()
	id, err := s.Members.FindIdentity(ctx, p.Provider, p.Subject)
	switch {
	case err == nil:
		return s.signIn(ctx, id, p, now)
	case !errors.Is(err, store.ErrNotFound):
		return Result{}, err
	}

	if s.linksByEmail() && verifiedEmail(p) != "" {
		m, err := s.Members.FindMemberByVerifiedEmail(ctx, p.Email)
		switch {
		case err == nil:
			return s.linkByEmail(ctx, m, p, now)
		case !errors.Is(err, store.ErrNotFound):
			return Result{}, err
		}
	}

	m := store.Member{
		Email:         p.Email,
		EmailVerified: verifiedEmail(p) != "",
		Name:          p.Name,
		AvatarURL:     p.AvatarURL,
		Role:          store.RoleUser,
		Status:        store.StatusActive,
		CreatedAt:     now,
		UpdatedAt:     now,
		LastLoginAt:   now,
	}
	// UUIDv7: time-ordered, so new members land at the end of the
	// primary-key index instead of splitting pages all over it.
	uid, err := uuid.NewV7()
	if err != nil {
		return Result{}, fmt.Errorf("new member id: %w", err)
	}
	m.ID = uid.String()
	if s.grantsAdmin(m, p) {
		m.Role = store.RoleAdmin
	}
	if err := s.Members.CreateMember(ctx, m, newIdentity(m.ID, p, now)); err != nil {
		return Result{}, err
	}
	return Result{Member: m, Created: true}, nil
}

// signIn is rule 1: the identity is known.
func (s *Service) signIn(ctx context.Context, id store.Identity, p providers.Profile, now time.Time) (Result, error) {
	m, err := s.Members.GetMember(ctx, id.MemberID)
	if err != nil {
		return Result{}, err
	}
	if m.Status == store.StatusDisabled {
		return Result{}, fmt.Errorf("member %s: %w", m.ID, ErrDisabled)
	}
	// The member first: its write succeeds only if no admin changed the
	// record since it was read, so a login that an admin disables
	// meanwhile fails before it has written anything.
	m, err = s.recordLogin(ctx, m, p, now)
	if err != nil {
		return Result{}, err
	}
	refreshed := newIdentity(m.ID, p, now)
	refreshed.CreatedAt = id.CreatedAt
	if err := s.Members.UpdateIdentity(ctx, refreshed); err != nil {
		return Result{}, err
	}
	return Result{Member: m}, nil
}

// linkByEmail is rule 2: m verified the email the provider just verified.
func (s *Service) linkByEmail(ctx context.Context, m store.Member, p providers.Profile, now time.Time) (Result, error) {
	if m.Status == store.StatusDisabled {
		// Creating a new member instead would let a disabled person back
		// in through another provider.
		return Result{}, fmt.Errorf("member %s: %w", m.ID, ErrDisabled)
	}
	// The link first: until it succeeds this profile is not known to be
	// m's, and nothing of it may be written to m.
	if err := s.Members.LinkIdentity(ctx, newIdentity(m.ID, p, now)); err != nil {
		return Result{}, err
	}
	m, err := s.recordLogin(ctx, m, p, now)
	if err != nil {
		return Result{}, err
	}
	return Result{Member: m, Linked: true}, nil
}

// Link adds the provider account of p to the signed-in member memberID.
// Linking an account the member already has refreshes it; an account that
// belongs to another member is ErrConflict; ErrNotFound for an unknown
// member and ErrDisabled for a disabled one.
func (s *Service) Link(ctx context.Context, memberID string, p providers.Profile) (store.Identity, error) {
	if p.Provider == "" || p.Subject == "" {
		return store.Identity{}, fmt.Errorf("link: %w", ErrInvalidProfile)
	}
	m, err := s.Members.GetMember(ctx, memberID)
	if err != nil {
		return store.Identity{}, fmt.Errorf("link %s to member %s: %w", p.Provider, memberID, err)
	}
	if m.Status == store.StatusDisabled {
		return store.Identity{}, fmt.Errorf("link %s to member %s: %w", p.Provider, memberID, ErrDisabled)
	}
	now := s.now()
	id, err := s.linkOrRefresh(ctx, m.ID, p, now)
	if err != nil {
		return store.Identity{}, fmt.Errorf("link %s to member %s: %w", p.Provider, memberID, err)
	}
	if _, err := s.update(ctx, m, now, func(m *store.Member) { s.absorb(m, p) }); err != nil {
		return store.Identity{}, fmt.Errorf("link %s to member %s: %w", p.Provider, memberID, err)
	}
	return id, nil
}

// recordLogin writes what a sign-in of m with p changes (see absorb) and
// its time, and returns the member as stored.
func (s *Service) recordLogin(ctx context.Context, m store.Member, p providers.Profile, now time.Time) (store.Member, error) {
	seen := m.LastLoginAt
	return s.update(ctx, m, now, func(m *store.Member) {
		s.absorb(m, p)
		// A login recorded since the first read ran alongside this one,
		// and its time is as true a last login as ours: keeping it lets
		// concurrent logins of one member settle after one lost race
		// instead of overwriting each other's time in turn.
		if !m.LastLoginAt.After(seen) && m.LastLoginAt.Before(now) {
			m.LastLoginAt = now
		}
	})
}

// update applies change to the member as stored and writes the result, in
// one read-modify-write of the store (store.Members.UpdateMember: no other
// write in between, so whatever an admin or a concurrent login set and
// change does not touch — status, a role other than a promotion — is
// kept). ErrDisabled when the member is disabled by then. It returns the
// member as stored.
func (s *Service) update(ctx context.Context, m store.Member, now time.Time, change func(*store.Member)) (store.Member, error) {
	return s.Members.UpdateMember(ctx, m.ID, func(cur store.Member) (store.Member, error) {
		if cur.Status == store.StatusDisabled {
			return cur, fmt.Errorf("member %s: %w", cur.ID, ErrDisabled)
		}
		change(&cur)
		cur.UpdatedAt = now // the store keeps it past the stored one
		return cur, nil
	})
}

// linkOrRefresh links p to memberID, or refreshes it when memberID already
// has it. A lost race with another link of the same account is settled by
// looking again: it is ours (refresh) or another member's (ErrConflict).
func (s *Service) linkOrRefresh(ctx context.Context, memberID string, p providers.Profile, now time.Time) (store.Identity, error) {
	for range attempts {
		existing, err := s.Members.FindIdentity(ctx, p.Provider, p.Subject)
		switch {
		case err == nil && existing.MemberID != memberID:
			return store.Identity{}, fmt.Errorf("%s account is linked to another member: %w", p.Provider, store.ErrConflict)
		case err == nil:
			id := newIdentity(memberID, p, now)
			id.CreatedAt = existing.CreatedAt
			if err := s.Members.UpdateIdentity(ctx, id); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					continue // unlinked meanwhile
				}
				return store.Identity{}, err
			}
			return id, nil
		case !errors.Is(err, store.ErrNotFound):
			return store.Identity{}, err
		}
		id := newIdentity(memberID, p, now)
		err = s.Members.LinkIdentity(ctx, id)
		if errors.Is(err, store.ErrConflict) {
			continue // linked meanwhile: look at who has it
		}
		if err != nil {
			return store.Identity{}, err
		}
		return id, nil
	}
	return store.Identity{}, fmt.Errorf("still racing after %d attempts: %w", attempts, store.ErrConflict)
}

// Unlink removes one of a member's identities: ErrConflict when it is the
// last one (a member must keep a way to sign in), ErrNotFound when the
// member has no such identity.
func (s *Service) Unlink(ctx context.Context, memberID, provider, subject string) error {
	if err := s.Members.DeleteIdentity(ctx, memberID, provider, subject); err != nil {
		return fmt.Errorf("unlink: %w", err)
	}
	return nil
}

// absorb takes from p what m lacks: email, name and avatar when empty; the
// verification of m's own email when the provider now verifies that same
// address; and the admin role (see grantsAdmin). It never overwrites a
// member's data with a provider's, and never demotes: roles set by admins
// stand even when ADMIN_EMAILS changes.
func (s *Service) absorb(m *store.Member, p providers.Profile) {
	switch {
	case m.Email == "" && p.Email != "":
		m.Email, m.EmailVerified = p.Email, verifiedEmail(p) != ""
	case !m.EmailVerified && verifiedEmail(p) != "" && email.Same(m.Email, p.Email):
		m.EmailVerified = true
	}
	if m.Name == "" {
		m.Name = p.Name
	}
	if m.AvatarURL == "" {
		m.AvatarURL = p.AvatarURL
	}
	if s.grantsAdmin(*m, p) {
		m.Role = store.RoleAdmin
	}
}

// grantsAdmin reports whether this sign-in proves an address of
// ADMIN_EMAILS: the email the provider verifies now, or the member's own
// verified email (so adding a member's address to ADMIN_EMAILS takes effect
// at their next sign-in with any provider, even one without email).
func (s *Service) grantsAdmin(m store.Member, p providers.Profile) bool {
	return s.IsAdminEmail(verifiedEmail(p)) || (m.EmailVerified && s.IsAdminEmail(m.Email))
}

// IsAdminEmail reports whether addr is one of ADMIN_EMAILS, compared by
// email.Key (ASCII case folded, nothing else).
func (s *Service) IsAdminEmail(addr string) bool {
	if addr == "" {
		return false
	}
	for _, a := range s.AdminEmails {
		if email.Same(strings.TrimSpace(a), addr) {
			return true
		}
	}
	return false
}

func (s *Service) linksByEmail() bool {
	return s.LinkByEmail == "" || s.LinkByEmail == "verified"
}

// now is the service clock, cut to microseconds: the precision the SQL
// stores keep, so a returned Member equals what a later read yields.
func (s *Service) now() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return now().UTC().Truncate(time.Microsecond)
}

// verifiedEmail is p's email when the provider asserts it is verified.
func verifiedEmail(p providers.Profile) string {
	if p.EmailVerified {
		return p.Email
	}
	return ""
}

// newIdentity is p as an identity of memberID, stamped now.
func newIdentity(memberID string, p providers.Profile, now time.Time) store.Identity {
	return store.Identity{
		Provider:      p.Provider,
		Subject:       p.Subject,
		MemberID:      memberID,
		Email:         p.Email,
		EmailVerified: verifiedEmail(p) != "",
		Name:          p.Name,
		AvatarURL:     p.AvatarURL,
		Raw:           p.Raw,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
}
