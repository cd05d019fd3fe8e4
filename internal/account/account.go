// Package account is what a signed-in member does with their own account
// over the API: read it (GET /auth/me) and unlink an identity. Signing in
// and linking are the login service's (internal/login); sessions and
// devices are the session service's (internal/session).
package account

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/session"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/vault"
)

// Caller is who a request with a verified access token comes from.
type Caller struct {
	MemberID  string // the token's sub
	SessionID string // the token's sid
	IP        string // the client's address, for the audit log
}

// Me is GET /auth/me.
type Me struct {
	session.MemberView
	Status     string           `json:"status"`
	CreatedAt  time.Time        `json:"created_at"`
	Identities []store.Identity `json:"identities"`
	SessionID  string           `json:"session_id"`
}

// Unlinker removes one identity of a member (member.Service.Unlink):
// ErrConflict for the last one, ErrNotFound when it is not the member's.
type Unlinker interface {
	Unlink(ctx context.Context, memberID, provider, subject string) error
}

// Remover runs an identity's removal and then revokes its kept provider
// grant (vault.Service.Removing).
type Remover interface {
	Removing(ctx context.Context, a vault.Actor, memberID, provider, subject string, remove func() error) error
}

// Service serves a member's own account. It is safe for concurrent use.
type Service struct {
	members store.Members
	unlink  Unlinker
	vault   Remover
}

// New returns a Service; vault may be nil (no provider grants are kept).
func New(members store.Members, unlink Unlinker, vault Remover) *Service {
	if vault == nil {
		vault = keepsNothing{}
	}
	return &Service{members: members, unlink: unlink, vault: vault}
}

// keepsNothing removes and revokes nothing more.
type keepsNothing struct{}

func (keepsNothing) Removing(_ context.Context, _ vault.Actor, _, _, _ string, remove func() error) error {
	return remove()
}

// Me returns the caller's member with linked identities.
func (s *Service) Me(ctx context.Context, c Caller) (Me, error) {
	m, err := s.members.GetMember(ctx, c.MemberID)
	if errors.Is(err, store.ErrNotFound) {
		return Me{}, apierror.New(http.StatusUnauthorized, apierror.CodeInvalidToken, "the member no longer exists", nil)
	}
	if err != nil {
		return Me{}, apierror.Unavailable("get member", err)
	}
	if m.Status != store.StatusActive {
		return Me{}, apierror.New(http.StatusUnauthorized, apierror.CodeInvalidToken, "the account is disabled", nil)
	}
	ids, err := s.members.ListIdentities(ctx, m.ID)
	if err != nil {
		return Me{}, apierror.Unavailable("list identities", err)
	}
	return Me{MemberView: session.ViewOf(m), Status: m.Status, CreatedAt: m.CreatedAt, Identities: ids, SessionID: c.SessionID}, nil
}

// Unlink removes one of the caller's identities (never the last one) and
// revokes its kept provider grant at the provider.
func (s *Service) Unlink(ctx context.Context, c Caller, provider, subject string) error {
	err := s.vault.Removing(ctx, vault.Actor{MemberID: c.MemberID, IP: c.IP}, c.MemberID, provider, subject, func() error {
		return s.unlink.Unlink(ctx, c.MemberID, provider, subject)
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return apierror.New(http.StatusConflict, apierror.CodeLastIdentity, "the last linked identity cannot be removed", nil)
	case errors.Is(err, store.ErrNotFound):
		return apierror.New(http.StatusNotFound, apierror.CodeNotFound, "no such linked identity", nil)
	case err != nil:
		return apierror.Unavailable("unlink", err)
	}
	return nil
}
